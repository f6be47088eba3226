using SaeCluster.Compute;

namespace SaeCluster.Client.Report;

/// <summary>
/// Builds the HTML report of a run or sweep folder (<c>saectl report</c>): every SAE under it, its evaluation
/// numbers, plots per site and a latent browser, in one self-contained file written atomically.
/// </summary>
public static class ReportBuilder
{
    /// <summary>The file name a report gets inside its folder when no output path is given.</summary>
    public const string DefaultFileName = "report.html";

    /// <summary>
    /// Reads every SAE under <paramref name="folder"/> and writes the report to <paramref name="outPath"/>
    /// (default <c>{folder}/report.html</c>), all or nothing. Returns the full path written. A missing folder, a
    /// folder with no SAE or a malformed input file throws <see cref="SaeCluster.Sae.DataException"/> (naming the
    /// file and field) before anything is written. <paramref name="progress"/> hears a line per stage.
    /// </summary>
    public static string Write(string folder, string? outPath = null, Action<string>? progress = null)
    {
        var data = ReportData.Load(folder);
        progress?.Invoke($"{data.Saes.Count} SAEs under {data.Folder}");
        string html = ReportHtml.Render(data, DateTime.UtcNow, progress);
        string path = Path.GetFullPath(outPath ?? Path.Combine(data.Folder, DefaultFileName));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.WriteText(path, html);
        return path;
    }
}
