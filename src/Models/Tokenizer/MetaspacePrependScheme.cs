namespace SaeCluster.Models;

/// <summary>When a <c>Metaspace</c> pre-tokenizer puts its replacement character before a piece of text.</summary>
internal enum MetaspacePrependScheme
{
    /// <summary>Before every stretch of text (between added tokens) that does not start with it.</summary>
    Always,

    /// <summary>Only before the stretch that starts the input.</summary>
    First,

    /// <summary>Never.</summary>
    Never,
}
