using Parquet;
using Parquet.Schema;

namespace SaeCluster.Models.Tests;

public class ParquetCorpusTests
{
    static readonly DataField<string> Text = new("text", nullable: true);
    static readonly DataField<string> Url = new("url");
    static readonly DataField<int> Count = new("n");
    static readonly DataField<string> Lang = new("lang");

    /// <summary>Three row groups of text (with nulls), url, n and a struct meta { lang }, written as Parquet.Net writes any file.</summary>
    static async Task<(string?[] Texts, string[] Urls)> WriteCorpus(string path)
    {
        var texts = new List<string?>();
        var urls = new List<string>();
        await using var file = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(Text, Url, Count, new StructField("meta", Lang)), file);
        for (int g = 0; g < 3; g++)
        {
            int rows = 5 + g;
            var t = Enumerable.Range(0, rows).Select(i => i % 3 == 1 ? null : $"row group {g} document {i}: ünïcödé ✓").ToArray();
            var u = Enumerable.Range(0, rows).Select(i => $"https://example.org/{g}/{i}").ToArray();
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(Text, t);
            await group.WriteAsync(Url, u);
            await group.WriteAsync<int>(Count, Enumerable.Range(0, rows).ToArray());
            await group.WriteAsync(Lang, Enumerable.Repeat("en", rows).ToArray());
            texts.AddRange(t);
            urls.AddRange(u);
        }
        return (texts.ToArray(), urls.ToArray());
    }

    static int OpenHandles(string path) =>
        Directory.GetFiles("/proc/self/fd").Count(fd => { try { return new FileInfo(fd).LinkTarget == path; } catch (IOException) { return false; } });

    [Fact]
    public async Task RowsOfTheTextColumnAreDocumentsInOrderAcrossRowGroupsWithoutNulls()
    {
        using var tmp = new TempDir();
        var (texts, urls) = await WriteCorpus(tmp["c.parquet"]);
        var docs = new CorpusDocuments([tmp["c.parquet"]]).Read().ToArray();
        Assert.Equal(texts.OfType<string>(), docs.Select(d => d.Text));
        Assert.All(docs, d => Assert.Null(d.Tokens));
        Assert.Equal(18 - 6, docs.Length); // 5 + 6 + 7 rows, rows 1 and 4 of each group null
        Assert.Equal(urls, new CorpusDocuments([tmp["c.parquet"]], "url").Read().Select(d => d.Text!));

        // mixed with JSONL, in file order, through FromPatterns
        File.WriteAllText(tmp["b.jsonl"], "{\"text\": \"first\"}\n");
        var mixed = CorpusDocuments.FromPatterns([tmp.Path + "/*"]).Read().Select(d => d.Text!).ToArray();
        Assert.Equal(["first", .. texts.OfType<string>()], mixed);
    }

    [Fact]
    public async Task RowGroupsAreReadAsEnumeratedAndTheFileClosesWhenEnumerationIsAbandoned()
    {
        using var tmp = new TempDir();
        string path = tmp["c.parquet"];
        var (texts, _) = await WriteCorpus(path);
        // overwrite the last row group's text column chunk: only a read that gets that far can notice
        long offset, length;
        await using (var reader = await ParquetReader.CreateAsync(path))
        {
            var chunk = reader.OpenRowGroupReader(2).GetMetadata(reader.Schema.DataFields[0])!.MetaData!;
            (offset, length) = (chunk.DataPageOffset, chunk.TotalCompressedSize);
        }
        using (var f = File.OpenWrite(path)) { f.Position = offset; f.Write(Enumerable.Repeat((byte)0xFF, (int)length).ToArray()); }

        var corpus = new CorpusDocuments([path]);
        Assert.Equal(texts[0], corpus.Read().First().Text);
        Assert.Equal(0, OpenHandles(path));
        Assert.Equal(texts.Take(11).OfType<string>(), corpus.Read().Take(7).Select(d => d.Text)); // groups 0 and 1
        using (var e = corpus.Read().GetEnumerator())
        {
            Assert.True(e.MoveNext());
            Assert.Equal(1, OpenHandles(path));
        }
        Assert.Equal(0, OpenHandles(path));

        var error = Assert.Throws<InvalidDataException>(() => corpus.Read().ToArray());
        Assert.StartsWith($"{path}: row group 2 of 3: not a valid Parquet file", error.Message);
        Assert.Equal(0, OpenHandles(path));
    }

    [Fact]
    public async Task AMissingNestedOrNonStringColumnIsOneClearErrorBeforeAnyRowIsRead()
    {
        using var tmp = new TempDir();
        string path = tmp["c.parquet"];
        await WriteCorpus(path);
        string Error(string column) =>
            Assert.Throws<InvalidDataException>(() => new CorpusDocuments([path], column).Read().First()).Message;

        Assert.Equal($"{path}: no column \"txt\" (string columns: text, url)", Error("txt"));
        Assert.Equal($"{path}: column \"n\" holds Int32 values, not strings", Error("n"));
        Assert.Equal($"{path}: column \"meta\" is a struct column, not one string per row", Error("meta"));
        Assert.Equal(Error("txt"), Assert.Throws<InvalidDataException>(() => new CorpusDocuments([path], "txt").CheckParquetColumns()).Message);
        new CorpusDocuments([path], "url").CheckParquetColumns();

        var tags = new DataField<string[]>("tags");
        await using (var file = File.Create(tmp["list.parquet"]))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(tags), file))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(tags, new[] { "a", "b", "c" }, new[] { 0, 1, 0 });
        }
        Assert.Equal($"{tmp["list.parquet"]}: column \"tags\" is a repeated column, not one string per row",
            Assert.Throws<InvalidDataException>(() => new CorpusDocuments([tmp["list.parquet"]], "tags").CheckParquetColumns()).Message);
        Assert.Contains("(string columns: none)", Assert.Throws<InvalidDataException>(() => new CorpusDocuments([tmp["list.parquet"]]).CheckParquetColumns()).Message);
    }

    [Fact]
    public async Task TruncatedAndNonParquetFilesAreOneInvalidDataExceptionNamingTheFile()
    {
        using var tmp = new TempDir();
        await WriteCorpus(tmp["whole.parquet"]);
        var bytes = File.ReadAllBytes(tmp["whole.parquet"]);
        File.WriteAllBytes(tmp["half.parquet"], bytes[..(bytes.Length / 2)]);
        File.WriteAllText(tmp["notes.parquet"], "plain text, not Parquet\n");
        File.WriteAllBytes(tmp["empty.parquet"], []);
        foreach (var name in new[] { "half.parquet", "notes.parquet", "empty.parquet" })
        {
            var e = Assert.Throws<InvalidDataException>(() => new CorpusDocuments([tmp[name]]).Read().ToArray());
            Assert.StartsWith($"{tmp[name]}: not a valid Parquet file, corrupt or truncated (", e.Message);
            Assert.Equal(0, OpenHandles(tmp[name]));
        }
    }
}
