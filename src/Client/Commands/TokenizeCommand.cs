using System.CommandLine;
using System.Text.Json;
using SaeCluster.Models;

namespace SaeCluster.Client.Commands;

/// <summary>
/// <c>saectl tokenize --tokenizer FILE</c>: one JSON string per line on stdin → one JSON array of ids per
/// line on stdout (BOS added as the post-processor says), so anyone can compare with another implementation.
/// </summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var file = new Option<string>("--tokenizer") { Description = "tokenizer.json (Hugging Face format)", Required = true };
        var noSpecial = new Option<bool>("--no-special") { Description = "do not add the post-processor's special tokens (BOS)" };
        var cmd = new Command("tokenize", "Tokenize JSON strings from stdin (one per line) into JSON id arrays (one per line)");
        cmd.Options.Add(file); cmd.Options.Add(noSpecial);
        cmd.SetAction((pr, ct) => CliErrors.Run(() =>
        {
            var tokenizer = GemmaTokenizer.Load(pr.GetValue(file)!);
            bool special = !pr.GetValue(noSpecial);
            using var stdout = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false };
            string? line;
            int lineNo = 0;
            while ((line = Console.In.ReadLine()) != null)
            {
                lineNo++;
                ct.ThrowIfCancellationRequested();
                string text;
                try { text = JsonSerializer.Deserialize<string>(line) ?? throw new JsonException("null"); }
                catch (JsonException) { throw new SaeCluster.Sae.ConfigException($"stdin line {lineNo}", "is not a JSON string"); }
                stdout.Write('[');
                stdout.Write(string.Join(',', tokenizer.Encode(text, special)));
                stdout.Write("]\n");
            }
            stdout.Flush();
            return 0;
        }));
        return cmd;
    }
}
