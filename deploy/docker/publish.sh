#!/usr/bin/env bash
# The one place the release publish command lives. The Dockerfiles' build stage runs it, and so do the
# tests (tests/Deploy.Tests/ImageTests.cs).
#
#   deploy/docker/publish.sh <silo|saectl> <out-dir> [rid] [extra dotnet publish args…]
#   deploy/docker/publish.sh --restore-only <silo|saectl> [rid]
#
# Output: a self-contained (no .NET runtime needed on the target), Release, framework-independent
# folder for <rid> (default linux-x64) with the native apphost (<out-dir>/saecluster-silo or
# <out-dir>/saectl) and the runtime; no native libraries of its own (no SQLite any more). oneDNN
# (libdnnl.so.2/.3) is not in it: the image installs it from the distro, and without it the GEMMs use
# managed SIMD code.
#
# Not trimmed, on purpose (measured; see deploy/docker/README.md, "Trimming"): full trimming breaks the
# reflection-based System.Text.Json the API and the actors use, and partial trimming leaves ILLink
# warnings in YamlDotNet, Spectre.Console and ASP.NET that only JSON source generation would settle.
# Satellite resource assemblies are left out (InvariantGlobalization is on: they are never loaded), and
# the PDBs are embedded so stack traces keep file:line.
#
# --restore-only restores the packages (NuGet packages and the runtime packs for <rid>) and nothing else:
# the Dockerfiles run it in a layer that depends only on the project files, so a source change does not
# download packages again.
#
# --disable-build-servers: no MSBuild node or compiler server outlives the publish (a Docker RUN step, or
# a test that waits for the output pipes to close).
# Intermediate files go to an artifacts folder outside the source tree ($SAECLUSTER_ARTIFACTS, default
# ${TMPDIR:-/tmp}/saecluster-publish), so a publish never mixes with a `dotnet build` of the same checkout.
# Publishes that share that folder must run one at a time (they share the library projects' obj/).
set -euo pipefail
usage() {
  echo "usage: deploy/docker/publish.sh <silo|saectl> <out-dir> [rid] [dotnet publish args…]" >&2
  echo "       deploy/docker/publish.sh --restore-only <silo|saectl> [rid]" >&2
  exit 2
}
restore_only=false
if [ "${1:-}" = "--restore-only" ]; then restore_only=true; shift; fi
[ $# -ge 1 ] || usage
what="$1"; shift
if ! $restore_only; then [ $# -ge 1 ] || usage; out="$1"; shift; fi
rid="linux-x64"
if [ $# -ge 1 ] && [ "${1#-}" = "$1" ]; then rid="$1"; shift; fi
if $restore_only && [ $# -gt 0 ]; then usage; fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
case "$what" in
  silo) project="$root/src/Silo/SaeCluster.Silo.csproj" exe=saecluster-silo ;;
  saectl) project="$root/src/Client/saectl.csproj" exe=saectl ;;
  *) usage ;;
esac
artifacts="${SAECLUSTER_ARTIFACTS:-${TMPDIR:-/tmp}/saecluster-publish}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# The properties restore and publish must agree on (the runtime packs restored depend on them).
common=(--runtime "$rid" --artifacts-path "$artifacts" -p:SelfContained=true -p:PublishTrimmed=false)

if $restore_only; then
  dotnet restore "$project" "${common[@]}" --disable-build-servers -nologo -v quiet
  echo "restored $what ($rid)"
  exit 0
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
dotnet publish "$project" "${common[@]}" \
  --configuration Release \
  --self-contained true \
  --output "$out" \
  -p:DebugType=embedded \
  -p:SatelliteResourceLanguages=en \
  -p:GenerateDocumentationFile=false \
  --disable-build-servers \
  -nologo -v quiet "$@"

test -x "$out/$exe" || { echo "publish.sh: $out/$exe was not produced" >&2; exit 1; }
echo "published $what ($rid) to $out: $(du -sh "$out" | cut -f1)"
