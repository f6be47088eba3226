using SaeCluster.Models;

namespace SaeCluster.Grains;

/// <summary>
/// Grain keys and blob names of a sweep. Grains: the sweep is keyed by <c>sweep/{name}</c>, its producers by
/// <c>{sweep}/{index:D5}</c> (a range of shards), its trainers by <c>{sweep}/{layer}.{site}</c>, their evaluators in the model by <c>{sweep}/{layer}.{site}/eval</c>.
/// Blobs: <c>{sweep}/shards/{layer}.{site}/shard-{n}.e{epoch}.safetensors</c>,
/// <c>{sweep}/checkpoints/{layer}.{site}/e{epoch}-s{step}/</c>, the producers' final shard lists in
/// <c>{sweep}/catalog/</c>, and the finished SAEs in <c>{sweep}/saes/{layer}.{site}/{sae}/</c> — one prefix
/// per sweep, so a deleted sweep leaves nothing behind.
/// </summary>
public static class SweepKeys
{
    /// <summary>
    /// The sweep grain's key: <c>sweep/{name}</c> (never a bare name, which the ADO.NET storage provider would
    /// store as a number when it reads as hexadecimal, so that "cafe" and "00cafe" would share a row).
    /// </summary>
    public static string SweepGrain(string sweep) => $"sweep/{sweep}";

    /// <summary>The grain of the sweep <paramref name="name"/>.</summary>
    public static ISweepGrain Sweep(this IGrainFactory grains, string name) => grains.GetGrain<ISweepGrain>(SweepGrain(name));

    public static string Producer(string sweep, int index) => $"{sweep}/{index:D5}";
    public static string Trainer(string sweep, int layer, HookSite site) => $"{sweep}/{SiteSelection.FolderName(layer, site)}";
    public static string Trainer(string sweep, string site) => $"{sweep}/{site}";
    /// <summary>The evaluator in the model of a site's SAEs: <c>{sweep}/{layer}.{site}/eval</c>.</summary>
    public static string Evaluator(string sweep, string site) => $"{sweep}/{site}/eval";
    /// <summary>The site (<c>{layer}.{site}</c>) of an evaluator key.</summary>
    public static string SiteOfEvaluator(string key) => key[(key.IndexOf('/') + 1)..key.LastIndexOf('/')];

    /// <summary>The sweep of a producer or trainer key.</summary>
    public static string SweepOf(string key) => key[..key.IndexOf('/')];

    /// <summary>The index of a producer key.</summary>
    public static int ProducerIndex(string key) => int.Parse(key[(key.IndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>(layer, site) of a trainer key.</summary>
    public static (int Layer, HookSite Site) SiteOf(string trainerKey)
    {
        string folder = trainerKey[(trainerKey.LastIndexOf('/') + 1)..];
        int dot = folder.IndexOf('.');
        if (dot < 0 || !int.TryParse(folder[..dot], out int layer) || !HookSites.TryParse(folder[(dot + 1)..], out var site))
            throw new ArgumentException($"'{trainerKey}' is not a trainer key ({{sweep}}/{{layer}}.{{site}})");
        return (layer, site);
    }

    public static string BlobPrefix(string sweep) => $"{sweep}/";
    public static string ShardsPrefix(string sweep) => $"{sweep}/shards/";
    public static string ShardPrefix(string sweep, string site) => $"{sweep}/shards/{site}/";
    public static string ShardBlob(string sweep, string site, int shard, long epoch) => $"{sweep}/shards/{site}/shard-{shard:D5}.e{epoch}.safetensors";
    public static string CheckpointPrefix(string sweep, string site) => $"{sweep}/checkpoints/{site}/";
    public static string CatalogPrefix(string sweep) => $"{sweep}/catalog/";
    public static string CatalogBlob(string sweep, int producer) => $"{sweep}/catalog/producer-{producer:D5}.json";
    public static string SaePrefix(string sweep, string site, string sae) => $"{sweep}/saes/{site}/{sae}/";
}
