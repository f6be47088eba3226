# syntax=docker/dockerfile:1
#
# saecluster-silo, GPU image: the same silo on the NVIDIA CUDA 12 runtime (Ubuntu 24.04).
#
#   docker build -f deploy/docker/silo-gpu.Dockerfile -t saecluster/silo-gpu:0.5.0 .   (context: the repo root)
#   docker build -f deploy/docker/silo-gpu.Dockerfile --build-arg CUDA_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04 …
#
# The compute code has no CUDA path yet: today this image trains on the CPU exactly like
# silo.Dockerfile (oneDNN GEMMs). It ships the CUDA runtime, cuBLAS and NVRTC (all in the CUDA
# "runtime" image) so that the coming cuBLAS/NVRTC backend in src/Compute finds them with a plain
# dlopen (libcublas.so.12, libnvrtc.so.12, libcudart.so.12 are on the loader path of the base image).
# The GPU driver (libcuda.so.1) is not in the image: the NVIDIA container toolkit mounts the host's.
#
# CUDA_IMAGE: 12.9.1 is the last CUDA 12 release (Hopper and Blackwell). The base image's
# NVIDIA_REQUIRE_CUDA makes the container toolkit refuse a host driver that cannot run it; on a
# cluster whose nodes have an older driver branch, build with a lower 12.x runtime tag (a final patch
# release such as 12.6.3 or 12.8.1: NVIDIA removes superseded patch tags).
ARG CUDA_IMAGE=nvidia/cuda:12.9.1-runtime-ubuntu24.04

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
# Restore first, from the files restore reads only (see silo.Dockerfile).
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

FROM ${CUDA_IMAGE} AS runtime
ARG CUDA_IMAGE
ARG VERSION=0.5.0
ARG REVISION=unknown
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="saecluster-silo-gpu" \
      org.opencontainers.image.description="SaeCluster silo on the NVIDIA CUDA 12 runtime (cuBLAS, NVRTC) for the coming GPU backend; trains on the CPU with oneDNN until then. HTTP API on :8080, silo port 11111, gateway 30000." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="NOASSERTION" \
      org.opencontainers.image.base.name="${CUDA_IMAGE}"
# Ubuntu 24.04 names: oneDNN is libdnnl3 (3.1.1, universe; libdnnl.so.3, which Gemm.cs probes after
# libdnnl.so.2; it exports the same dnnl_sgemm and dnnl_gemm_bf16bf16f32), OpenSSL is libssl3t64
# after the 64-bit time_t rename. The CUDA apt repository the base image configures is refreshed too.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libdnnl3 libssl3t64 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 saecluster \
 && useradd --uid 10001 --gid 10001 --home-dir /work --no-create-home --shell /usr/sbin/nologin saecluster \
 && install --directory --owner 10001 --group 10001 --mode 0755 /work \
 && install --directory --mode 0755 /data
COPY --from=build /out /app
# As silo.Dockerfile. NVIDIA_VISIBLE_DEVICES / NVIDIA_DRIVER_CAPABILITIES tell the NVIDIA container
# runtime what to expose: every GPU the container is given (Kubernetes narrows that to the
# nvidia.com/gpu the pod requested) with the compute (CUDA) and utility (nvidia-smi/NVML) driver parts.
ENV SAECLUSTER_URLS=http://0.0.0.0:8080 \
    SAECLUSTER_WORK_DIR=/work \
    SAECLUSTER_DATA_ROOT=/data \
    DOTNET_gcServer=0 \
    DOTNET_RUNNING_IN_CONTAINER=true \
    HOME=/work \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /work
USER 10001:10001
# As silo.Dockerfile: HTTP 8080, silo port 11111, gateway port 30000.
EXPOSE 8080 11111 30000
# No HEALTHCHECK (no HTTP client in the image); Kubernetes probes GET /healthz.
ENTRYPOINT ["/app/saecluster-silo"]
