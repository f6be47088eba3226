namespace SaeCluster.Models;

/// <summary>
/// Expands corpus paths: a file, a folder (every file in it, recursively), or a glob whose last parts may
/// hold * and ? and a ** segment for any depth (e.g. <c>data/**/*.jsonl</c>). Sorted, so runs are repeatable.
/// </summary>
public static class CorpusFiles
{
    public static IReadOnlyList<string> Expand(string pattern)
    {
        if (File.Exists(pattern)) return [Path.GetFullPath(pattern)];
        if (Directory.Exists(pattern))
            return Directory.EnumerateFiles(pattern, "*", SearchOption.AllDirectories).Select(Path.GetFullPath).Order(StringComparer.Ordinal).ToArray();
        // split into the longest wildcard-free directory prefix and the pattern after it
        var parts = pattern.Replace('\\', '/').Split('/');
        int firstWild = Array.FindIndex(parts, p => p.IndexOfAny(['*', '?']) >= 0);
        if (firstWild < 0) throw new FileNotFoundException($"{pattern}: no such file or folder");
        string root = firstWild == 0 ? "." : string.Join('/', parts[..firstWild]);
        if (pattern.StartsWith('/') && firstWild == 1) root = "/";
        if (!Directory.Exists(root)) throw new FileNotFoundException($"{pattern}: folder {root} does not exist");
        var rest = parts[firstWild..];
        var matches = Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => Matches(Path.GetRelativePath(root, f).Replace('\\', '/').Split('/'), rest))
            .Select(Path.GetFullPath).Order(StringComparer.Ordinal).ToArray();
        if (matches.Length == 0) throw new FileNotFoundException($"{pattern}: matches no file");
        return matches;
    }

    static bool Matches(ReadOnlySpan<string> path, ReadOnlySpan<string> pattern)
    {
        if (pattern.IsEmpty) return path.IsEmpty;
        if (pattern[0] == "**")
        {
            for (int skip = 0; skip <= path.Length; skip++)
                if (Matches(path[skip..], pattern[1..])) return true;
            return false;
        }
        return !path.IsEmpty && Wildcard(path[0], pattern[0]) && Matches(path[1..], pattern[1..]);
    }

    // * = any run of characters, ? = one character
    static bool Wildcard(string s, string p)
    {
        int si = 0, pi = 0, star = -1, mark = 0;
        while (si < s.Length)
        {
            if (pi < p.Length && (p[pi] == '?' || p[pi] == s[si])) { si++; pi++; }
            else if (pi < p.Length && p[pi] == '*') { star = pi++; mark = si; }
            else if (star >= 0) { pi = star + 1; si = ++mark; }
            else return false;
        }
        while (pi < p.Length && p[pi] == '*') pi++;
        return pi == p.Length;
    }
}
