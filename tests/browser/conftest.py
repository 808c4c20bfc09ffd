"""The browser tests import the course helpers of tests/ (course.py) and their own (lab.py, pages.py)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
