"""The ungraded cells that show the student's net (``draw(...)``) or what its trained layers make of an image
(``show_feature_maps(...)``): where a notebook has them, and what they show when run on the solution's names."""

from __future__ import annotations

import ast

import nbformat
from course import SOLUTIONS, nbgrader_meta


def _cells(notebook: str) -> list:
    return nbformat.read(SOLUTIONS / notebook, as_version=4).cells


def cell_calling(notebook: str, call: str) -> tuple[int, str]:
    """(index, source) of the notebook's one code cell that calls ``call`` (as ``call(``), ungraded."""
    found = [
        (index, cell.source)
        for index, cell in enumerate(_cells(notebook))
        if cell.cell_type == "code" and f"{call}(" in cell.source
    ]
    assert len(found) == 1, f"{notebook}: {len(found)} code cells call {call}(), not one"
    index, _ = found[0]
    assert nbgrader_meta(_cells(notebook)[index]) == {}, f"{notebook}: the {call}() cell should be ungraded"
    return found[0]


def index_of(notebook: str, grade_id: str) -> int:
    return next(i for i, c in enumerate(_cells(notebook)) if nbgrader_meta(c).get("grade_id") == grade_id)


def first_explorer(notebook: str) -> int:
    return next(
        i
        for i, c in enumerate(_cells(notebook))
        if c.cell_type == "code" and c.source.lstrip().startswith("explore(")
    )


def move_cell(notebook: str) -> tuple[int, str]:
    """(index, source) of the notebook's one code cell that makes the explorer's moves in code (it starts with
    ``explorer = explore(``), ungraded: it comes after the build and is no part of a graded run."""
    found = [
        (index, cell.source)
        for index, cell in enumerate(_cells(notebook))
        if cell.cell_type == "code" and cell.source.lstrip().startswith("explorer = explore(")
    ]
    assert len(found) == 1, f"{notebook}: {len(found)} cells make the explorer's moves in code, not one"
    assert nbgrader_meta(_cells(notebook)[found[0][0]]) == {}, (
        f"{notebook}: the moves cell should be ungraded"
    )
    return found[0]


def markdown_of(notebook: str, grade_id: str) -> str:
    """The text of a markdown cell (a written answer's model answer, with the solution), its lines joined."""
    return " ".join(_cells(notebook)[index_of(notebook, grade_id)].source.split())


def source_of(notebook: str, index: int) -> str:
    return _cells(notebook)[index].source


def text_before(notebook: str, index: int) -> str:
    """The markdown cell just before cell ``index``, its lines joined."""
    cell = _cells(notebook)[index - 1]
    assert cell.cell_type == "markdown", f"{notebook}: cell {index} has no text before it"
    return " ".join(cell.source.split())


def run_cell(source: str, namespace: dict):
    """Runs a cell in ``namespace``; returns the value of its last line when that is an expression (what Jupyter
    shows), else None."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)
    if last is None:
        return None
    return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
