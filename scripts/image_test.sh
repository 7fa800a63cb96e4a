#!/usr/bin/env bash
# `make image-test`: builds the Dockerfile unchanged and runs the image the way the chart does,
# without a Docker engine and without pulling anything from a container registry.
#
# 1. A stand-in for `python:3.11-slim` is made locally: `debootstrap --variant=minbase bookworm`
#    plus Debian's python3.11, python3.11-venv, python3-distutils and ca-certificates, with a venv
#    at /usr/local so `python` and `pip` sit where the official image has them. It is imported
#    with `buildah from scratch` / `commit` under that tag.
# 2. `buildah bud --pull=never --isolation chroot` builds the Dockerfile. pip in the build trusts
#    the host's CA bundle, mounted read-only into the build steps (never baked into the image).
# 3. The image runs as uid 10001 with a read-only root filesystem and every capability dropped:
#    /healthz, the self-hosting guide's list call, static files, `manage.py check` and `migrate`,
#    and the forwarder's `--help`.
#
# Traps of this kind of machine, handled here: cgroup v1 and v2 are mixed (crun refuses: runc
# with the cgroupfs manager), limits cannot be raised (ulimits are set to the host's own), and
# container storage lives in a temporary directory that is removed at exit.
#
# The debootstrap base is cached (var/image-base/) keyed by its recipe, only once it has been
# checked, and for at most LLME_IMAGE_BASE_MAX_AGE_DAYS (default 7) so security updates still
# come in; LLME_IMAGE_BASE_CACHE=0 disables the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/install_image_tools.sh

MIRROR=${LLME_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_TAG=docker.io/library/python:3.11-slim
IMAGE_TAG=localhost/llm-engine:image-test
HOST_CA=${LLME_HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
BASE_PACKAGES=python3.11,python3.11-venv,python3-distutils,ca-certificates
RECIPE="bookworm minbase $BASE_PACKAGES venv:/usr/local trim:v2"
MAX_AGE_DAYS=${LLME_IMAGE_BASE_MAX_AGE_DAYS:-7}

work=$(mktemp -d /var/tmp/llm-engine-image-test.XXXXXX)
container=""
cleanup() {
  set +e
  [ -n "$container" ] && podman rm -f -t 0 "$container" >/dev/null 2>&1
  buildah rm --all >/dev/null 2>&1
  podman rm -a -f >/dev/null 2>&1
  # Unmount whatever the storage still has mounted, then remove it all.
  grep " $work/" /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Container storage and engine settings live in $work only (nothing in /etc or /var/lib is used).
mkdir -p "$work/storage" "$work/run" "$work/tmp"
cat >"$work/storage.conf" <<EOF
[storage]
driver = "${LLME_IMAGE_STORAGE_DRIVER:-overlay}"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
# Limits at or below the host's: raising them is not permitted here, and podman would otherwise
# ask for 1048576 of each. The container runtime starts from a process limit of 32768 (buildah's
# build steps keep theirs), so the process limit is the lower of that and the host's.
nofile=$(ulimit -Sn)
nproc=$(ulimit -Su)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile"]
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/events.log"
tmp_dir = "$work/tmp"
static_dir = "$work/storage/libpod"
volume_path = "$work/storage/volumes"
EOF
export CONTAINERS_STORAGE_CONF=$work/storage.conf CONTAINERS_CONF=$work/containers.conf
export TMPDIR=$work/tmp BUILDAH_ISOLATION=chroot

elapsed() { echo "$(( $(date +%s) - $1 ))s"; }
t_start=$(date +%s)

# ------------------------------------------------------------------ 1. the base image
cache_dir=$ROOT/var/image-base
cache_key=$(printf '%s' "$RECIPE" | sha256sum | cut -c1-16)
cache_tar=$cache_dir/python-3.11-slim-$cache_key.tar
if [ "${LLME_IMAGE_BASE_CACHE:-1}" = 1 ] && [ -f "$cache_tar" ] && [ -f "$cache_tar.sha256" ] \
    && [ -z "$(find "$cache_tar" -mtime +"$MAX_AGE_DAYS")" ] \
    && (cd "$cache_dir" && sha256sum --quiet -c "$(basename "$cache_tar").sha256"); then
  echo "==> base image: cached $cache_tar"
  mkdir "$work/rootfs" && tar -C "$work/rootfs" -xpf "$cache_tar"
else
  echo "==> base image: debootstrap bookworm (minbase + $BASE_PACKAGES)"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$work/rootfs" "$MIRROR" \
    >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
  # The venv at /usr/local puts python, python3 and pip in /usr/local/bin, as in the official image.
  chroot "$work/rootfs" /usr/bin/python3.11 -m venv /usr/local
  chroot "$work/rootfs" /usr/local/bin/python -m pip --version
  # As the official image does: no bytecode under /usr/local (ensurepip compiles pip's).
  find "$work/rootfs/usr/local" -depth -name __pycache__ -type d -exec rm -rf {} +
  rm -rf "$work/rootfs"/var/cache/apt/archives/*.deb "$work/rootfs"/var/lib/apt/lists/* \
    "$work/rootfs"/usr/share/doc/* "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/info/* \
    "$work/rootfs"/var/log/*.log "$work/rootfs"/var/cache/debconf/*-old
  find "$work/rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  if [ "${LLME_IMAGE_BASE_CACHE:-1}" = 1 ]; then
    mkdir -p "$cache_dir"
    rm -f "$cache_dir"/python-3.11-slim-*.tar "$cache_dir"/python-3.11-slim-*.tar.sha256
    tar -C "$work/rootfs" --numeric-owner -cpf "$cache_tar.partial" .
    mv "$cache_tar.partial" "$cache_tar"
    (cd "$cache_dir" && sha256sum "$(basename "$cache_tar")" >"$(basename "$cache_tar").sha256")
  fi
fi
base=$(buildah from --pull=never scratch)
mnt=$(buildah mount "$base")
tar -C "$work/rootfs" --numeric-owner -cpf - . | tar -C "$mnt" --numeric-owner -xpf -
buildah umount "$base" >/dev/null
buildah config --env PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 --cmd python3 "$base"
buildah commit --quiet --rm "$base" "$BASE_TAG" >/dev/null
rm -rf "$work/rootfs"
echo "    base ready after $(elapsed "$t_start")"

# ------------------------------------------------------------------ 2. the Dockerfile, unchanged
# pip trusts the CA bundle it vendors: the host's bundle is mounted read-only over it for the
# RUN steps only. The file exists in the base image, so the mount leaves no placeholder behind.
pip_ca=$(podman run --rm --pull=never --ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc" \
  --network none "$BASE_TAG" python -c 'import pip._vendor.certifi as c; print(c.where())')
t_build=$(date +%s)
echo "==> buildah bud (Dockerfile unchanged, --pull=never, --isolation chroot)"
buildah bud --pull=never --isolation chroot --layers=false --network host \
  --ulimit "nofile=$nofile:$nofile" \
  -v "$HOST_CA:$pip_ca:ro" \
  -t "$IMAGE_TAG" -f Dockerfile . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
build_seconds=$(( $(date +%s) - t_build ))
size_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE_TAG")
base_bytes=$(podman image inspect --format '{{.Size}}' "$BASE_TAG")
echo "    built in ${build_seconds}s: image $((size_bytes / 1000000)) MB (base $((base_bytes / 1000000)) MB)"

# The host's CA bundle must not be left in the image: pip's bundle is the base image's own.
limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
in_image=$(podman run --rm --pull=never "${limits[@]}" --network none "$IMAGE_TAG" sha256sum "$pip_ca" | cut -d' ' -f1)
in_base=$(podman run --rm --pull=never "${limits[@]}" --network none "$BASE_TAG" sha256sum "$pip_ca" | cut -d' ' -f1)
if [ "$in_image" != "$in_base" ]; then
  echo "FAIL: the host CA bundle was baked into the image ($pip_ca)"; exit 1
fi
pycache=$(podman run --rm --pull=never "${limits[@]}" --network none "$IMAGE_TAG" \
  sh -c 'find /usr/local/lib/python3.11/site-packages /app -name __pycache__ | wc -l')
echo "    __pycache__ directories in site-packages and /app: $pycache"
[ "$pycache" -eq 0 ] || { echo "FAIL: bytecode was compiled into the image"; exit 1; }
leftovers=$(podman run --rm --pull=never "${limits[@]}" --network none "$IMAGE_TAG" ls -A /tmp)
[ -z "$leftovers" ] || { echo "FAIL: the build left files in /tmp: $leftovers"; exit 1; }

# ------------------------------------------------------------------ 3. run it as the chart does
# uid 10001, read-only root, no capabilities, no privilege escalation; /tmp is the only writable
# place (an emptyDir in the chart, a tmpfs here). No network but the container's own loopback:
# the checks run inside its network namespace, so no host port is ever taken.
run=(podman run --pull=never "${limits[@]}" --user 10001:10001 --read-only --read-only-tmpfs=false
     --tmpfs /tmp:rw,size=256m,mode=1777,notmpcopyup --cap-drop ALL --security-opt no-new-privileges
     --network none -e LLME_AUTH_MODE=trust-username)
echo "==> manage.py check, the forwarder's --help"
"${run[@]}" --rm "$IMAGE_TAG" python manage.py check
"${run[@]}" --rm "$IMAGE_TAG" python -m endpoints.forwarder --help | head -3

echo "==> the default command (the gateway), then migrate in the same container"
container=$("${run[@]}" -d "$IMAGE_TAG")
pid=$(podman inspect --format '{{.State.Pid}}' "$container")
in_pod() { nsenter -t "$pid" -n -- "$@"; }
for _ in $(seq 120); do
  in_pod curl -fsS -o /dev/null http://127.0.0.1:5000/healthz 2>/dev/null && break
  sleep 0.5
done
expect() {  # expect <label> <expected substring> <curl args...>
  local label=$1 want=$2; shift 2
  local got; got=$(in_pod curl -sS "$@")
  if [[ "$got" != *"$want"* ]]; then echo "FAIL: $label: expected $want, got: ${got:0:300}"; exit 1; fi
  echo "    $label: ok"
}
expect "/healthz" 200 -o /dev/null -w '%{http_code}' http://127.0.0.1:5000/healthz
podman exec "$container" python manage.py migrate --noinput | tail -2
expect "the guide's list call" '{"model_endpoints":[]}' -X GET -H "Content-Type: application/json" \
  -u "test-user-id:" "http://127.0.0.1:5000/v1/llm/model-endpoints"
expect "static files served" '200 text/css' -o /dev/null -w '%{http_code} %{content_type}' \
  http://127.0.0.1:5000/static/admin/css/base.css
expect "console login page" '200' -o /dev/null -w '%{http_code}' http://127.0.0.1:5000/admin/login/
user=$(podman exec "$container" id -u)
[ "$user" = 10001 ] || { echo "FAIL: runs as uid $user"; exit 1; }
caps=$(podman exec "$container" sh -c 'grep CapEff /proc/self/status' | awk '{print $2}')
[ "$caps" = 0000000000000000 ] || { echo "FAIL: effective capabilities $caps"; exit 1; }
if podman exec "$container" sh -c 'touch /app/x 2>/dev/null'; then echo "FAIL: root filesystem is writable"; exit 1; fi
echo "    uid 10001, no capabilities, read-only root: ok"

echo "==> image-test passed: build ${build_seconds}s, image $((size_bytes / 1000000)) MB," \
  "total $(elapsed "$t_start")"
