#!/usr/bin/env bash
# saectl bench cluster against a throwaway PostgreSQL (fsync on: the numbers are for a durable store).
# Extra arguments go to the benchmark:  bash bench/cluster-postgres.sh [--writers 32] [--writes 5000] [--work-ms 2000]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -u /tmp/saecluster-bench-pg.XXXXXX)
trap 'bash scripts/pg-throwaway.sh stop "$dir"' EXIT
conn=$(bash scripts/pg-throwaway.sh start "$dir")
dotnet build src/Client -c Release -nologo -v quiet >/dev/null
dotnet src/Client/bin/Release/net10.0/saectl.dll bench cluster --cluster "$conn" "$@"
