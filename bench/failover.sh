#!/usr/bin/env bash
# Time from `kill -9` of a silo to its trainer training again on another silo, on a real two-silo cluster
# (throwaway PostgreSQL, local blob folder, silo processes), with given membership settings:
#   bash bench/failover.sh                      # the settings the reliability tests use and Orleans' defaults
#   bash bench/failover.sh "--probe-seconds 2 --missed-probes 2 --death-votes 1 --reminder-seconds 2"
# For each setting: the seconds until the dead silo is out of the membership (the survivor's /api/silos),
# and until the trainer reports phase "training" on the survivor (resumed from its last checkpoint).
set -euo pipefail
cd "$(dirname "$0")/.."
settings=("${@:-}")
if [ -z "${settings[0]}" ]; then
  settings=("--probe-seconds 2 --missed-probes 2 --death-votes 1 --reminder-seconds 2" "--probe-seconds 5 --missed-probes 3 --death-votes 2 --reminder-seconds 60")
fi
dotnet build src/Silo -c Release -nologo -v quiet >/dev/null
silo_dll=$PWD/src/Silo/bin/Release/net10.0/saecluster-silo.dll
root=$(mktemp -d /tmp/saecluster-failover.XXXXXX); chmod 755 "$root"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; bash scripts/pg-throwaway.sh stop "$root/pg"; rm -rf "$root"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
pg=$(bash scripts/pg-throwaway.sh start "$root/pg")
sweep_yaml() { cat <<YAML
name: $1
model: models/tiny-gemma2-code
corpus:
  paths: ["/usr/lib/python3*/json/*.py", "/usr/lib/python3*/email/*.py"]
context: 64
tokens: 4000000
sites:
  layers: [0]
  kinds: [res]
saes:
  - arch: topk
    width: 64
    k: 4
training:
  batch: 512
  checkpoint_every: 8
storage:
  contexts_per_shard: 16
  shards_per_producer: 4
YAML
}
run=0
for s in "${settings[@]}"; do
  run=$((run + 1))
  db="Host=127.0.0.1;Port=$(echo "$pg" | sed 's/.*Port=\([0-9]*\).*/\1/');Username=postgres;Database=failover$run"
  python3 - "$pg" "failover$run" <<'PY'
import subprocess, sys
conn = dict(kv.split("=", 1) for kv in sys.argv[1].split(";"))
subprocess.run(["psql", "-h", conn["Host"], "-p", conn["Port"], "-U", "postgres", "-c", f"CREATE DATABASE {sys.argv[2]}"], check=True, capture_output=True)
PY
  ports=(); urls=()
  for i in 1 2; do
    http=$(free_port)
    # shellcheck disable=SC2086
    dotnet "$silo_dll" --cluster "$db" --blobs "$root/blobs$run" --id "silo-$i" --urls "http://127.0.0.1:$http" --data-root "$PWD" \
      --work-dir "$root/work$run-$i" --silo-port "$(free_port)" --gateway-port "$(free_port)" --advertise 127.0.0.1 --slots producer=1,trainer=1 $s \
      >"$root/silo$run-$i.log" 2>&1 &
    pids+=($!); ports+=($!); urls+=("http://127.0.0.1:$http")
  done
  for u in "${urls[@]}"; do for _ in $(seq 1 120); do curl -fs -o /dev/null "$u/healthz" && break; sleep 0.5; done; done
  sweep_yaml "failover$run" | curl -fs -o /dev/null -H 'Content-Type: text/yaml' --data-binary @- "${urls[0]}/api/sweeps"
  victim=""
  for _ in $(seq 1 600); do
    t=$(curl -fs "${urls[0]}/api/sweeps/failover$run" | json 'next((x["silo"] + " " + str(x["tokens"]) for x in d["trainers"] if x["phase"]=="training" and x["tokens"]>=8*512), "")')
    [ -n "$t" ] && { victim=${t%% *}; break; }
    sleep 0.2
  done
  [ -n "$victim" ] || { echo "the trainer never trained" >&2; exit 1; }
  i=${victim#silo-}; survivor=${urls[$((2 - i))]}
  kill -9 "${ports[$((i - 1))]}"; wait "${ports[$((i - 1))]}" 2>/dev/null || true
  t0=$(now); gone=""; back=""
  for _ in $(seq 1 1500); do
    if [ -z "$gone" ] && [ "$(curl -fs "$survivor/api/silos" | json 'len(d)' 2>/dev/null || echo 2)" = "1" ]; then gone=$(now); fi
    r=$(curl -fs "$survivor/api/sweeps/failover$run" 2>/dev/null | json 'next((1 for x in d["trainers"] if x["phase"]=="training" and x["silo"] and x["silo"]!="'"$victim"'"), 0)' 2>/dev/null || echo 0)
    if [ "$r" = "1" ]; then back=$(now); break; fi
    sleep 0.1
  done
  [ -n "$back" ] || { echo "the trainer did not resume within 150 s" >&2; exit 1; }
  [ -n "$gone" ] || gone=$back
  python3 -c "print('%-75s dead silo out of the membership after %5.1f s; trainer training again on the survivor after %5.1f s' % ('$s', $gone - $t0, $back - $t0))"
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
done
