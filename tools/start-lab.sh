#!/usr/bin/env bash
# Starts JupyterLab on lectures/ from the course's .venv, without opening a browser (it prints the URL).
# Extra arguments go to jupyter lab, e.g. --port=8899. setup.sh ends by running this.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)  # Jupyter refuses to run as root without it
exec .venv/bin/jupyter lab --no-browser --ip=127.0.0.1 --ServerApp.root_dir=lectures "${extra[@]}" "$@"
