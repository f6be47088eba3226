#!/usr/bin/env bash
# Offline checks of what deploy/ and k8s/ ship (no Docker engine or Kubernetes API server needed):
#   k8s      renders every kustomize overlay with `kubectl kustomize` and validates each object
#            against the Kubernetes (and prometheus-operator) schemas with npm kubernetes-models
#   docker   lints every Dockerfile under deploy/docker
#   all      both (the default)
# Installs its npm packages into deploy/check/node_modules on first use (pinned in package.json).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
what="${1:-all}"
if [ ! -d "$here/node_modules" ] || [ "$here/package.json" -nt "$here/node_modules/.installed" ]; then
  (cd "$here" && npm install --no-audit --no-fund --loglevel=error >/dev/null && touch node_modules/.installed)
fi
case "$what" in
  k8s) node "$here/validate-k8s.mjs" ;;
  docker) node "$here/lint-dockerfiles.mjs" ;;
  all) node "$here/validate-k8s.mjs" && node "$here/lint-dockerfiles.mjs" ;;
  *) echo "usage: deploy/check/check.sh [k8s|docker|all]" >&2; exit 2 ;;
esac
