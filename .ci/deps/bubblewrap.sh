# The grading kit sandboxes student kernels with bubblewrap (docs/grading.md); its tests need it to test the sandbox.
. "$(dirname "$0")/../apt.sh"
apt_install bubblewrap
