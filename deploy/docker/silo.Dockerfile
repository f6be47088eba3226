# syntax=docker/dockerfile:1
#
# saecluster-silo, CPU image: an Orleans silo (coordinator, producer and trainer roles) with the HTTP API on
# :8080, silo port 11111, gateway port 30000 — or, with --role api, an API-only Orleans client — on
# Debian 12 with oneDNN.
#
#   docker build -f deploy/docker/silo.Dockerfile -t saecluster/silo:0.5.0 .       (context: the repo root)
#
# Build stage: the .NET 10 SDK (.NET 10 images are Ubuntu 24.04 "noble"; there are no Debian ones)
# runs deploy/docker/publish.sh: a self-contained linux-x64 folder, so the runtime stage needs no .NET.
# Runtime stage: debian:bookworm-slim + libdnnl2 (oneDNN 2.6, libdnnl.so.2: the library and version the
# GEMM code is tested and measured with, AMX bf16 included) + OpenSSL 3 and CA roots (HTTPS to Azure
# Blob, TLS to PostgreSQL). No ICU (InvariantGlobalization), no curl, no shell tools beyond Debian's base.
# See deploy/docker/README.md for run examples and sizes.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
# Restore first, from the files restore reads only: this layer (the NuGet packages and the linux-x64
# runtime packs) is rebuilt when a project file, a package version or publish.sh changes, not on a
# source edit.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/Compute/SaeCluster.Compute.csproj src/Compute/
COPY src/Models/SaeCluster.Models.csproj src/Models/
COPY src/Sae/SaeCluster.Sae.csproj src/Sae/
COPY src/Grains/SaeCluster.Grains.csproj src/Grains/
COPY src/Silo/SaeCluster.Silo.csproj src/Silo/
COPY deploy/docker/publish.sh deploy/docker/
RUN bash deploy/docker/publish.sh --restore-only silo
COPY src/ src/
RUN bash deploy/docker/publish.sh silo /out

FROM debian:bookworm-slim AS runtime
ARG VERSION=0.5.0
ARG REVISION=unknown
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="saecluster-silo" \
      org.opencontainers.image.description="SaeCluster silo (CPU): an Orleans silo running sweeps (coordinator, activation producers, SAE trainers; --role) with the HTTP API on :8080, silo port 11111, gateway 30000; or an API-only Orleans client (--role api). oneDNN GEMMs (AMX bf16 where the CPU has it)." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="NOASSERTION" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
# One RUN: packages, then the user and the folders it writes. libdnnl2 pulls libgomp1 (OpenMP) and
# ocl-icd-libopencl1 (its OpenCL loader, unused on CPU).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libdnnl2 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 saecluster \
 && useradd --uid 10001 --gid 10001 --home-dir /work --no-create-home --shell /usr/sbin/nologin saecluster \
 && install --directory --owner 10001 --group 10001 --mode 0755 /work \
 && install --directory --mode 0755 /data
# /app is root-owned and read-only to the silo's user.
COPY --from=build /out /app
# SAECLUSTER_URLS: listen on every interface (the silo's own default is loopback only).
# SAECLUSTER_WORK_DIR: per-activation scratch (activation shards being written, trainer checkpoints
#   before upload); each activation gets a subfolder, removed when it ends. Mount an emptyDir/volume.
# SAECLUSTER_DATA_ROOT: relative model/corpus paths in submitted sweeps resolve here (mount them read-only).
# The cluster and blob stores default to folders under /work/runs (runs/.cluster: one silo, Orleans' file
# grain storage; runs: blobs): fine for one container with a volume on /work. A cluster of many silos sets
# SAECLUSTER_CLUSTER (PostgreSQL: the membership table, grain state, reminders) and SAECLUSTER_BLOBS (Azure).
# Workstation GC and TieredCompilation=false come from the app's runtimeconfig.json (Directory.Build.props);
# DOTNET_gcServer=0 restates the GC choice so an inherited environment cannot switch it.
# OMP_NUM_THREADS is not set here: oneDNN's OpenMP sizes itself from the visible CPUs, not from a CFS
# quota, so under a Kubernetes CPU limit set OMP_NUM_THREADS to that limit (see README.md).
ENV SAECLUSTER_URLS=http://0.0.0.0:8080 \
    SAECLUSTER_WORK_DIR=/work \
    SAECLUSTER_DATA_ROOT=/data \
    DOTNET_gcServer=0 \
    DOTNET_RUNNING_IN_CONTAINER=true \
    HOME=/work
WORKDIR /work
USER 10001:10001
# 8080: HTTP API, /healthz, /metrics, /dashboard. 11111: silo-to-silo (--silo-port), 30000: the gateway
# API-only clients connect to (--gateway-port); other silos reach them at the --advertise address (the pod
# IP in Kubernetes).
EXPOSE 8080 11111 30000
# No HEALTHCHECK: the image has no HTTP client to run one with; Kubernetes probes GET /healthz itself.
# SIGTERM (docker stop, pod deletion) makes the silo leave the cluster: running producers and trainers
# checkpoint and resume on other silos (--grace-seconds, default 60): give the container at least that
# long (docker stop -t 90, terminationGracePeriodSeconds: 90).
ENTRYPOINT ["/app/saecluster-silo"]
