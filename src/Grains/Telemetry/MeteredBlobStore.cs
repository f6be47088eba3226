using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace SaeCluster.Grains;

/// <summary>
/// A blob store that counts what goes through it for /metrics: bytes read and written, and each call's
/// duration by operation and outcome. Every silo registers its blob store wrapped in this.
/// </summary>
public sealed class MeteredBlobStore(IBlobStore inner) : IBlobStore
{
    public IBlobStore Inner => inner;
    public string Location => inner.Location;

    public Task InitializeAsync(CancellationToken ct = default) => inner.InitializeAsync(ct);

    public async Task<bool> TryCreateAsync(string name, Stream content, CancellationToken ct = default)
    {
        long start = Stopwatch.GetTimestamp(), before = Position(content);
        bool created = await Timed("create", start, () => inner.TryCreateAsync(name, content, ct));
        if (created) SaeClusterMetrics.BlobWritten.Add(Position(content) - before);
        return created;
    }

    public async Task PutAsync(string name, Stream content, CancellationToken ct = default)
    {
        long start = Stopwatch.GetTimestamp(), before = Position(content);
        await Timed("put", start, async () => { await inner.PutAsync(name, content, ct); return true; });
        SaeClusterMetrics.BlobWritten.Add(Position(content) - before);
    }

    public Task<long?> GetSizeAsync(string name, CancellationToken ct = default) =>
        Timed("size", Stopwatch.GetTimestamp(), () => inner.GetSizeAsync(name, ct));

    public async Task<int> ReadRangeAsync(string name, long offset, Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await Timed("read", Stopwatch.GetTimestamp(), () => inner.ReadRangeAsync(name, offset, buffer, ct));
        SaeClusterMetrics.BlobRead.Add(n);
        return n;
    }

    public async Task DownloadToFileAsync(string name, string path, CancellationToken ct = default)
    {
        await Timed("download", Stopwatch.GetTimestamp(), async () => { await inner.DownloadToFileAsync(name, path, ct); return true; });
        SaeClusterMetrics.BlobRead.Add(new FileInfo(path).Length);
    }

    public async IAsyncEnumerable<BlobItem> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct = default)
    {
        long start = Stopwatch.GetTimestamp();
        string outcome = "error";
        try
        {
            await foreach (var item in inner.ListAsync(prefix, ct)) yield return item;
            outcome = "ok";
        }
        finally { Record("list", outcome, start); }
    }

    public Task<bool> DeleteAsync(string name, CancellationToken ct = default) =>
        Timed("delete", Stopwatch.GetTimestamp(), () => inner.DeleteAsync(name, ct));

    public string? LocalPath(string name) => inner.LocalPath(name);

    static long Position(Stream s) => s.CanSeek ? s.Position : 0;

    static async Task<T> Timed<T>(string operation, long start, Func<Task<T>> call)
    {
        try
        {
            var result = await call();
            Record(operation, "ok", start);
            return result;
        }
        catch (Exception e) when (e is not OperationCanceledException && e is not BlobNotFoundException)
        {
            Record(operation, "error", start);
            throw;
        }
    }

    static void Record(string operation, string outcome, long start) =>
        SaeClusterMetrics.BlobOperations.Record(Stopwatch.GetElapsedTime(start).TotalSeconds,
            new KeyValuePair<string, object?>("op", operation), new KeyValuePair<string, object?>("outcome", outcome));
}
