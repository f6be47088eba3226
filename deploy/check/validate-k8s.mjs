#!/usr/bin/env node
// Offline validation of k8s/ (run by deploy/check/check.sh k8s; needs kubectl for `kubectl kustomize`).
//
//   node deploy/check/validate-k8s.mjs [K8S_DIR]      K8S_DIR defaults to <repo>/k8s
//
// Renders k8s/base and every k8s/overlays/<name> with `kubectl kustomize`, parses the objects and
//   1. validates each against its schema: kubernetes-models (core, apps, policy, …) and
//      @kubernetes-models/prometheus-operator (PodMonitor, …) — a kind neither knows is an error;
//   2. checks what the schemas cannot: every silo has readiness (/healthz) and liveness (/healthz/live)
//      probes, a `drain` preStop hook, terminationGracePeriodSeconds >= SAECLUSTER_GRACE_SECONDS + 30,
//      non-root / read-only root / no capabilities / RuntimeDefault seccomp, writable /work and /tmp,
//      scrape annotations, a PodDisruptionBudget; GPU silos request nvidia.com/gpu and tolerate the GPU
//      taint; silo images share one explicit tag; every namespaced object lands in one namespace;
//      Service / PDB / PodMonitor selectors match pods; in overlays every Secret, ConfigMap and PVC a
//      pod refers to (with the keys it reads) is rendered too.
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

    if (!silos.length) continue;
    // Silo pods.
    const psc = pod.spec.securityContext ?? {};
    const ann = pod.meta.annotations ?? {};
    if (ann["prometheus.io/scrape"] !== "true" || ann["prometheus.io/port"] !== "8080" || ann["prometheus.io/path"] !== "/metrics")
      report(o, 'pod template needs annotations prometheus.io/scrape: "true", prometheus.io/port: "8080", prometheus.io/path: /metrics');
    if (o.kind !== "Pod" && !pdbs.some((p) => labelsMatch(p.spec?.selector, pod.meta.labels)))
      report(o, "no PodDisruptionBudget selects these silo pods");
    const tgps = pod.spec.terminationGracePeriodSeconds ?? 30;
    for (const c of silos) {
      const where = `container ${c.name}`;
      const env = envOf(c, byKindName);
      const grace = num(env.SAECLUSTER_GRACE_SECONDS ?? "60");
      if (!(tgps >= grace + drainSlack))
        report(o, `terminationGracePeriodSeconds ${tgps} must be at least SAECLUSTER_GRACE_SECONDS (${grace}) + ${drainSlack}: the kubelet would kill the silo mid-checkpoint`);
      if (!env.SAECLUSTER_SLOTS) report(o, `${where} has no SAECLUSTER_SLOTS (its role): set it in env`);
      const http = (c.ports ?? []).find((p) => p.containerPort === 8080);
      if (!http) report(o, `${where} does not expose containerPort 8080`);
      const probePath = (p) => p?.httpGet?.path;
      if (!c.readinessProbe) report(o, `${where} has no readinessProbe (httpGet /healthz)`);
      else if (probePath(c.readinessProbe) !== "/healthz") report(o, `${where} readinessProbe should be httpGet /healthz (the cluster store answers), not ${probePath(c.readinessProbe) ?? "a non-HTTP probe"}`);
      if (!c.livenessProbe) report(o, `${where} has no livenessProbe (httpGet /healthz/live)`);
      else if (probePath(c.livenessProbe) !== "/healthz/live") report(o, `${where} livenessProbe should be httpGet /healthz/live (it must not depend on the store), not ${probePath(c.livenessProbe) ?? "a non-HTTP probe"}`);
      const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
      if (!preStop.includes("drain")) report(o, `${where} needs lifecycle.preStop.exec.command [/app/saecluster-silo, drain] (checkpoint and hand leases back before SIGTERM)`);
      const csc = c.securityContext ?? {};
      const nonRoot = csc.runAsNonRoot ?? psc.runAsNonRoot;
      const uid = csc.runAsUser ?? psc.runAsUser;
      if (nonRoot !== true) report(o, `${where} needs runAsNonRoot: true`);
      if (uid === 0) report(o, `${where} runs as uid 0`);
      if (csc.readOnlyRootFilesystem !== true) report(o, `${where} needs securityContext.readOnlyRootFilesystem: true`);
      if (csc.allowPrivilegeEscalation !== false) report(o, `${where} needs securityContext.allowPrivilegeEscalation: false`);
      if (!(csc.capabilities?.drop ?? []).includes("ALL")) report(o, `${where} needs securityContext.capabilities.drop: [ALL]`);
      if ((csc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") report(o, `${where} needs seccompProfile RuntimeDefault (pod or container)`);
      const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
      for (const dir of new Set(["/tmp", env.SAECLUSTER_WORK_DIR ?? "/work"])) {
        const m = mounts.get(dir);
        if (!m) report(o, `${where} has a read-only root filesystem but nothing writable mounted at ${dir} (use an emptyDir)`);
        else if (m.readOnly) report(o, `${where} mounts ${dir} read-only; it must be writable`);
      }
    }
  }

  // Selectors that select nothing are typos.
  const podLabels = pods.map(({ o, pod }) => ({ o, labels: pod.meta.labels ?? {}, pod }));
  for (const o of objects) {
    if (o.kind === "Service" && o.spec?.selector && Object.keys(o.spec.selector).length) {
      const hits = podLabels.filter((p) => labelsMatch({ matchLabels: o.spec.selector }, p.labels));
      if (!hits.length) report(o, `selector ${JSON.stringify(o.spec.selector)} matches no pod template`);
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
