using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace SaeCluster.Compute.Tests;

public sealed class SafetensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("safetensors-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string fileName) => Path.Combine(_dir, fileName);

    private static float[] RandomFloats(int count, int seed)
    {
        var rng = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(rng.NextDouble() * 20 - 10);
        return values;
    }

    /// <summary>Writes an 8-byte prefix (the header's length unless overridden), the header and zeroed data.</summary>
    private string WriteHandMade(string header, int dataBytes = 0, ulong? lengthPrefix = null, [CallerMemberName] string name = "")
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var file = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(file, lengthPrefix ?? (ulong)json.Length);
        json.CopyTo(file, 8);
        string path = PathOf(name + ".safetensors");
        File.WriteAllBytes(path, file);
        return path;
    }

    /// <summary>A small valid file: acts F32 [64, 16] (4096 bytes) then tokens I32 [64] (256 bytes).</summary>
    private string WriteGoodFile([CallerMemberName] string name = "")
    {
        var writer = new SafetensorsWriter();
        writer.Add("acts", RandomFloats(64 * 16, 1), [64, 16]);
        writer.Add("tokens", Enumerable.Range(0, 64).ToArray(), [64]);
        string path = PathOf(name + ".safetensors");
        writer.Write(path);
        return path;
    }

    private static SafetensorsFormatException AssertCorrupt(string path, params string[] fragments)
    {
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Equal(path, e.FilePath);
        foreach (string fragment in fragments) Assert.Contains(fragment, e.Message);
        return e;
    }

    private static string Tensor(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    [Fact]
    public void EveryDtype_RoundTripsRawBytes_AlignedToItsElementSize()
    {
        var rng = new Random(7);
        var writer = new SafetensorsWriter();
        var expected = new Dictionary<string, byte[]>();
        foreach (SafetensorsDtype dtype in Enum.GetValues<SafetensorsDtype>())
        {
            var bytes = new byte[3 * 5 * dtype.ElementSize()];
            rng.NextBytes(bytes);
            expected[dtype.HeaderName()] = bytes;
            writer.AddRaw(dtype.HeaderName(), dtype, [3, 5], bytes);
        }
        string path = PathOf("all.safetensors");
        writer.Write(path);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(path, file.Path);
        Assert.Equal(expected.Count, file.Tensors.Count);
        foreach (SafetensorsDtype dtype in Enum.GetValues<SafetensorsDtype>())
        {
            SafetensorsTensorInfo info = file.Get(dtype.HeaderName());
            Assert.Equal(dtype, info.Dtype);
            Assert.Equal([3L, 5L], info.Shape);
            Assert.Equal(15, info.ElementCount);
            Assert.Equal(expected[dtype.HeaderName()], file.Bytes(dtype.HeaderName()).ToArray());
            unsafe
            {
                Assert.Equal(0, (nint)file.Pointer(dtype.HeaderName()) % dtype.ElementSize());
            }
        }
        Assert.Equal(0, BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path)) % 8);
    }

    [Theory]
    [InlineData(SafetensorsDtype.F32)]
    [InlineData(SafetensorsDtype.F16)]
    [InlineData(SafetensorsDtype.BF16)]
    public void Floats_ConvertOnWriteAndRead(SafetensorsDtype storeAs)
    {
        // Special values plus enough random ones to cross the writer's conversion chunks.
        float[] values = [0f, -0f, 1f, -2.5f, 65504f, 1e-7f, 3.14159265f, float.NaN, float.PositiveInfinity, float.NegativeInfinity,
            .. RandomFloats(70_000, 3)];
        var writer = new SafetensorsWriter();
        writer.Add("x", values, [values.Length], storeAs);
        string path = PathOf($"floats-{storeAs}.safetensors");
        writer.Write(path);

        float[] expected = storeAs switch
        {
            SafetensorsDtype.F16 => [.. values.Select(v => (float)(Half)v)],
            SafetensorsDtype.BF16 => [.. values.Select(v => Bf16.ToSingle(Bf16.FromSingle(v)))],
            _ => values,
        };
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(storeAs, file.Get("x").Dtype);
        Assert.Equal(values.Length * storeAs.ElementSize(), file.Get("x").ByteLength);
        Assert.Equal(expected, file.ReadAllAsFloat("x"));
        if (storeAs == SafetensorsDtype.F16)
            Assert.Equal(values.Select(v => BitConverter.HalfToUInt16Bits((Half)v)), MemoryMarshal.Cast<byte, ushort>(file.Bytes("x")).ToArray());
    }

    [Fact]
    public void Integers_RoundTrip_AndTypedReadsCheckTheDtype()
    {
        int[] ints = [0, -1, int.MaxValue, int.MinValue, 42];
        long[] longs = [0, -1, long.MaxValue, long.MinValue];
        var writer = new SafetensorsWriter();
        writer.Add("ints", ints, [5]);
        writer.AddRaw("longs", SafetensorsDtype.I64, [2, 2], MemoryMarshal.AsBytes(longs.AsSpan()));
        string path = PathOf("ints.safetensors");
        writer.Write(path);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(ints, file.ReadInt32("ints"));
        Assert.Equal(longs, file.ReadInt64("longs"));
        var e = Assert.Throws<InvalidOperationException>(() => file.ReadInt32("longs"));
        Assert.Contains("'longs' is I64", e.Message);
        Assert.Throws<InvalidOperationException>(() => file.ReadAllAsFloat("ints"));
    }

    [Fact]
    public void EmptyAndScalarTensors_RoundTrip()
    {
        var writer = new SafetensorsWriter();
        writer.Add("empty", ReadOnlySpan<float>.Empty, [0, 4]);
        writer.Add("scalar", [2.5f], []);
        string path = PathOf("edge.safetensors");
        writer.Write(path);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(0, file.Get("empty").ElementCount);
        Assert.Empty(file.ReadAllAsFloat("empty"));
        Assert.Empty(file.Get("scalar").Shape);
        Assert.Equal([2.5f], file.ReadAllAsFloat("scalar"));
    }

    [Fact]
    public void Metadata_RoundTrips_AndIsOmittedWhenEmpty()
    {
        var writer = new SafetensorsWriter();
        writer.Metadata["model"] = "gemma-2-2b";
        writer.Metadata["quote\"back\\slash"] = "line\nbreak, ünïcødé, <tag> & 🙂";
        writer.Metadata["empty"] = "";
        writer.Add("t", [1f], [1]);
        string path = PathOf("meta.safetensors");
        writer.Write(path);
        using (var file = SafetensorsFile.Open(path))
            Assert.Equal(writer.Metadata.OrderBy(kv => kv.Key), file.Metadata.OrderBy(kv => kv.Key));

        var bare = new SafetensorsWriter();
        bare.Add("t", [1f], [1]);
        string barePath = PathOf("bare.safetensors");
        bare.Write(barePath);
        Assert.DoesNotContain("__metadata__", File.ReadAllText(barePath));
        using var bareFile = SafetensorsFile.Open(barePath);
        Assert.Empty(bareFile.Metadata);
    }

    [Theory]
    [InlineData(SafetensorsDtype.F32)]
    [InlineData(SafetensorsDtype.F16)]
    [InlineData(SafetensorsDtype.BF16)]
    public void ReadRowsAsFloat_ReadsASubRange(SafetensorsDtype storeAs)
    {
        const int rows = 10, cols = 7;
        var writer = new SafetensorsWriter();
        writer.Add("m", RandomFloats(rows * cols, 5), [rows, cols], storeAs);
        writer.Add("v", [1f, 2f], [2]);
        string path = PathOf($"rows-{storeAs}.safetensors");
        writer.Write(path);

        using var file = SafetensorsFile.Open(path);
        float[] all = file.ReadAllAsFloat("m");
        var dst = new float[5 * cols];
        dst.AsSpan().Fill(-99f);
        file.ReadRowsAsFloat("m", 3, 4, dst);
        Assert.Equal(all[(3 * cols)..(7 * cols)], dst[..(4 * cols)]);
        Assert.All(dst[(4 * cols)..], v => Assert.Equal(-99f, v));

        file.ReadRowsAsFloat("m", rows, 0, []);
        Assert.Throws<ArgumentOutOfRangeException>(() => file.ReadRowsAsFloat("m", 8, 3, dst));
        Assert.Throws<ArgumentOutOfRangeException>(() => file.ReadRowsAsFloat("m", -1, 1, dst));
        Assert.Throws<ArgumentException>(() => file.ReadRowsAsFloat("m", 0, 6, dst));
        var e = Assert.Throws<InvalidOperationException>(() => file.ReadRowsAsFloat("v", 0, 1, dst));
        Assert.Contains("tensor 'v'", e.Message);
    }

    [Fact]
    public void ConcurrentRowReads_AgreeWithASequentialRead()
    {
        const int rows = 256, cols = 32;
        var writer = new SafetensorsWriter();
        writer.Add("m", RandomFloats(rows * cols, 9), [rows, cols], SafetensorsDtype.BF16);
        string path = PathOf("concurrent.safetensors");
        writer.Write(path);

        using var file = SafetensorsFile.Open(path);
        float[] all = file.ReadAllAsFloat("m");
        Parallel.For(0, rows, row =>
        {
            var dst = new float[cols];
            file.ReadRowsAsFloat("m", row, 1, dst);
            Assert.Equal(all[(row * cols)..((row + 1) * cols)], dst);
        });
    }

    [Fact]
    public void PythonStyleFile_WithPaddingAndMetadata_Parses()
    {
        // As Python's safetensors writes it: "__metadata__" entry, tensors sorted by alignment then name,
        // header padded with spaces so that the data starts on an 8-byte boundary.
        string header = "{\"__metadata__\":{\"format\":\"pt\"},"
            + Tensor("bias", "F32", "[2]", 0, 8) + ","
            + Tensor("weight", "BF16", "[2, 2]", 8, 16) + "}";
        header = header.PadRight((header.Length + 7) / 8 * 8 + 8);
        byte[] json = Encoding.ASCII.GetBytes(header);
        using var bytes = new MemoryStream();
        bytes.Write(BitConverter.GetBytes((ulong)json.Length));
        bytes.Write(json);
        bytes.Write(BitConverter.GetBytes(1.5f));
        bytes.Write(BitConverter.GetBytes(-2f));
        foreach (float v in new[] { 1f, 2f, 3f, 4f }) bytes.Write(BitConverter.GetBytes(Bf16.FromSingle(v)));
        string path = PathOf("python.safetensors");
        File.WriteAllBytes(path, bytes.ToArray());

        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(["bias", "weight"], file.Tensors.Select(t => t.Name));
        Assert.Equal([1.5f, -2f], file.ReadAllAsFloat("bias"));
        Assert.Equal([1f, 2f, 3f, 4f], file.ReadAllAsFloat("weight"));
    }

    [Fact]
    public void RealModelFile_TheTrainedTinyGemma2_Parses()
    {
        string path = Path.GetFullPath(Path.Combine(SourceDirectory(), "../../models/tiny-gemma2-code/model.safetensors"));
        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal([357L, 128L], file.Get("model.embed_tokens.weight").Shape);
        Assert.Equal(357 * 128, file.ReadAllAsFloat("model.embed_tokens.weight").Length);
    }

    private static string SourceDirectory([CallerFilePath] string sourceFile = "") => Path.GetDirectoryName(sourceFile)!;

    [Fact]
    public void DataRegionWithGaps_IsAllowed()
    {
        string path = WriteHandMade("{" + Tensor("a", "U8", "[4]", 4, 8) + "}", dataBytes: 16);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(4, file.Get("a").Begin);
    }

    [Fact]
    public void MissingTensor_NamesFileAndTensor()
    {
        string path = WriteGoodFile();
        using var file = SafetensorsFile.Open(path);
        var e = Assert.Throws<KeyNotFoundException>(() => file.Get("nope"));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains("'nope'", e.Message);
        Assert.Contains("'acts'", e.Message);
        Assert.False(file.TryGet("nope", out _));
    }

    [Fact]
    public void UseAfterDispose_Throws()
    {
        var file = SafetensorsFile.Open(WriteGoodFile());
        file.Dispose();
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.Bytes("acts").Length);
    }

    [Fact]
    public void TruncatedFile_NamesTheFirstTensorPastTheEnd()
    {
        string path = WriteGoodFile();
        long fullLength = new FileInfo(path).Length;
        long dataStart = fullLength - 4096 - 256;
        using (var stream = new FileStream(path, FileMode.Open)) stream.SetLength(dataStart + 1000);
        AssertCorrupt(path, $"tensor 'acts' needs {dataStart + 4096} bytes but the file ends after {dataStart + 1000} (truncated file?)");

        string tail = WriteGoodFile("tail");
        using (var stream = new FileStream(tail, FileMode.Open)) stream.SetLength(fullLength - 1);
        AssertCorrupt(tail, "tensor 'tokens'", "truncated file?");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void FileShorterThanThePrefix_IsRejected(int length)
    {
        string path = PathOf($"short-{length}.safetensors");
        File.WriteAllBytes(path, new byte[length]);
        AssertCorrupt(path, $"file is {length} bytes");
    }

    [Fact]
    public void HeaderLongerThanTheFile_IsRejected() =>
        AssertCorrupt(WriteHandMade("{}", lengthPrefix: 1000), "header length prefix is 1000 bytes but only 2 follow it");

    [Fact]
    public void AbsurdHeaderLength_IsRejected() =>
        AssertCorrupt(WriteHandMade("{}", lengthPrefix: 1UL << 40), "over the 100000000-byte limit");

    [Fact]
    public void InvalidUtf8_IsRejected()
    {
        string path = WriteHandMade("{" + Tensor("a?", "U8", "[1]", 0, 1) + "}", dataBytes: 1);
        byte[] bytes = File.ReadAllBytes(path);
        bytes[Array.IndexOf(bytes, (byte)'?', 8)] = 0xFF;
        File.WriteAllBytes(path, bytes);
        AssertCorrupt(path, "header is not valid UTF-8");
    }

    [Fact]
    public void PatchedDtypeInAGoodFile_IsRejected()
    {
        string path = WriteGoodFile();
        byte[] bytes = File.ReadAllBytes(path);
        int at = Encoding.ASCII.GetString(bytes).IndexOf("\"F32\"", StringComparison.Ordinal);
        bytes[at + 1] = (byte)'X';
        File.WriteAllBytes(path, bytes);
        AssertCorrupt(path, "tensor 'acts' has unknown dtype 'X32'");
    }

    public static TheoryData<string, int, string[]> BadHeaders => new()
    {
        { "{\"a\":{\"dtype\":", 0, ["header is not valid JSON"] },
        { "", 0, ["header is not valid JSON"] },
        { "[1, 2]", 0, ["header must be a JSON object, found Array"] },
        { "{\"a\": 3}", 0, ["tensor 'a': expected an object"] },
        { "{" + Tensor("a", "F8_E4M3", "[1]", 0, 1) + "}", 1, ["tensor 'a' has unknown dtype 'F8_E4M3'"] },
        { "{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, ["tensor 'a' has no string 'dtype'"] },
        { "{" + Tensor("a", "U8", "[2, -3]", 0, 0) + "}", 0, ["tensor 'a' has invalid 'shape' [2, -3]"] },
        { "{" + Tensor("a", "U8", "[2.5]", 0, 2) + "}", 2, ["tensor 'a' has invalid 'shape' [2.5]"] },
        { "{" + Tensor("a", "U8", "\"2\"", 0, 2) + "}", 2, ["tensor 'a' has invalid 'shape' \"2\""] },
        { "{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, ["tensor 'a' has invalid 'data_offsets' (missing)"] },
        { "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 2, ["tensor 'a' has invalid 'data_offsets' [0,1,2]"] },
        { "{" + Tensor("a", "U8", "[1]", -1, 0) + "}", 2, ["tensor 'a' has invalid 'data_offsets' [-1,0]"] },
        { "{" + Tensor("a", "U8", "[0]", 4, 2) + "}", 8, ["tensor 'a' has data_offsets [4, 2]: end is before begin"] },
        { "{" + Tensor("a", "F32", "[2, 3]", 0, 20) + "}", 24, ["tensor 'a' is F32 [2, 3] = 24 bytes, but its data_offsets [0, 20] span 20 bytes"] },
        { "{" + Tensor("a", "U8", "[4611686018427387904, 4]", 0, 0) + "}", 0, ["tensor 'a' has shape [4611686018427387904, 4], too many elements"] },
        { "{" + Tensor("a", "U8", "[4]", 0, 4) + "," + Tensor("b", "U8", "[4]", 2, 6) + "}", 8, ["tensor 'a' [0, 4) and tensor 'b' [2, 6) overlap"] },
        { "{" + Tensor("a", "U8", "[4]", 0, 4) + "," + Tensor("a", "U8", "[4]", 4, 8) + "}", 8, ["tensor 'a' appears more than once"] },
        { "{\"__metadata__\":{\"k\":1}}", 0, ["'__metadata__' entry 'k' must be a string, found Number"] },
        { "{\"__metadata__\":[\"k\"]}", 0, ["'__metadata__' must be an object of strings, found Array"] },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void MalformedHeader_IsRejected(string header, int dataBytes, string[] fragments)
    {
        string path = WriteHandMade(header, dataBytes, name: $"bad-{Guid.NewGuid():N}");
        AssertCorrupt(path, fragments);
    }

    [Fact]
    public void Write_WithoutOverwrite_RefusesAnExistingFile()
    {
        string path = WriteGoodFile();
        byte[] before = File.ReadAllBytes(path);
        var writer = new SafetensorsWriter();
        writer.Add("other", [1f], [1]);

        Assert.Throws<IOException>(() => writer.Write(path, overwrite: false));
        Assert.Equal(before, File.ReadAllBytes(path));

        writer.Write(path);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["other"], file.Tensors.Select(t => t.Name));
        Assert.Single(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Write_CreatesNewFileWhenAllowed_AndFailedRenamesLeaveNoTempFile()
    {
        var writer = new SafetensorsWriter();
        writer.Add("x", [1f, 2f], [2]);
        writer.Write(PathOf("new.safetensors"), overwrite: false);
        Assert.True(File.Exists(PathOf("new.safetensors")));

        // A directory in the way: the data is written, then the rename fails.
        Directory.CreateDirectory(PathOf("blocked.safetensors"));
        Assert.ThrowsAny<IOException>(() => writer.Write(PathOf("blocked.safetensors")));
        Assert.Equal([PathOf("new.safetensors")], Directory.GetFiles(_dir));

        Assert.Throws<DirectoryNotFoundException>(() => writer.Write(PathOf("missing/x.safetensors")));
    }

    [Fact]
    public void Writer_RejectsInconsistentTensors()
    {
        var writer = new SafetensorsWriter();
        writer.Add("x", [1f, 2f], [2]);
        Assert.Contains("already added", Assert.Throws<ArgumentException>(() => writer.Add("x", [1f], [1])).Message);
        Assert.Contains("has 6 elements but the data has 2", Assert.Throws<ArgumentException>(() => writer.Add("y", [1f, 2f], [2, 3])).Message);
        Assert.Throws<ArgumentException>(() => writer.Add("y", [1f], [-1]));
        Assert.Throws<ArgumentException>(() => writer.Add("y", [1f], [1], SafetensorsDtype.I32));
        Assert.Throws<ArgumentException>(() => writer.Add("__metadata__", [1f], [1]));
        Assert.Throws<ArgumentException>(() => writer.AddRaw("y", SafetensorsDtype.F32, [1], new byte[3]));
    }

    [Fact]
    public void AddBorrowed_ReadsTheCallersArrayAtWriteTime()
    {
        var data = new float[] { 1f, 2f, 3f };
        var writer = new SafetensorsWriter();
        writer.AddBorrowed("x", data, [3], SafetensorsDtype.BF16);
        data[1] = 5f;
        string path = PathOf("borrowed.safetensors");
        writer.Write(path);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal([1f, 5f, 3f], file.ReadAllAsFloat("x"));
    }
}
