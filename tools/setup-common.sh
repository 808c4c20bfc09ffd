# What both setup scripts do first: the repository's ./setup.sh and the student bundle's (tools/student/setup.sh),
# which ships this file at the same path, tools/setup-common.sh. Sourced from the folder being set up, with the
# script's arguments: it reads the one option (--no-lab sets START_LAB=0), checks for Python 3.10 or newer
# ($PYTHON, default python3) and makes .venv with it unless it is there.

PYTHON=${PYTHON:-python3}
START_LAB=1
for arg in "$@"; do
  case "$arg" in
    --no-lab) START_LAB=0 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --no-lab)" >&2; exit 2 ;;
  esac
done

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup.sh: needs Python 3.10 or newer; '$PYTHON' is $("$PYTHON" --version 2>&1 || echo missing)." >&2
  echo "          Set PYTHON=/path/to/python3.11 and run it again." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
