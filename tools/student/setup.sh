#!/usr/bin/env bash
# Sets up the CNN Architectures course on your machine, then starts JupyterLab on the notebooks.
#   ./setup.sh            set up (safe to run again) and start JupyterLab
#   ./setup.sh --no-lab   set up only
# It makes .venv/ here, installs the course's toolkit (wheels/) and what it needs, builds the course dataset
# into data/ (generated on your machine, about 75 MB) and installs the course's Jupyter kernel.
set -euo pipefail
cd "$(dirname "$0")"

# The option, a Python 3.10+ and .venv, as the repository's ./setup.sh does them; tools/bundle.py ships this
# file at the same path in the bundle
source tools/setup-common.sh "$@"

echo "==> installing the course's toolkit and its dependencies"
.venv/bin/python -m pip install --quiet --disable-pip-version-check wheels/cnnlab-*.whl

# The dataset lives beside the notebooks, and every course kernel finds it there
export CNNLAB_DATA="$PWD/data"
echo "==> building the course dataset (cached under data/)"
.venv/bin/python -m cnnlab.data build

echo "==> installing the course's Jupyter kernel"
.venv/bin/python -m cnnlab.kernel_env install --env CNNLAB_DATA "$CNNLAB_DATA"

if [ "$START_LAB" = 1 ]; then
  echo "==> starting JupyterLab on notebooks/ (Ctrl-C stops it); open the URL printed below"
  extra=()
  [ "$(id -u)" = 0 ] && extra+=(--allow-root)  # Jupyter refuses to run as root without it
  exec .venv/bin/jupyter lab --no-browser --ip=127.0.0.1 --ServerApp.root_dir=notebooks "${extra[@]}"
fi
echo "==> done. Start the course with: ./setup.sh   (or: .venv/bin/jupyter lab notebooks/)"
