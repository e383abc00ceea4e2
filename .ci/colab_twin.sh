#!/usr/bin/env bash
# The Colab twin: each chapter as a student runs it from its Colab badge on a fresh runtime.
# A venv with Python 3.13 and Colab's versions (.ci/colab-versions.txt) stands in for Colab;
# the package goes in as the setup cell installs it (a non-editable pip install, with the setup
# cell's extras, of this clone's HEAD instead of GitHub's ref), after a dry run shows that it
# replaces nothing Colab ships; then every chapter runs alone, in a fresh folder and a fresh
# kernel of that venv, through nbclient (Colab's way: no papermill) in quick mode.
# Needs FGSM_DATA_DIR (.ci/run exports it). The venv is kept between runs outside the clone
# (FGSM_CI_VENV_COLAB overrides where) and rebuilt only when the versions file changes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
twin_start=$(date +%s)
: "${FGSM_DATA_DIR:?set FGSM_DATA_DIR to the folder that holds MNIST/raw}"
versions=.ci/colab-versions.txt
# ipykernel's debugger warns on every start that Python 3.11+ uses frozen modules: only noise.
export PYDEVD_DISABLE_FILE_VALIDATION=1

PY313="$HOME/.pyenv/versions/3.13.0/bin/python"
if [ ! -x "$PY313" ] && command -v pyenv >/dev/null 2>&1; then
  PY313=$(ls -d "$(pyenv root)"/versions/3.13*/bin/python 2>/dev/null | sort -V | tail -1 || true)
fi
if [ -z "$PY313" ] || [ ! -x "$PY313" ]; then
  echo "the Colab twin needs Python 3.13: not found at ~/.pyenv/versions/3.13.0 nor under \$(pyenv root)/versions/3.13*" >&2
  exit 1
fi
VENV="${FGSM_CI_VENV_COLAB:-${XDG_CACHE_HOME:-$HOME/.cache}/fgsm-ci/venv-colab-py3.13}"
python="$VENV/bin/python"

# This machine's pip configuration names local indexes that hold few projects, and pip warns
# once for each project missing there; the filter keeps those lines out of the log.
pip_twin() {
  "$python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
freeze() { "$python" -m pip freeze --all 2>/dev/null | sort; }

build_venv() {
  local build_start
  build_start=$(date +%s)
  rm -rf "$VENV"
  "$PY313" -m venv "$VENV"
  pip_twin install -q "$(grep -E '^pip==' "$versions")"  # Colab's pip runs the setup cell's install
  pip_twin install -q -r "$versions"
  # nbclient starts the kernel named python3, as Colab's notebooks name it: this venv's Python.
  "$python" -m ipykernel install --sys-prefix --name python3 >/dev/null
  freeze >"$VENV/colab-base.txt"
  sha256sum "$versions" | cut -d' ' -f1 >"$VENV/colab-versions.sha256"
  echo "Colab twin: venv built in $(( $(date +%s) - build_start )) s (first build: Colab's torch and its CUDA libraries): $VENV"
}

# Reuse the venv when it was built from this versions file, after taking out what the last run
# installed (the package and its extras), so that every run starts from Colab's state: the
# dry run below must see everything the setup cell would add. Anything else that moved from
# the recorded state means a rebuild.
venv_start=$(date +%s)
if [ "$(cat "$VENV/colab-versions.sha256" 2>/dev/null)" != "$(sha256sum "$versions" | cut -d' ' -f1)" ] \
  || ! "$python" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
  build_venv
else
  added=$(comm -13 "$VENV/colab-base.txt" <(freeze) | sed -E 's/ *(==| @ ).*//')
  if [ -n "$added" ]; then
    # shellcheck disable=SC2086  # one distribution name per word
    pip_twin uninstall -q -y $added
  fi
  if [ "$(freeze)" != "$(cat "$VENV/colab-base.txt")" ]; then
    echo "Colab twin: the cached venv no longer matches Colab's versions; rebuilding it"
    build_venv
  else
    echo "Colab twin: cached venv reused in $(( $(date +%s) - venv_start )) s: $VENV"
  fi
fi
"$python" -c "import platform, torch; print('Colab twin: Python', platform.python_version(), '| torch', torch.__version__)"

# The setup cell's install, with this clone at HEAD in place of GitHub at the badge's ref
# (uncommitted changes are not in it, as they are not on GitHub).
if [ -n "$(git status --porcelain -- fgsm_helpers pyproject.toml)" ]; then
  echo "Colab twin: note: the package has uncommitted changes; the twin installs HEAD"
fi
install_lines=$("$python" .ci/colab_twin.py install-args "$root" "$(git rev-parse HEAD)")
mapfile -t install_args <<<"$install_lines"
echo "Colab twin: the setup cell's install, locally: pip install ${install_args[*]}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip_twin install --dry-run --report "$work/report.json" "${install_args[@]}"
"$python" .ci/check_pip_report.py "$work/report.json" "$versions"
install_start=$(date +%s)
pip_twin install "${install_args[@]}"
# The real install must agree with the dry run: nothing of the venv's Colab state replaced.
replaced=$(comm -23 "$VENV/colab-base.txt" <(freeze))
if [ -n "$replaced" ]; then
  echo "FAIL: installing the package replaced packages of the Colab venv:" >&2
  echo "$replaced" >&2
  exit 1
fi
echo "Colab twin: package installed in $(( $(date +%s) - install_start )) s"

"$python" .ci/colab_twin.py run --data-dir "$FGSM_DATA_DIR" --python 3.13 notebooks/[0-9][0-9]_*.ipynb
echo "Colab twin took $(( $(date +%s) - twin_start )) s"
