using System.Globalization;
using System.Runtime.Intrinsics.X86;

namespace SaeCluster.Compute;

/// <summary>
/// Whether "auto" precision runs GEMMs in bf16 on this machine, decided once per process on first use and
/// cached: fp32 without a native bf16 kernel (<see cref="Gemm.HasFastBf16"/>); bf16 where the CPU has AMX-BF16
/// and (on Linux) the kernel has enabled it; otherwise a short probe (~0.1–0.3 s) times oneDNN's fp32 and bf16
/// GEMMs at m = 1024, n = 2048, k = 1024 and picks bf16 only when it runs more than <see cref="Margin"/>× as
/// fast — AVX512-BF16 without AMX is faster than fp32 on some CPUs and slower on others.
/// The environment variable <c>SAECLUSTER_BF16</c> overrides: <c>on</c> (bf16 wherever a native kernel
/// exists, no probe), <c>off</c> (fp32), <c>measure</c> (probe even where AMX is present); unset or
/// <c>auto</c> decides as above, and any other value is ignored (the reason says so).
/// </summary>
public sealed class Bf16Choice
{
    /// <summary>bf16 must measure more than this many times fp32's GFLOP/s to be chosen (a margin against noise).</summary>
    public const double Margin = 1.15;

    /// <summary>The environment variable that overrides the decision.</summary>
    public const string SettingVariable = "SAECLUSTER_BF16";

    const int ProbeM = 1024, ProbeN = 2048, ProbeK = 1024;

    static readonly Lazy<Bf16Choice> s_current = new(Probe, LazyThreadSafetyMode.ExecutionAndPublication);
    static int s_reported;

    /// <summary>True when auto precision should run GEMMs in bf16.</summary>
    public bool PreferBf16 { get; }

    /// <summary>Why, e.g. "AMX present" or "measured bf16 GEMM 980 GFLOP/s vs fp32 390 GFLOP/s".</summary>
    public string Reason { get; }

    /// <summary>oneDNN fp32 GEMM GFLOP/s measured by the probe; null when no probe ran.</summary>
    public double? Fp32Gflops { get; }

    /// <summary>oneDNN bf16 GEMM GFLOP/s measured by the probe; null when no probe ran.</summary>
    public double? Bf16Gflops { get; }

    Bf16Choice(bool preferBf16, string reason, double? fp32Gflops = null, double? bf16Gflops = null)
    {
        PreferBf16 = preferBf16;
        Reason = reason;
        Fp32Gflops = fp32Gflops;
        Bf16Gflops = bf16Gflops;
    }

    /// <summary>This process's choice (probed on first use).</summary>
    public static Bf16Choice Current => s_current.Value;

    /// <summary>Shorthand for <c>Current.PreferBf16</c>.</summary>
    public static bool Preferred => s_current.Value.PreferBf16;

    /// <summary>"bf16" or "fp32".</summary>
    public string Precision => PreferBf16 ? "bf16" : "fp32";

    /// <summary>The line logged when auto precision is used, e.g. "precision auto → bf16 (AMX present)".</summary>
    public string LogLine => $"precision auto → {Precision} ({Reason})";

    /// <summary>E.g. "fp32: no native bf16 GEMM (oneDNN's bf16 kernel is not loaded)".</summary>
    public override string ToString() => $"{Precision}: {Reason}";

    /// <summary>Hands <see cref="LogLine"/> to <paramref name="write"/> the first time this is called in the process; later calls do nothing.</summary>
    public static void ReportOnce(Action<string> write)
    {
        if (Interlocked.Exchange(ref s_reported, 1) == 0) write(Current.LogLine);
    }

    /// <summary>
    /// The decision from its inputs: <paramref name="setting"/> (the override's value, or null),
    /// whether a native bf16 kernel exists, whether AMX-BF16 is usable, and <paramref name="measure"/>
    /// (fp32 and bf16 GFLOP/s), called only when the answer depends on it.
    /// </summary>
    internal static Bf16Choice Decide(string? setting, bool hasNative, bool hasAmx, Func<(double Fp32, double Bf16)> measure)
    {
        string mode = setting?.Trim().ToLowerInvariant() ?? "";
        string note = mode is "" or "auto" or "on" or "off" or "measure" ? "" : $" ({SettingVariable}='{setting}' ignored: on, off or measure)";
        if (mode == "off") return new(false, $"{SettingVariable}=off");
        if (!hasNative) return new(false, "no native bf16 GEMM (oneDNN's bf16 kernel is not loaded)" + note);
        if (mode == "on") return new(true, $"{SettingVariable}=on");
        if (hasAmx && mode != "measure") return new(true, "AMX present" + note);
        var (fp32, bf16) = measure();
        return Compare(fp32, bf16, hasAmx, note);
    }

    /// <summary>bf16 when it measured more than <see cref="Margin"/>× fp32's GFLOP/s.</summary>
    internal static Bf16Choice Compare(double fp32Gflops, double bf16Gflops, bool hasAmx, string note = "")
    {
        string numbers = string.Create(CultureInfo.InvariantCulture, $"measured bf16 GEMM {bf16Gflops:F0} GFLOP/s vs fp32 {fp32Gflops:F0} GFLOP/s");
        bool faster = bf16Gflops > Margin * fp32Gflops;
        string reason = faster ? numbers
            : string.Create(CultureInfo.InvariantCulture, $"{(hasAmx ? "" : "no AMX; ")}{numbers}, bf16 needs > {Margin}×");
        return new(faster, reason + note, fp32Gflops, bf16Gflops);
    }

    static Bf16Choice Probe()
    {
        using var _ = Gemm.Use(Gemm.Mode.Default); // the process's backend, whatever a test forced on this thread
        return Decide(Environment.GetEnvironmentVariable(SettingVariable), Gemm.HasFastBf16, HasAmxBf16(),
            () => (GemmPeak.MeasureGflops(ProbeM, ProbeN, ProbeK, bf16: false), GemmPeak.MeasureGflops(ProbeM, ProbeN, ProbeK, bf16: true)));
    }

    /// <summary>CPUID.(EAX=7, ECX=0):EDX bit 22 (AMX-BF16); on Linux also "amx_bf16" in /proc/cpuinfo, i.e. the kernel enabled the AMX state.</summary>
    static bool HasAmxBf16()
    {
        if (!X86Base.IsSupported || X86Base.CpuId(0, 0).Eax < 7) return false;
        if ((X86Base.CpuId(7, 0).Edx & (1 << 22)) == 0) return false;
        return !OperatingSystem.IsLinux() || LinuxCpuFlag("amx_bf16");
    }

    static bool LinuxCpuFlag(string flag)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("flags", StringComparison.Ordinal))
                    return line.Split([' ', '\t', ':'], StringSplitOptions.RemoveEmptyEntries).Contains(flag);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return false;
    }
}
