using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace SaeCluster.Compute.Tests;

public sealed class NpyTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly SafetensorsDtype[] NumpyDtypes =
    [
        SafetensorsDtype.F32, SafetensorsDtype.F16, SafetensorsDtype.F64, SafetensorsDtype.I64, SafetensorsDtype.I32, SafetensorsDtype.I16,
        SafetensorsDtype.I8, SafetensorsDtype.U8, SafetensorsDtype.U16, SafetensorsDtype.U32, SafetensorsDtype.U64, SafetensorsDtype.BOOL,
    ];

    private static readonly long[][] Shapes = [[], [1], [9], [4, 6], [2, 3, 5], [3, 0]];

    private static StoredTensor RandomTensor(SafetensorsDtype dtype, long[] shape, int seed)
    {
        var bytes = new byte[shape.Aggregate(1L, (a, b) => a * b) * dtype.ElementSize()];
        new Random(seed).NextBytes(bytes);
        if (dtype == SafetensorsDtype.BOOL)
            for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
        return new StoredTensor(dtype, shape, bytes);
    }

    [Fact]
    public void EveryDtypeAndRank_RoundTrips_WithDataAlignedTo64()
    {
        int seed = 0;
        foreach (SafetensorsDtype dtype in NumpyDtypes)
        {
            foreach (long[] shape in Shapes)
            {
                StoredTensor tensor = RandomTensor(dtype, shape, seed++);
                string path = _dir[$"{dtype}-{shape.Length}-{seed}.npy"];
                Npy.Write(path, tensor);
                byte[] file = File.ReadAllBytes(path);
                Assert.Equal(1, file[6]);
                int dataStart = 10 + BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(8));
                Assert.Equal(0, dataStart % 64);
                Assert.Equal((byte)'\n', file[dataStart - 1]);
                Assert.Equal(tensor.Data, file[dataStart..]);

                StoredTensor back = Npy.Read(path);
                Assert.Equal(dtype, back.Dtype);
                Assert.Equal(shape, back.Shape);
                Assert.Equal(tensor.Data, back.Data);
            }
        }
    }

    [Fact]
    public void Header_IsWhatNumpyWrites()
    {
        string path = _dir["h.npy"];
        Npy.Write(path, RandomTensor(SafetensorsDtype.F32, [64, 256], 1));
        string header = Encoding.ASCII.GetString(File.ReadAllBytes(path), 10, 118);
        Assert.Equal("{'descr': '<f4', 'fortran_order': False, 'shape': (64, 256), }".PadRight(117) + "\n", header);

        Npy.Write(path, RandomTensor(SafetensorsDtype.BOOL, [5], 1));
        Assert.StartsWith("{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }", Encoding.ASCII.GetString(File.ReadAllBytes(path), 10, 60));
        Npy.Write(path, StoredTensor.Scalar(3));
        Assert.StartsWith("{'descr': '<i4', 'fortran_order': False, 'shape': (), }", Encoding.ASCII.GetString(File.ReadAllBytes(path), 10, 60));
    }

    [Fact]
    public void Bf16_IsRefused_AndNoFileIsLeft()
    {
        string path = _dir["bf16.npy"];
        var e = Assert.Throws<ArgumentException>(() => Npy.Write(path, StoredTensor.FromFloat32([1f], [1], SafetensorsDtype.BF16)));
        Assert.Contains("bfloat16", e.Message);
        Assert.Throws<ArgumentException>(() => Npz.Write(_dir["bf16.npz"], [new("w", StoredTensor.FromFloat32([1f], [1], SafetensorsDtype.BF16))]));
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void FortranOrder_BigEndian_Version2And3_AndPython2Longs_AreRead()
    {
        // [[1, 2, 3], [4, 5, 6]] stored column-major: 1 4 2 5 3 6
        string path = WriteNpy(1, "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3), }", Int16s(1, 4, 2, 5, 3, 6));
        Assert.Equal([1L, 2, 3, 4, 5, 6], Npy.Read(path).ToInt64());

        path = WriteNpy(2, "{'descr': '>i4', 'fortran_order': False, 'shape': (2L,), }", [0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0xFE]);
        StoredTensor big = Npy.Read(path);
        Assert.Equal(SafetensorsDtype.I32, big.Dtype);
        Assert.Equal([258L, -2], big.ToInt64());

        path = WriteNpy(3, "{\"descr\": \"<f8\", \"shape\": (1, 1), \"fortran_order\": True}", BitConverter.GetBytes(2.5));
        Assert.Equal(2.5, Npy.Read(path).ScalarAsDouble());
    }

    [Fact]
    public void ReadFromAStream_NamesTheStreamInErrors()
    {
        using var good = new MemoryStream();
        Npy.Write(good, StoredTensor.FromFloat32([1f, 2f], [2], SafetensorsDtype.F16));
        good.Position = 0;
        Assert.Equal([1f, 2f], Npy.Read(good, "in-memory").ToFloat32());

        var e = Assert.Throws<NpyFormatException>(() => Npy.Read(new MemoryStream(new byte[3]), "in-memory"));
        Assert.StartsWith("in-memory: not a .npy file", e.Message);
    }

    [Fact]
    public void WrongMagic_IsReported()
    {
        string path = _dir["magic.npy"];
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("PK\x03\x04 this is a zip, not an npy file"));
        AssertCorrupt(path, "not a .npy file", "504B0304", "\\x93NUMPY");
    }

    [Fact]
    public void TruncatedFiles_AreReported()
    {
        string path = _dir["full.npy"];
        Npy.Write(path, RandomTensor(SafetensorsDtype.F32, [10, 10], 3));
        byte[] whole = File.ReadAllBytes(path);

        File.WriteAllBytes(path, whole[..(whole.Length - 1)]);
        AssertCorrupt(path, "truncated data", "needs 400 bytes", "399 follow");
        File.WriteAllBytes(path, whole[..40]);
        AssertCorrupt(path, "truncated header");
        File.WriteAllBytes(path, whole[..7]);
        AssertCorrupt(path, "truncated: 7 bytes");
        File.WriteAllBytes(path, []);
        AssertCorrupt(path, "truncated: 0 bytes");
    }

    [Theory]
    [InlineData("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", "unsupported descr '<c8'")]
    [InlineData("{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", "unsupported descr '|f4'")]
    [InlineData("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured arrays are not")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, }", "expected exactly 'descr', 'fortran_order' and 'shape'")]
    [InlineData("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", "'fortran_order' is the int 0")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", "negative dimension")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) ", "expected ',' or '}'")]
    [InlineData("{'descr': '<f4' 'fortran_order': False, 'shape': (2,), }", "expected ',' or '}'")]
    [InlineData("['descr', '<f4']", "does not start with '{'")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x", "text after the closing '}'")]
    public void MalformedOrUnsupportedHeaders_AreReported(string header, string fragment)
    {
        AssertCorrupt(WriteNpy(1, header, new byte[8]), fragment);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Npz_RoundTripsInOrder_StoredOrDeflated(bool compressed)
    {
        var arrays = new OrderedDictionary<string, StoredTensor>
        {
            ["W_enc"] = RandomTensor(SafetensorsDtype.F32, [16, 32], 1),
            ["b_enc"] = RandomTensor(SafetensorsDtype.F32, [32], 2),
            ["threshold"] = StoredTensor.FromFloat32(new float[32], [32]), // zeros: compresses
            ["k"] = StoredTensor.Scalar(8),
            ["a"] = RandomTensor(SafetensorsDtype.F16, [3, 4, 5], 3),
        };
        string path = _dir["params.npz"];
        Npz.Write(path, arrays, compressed);

        using (ZipArchive zip = ZipFile.OpenRead(path))
        {
            Assert.Equal(arrays.Keys.Select(k => k + ".npy"), zip.Entries.Select(e => e.FullName));
            ZipArchiveEntry threshold = zip.GetEntry("threshold.npy")!;
            Assert.Equal(compressed, threshold.CompressedLength < threshold.Length);
        }
        OrderedDictionary<string, StoredTensor> back = Npz.Read(path);
        Assert.Equal(arrays.Keys, back.Keys);
        foreach (var (key, tensor) in arrays)
        {
            Assert.Equal(tensor.Dtype, back[key].Dtype);
            Assert.Equal(tensor.Shape, back[key].Shape);
            Assert.Equal(tensor.Data, back[key].Data);
        }
    }

    [Fact]
    public void Npz_Errors_NameTheFileAndTheMember()
    {
        string path = _dir["bad.npz"];
        using (ZipArchive zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            using (Stream s = zip.CreateEntry("good.npy").Open()) Npy.Write(s, StoredTensor.Scalar(1));
            using (Stream s = zip.CreateEntry("W_dec.npy").Open()) s.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        }
        var e = Assert.Throws<NpyFormatException>(() => Npz.Read(path));
        Assert.Equal("W_dec.npy", e.Member);
        Assert.StartsWith($"{path}: member 'W_dec.npy': ", e.Message);

        File.WriteAllBytes(path, File.ReadAllBytes(path)[..30]);
        e = Assert.Throws<NpyFormatException>(() => Npz.Read(path));
        Assert.Null(e.Member);
        Assert.StartsWith($"{path}: not a ZIP archive", e.Message);

        File.Delete(path);
        using (ZipArchive zip = ZipFile.Open(path, ZipArchiveMode.Create))
            zip.CreateEntry("notes.txt");
        e = Assert.Throws<NpyFormatException>(() => Npz.Read(path));
        Assert.Contains("member 'notes.txt': is not a .npy member", e.Message);
    }

    private void AssertCorrupt(string path, params string[] fragments)
    {
        var e = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Equal(path, e.FilePath);
        Assert.Null(e.Member);
        foreach (string fragment in fragments) Assert.Contains(fragment, e.Message);
    }

    /// <summary>A hand-made .npy of the given version and header text (padded to 64 like numpy), followed by <paramref name="data"/>.</summary>
    private string WriteNpy(int major, string header, byte[] data)
    {
        int lengthBytes = major == 1 ? 2 : 4;
        int preamble = 8 + lengthBytes;
        byte[] text = Encoding.UTF8.GetBytes(header);
        int padded = (preamble + text.Length + 1 + 63) / 64 * 64 - preamble;
        var file = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        file.AddRange(major == 1 ? BitConverter.GetBytes((ushort)padded) : BitConverter.GetBytes((uint)padded));
        file.AddRange(text);
        file.AddRange(Enumerable.Repeat((byte)' ', padded - text.Length - 1));
        file.Add((byte)'\n');
        file.AddRange(data);
        string path = _dir[$"hand-made-{Guid.NewGuid():N}.npy"];
        File.WriteAllBytes(path, [.. file]);
        return path;
    }

    private static byte[] Int16s(params short[] values) => [.. values.SelectMany(BitConverter.GetBytes)];
}
