using System.Diagnostics;

namespace SaeCluster.Testing;

/// <summary>
/// Runs Python under Debian's <c>/usr/bin/python3</c>, the interpreter with <c>python3-torch</c> and numpy (the
/// <c>python3</c> first on PATH may be another). The test command installs them; a missing interpreter or module
/// fails the test naming the Debian package, it never passes without running.
/// </summary>
public static class DebianTorch
{
    public const string Python = "/usr/bin/python3";
    static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    // imported first, so a missing module fails with its package's name
    const string Prelude = """
        import sys
        for _m in ("numpy", "torch"):
            try:
                __import__(_m)
            except ImportError as _e:
                raise SystemExit(f"{sys.executable} cannot import {_m} ({_e}): install Debian's python3-{_m} (bash scripts/install-deps.sh --peer does)")
        import numpy, torch

        """;

    /// <summary>Runs the script file <paramref name="script"/> with <paramref name="args"/>; returns stdout, fails the test on a non-zero exit.</summary>
    public static string RunFile(string script, params string[] args) =>
        Run(["-c", Prelude + "import runpy\nsys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')\n", script, .. args], null);

    /// <summary>Runs Python source <paramref name="code"/> in <paramref name="workingDirectory"/>; returns stdout.</summary>
    public static string RunCode(string code, string? workingDirectory = null) => Run(["-c", Prelude + code], workingDirectory);

    static string Run(string[] argv, string? workingDirectory)
    {
        if (!File.Exists(Python))
            Assert.Fail($"{Python} is missing: install Debian's python3-torch (bash scripts/install-deps.sh --peer; the test command does this)");
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (workingDirectory != null) psi.WorkingDirectory = workingDirectory;
        psi.Environment["OMP_NUM_THREADS"] = "1"; // the suite runs test projects side by side on few cores: one torch thread each
        foreach (var a in argv) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(Timeout))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{Python} did not finish within {Timeout}");
        }
        p.WaitForExit();
        if (p.ExitCode != 0) Assert.Fail($"{Python} exited with {p.ExitCode}\n--- stdout\n{stdout.Result}\n--- stderr\n{stderr.Result}");
        return stdout.Result;
    }
}
