using System.Text.Json.Nodes;

namespace SaeCluster.Sae;

/// <summary>A training curve as FunctionGemma's files keep it: loss, MSE and L0 per logged step.</summary>
public sealed record TrainingHistory(IReadOnlyList<double> Loss, IReadOnlyList<double> Mse, IReadOnlyList<double> L0)
{
    /// <summary>The curve of a <c>train_log.jsonl</c> (<see cref="TrainingLog"/>); null when there is no such file.</summary>
    public static TrainingHistory? FromLog(string? path)
    {
        if (path == null || !File.Exists(path)) return null;
        List<double> loss = [], mse = [], l0 = [];
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonNode? n;
            try { n = JsonNode.Parse(line); }
            catch (System.Text.Json.JsonException) { continue; } // a line cut short by a crash
            loss.Add((double?)n?["loss"] ?? double.NaN);
            mse.Add((double?)n?["mse"] ?? double.NaN);
            l0.Add((double?)n?["l0"] ?? double.NaN);
        }
        return new TrainingHistory(loss, mse, l0);
    }
}
