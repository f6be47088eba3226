using Parquet;
using Parquet.Schema;

namespace SaeCluster.Models;

/// <summary>
/// One top-level string column of a Parquet file, read a row group at a time (FineWeb and the Pile ship
/// ~2 GB shards: only the footer and one row group's column are in memory at once). Opening reads the
/// footer and checks the column, so it doubles as a cheap schema check. Parquet.Net is asynchronous; each
/// call here runs its operation on the thread pool and waits, so a caller on a single-threaded scheduler
/// (an Orleans grain) cannot deadlock on it. Every failure of the file itself is one
/// <see cref="InvalidDataException"/> naming the file (and column or row group).
/// </summary>
sealed class ParquetTextColumn : IDisposable
{
    readonly string _file;
    readonly FileStream _stream;
    readonly ParquetReader _reader;
    readonly DataField _field;

    ParquetTextColumn(string file, FileStream stream, ParquetReader reader, DataField field)
    {
        _file = file; _stream = stream; _reader = reader; _field = field;
    }

    /// <summary>Row groups in the file.</summary>
    public int RowGroups => _reader.RowGroupCount;

    /// <summary>Opens <paramref name="file"/> and checks that <paramref name="column"/> is a top-level string column.</summary>
    public static ParquetTextColumn Open(string file, string column, CancellationToken ct = default)
    {
        var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        ParquetReader? reader = null;
        try
        {
            reader = Wait(file, "", () => ParquetReader.CreateAsync(stream, leaveStreamOpen: true, cancellationToken: ct));
            return new ParquetTextColumn(file, stream, reader, Find(file, reader.Schema, column));
        }
        catch
        {
            if (reader != null) Close(file, reader);
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The column's values in row group <paramref name="index"/>, in row order; null where a row has none.</summary>
    public string?[] ReadRowGroup(int index, CancellationToken ct = default) =>
        Wait(_file, $"row group {index} of {RowGroups}: ", async () =>
        {
            var group = _reader.OpenRowGroupReader(index);
            var values = new string?[checked((int)group.RowCount)];
            await group.ReadAsync(_field, values, null, ct);
            return values;
        });

    public void Dispose()
    {
        try { Close(_file, _reader); }
        finally { _stream.Dispose(); }
    }

    static void Close(string file, ParquetReader reader) => Wait(file, "", async () => { await reader.DisposeAsync(); return 0; });

    static DataField Find(string file, ParquetSchema schema, string column)
    {
        var field = schema.Fields.FirstOrDefault(f => f.Name == column);
        if (field == null)
        {
            var names = schema.Fields.OfType<DataField>().Where(IsText).Select(f => f.Name).ToArray();
            throw new InvalidDataException($"{file}: no column \"{column}\" (string columns: {(names.Length == 0 ? "none" : string.Join(", ", names))})");
        }
        if (field is not DataField data || data.IsArray || data.MaxRepetitionLevel > 0)
        {
            string kind = field.SchemaType == SchemaType.Data ? "repeated" : field.SchemaType.ToString().ToLowerInvariant();
            throw new InvalidDataException($"{file}: column \"{column}\" is a {kind} column, not one string per row");
        }
        if (!IsText(data)) throw new InvalidDataException($"{file}: column \"{column}\" holds {data.ClrType.Name} values, not strings");
        return data;
    }

    static bool IsText(DataField f) => f.MaxRepetitionLevel == 0 && !f.IsArray && (f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>));

    // runs a Parquet.Net operation off the caller's scheduler and waits; a failure of the file becomes one InvalidDataException
    static T Wait<T>(string file, string where, Func<Task<T>> op)
    {
        try { return Task.Run(op).GetAwaiter().GetResult(); }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
        {
            throw new InvalidDataException($"{file}: {where}not a valid Parquet file, corrupt or truncated ({e.Message})", e);
        }
    }
}
