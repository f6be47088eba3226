using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace SaeCluster.Compute.Tests;

/// <summary>
/// TorchFile, Npy and Npz against the real thing: Debian's PyTorch and numpy under /usr/bin/python3 write files that C# reads,
/// and load files that C# wrote. Missing packages fail these tests (see <see cref="SaeCluster.Testing.DebianTorch"/>).
/// </summary>
public sealed class PythonInteropTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string TorchWrites = """
        import io, json, collections
        import numpy as np
        torch.manual_seed(0)
        expected = []

        def save(obj, file, tensors, protocol=2):
            torch.save(obj, file, pickle_protocol=protocol)
            for path, t in tensors:
                npy = file + '__' + '.'.join(map(str, path)) + '.npy'
                np.save(npy, (t.float() if t.dtype == torch.bfloat16 else t).detach().contiguous().numpy())
                expected.append({'file': file, 'path': path, 'npy': npy, 'dtype': str(t.dtype), 'shape': list(t.shape)})

        # dictionary_learning style: the encoder [256, 64] is a transposed clone, so its strides are (1, 256): column-major
        w = torch.randn(64, 256)
        enc = w.T.clone()
        assert enc.stride() == (1, 256) and not enc.is_contiguous()
        ae = {'encoder.weight': enc, 'decoder.weight': w, 'k': torch.tensor(32, dtype=torch.int32), 'threshold': torch.tensor(0.125)}
        save(ae, 'ae.pt', [([k], v) for k, v in ae.items()])
        # protocol 4: STACK_GLOBAL, SHORT_BINUNICODE, MEMOIZE and FRAME instead of GLOBAL, BINUNICODE and BINPUT
        save(ae, 'ae_protocol4.pt', [([k], v) for k, v in ae.items()], protocol=4)

        # a state_dict saved as is: an OrderedDict carrying _metadata (BUILD)
        sd = torch.nn.Linear(8, 16).state_dict()
        assert hasattr(sd, '_metadata')
        save(sd, 'state.pt', [([k], v) for k, v in sd.items()])

        # nn.Parameter objects
        params = {'W': torch.nn.Parameter(torch.randn(4, 5)), 'b': torch.nn.Parameter(torch.zeros(5), requires_grad=False)}
        save(params, 'params.pt', [([k], v) for k, v in params.items()])

        # every dtype, views with storage offsets sharing one storage, a permuted 3-d tensor, an empty one, one tensor twice
        base = torch.arange(60, dtype=torch.float64).reshape(6, 10)
        d = {'f16': torch.randn(3, 7).half(), 'bf16': torch.randn(5, 3).bfloat16(), 'f64': torch.randn(4, dtype=torch.float64),
             'i64': torch.randint(-2**40, 2**40, (2, 3), dtype=torch.int64), 'i32': torch.randint(-2**31, 2**31 - 1, (4,), dtype=torch.int32),
             'i16': torch.randint(-30000, 30000, (9,), dtype=torch.int16), 'i8': torch.randint(-128, 127, (2, 2, 2), dtype=torch.int8),
             'u8': torch.randint(0, 255, (11,), dtype=torch.uint8), 'bool': torch.rand(3, 4) > 0.5,
             'slice': base[2:, 1:4], 'row': base[3], 'permuted': torch.randn(3, 4, 5).permute(2, 0, 1), 'empty': torch.zeros(0, 3)}
        assert d['slice'].storage_offset() == 21 and d['permuted'].stride() == (1, 20, 5)
        d['alias'] = d['f16']
        save(d, 'dtypes.pt', [([k], v) for k, v in d.items()])

        # FunctionGemma style: a plain dict with nested plain values
        fg = {'model_name': 'google/functiongemma-270m-it', 'layer_idx': 3, 'd_in': 64, 'd_sae': 256,
              'W_enc': torch.randn(64, 256), 'b_enc': torch.zeros(256), 'W_dec': torch.randn(256, 64), 'b_dec': torch.randn(64),
              'history': {'loss': [0.5, 0.25], 'mse': [1.5], 'l0': [12.0, 10.0]}, 'flags': (True, None, -7, 2**40, 'x', 1e-300)}
        save(fg, 'sae_layer_03.pt', [([k], fg[k]) for k in ('W_enc', 'b_enc', 'W_dec', 'b_dec')])

        # saved to a stream: the archive folder is 'archive', not the file's name
        buf = io.BytesIO()
        torch.save([torch.arange(5), {'nested': torch.ones(2, 2)}], buf)
        open('stream.pt', 'wb').write(buf.getvalue())
        expected.append({'file': 'stream.pt', 'path': [0], 'npy': None, 'dtype': 'torch.int64', 'shape': [5]})

        json.dump(expected, open('expected.json', 'w'))
        print('OK')
        """;

    [Fact]
    public void FilesWrittenByTorchSave_AreReadBitExactly()
    {
        Assert.Equal("OK", DebianTorch.RunCode(TorchWrites, _dir.Path).Trim());
        using JsonDocument expected = JsonDocument.Parse(File.ReadAllText(_dir["expected.json"]));
        var files = new Dictionary<string, object?>();
        int compared = 0;
        foreach (JsonElement item in expected.RootElement.EnumerateArray())
        {
            string file = item.GetProperty("file").GetString()!;
            if (!files.TryGetValue(file, out object? root)) files[file] = root = TorchFile.Read(_dir[file]);
            object? value = root;
            foreach (JsonElement step in item.GetProperty("path").EnumerateArray())
                value = step.ValueKind == JsonValueKind.Number
                    ? Assert.IsType<List<object?>>(value)[step.GetInt32()]
                    : Assert.IsType<OrderedDictionary<string, object?>>(value)[step.GetString()!];
            var tensor = Assert.IsType<StoredTensor>(value);
            string where = $"{file} {item.GetProperty("path")}";
            Assert.True(TorchDtype(item.GetProperty("dtype").GetString()!) == tensor.Dtype, $"{where}: {tensor.Dtype}");
            Assert.Equal(item.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()), tensor.Shape);
            if (item.GetProperty("npy").GetString() is not { } npy) continue;
            StoredTensor reference = Npy.Read(_dir[npy]);
            Assert.Equal(tensor.Shape, reference.Shape);
            byte[] actual = tensor.Dtype == SafetensorsDtype.BF16 ? MemoryMarshal.AsBytes(tensor.ToFloat32().AsSpan()).ToArray() : tensor.Data;
            Assert.True(reference.Data.AsSpan().SequenceEqual(actual), $"{where}: data differs from {npy}");
            compared++;
        }
        Assert.Equal(30, compared);

        var ae = (OrderedDictionary<string, object?>)files["ae.pt"]!;
        Assert.Equal(["encoder.weight", "decoder.weight", "k", "threshold"], ae.Keys);
        Assert.Equal(32, ((StoredTensor)ae["k"]!).ScalarAsInt64());
        Assert.Equal(0.125, ((StoredTensor)ae["threshold"]!).ScalarAsDouble());
        // the transposed clone really is the transpose of the decoder
        float[] encoder = ((StoredTensor)ae["encoder.weight"]!).ToFloat32(), decoder = ((StoredTensor)ae["decoder.weight"]!).ToFloat32();
        Assert.Equal(decoder[1 * 256 + 7], encoder[7 * 64 + 1]);

        Assert.Equal(["weight", "bias"], ((OrderedDictionary<string, object?>)files["state.pt"]!).Keys);

        var dtypes = (OrderedDictionary<string, object?>)files["dtypes.pt"]!;
        Assert.Same(dtypes["f16"], dtypes["alias"]);
        Assert.Equal([21.0f, 22, 23, 31, 32, 33], ((StoredTensor)dtypes["slice"]!).ToFloat32()[..6]);

        var fg = (OrderedDictionary<string, object?>)files["sae_layer_03.pt"]!;
        Assert.Equal(["model_name", "layer_idx", "d_in", "d_sae", "W_enc", "b_enc", "W_dec", "b_dec", "history", "flags"], fg.Keys);
        Assert.Equal("google/functiongemma-270m-it", fg["model_name"]);
        Assert.Equal(3L, fg["layer_idx"]);
        Assert.Equal(256L, fg["d_sae"]);
        var history = Assert.IsType<OrderedDictionary<string, object?>>(fg["history"]);
        Assert.Equal(["loss", "mse", "l0"], history.Keys);
        Assert.Equal(new List<object?> { 0.5, 0.25 }, history["loss"]);
        Assert.Equal(new object?[] { true, null, -7L, 1L << 40, "x", 1e-300 }, Assert.IsType<object?[]>(fg["flags"]));

        using (ZipArchive zip = ZipFile.OpenRead(_dir["stream.pt"]))
            Assert.All(zip.Entries, e => Assert.StartsWith("archive/", e.FullName));
        var stream = Assert.IsType<List<object?>>(files["stream.pt"]);
        Assert.Equal([0L, 1, 2, 3, 4], ((StoredTensor)stream[0]!).ToInt64());
        Assert.Equal([1f, 1, 1, 1], ((StoredTensor)((OrderedDictionary<string, object?>)stream[1]!)["nested"]!).ToFloat32());
    }

    private const string TorchLoads = """
        import math
        d = torch.load('cs.pt')
        assert list(d.keys()) == ['model_name', 'layer_idx', 'W_enc', 'f16', 'bf16', 'f64', 'i64', 'k', 'i16', 'i8', 'u8', 'bool',
                                  'threshold', 'big', 'empty', 'alias', 'history', 'tuple', 'none'], list(d.keys())
        assert d['model_name'] == 'google/functiongemma-270m-it' and d['layer_idx'] == 3 and d['none'] is None
        def check(name, dtype, shape, expected):
            t = d[name]
            assert isinstance(t, torch.Tensor), (name, type(t))
            assert t.dtype == dtype, (name, t.dtype)
            assert tuple(t.shape) == shape, (name, t.shape)
            assert t.is_contiguous(), name
            assert torch.equal(t, expected.to(dtype).reshape(shape)), (name, t, expected)
        check('W_enc', torch.float32, (4, 3), torch.arange(12) * 0.5 - 3)
        check('f16', torch.float16, (2, 3), torch.arange(6) * 0.25)
        check('bf16', torch.bfloat16, (3,), torch.tensor([1.0, -2.0, 0.5]))
        check('f64', torch.float64, (2, 2), torch.tensor([math.pi, -1e300, 1e-300, 0.0], dtype=torch.float64))
        check('i64', torch.int64, (3,), torch.tensor([-2**40, 0, 2**40]))
        check('k', torch.int32, (), torch.tensor(64))
        check('i16', torch.int16, (2,), torch.tensor([-30000, 30000]))
        check('i8', torch.int8, (1, 2, 2), torch.tensor([-128, -1, 0, 127]))
        check('u8', torch.uint8, (2,), torch.tensor([0, 255]))
        check('bool', torch.bool, (3,), torch.tensor([True, False, True]))
        check('threshold', torch.float32, (), torch.tensor(0.125))
        check('big', torch.float32, (512, 1024), torch.arange(512 * 1024) % 251)
        check('empty', torch.float32, (0, 3), torch.zeros(0))
        assert d['alias'] is d['W_enc']
        assert d['history'] == {'loss': [0.5, 0.25], 'l0': [12, 10]} and list(d['history']) == ['loss', 'l0'], d['history']
        assert d['tuple'] == (1, 'two', 3.0, True, None) and type(d['tuple']) is tuple, d['tuple']
        print('OK')
        """;

    [Fact]
    public void FilesWrittenByTorchFile_LoadInPyTorch()
    {
        var w = StoredTensor.FromFloat32(Enumerable.Range(0, 12).Select(i => i * 0.5f - 3).ToArray(), [4, 3]);
        var root = new Dictionary<string, object?>
        {
            ["model_name"] = "google/functiongemma-270m-it",
            ["layer_idx"] = 3,
            ["W_enc"] = w,
            ["f16"] = StoredTensor.FromFloat32(Enumerable.Range(0, 6).Select(i => i * 0.25f).ToArray(), [2, 3], SafetensorsDtype.F16),
            ["bf16"] = StoredTensor.FromFloat32([1f, -2f, 0.5f], [3], SafetensorsDtype.BF16),
            ["f64"] = Raw<double>(SafetensorsDtype.F64, [2, 2], Math.PI, -1e300, 1e-300, 0.0),
            ["i64"] = Raw<long>(SafetensorsDtype.I64, [3], -(1L << 40), 0, 1L << 40),
            ["k"] = StoredTensor.Scalar(64),
            ["i16"] = Raw<short>(SafetensorsDtype.I16, [2], -30000, 30000),
            ["i8"] = Raw<sbyte>(SafetensorsDtype.I8, [1, 2, 2], -128, -1, 0, 127),
            ["u8"] = Raw<byte>(SafetensorsDtype.U8, [2], 0, 255),
            ["bool"] = Raw<byte>(SafetensorsDtype.BOOL, [3], 1, 0, 1),
            ["threshold"] = StoredTensor.ScalarFloat(0.125f),
            ["big"] = StoredTensor.FromFloat32(Enumerable.Range(0, 512 * 1024).Select(i => (float)(i % 251)).ToArray(), [512, 1024]),
            ["empty"] = StoredTensor.FromFloat32([], [0, 3]),
            ["alias"] = w,
            ["history"] = new Dictionary<string, object?> { ["loss"] = new List<object?> { 0.5, 0.25 }, ["l0"] = new List<object?> { 12, 10L } },
            ["tuple"] = new object?[] { 1, "two", 3.0, true, null },
            ["none"] = null,
        };
        TorchFile.Write(_dir["cs.pt"], root);
        Assert.Equal("OK", DebianTorch.RunCode(TorchLoads, _dir.Path).Trim());
    }

    private const string NumpyWrites = """
        import numpy as np
        a = (np.arange(12, dtype='<f4') * 0.5).reshape(3, 4)
        np.save('c.npy', a)
        f = np.asfortranarray(np.arange(24, dtype='<i8').reshape(2, 3, 4))
        assert f.flags.f_contiguous and not f.flags.c_contiguous
        np.save('fortran.npy', f)
        np.save('scalar.npy', np.array(3.5))
        np.save('big_endian.npy', np.array([1.5, -2.0, 1e300], dtype='>f8'))
        np.save('mixed.npy', np.array([[True, False, True]]))
        np.save('u16.npy', np.array([0, 1, 65535], dtype='<u2'))
        np.save('f16.npy', np.array([0.5, -1.0], dtype='<f2'))
        np.savez('plain.npz', W_enc=a, b_enc=np.arange(4, dtype='<i4'), threshold=np.float32(0.25))
        np.savez_compressed('compressed.npz', W_dec=np.zeros((50, 40), dtype='<f4'), fortran=f)
        print('OK')
        """;

    private const string NumpyLoads = """
        import numpy as np
        import zipfile
        a = np.load('cs_c.npy')
        assert a.dtype == np.float32 and a.shape == (3, 4) and (a == (np.arange(12) * 0.5).reshape(3, 4)).all(), a
        s = np.load('cs_scalar.npy')
        assert s.dtype == np.int32 and s.shape == () and s == 7, s
        b = np.load('cs_bool.npy')
        assert b.dtype == np.bool_ and b.tolist() == [True, False], b
        h = np.load('cs_f16.npy')
        assert h.dtype == np.float16 and h.tolist() == [[0.5], [-1.0]], h
        for name in ('cs_plain.npz', 'cs_compressed.npz'):
            z = np.load(name)
            assert z.files == ['W_enc', 'k', 'i64'], z.files
            assert (z['W_enc'] == a).all() and z['k'] == 7 and z['i64'].dtype == np.int64 and z['i64'].tolist() == [-5, 2**40]
        assert {i.compress_type for i in zipfile.ZipFile('cs_plain.npz').infolist()} == {zipfile.ZIP_STORED}
        assert {i.compress_type for i in zipfile.ZipFile('cs_compressed.npz').infolist()} == {zipfile.ZIP_DEFLATED}
        print('OK')
        """;

    [Fact]
    public void Numpy_NpyAndNpz_BothWays()
    {
        Assert.Equal("OK", DebianTorch.RunCode(NumpyWrites, _dir.Path).Trim());
        float[] a = [.. Enumerable.Range(0, 12).Select(i => i * 0.5f)];
        StoredTensor c = Npy.Read(_dir["c.npy"]);
        Assert.Equal([3L, 4L], c.Shape);
        Assert.Equal(a, c.ToFloat32());
        StoredTensor fortran = Npy.Read(_dir["fortran.npy"]);
        Assert.Equal([2L, 3L, 4L], fortran.Shape);
        Assert.Equal(Enumerable.Range(0, 24).Select(i => (long)i), fortran.ToInt64());
        StoredTensor scalar = Npy.Read(_dir["scalar.npy"]);
        Assert.Empty(scalar.Shape);
        Assert.Equal(3.5, scalar.ScalarAsDouble());
        Assert.Equal([1.5f, -2f, float.PositiveInfinity], Npy.Read(_dir["big_endian.npy"]).ToFloat32());
        Assert.Equal(1e300, BitConverter.ToDouble(Npy.Read(_dir["big_endian.npy"]).Data, 16));
        StoredTensor mixed = Npy.Read(_dir["mixed.npy"]);
        Assert.Equal(SafetensorsDtype.BOOL, mixed.Dtype);
        Assert.Equal([1L, 0, 1], mixed.ToInt64());
        Assert.Equal([0L, 1, 65535], Npy.Read(_dir["u16.npy"]).ToInt64());
        Assert.Equal([0.5f, -1f], Npy.Read(_dir["f16.npy"]).ToFloat32());

        OrderedDictionary<string, StoredTensor> plain = Npz.Read(_dir["plain.npz"]);
        Assert.Equal(["W_enc", "b_enc", "threshold"], plain.Keys);
        Assert.Equal(a, plain["W_enc"].ToFloat32());
        Assert.Equal([0L, 1, 2, 3], plain["b_enc"].ToInt64());
        Assert.Equal(0.25, plain["threshold"].ScalarAsDouble());
        OrderedDictionary<string, StoredTensor> compressed = Npz.Read(_dir["compressed.npz"]);
        Assert.Equal(["W_dec", "fortran"], compressed.Keys);
        Assert.Equal(new float[2000], compressed["W_dec"].ToFloat32());
        Assert.Equal(fortran.Data, compressed["fortran"].Data);

        var cs = StoredTensor.FromFloat32(a, [3, 4]);
        Npy.Write(_dir["cs_c.npy"], cs);
        Npy.Write(_dir["cs_scalar.npy"], StoredTensor.Scalar(7));
        Npy.Write(_dir["cs_bool.npy"], Raw<byte>(SafetensorsDtype.BOOL, [2], 1, 0));
        Npy.Write(_dir["cs_f16.npy"], StoredTensor.FromFloat32([0.5f, -1f], [2, 1], SafetensorsDtype.F16));
        KeyValuePair<string, StoredTensor>[] members =
            [new("W_enc", cs), new("k", StoredTensor.Scalar(7)), new("i64", Raw<long>(SafetensorsDtype.I64, [2], -5, 1L << 40))];
        Npz.Write(_dir["cs_plain.npz"], members);
        Npz.Write(_dir["cs_compressed.npz"], members, compressed: true);
        Assert.Equal("OK", DebianTorch.RunCode(NumpyLoads, _dir.Path).Trim());
    }

    private static SafetensorsDtype TorchDtype(string name) => name switch
    {
        "torch.float32" => SafetensorsDtype.F32,
        "torch.float64" => SafetensorsDtype.F64,
        "torch.float16" => SafetensorsDtype.F16,
        "torch.bfloat16" => SafetensorsDtype.BF16,
        "torch.int64" => SafetensorsDtype.I64,
        "torch.int32" => SafetensorsDtype.I32,
        "torch.int16" => SafetensorsDtype.I16,
        "torch.int8" => SafetensorsDtype.I8,
        "torch.uint8" => SafetensorsDtype.U8,
        "torch.bool" => SafetensorsDtype.BOOL,
        _ => throw new ArgumentException($"unexpected torch dtype {name}"),
    };

    private static StoredTensor Raw<T>(SafetensorsDtype dtype, long[] shape, params T[] values) where T : unmanaged =>
        new(dtype, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
}
