#!/usr/bin/env bash
# `make run`: the whole platform on one machine. Embedded defaults: SQLite under var/, an
# in-process Dramatiq broker (worker threads inside the gateway) when REDIS_URL is unset, local
# file storage, and the current kubeconfig. With REDIS_URL set, a worker process runs beside it.
# scripts/supervise.py checks the port, migrates, and keeps the processes up (restarting the
# builder and the cacher when they exit); Ctrl-C stops everything within 5 s.
set -euo pipefail
cd "$(dirname "$0")/.."
export LLME_AUTH_MODE="${LLME_AUTH_MODE:-trust-username}"
export PORT="${PORT:-5000}"
mkdir -p var
exec .venv/bin/python scripts/supervise.py
