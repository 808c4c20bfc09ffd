# The grading kit's Slurm path (docs/grading.md) is tested on a real one-node cluster: slurmctld, slurmd and munge,
# started and stopped by grading/tests/test_grade_slurm.py.
. "$(dirname "$0")/../apt.sh"
apt_install slurm-wlm munge
