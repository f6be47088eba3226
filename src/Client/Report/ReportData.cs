using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>
/// Every SAE under a run or sweep folder, loaded and checked: a folder with <c>cfg.json</c> and at least one of
/// <c>metrics.json</c> / <c>eval.json</c>, found recursively. The subfolders that hold the same SAE in other
/// formats, checkpoints and logs are not searched. A malformed file is a <see cref="DataException"/> naming the
/// file and the field.
/// </summary>
internal sealed record ReportData(string Folder, IReadOnlyList<SaeRecord> Saes)
{
    static readonly HashSet<string> NotSearched = ["gemmascope", "dictlearn", "sparsify", "functiongemma", "checkpoint", "logs"];

    /// <summary>The SAEs grouped by site, in site order (layer, then res, mlp, att, attn_out).</summary>
    public IEnumerable<IGrouping<SiteLabel, SaeRecord>> Sites => Saes.GroupBy(s => s.Site).OrderBy(g => g.Key);

    /// <summary>Finds and reads every SAE under <paramref name="folder"/>; none is an error.</summary>
    public static ReportData Load(string folder)
    {
        string root = Path.GetFullPath(folder);
        if (!Directory.Exists(root))
            throw new DataException(folder, File.Exists(root) ? "is a file; report wants a run or sweep folder" : "no such folder");
        var saes = Find(root).Select(f => SaeRecord.Load(f, root))
            .OrderBy(s => s.Site).ThenBy(s => s.Family, StringComparer.Ordinal).ThenBy(s => s.Width).ThenBy(s => s.L0 ?? double.MaxValue)
            .ThenBy(s => s.Name, StringComparer.Ordinal)
            .ToArray();
        if (saes.Length == 0)
            throw new DataException(folder, $"no SAE under it (a folder with {SaeRecord.CfgFile} and {SaeMetrics.FileName} or {SaeEval.FileName})");
        return new ReportData(root, saes);
    }

    /// <summary>SAE folders under <paramref name="root"/> (itself included), not searching inside an SAE folder, hidden folders or links.</summary>
    static IEnumerable<string> Find(string root)
    {
        var pending = new Stack<string>([root]);
        while (pending.TryPop(out var dir))
        {
            if (SaeRecord.IsSaeFolder(dir)) { yield return dir; continue; }
            foreach (var sub in Directory.EnumerateDirectories(dir).Order(StringComparer.Ordinal).Reverse())
            {
                var info = new DirectoryInfo(sub);
                if (NotSearched.Contains(info.Name) || info.Name.StartsWith('.') || info.LinkTarget != null) continue;
                pending.Push(sub);
            }
        }
    }
}
