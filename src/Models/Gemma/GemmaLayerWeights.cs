namespace SaeCluster.Models;

/// <summary>One decoder layer's weights in float32; Linear weights are [out, in] as Hugging Face stores them.</summary>
public sealed class GemmaLayerWeights
{
    public required float[] Q { get; init; }            // [Hq·D, d]
    public required float[] K { get; init; }            // [Hkv·D, d]
    public required float[] V { get; init; }            // [Hkv·D, d]
    public required float[] O { get; init; }            // [d, Hq·D]
    public required float[] Gate { get; init; }         // [I, d]
    public required float[] Up { get; init; }           // [I, d]
    public required float[] Down { get; init; }         // [d, I]
    public required float[] InputNorm { get; init; }    // [d]
    public required float[] PostAttentionNorm { get; init; } // [d] (Gemma 1: the pre-MLP norm)
    public float[]? PreFeedforwardNorm { get; init; }   // [d] Gemma 2/3
    public float[]? PostFeedforwardNorm { get; init; }  // [d] Gemma 2/3
    public float[]? QNorm { get; init; }                // [D] Gemma 3
    public float[]? KNorm { get; init; }                // [D] Gemma 3
}
