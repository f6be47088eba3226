# syntax=docker/dockerfile:1
#
# saectl, the CLI, alone: for submitting to / watching / cancelling sweeps on a cluster from a
# Kubernetes Job, a CI step or a machine without .NET.
#
#   docker build -f deploy/docker/saectl.Dockerfile -t saecluster/saectl:0.5.0 .      (context: the repo root)
#   docker run --rm -e SAECLUSTER_URL=http://silo:8080 -e SAECLUSTER_TOKEN=… saecluster/saectl:0.5.0 status
#
# Base: Ubuntu chiseled runtime-deps (distroless: libc, libgcc, libstdc++, OpenSSL 3, CA roots, /tmp,
# no shell, no package manager), the smallest base a self-contained .NET app runs on with HTTPS.
# No oneDNN: submit/status/watch/cancel do no math, and a chiseled image cannot apt-install it.
# `saectl run`/`train` still work here, on the managed SIMD GEMM (saectl prints that once): the
# quickstart sweep takes 37 s instead of 32 s on 2 cores, but real model sizes lose the AMX bf16 GEMMs.
# Train in the silo images (oneDNN), or run saectl from a source checkout, for that.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build
WORKDIR /src
# Restore first, from the files restore reads only (see silo.Dockerfile).
COPY Directory.Build.props Directory.Packages.props ./
COPY src/Compute/SaeCluster.Compute.csproj src/Compute/
COPY src/Models/SaeCluster.Models.csproj src/Models/
COPY src/Sae/SaeCluster.Sae.csproj src/Sae/
COPY src/Grains/SaeCluster.Grains.csproj src/Grains/
COPY src/Client/saectl.csproj src/Client/
COPY deploy/docker/publish.sh deploy/docker/
RUN bash deploy/docker/publish.sh --restore-only saectl
COPY src/ src/
RUN bash deploy/docker/publish.sh saectl /out \
 && mkdir -p /rootfs/work

FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled AS runtime
ARG VERSION=0.5.0
ARG REVISION=unknown
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="saectl" \
      org.opencontainers.image.description="saectl, the SaeCluster CLI: submit, status, watch and cancel sweeps on a cluster (also run/train/inspect locally, without oneDNN)." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="NOASSERTION" \
      org.opencontainers.image.base.name="mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled"
COPY --from=build /out /app
# A working folder the user owns (the image has no shell to mkdir/chown one): `saectl run` writes
# runs/ under the current folder; mount a volume here to keep it.
COPY --from=build --chown=10001:10001 /rootfs/work /work
ENV HOME=/work
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["/app/saectl"]
