namespace SaeCluster.Models;

/// <summary>
/// Which (layer, site) pairs to capture, parsed from a spec like <c>res:all,mlp:all,att:0-5,attn_out:3,7</c>
/// (layers: all, a number, a range a-b, or several separated by '+' or ';'). Validated against the model.
/// </summary>
public sealed record SiteSelection(IReadOnlyList<(int Layer, HookSite Site)> Pairs)
{
    public int DeepestLayer => Pairs.Max(p => p.Layer);

    public static SiteSelection Parse(string spec, int layers, string field = "--sites")
    {
        var pairs = new SortedSet<(int, HookSite)>();
        HookSite? current = null;
        foreach (var rawPart in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string part = rawPart;
            int colon = part.IndexOf(':');
            if (colon >= 0)
            {
                if (!HookSites.TryParse(part[..colon], out var s)) throw new ArgumentException($"{field}: unknown site '{part[..colon]}' (res, mlp, att, attn_out)");
                current = s;
                part = part[(colon + 1)..];
            }
            if (current is not HookSite site) throw new ArgumentException($"{field}: '{rawPart}' names layers before any site (write e.g. res:0-3)");
            foreach (var item in part.Split(['+', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (item == "all") { for (int l = 0; l < layers; l++) pairs.Add((l, site)); continue; }
                var range = item.Split('-');
                if (range.Length is < 1 or > 2 || !range.All(r => int.TryParse(r, out _)))
                    throw new ArgumentException($"{field}: '{item}' is not a layer, a range a-b, or all");
                int a = int.Parse(range[0]), b = int.Parse(range[^1]);
                if (a > b) throw new ArgumentException($"{field}: range {item} runs backwards");
                if (a < 0 || b >= layers) throw new ArgumentException($"{field}: layer {(a < 0 ? a : b)} does not exist (the model has layers 0-{layers - 1})");
                for (int l = a; l <= b; l++) pairs.Add((l, site));
            }
        }
        if (pairs.Count == 0) throw new ArgumentException($"{field}: selects no site");
        return new SiteSelection(pairs.ToArray());
    }

    /// <summary>Folder name of a site's shards: <c>{layer}.{site}</c> (e.g. 12.res).</summary>
    public static string FolderName(int layer, HookSite site) => $"{layer}.{site.Name()}";
}
