namespace SaeCluster.Models;

/// <summary>What a <c>Split</c> pre-tokenizer does with the delimiters it finds (HF's <c>SplitDelimiterBehavior</c>).</summary>
internal enum SplitDelimiterBehavior
{
    /// <summary>Delimiters are dropped.</summary>
    Removed,

    /// <summary>Each delimiter becomes a piece of its own.</summary>
    Isolated,

    /// <summary>A delimiter ends the piece before it.</summary>
    MergedWithPrevious,

    /// <summary>A delimiter starts the piece after it.</summary>
    MergedWithNext,

    /// <summary>Consecutive delimiters form one piece.</summary>
    Contiguous,
}
