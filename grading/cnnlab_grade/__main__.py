"""python -m cnnlab_grade ASSIGNMENT SUBMITTED_DIR [options]  |  python -m cnnlab_grade merge DB_URL... --db URL
|  python -m cnnlab_grade report ASSIGNMENT --out DIR [options]"""

from __future__ import annotations

import os
import signal
import sys

from .errors import GraderError


def _stop(signum, frame):
    raise KeyboardInterrupt  # Slurm and kill send SIGTERM: stop as on Ctrl-C, keeping what is graded


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["merge"]:
            from .merge import merge_command
            from .options import parse_merge_args

            return merge_command(parse_merge_args(argv[1:]))
        if argv[:1] == ["report"]:
            from .class_report import report_command
            from .options import parse_report_args

            return report_command(parse_report_args(argv[1:]))
        from .options import parse_grade_args
        from .run import grade_command

        return grade_command(parse_grade_args(argv))
    except GraderError as error:
        print(f"cnnlab_grade: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("cnnlab_grade: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug in the grader: one line, and the way to see more
        if os.environ.get("CNNLAB_TRACEBACK"):
            raise
        print(
            f"cnnlab_grade: the grader failed: {type(error).__name__}: {error} "
            "(rerun with CNNLAB_TRACEBACK=1 to see where)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    sys.exit(main())
