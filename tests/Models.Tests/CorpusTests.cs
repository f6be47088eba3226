using SaeCluster.Models;

namespace SaeCluster.Models.Tests;

public class CorpusTests
{
    [Fact]
    public void GlobsExpandSortedAcrossFolders()
    {
        using var tmp = new TempDir();
        foreach (var f in new[] { "a/x.jsonl", "a/b/y.jsonl", "a/b/c/z.jsonl", "a/b/note.txt", "top.jsonl" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(tmp[f])!);
            File.WriteAllText(tmp[f], "{\"text\": \"hi\"}\n");
        }
        Assert.Equal([tmp["a/b/c/z.jsonl"], tmp["a/b/y.jsonl"], tmp["a/x.jsonl"]], CorpusFiles.Expand(tmp.Path + "/a/**/*.jsonl"));
        Assert.Equal([tmp["a/b/y.jsonl"]], CorpusFiles.Expand(tmp.Path + "/a/*/?.jsonl"));
        Assert.Equal(4, CorpusFiles.Expand(tmp["a"]).Count);
        Assert.Throws<FileNotFoundException>(() => CorpusFiles.Expand(tmp.Path + "/a/**/*.parquet"));
        Assert.Throws<FileNotFoundException>(() => CorpusFiles.Expand(tmp.Path + "/missing.txt"));
    }

    [Fact]
    public void JsonlTextFieldAndErrorsNameFileAndLine()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["d.jsonl"], "{\"content\": \"one\"}\n\n{\"content\": \"two\"}\n");
        var docs = new CorpusDocuments([tmp["d.jsonl"]], "content").Read().Select(d => d.Text!).ToArray();
        Assert.Equal(["one", "two"], docs);
        var e = Assert.Throws<InvalidDataException>(() => new CorpusDocuments([tmp["d.jsonl"]]).Read().ToArray());
        Assert.Contains("d.jsonl:1", e.Message);
        File.WriteAllText(tmp["bad.jsonl"], "{\"text\": \"ok\"}\n{not json\n");
        Assert.Contains("bad.jsonl:2", Assert.Throws<InvalidDataException>(() => new CorpusDocuments([tmp["bad.jsonl"]]).Read().ToArray()).Message);
    }

    [Fact]
    public void PreTokenizedFiles()
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(tmp["t.u16"], [5, 0, 6, 1, 255, 255]);
        Assert.Equal([5, 256 + 6, 65535], new CorpusDocuments([tmp["t.u16"]]).Read().Single().Tokens!);
        File.WriteAllBytes(tmp["t.u32"], [1, 0, 0, 0, 2, 0]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => new CorpusDocuments([tmp["t.u32"]]).Read().ToArray()).Message);
    }

    [Fact]
    public void PackingStartsEveryContextWithBosAndSeparatesDocumentsWithEos()
    {
        var packer = new ContextPacker(contextLength: 5, bosId: 2, eosId: 1, padId: 0);
        var contexts = packer.Pack([[10, 11, 12], [20, 21, 22, 23, 24], [30]]).ToArray();
        Assert.Equal(
            new[] { new[] { 2, 10, 11, 12, 1 }, [2, 20, 21, 22, 23], [2, 24, 1, 30, 1] },
            contexts);
        var tail = new ContextPacker(5, 2, 1, 0).Pack([[7, 8]]).Single();
        Assert.Equal([2, 7, 8, 1, 0], tail);
        Assert.Equal([false, true, true, false, false], tail.Select(new ContextPacker(5, 2, 1, 0).Trainable));
    }
}
