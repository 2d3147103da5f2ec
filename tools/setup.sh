#!/usr/bin/env bash
# Create .venv and install fpsnn with everything its tests and backends need (CPU only, no board).
#   bash tools/setup.sh            # idempotent: re-running only installs what is missing
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# fpsnn itself (editable), the test tools and the vendor simulators that install from PyPI
.venv/bin/python -m pip install -q -e ".[test,xylo,lava,dynapse,data,nir,interop,ray]"
# Lava (Loihi 2 software) declares Python <3.11 in its metadata although it runs on 3.11 with the
# shim in fpsnn/backends/lava/compat.py; install it without its (already satisfied) pins.
.venv/bin/python -m pip install -q --no-deps --ignore-requires-python "lava-nc==0.10.0"
# Compile the numba event loops once now (cached on disk), so the first `fpsnn demo` starts at once.
echo "compiling fpsnn's simulator and gradients (once; a few minutes on a slow machine)..."
.venv/bin/python -c "from fpsnn.demo import warm_up; print(f'compiled in {warm_up():.0f} s')"
echo "fpsnn installed in .venv ($(.venv/bin/python --version))"
