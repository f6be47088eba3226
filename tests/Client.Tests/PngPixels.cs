using System.Buffers.Binary;
using System.IO.Compression;

namespace SaeCluster.Client.Tests;

/// <summary>
/// Decodes the PNGs Chromium's screenshots are (8-bit RGB or RGBA, not interlaced) into RGBA pixels, so a test
/// can tell a rendered page from a blank one.
/// </summary>
public sealed class PngPixels
{
    public int Width { get; }
    public int Height { get; }

    /// <summary>Row-major RGBA, four bytes a pixel.</summary>
    public byte[] Rgba { get; }

    PngPixels(int width, int height, byte[] rgba) => (Width, Height, Rgba) = (width, height, rgba);

    public static PngPixels Decode(byte[] png)
    {
        ReadOnlySpan<byte> signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
        if (png.Length < 8 || !png.AsSpan(0, 8).SequenceEqual(signature)) throw new InvalidDataException("not a PNG");
        int width = 0, height = 0, channels = 0;
        using var idat = new MemoryStream();
        for (int at = 8; at + 8 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            string type = System.Text.Encoding.ASCII.GetString(png, at + 4, 4);
            var data = png.AsSpan(at + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                byte bitDepth = data[8], colorType = data[9], interlace = data[12];
                if (bitDepth != 8 || interlace != 0 || colorType is not (2 or 6))
                    throw new InvalidDataException($"PNG of bit depth {bitDepth}, colour type {colorType}, interlace {interlace}: only 8-bit RGB/RGBA, not interlaced");
                channels = colorType == 6 ? 4 : 3;
            }
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") break;
            at += 12 + length;
        }
        if (channels == 0) throw new InvalidDataException("PNG without IHDR");
        idat.Position = 0;
        using var inflated = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionMode.Decompress)) z.CopyTo(inflated);
        return new PngPixels(width, height, Unfilter(inflated.ToArray(), width, height, channels));
    }

    /// <summary>Undoes PNG's per-row filters (none, sub, up, average, Paeth) and widens RGB to RGBA.</summary>
    static byte[] Unfilter(byte[] raw, int width, int height, int channels)
    {
        int stride = width * channels;
        if (raw.Length < height * (stride + 1)) throw new InvalidDataException($"PNG data too short: {raw.Length} bytes for {width}×{height}");
        var prev = new byte[stride];
        var row = new byte[stride];
        var rgba = new byte[width * height * 4];
        for (int y = 0; y < height; y++)
        {
            int filter = raw[y * (stride + 1)];
            var src = raw.AsSpan(y * (stride + 1) + 1, stride);
            for (int i = 0; i < stride; i++)
            {
                int a = i >= channels ? row[i - channels] : 0, b = prev[i], c = i >= channels ? prev[i - channels] : 0;
                row[i] = (byte)(src[i] + filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"PNG row {y}: filter {filter}"),
                });
            }
            for (int x = 0; x < width; x++)
            {
                int o = (y * width + x) * 4;
                rgba[o] = row[x * channels];
                rgba[o + 1] = row[x * channels + 1];
                rgba[o + 2] = row[x * channels + 2];
                rgba[o + 3] = channels == 4 ? row[x * channels + 3] : (byte)255;
            }
            (prev, row) = (row, prev);
        }
        return rgba;
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>The fraction of pixels that differ from the most common colour: 0 for a blank image.</summary>
    public double FractionNotBackground()
    {
        var counts = new Dictionary<int, int>();
        for (int i = 0; i < Rgba.Length; i += 4)
        {
            int key = BitConverter.ToInt32(Rgba, i);
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return 1 - counts.Values.Max() / (double)(Width * Height);
    }
}
