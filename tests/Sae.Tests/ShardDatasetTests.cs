using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Sae.Tests;

public class ShardDatasetTests
{
    static string Shard(string folder, string name, int rows, int d, Func<int, float>? value = null, SafetensorsDtype dtype = SafetensorsDtype.BF16)
    {
        Directory.CreateDirectory(folder);
        var w = new SafetensorsWriter();
        w.Add("acts", Enumerable.Range(0, rows * d).Select(i => value?.Invoke(i) ?? (i % 7) * 0.25f).ToArray(), [rows, d], dtype);
        string p = Path.Combine(folder, name);
        w.Write(p);
        return p;
    }

    static DataException Fails(string folder) => Assert.Throws<DataException>(() => ShardDataset.Open(folder, 0, 1024).Dispose());

    [Fact]
    public void MissingFolder() => Assert.Contains("no such folder", Fails("/nonexistent/acts").Message);

    [Fact]
    public void EmptyFolder()
    {
        using var tmp = new TempDir();
        Assert.Contains("no *.safetensors", Fails(tmp.Path).Message);
    }

    [Fact]
    public void TruncatedShardIsNamed()
    {
        using var tmp = new TempDir();
        Shard(tmp.Path, "a.safetensors", 100, 8);
        string bad = Shard(tmp.Path, "b.safetensors", 100, 8);
        using (var f = new FileStream(bad, FileMode.Open)) f.SetLength(f.Length - 100);
        var e = Fails(tmp.Path);
        Assert.StartsWith(bad, e.Message);
        Assert.Contains("acts", e.Message);
    }

    [Fact]
    public void CorruptHeaderIsNamed()
    {
        using var tmp = new TempDir();
        string bad = Shard(tmp.Path, "a.safetensors", 10, 4);
        var bytes = File.ReadAllBytes(bad);
        bytes[10] = (byte)'!';
        File.WriteAllBytes(bad, bytes);
        Assert.StartsWith(bad, Fails(tmp.Path).Message);
    }

    [Fact]
    public void MismatchedDimensionIsNamed()
    {
        using var tmp = new TempDir();
        Shard(tmp.Path, "a.safetensors", 10, 8);
        string bad = Shard(tmp.Path, "b.safetensors", 10, 6);
        var e = Fails(tmp.Path);
        Assert.StartsWith(bad, e.Message);
        Assert.Contains("d = 6", e.Message);
        Assert.Contains("d = 8", e.Message);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void NonFiniteValuesAreFoundWithTheirRow(float bad)
    {
        using var tmp = new TempDir();
        Shard(tmp.Path, "a.safetensors", 3000, 8);
        string path = Shard(tmp.Path, "b.safetensors", 3000, 8, i => i == 2345 * 8 + 3 ? bad : 0.5f, SafetensorsDtype.F32);
        var e = Fails(tmp.Path);
        Assert.StartsWith(path, e.Message);
        Assert.Contains("row 2345", e.Message);
    }

    [Fact]
    public void WrongRankOrDtype()
    {
        using var tmp = new TempDir();
        var w = new SafetensorsWriter();
        w.Add("acts", new int[12], [12]);
        Directory.CreateDirectory(tmp.Path);
        w.Write(tmp["a.safetensors"]);
        Assert.Contains("2-D", Fails(tmp.Path).Message);
    }
}
