using System.Text.Json;
using System.Text.Unicode;

namespace SaeCluster.Compute;

/// <summary>Parses and validates the JSON header of a safetensors file.</summary>
internal static class SafetensorsHeader
{
    /// <summary>Key of the optional string-to-string metadata object.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>
    /// Parses <paramref name="json"/> (the header bytes) of the file at <paramref name="path"/> whose data region
    /// starts at absolute offset <paramref name="dataStart"/> and whose length is <paramref name="fileLength"/>.
    /// Returns the metadata and the tensors in data order (ascending <see cref="SafetensorsTensorInfo.Begin"/>).
    /// </summary>
    public static (Dictionary<string, string> Metadata, SafetensorsTensorInfo[] Tensors) Parse(
        string path, ReadOnlySpan<byte> json, long dataStart, long fileLength)
    {
        if (!Utf8.IsValid(json)) throw new SafetensorsFormatException(path, "header is not valid UTF-8");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(path, $"header is not valid JSON: {e.Message}", e);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(path, $"header must be a JSON object, found {root.ValueKind}");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsTensorInfo>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty entry in root.EnumerateObject())
            {
                if (!names.Add(entry.Name))
                    throw new SafetensorsFormatException(path,
                        $"{(entry.Name == MetadataKey ? "" : "tensor ")}'{entry.Name}' appears more than once in the header");
                if (entry.Name == MetadataKey)
                    ReadMetadata(path, entry.Value, metadata);
                else
                    tensors.Add(ReadTensor(path, entry.Name, entry.Value, dataStart, fileLength));
            }

            SafetensorsTensorInfo[] ordered = [.. tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ThenBy(t => t.Name, StringComparer.Ordinal)];
            CheckNoOverlap(path, ordered);
            return (metadata, ordered);
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind == JsonValueKind.Null) return;
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(path, $"'{MetadataKey}' must be an object of strings, found {value.ValueKind}");
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsFormatException(path, $"'{MetadataKey}' entry '{item.Name}' must be a string, found {item.Value.ValueKind}");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafetensorsTensorInfo ReadTensor(string path, string name, JsonElement value, long dataStart, long fileLength)
    {
        string tensor = $"tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(path, $"{tensor}: expected an object with dtype, shape and data_offsets, found {value.ValueKind}");

        if (!value.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new SafetensorsFormatException(path, $"{tensor} has no string 'dtype'");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDtypeExtensions.TryParse(dtypeName, out SafetensorsDtype dtype))
            throw new SafetensorsFormatException(path,
                $"{tensor} has unknown dtype '{dtypeName}' (supported: {string.Join(", ", Enum.GetNames<SafetensorsDtype>())})");

        long[] shape = ReadNonNegativeIntegers(value, "shape")
            ?? throw new SafetensorsFormatException(path, $"{tensor} has invalid 'shape' {RawText(value, "shape")}: expected an array of non-negative integers");
        long[]? offsets = ReadNonNegativeIntegers(value, "data_offsets");
        if (offsets is not [long begin, long end])
            throw new SafetensorsFormatException(path, $"{tensor} has invalid 'data_offsets' {RawText(value, "data_offsets")}: expected [begin, end] with non-negative integers");

        string shapeText = $"[{string.Join(", ", shape)}]";
        long byteLength;
        try
        {
            long count = 1;
            foreach (long dim in shape) count = checked(count * dim);
            byteLength = checked(count * dtype.ElementSize());
        }
        catch (OverflowException)
        {
            throw new SafetensorsFormatException(path, $"{tensor} has shape {shapeText}, too many elements to address");
        }

        if (end < begin)
            throw new SafetensorsFormatException(path, $"{tensor} has data_offsets [{begin}, {end}]: end is before begin");
        if (end - begin != byteLength)
            throw new SafetensorsFormatException(path,
                $"{tensor} is {dtype} {shapeText} = {byteLength} bytes, but its data_offsets [{begin}, {end}] span {end - begin} bytes");
        if (end > fileLength - dataStart)
            throw new SafetensorsFormatException(path,
                $"{tensor} needs {dataStart + end} bytes but the file ends after {fileLength} (truncated file?)");
        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>The array <paramref name="property"/> of <paramref name="owner"/>, or null when it is missing,
    /// not an array, or holds anything but non-negative 64-bit integers.</summary>
    private static long[]? ReadNonNegativeIntegers(JsonElement owner, string property)
    {
        if (!owner.TryGetProperty(property, out JsonElement array) || array.ValueKind != JsonValueKind.Array) return null;
        var values = new long[array.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0) return null;
            values[i++] = v;
        }
        return values;
    }

    private static string RawText(JsonElement owner, string property) =>
        owner.TryGetProperty(property, out JsonElement element) ? element.GetRawText() : "(missing)";

    /// <summary>Rejects tensors sharing data bytes; <paramref name="ordered"/> is sorted by Begin. Empty tensors occupy nothing.</summary>
    private static void CheckNoOverlap(string path, SafetensorsTensorInfo[] ordered)
    {
        SafetensorsTensorInfo? previous = null;
        foreach (SafetensorsTensorInfo t in ordered)
        {
            if (t.ByteLength == 0) continue;
            if (previous is not null && t.Begin < previous.End)
                throw new SafetensorsFormatException(path,
                    $"tensor '{previous.Name}' [{previous.Begin}, {previous.End}) and tensor '{t.Name}' [{t.Begin}, {t.End}) overlap");
            previous = t;
        }
    }
}
