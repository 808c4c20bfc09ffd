"""nbgrader's configuration for this course: run nbgrader commands from the repository root."""

import os

c = get_config()  # noqa: F821  (nbgrader injects get_config)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "cnn-architectures"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"  # instructor notebooks, with solutions and hidden tests
c.CourseDirectory.release_directory = "lectures"  # student versions, generated and committed
# Everything that comes back from students lives under autograde/ and is ignored by git.
c.CourseDirectory.submitted_directory = "autograde/submitted"
c.CourseDirectory.autograded_directory = "autograde/autograded"
c.CourseDirectory.feedback_directory = "autograde/feedback"
c.ZipCollectApp.downloaded_directory = "autograde/downloaded"  # where `nbgrader zip_collect` looks
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "autograde", "gradebook.db")

# Per-cell limit while autograding. nbgrader 0.9 reads Execute.timeout (not ExecutePreprocessor.timeout).
# The longest cell is a short training run: at most 60 s on a 2-core CPU, so 300 s leaves room for slow machines.
c.Execute.timeout = 300

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
