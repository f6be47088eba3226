namespace SaeCluster.Models;

/// <summary>
/// Expands corpus paths: a file, a folder (every file in it, recursively), or a glob whose last parts may
/// hold * and ? and a ** segment for any depth (e.g. <c>data/**/*.jsonl</c>). Sorted, so runs are repeatable.
/// The walk visits only folders the pattern can match (a glob under /usr/lib does not read all of /usr/lib)
/// and follows a symbolic link to a folder at most once, so link loops (llvm's build/Release -> ..) end.
/// </summary>
public static class CorpusFiles
{
    static readonly EnumerationOptions Entries = new() { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = 0 };

    public static IReadOnlyList<string> Expand(string pattern)
    {
        if (File.Exists(pattern)) return [Path.GetFullPath(pattern)];
        if (Directory.Exists(pattern)) return Walk(pattern, ["**", "*"]);
        // split into the longest wildcard-free directory prefix and the pattern after it
        var parts = pattern.Replace('\\', '/').Split('/');
        int firstWild = Array.FindIndex(parts, p => p.IndexOfAny(['*', '?']) >= 0);
        if (firstWild < 0) throw new FileNotFoundException($"{pattern}: no such file or folder");
        string root = firstWild == 0 ? "." : string.Join('/', parts[..firstWild]);
        if (pattern.StartsWith('/') && firstWild == 1) root = "/";
        if (!Directory.Exists(root)) throw new FileNotFoundException($"{pattern}: folder {root} does not exist");
        var matches = Walk(root, parts[firstWild..]);
        if (matches.Count == 0) throw new FileNotFoundException($"{pattern}: matches no file");
        return matches;
    }

    static IReadOnlyList<string> Walk(string root, string[] pattern)
    {
        if (pattern[^1] == "**") pattern = [.. pattern, "*"]; // "data/**": every file below data
        var found = new List<string>();
        Walk(root, pattern, 0, found, new HashSet<(string, int)>());
        return found.Select(Path.GetFullPath).Distinct().Order(StringComparer.Ordinal).ToArray();
    }

    static void Walk(string dir, string[] pattern, int at, List<string> found, HashSet<(string, int)> visited)
    {
        if (at == pattern.Length) return;
        string p = pattern[at];
        if (p == "**")
        {
            // the same folder (a link target seen before) is walked once per position in the pattern
            if (!visited.Add((RealPath(dir), at))) return;
            Walk(dir, pattern, at + 1, found, visited);
            foreach (var sub in Directory.EnumerateDirectories(dir, "*", Entries)) Walk(sub, pattern, at, found, visited);
        }
        else if (at == pattern.Length - 1)
        {
            foreach (var file in Directory.EnumerateFiles(dir, "*", Entries))
                if (Wildcard(Path.GetFileName(file), p)) found.Add(file);
        }
        else
        {
            foreach (var sub in Directory.EnumerateDirectories(dir, "*", Entries))
                if (Wildcard(Path.GetFileName(sub), p)) Walk(sub, pattern, at + 1, found, visited);
        }
    }

    static string RealPath(string dir)
    {
        try { return new DirectoryInfo(dir).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(dir); }
        catch (IOException) { return Path.GetFullPath(dir); }
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
