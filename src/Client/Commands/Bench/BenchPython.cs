using System.Diagnostics;
using System.Text.Json.Nodes;
using SaeCluster.Sae;

namespace SaeCluster.Client.Commands;

/// <summary>Runs a bench/ peer script under Debian's python3 (the interpreter that has torch) and parses the JSON it prints.</summary>
public static class BenchPython
{
    /// <summary>
    /// Runs <paramref name="script"/> with <paramref name="args"/>; <paramref name="feed"/>, when given, writes the
    /// script's stdin (then closed). Throws naming the script and its stderr when it exits non-zero.
    /// </summary>
    public static JsonObject Run(string script, IEnumerable<string> args, Action<Stream>? feed = null, CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = feed != null };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OPENBLAS_CORETYPE"] = "SkylakeX";
        Process p;
        try { p = Process.Start(psi) ?? throw new IOException("could not start /usr/bin/python3"); }
        catch (System.ComponentModel.Win32Exception e) { throw new ConfigException("--peer", $"/usr/bin/python3 could not be started ({e.Message}); install the peer with: bash scripts/install-deps.sh --peer"); }
        using (p)
        using (ct.Register(() => { try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }))
        {
            var stdout = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
            Exception? feedError = null;
            if (feed != null)
            {
                try { feed(p.StandardInput.BaseStream); p.StandardInput.Close(); }
                catch (IOException e) { feedError = e; } // the script died mid-stream: its stderr says why
            }
            p.WaitForExit();
            ct.ThrowIfCancellationRequested();
            string name = Path.GetFileName(script);
            if (p.ExitCode != 0 || feedError != null)
                throw new IOException($"the PyTorch peer {name} failed (exit {p.ExitCode}): {Tail(stderr.Result)}{(feedError != null ? $" (stdin: {feedError.Message})" : "")}");
            try { return JsonNode.Parse(stdout.Result)!.AsObject(); }
            catch (System.Text.Json.JsonException e) { throw new IOException($"the PyTorch peer {name} printed no JSON ({e.Message}): {Tail(stdout.Result)}"); }
        }
    }

    // the last 2,000 characters: where a traceback ends
    static string Tail(string s)
    {
        s = s.Trim();
        return s.Length > 2000 ? s[^2000..] : s;
    }

    /// <summary>bench/<paramref name="name"/> of the repository saectl runs from (or the working directory's).</summary>
    public static string FindScript(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string p = Path.Combine(dir.FullName, "bench", name);
            if (File.Exists(p)) return p;
        }
        string cwd = Path.Combine(Environment.CurrentDirectory, "bench", name);
        if (File.Exists(cwd)) return cwd;
        throw new ConfigException("--peer", $"bench/{name} not found (run from the repository)");
    }
}
