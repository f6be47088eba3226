using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Razorvine.Pickle;

namespace SaeCluster.Compute;

/// <summary>
/// Vets a <c>.pt</c> file's <c>data.pkl</c> before Razorvine.Pickle runs it, and rewrites its dictionary opcodes.
/// <para>
/// Why: Razorvine resolves GLOBAL/STACK_GLOBAL through a process-wide table and, for any name not in it, pushes a
/// <c>ClassDictConstructor</c> that happily "constructs" the unknown class; INST/OBJ/NEWOBJ do the same; BUILD calls a
/// <c>__setstate__</c> method found by reflection. None of that can be switched off. So this pass walks every opcode with
/// a symbolic stack and memo (kinds of values, and the text of strings) and refuses, before anything is constructed:
/// any global not in <see cref="AllowedGlobals"/>, any opcode outside the plain-data subset torch writes, and any
/// REDUCE/BUILD/APPEND/SETITEM whose operands are not of the kinds torch produces.
/// </para>
/// <para>
/// Dict order: Razorvine builds dicts as <see cref="System.Collections.Hashtable"/>s (unordered), and SETITEMS inserts each
/// batch back to front. The rewrite therefore turns EMPTY_DICT into <c>collections.OrderedDict()</c> (our
/// <see cref="PickledDict"/>), SETITEM into TUPLE2 BUILD and SETITEMS into LIST BUILD, so every item reaches
/// <see cref="PickledDict"/> in file order through its <c>__setstate__</c> overloads. FRAME is dropped (its lengths would no
/// longer match, and Razorvine ignores them).
/// </para>
/// </summary>
internal static class TorchPickleGuard
{
    public const string RebuildTensor = "torch._utils._rebuild_tensor_v2";
    public const string RebuildParameter = "torch._utils._rebuild_parameter";
    public const string OrderedDict = "collections.OrderedDict";

    /// <summary>Globals a torch file may name, as (module, name) exactly as GLOBAL spells them; all else is refused.</summary>
    public static readonly IReadOnlySet<(string Module, string Name)> AllowedGlobals = new HashSet<(string, string)>(
        [("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"), ("collections", "OrderedDict"),
         .. TorchStorageClasses.Names.Select(n => ("torch", n))]);

    private static readonly byte[] NewOrderedDict = [Opcodes.GLOBAL, .. "collections\nOrderedDict\n"u8, Opcodes.EMPTY_TUPLE, Opcodes.REDUCE];

    private enum Kind : byte { Mark, None, Bool, Int, Float, Str, Tuple, List, Dict, OrderedDict, Global, Tensor, Storage }

    /// <summary>A value on the symbolic stack: its kind, and the text of a string or the dotted name of a global.</summary>
    private readonly record struct Sym(Kind Kind, string? Text = null);

    /// <summary>
    /// Checks <paramref name="pickle"/> (the bytes of <c>data.pkl</c> in <paramref name="path"/>) and returns the rewritten
    /// pickle for Razorvine. Throws <see cref="TorchFormatException"/> naming the file and the offending global or opcode.
    /// </summary>
    public static byte[] CheckAndRewrite(ReadOnlySpan<byte> pickle, string path) => new Walker(pickle, path).Run();

    private ref struct Walker(ReadOnlySpan<byte> pickle, string path)
    {
        private readonly ReadOnlySpan<byte> _in = pickle;
        private readonly string _path = path;
        private readonly ArrayBufferWriter<byte> _out = new(pickle.Length + 256);
        private readonly List<Sym> _stack = [];
        private readonly Dictionary<long, Sym> _memo = [];
        private int _pos;
        private int _opStart;
        private string _opName = "";

        public byte[] Run()
        {
            while (_pos < _in.Length)
            {
                _opStart = _pos;
                byte op = _in[_pos++];
                _opName = Name(op);
                if (Step(op)) return _out.WrittenSpan.ToArray();
            }
            throw new TorchFormatException(_path, _in.IsEmpty ? "data.pkl is empty" : "data.pkl ends without a STOP opcode (truncated?)");
        }

        /// <summary>Handles one opcode; true at STOP.</summary>
        private bool Step(byte op)
        {
            switch (op)
            {
                case Opcodes.PROTO:
                    byte protocol = Take(1)[0];
                    if (protocol > Unpickler.HIGHEST_PROTOCOL) throw Invalid($"pickle protocol {protocol} is newer than the highest known ({Unpickler.HIGHEST_PROTOCOL})");
                    Copy();
                    break;
                case Opcodes.FRAME:
                    Take(8); // dropped: see the type's remarks
                    break;
                case Opcodes.STOP:
                    Pop();
                    Copy();
                    return true;
                case Opcodes.MARK: Push(Kind.Mark); Copy(); break;
                case Opcodes.POP: Pop(); Copy(); break;
                case Opcodes.POP_MARK: PopToMark(); Copy(); break;
                case Opcodes.DUP: Push(Peek()); Copy(); break;
                case Opcodes.NONE: Push(Kind.None); Copy(); break;
                case Opcodes.NEWTRUE:
                case Opcodes.NEWFALSE: Push(Kind.Bool); Copy(); break;
                case Opcodes.BININT1: Take(1); Push(Kind.Int); Copy(); break;
                case Opcodes.BININT2: Take(2); Push(Kind.Int); Copy(); break;
                case Opcodes.BININT: Take(4); Push(Kind.Int); Copy(); break;
                case Opcodes.INT:
                    string digits = Line();
                    if (!long.TryParse(digits, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out _))
                        throw Invalid($"INT argument '{digits}' is not a 64-bit integer");
                    Push(Kind.Int);
                    Copy();
                    break;
                case Opcodes.LONG1: Take(Take(1)[0]); Push(Kind.Int); Copy(); break;
                case Opcodes.LONG4: Take(Length(4)); Push(Kind.Int); Copy(); break;
                case Opcodes.BINFLOAT: Take(8); Push(Kind.Float); Copy(); break;
                case Opcodes.SHORT_BINUNICODE: PushString(Take(Take(1)[0])); break;
                case Opcodes.BINUNICODE: PushString(Take(Length(4))); break;
                case Opcodes.BINUNICODE8: PushString(Take(Length(8))); break;
                case Opcodes.EMPTY_TUPLE: Push(Kind.Tuple); Copy(); break;
                case Opcodes.TUPLE1: Pop(); Push(Kind.Tuple); Copy(); break;
                case Opcodes.TUPLE2: Pop(); Pop(); Push(Kind.Tuple); Copy(); break;
                case Opcodes.TUPLE3: Pop(); Pop(); Pop(); Push(Kind.Tuple); Copy(); break;
                case Opcodes.TUPLE: PopToMark(); Push(Kind.Tuple); Copy(); break;
                case Opcodes.EMPTY_LIST: Push(Kind.List); Copy(); break;
                case Opcodes.LIST: PopToMark(); Push(Kind.List); Copy(); break;
                case Opcodes.APPEND: Pop(); Expect(Peek(), "APPEND target", Kind.List); Copy(); break;
                case Opcodes.APPENDS: PopToMark(); Expect(Peek(), "APPENDS target", Kind.List); Copy(); break;
                case Opcodes.EMPTY_DICT:
                    Push(Kind.Dict);
                    _out.Write(NewOrderedDict);
                    break;
                case Opcodes.SETITEM:
                    Pop();
                    Pop();
                    Expect(Peek(), "SETITEM target", Kind.Dict, Kind.OrderedDict);
                    _out.Write([Opcodes.TUPLE2, Opcodes.BUILD]);
                    break;
                case Opcodes.SETITEMS:
                    if (PopToMark() % 2 != 0) throw Invalid("SETITEMS has an odd number of items (a key without a value)");
                    Expect(Peek(), "SETITEMS target", Kind.Dict, Kind.OrderedDict);
                    _out.Write([Opcodes.LIST, Opcodes.BUILD]);
                    break;
                case Opcodes.BUILD:
                    Expect(Pop(), "BUILD state", Kind.Dict, Kind.OrderedDict);
                    Expect(Peek(), "BUILD target (only an OrderedDict's attributes, such as a state_dict's _metadata, are accepted)", Kind.OrderedDict);
                    Copy();
                    break;
                case Opcodes.BINPUT: Memoize(Take(1)[0]); Copy(); break;
                case Opcodes.LONG_BINPUT: Memoize(Length(4)); Copy(); break;
                case Opcodes.MEMOIZE: Memoize(_memo.Count); Copy(); break;
                case Opcodes.BINGET: Recall(Take(1)[0]); Copy(); break;
                case Opcodes.LONG_BINGET: Recall(Length(4)); Copy(); break;
                case Opcodes.GLOBAL:
                    string module = Line(), name = Line();
                    PushGlobal(module, name);
                    Copy();
                    break;
                case Opcodes.STACK_GLOBAL:
                    Sym nameSym = Pop(), moduleSym = Pop();
                    Expect(moduleSym, "STACK_GLOBAL module", Kind.Str);
                    Expect(nameSym, "STACK_GLOBAL name", Kind.Str);
                    PushGlobal(moduleSym.Text!, nameSym.Text!);
                    Copy();
                    break;
                case Opcodes.REDUCE:
                    Expect(Pop(), "REDUCE arguments", Kind.Tuple);
                    Sym callable = Pop();
                    Expect(callable, "REDUCE callable", Kind.Global);
                    Push(callable.Text switch
                    {
                        RebuildTensor or RebuildParameter => Kind.Tensor,
                        OrderedDict => Kind.OrderedDict,
                        _ => throw Invalid($"calls {callable.Text}, which torch.save never calls (storage classes are only named in persistent ids)"),
                    });
                    Copy();
                    break;
                case Opcodes.BINPERSID:
                    Expect(Pop(), "BINPERSID persistent id", Kind.Tuple);
                    Push(Kind.Storage);
                    Copy();
                    break;
                case Opcodes.INST or Opcodes.OBJ or Opcodes.NEWOBJ or Opcodes.NEWOBJ_EX:
                    throw Invalid($"opcode {_opName} would construct an arbitrary object; torch files never use it, so loading refuses it");
                case Opcodes.EXT1 or Opcodes.EXT2 or Opcodes.EXT4:
                    throw Invalid($"opcode {_opName} loads a global from the copyreg extension registry; torch files never use it, so loading refuses it");
                default:
                    throw Invalid($"opcode {_opName} is not among those torch.save writes (plain containers, strings, numbers, tensors), so loading refuses it");
            }
            return false;
        }

        private void PushGlobal(string module, string name)
        {
            string dotted = module + "." + name;
            if (AllowedGlobals.Contains((module, name))) Push(new Sym(Kind.Global, dotted));
            else if (module == "torch" && name.EndsWith("Storage", StringComparison.Ordinal))
                throw Invalid($"unknown storage class torch.{name} (supported: {string.Join(", ", TorchStorageClasses.Names)})");
            else
                throw Invalid($"refuses global '{dotted}': loading only accepts {string.Join(", ", AllowedGlobals.Select(g => $"{g.Module}.{g.Name}").Order(StringComparer.Ordinal))}, " +
                              "so it never runs or constructs anything else a pickle names");
        }

        private void PushString(ReadOnlySpan<byte> utf8)
        {
            Push(new Sym(Kind.Str, Encoding.UTF8.GetString(utf8)));
            Copy();
        }

        private void Memoize(long index)
        {
            if (index > int.MaxValue) throw Invalid($"memo index {index} is out of range");
            _memo[index] = Peek();
        }

        private void Recall(long index)
        {
            if (!_memo.TryGetValue(index, out Sym sym)) throw Invalid($"memo index {index} was never stored");
            Push(sym);
        }

        /// <summary>Copies the current opcode and its argument to the output unchanged.</summary>
        private readonly void Copy() => _out.Write(_in[_opStart.._pos]);

        private readonly void Push(Kind kind) => _stack.Add(new Sym(kind));

        private readonly void Push(Sym sym) => _stack.Add(sym);

        private readonly Sym Peek()
        {
            if (_stack.Count == 0 || _stack[^1].Kind == Kind.Mark) throw Invalid("needs a value but the stack is empty");
            return _stack[^1];
        }

        private readonly Sym Pop()
        {
            Sym top = Peek();
            _stack.RemoveAt(_stack.Count - 1);
            return top;
        }

        /// <summary>Pops everything above the topmost MARK and the MARK itself; returns how many values there were.</summary>
        private readonly int PopToMark()
        {
            int mark = _stack.FindLastIndex(s => s.Kind == Kind.Mark);
            if (mark < 0) throw Invalid("needs a MARK but there is none");
            int count = _stack.Count - mark - 1;
            _stack.RemoveRange(mark, count + 1);
            return count;
        }

        private readonly void Expect(Sym sym, string role, params ReadOnlySpan<Kind> kinds)
        {
            if (kinds.IndexOf(sym.Kind) < 0)
                throw Invalid($"{role} is {Describe(sym)}, expected {string.Join(" or ", kinds.ToArray().Select(k => k.ToString().ToLowerInvariant()))}");
        }

        private ReadOnlySpan<byte> Take(long count)
        {
            if (count > _in.Length - _pos) throw Invalid("the pickle ends inside this opcode's argument (truncated?)");
            ReadOnlySpan<byte> taken = _in.Slice(_pos, (int)count);
            _pos += (int)count;
            return taken;
        }

        /// <summary>An unsigned little-endian length or index of 4 or 8 bytes.</summary>
        private long Length(int bytes)
        {
            ReadOnlySpan<byte> raw = Take(bytes);
            ulong value = bytes == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(raw) : BinaryPrimitives.ReadUInt64LittleEndian(raw);
            return value <= int.MaxValue ? (long)value : throw Invalid($"argument {value} is out of range");
        }

        /// <summary>A newline-terminated ASCII argument (GLOBAL's module and name, INT's digits), without the newline.</summary>
        private string Line()
        {
            int newline = _in[_pos..].IndexOf((byte)'\n');
            if (newline < 0) throw Invalid("the pickle ends inside this opcode's argument (truncated?)");
            ReadOnlySpan<byte> text = Take(newline + 1)[..newline];
            foreach (byte b in text)
                if (b is < 0x20 or > 0x7E) throw Invalid("argument is not printable ASCII");
            return Encoding.ASCII.GetString(text);
        }

        private readonly TorchFormatException Invalid(string problem) =>
            new(_path, $"data.pkl at byte {_opStart} ({_opName}): {problem}");

        private static string Describe(Sym sym) => sym.Kind switch
        {
            Kind.Str => $"the string '{sym.Text}'",
            Kind.Global => $"the global {sym.Text}",
            _ => Article(sym.Kind),
        };

        private static string Article(Kind kind)
        {
            string name = kind.ToString().ToLowerInvariant();
            return ("aeiou".Contains(name[0]) ? "an " : "a ") + name;
        }

        private static string Name(byte op) => op switch
        {
            Opcodes.PROTO => "PROTO", Opcodes.FRAME => "FRAME", Opcodes.STOP => "STOP", Opcodes.MARK => "MARK",
            Opcodes.POP => "POP", Opcodes.POP_MARK => "POP_MARK", Opcodes.DUP => "DUP", Opcodes.NONE => "NONE",
            Opcodes.NEWTRUE => "NEWTRUE", Opcodes.NEWFALSE => "NEWFALSE", Opcodes.INT => "INT", Opcodes.BININT => "BININT",
            Opcodes.BININT1 => "BININT1", Opcodes.BININT2 => "BININT2", Opcodes.LONG => "LONG", Opcodes.LONG1 => "LONG1",
            Opcodes.LONG4 => "LONG4", Opcodes.FLOAT => "FLOAT", Opcodes.BINFLOAT => "BINFLOAT", Opcodes.STRING => "STRING",
            Opcodes.BINSTRING => "BINSTRING", Opcodes.SHORT_BINSTRING => "SHORT_BINSTRING", Opcodes.UNICODE => "UNICODE",
            Opcodes.BINUNICODE => "BINUNICODE", Opcodes.SHORT_BINUNICODE => "SHORT_BINUNICODE", Opcodes.BINUNICODE8 => "BINUNICODE8",
            Opcodes.BINBYTES => "BINBYTES", Opcodes.SHORT_BINBYTES => "SHORT_BINBYTES", Opcodes.BINBYTES8 => "BINBYTES8",
            Opcodes.BYTEARRAY8 => "BYTEARRAY8", Opcodes.NEXT_BUFFER => "NEXT_BUFFER", Opcodes.READONLY_BUFFER => "READONLY_BUFFER",
            Opcodes.EMPTY_TUPLE => "EMPTY_TUPLE", Opcodes.TUPLE => "TUPLE", Opcodes.TUPLE1 => "TUPLE1", Opcodes.TUPLE2 => "TUPLE2",
            Opcodes.TUPLE3 => "TUPLE3", Opcodes.EMPTY_LIST => "EMPTY_LIST", Opcodes.LIST => "LIST", Opcodes.APPEND => "APPEND",
            Opcodes.APPENDS => "APPENDS", Opcodes.EMPTY_DICT => "EMPTY_DICT", Opcodes.DICT => "DICT", Opcodes.SETITEM => "SETITEM",
            Opcodes.SETITEMS => "SETITEMS", Opcodes.EMPTY_SET => "EMPTY_SET", Opcodes.ADDITEMS => "ADDITEMS",
            Opcodes.FROZENSET => "FROZENSET", Opcodes.PUT => "PUT", Opcodes.BINPUT => "BINPUT", Opcodes.LONG_BINPUT => "LONG_BINPUT",
            Opcodes.MEMOIZE => "MEMOIZE", Opcodes.GET => "GET", Opcodes.BINGET => "BINGET", Opcodes.LONG_BINGET => "LONG_BINGET",
            Opcodes.GLOBAL => "GLOBAL", Opcodes.STACK_GLOBAL => "STACK_GLOBAL", Opcodes.REDUCE => "REDUCE", Opcodes.BUILD => "BUILD",
            Opcodes.INST => "INST", Opcodes.OBJ => "OBJ", Opcodes.NEWOBJ => "NEWOBJ", Opcodes.NEWOBJ_EX => "NEWOBJ_EX",
            Opcodes.EXT1 => "EXT1", Opcodes.EXT2 => "EXT2", Opcodes.EXT4 => "EXT4", Opcodes.PERSID => "PERSID",
            Opcodes.BINPERSID => "BINPERSID",
            _ => $"0x{op:X2}",
        };
    }
}
