using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Client.Tests;

/// <summary>Each user error: one clear line naming the file or option, a non-zero exit, no output folder.</summary>
public class BadInputTests
{
    static void Shard(string folder, string name, int rows, int d, Func<int, float>? value = null)
    {
        Directory.CreateDirectory(folder);
        var w = new SafetensorsWriter();
        w.Add("acts", Enumerable.Range(0, rows * d).Select(i => value?.Invoke(i) ?? (i % 5) * 0.1f).ToArray(), [rows, d], SafetensorsDtype.F32);
        w.Write(Path.Combine(folder, name));
    }

    static void AssertFails(TempDir tmp, string[] args, params string[] mustMention)
    {
        var r = Saectl.Run(args);
        Assert.NotEqual(0, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        foreach (var m in mustMention) Assert.Contains(m, lines[0]);
        Assert.False(Directory.Exists(tmp["out"]), "an output folder was left behind");
    }

    static string[] Train(TempDir tmp, params string[] extra) =>
        ["train", "--data", tmp["acts"], "--out", tmp["out"], "--tokens", "4096", "--batch", "512", .. extra];

    [Fact]
    public void MissingDataFolder()
    {
        using var tmp = new TempDir();
        AssertFails(tmp, Train(tmp, "--arch", "topk", "--width", "16", "--k", "2"), tmp["acts"], "no such folder");
    }

    [Fact]
    public void TruncatedShard()
    {
        using var tmp = new TempDir();
        Shard(tmp["acts"], "a.safetensors", 600, 8);
        string bad = Path.Combine(tmp["acts"], "a.safetensors");
        using (var f = new FileStream(bad, FileMode.Open)) f.SetLength(f.Length - 64);
        AssertFails(tmp, Train(tmp, "--arch", "topk", "--width", "16", "--k", "2"), bad, "truncated");
    }

    [Fact]
    public void ShardWithADifferentDimension()
    {
        using var tmp = new TempDir();
        Shard(tmp["acts"], "a.safetensors", 600, 8);
        Shard(tmp["acts"], "b.safetensors", 600, 9);
        AssertFails(tmp, Train(tmp, "--arch", "topk", "--width", "16", "--k", "2"), Path.Combine(tmp["acts"], "b.safetensors"), "d = 9");
    }

    [Fact]
    public void NaNActivations()
    {
        using var tmp = new TempDir();
        Shard(tmp["acts"], "a.safetensors", 600, 8, i => i == 8 * 417 ? float.NaN : 0.3f);
        AssertFails(tmp, Train(tmp, "--arch", "topk", "--width", "16", "--k", "2"), Path.Combine(tmp["acts"], "a.safetensors"), "row 417", "NaN");
    }

    [Fact]
    public void UnknownArchitecture()
    {
        using var tmp = new TempDir();
        Shard(tmp["acts"], "a.safetensors", 600, 8);
        AssertFails(tmp, Train(tmp, "--arch", "gated", "--width", "16"), "--arch", "unknown architecture 'gated'");
    }

    [Fact]
    public void KLargerThanWidth()
    {
        using var tmp = new TempDir();
        Shard(tmp["acts"], "a.safetensors", 600, 8);
        AssertFails(tmp, Train(tmp, "--arch", "batchtopk", "--width", "16", "--k", "32"), "--k", "larger than the width");
    }

    [Fact]
    public void MalformedYaml()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["bad.yaml"], "data: acts\nout: out\nsaes:\n  - arch: topk\n   width: [\n");
        AssertFails(tmp, ["train", "--config", tmp["bad.yaml"]], tmp["bad.yaml"], "malformed YAML");
    }
}
