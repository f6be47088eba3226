using System.Text.Json.Nodes;

namespace SaeCluster.Sae;

/// <summary>An SAE read from disk: the weights, the format they came in, the file or folder read, and what the reader noticed.</summary>
public sealed record LoadedSae(SaeWeights Weights, SaeFormat Format, string Location, string Detail);

/// <summary>
/// Finds, reads and writes SAEs in every format SaeCluster knows. A path may be the SAE's folder or any of its
/// files; the format is detected from what is there unless given.
/// </summary>
public static class SaeFiles
{
    /// <summary>The format of the SAE at <paramref name="path"/> and the file or folder its reader takes.</summary>
    public static (SaeFormat Format, string Location) Detect(string path)
    {
        path = Path.GetFullPath(path);
        if (File.Exists(path)) return DetectFile(path);
        if (!Directory.Exists(path)) throw new DataException(path, "no such file or folder");
        if (SaeLensFormat.Matches(path)) return (SaeFormat.SaeLens, path);
        if (SparsifyFormat.Matches(path)) return (SaeFormat.Sparsify, path);
        if (File.Exists(Path.Combine(path, GemmaScopeFormat.ParamsFile))) return (SaeFormat.GemmaScope, Path.Combine(path, GemmaScopeFormat.ParamsFile));
        if (DictionaryLearningFormat.Matches(path)) return (SaeFormat.DictLearn, Path.Combine(path, DictionaryLearningFormat.WeightsFile));
        var layers = Directory.GetFiles(path, "sae_layer_*.pt").Order(StringComparer.Ordinal).ToArray();
        if (layers.Length == 1) return (SaeFormat.FunctionGemma, layers[0]);
        if (layers.Length > 1) throw new DataException(path, $"holds {layers.Length} SAEs ({string.Join(", ", layers.Select(Path.GetFileName))}); pass one of them");
        var hookpoints = SparsifyFormat.Hookpoints(path);
        if (hookpoints.Length == 1) return (SaeFormat.Sparsify, hookpoints[0]);
        if (hookpoints.Length > 1) throw new DataException(path, $"is a sparsify run with {hookpoints.Length} hookpoints ({string.Join(", ", hookpoints.Select(Path.GetFileName))}); pass one of them");
        var entries = Directory.EnumerateFileSystemEntries(path).Select(Path.GetFileName).Order(StringComparer.Ordinal).Take(8).ToArray();
        throw new DataException(path, $"no SAE found (expected SAELens cfg.json + sae_weights.safetensors, Gemma Scope params.npz, dictionary_learning ae.pt + config.json, sparsify cfg.json + sae.safetensors or sae_layer_NN.pt; it holds {(entries.Length == 0 ? "nothing" : string.Join(", ", entries))})");
    }

    static (SaeFormat, string) DetectFile(string file)
    {
        string name = Path.GetFileName(file), dir = Path.GetDirectoryName(file)!;
        if (name.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) return (SaeFormat.GemmaScope, file);
        if (name == SaeLensFormat.WeightsFile || name == SaeLensFormat.SparsityFile) return (SaeFormat.SaeLens, dir);
        if (name == SparsifyFormat.WeightsFile) return (SaeFormat.Sparsify, dir);
        if (name == "cfg.json") return SparsifyFormat.Matches(dir) ? (SaeFormat.Sparsify, dir) : (SaeFormat.SaeLens, dir);
        if (name == DictionaryLearningFormat.ConfigFile) return (SaeFormat.DictLearn, Path.Combine(dir, DictionaryLearningFormat.WeightsFile));
        if (name.EndsWith(".pt", StringComparison.OrdinalIgnoreCase))
            return FunctionGemmaFormat.IsFileName(name) || !File.Exists(Path.Combine(dir, DictionaryLearningFormat.ConfigFile))
                ? (SaeFormat.FunctionGemma, file) : (SaeFormat.DictLearn, file);
        throw new DataException(file, "not an SAE file this tool reads (.npz, .pt, sae_weights.safetensors, sae.safetensors, cfg.json or config.json)");
    }

    /// <summary>
    /// Every SAE at or below <paramref name="path"/>: the path itself when it is one, else each folder below it that is
    /// one (a run's or a sweep's outputs), not looking inside an SAE's folder (where its other formats are).
    /// </summary>
    public static IReadOnlyList<string> FindAll(string path)
    {
        path = Path.GetFullPath(path);
        try { Detect(path); return [path]; }
        catch (DataException) when (Directory.Exists(path)) { }
        var found = new List<string>();
        void Walk(string dir)
        {
            foreach (var sub in Directory.GetDirectories(dir).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(sub);
                if (name.StartsWith('.') || name is "checkpoint" or "logs" or "shards" or "grains") continue;
                try { Detect(sub); found.Add(sub); }
                catch (DataException) { Walk(sub); }
            }
        }
        Walk(path);
        return found.Count > 0 ? found : throw new DataException(path, "holds no SAE (nor any folder below it)");
    }

    /// <summary>Reads the SAE at <paramref name="path"/>, in <paramref name="format"/> when given, else the detected one.</summary>
    public static LoadedSae Read(string path, SaeFormat? format = null)
    {
        var (f, location) = format is SaeFormat given ? (given, Locate(path, given)) : Detect(path);
        var (weights, detail) = f switch
        {
            SaeFormat.SaeLens => SaeLensFormat.Read(location),
            SaeFormat.GemmaScope => GemmaScopeFormat.Read(location),
            SaeFormat.DictLearn => DictionaryLearningFormat.Read(location, Path.Combine(Path.GetDirectoryName(location)!, DictionaryLearningFormat.ConfigFile)),
            SaeFormat.Sparsify => SparsifyFormat.Read(location),
            _ => FunctionGemmaFormat.Read(location),
        };
        return new LoadedSae(weights, f, location, detail);
    }

    // where a format's reader looks, given a folder or one of its files
    static string Locate(string path, SaeFormat format)
    {
        path = Path.GetFullPath(path);
        bool isFile = File.Exists(path);
        if (!isFile && !Directory.Exists(path)) throw new DataException(path, "no such file or folder");
        string dir = isFile ? Path.GetDirectoryName(path)! : path;
        string Need(string file) => File.Exists(file) ? file : throw new DataException(file, $"not found (a {format.Title()} SAE needs it)");
        switch (format)
        {
            case SaeFormat.SaeLens:
                Need(Path.Combine(dir, SaeLensFormat.CfgFile)); Need(Path.Combine(dir, SaeLensFormat.WeightsFile));
                return dir;
            case SaeFormat.Sparsify:
                if (!isFile && SparsifyFormat.Hookpoints(dir) is { Length: 1 } one && !File.Exists(Path.Combine(dir, SparsifyFormat.CfgFile))) return one[0];
                Need(Path.Combine(dir, SparsifyFormat.CfgFile)); Need(Path.Combine(dir, SparsifyFormat.WeightsFile));
                return dir;
            case SaeFormat.GemmaScope:
                return isFile ? path : Need(Path.Combine(dir, GemmaScopeFormat.ParamsFile));
            case SaeFormat.DictLearn:
                string ae = isFile && path.EndsWith(".pt", StringComparison.OrdinalIgnoreCase) ? path : Need(Path.Combine(dir, DictionaryLearningFormat.WeightsFile));
                Need(Path.Combine(dir, DictionaryLearningFormat.ConfigFile));
                return ae;
            default:
                if (isFile) return path;
                var layers = Directory.GetFiles(dir, "sae_layer_*.pt");
                return layers.Length == 1 ? layers[0] : throw new DataException(dir, $"holds {layers.Length} sae_layer_NN.pt files; pass one");
        }
    }

    /// <summary>Why <paramref name="w"/> has no exact form in <paramref name="format"/>, or null when it has one.</summary>
    public static string? CannotWrite(SaeWeights w, SaeFormat format)
    {
        if (format != SaeFormat.SaeLens && w.Normalization.ChangesInput())
            return $"normalize_activations = {w.Normalization.ToName()} transforms each input; only SAELens files can say so";
        return CannotWrite(w.Architecture, format);
    }

    /// <summary>Why an SAE of <paramref name="architecture"/> has no form in <paramref name="format"/> (SAEs we train: no input normalisation), or null.</summary>
    public static string? CannotWrite(SaeArchitecture architecture, SaeFormat format) => format switch
    {
        SaeFormat.GemmaScope when architecture == SaeArchitecture.TopK => "Gemma Scope SAEs are JumpReLU; a per-token top-k has no threshold form",
        SaeFormat.Sparsify when architecture != SaeArchitecture.TopK => $"sparsify coders are per-token top-k; a {architecture.ToName()} SAE has no such form",
        SaeFormat.FunctionGemma when architecture != SaeArchitecture.Relu => $"FunctionGemma SAEs are plain ReLU; a {architecture.ToName()} SAE has no such form",
        _ => null,
    };

    /// <summary>
    /// Writes <paramref name="w"/> in <paramref name="format"/> into the existing folder <paramref name="folder"/>.
    /// Returns the main file (or folder) written and a note when the written SAE's codes differ from the source's
    /// by design (dictionary_learning's unit-norm decoder).
    /// </summary>
    public static (string Path, string? Note) WriteInto(SaeWeights w, SaeFormat format, string folder,
        TrainingHistory? history = null, JsonObject? saeLensExtra = null)
    {
        if (CannotWrite(w, format) is string why) throw new DataException(folder, $"cannot write as {format.Title()}: {why}");
        switch (format)
        {
            case SaeFormat.SaeLens: SaeLensFormat.Write(w, folder, saeLensExtra); return (folder, null);
            case SaeFormat.GemmaScope: return (GemmaScopeFormat.Write(w, folder), null);
            case SaeFormat.DictLearn: return (DictionaryLearningFormat.Write(w, folder, out var note), note);
            case SaeFormat.Sparsify: return (SparsifyFormat.Write(w, folder), null);
            default: return (FunctionGemmaFormat.Write(w, folder, history), null);
        }
    }

    /// <summary>
    /// Writes <paramref name="w"/> as a new folder <paramref name="outDir"/>: assembled under a temporary name and
    /// renamed into place, so it is complete or absent. An existing non-empty folder is replaced only with <paramref name="overwrite"/>.
    /// </summary>
    public static (string Path, string? Note) Write(SaeWeights w, SaeFormat format, string outDir, bool overwrite)
    {
        outDir = Path.GetFullPath(outDir);
        if (CannotWrite(w, format) is string why) throw new DataException(outDir, $"cannot write as {format.Title()}: {why}");
        if (File.Exists(outDir)) throw new ConfigException("--out", $"{outDir} is a file, not a folder");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any() && !overwrite)
            throw new ConfigException("--out", $"{outDir} already exists and is not empty (pass --overwrite to replace it)");
        return StagedFolder.Write(outDir, tmp =>
        {
            var (written, note) = WriteInto(w, format, tmp);
            return (Path.GetFullPath(Path.Combine(outDir, Path.GetRelativePath(tmp, written))), note);
        });
    }
}
