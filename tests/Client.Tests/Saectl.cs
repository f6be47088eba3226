using System.Diagnostics;

namespace SaeCluster.Client.Tests;

/// <summary>Runs the built saectl as a separate process, the way a user does.</summary>
public static class Saectl
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    static string Dll => Path.Combine(AppContext.BaseDirectory, "saectl.dll");

    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    public static Result Run(params string[] args) => Run(StartInfo(args));

    /// <summary>Runs saectl with <paramref name="stdin"/> as its standard input.</summary>
    public static Result RunWithInput(string stdin, params string[] args) => Run(StartInfo(args), stdin);

    public static Result Run(ProcessStartInfo psi, string stdin = "")
    {
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException($"saectl {string.Join(' ', psi.ArgumentList.Skip(1))} did not finish"); }
        return new Result(p.ExitCode, stdout, err.Result);
    }
}
