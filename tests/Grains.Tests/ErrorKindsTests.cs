using Npgsql;
using SaeCluster.Sae;

namespace SaeCluster.Grains.Tests;

/// <summary>Exceptions map to the bounded error kinds of saecluster_errors_total, looking through wrappers.</summary>
public sealed class ErrorKindsTests
{
    public static TheoryData<Exception, string> Cases => new()
    {
        { new NpgsqlException("connection refused"), "store" },
        { new BlobStoreException("azure://a/c", "put x", "503"), "blob" },
        { new HttpRequestException("reset"), "network" },
        { new TimeoutException(), "network" },
        { new IOException("disk full"), "io" },
        { new WorkFailedException("bad model"), "input" },
        { new WorkFailedException("diverged", new TrainingDivergedException("topk", 7, double.NaN)), "diverged" },
        { new FileNotFoundException("gone"), "input" },
        { new AggregateException(new InvalidOperationException("x", new HttpRequestException("reset"))), "network" },
        { new InvalidOperationException("bug"), "other" },
    };

    [Theory, MemberData(nameof(Cases))]
    public void Each_exception_has_its_kind(Exception e, string kind)
    {
        Assert.Equal(kind, ErrorKinds.Of(e));
        Assert.Contains(kind, ErrorKinds.All);
    }
}
