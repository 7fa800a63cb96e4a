#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when it is missing. Idempotent.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "==> installing chromium (apt-get) for the console's browser tests"
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
