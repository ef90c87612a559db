#!/usr/bin/env bash
# `make release`: builds the sdist and the wheel into dist/, checks their metadata (twine),
# installs the wheel with the locked dependencies into a fresh venv and runs
# `minibot --version` and `minibot check-config` from there.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_tools.sh >/dev/null
version="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
rm -rf dist
# No build isolation: the backend (poetry-core) is the pinned one in .tools, not a download.
.tools/deploy/bin/python -m build --no-isolation --sdist --wheel --outdir dist . >/dev/null
.tools/deploy/bin/twine check --strict dist/*

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
python3 scripts/lock_requirements.py --no-dev >"$scratch/requirements.txt"
"$scratch/venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$scratch/requirements.txt"
"$scratch/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps dist/minibot-"$version"-py3-none-any.whl
# From an empty directory, so nothing of the source tree is imported by accident.
cd "$scratch"
shown="$(env -u MINIBOT_CONFIG "$scratch/venv/bin/minibot" --version)"
[ "$shown" = "minibot $version" ] || { echo "release: --version said '$shown', not minibot $version" >&2; exit 1; }
printf '[llm]\napi_key = "release-check"\n' >config.toml
"$scratch/venv/bin/minibot" check-config --config config.toml >/dev/null
echo "release: $shown; dist/ holds $(cd - >/dev/null && ls dist | tr '\n' ' ')"
