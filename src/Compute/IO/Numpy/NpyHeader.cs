using System.Globalization;
using System.Text;

namespace SaeCluster.Compute;

/// <summary>
/// The header dict of a <c>.npy</c> file, e.g. <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (64, 256), }</c>:
/// parsing (a Python-literal subset: str, bool, int, tuple of ints), formatting, and the descr ↔ dtype mapping.
/// </summary>
internal static class NpyHeader
{
    private static readonly (string Code, SafetensorsDtype Dtype)[] Codes =
    [
        ("f4", SafetensorsDtype.F32), ("f2", SafetensorsDtype.F16), ("f8", SafetensorsDtype.F64),
        ("i8", SafetensorsDtype.I64), ("i4", SafetensorsDtype.I32), ("i2", SafetensorsDtype.I16), ("i1", SafetensorsDtype.I8),
        ("u8", SafetensorsDtype.U64), ("u4", SafetensorsDtype.U32), ("u2", SafetensorsDtype.U16), ("u1", SafetensorsDtype.U8),
        ("b1", SafetensorsDtype.BOOL),
    ];

    /// <summary>The parsed header: element type, whether the data is big-endian, whether it is column-major, and the shape.</summary>
    public readonly record struct Fields(SafetensorsDtype Dtype, bool BigEndian, bool FortranOrder, long[] Shape);

    /// <summary>Parses the header text; returns null and a <paramref name="problem"/> when it is malformed or unsupported.</summary>
    public static Fields? Parse(string text, out string? problem)
    {
        var parser = new Parser(text);
        problem = parser.ParseDict(out Dictionary<string, object>? dict);
        if (problem is not null) return null;
        string[] expected = ["descr", "fortran_order", "shape"];
        if (dict!.Count != expected.Length || !expected.All(dict.ContainsKey))
        {
            problem = $"header keys are {{{string.Join(", ", dict.Keys.Select(k => $"'{k}'"))}}}, expected exactly 'descr', 'fortran_order' and 'shape'";
            return null;
        }
        if (dict["descr"] is not string descr)
        {
            problem = $"'descr' is {Describe(dict["descr"])}; only simple dtypes such as '<f4' are supported (structured arrays are not)";
            return null;
        }
        if (dict["fortran_order"] is not bool fortran)
        {
            problem = $"'fortran_order' is {Describe(dict["fortran_order"])}, not True or False";
            return null;
        }
        if (dict["shape"] is not long[] shape)
        {
            problem = $"'shape' is {Describe(dict["shape"])}, not a tuple of ints";
            return null;
        }
        if (shape.Any(d => d < 0))
        {
            problem = $"'shape' ({string.Join(", ", shape)}) has a negative dimension";
            return null;
        }
        if (!TryParseDescr(descr, out SafetensorsDtype dtype, out bool bigEndian))
        {
            problem = $"unsupported descr '{descr}' (supported: {string.Join(", ", Codes.Select(c => c.Dtype.ElementSize() == 1 ? $"'|{c.Code}'" : $"'<{c.Code}'"))}, and '>' big-endian forms)";
            return null;
        }
        return new Fields(dtype, bigEndian, fortran, shape);
    }

    /// <summary>
    /// The header numpy writes for a C-ordered little-endian array: the dict, padded with spaces and ended with a newline
    /// so that <paramref name="preambleLength"/> (magic, version, length field) plus the header is a multiple of 64 bytes.
    /// </summary>
    public static byte[] Format(SafetensorsDtype dtype, long[] shape, int preambleLength)
    {
        string dims = shape.Length == 1 ? $"({shape[0]},)" : $"({string.Join(", ", shape)})";
        string dict = $"{{'descr': '{DescrOf(dtype)}', 'fortran_order': False, 'shape': {dims}, }}";
        int total = (preambleLength + dict.Length + 1 + 63) / 64 * 64;
        return Encoding.ASCII.GetBytes(dict.PadRight(total - preambleLength - 1) + "\n");
    }

    /// <summary>numpy's descr for <paramref name="dtype"/> ('&lt;f4', '|u1', …); BF16 has none.</summary>
    public static string DescrOf(SafetensorsDtype dtype)
    {
        foreach (var (code, candidate) in Codes)
            if (candidate == dtype) return (dtype.ElementSize() == 1 ? "|" : "<") + code;
        throw new ArgumentException($"numpy has no dtype for {dtype} (no bfloat16); convert it to F32 first", nameof(dtype));
    }

    private static bool TryParseDescr(string descr, out SafetensorsDtype dtype, out bool bigEndian)
    {
        dtype = default;
        bigEndian = descr.StartsWith('>');
        if (descr.Length != 3 || descr[0] is not ('<' or '>' or '|' or '=')) return false;
        foreach (var (code, candidate) in Codes)
        {
            if (descr.AsSpan(1).SequenceEqual(code))
            {
                dtype = candidate;
                // '|' (not applicable) is only meaningful for single-byte types, and numpy writes it for exactly those
                return descr[0] != '|' || candidate.ElementSize() == 1;
            }
        }
        return false;
    }

    private static string Describe(object value) => value switch
    {
        string s => $"the string '{s}'",
        bool b => b ? "True" : "False",
        long[] t => $"the tuple ({string.Join(", ", t)})",
        long l => $"the int {l}",
        _ => "a list or tuple",
    };

    /// <summary>Recursive descent over the header text; values are string, bool, long, long[] (a tuple of ints) or object[] (any other tuple or list).</summary>
    private ref struct Parser(string text)
    {
        private readonly string _text = text;
        private int _pos;

        public string? ParseDict(out Dictionary<string, object>? dict)
        {
            dict = new Dictionary<string, object>(StringComparer.Ordinal);
            SkipSpace();
            if (!Eat('{')) return Error("does not start with '{'");
            while (true)
            {
                SkipSpace();
                if (Eat('}')) break;
                string? problem = ParseString(out string? key);
                if (problem is not null) return problem;
                SkipSpace();
                if (!Eat(':')) return Error($"expected ':' after key '{key}'");
                SkipSpace();
                problem = ParseValue(out object? value);
                if (problem is not null) return problem;
                if (!dict.TryAdd(key!, value!)) return Error($"key '{key}' appears twice");
                SkipSpace();
                if (Eat('}')) break;
                if (!Eat(',')) return Error("expected ',' or '}'");
            }
            SkipSpace();
            return _pos == _text.Length ? null : Error("has text after the closing '}'");
        }

        private string? ParseValue(out object? value)
        {
            value = null;
            if (_pos >= _text.Length) return Error("ends where a value belongs");
            char c = _text[_pos];
            if (c is '\'' or '"')
            {
                string? problem = ParseString(out string? s);
                value = s;
                return problem;
            }
            if (c == '(') return ParseSequence(')', out value);
            if (c == '[') return ParseSequence(']', out value);
            if (Word("True")) { value = true; return null; }
            if (Word("False")) { value = false; return null; }
            if (char.IsAsciiDigit(c) || c == '-')
            {
                string? problem = ParseInt(out long number);
                value = number;
                return problem;
            }
            return Error($"unexpected '{c}' where a value belongs");
        }

        /// <summary>A tuple, e.g. a shape: (), (n,), (a, b, …) → long[] when every item is an int; a list → object[].</summary>
        private string? ParseSequence(char close, out object? value)
        {
            value = null;
            _pos++; // the opening bracket
            var items = new List<object>();
            while (true)
            {
                SkipSpace();
                if (Eat(close)) break;
                string? problem = ParseValue(out object? item);
                if (problem is not null) return problem;
                items.Add(item!);
                SkipSpace();
                if (Eat(close)) break;
                if (!Eat(',')) return Error($"expected ',' or '{close}'");
            }
            value = close == ')' && items.All(i => i is long) ? items.Cast<long>().ToArray() : items.ToArray();
            return null;
        }

        private string? ParseInt(out long value)
        {
            int start = _pos;
            if (_pos < _text.Length && _text[_pos] == '-') _pos++;
            while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos])) _pos++;
            if (!long.TryParse(_text.AsSpan(start, _pos - start), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
                return Error($"'{_text[start.._pos]}' is not a 64-bit int");
            if (_pos < _text.Length && _text[_pos] == 'L') _pos++; // Python 2 wrote long ints as 5L
            return null;
        }

        private string? ParseString(out string? value)
        {
            value = null;
            if (_pos >= _text.Length || _text[_pos] is not ('\'' or '"')) return Error("expected a quoted string");
            char quote = _text[_pos++];
            int end = _text.IndexOf(quote, _pos);
            if (end < 0) return Error("has an unterminated string");
            value = _text[_pos..end];
            if (value.Contains('\\')) return Error($"string '{value}' has escapes, which numpy never writes here");
            _pos = end + 1;
            return null;
        }

        private bool Word(string word)
        {
            if (string.CompareOrdinal(_text, _pos, word, 0, word.Length) != 0) return false;
            _pos += word.Length;
            return true;
        }

        private bool Eat(char c)
        {
            if (_pos >= _text.Length || _text[_pos] != c) return false;
            _pos++;
            return true;
        }

        private void SkipSpace()
        {
            while (_pos < _text.Length && _text[_pos] is ' ' or '\t' or '\n' or '\r') _pos++;
        }

        private readonly string Error(string problem) => $"malformed header at character {_pos}: {problem} (header: {Shorten(_text)})";

        private static string Shorten(string text) => text.Length <= 200 ? text.TrimEnd() : text[..200] + "...";
    }
}
