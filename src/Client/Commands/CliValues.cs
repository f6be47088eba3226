using SaeCluster.Compute;
using SaeCluster.Sae;

namespace SaeCluster.Client.Commands;

/// <summary>Option values shared by several commands, parsed with errors that name the option.</summary>
public static class CliValues
{
    public static EncoderPrecision Precision(string? p, string option = "--precision") => PrecisionNames.ParseEncoder(p, option);

    public static SafetensorsDtype StorageDtype(string? d, string option = "--dtype") => PrecisionNames.ParseStorageDtype(d, option);

    /// <summary>
    /// The corpus of <c>--data</c>, checked before anything heavy loads: every pattern matches a file, and every Parquet
    /// file has the <c>--text-field</c> string column.
    /// </summary>
    public static SaeCluster.Models.CorpusDocuments Corpus(string[] patterns, string textField)
    {
        SaeCluster.Models.CorpusDocuments corpus;
        try { corpus = SaeCluster.Models.CorpusDocuments.FromPatterns(patterns, textField); }
        catch (FileNotFoundException e) { throw new ConfigException("--data", e.Message); }
        corpus.CheckParquetColumns();
        return corpus;
    }
}
