using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SaeCluster.Testing;

/// <summary>POSIX signals to child processes (what `docker stop`, Kubernetes and systemd send).</summary>
public static partial class ProcessSignals
{
    public const int SigKill = 9, SigTerm = 15, SigStop = 19, SigCont = 18;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    /// <summary>Sends a signal; false (with errno in the message) when it cannot be delivered.</summary>
    public static bool TrySend(int pid, int signal, out string error)
    {
        bool ok = kill(pid, signal) == 0;
        error = ok ? "" : $"kill -{signal} {pid}: errno {Marshal.GetLastPInvokeError()}";
        return ok;
    }

    /// <summary>Sends a signal; throws when it cannot be delivered.</summary>
    public static void Send(int pid, int signal)
    {
        if (!TrySend(pid, signal, out string error)) throw new InvalidOperationException(error);
    }

    /// <summary>Sends SIGTERM and waits for the exit; false when the process is still running after <paramref name="timeout"/>.</summary>
    public static async Task<bool> TerminateAsync(Process p, TimeSpan timeout)
    {
        if (p.HasExited) return true;
        Send(p.Id, SigTerm);
        using var cts = new CancellationTokenSource(timeout);
        try { await p.WaitForExitAsync(cts.Token); return true; }
        catch (OperationCanceledException) { return false; }
    }
}
