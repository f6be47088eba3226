using SaeCluster.Sae;

namespace SaeCluster.Client.Report;

/// <summary>One bucket of context positions <c>[From, To)</c> of <c>eval.json</c>'s <c>by_position</c>, with its FVU and delta LM loss.</summary>
internal sealed record PositionBucket(int From, int To, long? Tokens, double? Fvu, double? DeltaLoss)
{
    /// <summary>How the bucket is labelled on a plot's x axis: <c>4–7</c>, or <c>1</c> for a bucket of one position.</summary>
    public string Label => To - From <= 1 ? $"{From}" : $"{From}–{To - 1}";

    /// <summary>Reads one entry; <c>from</c> and <c>to</c> must be there and <c>to</c> above <c>from</c>.</summary>
    public static PositionBucket Read(JsonFields f)
    {
        int from = f.RequiredInt("from"), to = f.RequiredInt("to");
        if (to <= from) throw f.Problem("to", $"{to} is not above from = {from}");
        return new PositionBucket(from, to, f.Long("tokens"), f.Number("fvu"), f.Number("delta_loss"));
    }
}
