using System.Diagnostics;

namespace SaeCluster.Silo.Tests;

/// <summary>Runs the built saectl as a separate process, the way a user does (SAECLUSTER_* only as given).</summary>
public static class Saectl
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    /// <summary>
    /// saectl from its own build output (src/Client/bin/{configuration}/net10.0): next to these tests it would
    /// resolve the libraries the silo's ASP.NET Core framework brings here, which saectl does not run on.
    /// </summary>
    static string Dll
    {
        get
        {
            var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
            return Path.Combine(SiloProcess.RepositoryRoot, "src", "Client", "bin", here.Parent!.Name, here.Name, "saectl.dll");
        }
    }

    public static Result Run(params string[] args) => Run(new Dictionary<string, string>(), args);

    public static Result Run(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("SAECLUSTER_", StringComparison.Ordinal)).ToArray()) psi.Environment.Remove(key);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(true); throw new TimeoutException($"saectl {string.Join(' ', args)} did not finish"); }
        return new Result(p.ExitCode, stdout, err.Result);
    }
}
