"""``python -m cnnlab_grade merge``: join shard gradebooks into one.

Every submission of every source is copied with its grades, comments and the kit's record. Where a
student's submission is in several places (two sources, or a source and the target), the most recent
grading wins; a submission that nbgrader graded without the kit counts as the oldest. Manual grades in
the target are never replaced by empty ones.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from . import gradebook as gb
from .course import load_course, with_tools_on_path
from .errors import GraderError
from .options import MergeOptions
from .report import say

_OLDEST = datetime.min


def _course_id() -> str:
    """The course's id when run from its root, so merged assignments belong to it; else nbgrader's default."""
    return load_course().course_id if Path("nbgrader_config.py").is_file() else "default_course"


def merge_command(options: MergeOptions) -> int:
    with_tools_on_path()
    course_id = _course_id()
    newest: dict[tuple[str, str], tuple[datetime, dict, dict | None]] = {}
    structures: dict[str, tuple[dict, str]] = {}
    for source in options.sources:
        with gb.opened(source, course_id, must_exist=True) as gradebook:
            records = gb.read_records(gradebook)
            for assignment in gradebook.assignments:
                structure = gb.assignment_structure(gradebook, assignment.name)
                known = structures.setdefault(assignment.name, (structure, source))
                if gb.fingerprint(known[0]) != gb.fingerprint(structure):
                    raise GraderError(
                        f"the assignment {assignment.name} differs between {known[1]} and {source}: "
                        "they were graded against different versions of it"
                    )
                for submission in assignment.submissions:
                    key = (assignment.name, submission.student.id)
                    record = records.get(key)
                    when = record["graded_at"] if record else _OLDEST
                    if key not in newest or when > newest[key][0]:
                        data = gb.export_submission(gradebook, assignment.name, submission.student.id)
                        newest[key] = (when, data, record)
    copied = replaced = kept = 0
    with gb.opened(options.target, course_id) as target:
        for structure, _ in structures.values():
            gb.ensure_assignment(target, structure, where=options.target)
        present = gb.read_records(target)
        for key, (when, data, record) in sorted(newest.items()):
            existing = gb.scores(target, *key) is not None
            theirs = present.get(key, {}).get("graded_at", _OLDEST) if existing else None
            if existing and theirs > when:
                kept += 1
                continue
            replaced += existing
            copied += not existing
            gb.save(target, data, record)
    say(
        f"merged {len(options.sources)} gradebook{'s' if len(options.sources) > 1 else ''} into {options.target}: "
        f"{copied} new submissions, {replaced} replaced by a more recent grading, {kept} kept (the target's was newer)"
    )
    return 0
