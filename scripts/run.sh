#!/usr/bin/env bash
# `make run`: the whole platform on one machine. Embedded defaults: SQLite under var/, an
# in-process Dramatiq broker (worker threads inside the gateway) when REDIS_URL is unset, local
# file storage, and the current kubeconfig. With REDIS_URL set, a worker process runs beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
export LLME_AUTH_MODE="${LLME_AUTH_MODE:-trust-username}"
export PORT="${PORT:-5000}"
PY=.venv/bin/python
mkdir -p var

echo "==> migrating the database (${DATABASE_URL:-SQLite file var/llmengine.sqlite3})"
$PY manage.py migrate --noinput

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

workers=1
if [ -n "${REDIS_URL:-}" ]; then
  echo "==> starting the endpoint builder (Dramatiq worker on $REDIS_URL)"
  $PY manage.py rundramatiq --processes 1 --threads 2 &
  pids+=($!)
  workers="$(nproc)"  # one gateway worker per CPU (README, "Gateway overhead")
else
  echo "==> no REDIS_URL: builds run on worker threads inside the gateway"
fi

kubeconfig="${KUBECONFIG:-$HOME/.kube/config}"
if [ -n "${KUBERNETES_SERVICE_HOST:-}" ] || [ -f "${kubeconfig%%:*}" ]; then
  if $PY manage.py help run_cacher >/dev/null 2>&1; then
    echo "==> starting the cacher (cluster from ${kubeconfig})"
    $PY manage.py run_cacher &
    pids+=($!)
  fi
else
  echo "==> no Kubernetes cluster configured (KUBECONFIG): endpoints will be accepted and their builds"
  echo "    will fail with a reason saying so; set KUBECONFIG to build them for real"
fi

if [ "$LLME_AUTH_MODE" = "trust-username" ]; then
  echo "==> auth mode trust-username: any Basic username is accepted as the user (evaluation only)"
fi
echo "==> gateway on http://127.0.0.1:${PORT} (API docs at /docs, admin at /admin/)"
$PY -m gunicorn llmengine_site.asgi:application -k uvicorn_worker.UvicornWorker \
  -b "0.0.0.0:${PORT}" --workers "$workers" --timeout 120 --graceful-timeout 30 &
pids+=($!)
wait -n "${pids[@]}"
