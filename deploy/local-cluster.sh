#!/usr/bin/env bash
# A distributed SaeCluster on one machine: a throwaway PostgreSQL (the Orleans membership table, grain
# state, reminders), Azurite (Azure Blob Storage emulator, blob store) and a two-silo Orleans cluster —
# silo-1 runs every role (coordinator, producer, trainer) and serves the API on :5080, silo-2 (:5081) is
# --role trainer — and Prometheus (:9090) scraping both with deploy/prometheus/prometheus.yml and its
# alert rules. Each silo gets its own free silo and gateway ports and advertises 127.0.0.1.
#   bash deploy/local-cluster.sh start     # then: saectl submit examples/quickstart.yaml --cluster http://127.0.0.1:5080 --watch
#   bash deploy/local-cluster.sh status    # processes and GET /api/silos (the cluster's silos, roles, slots)
#   bash deploy/local-cluster.sh stop      # SIGTERM: running work checkpoints, silos leave; servers stop, state is deleted
# Logs and state: runs/local-cluster/. The API token is in runs/local-cluster/token (export SAECLUSTER_TOKEN).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=$root/runs/local-cluster
azurite_dir=${XDG_CACHE_HOME:-$HOME/.cache}/saecluster/azurite
azurite_pkg=azurite@3.35.0   # the newest that runs on Debian 12's node 20
silo_dll=$root/src/Silo/bin/Release/net10.0/saecluster-silo.dll

free_port() { free_ports 1; }
# N distinct free loopback ports (all bound at once, so none repeats)
free_ports() { python3 -c 'import socket,sys; s=[socket.socket() for _ in range(int(sys.argv[1]))]; [x.bind(("127.0.0.1",0)) for x in s]; print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"; }
wait_http() { for _ in $(seq 1 "${2:-60}"); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.5; done; return 1; }
alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

start() {
  if alive silo-1; then echo "already running (bash deploy/local-cluster.sh stop first)" >&2; exit 1; fi
  bash scripts/install-deps.sh
  mkdir -p "$dir"
  echo "building the silo…" >&2
  dotnet build src/Silo -c Release -nologo -v quiet >/dev/null
  dotnet build src/Client -c Release -nologo -v quiet >/dev/null

  echo "starting PostgreSQL…" >&2
  pg=$(bash scripts/pg-throwaway.sh start "$dir/postgres")

  if [ ! -f "$azurite_dir/node_modules/azurite/dist/src/blob/main.js" ]; then
    echo "installing $azurite_pkg with npm…" >&2
    mkdir -p "$azurite_dir"
    npm install --no-audit --no-fund --silent --prefix "$azurite_dir" "$azurite_pkg" >/dev/null
  fi
  blob_port=$(free_port)
  mkdir -p "$dir/azurite"
  nohup node "$azurite_dir/node_modules/azurite/dist/src/blob/main.js" --blobHost 127.0.0.1 --blobPort "$blob_port" \
    --location "$dir/azurite" --disableTelemetry --silent >"$dir/azurite.log" 2>&1 &
  echo $! >"$dir/azurite.pid"
  blobs="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$blob_port/devstoreaccount1;"
  wait_http "http://127.0.0.1:$blob_port/devstoreaccount1?comp=list" 20 || true

  token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'); echo "$token" >"$dir/token"
  read -r silo1_port gw1_port silo2_port gw2_port <<<"$(free_ports 4)"
  # --death-votes 1: in a cluster of two, the survivor alone declares the other dead (and takes its work)
  launch() { # id http-port role slots silo-port gateway-port
    SAECLUSTER_CLUSTER="$pg" SAECLUSTER_BLOBS="$blobs" SAECLUSTER_TOKEN="$token" \
      nohup dotnet "$silo_dll" --id "$1" --urls "http://127.0.0.1:$2" --role "$3" --slots "$4" \
      --silo-port "$5" --gateway-port "$6" --advertise 127.0.0.1 --death-votes 1 \
      --data-root "$root/examples" --work-dir "$dir/work-$1" >"$dir/$1.log" 2>&1 &
    echo $! >"$dir/$1.pid"
  }
  launch silo-1 5080 coordinator,producer,trainer producer=1,trainer=2 "$silo1_port" "$gw1_port"
  launch silo-2 5081 trainer trainer=2 "$silo2_port" "$gw2_port"
  for s in 1 2; do
    wait_http "http://127.0.0.1:508$((s - 1))/healthz" 120 || { echo "silo-$s did not come up; see $dir/silo-$s.log" >&2; tail -5 "$dir/silo-$s.log" >&2; exit 1; }
  done

  prom="not started (install Debian's prometheus)"
  if command -v prometheus >/dev/null; then
    mkdir -p "$dir/prometheus"
    nohup prometheus --config.file="$root/deploy/prometheus/prometheus.yml" --storage.tsdb.path="$dir/prometheus" \
      --web.listen-address=127.0.0.1:9090 >"$dir/prometheus.log" 2>&1 &
    echo $! >"$dir/prometheus.pid"
    wait_http http://127.0.0.1:9090/-/ready 40 && prom="http://127.0.0.1:9090 (alerts: /alerts; try saecluster_sae_fvu_ratio)" || prom="did not start; see $dir/prometheus.log"
  fi
  cat <<MSG
local cluster up: PostgreSQL + Azurite (blob port $blob_port) + an Orleans cluster of two silos:
  silo-1 :5080 (API) roles coordinator,producer,trainer  silo port $silo1_port, gateway $gw1_port
  silo-2 :5081       role trainer                        silo port $silo2_port, gateway $gw2_port
  prometheus: $prom
  metrics: curl -s http://127.0.0.1:5080/metrics
  export SAECLUSTER_URL=http://127.0.0.1:5080 SAECLUSTER_TOKEN=$token
  saectl submit examples/quickstart.yaml --watch      # paths in the sweep resolve against examples/ (the silos' --data-root)
  curl -s -H "Authorization: Bearer $token" http://127.0.0.1:5080/api/silos
  dashboard: http://127.0.0.1:5080/dashboard?token=$token
  bash deploy/local-cluster.sh stop
logs: $dir/*.log
MSG
}

status() {
  for p in silo-1 silo-2 azurite prometheus; do printf '%-8s %s\n' "$p" "$(alive $p && echo running || echo stopped)"; done
  # GET /api/silos: every active silo of the cluster (the membership table) with its roles and slots
  [ -f "$dir/token" ] && curl -fsS -H "Authorization: Bearer $(cat "$dir/token")" http://127.0.0.1:5080/api/silos | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    print("%-8s %-8s %-28s roles %-28s slots %s" % (s["id"], s["status"], s["address"], ",".join(s["roles"]), s["slots"]))' || true
}

stop() {
  # SIGTERM: running producers and trainers checkpoint (≤ --grace-seconds, 60) and the silos leave the cluster
  for p in silo-2 silo-1; do alive $p && kill -TERM "$(cat "$dir/$p.pid")"; done
  for p in silo-2 silo-1; do
    for _ in $(seq 1 180); do alive $p || break; sleep 0.5; done
    if alive $p; then echo "$p did not stop within 90 s of SIGTERM; killing it (see $dir/$p.log)" >&2; kill -KILL "$(cat "$dir/$p.pid")"; fi
  done
  alive azurite && kill "$(cat "$dir/azurite.pid")"
  alive prometheus && kill "$(cat "$dir/prometheus.pid")"
  bash scripts/pg-throwaway.sh stop "$dir/postgres"
  rm -rf "$dir"
  echo "local cluster stopped" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac
