using SaeCluster.Models;

namespace SaeCluster.Grains;

/// <summary>
/// Where a sweep's actors and blobs live. Actors: <c>sweep/{id}/coordinator</c>,
/// <c>sweep/{id}/producer/{index}</c>, <c>sweep/{id}/trainer/{layer}.{site}</c> — one prefix per sweep,
/// so a whole sweep is listed, cancelled or deleted with one statement. Blobs: <c>{id}/shards/{layer}.{site}/</c>,
/// <c>{id}/checkpoints/{layer}.{site}/</c> and the finished SAEs in <c>{id}/saes/{layer}.{site}/{sae}/</c>.
/// </summary>
public static class SweepKeys
{
    public static string Prefix(string sweep) => $"sweep/{sweep}/";
    public static string Coordinator(string sweep) => $"sweep/{sweep}/coordinator";
    public static string ProducerPrefix(string sweep) => $"sweep/{sweep}/producer/";
    public static string Producer(string sweep, int index) => $"{ProducerPrefix(sweep)}{index:D5}";
    public static string TrainerPrefix(string sweep) => $"sweep/{sweep}/trainer/";
    public static string Trainer(string sweep, int layer, HookSite site) => TrainerPrefix(sweep) + SiteSelection.FolderName(layer, site);

    /// <summary>The sweep id of an actor key.</summary>
    public static string SweepOf(string key) => key.Split('/')[1];

    /// <summary>(layer, site) of a trainer key.</summary>
    public static (int Layer, HookSite Site) SiteOf(string trainerKey)
    {
        string folder = trainerKey[(trainerKey.LastIndexOf('/') + 1)..];
        int dot = folder.IndexOf('.');
        if (dot < 0 || !int.TryParse(folder[..dot], out int layer) || !HookSites.TryParse(folder[(dot + 1)..], out var site))
            throw new ArgumentException($"'{trainerKey}' is not a trainer key (…/trainer/{{layer}}.{{site}})");
        return (layer, site);
    }

    public static string BlobPrefix(string sweep) => $"{sweep}/";
    public static string ShardBlob(string sweep, int layer, HookSite site, int shard) => $"{sweep}/shards/{SiteSelection.FolderName(layer, site)}/shard-{shard:D5}.safetensors";
    public static string ShardsPrefix(string sweep) => $"{sweep}/shards/";
    public static string ShardPrefix(string sweep, int layer, HookSite site) => $"{sweep}/shards/{SiteSelection.FolderName(layer, site)}/";
    public static string CheckpointPrefix(string sweep, int layer, HookSite site) => $"{sweep}/checkpoints/{SiteSelection.FolderName(layer, site)}/";
    public static string SaePrefix(string sweep, int layer, HookSite site, string sae) => $"{sweep}/saes/{SiteSelection.FolderName(layer, site)}/{sae}/";
}
