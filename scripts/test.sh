#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine with the .NET SDK: installs what it needs, builds,
# runs every test project, and ends with one line "tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --peer   # the PyTorch peers too: the bench tests run them
dotnet build Cluster.sln -c Release -nologo -v quiet || exit 1
log=$(mktemp)
dotnet test Cluster.sln -c Release --no-build -nologo 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# sum the per-assembly summaries ("Passed!  - Failed: 0, Passed: 32, Skipped: 0, ...")
awk -F'[:,]' '/(Passed|Failed)! +- +Failed:/ { f += $2; p += $4; s += $6 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
