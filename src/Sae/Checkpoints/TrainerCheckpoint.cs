using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using SaeCluster.Compute;

namespace SaeCluster.Sae;

/// <summary>
/// The whole state of a <see cref="MultiSaeTrainer"/> in a folder: <c>trainer.json</c> (step, scale,
/// configuration fingerprint) and one safetensors file per SAE (weights, Adam moments, firing statistics).
/// Saved into a fresh temporary folder and swapped in by rename, so a crash at any moment leaves either
/// the previous checkpoint or the new one, never a mixture.
/// </summary>
public static class TrainerCheckpoint
{
    const int FormatVersion = 1;

    public static void Save(MultiSaeTrainer trainer, string dir)
    {
        string parent = Path.GetDirectoryName(Path.GetFullPath(dir))!;
        Directory.CreateDirectory(parent);
        string tmp = Path.Combine(parent, $".{Path.GetFileName(dir)}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        try
        {
            foreach (var l in trainer.Learners)
            {
                var w = new SafetensorsWriter();
                foreach (var p in l.Sae.Parameters)
                {
                    w.AddBorrowed(p.Name, p.Value, p.Shape);
                    w.AddBorrowed(p.Name + ".m", p.M, p.Shape);
                    w.AddBorrowed(p.Name + ".v", p.V, p.Shape);
                }
                w.AddRaw("last_fired", SafetensorsDtype.I64, [l.LastFired.Length], MemoryMarshal.AsBytes(l.LastFired.AsSpan()));
                w.Metadata["step"] = l.Step.ToString();
                w.Metadata["batch_threshold"] = l.BatchThreshold.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
                w.Write(Path.Combine(tmp, l.Config.Name + ".safetensors"));
            }
            var json = new JsonObject
            {
                ["format_version"] = FormatVersion,
                ["step"] = trainer.Step,
                ["tokens"] = trainer.TokensTrained,
                ["norm_scale"] = trainer.NormScale,
                ["train_seconds"] = trainer.TrainSeconds,
                ["fingerprint"] = Fingerprint(trainer),
            };
            File.WriteAllText(Path.Combine(tmp, "trainer.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            // swap: dir → dir.old, tmp → dir, drop dir.old
            string old = dir + ".old";
            if (Directory.Exists(old)) Directory.Delete(old, true);
            if (Directory.Exists(dir)) Directory.Move(dir, old);
            Directory.Move(tmp, dir);
            if (Directory.Exists(old)) Directory.Delete(old, true);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            throw;
        }
    }

    /// <summary>The folder a resume should read: the checkpoint, or the previous one if a swap was interrupted.</summary>
    public static string? Find(string dir) =>
        File.Exists(Path.Combine(dir, "trainer.json")) ? dir
        : File.Exists(Path.Combine(dir + ".old", "trainer.json")) ? dir + ".old"
        : null;

    /// <summary>Restores <paramref name="trainer"/> from <paramref name="dir"/>; the configuration must match.</summary>
    public static void Load(MultiSaeTrainer trainer, string dir)
    {
        string jsonPath = Path.Combine(dir, "trainer.json");
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(jsonPath))!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new DataException(jsonPath, $"is not a valid checkpoint ({e.Message})"); }
        if ((int?)json["format_version"] != FormatVersion) throw new DataException(jsonPath, $"has checkpoint format {json["format_version"]}, expected {FormatVersion}");
        var saved = json["fingerprint"]?.AsObject() ?? throw new DataException(jsonPath, "has no fingerprint");
        var now = Fingerprint(trainer);
        foreach (var (key, value) in now)
        {
            string a = saved.TryGetPropertyValue(key, out var was) ? was?.ToJsonString() ?? "null" : "(missing)", b = value?.ToJsonString() ?? "null";
            if (a != b) throw new DataException(jsonPath, $"was written for a different configuration: {key} was {a}, now {b} (train into a new --out, or restore the old settings)");
        }
        foreach (var l in trainer.Learners)
        {
            string path = Path.Combine(dir, l.Config.Name + ".safetensors");
            using var f = OpenChecked(path);
            foreach (var p in l.Sae.Parameters)
            {
                ReadInto(f, p.Name, p.Value);
                ReadInto(f, p.Name + ".m", p.M);
                ReadInto(f, p.Name + ".v", p.V);
            }
            var lastFired = f.ReadInt64("last_fired");
            if (lastFired.Length != l.LastFired.Length) throw new DataException(path, $"last_fired has {lastFired.Length} entries, expected {l.LastFired.Length}");
            lastFired.CopyTo(l.LastFired, 0);
            l.Step = long.Parse(f.Metadata["step"]);
            l.BatchThreshold = float.Parse(f.Metadata["batch_threshold"], System.Globalization.CultureInfo.InvariantCulture);
        }
        trainer.RestoreStep((long)json["step"]!, (double)json["train_seconds"]!, (float)json["norm_scale"]!);
    }

    static SafetensorsFile OpenChecked(string path)
    {
        if (!File.Exists(path)) throw new DataException(path, "is missing from the checkpoint");
        try { return SafetensorsFile.Open(path); }
        catch (SafetensorsFormatException e) { throw new DataException(path, e.Problem); }
    }

    static void ReadInto(SafetensorsFile f, string name, float[] dst)
    {
        if (!f.TryGet(name, out var info)) throw new DataException(f.Path, $"checkpoint tensor '{name}' is missing");
        if (info.Dtype != SafetensorsDtype.F32 || info.ElementCount != dst.Length)
            throw new DataException(f.Path, $"checkpoint tensor '{name}' is {info.Dtype} with {info.ElementCount} elements, expected F32 with {dst.Length}");
        MemoryMarshal.Cast<byte, float>(f.Bytes(name)).CopyTo(dst);
    }

    // Everything that changes the trajectory of training; a resume must match it exactly.
    static JsonObject Fingerprint(MultiSaeTrainer t)
    {
        var c = t.Config;
        var saes = new JsonArray();
        foreach (var s in c.Saes)
            saes.Add(new JsonObject
            {
                ["name"] = s.Name, ["arch"] = s.Architecture.ToName(), ["width"] = s.Width, ["k"] = s.K,
                ["l1"] = s.L1Coefficient, ["l0_coeff"] = s.L0Coefficient, ["lr"] = s.LearningRateFor(t.Source.DIn),
                ["beta1"] = s.Beta1, ["beta2"] = s.Beta2, ["eps"] = s.Epsilon, ["warmup_steps"] = s.WarmupSteps,
                ["decay_fraction"] = s.DecayFraction, ["sparsity_warmup_steps"] = s.SparsityWarmupSteps,
                ["auxk_alpha"] = s.AuxKCoefficient, ["auxk"] = s.AuxK, ["threshold_init"] = s.ThresholdInit,
                ["bandwidth"] = s.Bandwidth, ["threshold_beta"] = s.ThresholdBeta, ["threshold_start_step"] = s.ThresholdStartStep,
            });
        return new JsonObject
        {
            ["d_in"] = t.Source.DIn, ["rows"] = t.Source.Rows, ["tokens"] = c.Tokens, ["batch"] = c.BatchSize,
            ["seed"] = c.Seed, ["shuffle_block"] = c.ShuffleBlock, ["normalize"] = c.Normalize,
            ["dead_tokens"] = c.DeadTokens, ["precision"] = c.Precision.ToString(), ["saes"] = saes,
        };
    }
}
