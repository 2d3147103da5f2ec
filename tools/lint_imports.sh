#!/usr/bin/env bash
# Check the layer contracts in pyproject.toml ([tool.importlinter]) with import-linter.
# backends/ and hw_configs/ ship inside the fpsnn package through setuptools' package-dir mapping,
# which an editable install resolves with an import hook that import-linter's graph builder does not
# see; so the check runs on the package laid out as it is installed (a copy in a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/fpsnn"
cp -r fpsnn/. "$stage/fpsnn/"
cp -r backends "$stage/fpsnn/backends"
cp -r hw_configs "$stage/fpsnn/hw_configs"
find "$stage" -name __pycache__ -prune -exec rm -rf {} +
repo=$PWD
cd "$stage"   # lint-imports puts the working directory first on sys.path
PYTHONPATH="$stage" "$repo/.venv/bin/lint-imports" --no-logo --no-cache "$@" "$repo/pyproject.toml"
