using System.Globalization;
using System.Text.Json.Nodes;

namespace SaeCluster.Sae;

/// <summary>
/// Per-SAE training curves as JSON lines (step, tokens, loss terms, L0, FVU, dead fraction, lr), one file
/// per SAE in a folder, appended at every progress report. A resumed run first drops the lines past its
/// checkpoint, so each step appears once.
/// </summary>
public sealed class TrainingLog
{
    public string Folder { get; }

    public TrainingLog(string folder, IEnumerable<string> names, long? keepThroughStep)
    {
        Folder = folder;
        Directory.CreateDirectory(folder);
        foreach (var name in names)
        {
            string path = PathFor(name);
            if (keepThroughStep is not long step || !File.Exists(path)) { File.WriteAllText(path, ""); continue; }
            var kept = File.ReadAllLines(path).Where(line => StepOf(line) is long s && s <= step);
            File.WriteAllLines(path, kept);
        }
    }

    public string PathFor(string name) => Path.Combine(Folder, name + ".jsonl");

    public void Append(TrainingProgress p)
    {
        foreach (var (name, m) in p.Saes)
        {
            var line = new JsonObject
            {
                ["step"] = p.Step, ["tokens"] = p.Tokens, ["loss"] = m.Loss, ["mse"] = m.ReconstructionLoss,
                ["sparsity_loss"] = m.SparsityLoss, ["auxk_loss"] = m.AuxLoss, ["l0"] = m.L0, ["fvu"] = m.Fvu,
                ["dead_fraction"] = m.DeadFraction, ["lr"] = m.LearningRate, ["tokens_per_s"] = Math.Round(p.TokensPerSecond, 1),
            };
            File.AppendAllText(PathFor(name), line.ToJsonString() + "\n");
        }
    }

    static long? StepOf(string line)
    {
        try { return (long?)JsonNode.Parse(line)?["step"]; }
        catch (System.Text.Json.JsonException) { return null; } // a line cut short by a crash
    }
}
