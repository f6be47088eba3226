#!/usr/bin/env node
// Lints every deploy/docker/*.Dockerfile without a Docker engine (run it as `deploy/check/check.sh docker`).
//
//   node deploy/check/lint-dockerfiles.mjs [Dockerfile…]      (default: every deploy/docker/*.Dockerfile)
//
// 1. Syntax: every diagnostic of dockerfile-utils' validate() (the checks the VS Code Docker extension runs:
//    unknown instructions and flags, bad FROM references, malformed JSON forms, …), errors and warnings alike.
// 2. Our rules (the build context is the repository root: `docker build -f deploy/docker/X.Dockerfile .`):
//    - multi-stage: at least two FROM;
//    - every FROM pinned: a tag other than `latest` (or a digest), after expanding ARG defaults; a FROM may
//      also name an earlier stage, or `scratch`;
//    - the final stage sets a numeric, non-root USER (uid or uid:gid; Kubernetes' runAsNonRoot can only
//      verify a numeric one);
//    - every `apt-get install` / `apt install` has --no-install-recommends, and the same RUN runs
//      `apt-get update` first and removes /var/lib/apt/lists afterwards (a separate RUN leaves them in a layer);
//    - a build stage runs deploy/docker/publish.sh to publish, and the final stage copies that output;
//    - every COPY/ADD source taken from the build context exists in the repository and is not excluded by
//      .dockerignore;
//    - ENTRYPOINT is in exec form (a JSON array), so the app is PID 1 and receives SIGTERM.
// Prints `<file>: ok` per clean file, else one `<file>:<line>: <message>` per problem and `<file>: N problem(s)`;
// exits 1 when anything is wrong (2 for usage errors).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const utils = require('dockerfile-utils');
// dockerfile-ast is dockerfile-utils' own parser (a pinned dependency of it): resolve it from there.
const ast = createRequire(require.resolve('dockerfile-utils'))('dockerfile-ast');

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const rel = (p) => path.relative(repo, p).split(path.sep).join('/');

// ---------------------------------------------------------------------------------------------------------
// .dockerignore, as Docker reads it (moby/patternmatcher): one pattern per line, `#` comments, a leading `!`
// re-includes, `**` spans folders, the last matching pattern wins, and a path is excluded when it or one of
// its parent folders is.
function loadDockerignore() {
  const file = path.join(repo, '.dockerignore');
  if (!fs.existsSync(file)) return [];
  const patterns = [];
  for (let raw of fs.readFileSync(file, 'utf8').split(/\r?\n/)) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    let exclusion = true;
    if (line.startsWith('!')) { exclusion = false; line = line.slice(1).trim(); }
    line = path.posix.normalize(line).replace(/^\/+/, '').replace(/\/+$/, '');
    if (line === '.' || line === '') continue;
    patterns.push({ exclusion, re: globToRegExp(line), text: raw.trim() });
  }
  return patterns;
}

function globToRegExp(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') { i++; re += '(?:.*/)?'; } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else { re += '[' + glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']'; i = end; }
    } else if (c === '\\' && i + 1 < glob.length) { re += '\\' + glob[++i]; }
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}

/** The .dockerignore pattern that excludes repo-relative path p (or one of its parents), else null. */
function ignoredBy(patterns, p) {
  const parts = p.split('/');
  let matched = null;
  for (const pat of patterns) {
    let hit = false;
    for (let n = 1; n <= parts.length && !hit; n++) hit = pat.re.test(parts.slice(0, n).join('/'));
    if (hit) matched = pat.exclusion ? pat : null;
  }
  return matched;
}

/** Repo-relative paths matching a COPY source that has wildcards (Go filepath.Match per segment). */
function expandGlob(src) {
  const re = globToRegExp(src.replace(/\*\*/g, '*'));
  const depth = src.split('/').length;
  const out = [];
  const walk = (dir, level) => {
    if (level > depth) return;
    let entries;
    try { entries = fs.readdirSync(path.join(repo, dir), { withFileTypes: true }); } catch { return; }
    for (const e of entries) {
      const p = dir ? `${dir}/${e.name}` : e.name;
      if (level === depth) { if (re.test(p)) out.push(p); }
      else if (e.isDirectory() && e.name !== '.git' && e.name !== 'node_modules') walk(p, level + 1);
    }
  };
  walk('', 1);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
const args = process.argv.slice(2);
let files;
if (args.length) files = args.map((a) => path.resolve(a));
else {
  const dir = path.join(repo, 'deploy', 'docker');
  files = fs.existsSync(dir)
    ? fs.readdirSync(dir).filter((f) => f.endsWith('.Dockerfile')).sort().map((f) => path.join(dir, f))
    : [];
  if (!files.length) {
    console.error(`lint-dockerfiles: no *.Dockerfile under ${rel(dir)}`);
    process.exit(1);
  }
}
const ignore = loadDockerignore();
const severityName = { 1: 'error', 2: 'warning', 3: 'info', 4: 'hint' };
let failed = 0;

for (const file of files) {
  const name = rel(file);
  if (!fs.existsSync(file)) {
    console.log(`${name}: no such file`);
    failed++;
    continue;
  }
  const text = fs.readFileSync(file, 'utf8');
  const problems = []; // [line (1-based), message]
  const at = (instruction) => instruction.getRange().start.line + 1;

  // 1. dockerfile-utils
  for (const d of utils.validate(text)) {
    problems.push([d.range.start.line + 1, `${severityName[d.severity] ?? 'problem'}: ${d.message} (dockerfile-utils)`]);
  }

  const df = ast.DockerfileParser.parse(text);
  const instructions = df.getInstructions();
  const froms = df.getFROMs();
  const globalArgs = new Map();
  for (const a of df.getInitialARGs()) {
    const prop = a.getProperty();
    if (prop) globalArgs.set(prop.getName(), prop.getValue());
  }
  const expand = (s) =>
    s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, dflt, b) => {
      const v = globalArgs.get(a ?? b);
      return v != null && v !== '' ? v : dflt ?? '';
    });

  // Stages: each FROM up to the next one.
  const stages = froms.map((from, i) => {
    const start = from.getRange().start.line;
    const end = i + 1 < froms.length ? froms[i + 1].getRange().start.line : Infinity;
    return {
      from,
      name: from.getBuildStage()?.toLowerCase() ?? null,
      index: i,
      instructions: instructions.filter((ins) => ins.getRange().start.line > start && ins.getRange().start.line < end),
    };
  });

  // 2a. multi-stage
  if (froms.length < 2) problems.push([froms.length ? at(froms[0]) : 1, `not multi-stage: ${froms.length} FROM (a build stage and a runtime stage expected)`]);

  // 2b. pinned FROMs
  const stageNames = new Set();
  for (const st of stages) {
    const raw = st.from.getImage() ?? '';
    const image = expand(raw);
    if (/\$/.test(raw) && /\$\{?[A-Za-z_]/.test(raw) && image.trim() === '') {
      problems.push([at(st.from), `FROM ${raw}: the ARG has no default, so the base image is not pinned`]);
    } else if (stageNames.has(image.toLowerCase()) || image === 'scratch') {
      // an earlier stage, or the empty image
    } else {
      const m = /^(?<name>[^@]+?)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?<digest>[A-Za-z0-9]+:[A-Fa-f0-9]+))?$/.exec(image);
      const last = m?.groups.name.split('/').pop() ?? '';
      if (!m || last.includes(':')) problems.push([at(st.from), `FROM ${image}: cannot read the image reference`]);
      else if (!m.groups.tag && !m.groups.digest) problems.push([at(st.from), `FROM ${image}: no tag (pin one, e.g. ${image}:<version>)`]);
      else if (m.groups.tag === 'latest' && !m.groups.digest) problems.push([at(st.from), `FROM ${image}: 'latest' is not a pinned tag`]);
    }
    if (st.name) stageNames.add(st.name);
  }

  const final = stages[stages.length - 1];
  if (final) {
    // 2c. numeric non-root USER in the final stage
    const users = final.instructions.filter((i) => i.getKeyword() === 'USER');
    const user = users[users.length - 1];
    if (!user) problems.push([at(final.from), 'the final stage has no USER: the container would run as root (add USER <uid>:<gid>)']);
    else {
      const value = (user.getArgumentsContent() ?? '').trim();
      const m = /^(\d+)(?::(\d+))?$/.exec(value);
      if (!m) problems.push([at(user), `USER ${value}: use a numeric uid[:gid] (Kubernetes runAsNonRoot cannot verify a name)`]);
      else if (Number(m[1]) === 0) problems.push([at(user), `USER ${value}: the final stage runs as root`]);
    }

    // 2g. ENTRYPOINT in exec form
    const eps = final.instructions.filter((i) => i.getKeyword() === 'ENTRYPOINT');
    const ep = eps[eps.length - 1];
    if (!ep) problems.push([at(final.from), 'the final stage has no ENTRYPOINT']);
    else {
      const content = (ep.getArgumentsContent() ?? '').trim();
      let json = null;
      try { json = JSON.parse(content); } catch { /* shell form */ }
      if (!Array.isArray(json) || !json.length || !json.every((s) => typeof s === 'string'))
        problems.push([at(ep), `ENTRYPOINT ${content}: use the exec form ["/app/…", …] (the shell form wraps the app in /bin/sh -c, which does not pass SIGTERM on)`]);
    }
  }

  // 2d. apt-get hygiene, per RUN
  for (const ins of instructions.filter((i) => i.getKeyword() === 'RUN')) {
    const cmd = (ins.getArgumentsContent() ?? '').replace(/\\\r?\n/g, ' ');
    const installs = [...cmd.matchAll(/\bapt(?:-get)?\s+(?:-[^\s]+\s+)*install\b[^;&|]*/g)];
    if (!installs.length) continue;
    for (const inst of installs) {
      if (!/--no-install-recommends\b/.test(inst[0])) problems.push([at(ins), `'${inst[0].trim().replace(/\s+/g, ' ').slice(0, 60)}…' lacks --no-install-recommends`]);
    }
    const firstInstall = installs[0].index;
    const update = /\bapt(?:-get)?\s+(?:-[^\s]+\s+)*update\b/.exec(cmd);
    if (!update || update.index > firstInstall) problems.push([at(ins), 'apt-get install without apt-get update earlier in the same RUN (a cached update layer installs stale versions)']);
    const clean = /\brm\s+(?:-[a-zA-Z]+\s+)*\/var\/lib\/apt\/lists(?:\/\*?)?(?=\s|$|;|&)/.exec(cmd);
    if (!clean || clean.index < firstInstall) problems.push([at(ins), 'apt-get install without `rm -rf /var/lib/apt/lists/*` after it in the same RUN (the package lists stay in the layer)']);
  }

  // 2e. publish.sh in a build stage, its output copied into the final stage
  const publishes = [];
  for (const st of stages.slice(0, -1)) {
    for (const ins of st.instructions.filter((i) => i.getKeyword() === 'RUN')) {
      const cmd = (ins.getArgumentsContent() ?? '').replace(/\\\r?\n/g, ' ');
      for (const m of cmd.matchAll(/(?:^|[\s;&|(])(?:bash\s+|sh\s+|\.\/)?deploy\/docker\/publish\.sh\s+(silo|saectl)\s+(\S+)/g))
        publishes.push({ stage: st, out: m[2].replace(/\/+$/, ''), line: at(ins) });
    }
  }
  if (!publishes.length) problems.push([froms.length ? at(froms[0]) : 1, 'no build stage runs deploy/docker/publish.sh <silo|saectl> <out-dir>']);
  else if (final) {
    const copied = final.instructions.some((ins) => {
      if (!['COPY', 'ADD'].includes(ins.getKeyword())) return false;
      const fromFlag = ins.getFlags().find((f) => f.getName() === 'from');
      if (!fromFlag) return false;
      const src = ins.getArguments().slice(0, -1).map((a) => a.getValue().replace(/\/+$/, ''));
      return publishes.some((p) => {
        const ref = (fromFlag.getValue() ?? '').toLowerCase();
        return (ref === p.stage.name || ref === String(p.stage.index)) && src.includes(p.out);
      });
    });
    if (!copied) problems.push([publishes[0].line, `the final stage does not COPY --from=<build stage> the publish output (${publishes.map((p) => p.out).join(', ')})`]);
  }

  // 2f. COPY/ADD sources from the build context
  for (const ins of instructions.filter((i) => ['COPY', 'ADD'].includes(i.getKeyword()))) {
    if (ins.getFlags().some((f) => f.getName() === 'from')) continue;
    const content = (ins.getArgumentsContent() ?? '').trim();
    let argv;
    if (content.startsWith('[')) { try { argv = JSON.parse(content); } catch { argv = null; } }
    argv ??= ins.getArguments().map((a) => a.getValue());
    if (argv.some((a) => a.startsWith('<<'))) continue; // heredoc
    for (const rawSrc of argv.slice(0, -1)) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rawSrc) || rawSrc.startsWith('git@')) continue; // ADD <url>
      const src = path.posix.normalize(expand(rawSrc)).replace(/^\.?\/+/, '').replace(/\/+$/, '') || '.';
      if (src.startsWith('..')) { problems.push([at(ins), `${ins.getKeyword()} ${rawSrc}: outside the build context (the repository root)`]); continue; }
      const matches = /[*?[]/.test(src) ? expandGlob(src) : fs.existsSync(path.join(repo, src)) ? [src] : [];
      if (!matches.length) { problems.push([at(ins), `${ins.getKeyword()} ${rawSrc}: no such file in the repository (paths are relative to the repository root)`]); continue; }
      const kept = matches.filter((p) => !ignoredBy(ignore, p));
      if (!kept.length) problems.push([at(ins), `${ins.getKeyword()} ${rawSrc}: excluded from the build context by .dockerignore (${ignoredBy(ignore, matches[0]).text})`]);
    }
  }

  problems.sort((a, b) => a[0] - b[0]);
  if (!problems.length) console.log(`${name}: ok`);
  else {
    for (const [line, msg] of problems) console.log(`${name}:${line}: ${msg}`);
    console.log(`${name}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
