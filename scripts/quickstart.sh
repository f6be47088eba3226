#!/usr/bin/env bash
# The main job on the embedded default: `saectl run examples/quickstart.yaml` — a sweep over every layer
# and site (res, mlp, att, attn_out) of the trained tiny Gemma 2 in models/, with the whole cluster
# (sweep, activation producers, trainers as Orleans grains) in one process: an embedded Orleans silo with
# its grain state and the blobs in a local folder (runs/).
# It ends with a results table per SAE. Extra arguments go to `saectl run` (e.g. --overwrite to redo it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
dotnet build src/Client/saectl.csproj -c Release -v quiet -nologo >/dev/null
exec dotnet src/Client/bin/Release/net10.0/saectl.dll run examples/quickstart.yaml "$@"
