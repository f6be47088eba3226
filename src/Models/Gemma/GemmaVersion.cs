namespace SaeCluster.Models;

/// <summary>The Gemma text-model generations, which differ in layer order, norms and attention details.</summary>
public enum GemmaVersion { Gemma1, Gemma2, Gemma3 }
