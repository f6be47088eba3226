using System.Diagnostics;

namespace SaeCluster.Compute.Tests;

/// <summary>
/// Runs scripts under Debian's <c>/usr/bin/python3</c> (where python3-torch and python3-numpy live, unlike the first
/// python3 on PATH). A missing interpreter or module fails the test with the package to install; nothing is skipped.
/// </summary>
internal static class SystemPython
{
    private const string Interpreter = "/usr/bin/python3";
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>What to install for <paramref name="module"/>: Debian's python3-torch brings python3-numpy with it.</summary>
    private static string InstallHint(string module) => module == "torch"
        ? "install Debian's python3-torch (apt-get install python3-torch; scripts/install-deps.sh --peer does)"
        : $"install Debian's python3-{module} (python3-torch depends on it; apt-get install python3-torch, or scripts/install-deps.sh --peer)";

    /// <summary>
    /// Runs <paramref name="script"/> with <paramref name="workingDirectory"/> as its current folder and returns its stdout;
    /// fails the test when it exits non-zero. Each name in <paramref name="modules"/> is imported first, so a missing
    /// module fails with its Debian package's name (python3-torch, python3-numpy).
    /// </summary>
    public static string Run(string script, string workingDirectory, params string[] modules)
    {
        string prelude = string.Concat(modules.Select(m =>
            $"try:\n    import {m}\nexcept ImportError as e:\n    raise SystemExit(\"{Interpreter} cannot import {m} (\" + str(e) + \"): {InstallHint(m)}\")\n"));
        var start = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(prelude + script);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{Interpreter} did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"{Interpreter} cannot be started ({e.Message}): {InstallHint("torch")}");
            throw;
        }
        using (process)
        {
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(Timeout))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{Interpreter} did not finish within {Timeout}");
            }
            process.WaitForExit();
            if (process.ExitCode != 0)
                Assert.Fail($"{Interpreter} exited with {process.ExitCode}\n--- stdout\n{stdout.Result}\n--- stderr\n{stderr.Result}");
            return stdout.Result;
        }
    }
}
