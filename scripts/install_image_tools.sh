#!/usr/bin/env bash
# Installs Debian's buildah, podman, runc and debootstrap for `make image-test` when missing.
# Idempotent; no Docker engine is needed (or used).
set -euo pipefail
need=()
for pkg in buildah podman runc debootstrap; do
  command -v "$pkg" >/dev/null || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "==> installing ${need[*]} (apt-get) for the image test"
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
    --no-install-recommends "${need[@]}" >/dev/null
fi
