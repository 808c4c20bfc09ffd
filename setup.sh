#!/usr/bin/env bash
# Sets up the course on a fresh Linux machine, then starts JupyterLab on lectures/.
#   ./setup.sh            set up (idempotent) and start JupyterLab
#   ./setup.sh --no-lab   set up only (CI uses this)
# It makes .venv, installs every dependency from pyproject.toml, the grading kit (grading/, editable) and the
# course's Jupyter kernel, and builds the course dataset.
set -euo pipefail
cd "$(dirname "$0")"

# The option, a Python 3.10+ and .venv, as the student bundle's setup.sh does them (tools/student/setup.sh)
source tools/setup-common.sh "$@"

echo "==> installing the course's dependencies (pyproject.toml) and the grading kit (grading/pyproject.toml)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]" -e "./grading[postgres]"

# The notebooks name this kernel: it starts with OMP_WAIT_POLICY=PASSIVE set before torch loads, so training
# stays fast when other programs share the cores (cnnlab/kernel_env.py).
echo "==> installing the course's Jupyter kernel, 'CNN Architectures (Python 3)'"
.venv/bin/python -m cnnlab.kernel_env install

echo "==> building the course dataset (cached under data/)"
.venv/bin/python -m cnnlab.data build

if [ "$START_LAB" = 1 ]; then
  echo "==> starting JupyterLab on lectures/ (Ctrl-C stops it); open the URL printed below"
  exec tools/start-lab.sh
fi
echo "==> done. Run the tests with: .venv/bin/python -m pytest"
