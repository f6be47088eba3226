using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SaeCluster.Models;

/// <summary>
/// Reads a Hugging Face tokenizer.json into a <see cref="GemmaTokenizer"/>. Supports what Gemma (and
/// similar SentencePiece-converted BPE) files use and rejects everything else with a
/// <see cref="TokenizerFormatException"/> that names the file and the field.
/// </summary>
internal sealed class TokenizerJsonReader
{
    /// <summary>Quotes strings for error messages without escaping more than JSON requires.</summary>
    static readonly JsonSerializerOptions Readable = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    readonly string _file;

    TokenizerJsonReader(string file) => _file = file;

    /// <summary>Loads <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="TokenizerFormatException">The file is malformed or uses an unsupported component.</exception>
    public static GemmaTokenizer Read(string path)
    {
        string file = Path.GetFullPath(path);
        if (!File.Exists(file)) throw new FileNotFoundException($"tokenizer file '{file}' not found", file);
        byte[] json = File.ReadAllBytes(file);
        var reader = new TokenizerJsonReader(file);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(file, LocateSyntaxError(json), $"malformed JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message}", e);
        }
        using (document) return reader.ReadTokenizer(document.RootElement);
    }

    GemmaTokenizer ReadTokenizer(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw Fail("$", $"expected a JSON object, found {root.ValueKind}");
        foreach (string unsupported in new[] { "truncation", "padding" })
            if (Optional(root, unsupported) is not null)
                throw Fail(unsupported, $"'{unsupported}' settings are not supported (expected null)");

        BpeModel model = ReadModel(Required(root, "model", "model", JsonValueKind.Object));
        TextNormalizer normalizer = Optional(root, "normalizer") is { } n ? ReadNormalizer(n, "normalizer") : TextNormalizer.Identity;
        PreTokenizer preTokenizer = Optional(root, "pre_tokenizer") is { } p ? ReadPreTokenizer(p, "pre_tokenizer") : PreTokenizer.None;
        TokenDecoder decoder = Optional(root, "decoder") is { } d ? ReadDecoder(d, "decoder") : TokenDecoder.None;
        var added = new AddedVocabulary(ReadAddedTokens(root), model, normalizer.Normalize);
        (int[] prefix, int[] suffix) = Optional(root, "post_processor") is { } post ? ReadPostProcessor(post, "post_processor") : ([], []);
        return new GemmaTokenizer(model, added, normalizer, preTokenizer, decoder, prefix, suffix);
    }

    BpeModel ReadModel(JsonElement model)
    {
        string type = Optional(model, "type") is { } t ? String(t, "model.type") : throw Fail("model.type", "missing (expected \"BPE\")");
        if (type != "BPE") throw Fail("model.type", $"unsupported model type '{type}' (only BPE is supported)");
        if (Optional(model, "dropout") is { } dropout && Number(dropout, "model.dropout") != 0)
            throw Fail("model.dropout", "BPE dropout is not supported (expected null)");
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (Optional(model, affix) is { } value && String(value, "model." + affix).Length > 0)
                throw Fail("model." + affix, "not supported (expected null)");

        JsonElement vocabJson = Required(model, "vocab", "model.vocab", JsonValueKind.Object);
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (JsonProperty entry in vocabJson.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw Fail(Member("model.vocab", entry.Name), "expected a non-negative integer id");
            vocab[entry.Name] = id;
        }

        var merges = new List<(int, int, int)>();
        if (Optional(model, "merges") is { } mergesJson)
        {
            if (mergesJson.ValueKind != JsonValueKind.Array) throw Fail("model.merges", $"expected an array, found {mergesJson.ValueKind}");
            int index = 0;
            foreach (JsonElement merge in mergesJson.EnumerateArray())
            {
                // A "#version" line: skipped without taking a rank, as HF does.
                if (ReadMerge(merge, index) is { } pair)
                    merges.Add((VocabId(vocab, pair.Left, index), VocabId(vocab, pair.Right, index), VocabId(vocab, pair.Left + pair.Right, index)));
                index++;
            }
        }

        string? unk = Optional(model, "unk_token") is { } u ? String(u, "model.unk_token") : null;
        return new BpeModel(vocab, merges, unk,
            byteFallback: Bool(model, "byte_fallback", "model.byte_fallback"),
            fuseUnk: Bool(model, "fuse_unk", "model.fuse_unk"),
            ignoreMerges: Bool(model, "ignore_merges", "model.ignore_merges"));
    }

    /// <summary>Merge number <paramref name="index"/>: <c>"a b"</c> (exactly one space) or <c>["a", "b"]</c>; null for a <c>#version</c> line.</summary>
    (string Left, string Right)? ReadMerge(JsonElement merge, int index)
    {
        if (merge.ValueKind == JsonValueKind.String)
        {
            string line = merge.GetString()!;
            if (line.StartsWith("#version", StringComparison.Ordinal)) return null;
            string[] parts = line.Split(' ');
            if (parts.Length != 2) throw Fail(MergeField(index), $"expected \"left right\" with exactly one space, found {JsonSerializer.Serialize(line, Readable)}");
            return (parts[0], parts[1]);
        }
        if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
            && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            return (merge[0].GetString()!, merge[1].GetString()!);
        throw Fail(MergeField(index), $"expected \"left right\" or [\"left\", \"right\"], found {merge.ValueKind}");
    }

    int VocabId(Dictionary<string, int> vocab, string token, int mergeIndex) =>
        vocab.TryGetValue(token, out int id) ? id : throw Fail(MergeField(mergeIndex), $"token {JsonSerializer.Serialize(token, Readable)} is not in model.vocab");

    static string MergeField(int index) => $"model.merges[{index}]";

    /// <summary>The JSON path of member <paramref name="name"/> of <paramref name="parent"/>: <c>parent.name</c>, or <c>parent["name"]</c> when the name is not an identifier.</summary>
    static string Member(string parent, string name)
    {
        bool identifier = name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
        string member = identifier ? "." + name : $"[{JsonSerializer.Serialize(name, Readable)}]";
        return parent.Length == 0 && identifier ? name : parent + member;
    }

    List<AddedToken> ReadAddedTokens(JsonElement root)
    {
        var tokens = new List<AddedToken>();
        if (Optional(root, "added_tokens") is not { } array) return tokens;
        if (array.ValueKind != JsonValueKind.Array) throw Fail("added_tokens", $"expected an array, found {array.ValueKind}");
        int index = 0;
        foreach (JsonElement entry in array.EnumerateArray())
        {
            string field = $"added_tokens[{index++}]";
            if (entry.ValueKind != JsonValueKind.Object) throw Fail(field, $"expected an object, found {entry.ValueKind}");
            string content = String(Required(entry, "content", field + ".content", JsonValueKind.String), field + ".content");
            bool special = Bool(entry, "special", field + ".special");
            tokens.Add(new AddedToken(content, special,
                Normalized: Bool(entry, "normalized", field + ".normalized", !special),
                LStrip: Bool(entry, "lstrip", field + ".lstrip"),
                RStrip: Bool(entry, "rstrip", field + ".rstrip"),
                SingleWord: Bool(entry, "single_word", field + ".single_word")));
        }
        return tokens;
    }

    TextNormalizer ReadNormalizer(JsonElement node, string field)
    {
        switch (TypeOf(node, field))
        {
            case "Replace":
                return TextNormalizer.Replace(StringPattern(node, field), String(Required(node, "content", field + ".content", JsonValueKind.String), field + ".content"));
            case "Prepend":
                return TextNormalizer.Prepend(String(Required(node, "prepend", field + ".prepend", JsonValueKind.String), field + ".prepend"));
            case "Sequence":
                return TextNormalizer.Sequence(Items(node, "normalizers", field).Select(x => ReadNormalizer(x.Element, x.Field)).ToList());
            case var other:
                throw Fail(field + ".type", $"unsupported normalizer type '{other}' (supported: Replace, Prepend, Sequence)");
        }
    }

    PreTokenizer ReadPreTokenizer(JsonElement node, string field)
    {
        switch (TypeOf(node, field))
        {
            case "Split":
                if (Bool(node, "invert", field + ".invert")) throw Fail(field + ".invert", "inverted Split is not supported");
                string name = String(Required(node, "behavior", field + ".behavior", JsonValueKind.String), field + ".behavior");
                if (!Enum.TryParse(name, ignoreCase: false, out SplitDelimiterBehavior behavior) || !Enum.IsDefined(behavior))
                    throw Fail(field + ".behavior", $"unknown split behavior '{name}'");
                return PreTokenizer.Split(StringPattern(node, field), behavior);
            case "Metaspace":
                return PreTokenizer.Metaspace(Char(node, "replacement", field).ToString(), PrependScheme(node, field),
                    Optional(node, "split") is { } split ? Boolean(split, field + ".split") : true);
            case var other:
                throw Fail(field + ".type", $"unsupported pre-tokenizer type '{other}' (supported: Split with a String pattern, Metaspace)");
        }
    }

    TokenDecoder ReadDecoder(JsonElement node, string field)
    {
        switch (TypeOf(node, field))
        {
            case "Replace":
                return TokenDecoder.Replace(StringPattern(node, field), String(Required(node, "content", field + ".content", JsonValueKind.String), field + ".content"));
            case "ByteFallback":
                return TokenDecoder.ByteFallback;
            case "Fuse":
                return TokenDecoder.Fuse;
            case "Strip":
                return TokenDecoder.Strip(Char(node, "content", field), Count(node, "start", field), Count(node, "stop", field));
            case "Metaspace":
                return TokenDecoder.Metaspace(Char(node, "replacement", field), PrependScheme(node, field));
            case "Sequence":
                return TokenDecoder.Sequence(Items(node, "decoders", field).Select(x => ReadDecoder(x.Element, x.Field)).ToList());
            case var other:
                throw Fail(field + ".type", $"unsupported decoder type '{other}' (supported: Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)");
        }
    }

    /// <summary>TemplateProcessing for single sequences: the special-token ids before and after the text.</summary>
    (int[] Prefix, int[] Suffix) ReadPostProcessor(JsonElement node, string field)
    {
        string type = TypeOf(node, field);
        if (type != "TemplateProcessing") throw Fail(field + ".type", $"unsupported post-processor type '{type}' (supported: TemplateProcessing)");
        JsonElement specials = Required(node, "special_tokens", field + ".special_tokens", JsonValueKind.Object);
        var prefix = new List<int>();
        var suffix = new List<int>();
        bool seenSequence = false;
        foreach ((JsonElement piece, string pieceField) in Items(node, "single", field))
        {
            if (Optional(piece, "Sequence") is { } sequence)
            {
                string id = String(Required(sequence, "id", pieceField + ".Sequence.id", JsonValueKind.String), pieceField + ".Sequence.id");
                if (id != "A" || seenSequence) throw Fail(pieceField + ".Sequence.id", $"a single-sequence template can only hold sequence A once, found '{id}'");
                seenSequence = true;
            }
            else if (Optional(piece, "SpecialToken") is { } special)
            {
                string id = String(Required(special, "id", pieceField + ".SpecialToken.id", JsonValueKind.String), pieceField + ".SpecialToken.id");
                string specialField = Member(field + ".special_tokens", id);
                JsonElement entry = Optional(specials, id) ?? throw Fail(specialField, $"special token '{id}' used by the template is not defined");
                foreach ((JsonElement value, string valueField) in Items(entry, "ids", specialField))
                    (seenSequence ? suffix : prefix).Add(value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int v) && v >= 0 ? v : throw Fail(valueField, "expected a non-negative integer id"));
            }
            else throw Fail(pieceField, "expected a Sequence or SpecialToken entry");
        }
        if (!seenSequence) throw Fail(field + ".single", "the template has no sequence A");
        return (prefix.ToArray(), suffix.ToArray());
    }

    MetaspacePrependScheme PrependScheme(JsonElement node, string field)
    {
        MetaspacePrependScheme scheme = MetaspacePrependScheme.Always;
        if (Optional(node, "prepend_scheme") is { } value)
        {
            scheme = String(value, field + ".prepend_scheme") switch
            {
                "always" => MetaspacePrependScheme.Always,
                "first" => MetaspacePrependScheme.First,
                "never" => MetaspacePrependScheme.Never,
                var other => throw Fail(field + ".prepend_scheme", $"unknown prepend scheme '{other}' (expected always, first or never)"),
            };
        }
        // Older files carry add_prefix_space; false means "never" and must agree with prepend_scheme (as in HF).
        if (Optional(node, "add_prefix_space") is { } legacy && !Boolean(legacy, field + ".add_prefix_space"))
        {
            if (scheme != MetaspacePrependScheme.Never && Optional(node, "prepend_scheme") is not null)
                throw Fail(field + ".add_prefix_space", "add_prefix_space does not match prepend_scheme");
            scheme = MetaspacePrependScheme.Never;
        }
        return scheme;
    }

    /// <summary>A <c>"pattern": {"String": "..."}</c>; regular-expression patterns are not supported.</summary>
    string StringPattern(JsonElement node, string field)
    {
        JsonElement pattern = Required(node, "pattern", field + ".pattern", JsonValueKind.Object);
        if (Optional(pattern, "String") is { } literal) return String(literal, field + ".pattern.String");
        throw Fail(field + ".pattern", "only {\"String\": ...} patterns are supported (regular expressions are not)");
    }

    /// <summary>A string field holding exactly one Unicode scalar value (a Rust <c>char</c>).</summary>
    Rune Char(JsonElement node, string name, string parent)
    {
        string field = parent + "." + name;
        string text = String(Required(node, name, field, JsonValueKind.String), field);
        if (Rune.DecodeFromUtf16(text, out Rune rune, out int used) != System.Buffers.OperationStatus.Done || used != text.Length)
            throw Fail(field, $"expected a single character, found {JsonSerializer.Serialize(text, Readable)}");
        return rune;
    }

    int Count(JsonElement node, string name, string parent)
    {
        string field = parent + "." + name;
        JsonElement value = Required(node, name, field, JsonValueKind.Number);
        return value.TryGetInt32(out int count) && count >= 0 ? count : throw Fail(field, "expected a non-negative integer");
    }

    string TypeOf(JsonElement node, string field)
    {
        if (node.ValueKind != JsonValueKind.Object) throw Fail(field, $"expected an object, found {node.ValueKind}");
        return String(Required(node, "type", field + ".type", JsonValueKind.String), field + ".type");
    }

    IEnumerable<(JsonElement Element, string Field)> Items(JsonElement node, string name, string parent)
    {
        string field = parent + "." + name;
        JsonElement array = Required(node, name, field, JsonValueKind.Array);
        return array.EnumerateArray().Select((element, i) => (element, $"{field}[{i}]")).ToList();
    }

    JsonElement Required(JsonElement node, string name, string field, JsonValueKind kind)
    {
        if (!node.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null) throw Fail(field, "missing");
        if (value.ValueKind != kind) throw Fail(field, $"expected {Describe(kind)}, found {value.ValueKind}");
        return value;
    }

    /// <summary>The property, or null when it is absent or JSON null.</summary>
    static JsonElement? Optional(JsonElement node, string name) =>
        node.ValueKind == JsonValueKind.Object && node.TryGetProperty(name, out JsonElement value) && value.ValueKind != JsonValueKind.Null ? value : null;

    bool Bool(JsonElement node, string name, string field, bool absent = false) =>
        Optional(node, name) is { } value ? Boolean(value, field) : absent;

    bool Boolean(JsonElement value, string field) => value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Fail(field, $"expected true or false, found {value.ValueKind}"),
    };

    string String(JsonElement value, string field) =>
        value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Fail(field, $"expected a string, found {value.ValueKind}");

    double Number(JsonElement value, string field) =>
        value.ValueKind == JsonValueKind.Number ? value.GetDouble() : throw Fail(field, $"expected a number, found {value.ValueKind}");

    static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => kind.ToString(),
    };

    TokenizerFormatException Fail(string field, string problem) => new(_file, field, problem);

    /// <summary>The JSON path (e.g. <c>model.vocab</c>) of the value being read where the document stops being valid JSON.</summary>
    static string LocateSyntaxError(byte[] json)
    {
        // One frame per open object (its current property) or array (its current element index).
        var frames = new List<(bool IsArray, string? Name, int Index)>();
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        try
        {
            while (reader.Read())
            {
                JsonTokenType token = reader.TokenType;
                if (token == JsonTokenType.PropertyName)
                {
                    frames[^1] = (false, reader.GetString(), -1);
                    continue;
                }
                if (token is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    frames.RemoveAt(frames.Count - 1);
                    continue;
                }
                if (frames.Count > 0 && frames[^1].IsArray) frames[^1] = (true, null, frames[^1].Index + 1);
                if (token is JsonTokenType.StartObject or JsonTokenType.StartArray) frames.Add((token == JsonTokenType.StartArray, null, -1));
            }
        }
        catch (JsonException)
        {
            string path = "";
            foreach ((bool isArray, string? name, int index) in frames)
            {
                if (isArray && index >= 0) path += $"[{index}]";
                else if (!isArray && name is not null) path = Member(path, name);
            }
            if (path.Length > 0) return path;
        }
        return "$";
    }
}
