# The browser tests (tests/browser/) drive Debian's Chromium with the playwright package (never `playwright install`,
# which downloads a browser). Chromium brings no font with --no-install-recommends: without one, pages render
# without text glyphs, so install a plain font set too.
. "$(dirname "$0")/../apt.sh"
apt_install chromium fonts-liberation fonts-dejavu-core
