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
# The longest cell is notebook 03's ZFNet-mini run: 2-4 minutes on a 2-core CPU, and over 5 when other work
# shares the cores (it did in testing). 900 s still stops a runaway cell, and never fails a correct one.
c.Execute.timeout = 900

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
