using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using SaeCluster.Grains;

namespace SaeCluster.Silo.Tests;

[Collection("silo")]
public class SiloApiTests(SiloFixture fx)
{
    static StringContent Yaml(string text, string type = "text/yaml") => new(text, Encoding.UTF8, type);

    static async Task<string> ErrorOf(HttpResponseMessage r) => (string)(await r.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;

    [Fact]
    public async Task HealthzAnswersWithoutAToken()
    {
        using var http = fx.Silo.Http(token: "");
        var r = await http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("ok", (await r.Content.ReadAsStringAsync()).Trim());
    }

    [Fact]
    public async Task ApiNeedsTheBearerToken()
    {
        foreach (var token in new[] { "", "wrong", SiloFixture.Token + "x" })
        {
            using var http = fx.Silo.Http(token);
            var r = await http.GetAsync("/api/sweeps");
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.Equal("missing or wrong bearer token", await ErrorOf(r));
        }
        using var ok = fx.Silo.Http();
        Assert.Equal(HttpStatusCode.OK, (await ok.GetAsync("/api/sweeps")).StatusCode);
        var silo = await ok.GetFromJsonAsync<JsonObject>("/api/silo");
        Assert.Equal("test-silo", (string)silo!["id"]!);
        Assert.False((bool)silo["apiOnly"]!);
        Assert.Equal(2, (int)silo["slots"]!["trainer"]!);
    }

    [Fact]
    public async Task BadSweepsAreRefusedNamingTheField()
    {
        using var http = fx.Silo.Http();
        var r = await http.PostAsync("/api/sweeps?source=bad.yaml", Yaml(Sweeps.Tiny("bad-layers", layers: "[0, 9]")));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        string error = await ErrorOf(r);
        Assert.Contains("bad.yaml", error);
        Assert.Contains("sites.layers (line 9)", error);
        Assert.Contains("layer 9 does not exist", error);

        r = await http.PostAsync("/api/sweeps", Yaml("name: [broken\n", "application/yaml"));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains("malformed YAML", await ErrorOf(r));

        r = await http.PostAsync("/api/sweeps", Yaml(Sweeps.Tiny("bad-corpus").Replace("/usr/lib/python3*/json/*.py", "no/such/*.txt"), "text/plain"));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains("corpus.paths[0]", await ErrorOf(r));

        r = await http.PostAsync("/api/sweeps", Yaml(Sweeps.Tiny("bad-site").Replace("kinds: [res]", "kinds: [res, resid]")));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        string site = await ErrorOf(r);
        Assert.Contains("sites.kinds", site);
        Assert.Contains("resid", site);

        r = await http.PostAsync("/api/sweeps", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, r.StatusCode);
        Assert.Contains("text/yaml", await ErrorOf(r));
    }

    [Fact]
    public async Task ASweepRunsToDoneAndWritesItsSaes()
    {
        using var http = fx.Silo.Http();
        var r = await http.PostAsync("/api/sweeps?source=tiny.yaml", Yaml(Sweeps.Tiny("api-tiny")));
        Assert.True(r.StatusCode == HttpStatusCode.Created, await r.Content.ReadAsStringAsync());
        Assert.Equal("api-tiny", (string)(await r.Content.ReadFromJsonAsync<JsonObject>())!["id"]!);
        Assert.Equal("/api/sweeps/api-tiny", r.Headers.Location?.ToString());

        var status = await fx.WaitUntilEndedAsync("api-tiny", TimeSpan.FromSeconds(120));
        Assert.True(status.State == "done", $"{status.State}: {status.Error}\n{fx.Silo.Log}");
        Assert.Equal(["0.res", "1.res"], status.Trainers.Select(t => t.Site));
        foreach (var t in status.Trainers)
        {
            var sae = Assert.Single(t.Saes);
            Assert.Equal("topk-w64-k4", sae.Name);
            Assert.Equal(4, sae.L0); // TopK k = 4: no token of these trained SAEs has fewer than 4 positive pre-activations
            string folder = Path.Combine(fx.Blobs, sae.Output!);
            foreach (var f in new[] { "sae_weights.safetensors", "cfg.json", "metrics.json" })
                Assert.True(File.Exists(Path.Combine(folder, f)), $"{folder}/{f} missing");
        }

        // the name is taken now
        r = await http.PostAsync("/api/sweeps", Yaml(Sweeps.Tiny("api-tiny")));
        Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
        Assert.Contains("'api-tiny' already exists (done)", await ErrorOf(r));

        // listed, with its work: the sweep itself, its producers and its two trainers, each trainer claimed once
        var all = await http.GetFromJsonAsync<List<SweepStatus>>("/api/sweeps", SweepJson.Options);
        Assert.Contains(all!, s => s.Id == "api-tiny" && s.State == "done");
        var actors = (await http.GetFromJsonAsync<JsonArray>("/api/sweeps/api-tiny/actors"))!;
        Assert.Equal(status.Producers, actors.Count(a => (string)a!["kind"]! == "producer"));
        var sweep = actors.Single(a => (string)a!["kind"]! == "sweep")!;
        Assert.Equal(("api-tiny", "done"), ((string)sweep["key"]!, (string)sweep["status"]!));
        Assert.Contains("name: api-tiny", (string)sweep["spec"]!);
        var trainers = actors.Where(a => (string)a!["kind"]! == "trainer").ToArray();
        Assert.Equal(["api-tiny/0.res", "api-tiny/1.res"], trainers.Select(t => (string)t!["key"]!).Order());
        Assert.All(trainers, t => Assert.Equal(("done", 1L, "done"), ((string)t!["status"]!, (long)t["epoch"]!, (string)t["phase"]!)));
        Assert.All(actors.Where(a => (string)a!["kind"]! == "producer"), p => Assert.Contains((string)p!["status"]!, new[] { "done", "cancelled" }));

        // this silo did the work and is an active member with every role
        var silos = await http.GetFromJsonAsync<JsonArray>("/api/silos");
        var me = silos!.Single(s => (string)s!["id"]! == "test-silo")!;
        Assert.Equal("active", (string)me["status"]!);
        Assert.Equal(["coordinator", "producer", "trainer"], me["roles"]!.AsArray().Select(c => (string)c!));
        Assert.Equal("producer=1,trainer=2", (string)me["slots"]!);
        var silo = await http.GetFromJsonAsync<JsonObject>("/api/silo");
        Assert.True((long)silo!["activationsStarted"]! >= 3, silo.ToJsonString()); // at least one producer and both trainers
        Assert.False((bool)silo["drained"]!);
    }

    [Fact]
    public async Task TheOrleansDashboardIsServedBehindTheToken()
    {
        using var anonymous = fx.Silo.Http(token: "");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/dashboard")).StatusCode);
        using var http = fx.Silo.Http();
        var page = await http.GetAsync("/dashboard/"); // (/dashboard redirects here; HttpClient drops the bearer header on redirects)
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<html", (await page.Content.ReadAsStringAsync()).ToLowerInvariant());

        // a browser opens /dashboard?token=… once: it gets a cookie and a redirect to the clean URL
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = new Uri(fx.Url) };
        var once = await browser.GetAsync($"/dashboard?token={SiloFixture.Token}");
        Assert.Equal(HttpStatusCode.Redirect, once.StatusCode);
        string cookie = once.Headers.GetValues("Set-Cookie").Single();
        Assert.StartsWith("saecluster-token=", cookie);
        Assert.Contains("httponly", cookie.ToLowerInvariant());
        var withCookie = new HttpRequestMessage(HttpMethod.Get, "/dashboard/");
        withCookie.Headers.Add("Cookie", cookie.Split(';')[0]);
        Assert.Equal(HttpStatusCode.OK, (await browser.SendAsync(withCookie)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync("/dashboard?token=wrong")).StatusCode);
    }

    [Fact]
    public async Task UnknownSweepsAre404()
    {
        using var http = fx.Silo.Http();
        var r = await http.PostAsync("/api/sweeps/no-such-sweep/cancel", null);
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Equal("no sweep 'no-such-sweep'", await ErrorOf(r));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/sweeps/no-such-sweep")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/sweeps/no-such-sweep/actors")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.DeleteAsync("/api/sweeps/no-such-sweep")).StatusCode);
    }

    [Fact]
    public async Task ACancelledSweepCanBeDeleted()
    {
        using var http = fx.Silo.Http();
        var r = await http.PostAsync("/api/sweeps", Yaml(Sweeps.Tiny("api-doomed", tokens: 2_000_000)));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        r = await http.PostAsync("/api/sweeps/api-doomed/cancel", null);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var status = await r.Content.ReadFromJsonAsync<SweepStatus>(SweepJson.Options);
        Assert.Equal("cancelled", status!.State);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync("/api/sweeps/api-doomed")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/sweeps/api-doomed")).StatusCode);
    }
}
