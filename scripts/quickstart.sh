#!/usr/bin/env bash
# The main job on the embedded default: generate ground-truth activation shards, train one SAE of every
# architecture over them in one pass, print the results. Extra arguments go to `saectl quickstart`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
dotnet build src/Client/saectl.csproj -c Release -v quiet -nologo >/dev/null
exec dotnet src/Client/bin/Release/net10.0/saectl.dll quickstart "$@"
