using System.Runtime.CompilerServices;

namespace SaeCluster.Models.Tests;

/// <summary>Paths of files the tests use, found from this source file (the repository).</summary>
public static class RepositoryPaths
{
    static string Here([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    public static string Root => Path.GetFullPath(Path.Combine(Here(), "..", ".."));

    /// <summary>The small trained Gemma-2-architecture model the repository carries (a copy of ../shared/data/tiny-gemma2-code).</summary>
    public static string TinyGemma2 => Path.Combine(Root, "models", "tiny-gemma2-code");
}
