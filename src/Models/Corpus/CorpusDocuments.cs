using System.Text.Json;

namespace SaeCluster.Models;

/// <summary>
/// Reads documents from corpus files, one format per file extension: <c>.jsonl</c> (one JSON object per
/// line, the text in a chosen field), <c>.parquet</c> (one document per row of a chosen string column,
/// streamed a row group at a time; null rows are skipped), <c>.u16</c>/<c>.u32</c> (pre-tokenized
/// little-endian ids, one document per file), anything else as UTF-8 plain text (one document per file).
/// Documents are read lazily as they are enumerated. Errors are <see cref="InvalidDataException"/>s naming
/// the file and the line, column or row group.
/// </summary>
/// <param name="files">Corpus files, read in this order.</param>
/// <param name="textField">The JSONL field or Parquet column holding a document's text.</param>
public sealed class CorpusDocuments(IReadOnlyList<string> files, string textField = "text")
{
    /// <summary>A document: text to tokenize, or ids already tokenized.</summary>
    public readonly record struct Document(string? Text, int[]? Tokens);

    public IReadOnlyList<string> Files { get; } = files;

    public static CorpusDocuments FromPatterns(IEnumerable<string> patterns, string textField = "text") =>
        new(patterns.SelectMany(CorpusFiles.Expand).Distinct().ToArray(), textField);

    /// <summary>
    /// Checks that every Parquet file has <c>textField</c> as a string column, reading only the files'
    /// footers (JSONL lines are checked as they are read).
    /// </summary>
    public void CheckParquetColumns()
    {
        foreach (var file in Files)
            if (IsParquet(file)) ParquetTextColumn.Open(file, textField).Dispose();
    }

    /// <summary>The documents of every file in order, read as enumerated; abandoning the enumeration closes the open file.</summary>
    public IEnumerable<Document> Read(CancellationToken ct = default)
    {
        foreach (var file in Files)
        {
            ct.ThrowIfCancellationRequested();
            string ext = Path.GetExtension(file).ToLowerInvariant();
            if (ext == ".jsonl")
            {
                int line = 0;
                foreach (var raw in File.ReadLines(file))
                {
                    line++;
                    if (string.IsNullOrWhiteSpace(raw)) continue;
                    yield return new Document(JsonText(raw, file, line), null);
                }
            }
            else if (ext == ".parquet")
            {
                foreach (var text in ParquetTexts(file, ct)) yield return new Document(text, null);
            }
            else if (ext is ".u16" or ".u32")
                yield return new Document(null, ReadTokens(file, ext == ".u16" ? 2 : 4));
            else
                yield return new Document(File.ReadAllText(file), null);
        }
    }

    static bool IsParquet(string file) => Path.GetExtension(file).Equals(".parquet", StringComparison.OrdinalIgnoreCase);

    // one row group's column in memory at a time
    IEnumerable<string> ParquetTexts(string file, CancellationToken ct)
    {
        using var column = ParquetTextColumn.Open(file, textField, ct);
        for (int g = 0; g < column.RowGroups; g++)
            foreach (var text in column.ReadRowGroup(g, ct))
                if (text != null) yield return text;
    }

    string JsonText(string raw, string file, int line)
    {
        try
        {
            using var doc = JsonDocument.Parse(raw);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(textField, out var v))
                throw new InvalidDataException($"{file}:{line}: no \"{textField}\" field (set the text field)");
            if (v.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{file}:{line}: \"{textField}\" is not a string");
            return v.GetString()!;
        }
        catch (JsonException e) { throw new InvalidDataException($"{file}:{line}: not valid JSON ({e.Message})"); }
    }

    static int[] ReadTokens(string file, int width)
    {
        var bytes = File.ReadAllBytes(file);
        if (bytes.Length % width != 0) throw new InvalidDataException($"{file}: {bytes.Length} bytes is not a whole number of {width * 8}-bit token ids (truncated?)");
        var ids = new int[bytes.Length / width];
        for (int i = 0; i < ids.Length; i++)
        {
            uint id = width == 2 ? BitConverter.ToUInt16(bytes, i * 2) : BitConverter.ToUInt32(bytes, i * 4);
            if (id > int.MaxValue) throw new InvalidDataException($"{file}: token {i} = {id} is not a valid id");
            ids[i] = (int)id;
        }
        return ids;
    }
}
