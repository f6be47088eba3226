#!/usr/bin/env bash
# Installs the Debian packages SaeCluster uses, if they are missing (idempotent).
#   libdnnl2       oneDNN: fp32 and bf16 (AMX) GEMMs; without it saectl falls back to its managed SIMD GEMM
#   postgresql     the cluster store's tests start a throwaway server (initdb + pg_ctl)
#   nodejs, npm    the tests install Azurite (Azure Blob emulator), the tokenizer references and the
#                  offline Kubernetes/Dockerfile checks (deploy/check) with npm
#   prometheus     the metrics tests scrape a silo with a real Prometheus; promtool checks the exposition,
#                  deploy/prometheus/*.yml and the alert rules' unit tests
#   kubectl        only the client: `kubectl kustomize` renders k8s/ offline (no cluster needed)
#   chromium       the report tests open `saectl report`'s HTML in headless Chromium (DevTools protocol): every plot
#                  drawn, the table sorts, no console error, a non-blank screenshot
#   fonts-dejavu-core  the font the report's plots are measured and drawn in (ScottPlot through SkiaSharp)
#   python3-torch, libopenblas0-pthread  with --peer (the test suite passes it): the PyTorch peers of the benchmarks (bench/);
#                  without OpenBLAS, Debian's torch falls back to the reference BLAS (~2 GFLOP/s)
set -uo pipefail
pkgs=(libdnnl2 postgresql prometheus chromium fonts-dejavu-core)
command -v npm >/dev/null || pkgs+=(nodejs npm)
command -v kubectl >/dev/null || pkgs+=(kubectl)
[ "${1:-}" = "--peer" ] && pkgs+=(python3-torch libopenblas0-pthread)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
echo "installing ${missing[*]} (apt)" >&2
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
  echo "warning: could not install ${missing[*]} (tests that need them fail naming the package; without libdnnl2 saectl uses its managed GEMM)" >&2
fi
exit 0
