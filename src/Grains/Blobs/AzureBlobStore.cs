using System.Net.Sockets;
using System.Security.Cryptography;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace SaeCluster.Grains;

/// <summary>
/// Azure Blob Storage (or Azurite), one container per store, through Azure.Storage.Blobs: the SDK parses the
/// connection string, signs, retries (<see cref="AzureBlobStoreOptions"/>), uploads large blobs in blocks
/// committed at the end, and resumes broken downloads under the first answer's ETag. This class maps the
/// <see cref="IBlobStore"/> contract onto it (write-once creation is <c>If-None-Match: *</c>) and turns the
/// SDK's failures into a <see cref="BlobStoreException"/> that names the store, the blob and the problem.
/// </summary>
public sealed partial class AzureBlobStore : IBlobStore
{
    /// <summary>Metadata a create-only upload carries, so that a retry meeting "already exists" can tell whether an earlier attempt of its own made it.</summary>
    const string CreateIdKey = "saeclustercreateid";

    readonly BlobContainerClient _container;
    readonly AzureBlobStoreOptions _options;
    readonly StorageTransferOptions _transfer;

    /// <summary>
    /// Opens <paramref name="container"/> in the account <paramref name="connectionString"/> names: account key
    /// (<c>AccountName=…;AccountKey=…</c>, optionally with <c>BlobEndpoint=</c> or <c>EndpointSuffix=</c>),
    /// <c>BlobEndpoint=…;SharedAccessSignature=…</c>, or <c>UseDevelopmentStorage=true</c> (Azurite on
    /// 127.0.0.1:10000). Throws <see cref="ArgumentException"/> for a string the SDK rejects (with keys and
    /// signatures masked) or a bad container name.
    /// </summary>
    public AzureBlobStore(string connectionString, string container, AzureBlobStoreOptions? options = null)
    {
        if (string.IsNullOrWhiteSpace(connectionString)) throw new ArgumentException("Azure connection string: it is empty");
        if (ContainerNameProblem(container) is { } problem) throw new ArgumentException($"Azure container name '{container}' is invalid: {problem}");
        _options = options ?? new AzureBlobStoreOptions();
        _options.Validate();
        _transfer = _options.TransferOptions();
        connectionString = connectionString.Trim();

        BlobServiceClient service;
        try
        {
            var clientOptions = _options.ClientOptions();
            clientOptions.AddPolicy(new AttemptPolicy(), HttpPipelinePosition.PerRetry);
            service = new BlobServiceClient(connectionString, clientOptions);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            // (no inner exception: nothing of the string beyond the masked form may travel)
            throw new ArgumentException($"Azure connection string '{Mask(connectionString)}' is not valid: {Mask(e.Message, connectionString)} "
                + "(give AccountName=…;AccountKey=…, BlobEndpoint=…;SharedAccessSignature=… or UseDevelopmentStorage=true, with no spaces around ';' and '=')");
        }
        Uri uri = service.Uri;
        if (uri.Scheme is not ("http" or "https"))
            throw new ArgumentException($"Azure connection string '{Mask(connectionString)}': the blob endpoint {Endpoint(uri)} is not http(s)");
        if (uri.Query.Length == 0 && !service.CanGenerateAccountSasUri)
            throw new ArgumentException($"Azure connection string '{Mask(connectionString)}' gives no credentials: add AccountKey= (with AccountName=) or SharedAccessSignature=");

        BlobEndpoint = Endpoint(uri);
        string account = string.IsNullOrEmpty(service.AccountName) ? uri.Host : service.AccountName;
        _container = service.GetBlobContainerClient(container);
        Container = container;
        Location = $"azure://{account}/{container}";
    }

    /// <summary>The container holding the blobs.</summary>
    public string Container { get; }

    /// <summary>The blob service endpoint requests go to, without a shared access signature, e.g. http://127.0.0.1:10000/devstoreaccount1.</summary>
    public string BlobEndpoint { get; }

    public string Location { get; }

    public Task InitializeAsync(CancellationToken ct = default) =>
        RunAsync("", "create the container", async _ =>
        {
            await _container.CreateIfNotExistsAsync(cancellationToken: ct);
            return true;
        }, ct);

    public Task<bool> TryCreateAsync(string name, Stream content, CancellationToken ct = default) => UploadAsync(name, content, createOnly: true, ct);

    public Task PutAsync(string name, Stream content, CancellationToken ct = default) => UploadAsync(name, content, createOnly: false, ct);

    public async Task<long?> GetSizeAsync(string name, CancellationToken ct = default)
    {
        BlockBlobClient blob = Blob(name);
        return await RunAsync(name, "get properties", async _ => (await PropertiesAsync(blob, ct))?.ContentLength, ct);
    }

    public async Task<int> ReadRangeAsync(string name, long offset, Memory<byte> buffer, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        BlockBlobClient blob = Blob(name);
        return await RunAsync(name, "read", async _ =>
        {
            if (buffer.Length == 0) return await PropertiesAsync(blob, ct) is null ? throw new BlobNotFoundException(Location, name) : 0;
            try
            {
                var range = new BlobDownloadOptions { Range = new HttpRange(offset, buffer.Length) };
                using BlobDownloadStreamingResult result = (await blob.DownloadStreamingAsync(range, ct)).Value;
                int total = 0;
                while (total < buffer.Length)
                {
                    int n = await result.Content.ReadAsync(buffer[total..], ct);
                    if (n == 0) break;
                    total += n;
                }
                return total;
            }
            catch (RequestFailedException e) when (e.Status == 416)
            {
                return 0; // at or past the end (an empty blob has no range at all)
            }
        }, ct);
    }

    public async Task DownloadToFileAsync(string name, string path, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        BlockBlobClient blob = Blob(name);
        string target = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid().ToString("N")[..12]}.download");
        bool moved = false;
        try
        {
            await RunAsync(name, "download", async _ =>
            {
                await using FileStream file = CreateDownloadFile(name, temp);
                try
                {
                    // Ranges after the first, and resumed bodies, are fetched with If-Match: the first answer's ETag.
                    await blob.DownloadToAsync(file, new BlobDownloadToOptions { TransferOptions = _transfer }, ct);
                    await file.FlushAsync(ct);
                    file.Flush(flushToDisk: true);
                }
                catch (IOException e) when (!IsNetwork(e))
                {
                    throw new BlobStoreException(Location, name, $"cannot write {target}: {e.Message}", e);
                }
                return true;
            }, ct);
            try
            {
                File.Move(temp, target, overwrite: true);
                moved = true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new BlobStoreException(Location, name, $"cannot write {target}: {e.Message}", e);
            }
        }
        finally
        {
            if (!moved)
            {
                try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }

    public async IAsyncEnumerable<BlobItem> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct = default)
    {
        BlobNames.ValidatePrefix(Location, prefix);
        // The service orders by UTF-8 bytes, the contract by UTF-16 code units (they differ for some non-BMP
        // names): collect every page, then sort.
        List<BlobItem> items = await RunAsync("", "list blobs", async _ =>
        {
            var found = new List<BlobItem>();
            var options = new GetBlobsOptions { Prefix = prefix.Length == 0 ? null : prefix };
            await foreach (Page<Azure.Storage.Blobs.Models.BlobItem> page in _container.GetBlobsAsync(options, ct).AsPages(pageSizeHint: _options.ListPageSize))
                foreach (var blob in page.Values)
                    found.Add(new BlobItem(blob.Name, blob.Properties.ContentLength ?? 0));
            return found;
        }, ct);
        items.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (BlobItem item in items)
        {
            ct.ThrowIfCancellationRequested();
            yield return item;
        }
    }

    /// <summary>
    /// Deletes the blob and its snapshots. When an earlier attempt failed after its request may have reached the
    /// service, a retry that finds nothing counts as our delete.
    /// </summary>
    public async Task<bool> DeleteAsync(string name, CancellationToken ct = default)
    {
        BlockBlobClient blob = Blob(name);
        return await RunAsync(name, "delete", async attempts =>
            (await blob.DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: ct)).Value || attempts.EarlierMayHaveLanded, ct);
    }

    public string? LocalPath(string name) => null;

    // ---- uploads ----

    async Task<bool> UploadAsync(string name, Stream content, bool createOnly, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        BlockBlobClient blob = Blob(name);
        return await RunAsync(name, "write", async _ =>
        {
            // Up to SingleUploadThreshold one Put Blob, else blocks committed by one Put Block List (random block ids:
            // concurrent writers of one name do not mix their blocks; the first commit discards the others').
            var options = new BlobUploadOptions { HttpHeaders = new BlobHttpHeaders { ContentType = "application/octet-stream" }, TransferOptions = _transfer };
            if (!createOnly)
            {
                await blob.UploadAsync(content, options, ct);
                return true;
            }
            long start = content.CanSeek ? content.Position : -1;
            bool small = start >= 0 && content.Length - start <= _options.SingleUploadThreshold;
            if (!small && await PropertiesAsync(blob, ct) is not null) return false; // don't upload gigabytes for nothing
            string createId = Guid.NewGuid().ToString("N");
            options.Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All };
            options.Metadata = new Dictionary<string, string> { [CreateIdKey] = createId };
            try
            {
                await blob.UploadAsync(content, options, ct);
                return true;
            }
            catch (RequestFailedException e) when (IsConflict(e) || e.ErrorCode == "InvalidBlockList")
            {
                // Another writer was first (its commit also discards our uncommitted blocks), unless an attempt of
                // ours whose answer was lost made it.
                if (await PropertiesAsync(blob, ct) is { } stored) return IsOurs(stored, createId);
                // Nothing visible is there, only uncommitted blocks of an interrupted upload: Azurite (not Azure)
                // counts them as a blob against a conditional Put Blob, though not against a block list commit.
                if (!small || e.ErrorCode == "InvalidBlockList") throw;
                content.Position = start;
                return await CreateByCommitAsync(blob, content, options, createId, ct);
            }
        }, ct);
    }

    /// <summary>A small blob as (at most) one block and a conditional Put Block List; true when it is ours.</summary>
    static async Task<bool> CreateByCommitAsync(BlockBlobClient blob, Stream content, BlobUploadOptions options, string createId, CancellationToken ct)
    {
        var ids = new List<string>();
        if (content.Length > content.Position)
        {
            // 48 random bytes, as the SDK's block ids: all block ids of a blob must have one length, uncommitted ones included
            ids.Add(Convert.ToBase64String(RandomNumberGenerator.GetBytes(48)));
            await blob.StageBlockAsync(ids[0], content, cancellationToken: ct);
        }
        try
        {
            await blob.CommitBlockListAsync(ids, new CommitBlockListOptions { HttpHeaders = options.HttpHeaders, Metadata = options.Metadata, Conditions = options.Conditions }, ct);
            return true;
        }
        catch (RequestFailedException e) when (IsConflict(e))
        {
            return await PropertiesAsync(blob, ct) is { } stored && IsOurs(stored, createId);
        }
    }

    static bool IsOurs(BlobProperties stored, string createId) => stored.Metadata.TryGetValue(CreateIdKey, out string? id) && id == createId;

    static bool IsConflict(RequestFailedException e) => e.Status is 409 or 412 && e.ErrorCode is "BlobAlreadyExists" or "ConditionNotMet" or null;

    // ---- helpers ----

    BlockBlobClient Blob(string name)
    {
        BlobNames.Validate(Location, name);
        return _container.GetBlockBlobClient(name);
    }

    static async Task<BlobProperties?> PropertiesAsync(BlobBaseClient blob, CancellationToken ct)
    {
        try
        {
            return (await blob.GetPropertiesAsync(cancellationToken: ct)).Value;
        }
        catch (RequestFailedException e) when (e.Status == 404 && e.ErrorCode is not "ContainerNotFound")
        {
            return null;
        }
    }

    FileStream CreateDownloadFile(string name, string temp)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(temp)!);
            return new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0, useAsync: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlobStoreException(Location, name, $"cannot create {temp}: {e.Message}", e);
        }
    }

    /// <summary>Runs one operation against the SDK and maps what it throws (cancellation and our own errors pass through).</summary>
    async Task<T> RunAsync<T>(string blob, string operation, Func<Attempts, Task<T>> action, CancellationToken ct)
    {
        var attempts = new Attempts();
        using IDisposable scope = HttpPipeline.CreateHttpMessagePropertiesScope(new Dictionary<string, object?> { [Attempts.Key] = attempts });
        try
        {
            return await action(attempts);
        }
        catch (Exception e) when (e is not BlobStoreException && !(e is OperationCanceledException && ct.IsCancellationRequested)
                                  && Failure(e, blob, operation, attempts) is { } failure)
        {
            throw failure;
        }
    }

    static readonly int[] TransientStatus = [408, 429, 500, 502, 503, 504];

    /// <summary>The <see cref="BlobStoreException"/> for what the SDK threw, or null for exceptions that are not about the service.</summary>
    BlobStoreException? Failure(Exception e, string blob, string operation, Attempts attempts)
    {
        // After retries on exceptions the SDK throws an AggregateException of them all: the last one says why.
        Exception last = e is AggregateException { InnerExceptions.Count: > 0 } all ? all.InnerExceptions[^1] : e;
        string tries = attempts.Last == 1 ? "1 attempt" : $"{attempts.Last} attempts";
        if (last is RequestFailedException { Status: > 0 } answer)
        {
            string text = Answer(answer);
            string? problem = answer.Status switch
            {
                404 when answer.ErrorCode is "ContainerNotFound" => $"the container '{Container}' does not exist (InitializeAsync creates it) ({text})",
                404 when blob.Length > 0 => null,
                401 or 403 => $"authentication failed for {Location} at {BlobEndpoint} ({text}); check the AccountKey (and AccountName) or the SharedAccessSignature in the connection string",
                412 when operation == "download" => $"the blob changed while it was downloaded ({text}); download it again",
                400 when answer.ErrorCode is "InvalidBlockList" => $"{operation} failed: another upload of this name committed while this one was staging its blocks, which discards them ({text})",
                _ when TransientStatus.Contains(answer.Status) => $"{operation} failed after {tries}: the blob service at {BlobEndpoint} kept answering {text}",
                _ => $"{operation} failed: {text}",
            };
            return problem is null ? new BlobNotFoundException(Location, blob, e) : new BlobStoreException(Location, blob, problem, e);
        }
        // (an IOException of the caller's stream is the caller's)
        if (last is not (RequestFailedException or HttpRequestException or IOException or OperationCanceledException) || last is IOException io && !IsNetwork(io)) return null;
        string why = Describe(last);
        Uri endpoint = new(BlobEndpoint);
        string problemText = last switch
        {
            _ when IsConnectFailure(last) => $"cannot reach the blob service at {BlobEndpoint} ({endpoint.Host}:{endpoint.Port}: {why}; {operation}, {tries})",
            OperationCanceledException => $"{operation} failed after {tries}: no answer from {BlobEndpoint} within {_options.NetworkTimeout.TotalSeconds:0.###} s",
            _ => $"{operation} failed after {tries}: the connection to {BlobEndpoint} broke: {why}",
        };
        return new BlobStoreException(Location, blob, problemText, e);
    }

    /// <summary>"HTTP 503 ServerBusy: the service's first line" without the SDK's request and header dump.</summary>
    static string Answer(RequestFailedException e)
    {
        string first = e.Message.Split('\n', 2)[0].Trim();
        string code = string.IsNullOrEmpty(e.ErrorCode) ? "" : " " + e.ErrorCode;
        return first.Length == 0 || first.StartsWith("Service request failed", StringComparison.Ordinal) ? $"HTTP {e.Status}{code}" : $"HTTP {e.Status}{code}: {first}";
    }

    /// <summary>The innermost message that says something (a socket error rather than "an error occurred while sending the request").</summary>
    static string Describe(Exception e)
    {
        Exception inner = e;
        while (inner.InnerException != null) inner = inner.InnerException;
        return inner.Message.Split('\n', 2)[0].Trim();
    }

    /// <summary>A failure before the request could be sent: no connection (refused, no such host, TLS handshake).</summary>
    static bool IsConnectFailure(Exception e) =>
        Find<HttpRequestException>(e) is { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError };

    static bool IsNetwork(IOException e) => e is HttpIOException || Find<SocketException>(e) != null;

    static T? Find<T>(Exception e) where T : Exception
    {
        for (Exception? x = e; x != null; x = x.InnerException)
            if (x is T found) return found;
        return null;
    }

    static string Endpoint(Uri uri) => uri.GetLeftPart(UriPartial.Path).TrimEnd('/');

    [GeneratedRegex(@"(?<=(?:^|;)\s*(?:AccountKey|SharedAccessSignature)\s*=)[^;]*", RegexOptions.IgnoreCase)]
    private static partial Regex SecretValue();

    /// <summary><paramref name="text"/> with the AccountKey and SharedAccessSignature values of a connection string replaced by ***.</summary>
    static string Mask(string text) => SecretValue().Replace(text, "***");

    /// <summary><paramref name="text"/> with every secret value of <paramref name="connectionString"/> replaced by ***.</summary>
    static string Mask(string text, string connectionString)
    {
        foreach (Match secret in SecretValue().Matches(connectionString))
            if (secret.Value.Trim().Length > 0) text = text.Replace(secret.Value.Trim(), "***", StringComparison.Ordinal);
        return Mask(text);
    }

    /// <summary>Why <paramref name="name"/> is not a valid container name, or null.</summary>
    internal static string? ContainerNameProblem(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "it is empty";
        if (name.Length is < 3 or > 63) return "it must be 3 to 63 characters long";
        if (!name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')) return "only lowercase letters, digits and '-' are allowed";
        if (name[0] == '-' || name[^1] == '-' || name.Contains("--", StringComparison.Ordinal)) return "it must start and end with a letter or digit and not contain '--'";
        return null;
    }

    /// <summary>
    /// What the SDK's pipeline did for one operation: the number of the latest attempt of the latest request,
    /// and whether an attempt failed after its request may have reached the service.
    /// </summary>
    sealed class Attempts
    {
        public const string Key = "saecluster.attempts";
        int _last, _landed;
        public int Last => Math.Max(Volatile.Read(ref _last), 1);
        public bool EarlierMayHaveLanded => Volatile.Read(ref _landed) != 0;
        public void Started(int attempt) => Volatile.Write(ref _last, attempt);
        public void FailedAfterSending() => Volatile.Write(ref _landed, 1);
    }

    /// <summary>Runs once per attempt (after the SDK's retry policy): counts attempts and notes failures that may have landed.</summary>
    sealed class AttemptPolicy : HttpPipelinePolicy
    {
        const string CountKey = "saecluster.attempt";

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            Attempts? attempts = Start(message);
            try
            {
                await ProcessNextAsync(message, pipeline);
            }
            catch (Exception e) when (attempts != null && MayHaveLanded(e))
            {
                attempts.FailedAfterSending();
                throw;
            }
        }

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            Attempts? attempts = Start(message);
            try
            {
                ProcessNext(message, pipeline);
            }
            catch (Exception e) when (attempts != null && MayHaveLanded(e))
            {
                attempts.FailedAfterSending();
                throw;
            }
        }

        static Attempts? Start(HttpMessage message)
        {
            int attempt = (message.TryGetProperty(CountKey, out object? n) && n is int count ? count : 0) + 1;
            message.SetProperty(CountKey, attempt); // the retry policy re-sends the same message
            if (!message.TryGetProperty(Attempts.Key, out object? a) || a is not Attempts attempts) return null;
            attempts.Started(attempt);
            return attempts;
        }

        static bool MayHaveLanded(Exception e) => !IsConnectFailure(e);
    }
}
