#!/usr/bin/env bash
# saectl bench cluster against a throwaway PostgreSQL (Debian's postgresql package): initdb into a temp
# folder, start on a free port, run the benchmark, stop and delete. Extra arguments go to the benchmark.
#   bash bench/cluster-postgres.sh [--claimers 32] [--actors 5000]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed (bash scripts/install-deps.sh)" >&2; exit 1; }
dir=$(mktemp -d /tmp/saecluster-bench-pg.XXXXXX); chmod 755 "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
cleanup() { as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >/dev/null
# fsync stays on: the numbers are for a durable store
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
dotnet build src/Client -c Release -nologo -v quiet >/dev/null
dotnet src/Client/bin/Release/net10.0/saectl.dll bench cluster --cluster "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres" "$@"
