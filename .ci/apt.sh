# Sourced by the scripts in .ci/deps/: apt_install PACKAGE... installs the Debian packages that are missing,
# running `apt-get update` at most once per CI run. Off root or without apt it says what to install instead.
apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "ci: missing Debian packages: ${missing[*]} (apt-get install ${missing[*]}); the tests that need them skip" >&2
    return 0
  fi
  if [ ! -e /tmp/.cnnlab-ci-apt-updated ]; then
    apt-get update -qq && touch /tmp/.cnnlab-ci-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
