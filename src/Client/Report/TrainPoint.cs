using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>One logged step of <c>train_log.jsonl</c>: tokens trained so far, loss, FVU and L0.</summary>
internal sealed record TrainPoint(long Tokens, double? Loss, double? Fvu, double? L0)
{
    /// <summary>File name inside an SAE folder.</summary>
    public const string FileName = "train_log.jsonl";

    /// <summary>
    /// Reads a training log: one JSON object per line, each with <c>tokens</c>. A last line that does not parse is
    /// a write cut short (a crash or a copy during training) and is skipped; any other bad line is an error.
    /// </summary>
    public static IReadOnlyList<TrainPoint> ReadLog(string path)
    {
        var lines = File.ReadAllLines(path);
        int last = Array.FindLastIndex(lines, l => !string.IsNullOrWhiteSpace(l));
        var points = new List<TrainPoint>();
        for (int i = 0; i <= last; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            JsonFields f;
            try
            {
                f = JsonFields.ParseLine(lines[i], path, i + 1);
            }
            catch (DataException) when (i == last)
            {
                break;
            }
            points.Add(new TrainPoint(f.Long("tokens") ?? throw f.Problem("tokens", "missing"), f.Number("loss"), f.Number("fvu"), f.Number("l0")));
        }
        return points;
    }
}
