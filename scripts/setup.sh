#!/usr/bin/env bash
# Set up a virtual environment in .venv with everything the series, its tests and its
# benchmarks need, and install fgsm_helpers into it (editable). Safe to run again.
# FGSM_LOCKED=1 installs the exact versions of requirements-lock.txt (those behind the
# committed outputs) instead of the newest ones the ranges in pyproject.toml allow.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if [ "${FGSM_LOCKED:-0}" = 1 ]; then
  .venv/bin/python -m pip install -q -c requirements-lock.txt -r requirements.txt
else
  .venv/bin/python -m pip install -q -r requirements.txt
fi
.venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
.venv/bin/python -c "import fgsm_helpers as fh; print('fgsm_helpers', fh.__version__, 'ready |', fh.describe_runtime())"
