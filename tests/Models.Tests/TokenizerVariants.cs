using System.Text.Json.Nodes;

namespace SaeCluster.Models.Tests;

/// <summary>
/// tokenizer.json files derived from the tiny Gemma 2 tokenizer that exercise what the real Gemma files do
/// not: merges (string and pair forms, merges of byte tokens), added tokens with every flag, Metaspace,
/// Llama-style normalisers and decoders, unknown tokens without byte fallback, ignore_merges, every Split
/// behaviour, other templates, no decoder.
/// </summary>
public static class TokenizerVariants
{
    public static readonly string[] Names =
    [
        "gemma-string-merges", "gemma-pair-merges", "metaspace-first", "metaspace-always-unsplit", "metaspace-legacy", "llama-style",
        "unk-fused", "unk-unfused", "ignore-merges", "split-removed", "split-isolated", "split-merged-with-previous",
        "split-merged-with-next", "split-contiguous", "split-dashes", "template-bos-eos", "no-post-processor-no-decoder",
    ];

    /// <summary>Texts aimed at the variants' merges and added tokens.</summary>
    public static readonly string[] Texts =
    [
        "the cat and the dog", " the", "thethe the  the", "in the ring singing", "and an and", "a dog", " dog", "dog", "▁dog",
        "<mask>", "a <mask> b", "a<mask>b", "a  <mask>  b", "\t<mask>\n", " <mask><mask> ", "xyz", "axyz", "xyz b", "a xyz", "_xyz_", "xyz.",
        "éxyz", "xyz\u0301", "hello world", "hello  world", "say hello world!", "hello▁world", "<special_thing>", "  <special_thing>  x",
        "x<special_thing>", "abab", "ab ab", "ab-ab", "xab", "abc", "bcab", "<bos>the<eos>", "ünïcödé ☃ 😀", "ééé", "\u0000", "a--b----c", "--",
        "---", "-- --", "123123", "1 2 3", "    indented", "  two", "\t\ta\t\t", "a\t\t\tb", "     ", "the\u00A0dog", "日本語", "😀😀",
    ];

    /// <summary>The tokenizer.json of variant <paramref name="name"/>.</summary>
    public static JsonObject Create(string name)
    {
        JsonObject root = Base(pairMerges: name == "gemma-pair-merges");
        JsonObject model = root["model"]!.AsObject();
        switch (name)
        {
            case "gemma-string-merges" or "gemma-pair-merges":
                break;
            case "metaspace-first":
                root["normalizer"] = null;
                root["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = true };
                root["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = true };
                break;
            case "metaspace-always-unsplit":
                root["normalizer"] = null;
                root["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "always", ["split"] = false };
                root["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "never", ["split"] = false };
                break;
            case "metaspace-legacy":
                root["normalizer"] = null;
                root["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["add_prefix_space"] = true };
                root["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["add_prefix_space"] = true };
                break;
            case "llama-style":
                root["normalizer"] = new JsonObject
                {
                    ["type"] = "Sequence",
                    ["normalizers"] = new JsonArray(
                        new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                        new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
                };
                root["pre_tokenizer"] = null;
                root["decoder"] = new JsonObject
                {
                    ["type"] = "Sequence",
                    ["decoders"] = new JsonArray(
                        new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                        new JsonObject { ["type"] = "ByteFallback" },
                        new JsonObject { ["type"] = "Fuse" },
                        new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
                };
                break;
            case "unk-fused":
                model["byte_fallback"] = false;
                break;
            case "unk-unfused":
                model["byte_fallback"] = false;
                model["fuse_unk"] = false;
                break;
            case "ignore-merges":
                model["ignore_merges"] = true;
                break;
            case "split-removed" or "split-isolated" or "split-merged-with-previous" or "split-merged-with-next" or "split-contiguous":
                string behavior = string.Concat(name["split-".Length..].Split('-').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
                root["normalizer"] = null;
                root["pre_tokenizer"] = Split(" ", behavior);
                break;
            case "split-dashes":
                root["pre_tokenizer"] = Split("--", "Contiguous");
                break;
            case "template-bos-eos":
                root["post_processor"] = new JsonObject
                {
                    ["type"] = "TemplateProcessing",
                    ["single"] = new JsonArray(Special("<bos>"), new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }, Special("<eos>")),
                    ["pair"] = new JsonArray(Special("<bos>"), new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
                        new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "B", ["type_id"] = 1 } }),
                    ["special_tokens"] = new JsonObject
                    {
                        ["<bos>"] = new JsonObject { ["id"] = "<bos>", ["ids"] = new JsonArray(2), ["tokens"] = new JsonArray("<bos>") },
                        ["<eos>"] = new JsonObject { ["id"] = "<eos>", ["ids"] = new JsonArray(1), ["tokens"] = new JsonArray("<eos>") },
                    },
                };
                break;
            case "no-post-processor-no-decoder":
                root["post_processor"] = null;
                root["decoder"] = null;
                break;
            default:
                throw new ArgumentException($"unknown variant '{name}'", nameof(name));
        }
        return root;
    }

    /// <summary>The tiny tokenizer plus merges (and their tokens), a token reachable only whole, and flagged added tokens.</summary>
    static JsonObject Base(bool pairMerges)
    {
        JsonObject root = JsonNode.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.TinyGemma2, "tokenizer.json")))!.AsObject();
        JsonObject model = root["model"]!.AsObject();
        JsonObject vocab = model["vocab"]!.AsObject();
        (string Left, string Right)[] merges =
        [
            ("▁", "t"), ("h", "e"), ("▁t", "he"), ("i", "n"), ("in", "g"), ("n", "d"), ("a", "n"), ("▁", "a"), ("▁a", "nd"), ("▁", "▁"),
            ("▁▁", "▁▁"), ("▁▁▁▁", "▁▁▁▁"), ("b", "c"), ("a", "b"), ("ab", "ab"), ("e", "r"), ("<0xC3>", "<0xA9>"), ("1", "2"), ("12", "3"), ("-", "-"),
        ];
        int next = vocab.Count;
        foreach ((string left, string right) in merges)
            if (!vocab.ContainsKey(left + right)) vocab[left + right] = next++;
        vocab["▁dog"] = next++;
        model["merges"] = pairMerges
            ? new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m.Left, m.Right)).ToArray())
            : new JsonArray(merges.Select(m => (JsonNode)JsonValue.Create($"{m.Left} {m.Right}")).ToArray());

        JsonArray added = root["added_tokens"]!.AsArray();
        void Add(string content, bool special, bool normalized, bool lstrip = false, bool rstrip = false, bool singleWord = false) =>
            added.Add(new JsonObject
            {
                ["id"] = vocab.TryGetPropertyValue(content, out JsonNode? id) ? id!.GetValue<int>() : next++,
                ["content"] = content, ["single_word"] = singleWord, ["lstrip"] = lstrip, ["rstrip"] = rstrip, ["normalized"] = normalized, ["special"] = special,
            });
        Add("<mask>", special: false, normalized: false, lstrip: true, rstrip: true);
        Add("xyz", special: false, normalized: false, singleWord: true);
        Add("hello world", special: false, normalized: true);
        Add("<special_thing>", special: true, normalized: false, lstrip: true);
        Add("ab", special: false, normalized: true, singleWord: true);
        Add("\t\t", special: false, normalized: false, lstrip: true, rstrip: true);
        return root;
    }

    static JsonObject Split(string pattern, string behavior) => new()
    {
        ["type"] = "Split", ["pattern"] = new JsonObject { ["String"] = pattern }, ["behavior"] = behavior, ["invert"] = false,
    };

    static JsonObject Special(string token) => new() { ["SpecialToken"] = new JsonObject { ["id"] = token, ["type_id"] = 0 } };
}
