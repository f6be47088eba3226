using System.Text.Json.Nodes;

namespace SaeCluster.Models.Tests;

/// <summary>Loading errors: each names the file and the field at fault.</summary>
public sealed class TokenizerLoadTests
{
    static JsonObject Tiny() => JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.TinyGemma2, "tokenizer.json")))!.AsObject();

    static JsonObject Model(JsonObject root) => root["model"]!.AsObject();

    public static TheoryData<string, Action<JsonObject>, string> BadFiles => new()
    {
        { "WordPiece model", root => Model(root)["type"] = "WordPiece", "model.type" },
        { "no model type", root => Model(root).Remove("type"), "model.type" },
        { "no model", root => root.Remove("model"), "model" },
        { "BPE dropout", root => Model(root)["dropout"] = 0.1, "model.dropout" },
        { "subword prefix", root => Model(root)["continuing_subword_prefix"] = "##", "model.continuing_subword_prefix" },
        { "vocabulary id not a number", root => Model(root)["vocab"]!["a"] = "one", "model.vocab.a" },
        { "merge of unknown tokens", root => Model(root)["merges"] = new JsonArray("a zz"), "model.merges[0]" },
        { "merge with two spaces", root => Model(root)["merges"] = new JsonArray("a b c"), "model.merges[0]" },
        { "merge result not in vocabulary", root => Model(root)["merges"] = new JsonArray(new JsonArray("a", "b")), "model.merges[0]" },
        { "NFKC normalizer", root => root["normalizer"] = new JsonObject { ["type"] = "NFKC" }, "normalizer.type" },
        { "regex Replace", root => root["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["Regex"] = "\\s" }, ["content"] = "▁" }, "normalizer.pattern" },
        {
            "unsupported normalizer in a sequence",
            root => root["normalizer"] = new JsonObject { ["type"] = "Sequence", ["normalizers"] = new JsonArray(new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" }, new JsonObject { ["type"] = "Lowercase" }) },
            "normalizer.normalizers[1].type"
        },
        { "ByteLevel pre-tokenizer", root => root["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel" }, "pre_tokenizer.type" },
        { "unknown split behavior", root => root["pre_tokenizer"]!["behavior"] = "Sideways", "pre_tokenizer.behavior" },
        { "inverted split", root => root["pre_tokenizer"]!["invert"] = true, "pre_tokenizer.invert" },
        { "ByteLevel decoder", root => root["decoder"] = new JsonObject { ["type"] = "ByteLevel" }, "decoder.type" },
        { "RobertaProcessing", root => root["post_processor"] = new JsonObject { ["type"] = "RobertaProcessing" }, "post_processor.type" },
        { "truncation", root => root["truncation"] = new JsonObject { ["max_length"] = 8 }, "truncation" },
        { "added token without content", root => root["added_tokens"]![0]!.AsObject().Remove("content"), "added_tokens[0].content" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Load_RejectsWhatItDoesNotSupport_NamingFileAndField(string what, Action<JsonObject> spoil, string field)
    {
        using var temp = new TempDir();
        JsonObject root = Tiny();
        spoil(root);
        File.WriteAllText(temp["tokenizer.json"], root.ToJsonString());

        var error = Assert.Throws<TokenizerFormatException>(() => GemmaTokenizer.Load(temp["tokenizer.json"]));
        Assert.True(error.Field == field, $"{what}: expected field '{field}', got '{error.Field}' ({error.Message})");
        Assert.Equal(temp["tokenizer.json"], error.File);
        Assert.Contains(temp["tokenizer.json"], error.Message);
        Assert.Contains($"'{field}'", error.Message);
    }

    [Fact]
    public void Load_OfAMissingFile_NamesIt()
    {
        using var temp = new TempDir();
        var error = Assert.Throws<FileNotFoundException>(() => GemmaTokenizer.Load(temp["nope.json"]));
        Assert.Contains(temp["nope.json"], error.Message);
    }

    [Fact]
    public void Load_OfMalformedJson_NamesTheFieldWhereItBreaks()
    {
        using var temp = new TempDir();
        string json = File.ReadAllText(Path.Combine(RepositoryPaths.TinyGemma2, "tokenizer.json"));
        File.WriteAllText(temp["tokenizer.json"], json[..json.IndexOf("\"<0x41>\"", StringComparison.Ordinal)] + "\"<0x41>\": 6");

        var error = Assert.Throws<TokenizerFormatException>(() => GemmaTokenizer.Load(temp["tokenizer.json"]));
        Assert.Equal("model.vocab[\"<0x41>\"]", error.Field);
        Assert.Contains(temp["tokenizer.json"], error.Message);
        Assert.Contains("malformed JSON", error.Message);
    }

    [Fact]
    public void Load_OfANonObject_Fails()
    {
        using var temp = new TempDir();
        File.WriteAllText(temp["tokenizer.json"], "[1, 2]");
        Assert.Equal("$", Assert.Throws<TokenizerFormatException>(() => GemmaTokenizer.Load(temp["tokenizer.json"])).Field);
    }
}
