# The grading kit's --db postgresql://... path is tested on a real PostgreSQL server, started by
# grading/tests/test_grade_postgres.py (initdb and pg_ctl in a temporary folder, as an unprivileged user).
. "$(dirname "$0")/../apt.sh"
apt_install postgresql
