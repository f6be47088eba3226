using System.Diagnostics;

namespace SaeCluster.Testing;

/// <summary>
/// Runs Python scripts under Debian's <c>/usr/bin/python3</c>, the interpreter with <c>python3-torch</c> and numpy
/// (the <c>python3</c> first on PATH may be another). The test command installs it; when it is missing the test
/// fails naming the package, it never passes without running.
/// </summary>
public static class DebianTorch
{
    public const string Python = "/usr/bin/python3";

    /// <summary>Runs <paramref name="script"/> (a file) with <paramref name="args"/>; returns stdout, fails the test on a non-zero exit.</summary>
    public static string RunFile(string script, params string[] args) => Run(["-u", script, .. args]);

    /// <summary>Runs Python source given inline (<c>python3 -c</c>).</summary>
    public static string RunCode(string code, params string[] args) => Run(["-c", code, .. args]);

    static string Run(string[] argv)
    {
        if (!File.Exists(Python))
            Assert.Fail($"{Python} is missing: install Debian's python3-torch (bash scripts/install-deps.sh --peer; the test command does this)");
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in argv) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        string err = stderr.Result;
        if (err.Contains("No module named 'torch'") || err.Contains("No module named 'numpy'"))
            Assert.Fail($"{Python} has no torch/numpy: install Debian's python3-torch (bash scripts/install-deps.sh --peer). {err.Trim()}");
        Assert.True(p.ExitCode == 0, $"python exited {p.ExitCode}:\n{err}\n{stdout}");
        return stdout;
    }
}
