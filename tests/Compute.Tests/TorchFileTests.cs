using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;

namespace SaeCluster.Compute.Tests;

public sealed class TorchFileTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static StoredTensor RandomTensor(SafetensorsDtype dtype, long[] shape, int seed)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var bytes = new byte[count * dtype.ElementSize()];
        new Random(seed).NextBytes(bytes);
        if (dtype == SafetensorsDtype.BOOL)
            for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
        return new StoredTensor(dtype, shape, bytes);
    }

    [Fact]
    public void EveryDtypeAndRank_RoundTripsBitExactly()
    {
        SafetensorsDtype[] dtypes =
        [
            SafetensorsDtype.F32, SafetensorsDtype.F64, SafetensorsDtype.F16, SafetensorsDtype.BF16, SafetensorsDtype.I64,
            SafetensorsDtype.I32, SafetensorsDtype.I16, SafetensorsDtype.I8, SafetensorsDtype.U8, SafetensorsDtype.BOOL,
        ];
        long[][] shapes = [[], [7], [3, 5], [2, 3, 4], [0, 3]];
        var root = new OrderedDictionary<string, object?>();
        int seed = 0;
        foreach (SafetensorsDtype dtype in dtypes)
            foreach (long[] shape in shapes)
                root[$"{dtype}[{string.Join(",", shape)}]"] = RandomTensor(dtype, shape, seed++);
        string path = _dir["all.pt"];
        TorchFile.Write(path, root);

        var back = Assert.IsType<OrderedDictionary<string, object?>>(TorchFile.Read(path));
        Assert.Equal(root.Keys, back.Keys);
        foreach (var (key, value) in root)
        {
            var expected = (StoredTensor)value!;
            var actual = Assert.IsType<StoredTensor>(back[key]);
            Assert.Equal(expected.Dtype, actual.Dtype);
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.Equal(expected.Data, actual.Data);
        }
    }

    [Fact]
    public void PlainValues_RoundTripInOrder()
    {
        var root = new Dictionary<string, object?>
        {
            ["model_name"] = "google/functiongemma-270m-it",
            ["layer_idx"] = 3,
            ["big"] = 1L << 40,
            ["negative"] = -70_000,
            ["ratio"] = 0.1f,
            ["pi"] = Math.PI,
            ["flag"] = true,
            ["nothing"] = null,
            ["tuple"] = new object?[] { 1, "two", 3.0 },
            ["history"] = new Dictionary<string, object?> { ["loss"] = new List<double> { 0.5, 0.25 }, ["l0"] = new List<object?>() },
            ["ünïcode ✓"] = "значение",
        };
        string path = _dir["sae_layer_03.pt"];
        TorchFile.Write(path, root);

        using (ZipArchive zip = ZipFile.OpenRead(path))
        {
            Assert.Equal(["sae_layer_03/data.pkl", "sae_layer_03/version"], zip.Entries.Select(e => e.FullName));
            Assert.Equal("3\n", new StreamReader(zip.GetEntry("sae_layer_03/version")!.Open()).ReadToEnd());
        }

        var back = Assert.IsType<OrderedDictionary<string, object?>>(TorchFile.Read(path));
        Assert.Equal(root.Keys, back.Keys);
        Assert.Equal("google/functiongemma-270m-it", back["model_name"]);
        Assert.Equal(3L, back["layer_idx"]);
        Assert.Equal(1L << 40, back["big"]);
        Assert.Equal(-70_000L, back["negative"]);
        Assert.Equal((double)0.1f, back["ratio"]);
        Assert.Equal(Math.PI, back["pi"]);
        Assert.Equal(true, back["flag"]);
        Assert.Null(back["nothing"]);
        Assert.Equal(new object?[] { 1L, "two", 3.0 }, Assert.IsType<object?[]>(back["tuple"]));
        var history = Assert.IsType<OrderedDictionary<string, object?>>(back["history"]);
        Assert.Equal(new List<object?> { 0.5, 0.25 }, Assert.IsType<List<object?>>(history["loss"]));
        Assert.Empty(Assert.IsType<List<object?>>(history["l0"]));
        Assert.Equal("значение", back["ünïcode ✓"]);
    }

    [Fact]
    public void ATensorUsedTwice_IsStoredOnce_AndScalarsAreZeroDim()
    {
        var w = StoredTensor.FromFloat32([1f, 2f, 3f, 4f], [2, 2]);
        string path = _dir["ae.pt"];
        TorchFile.Write(path, new List<object?> { w, w, StoredTensor.Scalar(32), StoredTensor.ScalarFloat(0.5f) });

        using (ZipArchive zip = ZipFile.OpenRead(path))
        {
            Assert.Equal(["ae/data.pkl", "ae/data/0", "ae/data/1", "ae/data/2", "ae/version"], zip.Entries.Select(e => e.FullName));
            Assert.All(zip.Entries, e => Assert.Equal(e.Length, e.CompressedLength)); // STORED
        }
        var back = Assert.IsType<List<object?>>(TorchFile.Read(path));
        Assert.Same(back[0], back[1]);
        Assert.Equal(w.Data, ((StoredTensor)back[0]!).Data);
        Assert.Equal(32, ((StoredTensor)back[2]!).ScalarAsInt64());
        Assert.Empty(((StoredTensor)back[3]!).Shape);
        Assert.Equal(0.5, ((StoredTensor)back[3]!).ScalarAsDouble());
    }

    [Fact]
    public void Write_RefusesWhatTorchFilesCannotHold_AndLeavesNoFile()
    {
        string path = _dir["bad.pt"];
        Assert.Contains("root['when'] is a DateTime", Assert.Throws<ArgumentException>(() =>
            TorchFile.Write(path, new Dictionary<string, object?> { ["when"] = DateTime.Now })).Message);
        Assert.Contains("root[1] is a Single[]", Assert.Throws<ArgumentException>(() =>
            TorchFile.Write(path, new List<object?> { 1, new float[3] })).Message);
        Assert.Contains("no storage class for U16", Assert.Throws<ArgumentException>(() =>
            TorchFile.Write(path, new List<object?> { new StoredTensor(SafetensorsDtype.U16, [1], new byte[2]) })).Message);
        var cyclic = new List<object?>();
        cyclic.Add(cyclic);
        Assert.Contains("contains itself", Assert.Throws<ArgumentException>(() => TorchFile.Write(path, cyclic)).Message);
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void TruncatedZip_ThrowsNamingTheFile()
    {
        string path = _dir["half.pt"];
        TorchFile.Write(path, new Dictionary<string, object?> { ["w"] = RandomTensor(SafetensorsDtype.F32, [64, 64], 1) });
        byte[] whole = File.ReadAllBytes(path);
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
        AssertCorrupt(path, "not a ZIP archive, or a truncated one");
    }

    [Fact]
    public void NotAZip_AndNoDataPkl_ThrowNamingTheFile()
    {
        string path = _dir["legacy.pt"];
        File.WriteAllBytes(path, [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8]);
        AssertCorrupt(path, "not a ZIP archive");

        path = MakeZip(("model/weights.bin", [1, 2, 3]));
        AssertCorrupt(path, "no '<folder>/data.pkl' entry", "'model/weights.bin'");
    }

    [Fact]
    public void MaliciousGlobal_IsRefusedBeforeAnythingRuns()
    {
        // GLOBAL 'os system' ( 'touch pwned' ) REDUCE STOP: what pickle.loads would run as os.system("touch pwned")
        string path = MakeZip(("x/data.pkl", Pickle(G("os", "system"), U("touch pwned"), [0x85, (byte)'R', (byte)'.'])));
        var e = AssertCorrupt(path, "refuses global 'os.system'", "data.pkl at byte 2 (GLOBAL)");
        Assert.Contains("torch._utils._rebuild_tensor_v2", e.Message);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "pwned")));
        Assert.False(File.Exists("pwned"));
    }

    [Theory]
    [InlineData("builtins", "eval")]
    [InlineData("numpy.core.multiarray", "_reconstruct")]
    [InlineData("torch._utils", "_rebuild_qtensor")]
    [InlineData("torch", "_utils._rebuild_tensor_v2")] // the same dotted name, split differently
    public void OtherGlobals_AreRefused_AlsoViaStackGlobal(string module, string name)
    {
        AssertCorrupt(MakeZip(("x/data.pkl", Pickle(G(module, name), [(byte)')', (byte)'R', (byte)'.']))), $"refuses global '{module}.{name}'");
        // protocol 4: the name memoized and popped, the module pushed, the name recalled from the memo, then STACK_GLOBAL
        byte[] stackGlobal = Pickle(U(name), [(byte)'q', 0, (byte)'0'], U(module), [(byte)'h', 0, 0x93, (byte)')', (byte)'R', (byte)'.']);
        AssertCorrupt(MakeZip(("x/data.pkl", stackGlobal)), $"refuses global '{module}.{name}'", "(STACK_GLOBAL)");
    }

    [Theory]
    [InlineData(new byte[] { (byte)'(', (byte)'i', (byte)'o', (byte)'s', (byte)'\n', (byte)'s', (byte)'y', (byte)'s', (byte)'t', (byte)'e', (byte)'m', (byte)'\n', (byte)'.' }, "INST")]
    [InlineData(new byte[] { (byte)'(', (byte)'c', (byte)'c', (byte)'o', (byte)'l', (byte)'l', (byte)'e', (byte)'c', (byte)'t', (byte)'i', (byte)'o', (byte)'n', (byte)'s', (byte)'\n', (byte)'O', (byte)'r', (byte)'d', (byte)'e', (byte)'r', (byte)'e', (byte)'d', (byte)'D', (byte)'i', (byte)'c', (byte)'t', (byte)'\n', (byte)'o', (byte)'.' }, "OBJ")]
    [InlineData(new byte[] { 0x82, 0x01, (byte)'.' }, "EXT1")]
    [InlineData(new byte[] { (byte)'P', (byte)'0', (byte)'\n', (byte)'.' }, "PERSID")]
    [InlineData(new byte[] { (byte)'C', 0x01, 0x41, (byte)'.' }, "SHORT_BINBYTES")]
    [InlineData(new byte[] { (byte)'(', (byte)'d', (byte)'.' }, "DICT")]
    public void OpcodesThatConstructObjectsOrAreOutsideTorchsSubset_AreRefused(byte[] body, string opcode)
    {
        AssertCorrupt(MakeZip(("x/data.pkl", Pickle(body))), $"({opcode})");
    }

    [Fact]
    public void BuildOnAnythingButAnOrderedDict_IsRefused()
    {
        // EMPTY_LIST EMPTY_DICT BUILD: Razorvine would look for a __setstate__ method on the list by reflection
        AssertCorrupt(MakeZip(("x/data.pkl", Pickle([(byte)']', (byte)'}', (byte)'b', (byte)'.']))), "(BUILD)", "BUILD target");
    }

    [Fact]
    public void UnknownStorageClass_IsNamed()
    {
        byte[] pickle = TensorPickle("ComplexFloatStorage", "0", 4, [4], [1], 0);
        AssertCorrupt(MakeZip(("x/data.pkl", pickle), ("x/data/0", new byte[32])), "unknown storage class torch.ComplexFloatStorage", "FloatStorage");
    }

    [Fact]
    public void MissingStorage_IsNamed()
    {
        byte[] pickle = TensorPickle("FloatStorage", "7", 4, [4], [1], 0);
        AssertCorrupt(MakeZip(("x/data.pkl", pickle), ("x/data/0", new byte[16])), "storage '7' is missing", "'x/data/7'");
    }

    [Fact]
    public void StorageTooSmall_ForNumel_OrForSizeStrideAndOffset_IsNamed()
    {
        AssertCorrupt(MakeZip(("x/data.pkl", TensorPickle("FloatStorage", "0", 4, [4], [1], 0)), ("x/data/0", new byte[12])),
            "storage '0' is too small", "12 bytes", "needs 16");
        AssertCorrupt(MakeZip(("x/data.pkl", TensorPickle("FloatStorage", "0", 4, [2, 2], [1, 2], 1)), ("x/data/0", new byte[16])),
            "tensor in storage '0'", "outside the storage of 4 elements");
    }

    [Fact]
    public void HandMadeTensorPickle_WithStrides_IsGathered()
    {
        // a [2, 3] view with strides (1, 2) of storage [0 1 2 3 4 5]: rows are [0 2 4] and [1 3 5]
        float[] storage = [0, 1, 2, 3, 4, 5];
        string path = MakeZip(("archive/data.pkl", TensorPickle("FloatStorage", "0", 6, [2, 3], [1, 2], 0)),
            ("archive/data/0", MemoryMarshal.AsBytes(storage.AsSpan()).ToArray()));
        var tensor = Assert.IsType<StoredTensor>(TorchFile.Read(path));
        Assert.Equal([2L, 3L], tensor.Shape);
        Assert.Equal([0f, 2, 4, 1, 3, 5], tensor.ToFloat32());
    }

    [Fact]
    public void DictItems_KeepFileOrder_AndARepeatedKeyTakesTheLastValue()
    {
        // {'b': 1, 'a': 2, 'b': 3} in one SETITEMS, then 'c': 4 by SETITEM. Python gives {'b': 3, 'a': 2, 'c': 4}; Razorvine on
        // its own returns an unordered Hashtable whose 'b' is 1 (it applies a SETITEMS batch back to front).
        byte[] pickle = Pickle([(byte)'}', (byte)'('], U("b"), J(1), U("a"), J(2), U("b"), J(3), [(byte)'u'], U("c"), J(4), [(byte)'s', (byte)'.']);
        var dict = Assert.IsType<OrderedDictionary<string, object?>>(TorchFile.Read(MakeZip(("x/data.pkl", pickle))));
        Assert.Equal(["b", "a", "c"], dict.Keys);
        Assert.Equal([3L, 2L, 4L], dict.Values);
    }

    [Theory]
    [InlineData(new byte[] { (byte)'.' }, "(STOP): needs a value but the stack is empty")]
    [InlineData(new byte[] { (byte)'X', 0xFF, 0, 0, 0, (byte)'a' }, "ends inside this opcode's argument")]
    [InlineData(new byte[] { (byte)'K', 1 }, "ends without a STOP opcode")]
    [InlineData(new byte[] { (byte)'h', 9, (byte)'.' }, "memo index 9 was never stored")]
    [InlineData(new byte[] { (byte)'K', 1, (byte)'e', (byte)'.' }, "needs a MARK")]
    [InlineData(new byte[] { (byte)'K', 1, (byte)'(', (byte)'K', 2, (byte)'e', (byte)'.' }, "APPENDS target is an int, expected list")]
    [InlineData(new byte[] { (byte)'}', (byte)'K', 1, (byte)'K', 2, (byte)'s', (byte)'.' }, "a dict has a key of type int")]
    public void InvalidPickles_AreReportedWithTheFile(byte[] body, string fragment)
    {
        AssertCorrupt(MakeZip(("x/data.pkl", Pickle(body))), fragment);
    }

    private TorchFormatException AssertCorrupt(string path, params string[] fragments)
    {
        var e = Assert.Throws<TorchFormatException>(() => TorchFile.Read(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Equal(path, e.FilePath);
        foreach (string fragment in fragments) Assert.Contains(fragment, e.Message);
        return e;
    }

    private string MakeZip(params (string Name, byte[] Data)[] entries)
    {
        string path = _dir[$"hand-made-{Guid.NewGuid():N}.pt"];
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (entryName, data) in entries)
        {
            using Stream stream = zip.CreateEntry(entryName, CompressionLevel.NoCompression).Open();
            stream.Write(data);
        }
        return path;
    }

    /// <summary>PROTO 2, then the parts.</summary>
    private static byte[] Pickle(params byte[][] parts) => [0x80, 2, .. parts.SelectMany(p => p)];

    private static byte[] G(string module, string name) => [(byte)'c', .. Encoding.ASCII.GetBytes($"{module}\n{name}\n")];

    private static byte[] U(string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        return [(byte)'X', .. BitConverter.GetBytes(utf8.Length), .. utf8];
    }

    /// <summary>BININT.</summary>
    private static byte[] J(long value) => [(byte)'J', .. BitConverter.GetBytes(checked((int)value))];

    private static byte[] Ints(long[] values) => [(byte)'(', .. values.SelectMany(J), (byte)'t'];

    /// <summary>What torch.save writes for one tensor: _rebuild_tensor_v2(BINPERSID(('storage', torch.X, key, 'cpu', numel)), offset, size, stride, False, OrderedDict()).</summary>
    private static byte[] TensorPickle(string storageClass, string key, int numel, long[] size, long[] stride, int offset) => Pickle(
        G("torch._utils", "_rebuild_tensor_v2"), [(byte)'('],
        [(byte)'('], U("storage"), G("torch", storageClass), U(key), U("cpu"), J(numel), [(byte)'t', (byte)'Q'],
        J(offset), Ints(size), Ints(stride), [0x89],
        G("collections", "OrderedDict"), [(byte)')', (byte)'R', (byte)'t', (byte)'R', (byte)'.']);
}
