using System.IO.Compression;
using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Sae.Tests;

/// <summary>Bad SAE files: one clear error naming the file and the field, whatever the format.</summary>
public class BadSaeFileTests
{
    static string Written(TempDir tmp, SaeArchitecture arch, SaeFormat format, string name = "sae")
    {
        var w = RandomSae.Make(arch, 11, unitRows: true);
        SaeFiles.Write(w, format, tmp[name], overwrite: false);
        return tmp[name];
    }

    static T Fails<T>(string path, params string[] mentions) where T : Exception
    {
        var e = Assert.ThrowsAny<T>(() => SaeFiles.Read(path));
        foreach (var m in mentions) Assert.Contains(m, e.Message);
        return e;
    }

    static void Truncate(string file) => File.WriteAllBytes(file, File.ReadAllBytes(file)[..(int)(new FileInfo(file).Length / 2)]);

    [Fact]
    public void TruncatedSafetensors()
    {
        using var tmp = new TempDir();
        string dir = Written(tmp, SaeArchitecture.TopK, SaeFormat.SaeLens);
        Truncate(Path.Combine(dir, "sae_weights.safetensors"));
        Fails<SafetensorsFormatException>(dir, "sae_weights.safetensors");
    }

    [Fact]
    public void TruncatedTorchZip()
    {
        using var tmp = new TempDir();
        string dir = Written(tmp, SaeArchitecture.TopK, SaeFormat.DictLearn);
        Truncate(Path.Combine(dir, "ae.pt"));
        Fails<TorchFormatException>(dir, "ae.pt");
    }

    [Fact]
    public void TruncatedNpz()
    {
        using var tmp = new TempDir();
        string dir = Written(tmp, SaeArchitecture.JumpRelu, SaeFormat.GemmaScope);
        Truncate(Path.Combine(dir, "params.npz"));
        Fails<NpyFormatException>(dir, "params.npz");
    }

    [Fact]
    public void CfgAndWeightsDisagreeInShape()
    {
        using var tmp = new TempDir();
        string dir = Written(tmp, SaeArchitecture.Relu, SaeFormat.SaeLens);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "cfg.json")))!;
        cfg["d_sae"] = 64;
        File.WriteAllText(Path.Combine(dir, "cfg.json"), cfg.ToJsonString());
        Fails<DataException>(dir, "sae_weights.safetensors", "W_enc has shape [16, 48], expected [16, 64]", "d_sae = 64");

        string dl = Written(tmp, SaeArchitecture.TopK, SaeFormat.DictLearn, "dl");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dl, "config.json")))!;
        config["trainer"]!["dict_size"] = 50;
        File.WriteAllText(Path.Combine(dl, "config.json"), config.ToJsonString());
        Fails<DataException>(dl, "config.json", "trainer.dict_size = 50", "d_sae = 48");
    }

    [Fact]
    public void UnknownArchitectureAndDictClass()
    {
        using var tmp = new TempDir();
        string dir = Written(tmp, SaeArchitecture.Relu, SaeFormat.SaeLens);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "cfg.json")))!;
        cfg["architecture"] = "matryoshka_flux";
        File.WriteAllText(Path.Combine(dir, "cfg.json"), cfg.ToJsonString());
        Fails<DataException>(dir, "cfg.json", "architecture: unknown 'matryoshka_flux'");

        string dl = Written(tmp, SaeArchitecture.Relu, SaeFormat.DictLearn, "dl");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dl, "config.json")))!;
        config["trainer"]!["dict_class"] = "FancyAutoEncoder";
        File.WriteAllText(Path.Combine(dl, "config.json"), config.ToJsonString());
        Fails<DataException>(dl, "config.json", "trainer.dict_class: unknown 'FancyAutoEncoder'");
    }

    [Fact]
    public void APickleNamingAnotherGlobalIsRefused()
    {
        using var tmp = new TempDir();
        string dl = Written(tmp, SaeArchitecture.Relu, SaeFormat.DictLearn);
        string pt = Path.Combine(dl, "ae.pt");
        File.Delete(pt);
        // protocol 2: GLOBAL 'os system', ('echo pwned',), REDUCE, STOP — what a malicious torch.save would hold
        byte[] pickle = [0x80, 0x02, (byte)'c', .. "os\nsystem\n"u8, (byte)'X', 10, 0, 0, 0, .. "echo pwned"u8, 0x85, (byte)'R', (byte)'.'];
        using (var zip = ZipFile.Open(pt, ZipArchiveMode.Create))
        {
            using (var s = zip.CreateEntry("ae/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(pickle);
            using (var s = zip.CreateEntry("ae/version", CompressionLevel.NoCompression).Open()) s.Write("3\n"u8);
        }
        Fails<TorchFormatException>(dl, "ae.pt", "os", "system");
    }

    [Fact]
    public void KLargerThanTheWidth()
    {
        using var tmp = new TempDir();
        string dir = Written(tmp, SaeArchitecture.TopK, SaeFormat.SaeLens);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "cfg.json")))!;
        cfg["k"] = 100;
        File.WriteAllText(Path.Combine(dir, "cfg.json"), cfg.ToJsonString());
        Fails<DataException>(dir, "cfg.json", "k = 100", "d_sae (48)");

        string sp = Written(tmp, SaeArchitecture.TopK, SaeFormat.Sparsify, "sp");
        string hook = Directory.GetDirectories(sp).Single();
        var scfg = JsonNode.Parse(File.ReadAllText(Path.Combine(hook, "cfg.json")))!;
        scfg["k"] = 49;
        File.WriteAllText(Path.Combine(hook, "cfg.json"), scfg.ToJsonString());
        Fails<DataException>(sp, "cfg.json", "k = 49");
    }

    [Fact]
    public void NaNWeightsNameTheTensor()
    {
        using var tmp = new TempDir();
        var w = RandomSae.Make(SaeArchitecture.JumpRelu, 12);
        w.WDec[5] = float.NaN;
        SaeFiles.Write(w, SaeFormat.SaeLens, tmp["s"], overwrite: false); // written as given: the reader is what checks
        Fails<DataException>(tmp["s"], "sae_weights.safetensors", "W_dec holds NaN at flat index 5");
        SaeFiles.Write(w, SaeFormat.DictLearn, tmp["d"], overwrite: false);
        Fails<DataException>(tmp["d"], "ae.pt", "W_dec holds NaN");
    }

    [Fact]
    public void NotAnSaeFolder()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["notes.txt"], "hello");
        Fails<DataException>(tmp.Path, "no SAE found", "notes.txt");
        Fails<DataException>(tmp["missing"], "no such file or folder");
        Fails<DataException>(tmp["notes.txt"], "not an SAE file");
    }

    [Fact]
    public void BrokenJson()
    {
        using var tmp = new TempDir();
        string dir = Written(tmp, SaeArchitecture.Relu, SaeFormat.SaeLens);
        File.WriteAllText(Path.Combine(dir, "cfg.json"), "{\"d_in\": 16, ");
        Fails<DataException>(dir, "cfg.json", "not valid JSON");
        File.WriteAllText(Path.Combine(dir, "cfg.json"), "{\"d_in\": \"sixteen\", \"d_sae\": 48}");
        Fails<DataException>(dir, "cfg.json", "d_in: expected an integer, found \"sixteen\"");
    }
}
