#!/usr/bin/env bash
# The whole series, executed with papermill into runs/latest (or the folder given with --out):
# executed notebooks, results.json and every figure as PNG. MNIST comes from $FGSM_DATA_DIR when
# it is set, else from the team's copy beside the clone (../shared/data) when it exists, else
# from the per-user cache ~/.cache/fgsm_helpers, where it is downloaded once. Extra arguments go
# to `python -m fgsm_helpers run` (e.g. --quick, --only 01 02, -p SEED 1).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${FGSM_DATA_DIR:-}" ] && [ -d ../shared/data/MNIST/raw ]; then
  export FGSM_DATA_DIR="$(cd ../shared/data && pwd)"
fi
echo "MNIST from: ${FGSM_DATA_DIR:-the per-user cache (~/.cache/fgsm_helpers; downloaded once)}"
out="runs/latest"
args=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--out" ]; then out="$2"; shift 2; else args+=("$1"); shift; fi
done
exec .venv/bin/python -m fgsm_helpers run --out "$out" "${args[@]+"${args[@]}"}"
