#!/usr/bin/env node
// Offline validation of k8s/ (run by deploy/check/check.sh k8s; needs kubectl for `kubectl kustomize`).
//
//   node deploy/check/validate-k8s.mjs [K8S_DIR]      K8S_DIR defaults to <repo>/k8s
//
// Renders k8s/base and every k8s/overlays/<name> with `kubectl kustomize`, parses the objects and
//   1. validates each against its schema: kubernetes-models (core, apps, policy, …) and
//      @kubernetes-models/prometheus-operator (PodMonitor, …) — a kind neither knows is an error;
//   2. checks what the schemas cannot. Pods of the saecluster-silo binary (silos and the API-only Orleans
//      clients): readiness (/healthz) and liveness (/healthz/live) probes, a startup probe that outlasts
//      SAECLUSTER_WAIT_SECONDS, the http port 8080, non-root /
//      read-only root / no capabilities / RuntimeDefault seccomp, writable /tmp, scrape annotations, a
//      PodDisruptionBudget, a valid role (SAECLUSTER_ROLE or --role: coordinator,producer,trainer or api
//      alone), slots producer=N/trainer=N, only SAECLUSTER_* settings the silo reads (src/Silo/SiloSettings.cs;
//      no SAECLUSTER_LEASE_SECONDS, no --slots none), gpu=true metadata exactly where a GPU is requested.
//      Silos also: a `drain` preStop hook, terminationGracePeriodSeconds >= SAECLUSTER_GRACE_SECONDS + 30,
//      writable /work, containerPorts 11111 (silo) and 30000 (gateway), what Microsoft.Orleans.Hosting.Kubernetes
//      needs — POD_NAME / POD_NAMESPACE / POD_IP from the downward API, the orleans/serviceId and
//      orleans/clusterId labels with ORLEANS_SERVICE_ID / ORLEANS_CLUSTER_ID (and SAECLUSTER_SERVICE_ID /
//      SAECLUSTER_CLUSTER_ID) taken from them, a mounted service account token and a service account that a
//      (Cluster)RoleBinding grants pods get/watch/list/delete/patch — and one serviceId/clusterId for the
//      whole cluster. API pods: no orleans/* labels, no service account token, the silos' ServiceId and
//      ClusterId. Services select no silo pods (the API Service fronts the API pods). Some initContainer
//      or Job runs `saecluster-silo db init` on the silos' SAECLUSTER_CLUSTER, and in overlays that store
//      is PostgreSQL. GPU silos request nvidia.com/gpu and tolerate the GPU taint; silo images share one
//      explicit tag; every namespaced object lands in one namespace; Service / PDB / PodMonitor selectors
//      match pods; RoleBindings name rendered Roles and service accounts; in overlays every Secret,
//      ConfigMap and PVC a pod refers to (with the keys it reads) is rendered too.
// Also validates the plain manifests in k8s/tools/*.yaml and requires every k8s/components/<name> to
// be used by some overlay (a component no overlay uses is never checked).
//
// Prints one line per rendered directory ("k8s/overlays/dev: 19 objects valid"), one line per problem
// ("k8s/overlays/dev: Deployment/silo-trainer: spec.replicas must be integer"), exits 1 on problems,
// 2 when kubectl is missing.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const k8sDir = path.resolve(process.argv[2] ?? path.join(here, "..", "..", "k8s"));
const shown = (p) => path.relative(path.dirname(k8sDir), p) || p;
const kubectl = process.env.KUBECTL || "kubectl";

// CRD groups -> the kubernetes-models package with their classes; everything else: kubernetes-models.
const crdPackages = { "monitoring.coreos.com": "@kubernetes-models/prometheus-operator" };
const clusterScoped = new Set([
  "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
  "CustomResourceDefinition", "PriorityClass", "RuntimeClass", "IngressClass",
  "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
]);
const workloadKinds = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"]);
const siloImage = /(^|\/)silo(-gpu)?(:|@|$)/; // saecluster/silo, myregistry/saecluster/silo-gpu:1.2 …
const gpuResource = "nvidia.com/gpu";
const drainSlack = 30; // seconds terminationGracePeriodSeconds must exceed the drain grace by
const siloPort = 11111, gatewayPort = 30000; // what Orleans' Kubernetes hosting listens on (EndpointOptions' defaults)
// The pod verbs Microsoft.Orleans.Hosting.Kubernetes needs, as its documentation grants them ("Kubernetes
// hosting", learn.microsoft.com/dotnet/orleans/deployment/kubernetes: Role rules pods get/watch/list/delete/patch).
const kubernetesHostingVerbs = ["get", "watch", "list", "delete", "patch"];

const problems = [];
let failedTargets = 0;

// ---------- rendering ----------

function checkKubectl() {
  try {
    execFileSync(kubectl, ["version", "--client"], { stdio: "pipe" });
  } catch {
    console.error(`kubectl not found (tried \`${kubectl}\`): install the kubectl client (v1.27 or newer, it ` +
      "includes kustomize; no cluster needed), e.g. https://kubernetes.io/docs/tasks/tools/ — " +
      "or set KUBECTL to its path");
    process.exit(2);
  }
}

function render(dir) {
  try {
    return execFileSync(kubectl, ["kustomize", dir], { stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 }).toString();
  } catch (e) {
    let why = (e.stderr?.toString() || e.message).trim();
    const m = why.match(/err="((?:[^"\\]|\\.)*)"/); // klog: E1122 … run.go:72] "command failed" err="…"
    if (m) why = m[1].replace(/\\(.)/g, "$1");
    why = why.replace(/^Error: /, "").split("\n").slice(0, 4).join(" | ");
    throw new Error(`kubectl kustomize failed: ${why}`);
  }
}

function parseDocs(text) {
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`YAML: ${doc.errors[0].message}`);
    const o = doc.toJS();
    if (o != null) objects.push(o);
  }
  return objects;
}

// ---------- schema validation ----------

const moduleCache = new Map();
async function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const pkg = crdPackages[group] ?? "kubernetes-models";
  const spec = `${pkg}/${apiVersion}`;
  if (!moduleCache.has(spec)) moduleCache.set(spec, await import(spec).catch(() => null));
  const mod = moduleCache.get(spec);
  const cls = mod?.[kind];
  return typeof cls === "function" && cls.apiVersion === apiVersion && cls.kind === kind ? cls : null;
}

// "/spec/template/spec/containers/0/ports/0/containerPort" -> "spec.template.spec.containers[0].ports[0].containerPort"
function jsonPath(pointer) {
  let out = "";
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out += /^\d+$/.test(seg) ? `[${seg}]` : /^[A-Za-z_][\w]*$/.test(seg) ? `${out ? "." : ""}${seg}` : `["${seg}"]`;
  }
  return out || "(object)";
}

function schemaMessages(err) {
  if (!Array.isArray(err?.errors)) return [String(err?.message ?? err)];
  // Group by location; "must be string" + "must be integer" + "must match exactly one schema in oneOf"
  // (int-or-string fields) becomes one "must be string or integer".
  const byPath = new Map();
  for (const e of err.errors) {
    const where = jsonPath(e.instancePath ?? "");
    if (!byPath.has(where)) byPath.set(where, { types: [], other: [] });
    const g = byPath.get(where);
    if (e.keyword === "type") g.types.push(e.params?.type);
    else if (e.keyword === "oneOf" || e.keyword === "anyOf") { /* summarised by the type errors */ }
    else if (e.keyword === "required") g.other.push(`needs field ${e.params?.missingProperty}`);
    else if (e.keyword === "enum") g.other.push(`${e.message}: ${(e.params?.allowedValues ?? []).join(", ")}`);
    else g.other.push(e.message);
  }
  const lines = [];
  for (const [where, g] of byPath) {
    if (g.types.length) lines.push(`${where} must be ${[...new Set(g.types)].join(" or ")}`);
    for (const m of g.other) lines.push(where === "(object)" ? m : `${where} ${m}`);
    if (!g.types.length && !g.other.length) lines.push(`${where} matches none of its allowed forms`);
  }
  return lines;
}

async function validateSchema(o, report) {
  const cls = await modelClass(o.apiVersion, o.kind);
  if (!cls) {
    report(`unknown kind ${o.apiVersion}/${o.kind}: no model in kubernetes-models or ${Object.values(crdPackages).join(", ")} (add its package to deploy/check)`);
    return;
  }
  // kustomize folds long Secret data over lines; the API server's base64 decoder skips the newlines.
  if (o.kind === "Secret" && o.data && typeof o.data === "object")
    o = { ...o, data: Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, typeof v === "string" ? v.replace(/[\r\n]/g, "") : v])) };
  try {
    new cls(o).validate();
  } catch (e) {
    for (const m of schemaMessages(e)) report(m);
  }
}

// ---------- what the schemas do not check ----------

const id = (o) => `${o.kind}/${o.metadata?.name ?? "?"}`;
const labelsMatch = (selector, labels) => {
  if (!selector) return false;
  const ml = selector.matchLabels ?? {};
  for (const [k, v] of Object.entries(ml)) if (labels?.[k] !== v) return false;
  for (const ex of selector.matchExpressions ?? []) {
    const has = labels && Object.prototype.hasOwnProperty.call(labels, ex.key);
    const val = labels?.[ex.key];
    if (ex.operator === "In" && !(has && ex.values.includes(val))) return false;
    if (ex.operator === "NotIn" && has && ex.values.includes(val)) return false;
    if (ex.operator === "Exists" && !has) return false;
    if (ex.operator === "DoesNotExist" && has) return false;
  }
  return Object.keys(ml).length > 0 || (selector.matchExpressions ?? []).length > 0;
};

function podOf(o) {
  if (!workloadKinds.has(o.kind)) return null;
  if (o.kind === "Pod") return { meta: o.metadata ?? {}, spec: o.spec ?? {} };
  const t = o.kind === "Job" ? o.spec?.template : o.spec?.template;
  return t ? { meta: t.metadata ?? {}, spec: t.spec ?? {} } : null;
}

const num = (v) => (typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : NaN);

function semanticChecks(objects, { isOverlay }, report) {
  const byKindName = new Map(objects.map((o) => [`${o.kind}/${o.metadata?.name}`, o]));
  const pods = objects.map((o) => ({ o, pod: podOf(o) })).filter((x) => x.pod);

  // One namespace for everything namespaced (a component's resources missing `namespace:` land in default).
  const namespaces = new Set(objects.filter((o) => !clusterScoped.has(o.kind)).map((o) => o.metadata?.namespace));
  if (namespaces.size > 1 || namespaces.has(undefined)) {
    for (const o of objects) if (!clusterScoped.has(o.kind) && !o.metadata?.namespace)
      report(o, "has no namespace (it would land in `default`): set `namespace:` in the kustomization that renders it");
    if (!namespaces.has(undefined)) report(null, `objects are spread over namespaces ${[...namespaces].join(", ")}`);
  }

  // Silo image tags: explicit, not latest, one version for the whole deployment.
  const tags = new Map();
  for (const { o, pod } of pods)
    for (const c of [...(pod.spec.initContainers ?? []), ...(pod.spec.containers ?? [])]) {
      const img = c.image ?? "";
      if (!img) { report(o, `container ${c.name} has no image`); continue; }
      if (!siloImage.test(img)) continue;
      const m = img.match(/:([^/:@]+)$/);
      if (!m || m[1] === "latest") report(o, `container ${c.name} image ${img} needs an explicit version tag (kustomization images:)`);
      else tags.set(m[1], [...(tags.get(m[1]) ?? []), `${id(o)}`]);
    }
  if (tags.size > 1)
    report(null, `silo images use different tags: ${[...tags].map(([t, w]) => `${t} (${w.join(", ")})`).join("; ")} — keep components' image references in step with base images:`);

  const pdbs = objects.filter((o) => o.kind === "PodDisruptionBudget");
  const siloIds = [], apiClients = [], silosSeen = [], schemaSteps = [];
  const podKinds = new Map(); // workload -> Set of "silo" | "api"
  for (const { o, pod } of pods) {
    const containers = pod.spec.containers ?? [];
    const silos = containers.filter((c) => siloImage.test(c.image ?? "") || pod.meta.labels?.["app.kubernetes.io/name"] === "saecluster-silo");
    const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
    const claimTemplates = new Set((o.kind === "StatefulSet" ? o.spec?.volumeClaimTemplates ?? [] : []).map((t) => t.metadata?.name));

    // References: volumes, ConfigMaps, Secrets (overlays render their Secrets; base leaves them to overlays).
    for (const c of [...(pod.spec.initContainers ?? []), ...containers]) {
      for (const vm of c.volumeMounts ?? [])
        if (!volumes.has(vm.name) && !claimTemplates.has(vm.name)) report(o, `container ${c.name} mounts volume ${vm.name}, which the pod does not define`);
      if (!isOverlay) continue;
      const need = (kind, name, key, what) => {
        const target = byKindName.get(`${kind}/${name}`);
        if (!target) report(o, `container ${c.name} ${what} ${kind} ${name}, which this overlay does not render`);
        else if (key != null && !Object.prototype.hasOwnProperty.call(target.data ?? {}, key) &&
                 !Object.prototype.hasOwnProperty.call(target.stringData ?? {}, key))
          report(o, `container ${c.name} ${what} key ${key} of ${kind} ${name}, which has no such key`);
      };
      for (const ef of c.envFrom ?? []) {
        if (ef.configMapRef && !ef.configMapRef.optional) need("ConfigMap", ef.configMapRef.name, null, "takes env from");
        if (ef.secretRef && !ef.secretRef.optional) need("Secret", ef.secretRef.name, null, "takes env from");
      }
      for (const e of c.env ?? []) {
        const s = e.valueFrom?.secretKeyRef, cm = e.valueFrom?.configMapKeyRef;
        if (s && !s.optional) need("Secret", s.name, s.key, `reads ${e.name} from`);
        if (cm && !cm.optional) need("ConfigMap", cm.name, cm.key, `reads ${e.name} from`);
      }
    }
    if (isOverlay)
      for (const v of volumes.values()) {
        const claim = v.persistentVolumeClaim?.claimName;
        if (claim && !byKindName.has(`PersistentVolumeClaim/${claim}`)) report(o, `volume ${v.name} claims PVC ${claim}, which this overlay does not render`);
        if (v.secret?.secretName && !v.secret.optional && !byKindName.has(`Secret/${v.secret.secretName}`)) report(o, `volume ${v.name} uses Secret ${v.secret.secretName}, which this overlay does not render`);
        if (v.configMap?.name && !v.configMap.optional && !byKindName.has(`ConfigMap/${v.configMap.name}`)) report(o, `volume ${v.name} uses ConfigMap ${v.configMap.name}, which this overlay does not render`);
      }

    // GPUs: whoever asks for one tolerates the GPU taint; the CUDA image asks for one; the CPU image does not.
    for (const c of containers) {
      const limit = num(c.resources?.limits?.[gpuResource] ?? c.resources?.requests?.[gpuResource]);
      const gpuImage = /(^|\/)silo-gpu(:|@|$)/.test(c.image ?? "");
      if (gpuImage && !(limit >= 1)) report(o, `container ${c.name} runs the GPU image ${c.image} but does not request ${gpuResource} (resources.limits)`);
      if (!gpuImage && limit >= 1 && siloImage.test(c.image ?? "")) report(o, `container ${c.name} requests ${gpuResource} but runs the CPU image ${c.image}`);
      if (limit >= 1) {
        if (c.resources?.limits?.[gpuResource] == null) report(o, `container ${c.name} sets ${gpuResource} only in requests: extended resources go in resources.limits`);
        const tolerated = (pod.spec.tolerations ?? []).some((t) => (t.key === gpuResource || (t.key == null && t.operator === "Exists")) && (t.effect == null || t.effect === "NoSchedule"));
        if (!tolerated) report(o, `requests ${gpuResource} but has no toleration for the ${gpuResource}:NoSchedule taint GPU nodes carry`);
      }
    }

    if (!silos.length) {
      if (hasOrleansLabels(pod.meta.labels))
        report(o, `carries the ${serviceIdLabel}/${clusterIdLabel} labels but runs no silo: the silos' Kubernetes hosting lists the pods with these labels and warns about each one without a silo`);
      continue;
    }
    // Pods of the saecluster-silo binary: silos and API-only Orleans clients.
    const psc = pod.spec.securityContext ?? {};
    const ann = pod.meta.annotations ?? {};
    const labels = pod.meta.labels ?? {};
    if (ann["prometheus.io/scrape"] !== "true" || ann["prometheus.io/port"] !== "8080" || ann["prometheus.io/path"] !== "/metrics")
      report(o, 'pod template needs annotations prometheus.io/scrape: "true", prometheus.io/port: "8080", prometheus.io/path: /metrics');
    if (o.kind !== "Pod" && !pdbs.some((p) => labelsMatch(p.spec?.selector, labels)))
      report(o, "no PodDisruptionBudget selects these pods");
    const tgps = pod.spec.terminationGracePeriodSeconds ?? 30;
    const kinds = new Set();
    for (const c of silos) {
      const where = `container ${c.name}`;
      const env = envOf(c, byKindName);
      const sources = envSources(c, byKindName);
      checkSettings(o, where, env, report);
      const roleSpec = setting(c, env, "--role", "SAECLUSTER_ROLE");
      const roles = parseRoles(roleSpec);
      if (roles.error) { report(o, `${where}: ${roles.error}`); continue; }
      const apiOnly = roles.list.length === 1 && roles.list[0] === "api";
      kinds.add(apiOnly ? "api" : "silo");
      if (!(c.ports ?? []).some((p) => p.containerPort === 8080 && p.name === "http"))
        report(o, `${where} does not expose containerPort 8080 named http (the API, /healthz and /metrics)`);
      const probePath = (p) => p?.httpGet?.path;
      if (!c.readinessProbe) report(o, `${where} has no readinessProbe (httpGet /healthz)`);
      else if (probePath(c.readinessProbe) !== "/healthz") report(o, `${where} readinessProbe should be httpGet /healthz (a silo: Active in the membership; the API: a gateway answers), not ${probePath(c.readinessProbe) ?? "a non-HTTP probe"}`);
      // HTTP listens only after start-up has waited for the stores (and, for the API, a gateway): the startup
      // probe (or, without one, the liveness probe's first failures) must outlast SAECLUSTER_WAIT_SECONDS.
      const first = c.startupProbe ?? c.livenessProbe;
      const wait = num(env.SAECLUSTER_WAIT_SECONDS ?? "0");
      const patience = first ? (first.initialDelaySeconds ?? 0) + (first.periodSeconds ?? 10) * (first.failureThreshold ?? 3) : Infinity;
      if (wait > 0 && patience <= wait)
        report(o, `${where} ${c.startupProbe ? "startupProbe" : "livenessProbe"} gives up after ${patience} s, within SAECLUSTER_WAIT_SECONDS (${wait}): the kubelet would restart a silo still waiting for its stores`);
      if (!c.livenessProbe) report(o, `${where} has no livenessProbe (httpGet /healthz/live)`);
      else if (probePath(c.livenessProbe) !== "/healthz/live") report(o, `${where} livenessProbe should be httpGet /healthz/live (it must not depend on the store), not ${probePath(c.livenessProbe) ?? "a non-HTTP probe"}`);
      securityChecks(o, c, psc, report);
      writable(o, c, apiOnly ? ["/tmp"] : ["/tmp", env.SAECLUSTER_WORK_DIR ?? "/work"], report);
      const slots = setting(c, env, "--slots", "SAECLUSTER_SLOTS");
      if (slots != null && !/^\s*none\s*$/i.test(slots)) {
        const bad = slots.split(",").map((s) => s.trim()).filter(Boolean).filter((p) => !/^(producer|trainer)=[1-9]\d*$/.test(p));
        if (bad.length) report(o, `${where} SAECLUSTER_SLOTS ${JSON.stringify(slots)}: ${bad.join(", ")} is not producer=N or trainer=N (N ≥ 1; which kinds a silo runs is its role, an API-only process is --role api)`);
      }
      const gpu = num(c.resources?.limits?.[gpuResource]) >= 1;
      const metadata = setting(c, env, "--metadata", "SAECLUSTER_METADATA") ?? "";
      const saysGpu = metadata.split(",").map((s) => s.trim()).includes("gpu=true");
      if (gpu && !apiOnly && !saysGpu) report(o, `${where} has a GPU but its silo metadata does not say so: set SAECLUSTER_METADATA gpu=true (GET /api/silos shows it)`);
      if (!gpu && saysGpu) report(o, `${where} announces gpu=true in its silo metadata but requests no ${gpuResource}`);

      if (apiOnly) {
        // An Orleans client: reaches the silos' gateways; nothing of a silo.
        apiClients.push({ o, where, serviceId: resolveSetting(sources, "SAECLUSTER_SERVICE_ID", labels), clusterId: resolveSetting(sources, "SAECLUSTER_CLUSTER_ID", labels) });
        continue;
      }

      // A silo.
      const grace = num(env.SAECLUSTER_GRACE_SECONDS ?? "60");
      if (!(tgps >= grace + drainSlack))
        report(o, `terminationGracePeriodSeconds ${tgps} must be at least SAECLUSTER_GRACE_SECONDS (${grace}) + ${drainSlack}: the kubelet would kill the silo mid-checkpoint`);
      const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
      if (!preStop.includes("drain")) report(o, `${where} needs lifecycle.preStop.exec.command [/app/saecluster-silo, drain] (running work checkpoints and hands back before SIGTERM)`);
      for (const [port, name, what] of [[siloPort, "silo", "silo-to-silo traffic"], [gatewayPort, "gateway", "the API's Orleans clients"]])
        if (!(c.ports ?? []).some((p) => p.containerPort === port))
          report(o, `${where} does not expose containerPort ${port} (${name}: ${what}; Kubernetes hosting listens there)`);
      // Microsoft.Orleans.Hosting.Kubernetes: POD_NAME, POD_NAMESPACE, POD_IP from the downward API.
      for (const [variable, fieldPath] of [["POD_NAME", "metadata.name"], ["POD_NAMESPACE", "metadata.namespace"], ["POD_IP", "status.podIP"]]) {
        const s = sources.get(variable);
        if (s?.kind !== "field" || s.fieldPath !== fieldPath)
          report(o, `${where} needs env ${variable} from the downward API (valueFrom.fieldRef.fieldPath: ${fieldPath}) for Orleans' Kubernetes hosting`);
      }
      for (const variable of ["SAECLUSTER_SILO_PORT", "SAECLUSTER_GATEWAY_PORT", "SAECLUSTER_ADVERTISE"])
        if (sources.has(variable))
          report(o, `${where} sets ${variable}, which a silo in a pod ignores: Kubernetes hosting advertises the pod IP and listens on ${siloPort} and ${gatewayPort}`);
      if (!hasOrleansLabels(labels))
        report(o, `pod template needs labels ${serviceIdLabel} and ${clusterIdLabel} (Orleans' Kubernetes hosting finds the silos' pods by them)`);
      else {
        siloIds.push({ o, serviceId: labels[serviceIdLabel], clusterId: labels[clusterIdLabel] });
        // Kubernetes hosting sets ClusterOptions from ORLEANS_SERVICE_ID / ORLEANS_CLUSTER_ID: they must be the labels.
        for (const [variable, label] of [["ORLEANS_SERVICE_ID", serviceIdLabel], ["ORLEANS_CLUSTER_ID", clusterIdLabel]]) {
          const s = sources.get(variable);
          if (s?.kind !== "field" || s.fieldPath !== `metadata.labels['${label}']`)
            report(o, `${where} needs env ${variable} from the pod's ${label} label (valueFrom.fieldRef.fieldPath: metadata.labels['${label}'])`);
        }
        for (const [variable, label] of [["SAECLUSTER_SERVICE_ID", serviceIdLabel], ["SAECLUSTER_CLUSTER_ID", clusterIdLabel]]) {
          const value = resolveSetting(sources, variable, labels);
          if (value !== undefined && value !== labels[label])
            report(o, `${where} ${variable} is ${JSON.stringify(value)} but the pod's ${label} label is ${JSON.stringify(labels[label])}: take it from the label (fieldRef metadata.labels['${label}'])`);
        }
      }
      // The service account Kubernetes hosting watches pods with.
      const sa = pod.spec.serviceAccountName ?? "default";
      const granted = podVerbs(objects, sa, o.metadata?.namespace);
      const missing = kubernetesHostingVerbs.filter((v) => !granted.has(v) && !granted.has("*"));
      if (missing.length)
        report(o, `service account ${sa} is not granted ${missing.join(", ")} on pods (a Role + RoleBinding in the namespace: Orleans' Kubernetes hosting watches, lists, reads, patches and deletes silo pods)`);
      const saObject = byKindName.get(`ServiceAccount/${sa}`);
      if (sa !== "default" && !saObject) report(o, `uses service account ${sa}, which is not rendered`);
      if (pod.spec.automountServiceAccountToken === false || (pod.spec.automountServiceAccountToken == null && saObject?.automountServiceAccountToken === false))
        report(o, "does not mount its service account token: Orleans' Kubernetes hosting needs it (automountServiceAccountToken: true)");
      silosSeen.push({ o, cluster: JSON.stringify(sources.get("SAECLUSTER_CLUSTER") ?? null) });
    }
    podKinds.set(o, kinds);
    if (kinds.has("api")) {
      if (kinds.has("silo")) report(o, "runs a silo and an API-only client in one pod: give each its own Deployment");
      if (hasOrleansLabels(labels))
        report(o, `API-only pods must not carry the ${serviceIdLabel}/${clusterIdLabel} labels: they are not silos (Kubernetes hosting would warn about each)`);
      const sa = pod.spec.serviceAccountName ?? "default";
      if (pod.spec.automountServiceAccountToken !== false)
        report(o, "an API-only pod needs no Kubernetes API access: set automountServiceAccountToken: false");
      else if (podVerbs(objects, sa, o.metadata?.namespace).size)
        report(o, `an API-only pod needs no pod access, but its service account ${sa} has some`);
    }
    // Schema steps (`saecluster-silo db init`): an initContainer or a Job.
    for (const c of [...(pod.spec.initContainers ?? []), ...containers])
      if (isDbInit(c)) {
        const env = envOf(c, byKindName);
        checkSettings(o, `container ${c.name}`, env, report);
        securityChecks(o, c, psc, report);
        writable(o, c, ["/tmp"], report);
        schemaSteps.push({ o, cluster: JSON.stringify(envSources(c, byKindName).get("SAECLUSTER_CLUSTER") ?? null) });
      }
  }

  // One Orleans cluster: every silo pod carries the same orleans/serviceId and orleans/clusterId, and the API
  // clients use the same ServiceId and ClusterId (an API with another one finds no gateway).
  const ids = new Set(siloIds.map((s) => `${s.serviceId}/${s.clusterId}`));
  if (ids.size > 1)
    report(null, `silo pods disagree on ${serviceIdLabel}/${clusterIdLabel}: ${siloIds.map((s) => `${id(s.o)} ${s.serviceId}/${s.clusterId}`).join(", ")}`);
  if (ids.size === 1) {
    const [serviceId, clusterId] = [siloIds[0].serviceId, siloIds[0].clusterId];
    for (const a of apiClients) {
      if (a.serviceId !== undefined && a.serviceId !== serviceId)
        report(a.o, `${a.where} SAECLUSTER_SERVICE_ID is ${JSON.stringify(a.serviceId)} but the silos' ${serviceIdLabel} is ${JSON.stringify(serviceId)}: the API would find no gateway`);
      if (a.clusterId !== undefined && a.clusterId !== clusterId)
        report(a.o, `${a.where} SAECLUSTER_CLUSTER_ID is ${JSON.stringify(a.clusterId)} but the silos' ${clusterIdLabel} is ${JSON.stringify(clusterId)}: the API would find no gateway`);
    }
  }
  // The schema: some initContainer or Job runs `saecluster-silo db init` on the silos' cluster store.
  if (silosSeen.length) {
    const stores = new Set(silosSeen.map((s) => s.cluster));
    if (stores.size > 1) report(null, `silos take SAECLUSTER_CLUSTER from different places: ${[...stores].map(describeSource).join("; ")}`);
    for (const store of stores)
      if (!schemaSteps.some((s) => s.cluster === store))
        report(null, `nothing runs \`saecluster-silo db init\` with the silos' SAECLUSTER_CLUSTER (${describeSource(store)}): add the schema step (an initContainer or a Job with args [db, init])`);
  }
  // Many silos and the API share the cluster through PostgreSQL; a folder holds one silo on one machine.
  if (isOverlay)
    for (const ref of new Set(silosSeen.map((s) => s.cluster))) {
      const src = JSON.parse(ref);
      let value = src?.kind === "value" ? src.value : undefined;
      if (src?.kind === "secret") {
        const secret = byKindName.get(`Secret/${src.name}`);
        const raw = secret?.stringData?.[src.key] ?? (secret?.data?.[src.key] != null ? Buffer.from(String(secret.data[src.key]).replace(/\s/g, ""), "base64").toString("utf8") : undefined);
        value = raw;
      }
      if (value !== undefined && !/^\s*postgres(ql)?:\/\//i.test(value) && !/(^|;)\s*(host|server)\s*=/i.test(value))
        report(null, `the silos' SAECLUSTER_CLUSTER is not PostgreSQL (Host=…;Database=… or postgres://…): a folder holds one silo on one machine, and SQLite stores are gone`);
    }
  // The RBAC the silos rely on: every RoleBinding points at a rendered Role and service account.
  for (const rb of objects.filter((x) => x.kind === "RoleBinding")) {
    const ref = rb.roleRef ?? {};
    if (!byKindName.has(`${ref.kind}/${ref.name}`)) report(rb, `roleRef ${ref.kind}/${ref.name} is not rendered`);
    for (const s of rb.subjects ?? [])
      if (s.kind === "ServiceAccount" && s.name !== "default" && !byKindName.has(`ServiceAccount/${s.name}`)) report(rb, `subject ServiceAccount ${s.name} is not rendered`);
  }

  // Selectors that select nothing are typos.
  const podLabels = pods.map(({ o, pod }) => ({ o, labels: pod.meta.labels ?? {}, pod }));
  for (const o of objects) {
    if (o.kind === "Service" && o.spec?.selector && Object.keys(o.spec.selector).length) {
      const hits = podLabels.filter((p) => labelsMatch({ matchLabels: o.spec.selector }, p.labels));
      if (!hits.length) report(o, `selector ${JSON.stringify(o.spec.selector)} matches no pod template`);
      const siloHits = hits.filter((h) => podKinds.get(h.o)?.has("silo"));
      if (siloHits.length)
        report(o, `selects silo pods (${siloHits.map((h) => id(h.o)).join(", ")}): the API Service fronts the API-only pods (--role api); silos need no Service (silos and clients reach them at their pod IPs, from the membership table)`);
      for (const port of o.spec.ports ?? [])
        if (typeof port.targetPort === "string" && hits.length &&
            !hits.some((h) => (h.pod.spec.containers ?? []).some((c) => (c.ports ?? []).some((p) => p.name === port.targetPort))))
          report(o, `port ${port.name ?? port.port} targets port name ${port.targetPort}, which no selected container declares`);
    }
    if (o.kind === "PodDisruptionBudget" && !podLabels.some((p) => labelsMatch(o.spec?.selector, p.labels)))
      report(o, "selector matches no pod template");
    if (o.kind === "PodMonitor") {
      const hits = podLabels.filter((p) => labelsMatch(o.spec?.selector, p.labels));
      if (!hits.length) report(o, "selector matches no pod template");
      for (const ep of o.spec?.podMetricsEndpoints ?? [])
        if (ep.port && !hits.some((h) => (h.pod.spec.containers ?? []).some((c) => (c.ports ?? []).some((p) => p.name === ep.port))))
          report(o, `podMetricsEndpoints port ${ep.port} is not a named port of the selected pods`);
    }
  }
}

// ---------- the silo's settings ----------

const serviceIdLabel = "orleans/serviceId", clusterIdLabel = "orleans/clusterId";
const hasOrleansLabels = (labels) => labels?.[serviceIdLabel] != null && labels?.[clusterIdLabel] != null;
const defaultIds = { SAECLUSTER_SERVICE_ID: "saecluster", SAECLUSTER_CLUSTER_ID: "saecluster" }; // SiloSettings' defaults

// Every SAECLUSTER_* variable the silo reads, from src/Silo/SiloSettings.cs (its Flags table), when the
// source is beside this checkout; a variable it does not read is a typo or a setting that is gone.
const knownSettings = (() => {
  const file = path.join(here, "..", "..", "src", "Silo", "SiloSettings.cs");
  if (!existsSync(file)) return null;
  const names = new Set((readFileSync(file, "utf8").match(/"SAECLUSTER_[A-Z0-9_]+"/g) ?? []).map((n) => n.slice(1, -1)));
  return names.size ? names : null;
})();
const goneSettings = {
  SAECLUSTER_LEASE_SECONDS: "leases are gone: the Orleans membership decides when a silo is dead (SAECLUSTER_PROBE_SECONDS, SAECLUSTER_MISSED_PROBES)",
};

function checkSettings(o, where, env, report) {
  for (const name of Object.keys(env).filter((n) => n.startsWith("SAECLUSTER_"))) {
    if (goneSettings[name]) report(o, `${where} sets ${name}: ${goneSettings[name]}`);
    else if (knownSettings && !knownSettings.has(name)) report(o, `${where} sets ${name}, which saecluster-silo does not read (src/Silo/SiloSettings.cs)`);
  }
  if (/^\s*none\s*$/i.test(env.SAECLUSTER_SLOTS ?? "")) report(o, `${where} sets SAECLUSTER_SLOTS none: an API-only process is SAECLUSTER_ROLE api now`);
  if (/^\s*sqlite:|\.db\s*$/i.test(env.SAECLUSTER_CLUSTER ?? "")) report(o, `${where} SAECLUSTER_CLUSTER is a SQLite store: those are gone (PostgreSQL, or a folder for one silo)`);
}

// A flag's value for a container: `--flag value` or `--flag=value` in its command/args, else its variable.
function setting(c, env, flag, variable) {
  const argv = [...(c.command ?? []), ...(c.args ?? [])].map(String);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === flag && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith(`${flag}=`)) return argv[i].slice(flag.length + 1);
  }
  return env[variable];
}

// As SiloRoles.Parse: coordinator,producer,trainer (any non-empty subset; none given = all three) or api alone.
function parseRoles(spec) {
  const all = ["coordinator", "producer", "trainer"];
  const parts = [...new Set(String(spec ?? "").split(",").map((p) => p.trim().toLowerCase()).filter(Boolean))];
  if (!parts.length) return { list: all };
  if (parts.includes("api")) return parts.length > 1 ? { error: `role '${spec}': api runs no work and cannot be combined with other roles` } : { list: ["api"] };
  const unknown = parts.filter((p) => !all.includes(p));
  if (unknown.length) return { error: `unknown role ${unknown.join(", ")} (coordinator, producer, trainer, or api alone)` };
  return { list: all.filter((r) => parts.includes(r)) };
}

const isDbInit = (c) => {
  const argv = [...(c.command ?? []), ...(c.args ?? [])].map(String);
  const i = argv.indexOf("db");
  return i >= 0 && argv[i + 1] === "init";
};

// Where each variable of a container comes from: {kind: value|field|secret|configMapKey|resource, …}; env wins over envFrom.
function envSources(c, byKindName) {
  const m = new Map();
  for (const ef of c.envFrom ?? []) {
    const cm = ef.configMapRef && byKindName.get(`ConfigMap/${ef.configMapRef.name}`);
    for (const [k, v] of Object.entries(cm?.data ?? {})) m.set(`${ef.prefix ?? ""}${k}`, { kind: "value", value: v });
    const sec = ef.secretRef && byKindName.get(`Secret/${ef.secretRef.name}`);
    for (const k of Object.keys({ ...(sec?.data ?? {}), ...(sec?.stringData ?? {}) })) m.set(`${ef.prefix ?? ""}${k}`, { kind: "secret", name: sec.metadata?.name, key: k });
  }
  for (const e of c.env ?? []) {
    const vf = e.valueFrom;
    if (e.value !== undefined) m.set(e.name, { kind: "value", value: e.value });
    else if (vf?.fieldRef) m.set(e.name, { kind: "field", fieldPath: vf.fieldRef.fieldPath });
    else if (vf?.secretKeyRef) m.set(e.name, { kind: "secret", name: vf.secretKeyRef.name, key: vf.secretKeyRef.key });
    else if (vf?.configMapKeyRef) m.set(e.name, { kind: "configMapKey", name: vf.configMapKeyRef.name, key: vf.configMapKeyRef.key });
    else if (vf?.resourceFieldRef) m.set(e.name, { kind: "resource" });
  }
  return m;
}

// The value a variable has in the pod (a literal, a ConfigMap value or a label through the downward API), the
// silo's default when unset, undefined when this cannot tell (a Secret).
function resolveSetting(sources, variable, labels) {
  const s = sources.get(variable);
  if (!s) return defaultIds[variable];
  if (s.kind === "value") return s.value;
  const label = s.kind === "field" && s.fieldPath?.match(/^metadata\.labels\['([^']+)'\]$/);
  return label ? labels?.[label[1]] : undefined;
}

// A variable's source (envSources' JSON) for messages.
function describeSource(json) {
  const s = JSON.parse(json);
  if (!s) return "not set";
  if (s.kind === "secret") return `Secret ${s.name} key ${s.key}`;
  if (s.kind === "configMapKey") return `ConfigMap ${s.name} key ${s.key}`;
  if (s.kind === "value") return "a literal value";
  return s.kind === "field" ? `field ${s.fieldPath}` : s.kind;
}

// Verbs on core-group pods that the rendered RBAC grants service account `sa` in namespace `ns`.
function podVerbs(objects, sa, ns) {
  const verbs = new Set();
  for (const b of objects.filter((x) => x.kind === "RoleBinding" || x.kind === "ClusterRoleBinding")) {
    const bound = (b.subjects ?? []).some((s) => s.kind === "ServiceAccount" && s.name === sa && (s.namespace ?? b.metadata?.namespace) === ns);
    if (!bound || (b.kind === "RoleBinding" && b.metadata?.namespace !== ns)) continue;
    const ref = b.roleRef ?? {};
    const role = objects.find((x) => x.kind === ref.kind && x.metadata?.name === ref.name && (ref.kind === "ClusterRole" || x.metadata?.namespace === ns));
    for (const r of role?.rules ?? [])
      if ((r.apiGroups ?? []).some((g) => g === "" || g === "*") && (r.resources ?? []).some((x) => x === "pods" || x === "*"))
        for (const v of r.verbs ?? []) verbs.add(v);
  }
  return verbs;
}

function securityChecks(o, c, psc, report) {
  const where = `container ${c.name}`;
  const csc = c.securityContext ?? {};
  const nonRoot = csc.runAsNonRoot ?? psc.runAsNonRoot;
  const uid = csc.runAsUser ?? psc.runAsUser;
  if (nonRoot !== true) report(o, `${where} needs runAsNonRoot: true`);
  if (uid === 0) report(o, `${where} runs as uid 0`);
  if (csc.readOnlyRootFilesystem !== true) report(o, `${where} needs securityContext.readOnlyRootFilesystem: true`);
  if (csc.allowPrivilegeEscalation !== false) report(o, `${where} needs securityContext.allowPrivilegeEscalation: false`);
  if (!(csc.capabilities?.drop ?? []).includes("ALL")) report(o, `${where} needs securityContext.capabilities.drop: [ALL]`);
  if ((csc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") report(o, `${where} needs seccompProfile RuntimeDefault (pod or container)`);
}

function writable(o, c, dirs, report) {
  const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
  for (const dir of new Set(dirs)) {
    const m = mounts.get(dir);
    if (!m) report(o, `container ${c.name} has a read-only root filesystem but nothing writable mounted at ${dir} (use an emptyDir)`);
    else if (m.readOnly) report(o, `container ${c.name} mounts ${dir} read-only; it must be writable`);
  }
}

// The environment a container gets: envFrom ConfigMaps (rendered ones), then env values.
function envOf(c, byKindName) {
  const env = {};
  for (const ef of c.envFrom ?? [])
    if (ef.configMapRef) Object.assign(env, byKindName.get(`ConfigMap/${ef.configMapRef.name}`)?.data ?? {});
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

// ---------- driver ----------

async function checkTarget(label, objects, opts) {
  const before = problems.length;
  const report = (o, msg) => problems.push(`${label}: ${o ? `${id(o)}: ` : ""}${msg}`);
  for (const o of objects) {
    if (typeof o !== "object" || Array.isArray(o)) { report(null, "a YAML document that is not an object"); continue; }
    await validateSchema(o, (msg) => report(o, msg));
  }
  semanticChecks(objects, opts, report);
  const n = problems.length - before;
  if (n) {
    failedTargets++;
    console.log(`${label}: ${objects.length} objects, ${n} problem${n === 1 ? "" : "s"}`);
  } else console.log(`${label}: ${objects.length} object${objects.length === 1 ? "" : "s"} valid`);
}

const subdirs = (d) => (existsSync(d) ? readdirSync(d).filter((n) => statSync(path.join(d, n)).isDirectory()).sort().map((n) => path.join(d, n)) : []);
const kustomizationOf = (d) => ["kustomization.yaml", "kustomization.yml", "Kustomization"].map((f) => path.join(d, f)).find(existsSync);

async function main() {
  if (!existsSync(k8sDir)) { console.error(`${k8sDir}: no such directory`); process.exit(2); }
  checkKubectl();
  const overlays = subdirs(path.join(k8sDir, "overlays")).filter(kustomizationOf);
  if (!overlays.length) problems.push(`${shown(path.join(k8sDir, "overlays"))}: no overlays (directories with a kustomization.yaml)`);
  const targets = [];
  if (kustomizationOf(path.join(k8sDir, "base"))) targets.push({ dir: path.join(k8sDir, "base"), isOverlay: false });
  for (const d of overlays) targets.push({ dir: d, isOverlay: true });

  for (const t of targets) {
    const label = shown(t.dir);
    let objects;
    try {
      objects = parseDocs(render(t.dir));
    } catch (e) {
      problems.push(`${label}: ${e.message}`);
      failedTargets++;
      console.log(`${label}: does not render`);
      continue;
    }
    await checkTarget(label, objects, { isOverlay: t.isOverlay });
  }

  // Plain manifests applied by hand (k8s/tools/*.yaml).
  const tools = path.join(k8sDir, "tools");
  if (existsSync(tools))
    for (const f of readdirSync(tools).filter((n) => /\.ya?ml$/.test(n)).sort()) {
      const file = path.join(tools, f);
      let objects;
      try { objects = parseDocs(readFileSync(file, "utf8")); } catch (e) { problems.push(`${shown(file)}: ${e.message}`); failedTargets++; continue; }
      await checkTarget(shown(file), objects, { isOverlay: false });
    }

  // Every component is used by some overlay (so the renders above cover it).
  const components = subdirs(path.join(k8sDir, "components")).filter(kustomizationOf);
  const used = new Set();
  for (const d of overlays) {
    const k = parseYaml(readFileSync(kustomizationOf(d), "utf8")) ?? {};
    for (const c of k.components ?? []) used.add(path.resolve(d, c));
  }
  for (const c of components)
    if (!used.has(c)) problems.push(`${shown(c)}: no overlay uses this component, so nothing renders or checks it (add it to an overlay's components:)`);

  if (problems.length) {
    console.log(`\n${problems.length} problem${problems.length === 1 ? "" : "s"}:`);
    for (const p of problems) console.log(`  ${p}`);
    process.exit(1);
  }
}

await main();
