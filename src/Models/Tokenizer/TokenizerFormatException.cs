namespace SaeCluster.Models;

/// <summary>
/// A tokenizer.json that cannot be used: malformed JSON, a missing or ill-typed field, or a component
/// (model, normalizer, pre-tokenizer, decoder, post-processor) this implementation does not support.
/// The message names the file and the field (a JSON path such as <c>model.type</c>).
/// </summary>
public sealed class TokenizerFormatException : Exception
{
    public TokenizerFormatException(string file, string field, string problem, Exception? inner = null)
        : base($"tokenizer file '{file}', field '{field}': {problem}", inner)
    {
        File = file;
        Field = field;
    }

    /// <summary>The tokenizer.json path.</summary>
    public string File { get; }

    /// <summary>The JSON path of the offending field (<c>$</c> for the document itself).</summary>
    public string Field { get; }
}
