using System.Text.Json.Nodes;

namespace SaeCluster.Silo.Tests;

/// <summary>saectl submit / status / watch / cancel against the real silo process.</summary>
[Collection("silo")]
public class SaectlClusterTests(SiloFixture fx)
{
    string[] Cluster(params string[] args) => [.. args, "--cluster", fx.Url, "--token", SiloFixture.Token];

    string WriteSweep(string name, long tokens = 8192, string layers = "[0, 1]")
    {
        string path = fx.Dir[$"{name}.yaml"];
        File.WriteAllText(path, Sweeps.Tiny(name, tokens, layers));
        return path;
    }

    [Fact]
    public void SubmitWatchesASweepToItsResults()
    {
        var r = Saectl.Run(Cluster("submit", WriteSweep("cli-tiny"), "--watch"));
        Assert.True(r.ExitCode == 0, r + fx.Silo.Log);
        Assert.Contains("submitted sweep 'cli-tiny'", r.Stderr);
        Assert.Contains("sweep cli-tiny: done", r.Stdout);
        Assert.Contains("cli-tiny/saes/0.res/topk-w64-k4/", r.Stdout);
        Assert.Contains("cli-tiny/saes/1.res/topk-w64-k4/", r.Stdout);
        Assert.True(File.Exists(Path.Combine(fx.Blobs, "cli-tiny/saes/1.res/topk-w64-k4/sae_weights.safetensors")));

        // status: all sweeps, one sweep, JSON; URL and token from the environment
        var env = new Dictionary<string, string> { ["SAECLUSTER_URL"] = fx.Url, ["SAECLUSTER_TOKEN"] = SiloFixture.Token };
        r = Saectl.Run(env, "status");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Matches(@"cli-tiny\s*│\s*done", r.Stdout);
        r = Saectl.Run(env, "status", "cli-tiny");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("sweep cli-tiny: done", r.Stdout);
        Assert.Contains("0.res", r.Stdout);
        r = Saectl.Run(env, "status", "cli-tiny", "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        var json = JsonNode.Parse(r.Stdout)!;
        Assert.Equal("done", (string)json["state"]!);
        Assert.Equal(2, json["trainers"]!.AsArray().Count);

        // watching a finished sweep returns at once
        r = Saectl.Run(Cluster("watch", "cli-tiny"));
        Assert.True(r.ExitCode == 0, r.ToString());

        // the same name again: the silo's message, exit 2
        r = Saectl.Run(Cluster("submit", fx.Dir["cli-tiny.yaml"]));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error: a sweep named 'cli-tiny' already exists (done)", r.Stderr);
    }

    [Fact]
    public void CancelStopsASweepAndWatchReportsIt()
    {
        var r = Saectl.Run(Cluster("submit", WriteSweep("cli-cancel", tokens: 4_000_000), "--json"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("cli-cancel", (string)JsonNode.Parse(r.Stdout)!["id"]!);

        r = Saectl.Run(Cluster("cancel", "cli-cancel"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("sweep 'cli-cancel': cancelled", r.Stdout);

        r = Saectl.Run(Cluster("watch", "cli-cancel"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("sweep cli-cancel: cancelled", r.Stdout);

        r = Saectl.Run(Cluster("cancel", "cli-no-such"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"error: no sweep 'cli-no-such' on the cluster at {fx.Url}", r.Stderr);
    }

    /// <summary>watch of a sweep the cluster does not have: exit 1 at once, one line naming the sweep and the cluster.</summary>
    [Fact]
    public void WatchOfAnUnknownSweepFailsAtOnce()
    {
        var r = Saectl.Run(Cluster("watch", "cli-never-submitted"));
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"error: no sweep 'cli-never-submitted' on the cluster at {fx.Url}", r.Stderr.TrimEnd('\n'));
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void BadSweepsComeBackWithTheSilosMessage()
    {
        // a field only the silo can check (the model's layers): its message verbatim, exit 2
        var r = Saectl.Run(Cluster("submit", WriteSweep("cli-bad", layers: "[0, 9]")));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error: cli-bad.yaml: sites.layers (line 9): layer 9 does not exist (the model has layers 0-3)", r.Stderr);

        // malformed YAML fails here, before any request (the cluster URL is not even reachable)
        File.WriteAllText(fx.Dir["broken.yaml"], "name: [oops\n");
        r = Saectl.Run("submit", fx.Dir["broken.yaml"], "--cluster", "http://127.0.0.1:9");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("malformed YAML", r.Stderr);

        r = Saectl.Run("submit", fx.Dir["no-such.yaml"], "--cluster", fx.Url);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no such file", r.Stderr);
    }

    [Fact]
    public void UnreachableClustersAndWrongTokensAreOneLine()
    {
        string sweep = WriteSweep("cli-never");
        var r = Saectl.Run("submit", sweep, "--cluster", "http://127.0.0.1:9");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: cannot reach the cluster at http://127.0.0.1:9 (", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));

        foreach (var args in new[] { new[] { "status" }, ["watch", "x"], ["cancel", "x"], ["submit", sweep] })
        {
            r = Saectl.Run([.. args, "--cluster", fx.Url, "--token", "wrong"]);
            Assert.Equal(1, r.ExitCode);
            Assert.Equal($"error: the cluster at {fx.Url} refused the token (pass --token or set SAECLUSTER_TOKEN)", r.Stderr.Trim());
        }
        r = Saectl.Run("status", "--cluster", fx.Url); // no token at all
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("refused the token", r.Stderr);

        r = Saectl.Run("status");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--cluster: no cluster URL", r.Stderr);
        r = Saectl.Run("status", "--cluster", "localhost:5080");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is not an http:// or https:// URL", r.Stderr);
    }
}
