#!/usr/bin/env bash
# Starts JupyterLab on lectures/ from the course's .venv, without opening a browser (it prints the URL).
# Extra arguments go to jupyter lab, e.g. --port=8899. setup.sh ends by running this.
set -euo pipefail
cd "$(dirname "$0")/.."
# The server, and so every kernel it starts (the course's kernel spec or another), runs with the course's kernel
# environment (cnnlab/kernel_env.py): OMP_WAIT_POLICY=PASSIVE, read by OpenMP when torch loads.
settings=$(.venv/bin/python -m cnnlab.kernel_env)
while IFS= read -r setting; do export "${setting?}"; done <<<"$settings"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)  # Jupyter refuses to run as root without it
exec .venv/bin/jupyter lab --no-browser --ip=127.0.0.1 --ServerApp.root_dir=lectures "${extra[@]}" "$@"
