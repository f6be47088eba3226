using System.Buffers;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;

namespace SaeCluster.Grains;

/// <summary>
/// Azure Blob Storage (or Azurite) over its REST API with Shared Key authorization, one container per store.
/// Small blobs go up with one Put Blob, large ones as blocks of <see cref="AzureBlobStoreOptions.BlockSize"/>
/// (each buffered in a pooled array so a retry can re-send it) committed by Put Block List; either way the
/// blob appears whole or not at all. Write-once creation uses <c>If-None-Match: *</c> on the committing
/// request. Transient failures (408, 429, 5xx gateway/busy answers, connection errors, timeouts) are retried
/// with exponential backoff and jitter; downloads resume where the connection broke (guarded by the ETag).
/// Unreachable endpoints and rejected credentials end in a <see cref="BlobStoreException"/> that says so.
/// </summary>
public sealed class AzureBlobStore : IBlobStore
{
    // One connection pool for every store in the process (HttpClient guidance); timeouts are per attempt.
    static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(20),
        ConnectTimeout = TimeSpan.FromSeconds(30),
        AutomaticDecompression = DecompressionMethods.None,
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = false,
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    const int DownloadBufferSize = 1 << 20;
    const int MaxBlocks = 50_000;
    const string CreateIdHeader = "x-ms-meta-saeclustercreateid";

    readonly AzureConnectionString _account;
    readonly AzureBlobStoreOptions _options;
    readonly string _endpoint;        // https://acct.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1
    readonly string _resourcePrefix;  // "/" + account + the endpoint's path, for the canonicalized resource
    readonly string _containerPath;   // "/" + container

    /// <summary>Parses <paramref name="connectionString"/> (see <see cref="AzureConnectionString"/>) and opens <paramref name="container"/>.</summary>
    public AzureBlobStore(string connectionString, string container, AzureBlobStoreOptions? options = null)
        : this(AzureConnectionString.Parse(connectionString), container, options)
    {
    }

    public AzureBlobStore(AzureConnectionString account, string container, AzureBlobStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(account);
        if (ContainerNameProblem(container) is { } problem) throw new ArgumentException($"Azure container name '{container}' is invalid: {problem}");
        _options = options ?? new AzureBlobStoreOptions();
        _options.Validate();
        _account = account;
        _endpoint = account.BlobEndpoint.GetLeftPart(UriPartial.Path).TrimEnd('/');
        _resourcePrefix = "/" + account.AccountName + account.BlobEndpoint.AbsolutePath.TrimEnd('/');
        _containerPath = "/" + container;
        Container = container;
        Location = $"azure://{account.AccountName}/{container}";
    }

    /// <summary>The container holding the blobs.</summary>
    public string Container { get; }

    /// <summary>The blob service endpoint requests go to.</summary>
    public string Endpoint => _endpoint;

    public string Location { get; }

    public async Task InitializeAsync(CancellationToken ct = default)
    {
        var request = new Request(HttpMethod.Put, _containerPath) { Query = { new("restype", "container") } };
        await SendAsync("", "create the container", request, async (response, _, _) =>
        {
            if (response.IsSuccessStatusCode) return true;
            if (response.StatusCode == HttpStatusCode.Conflict && ErrorCode(response) is "ContainerAlreadyExists") return true;
            throw await ErrorAsync(response, "", "create the container");
        }, ct);
    }

    public Task<bool> TryCreateAsync(string name, Stream content, CancellationToken ct = default) => UploadAsync(name, content, createOnly: true, ct);

    public Task PutAsync(string name, Stream content, CancellationToken ct = default) => UploadAsync(name, content, createOnly: false, ct);

    public async Task<long?> GetSizeAsync(string name, CancellationToken ct = default)
    {
        var properties = await GetPropertiesAsync(name, ct);
        return properties?.Size;
    }

    public async Task<int> ReadRangeAsync(string name, long offset, Memory<byte> buffer, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (buffer.Length == 0)
        {
            if (await GetPropertiesAsync(name, ct) is null) throw new BlobNotFoundException(Location, name);
            return 0;
        }
        var request = new Request(HttpMethod.Get, BlobPath(name));
        request.Headers.Add(new("x-ms-range", $"bytes={offset}-{offset + buffer.Length - 1}"));
        return await SendAsync(name, "read", request, async (response, _, token) =>
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable) return 0; // at or past the end
            if (!response.IsSuccessStatusCode) throw await ErrorAsync(response, name, "read");
            await using Stream body = await response.Content.ReadAsStreamAsync(token);
            if (response.StatusCode == HttpStatusCode.OK && offset > 0) // the range was ignored: skip to it
                await SkipAsync(body, offset, token);
            int total = 0;
            while (total < buffer.Length)
            {
                int n = await body.ReadAsync(buffer[total..], token);
                if (n == 0) break;
                total += n;
            }
            return total;
        }, ct);
    }

    public async Task DownloadToFileAsync(string name, string path, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string blobPath = BlobPath(name);
        string target = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Guid.NewGuid().ToString("N")[..12]}.download");
        byte[] buffer = ArrayPool<byte>.Shared.Rent(DownloadBufferSize);
        FileStream? file = null;
        bool moved = false;
        try
        {
            long written = 0;
            string? etag = null;
            int attempt = 0;
            while (true)
            {
                attempt++;
                Exception? failure = null;
                long writtenBefore = written;
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                try
                {
                    var request = new Request(HttpMethod.Get, blobPath);
                    if (written > 0)
                    {
                        request.Headers.Add(new("x-ms-range", $"bytes={written}-"));
                        request.IfMatch = etag;
                    }
                    timeout.CancelAfter(_options.Retry.AttemptTimeout);
                    using HttpRequestMessage message = Build(request);
                    using HttpResponseMessage response = await Http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                    if (IsTransient(response.StatusCode))
                    {
                        failure = await ErrorAsync(response, name, "download");
                    }
                    else if (response.StatusCode == HttpStatusCode.PreconditionFailed && etag != null)
                    {
                        // replaced while we were reading: start over with the new content
                        file!.SetLength(0);
                        written = 0;
                        etag = null;
                        failure = new BlobStoreException(Location, name, "the blob changed while it was downloaded");
                    }
                    else if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && written > 0)
                    {
                        break; // the connection broke exactly at the end
                    }
                    else if (!response.IsSuccessStatusCode)
                    {
                        throw await ErrorAsync(response, name, "download");
                    }
                    else
                    {
                        etag ??= response.Headers.ETag?.Tag;
                        long? expected = response.Content.Headers.ContentLength;
                        file ??= CreateDownloadFile(name, temp);
                        await using Stream body = await response.Content.ReadAsStreamAsync(timeout.Token);
                        long received = 0;
                        while (true)
                        {
                            timeout.CancelAfter(_options.Retry.AttemptTimeout); // a stalled transfer, not a long one, times out
                            int n = await body.ReadAsync(buffer.AsMemory(0, DownloadBufferSize), timeout.Token);
                            if (n == 0) break;
                            await WriteDownloadAsync(name, file, buffer.AsMemory(0, n), target, ct);
                            written += n;
                            received += n;
                        }
                        if (expected is { } length && received < length) throw new IOException($"the connection closed after {received} of {length} bytes");
                        break;
                    }
                }
                catch (Exception e) when (IsTransient(e, ct))
                {
                    failure = e;
                }
                if (written > writtenBefore) attempt = 1; // progress: a broken transfer resumes with a fresh budget
                if (attempt >= _options.Retry.MaxAttempts) throw GaveUp(name, "download", failure!, attempt);
                await Task.Delay(_options.Retry.DelayAfter(attempt), ct);
            }
            file ??= CreateDownloadFile(name, temp);
            try
            {
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
                await file.DisposeAsync();
                file = null;
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
            ArrayPool<byte>.Shared.Return(buffer);
            if (file != null) await file.DisposeAsync();
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
        var items = new List<BlobItem>();
        string? marker = null;
        do
        {
            var request = new Request(HttpMethod.Get, _containerPath) { Query = { new("restype", "container"), new("comp", "list") } };
            if (prefix.Length > 0) request.Query.Add(new("prefix", prefix));
            if (marker != null) request.Query.Add(new("marker", marker));
            if (_options.ListPageSize is { } pageSize) request.Query.Add(new("maxresults", pageSize.ToString(CultureInfo.InvariantCulture)));
            marker = await SendAsync("", "list blobs", request, async (response, _, token) =>
            {
                if (!response.IsSuccessStatusCode) throw await ErrorAsync(response, "", "list blobs");
                await using Stream body = await response.Content.ReadAsStreamAsync(token);
                XDocument xml;
                try
                {
                    xml = await XDocument.LoadAsync(body, LoadOptions.None, token);
                }
                catch (System.Xml.XmlException e)
                {
                    throw new BlobStoreException(Location, "", $"the List Blobs answer is not valid XML: {e.Message}", e);
                }
                XElement root = xml.Root ?? throw new BlobStoreException(Location, "", "the List Blobs answer is empty");
                foreach (XElement blob in root.Element("Blobs")?.Elements("Blob") ?? [])
                {
                    XElement? nameElement = blob.Element("Name");
                    if (nameElement is null) continue;
                    string blobName = (string?)nameElement.Attribute("Encoded") == "true" ? Uri.UnescapeDataString(nameElement.Value) : nameElement.Value;
                    long size = long.TryParse(blob.Element("Properties")?.Element("Content-Length")?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long s) ? s : 0;
                    items.Add(new BlobItem(blobName, size));
                }
                string next = root.Element("NextMarker")?.Value ?? "";
                return next.Length == 0 ? null : next;
            }, ct);
        } while (marker != null);

        items.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (BlobItem item in items)
        {
            ct.ThrowIfCancellationRequested();
            yield return item;
        }
    }

    public Task<bool> DeleteAsync(string name, CancellationToken ct = default)
    {
        var request = new Request(HttpMethod.Delete, BlobPath(name)) { Headers = { new("x-ms-delete-snapshots", "include") } };
        return SendAsync(name, "delete", request, async (response, attempt, _) =>
        {
            if (response.IsSuccessStatusCode) return true;
            // A 404 after an attempt whose answer was lost most likely means that attempt deleted it.
            if (response.StatusCode == HttpStatusCode.NotFound && ErrorCode(response) is "BlobNotFound" or null) return attempt.EarlierMayHaveLanded;
            throw await ErrorAsync(response, name, "delete");
        }, ct);
    }

    public string? LocalPath(string name) => null;

    // ---- uploads ----

    async Task<bool> UploadAsync(string name, Stream content, bool createOnly, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        string blobPath = BlobPath(name);
        string createId = Guid.NewGuid().ToString("N");
        long threshold = _options.SingleUploadThreshold;
        // A seekable stream says its size; otherwise read up to threshold + 1 bytes: that many tell whether
        // the blob fits one Put Blob (and are then the start of the first block).
        long? remaining = content.CanSeek ? Math.Max(0, content.Length - content.Position) : null;
        int head = remaining is { } known ? (known <= threshold ? (int)known : 0) : (int)Math.Min(threshold + 1, Array.MaxLength);
        byte[] first = ArrayPool<byte>.Shared.Rent(Math.Max(head, 1));
        try
        {
            int firstLength = await ReadFullAsync(content, first.AsMemory(0, head), ct);
            if (remaining is { } size ? size <= threshold : firstLength <= threshold)
            {
                var request = new Request(HttpMethod.Put, blobPath)
                {
                    Body = first.AsMemory(0, firstLength),
                    ContentType = "application/octet-stream",
                    ContentMd5 = MD5.HashData(first.AsSpan(0, firstLength)),
                    Headers = { new("x-ms-blob-type", "BlockBlob") },
                };
                return await CommitAsync(name, request, createOnly, createId, ct);
            }
            if (createOnly && await GetPropertiesAsync(name, ct) is not null) return false; // don't upload gigabytes for nothing
            IReadOnlyList<string> blockIds = await UploadBlocksAsync(name, blobPath, first, firstLength, content, ct);
            var xml = new StringBuilder("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
            foreach (string id in blockIds) xml.Append("<Latest>").Append(id).Append("</Latest>");
            xml.Append("</BlockList>");
            byte[] body = Encoding.UTF8.GetBytes(xml.ToString());
            var commit = new Request(HttpMethod.Put, blobPath)
            {
                Query = { new("comp", "blocklist") },
                Body = body,
                ContentType = "application/xml",
                ContentMd5 = MD5.HashData(body),
                Headers = { new("x-ms-blob-content-type", "application/octet-stream") },
            };
            return await CommitAsync(name, commit, createOnly, createId, ct);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(first);
        }
    }

    /// <summary>Sends the request that makes the blob visible (Put Blob or Put Block List), conditionally for create-only.</summary>
    async Task<bool> CommitAsync(string name, Request request, bool createOnly, string createId, CancellationToken ct)
    {
        if (createOnly)
        {
            request.IfNoneMatch = "*";
            request.Headers.Add(new(CreateIdHeader, createId));
        }
        return await SendAsync(name, "write", request, async (response, attempt, token) =>
        {
            if (response.IsSuccessStatusCode) return true;
            if (createOnly && response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.PreconditionFailed
                && ErrorCode(response) is "BlobAlreadyExists" or "ConditionNotMet" or null)
            {
                if (attempt.Number == 1) return false;
                // An earlier attempt may have created the blob and lost the answer: ours if it carries our id.
                var properties = await GetPropertiesAsync(name, token);
                return properties?.CreateId == createId;
            }
            throw await ErrorAsync(response, name, "write");
        }, ct);
    }

    /// <summary>Uploads <paramref name="first"/>[..firstLength] followed by the rest of <paramref name="rest"/> as blocks; returns their ids in order.</summary>
    async Task<IReadOnlyList<string>> UploadBlocksAsync(string name, string blobPath, byte[] first, int firstLength, Stream rest, CancellationToken ct)
    {
        int blockSize = _options.BlockSize;
        // Ids must have equal length within a blob; a per-upload nonce keeps concurrent uploads of the same
        // name from overwriting each other's uncommitted blocks.
        string nonce = Guid.NewGuid().ToString("N");
        var ids = new List<string>();
        var inFlight = new List<Task>();
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        int firstOffset = 0;
        try
        {
            while (true)
            {
                byte[] block = ArrayPool<byte>.Shared.Rent(blockSize);
                int length;
                try
                {
                    int fromFirst = Math.Min(blockSize, firstLength - firstOffset);
                    first.AsSpan(firstOffset, fromFirst).CopyTo(block);
                    firstOffset += fromFirst;
                    length = fromFirst + (fromFirst < blockSize ? await ReadFullAsync(rest, block.AsMemory(fromFirst, blockSize - fromFirst), failed.Token) : 0);
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(block);
                    throw;
                }
                if (length == 0)
                {
                    ArrayPool<byte>.Shared.Return(block);
                    break;
                }
                if (ids.Count == MaxBlocks)
                {
                    ArrayPool<byte>.Shared.Return(block);
                    throw new BlobStoreException(Location, name, $"the blob is larger than {MaxBlocks} blocks of {blockSize} bytes (raise BlockSize)");
                }
                string id = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{nonce}-{ids.Count:D6}"));
                ids.Add(id);
                inFlight.Add(PutBlockAsync(name, blobPath, id, block, length, failed.Token));
                if (inFlight.Count >= _options.UploadParallelism)
                {
                    Task done = await Task.WhenAny(inFlight);
                    inFlight.Remove(done);
                    await done;
                }
                if (length < blockSize) break;
            }
            await Task.WhenAll(inFlight);
            return ids;
        }
        catch
        {
            failed.Cancel();
            try { await Task.WhenAll(inFlight); } catch { /* the first failure is the one reported */ }
            throw;
        }
    }

    async Task PutBlockAsync(string name, string blobPath, string id, byte[] block, int length, CancellationToken ct)
    {
        try
        {
            var request = new Request(HttpMethod.Put, blobPath)
            {
                Query = { new("comp", "block"), new("blockid", id) },
                Body = block.AsMemory(0, length),
                ContentType = "application/octet-stream",
                ContentMd5 = MD5.HashData(block.AsSpan(0, length)),
            };
            await SendAsync(name, "write a block", request, async (response, _, _) =>
            {
                if (response.IsSuccessStatusCode) return true;
                throw await ErrorAsync(response, name, "write a block");
            }, ct);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    // ---- requests ----

    sealed record Properties(long Size, string? CreateId);

    async Task<Properties?> GetPropertiesAsync(string name, CancellationToken ct)
    {
        var request = new Request(HttpMethod.Head, BlobPath(name));
        return await SendAsync(name, "get properties", request, async (response, _, _) =>
        {
            if (response.StatusCode == HttpStatusCode.NotFound) return null;
            if (!response.IsSuccessStatusCode) throw await ErrorAsync(response, name, "get properties");
            long size = response.Content.Headers.ContentLength ?? 0;
            string? createId = response.Headers.TryGetValues(CreateIdHeader, out var values) ? values.FirstOrDefault() : null;
            return new Properties(size, createId);
        }, ct);
    }

    sealed class Request(HttpMethod method, string path)
    {
        public HttpMethod Method { get; } = method;
        public string Path { get; } = path; // escaped, from the container on: "/container/a%20b/c"
        public List<KeyValuePair<string, string>> Query { get; init; } = [];
        public List<KeyValuePair<string, string>> Headers { get; init; } = []; // x-ms-* besides date and version
        public string? IfMatch { get; set; }
        public string? IfNoneMatch { get; set; }
        public ReadOnlyMemory<byte>? Body { get; init; }
        public string? ContentType { get; init; }
        public byte[]? ContentMd5 { get; init; }
    }

    /// <summary>
    /// Sends <paramref name="request"/> (rebuilt and re-signed for every attempt) and lets <paramref name="handle"/>
    /// turn the answer into a result within the attempt's time limit; retries transient failures.
    /// </summary>
    async Task<T> SendAsync<T>(string blob, string operation, Request request,
        Func<HttpResponseMessage, Attempt, CancellationToken, Task<T>> handle, CancellationToken ct)
    {
        bool earlierMayHaveLanded = false;
        for (int attempt = 1; ; attempt++)
        {
            Exception failure;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                timeout.CancelAfter(_options.Retry.AttemptTimeout);
                try
                {
                    using HttpRequestMessage message = Build(request);
                    using HttpResponseMessage response = await Http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                    if (!IsTransient(response.StatusCode)) return await handle(response, new Attempt(attempt, earlierMayHaveLanded), timeout.Token);
                    failure = await ErrorAsync(response, blob, operation);
                }
                catch (Exception e) when (IsTransient(e, ct))
                {
                    failure = e;
                    earlierMayHaveLanded |= !IsConnectFailure(e);
                }
            }
            if (attempt >= _options.Retry.MaxAttempts) throw GaveUp(blob, operation, failure, attempt);
            await Task.Delay(_options.Retry.DelayAfter(attempt), ct);
        }
    }

    /// <summary>
    /// Which attempt answered: its number, and whether an earlier attempt failed after its request may have
    /// reached the service (so the service may have acted on it without us hearing the answer).
    /// </summary>
    readonly record struct Attempt(int Number, bool EarlierMayHaveLanded);

    static bool IsConnectFailure(Exception e) =>
        e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError };

    HttpRequestMessage Build(Request request)
    {
        var url = new StringBuilder(_endpoint).Append(request.Path);
        for (int i = 0; i < request.Query.Count; i++)
            url.Append(i == 0 ? '?' : '&').Append(Uri.EscapeDataString(request.Query[i].Key)).Append('=').Append(Uri.EscapeDataString(request.Query[i].Value));
        var message = new HttpRequestMessage(request.Method, new Uri(url.ToString(), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true }));

        var msHeaders = new List<KeyValuePair<string, string>>(request.Headers)
        {
            new("x-ms-date", DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture)),
            new("x-ms-version", _options.ApiVersion),
        };
        foreach (var header in msHeaders) message.Headers.TryAddWithoutValidation(header.Key, header.Value);
        if (request.IfMatch != null) message.Headers.TryAddWithoutValidation("If-Match", request.IfMatch);
        if (request.IfNoneMatch != null) message.Headers.TryAddWithoutValidation("If-None-Match", request.IfNoneMatch);

        string contentLength = "", contentMd5 = "", contentType = "";
        if (request.Body is { } body)
        {
            var content = new ReadOnlyMemoryContent(body);
            content.Headers.ContentLength = body.Length;
            if (request.ContentType != null)
            {
                content.Headers.TryAddWithoutValidation("Content-Type", request.ContentType);
                contentType = request.ContentType;
            }
            if (request.ContentMd5 != null)
            {
                content.Headers.ContentMD5 = request.ContentMd5;
                contentMd5 = Convert.ToBase64String(request.ContentMd5);
            }
            message.Content = content;
            if (body.Length > 0) contentLength = body.Length.ToString(CultureInfo.InvariantCulture);
        }

        // https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key (version 2015-02-21 and later)
        var toSign = new StringBuilder();
        toSign.Append(request.Method.Method).Append('\n')
            .Append('\n')                 // Content-Encoding
            .Append('\n')                 // Content-Language
            .Append(contentLength).Append('\n')
            .Append(contentMd5).Append('\n')
            .Append(contentType).Append('\n')
            .Append('\n')                 // Date (x-ms-date is used)
            .Append('\n')                 // If-Modified-Since
            .Append(request.IfMatch).Append('\n')
            .Append(request.IfNoneMatch).Append('\n')
            .Append('\n')                 // If-Unmodified-Since
            .Append('\n');                // Range (x-ms-range is used)
        foreach (var header in msHeaders.Select(h => (Name: h.Key.ToLowerInvariant(), Value: h.Value.Trim())).OrderBy(h => h.Name, StringComparer.Ordinal))
            toSign.Append(header.Name).Append(':').Append(header.Value).Append('\n');
        toSign.Append(_resourcePrefix).Append(request.Path);
        foreach (var group in request.Query.GroupBy(q => q.Key.ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal))
            toSign.Append('\n').Append(group.Key).Append(':').Append(string.Join(',', group.Select(q => q.Value).Order(StringComparer.Ordinal)));

        byte[] signature = HMACSHA256.HashData(_account.AccountKey, Encoding.UTF8.GetBytes(toSign.ToString()));
        message.Headers.TryAddWithoutValidation("Authorization", $"SharedKey {_account.AccountName}:{Convert.ToBase64String(signature)}");
        return message;
    }

    string BlobPath(string name)
    {
        BlobNames.Validate(Location, name);
        var path = new StringBuilder(_containerPath);
        foreach (string segment in name.Split('/')) path.Append('/').Append(Uri.EscapeDataString(segment));
        return path.ToString();
    }

    static bool IsTransient(HttpStatusCode status) => (int)status is 408 or 429 or 500 or 502 or 503 or 504;

    /// <summary>A failure worth another attempt: connection trouble, a broken or stalled body, our own per-attempt timeout, a transient answer.</summary>
    static bool IsTransient(Exception e, CancellationToken ct) => e switch
    {
        OperationCanceledException => !ct.IsCancellationRequested,
        HttpRequestException or IOException => true,
        TransientAnswer => true,
        _ => false,
    };

    static string? ErrorCode(HttpResponseMessage response) =>
        response.Headers.TryGetValues("x-ms-error-code", out var values) ? values.FirstOrDefault() : null;

    /// <summary>The service's answer to a failed request, as the exception to throw (or retry on, for transient answers).</summary>
    async Task<Exception> ErrorAsync(HttpResponseMessage response, string blob, string operation)
    {
        string? code = ErrorCode(response);
        string? detail = null;
        if (response.RequestMessage?.Method != HttpMethod.Head)
        {
            try
            {
                using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                string text = await response.Content.ReadAsStringAsync(limit.Token);
                if (text.Length > 0 && text.Length < 64 * 1024)
                {
                    XElement? root = XDocument.Parse(text).Root;
                    code ??= root?.Element("Code")?.Value;
                    detail = root?.Element("Message")?.Value.Split('\n')[0].Trim();
                }
            }
            catch (Exception e) when (e is System.Xml.XmlException or HttpRequestException or IOException or OperationCanceledException)
            {
                // no readable error body: the status says enough
            }
        }
        int status = (int)response.StatusCode;
        string answer = $"HTTP {status}{(code != null ? " " + code : "")}{(detail != null ? ": " + detail : "")}";
        if (IsTransient(response.StatusCode)) return new TransientAnswer(answer);
        if (status == 404 && code is "ContainerNotFound")
            return new BlobStoreException(Location, blob, $"the container '{Container}' does not exist (InitializeAsync creates it) ({answer})");
        if (status == 404 && blob.Length > 0) return new BlobNotFoundException(Location, blob);
        if (status == 403)
            return new BlobStoreException(Location, blob,
                $"authentication failed for account '{_account.AccountName}' at {_endpoint} ({answer}); check the AccountKey (and AccountName) in the connection string");
        return new BlobStoreException(Location, blob, $"{operation} failed: {answer}");
    }

    BlobStoreException GaveUp(string blob, string operation, Exception failure, int attempts)
    {
        string tries = attempts == 1 ? "1 attempt" : $"{attempts} attempts";
        string problem = failure switch
        {
            TransientAnswer answer => $"{operation} failed after {tries}: the blob service at {_endpoint} kept answering {answer.Message}",
            OperationCanceledException => $"{operation} failed after {tries}: no answer from {_endpoint} within {_options.Retry.AttemptTimeout.TotalSeconds:0.###} s",
            HttpRequestException e when IsConnectFailure(e) => $"cannot reach the blob service at {_endpoint} ({operation}, {tries}): {Describe(e)}",
            HttpRequestException or IOException => $"{operation} failed after {tries}: the connection to {_endpoint} broke: {Describe(failure)}",
            _ => $"{operation} failed after {tries} against {_endpoint}: {Describe(failure)}",
        };
        return new BlobStoreException(Location, blob, problem, failure);
    }

    static string Describe(Exception e)
    {
        string text = e.Message;
        for (Exception? inner = e.InnerException; inner != null; inner = inner.InnerException)
            if (!text.Contains(inner.Message, StringComparison.Ordinal)) text += " " + inner.Message;
        return text;
    }

    /// <summary>A transient answer from the service (HTTP 408, 429, 500, 502, 503, 504).</summary>
    sealed class TransientAnswer(string message) : Exception(message);

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

    async Task WriteDownloadAsync(string name, FileStream file, ReadOnlyMemory<byte> data, string target, CancellationToken ct)
    {
        try
        {
            await file.WriteAsync(data, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlobStoreException(Location, name, $"cannot write {target}: {e.Message}", e);
        }
    }

    static async Task<int> ReadFullAsync(Stream stream, Memory<byte> buffer, CancellationToken ct)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[total..], ct);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    static async Task SkipAsync(Stream stream, long count, CancellationToken ct)
    {
        byte[] scratch = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            while (count > 0)
            {
                int n = await stream.ReadAsync(scratch.AsMemory(0, (int)Math.Min(count, scratch.Length)), ct);
                if (n == 0) return;
                count -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
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
}
