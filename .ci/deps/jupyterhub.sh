# The class test runs a real JupyterHub (tests/test_class_hub.py): its proxy comes from npm, and its users' shared
# environment is a venv of Debian's Python, which every local user can read (python3-venv brings ensurepip).
. "$(dirname "$0")/../apt.sh"
apt_install python3 python3-venv
if ! command -v configurable-http-proxy >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v npm >/dev/null; then
    npm install --global --silent configurable-http-proxy@5 >/dev/null 2>&1 \
      || echo "ci: npm could not install configurable-http-proxy; the JupyterHub test skips" >&2
  else
    echo "ci: configurable-http-proxy is missing (npm install -g configurable-http-proxy); the JupyterHub test skips" >&2
  fi
fi
