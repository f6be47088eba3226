using System.Text;

namespace SaeCluster.Models.Tests;

/// <summary>
/// Deterministic test texts for tokenizer exactness: hand-picked edge cases, sentences in many scripts,
/// emoji (ZWJ sequences, flags, skin tones, keycaps), code (Python sources of the machine when present,
/// generated code otherwise), whitespace runs, numbers, special tokens embedded in text, random Unicode
/// scalar values (never lone surrogates) and a few long texts.
/// </summary>
public static class TokenizerCorpus
{
    /// <summary>Texts that decide edge cases: empty, whitespace only, special tokens whole, partial and glued.</summary>
    public static readonly string[] EdgeCases =
    [
        "", " ", "  ", "   ", "\t", "\n", "\r\n", "\r", "\n\n", "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
        " leading space", "trailing space ", "  both  ", "\tindented\ttabs\t", "a\u00A0b", "\u00A0\u00A0", "\u3000full width space",
        "Hello world", "Hello, world!", "hello\nworld", "hello\r\nworld", "hello \n world", "x", "xx", "xxx",
        "<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<image_soft_token>",
        "<bos>Hello<eos>", "<bos><bos><bos>", "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n",
        " <eos> ", "text<pad>text", "<bos", "bos>", "<<bos>>", "<start_of_turn", "<end_of_turn >", "< bos>", "<BOS>", "<unused0>", "<unused6241>",
        "<unused99999>", "[multimodal]", "<table><tr><td>1</td></tr></table>", "<h1>Title</h1>", "<code>x = 1</code>", "</s>", "<s>",
        "▁", "▁▁", "▁▁▁▁", "▁hello", "a▁b", "\u2581 \u2581", "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",
        "0", "00", "007", "1234567890", "3.14159265358979323846264338327950288419716939937510", "-42", "1e-10", "1,000,000", "2024-11-21",
        "12345678901234567890123456789012345678901234567890", "٠١٢٣٤٥٦٧٨٩", "१२३", "Ⅻ", "½", "²³",
        "👨‍👩‍👧‍👦", "🇺🇸🇫🇷🇯🇵", "👍🏽", "1️⃣", "❤️", "🏳️‍🌈", "🧑🏿‍🚀", "\u200D", "\uFEFF", "\u0000", "\u0001\u001F\u007F",
        "\uFFFD", "\uFFFF", "\U0010FFFF", "\U0001F600\U0001F601", "e\u0301", "\u0915\u094D\u0937", "ﷺ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀀𠀁",
    ];

    static readonly string[][] Words =
    [
        ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "tokenizer", "sparse", "autoencoder", "Gemma", "activation", "feature",
         "don't", "it's", "e.g.", "U.S.A.", "naïve", "café", "résumé", "Straße", "ﬁle", "CamelCase", "snake_case", "kebab-case", "URL:", "https://example.com/a?b=c&d=e"],
        ["你好", "世界", "自然语言处理", "機械学習", "東京", "こんにちは", "カタカナ", "ひらがな", "漢字", "中文分词", "。", "，", "「引用」"],
        ["안녕하세요", "세계", "한국어", "토크나이저", "감사합니다", "ㄱㄴㄷ"],
        ["مرحبا", "بالعالم", "اللغة", "العربية", "كتاب", "،", "؟", "ﻻ"],
        ["שלום", "עולם", "עברית", "ספר", "בְּרֵאשִׁית"],
        ["नमस्ते", "दुनिया", "हिन्दी", "भाषा", "क्षत्रिय", "।"],
        ["สวัสดี", "ชาวโลก", "ภาษาไทย", "กรุงเทพมหานคร"],
        ["Привет", "мир", "русский", "язык", "Ёлка", "щи", "Україна", "ґанок"],
        ["Γειά", "σου", "κόσμε", "ελληνικά", "ΑΒΓΔ", "φιλοσοφία"],
        ["😀", "🎉", "🚀", "👨‍💻", "🇩🇪", "🤷🏻‍♀️", "✅", "⚠️", "🫠", "🐍", "☕"],
        ["def", "return", "self.x", "lambda:", "import", "numpy", "as", "np", "{", "}", "()", "[]", "=>", "!=", "==", "+=", "//", "/*", "*/", "#include", "<stdio.h>", "std::vector<int>", "printf(\"%d\\n\",", "0x1F", "i++", "&&", "||"],
        ["0", "1", "42", "1000", "3.14", "2^32", "4294967296", "-1", "1e9", "99.9%", "$100", "€5", "12:30", "10/11/2024"],
    ];

    static readonly string[] Separators = [" ", " ", " ", " ", "  ", "   ", "\t", "\n", "\r\n", "\u00A0", "\n\n", " \n", "\n ", "\t\t", ", ", ". ", "    ", "", "-", "_"];

    static readonly string[] Specials =
        ["<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>", "<unk>", "<mask>", "<unused17>", "<start_of_image>", "<image_soft_token>", "<table>", "</td>", "[multimodal]", "▁▁", "\n\n\n"];

    /// <summary>The full corpus (about 2,600 texts).</summary>
    public static List<string> Create()
    {
        var random = new Random(20261121);
        var texts = new List<string>(EdgeCases);
        for (int i = 0; i < 900; i++) texts.Add(Sentence(random, withSpecials: i % 4 == 0));
        for (int i = 0; i < 300; i++) texts.Add(RandomUnicode(random, random.Next(1, 60)));
        for (int i = 0; i < 200; i++) texts.Add(NumbersAndWhitespace(random));
        for (int i = 0; i < 200; i++) texts.Add(Emoji(random));
        texts.AddRange(Code(random, 800));
        texts.Add(LongText(random, 20_000));
        texts.Add(LongText(random, 100_000));
        texts.Add(string.Concat(Enumerable.Repeat("ab ", 10_000)));
        texts.Add(new string(' ', 5_000));
        texts.Add(string.Concat(Enumerable.Repeat("<bos>x", 2_000)));
        return texts;
    }

    /// <summary>A text of about <paramref name="length"/> characters with no whitespace but a space every thousand characters.</summary>
    public static string FewSpaces(int length)
    {
        var random = new Random(7);
        var builder = new StringBuilder(length + 64);
        while (builder.Length < length)
        {
            string[] pool = Words[random.Next(Words.Length)];
            builder.Append(pool[random.Next(pool.Length)].Replace(" ", "").Replace("\n", ""));
            if (random.Next(200) == 0) builder.Append(' ');
        }
        return WholeCharacters(builder.ToString(0, length));
    }

    static string Sentence(Random random, bool withSpecials)
    {
        var builder = new StringBuilder();
        int script = random.Next(Words.Length);
        int count = random.Next(1, 30);
        if (random.Next(6) == 0) builder.Append(Separators[random.Next(Separators.Length)]);
        for (int i = 0; i < count; i++)
        {
            string[] pool = random.Next(5) == 0 ? Words[random.Next(Words.Length)] : Words[script];
            builder.Append(pool[random.Next(pool.Length)]);
            if (withSpecials && random.Next(5) == 0) builder.Append(Specials[random.Next(Specials.Length)]);
            if (i + 1 < count) builder.Append(Separators[random.Next(Separators.Length)]);
        }
        if (random.Next(6) == 0) builder.Append(Separators[random.Next(Separators.Length)]);
        return builder.ToString();
    }

    /// <summary>Random Unicode scalar values from ASCII, Latin-1, the BMP and the supplementary planes.</summary>
    public static string RandomUnicode(Random random, int count)
    {
        var builder = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            int value = random.Next(6) switch
            {
                0 => random.Next(0x20, 0x7F),
                1 => random.Next(0x00, 0x100),
                2 => random.Next(0x100, 0x3000),
                3 => random.Next(0x3000, 0xD800),
                4 => random.Next(0xE000, 0x10000),
                _ => random.Next(0x10000, 0x110000),
            };
            builder.Append(new Rune(value).ToString());
        }
        return builder.ToString();
    }

    static string NumbersAndWhitespace(Random random)
    {
        var builder = new StringBuilder();
        int parts = random.Next(1, 8);
        for (int i = 0; i < parts; i++)
        {
            switch (random.Next(4))
            {
                case 0:
                    for (int d = random.Next(1, 45); d > 0; d--) builder.Append((char)('0' + random.Next(10)));
                    break;
                case 1:
                    builder.Append(random.Next(-100000, 100000)).Append('.').Append(random.Next(0, 1000));
                    break;
                default:
                    string[] spaces = [" ", "\t", "\n", "\r\n", "\u00A0", "\r", "\u2003", "\v", "\f"];
                    for (int s = random.Next(1, 12); s > 0; s--) builder.Append(spaces[random.Next(spaces.Length)]);
                    break;
            }
        }
        return builder.ToString();
    }

    static string Emoji(Random random)
    {
        string[] people = ["👨", "👩", "👧", "👦", "🧑", "👴", "👵"];
        string[] tones = ["", "\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF"];
        var builder = new StringBuilder();
        for (int n = random.Next(1, 6); n > 0; n--)
        {
            switch (random.Next(4))
            {
                case 0:
                    for (int k = random.Next(2, 5); k > 0; k--)
                        builder.Append(people[random.Next(people.Length)]).Append(tones[random.Next(tones.Length)]).Append(k > 1 ? "\u200D" : "");
                    break;
                case 1:
                    builder.Append(new Rune(0x1F1E6 + random.Next(26)).ToString()).Append(new Rune(0x1F1E6 + random.Next(26)).ToString());
                    break;
                case 2:
                    builder.Append((char)('0' + random.Next(10))).Append("\uFE0F\u20E3");
                    break;
                default:
                    builder.Append(new Rune(random.Next(0x1F300, 0x1FAFF)).ToString()).Append(random.Next(2) == 0 ? "\uFE0F" : "");
                    break;
            }
            builder.Append(random.Next(3) == 0 ? " " : "");
        }
        return builder.ToString();
    }

    /// <summary>Chunks of the Python standard library sources when the machine has them, generated code otherwise.</summary>
    static IEnumerable<string> Code(Random random, int count)
    {
        string[] files = Directory.Exists("/usr/lib")
            ? Directory.GetDirectories("/usr/lib", "python3*").OrderBy(d => d, StringComparer.Ordinal)
                .SelectMany(d => Directory.GetFiles(d, "*.py")).OrderBy(f => f, StringComparer.Ordinal).ToArray()
            : [];
        for (int i = 0; i < count; i++)
        {
            if (files.Length == 0)
            {
                yield return GeneratedCode(random);
                continue;
            }
            string source = File.ReadAllText(files[random.Next(files.Length)]);
            int length = Math.Min(source.Length, random.Next(20, 3000));
            int start = random.Next(source.Length - length + 1);
            yield return WholeCharacters(source.Substring(start, length));
        }
    }

    static string GeneratedCode(Random random)
    {
        string[] lines =
        [
            "def f(x, y=None):", "    return x ** 2 + y", "class Foo(Bar):", "\tif (a && b) { return -1; }", "for i in range(10):",
            "        print(f\"{i:>4}\")", "import os, sys", "x = [1, 2, 3]  # comment", "while True:\n    break", "}", "#!/usr/bin/env python3",
        ];
        var builder = new StringBuilder();
        for (int n = random.Next(1, 15); n > 0; n--) builder.Append(lines[random.Next(lines.Length)]).Append(random.Next(5) == 0 ? "\r\n" : "\n");
        return builder.ToString();
    }

    static string LongText(Random random, int length)
    {
        var builder = new StringBuilder(length + 1000);
        while (builder.Length < length) builder.Append(Sentence(random, withSpecials: random.Next(3) == 0)).Append('\n');
        return WholeCharacters(builder.ToString(0, length));
    }

    /// <summary>Drops a surrogate pair half left at either end by cutting a string.</summary>
    static string WholeCharacters(string text)
    {
        int start = text.Length > 0 && char.IsLowSurrogate(text[0]) ? 1 : 0;
        int end = text.Length > start && char.IsHighSurrogate(text[^1]) ? text.Length - 1 : text.Length;
        return text[start..end];
    }
}
