using SaeCluster.Models;

namespace SaeCluster.Sae;

/// <summary>
/// The evaluation's text: documents of a corpus packed into contexts of the model's (BOS first, documents closed by
/// EOS, as the activations were made), after skipping the contexts training used, until enough tokens.
/// </summary>
public static class HeldOutText
{
    public static IEnumerable<int[]> Contexts(CorpusDocuments corpus, GemmaTokenizer tokenizer, GemmaConfig config, int context,
        long tokens, long skipContexts = 0, CancellationToken ct = default)
    {
        var packer = new ContextPacker(context, config.BosId, config.EosId, config.PadId);
        long taken = 0;
        foreach (var c in packer.Pack(corpus.Read(ct).Select(d => d.Tokens ?? tokenizer.Encode(d.Text!, addSpecialTokens: false))).Skip((int)Math.Min(int.MaxValue, skipContexts)))
        {
            if (taken >= tokens) yield break;
            taken += c.Length;
            yield return c;
        }
    }
}
