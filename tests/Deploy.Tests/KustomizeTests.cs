using System.ComponentModel;
using System.Text;
using System.Text.RegularExpressions;

namespace SaeCluster.Deploy.Tests;

/// <summary>
/// k8s/: every overlay renders with <c>kubectl kustomize</c> (offline, no cluster) and passes
/// deploy/check/validate-k8s.mjs (schemas + silo rules); each overlay renders what it promises.
/// Needs kubectl (v1.27+, it includes kustomize) and node ≥ 20 with npm.
/// </summary>
public class KustomizeTests
{
    /// <summary>Shared with every test that runs deploy/check/check.sh (it npm-installs into deploy/check/node_modules).</summary>
    public static readonly string NpmLockPath = Path.Combine(Path.GetTempPath(), "saecluster-deploy-check-npm.lock");

    static readonly string[] OverlayNames = ["dev", "dev-gpu", "azure"];
    public static readonly TheoryData<string> Overlays = new(OverlayNames);

    [Fact]
    public void Check_script_validates_base_and_every_overlay()
    {
        RequireTool("kubectl", "version --client", "the kubectl client (v1.27 or newer; it includes kustomize, no cluster needed)");
        RequireTool("node", "--version", "node 20 or newer with npm");
        (int Code, string Output) result;
        using (InstallLock.Acquire(NpmLockPath))
            result = RepoCommand.Run("bash", "deploy/check/check.sh k8s", TimeSpan.FromMinutes(5));
        Assert.True(result.Code == 0, $"deploy/check/check.sh k8s exited {result.Code}:\n{result.Output}");
        Assert.Matches(new Regex(@"^k8s/base: \d+ objects valid$", RegexOptions.Multiline), result.Output);
        foreach (var overlay in OverlayDirectories())
            Assert.Matches(new Regex($@"^k8s/overlays/{Regex.Escape(overlay)}: \d+ objects valid$", RegexOptions.Multiline), result.Output);
    }

    [Fact]
    public void Every_overlay_on_disk_has_a_rendering_test()
    {
        Assert.Equal(OverlayNames.Order(), OverlayDirectories().Order());
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public void Overlay_renders_what_it_promises(string overlay)
    {
        var objects = Render($"k8s/overlays/{overlay}");

        // Every overlay: the namespace, the API Service in front of the API-only Orleans clients, three silo roles
        // with probes, drain, scrape annotations and what Orleans' Kubernetes hosting needs.
        Assert.All(objects.Where(o => o.Kind != "Namespace"), o => Assert.Equal("saecluster", o.Namespace));
        var all = string.Concat(objects.Select(o => o.Text));
        Assert.DoesNotContain("SAECLUSTER_LEASE_SECONDS", all);   // leases are gone: the Orleans membership
        Assert.DoesNotContain("SAECLUSTER_SLOTS: none", all);     // an API-only process is --role api
        Assert.DoesNotContain("skipApiVersionCheck", all);
        var service = objects.Single(o => o.Is("Service", "saecluster-api"));
        Assert.Contains("port: 80", service.Text);
        Assert.Contains("targetPort: http", service.Text);
        Assert.Contains("app.kubernetes.io/component: api", service.Text);

        var api = objects.Single(o => o.Is("Deployment", "saecluster-api"));
        AssertEnv(api, "SAECLUSTER_ROLE", "value: api");
        AssertEnv(api, "SAECLUSTER_SILO_ID", @"valueFrom:\s+fieldRef:\s+fieldPath: metadata.name");
        Assert.Contains("automountServiceAccountToken: false", api.Text);
        Assert.DoesNotContain("serviceAccountName", api.Text);
        Assert.DoesNotContain("orleans/", api.Text);        // not a silo: no labels Kubernetes hosting watches
        Assert.DoesNotContain("containerPort: 11111", api.Text);
        Assert.DoesNotContain("- drain", api.Text);
        var config = objects.Single(o => o.Is("ConfigMap", "saecluster-silo"));
        Assert.Contains("SAECLUSTER_SERVICE_ID: saecluster", config.Text);
        Assert.Contains("SAECLUSTER_CLUSTER_ID: saecluster", config.Text);
        Assert.Contains($"name: {config.Name}\n", api.Text);

        // RBAC for Microsoft.Orleans.Hosting.Kubernetes: the verbs its documentation grants, on pods, in the namespace.
        Assert.Contains("name: saecluster-silo", objects.Single(o => o.Is("ServiceAccount", "saecluster-silo")).Text);
        var role = objects.Single(o => o.Is("Role", "saecluster-silo"));
        Assert.Matches(new Regex(@"resources:\s+- pods\s+verbs:\s+- get\s+- watch\s+- list\s+- delete\s+- patch"), role.Text);
        var binding = objects.Single(o => o.Is("RoleBinding", "saecluster-silo"));
        Assert.Matches(new Regex(@"roleRef:\s+apiGroup: rbac.authorization.k8s.io\s+kind: Role\s+name: saecluster-silo"), binding.Text);
        Assert.Matches(new Regex(@"subjects:\s+- kind: ServiceAccount\s+name: saecluster-silo\s+namespace: saecluster"), binding.Text);
        Assert.DoesNotContain(objects, o => o.Kind is "ClusterRole" or "ClusterRoleBinding");

        foreach (var (name, roleName) in new[] { ("silo-coordinator", "coordinator"), ("silo-producer", "producer"), ("silo-trainer", "trainer") })
        {
            var silo = objects.Single(o => o.Is("Deployment", name));
            AssertEnv(silo, "SAECLUSTER_ROLE", $"value: {roleName}");
            Assert.Contains("serviceAccountName: saecluster-silo", silo.Text);
            Assert.Contains("automountServiceAccountToken: true", silo.Text);
            Assert.Contains("orleans/serviceId: saecluster", silo.Text);
            Assert.Contains("orleans/clusterId: saecluster", silo.Text);
            foreach (var (variable, field) in new[]
            {
                ("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"), ("POD_IP", "status.podIP"),
                ("ORLEANS_SERVICE_ID", "metadata.labels['orleans/serviceId']"), ("ORLEANS_CLUSTER_ID", "metadata.labels['orleans/clusterId']"),
                ("SAECLUSTER_SERVICE_ID", "metadata.labels['orleans/serviceId']"), ("SAECLUSTER_CLUSTER_ID", "metadata.labels['orleans/clusterId']"),
            })
                AssertEnv(silo, variable, $@"valueFrom:\s+fieldRef:\s+fieldPath: {Regex.Escape(field)}");
            Assert.Matches(new Regex(@"- containerPort: 11111\s+name: silo"), silo.Text);
            Assert.Matches(new Regex(@"- containerPort: 30000\s+name: gateway"), silo.Text);
            Assert.Contains("terminationGracePeriodSeconds: 120", silo.Text);
            Assert.Contains("- drain", silo.Text);
        }
        foreach (var process in new[] { "saecluster-api", "silo-coordinator", "silo-producer", "silo-trainer" })
        {
            var deployment = objects.Single(o => o.Is("Deployment", process));
            Assert.Contains("path: /healthz\n", deployment.Text);
            Assert.Contains("path: /healthz/live", deployment.Text);
            Assert.Matches(new Regex(@"- containerPort: 8080\s+name: http"), deployment.Text);
            Assert.Contains("prometheus.io/scrape: \"true\"", deployment.Text);
            Assert.Contains("runAsNonRoot: true", deployment.Text);
            Assert.Contains("readOnlyRootFilesystem: true", deployment.Text);
            // The Secrets it reads are the ones the overlay generated (hash-suffixed names).
            foreach (var secret in new[] { "saecluster-db", "saecluster-blobs", "saecluster-api" })
                Assert.Contains($"name: {objects.Single(o => o.Is("Secret", secret)).Name}\n", deployment.Text);
        }

        // The schema step: the coordinators' initContainer runs `saecluster-silo db init` on the same database.
        var coordinator = objects.Single(o => o.Is("Deployment", "silo-coordinator"));
        var init = Regex.Match(coordinator.Text, @"initContainers:\n((?:      - .*\n|        .*\n)+)");
        Assert.True(init.Success, $"silo-coordinator has no initContainers:\n{coordinator.Text}");
        Assert.Matches(new Regex(@"- args:\s+- db\s+- init"), init.Groups[1].Value);
        Assert.Contains("name: db-init", init.Groups[1].Value);
        Assert.Matches(new Regex($@"name: SAECLUSTER_CLUSTER\s+valueFrom:\s+secretKeyRef:\s+key: cluster\s+name: {Regex.Escape(objects.Single(o => o.Is("Secret", "saecluster-db")).Name)}"), init.Groups[1].Value);
        Assert.Equal(4, objects.Count(o => o.Kind == "PodDisruptionBudget"));

        var producer = objects.Single(o => o.Is("Deployment", "silo-producer"));
        var trainer = objects.Single(o => o.Is("Deployment", "silo-trainer"));
        var db = SecretValue(objects.Single(o => o.Is("Secret", "saecluster-db")), "cluster");
        var blobs = SecretValue(objects.Single(o => o.Is("Secret", "saecluster-blobs")), "blobs");
        switch (overlay)
        {
            case "dev":
                // No Azure: Azurite in the cluster, the blob Secret points at it; no GPU anywhere.
                Assert.Contains("image: mcr.microsoft.com/azure-storage/azurite", objects.Single(o => o.Is("Deployment", "azurite")).Text);
                Assert.Contains("port: 10000", objects.Single(o => o.Is("Service", "azurite")).Text);
                Assert.Contains("BlobEndpoint=http://azurite:10000/devstoreaccount1", blobs);
                AssertInClusterPostgres(objects, db);
                Assert.DoesNotContain("nvidia.com/gpu", string.Concat(objects.Select(o => o.Text)));
                Assert.Contains("image: saecluster/silo:0.5.0", producer.Text);
                Assert.DoesNotContain("SAECLUSTER_METADATA", producer.Text);   // no gpu=true on a CPU producer
                Assert.Equal("dev-token", SecretValue(objects.Single(o => o.Is("Secret", "saecluster-api")), "token"));
                Assert.DoesNotContain(objects, o => o.Kind == "PodMonitor");
                break;
            case "dev-gpu":
                Assert.Contains("BlobEndpoint=http://azurite:10000/devstoreaccount1", blobs);
                AssertInClusterPostgres(objects, db);
                foreach (var gpu in new[] { producer, trainer })
                {
                    Assert.Contains("image: saecluster/silo-gpu:0.5.0", gpu.Text);
                    Assert.Contains("nvidia.com/gpu: 1", gpu.Text);
                    Assert.Contains("key: nvidia.com/gpu", gpu.Text); // the toleration
                    AssertEnv(gpu, "SAECLUSTER_METADATA", "value: gpu=true");
                }
                break;
            case "azure":
                // External PostgreSQL and Azure Blob: nothing of the in-cluster stores; GPU producers; a PodMonitor.
                Assert.DoesNotContain(objects, o => o.Kind == "StatefulSet");
                Assert.DoesNotContain(objects, o => o.Name == "postgres" || o.Name == "azurite");
                Assert.DoesNotContain("Host=postgres;", db);
                Assert.Contains("EndpointSuffix=core.windows.net", blobs);
                Assert.Contains("image: saecluster/silo-gpu:0.5.0", producer.Text);
                Assert.Contains("nvidia.com/gpu: 1", producer.Text);
                Assert.Contains("key: nvidia.com/gpu", producer.Text);
                AssertEnv(producer, "SAECLUSTER_METADATA", "value: gpu=true");
                Assert.Contains("image: saecluster/silo:0.5.0", trainer.Text);
                Assert.Contains("app.kubernetes.io/name: saecluster-silo", objects.Single(o => o.Is("PodMonitor", "saecluster-silos")).Text);
                Assert.Contains("storageClassName: azurefile-csi", objects.Single(o => o.Is("PersistentVolumeClaim", "saecluster-data")).Text);
                break;
            default:
                Assert.Fail($"no expectations for overlay {overlay}");
                break;
        }
    }

    /// <summary>The object sets env <paramref name="name"/> to what <paramref name="valuePattern"/> (a regex) matches.</summary>
    static void AssertEnv(K8sObject o, string name, string valuePattern) =>
        Assert.Matches(new Regex($@"- name: {Regex.Escape(name)}\s+{valuePattern}\s*$", RegexOptions.Multiline), o.Text);

    static void AssertInClusterPostgres(IReadOnlyList<K8sObject> objects, string connection)
    {
        var postgres = objects.Single(o => o.Is("StatefulSet", "postgres"));
        Assert.Contains("pg_isready", postgres.Text);
        Assert.Contains("volumeClaimTemplates:", postgres.Text);
        Assert.Contains("clusterIP: None", objects.Single(o => o.Is("Service", "postgres")).Text);
        Assert.Contains("Host=postgres;", connection);
        var password = SecretValue(objects.Single(o => o.Is("Secret", "saecluster-db")), "postgres-password");
        Assert.Contains($"Password={password}", connection);
    }

    // ---------- helpers ----------

    public sealed record K8sObject(string Kind, string Name, string? Namespace, string Text)
    {
        /// <summary>Kind and name; generated ConfigMaps/Secrets match by their name before the hash suffix.</summary>
        public bool Is(string kind, string name) =>
            Kind == kind && (Name == name || ((kind is "Secret" or "ConfigMap") && Regex.IsMatch(Name, $"^{Regex.Escape(name)}-[a-z0-9]{{10}}$")));
    }

    static IReadOnlyList<string> OverlayDirectories() =>
        Directory.GetDirectories(Path.Combine(RepoCommand.Root, "k8s", "overlays"))
            .Where(d => File.Exists(Path.Combine(d, "kustomization.yaml")))
            .Select(Path.GetFileName).Select(n => n!).ToList();

    static IReadOnlyList<K8sObject> Render(string dir)
    {
        RequireTool("kubectl", "version --client", "the kubectl client (v1.27 or newer; it includes kustomize, no cluster needed)");
        var (code, output) = RepoCommand.Run("kubectl", $"kustomize {dir}", TimeSpan.FromMinutes(2));
        Assert.True(code == 0, $"kubectl kustomize {dir} exited {code}:\n{output}");
        var objects = new List<K8sObject>();
        foreach (var doc in Regex.Split(output.Replace("\r\n", "\n"), @"^---$\n?", RegexOptions.Multiline))
        {
            if (string.IsNullOrWhiteSpace(doc)) continue;
            var kind = Regex.Match(doc, @"^kind: (\S+)$", RegexOptions.Multiline).Groups[1].Value;
            var metadata = Regex.Match(doc, @"^metadata:\n((?:  .*\n?)*)", RegexOptions.Multiline).Groups[1].Value;
            var name = Regex.Match(metadata, @"^  name: (\S+)$", RegexOptions.Multiline).Groups[1].Value;
            var ns = Regex.Match(metadata, @"^  namespace: (\S+)$", RegexOptions.Multiline);
            Assert.False(kind == "" || name == "", $"{dir}: an object without kind or metadata.name:\n{doc}");
            objects.Add(new K8sObject(kind, name, ns.Success ? ns.Groups[1].Value : null, doc));
        }
        Assert.NotEmpty(objects);
        return objects;
    }

    /// <summary>A Secret's data[key], decoded (kustomize folds long values into a `|` block).</summary>
    static string SecretValue(K8sObject secret, string key)
    {
        var m = Regex.Match(secret.Text, $@"^  {Regex.Escape(key)}: (?:\|\n((?:    \S+\n?)+)|(\S+))$", RegexOptions.Multiline);
        Assert.True(m.Success, $"Secret {secret.Name} has no data key {key}:\n{secret.Text}");
        var b64 = m.Groups[1].Success ? Regex.Replace(m.Groups[1].Value, @"\s", "") : m.Groups[2].Value;
        return Encoding.UTF8.GetString(Convert.FromBase64String(b64));
    }

    static void RequireTool(string tool, string args, string what)
    {
        try
        {
            var (code, output) = RepoCommand.Run(tool, args, TimeSpan.FromSeconds(30));
            if (code == 0) return;
            Assert.Fail($"`{tool} {args}` failed ({code}): install {what} (scripts/install-deps.sh).\n{output}");
        }
        catch (Win32Exception)
        {
            Assert.Fail($"{tool} is not installed: install {what} (scripts/install-deps.sh) to render and check k8s/.");
        }
    }
}
