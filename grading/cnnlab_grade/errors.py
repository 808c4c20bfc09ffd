"""The grader's own failures: the grader cannot work, so it says why in one sentence and stops."""

from cnnlab.errors import CourseError


class GraderError(CourseError):
    """Bad arguments, an unreadable course or gradebook, a sandbox that cannot work.

    ``exit_code`` is 2 for a command line that cannot be understood, 1 for everything else.
    """

    title = "cnnlab_grade"

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
