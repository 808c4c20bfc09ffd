"""The student bundle (tools/bundle.py): it holds no answer, and it installs and runs outside the repository."""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest
from course import HIDDEN_REGION, LECTURES, MARKERS, ROOT, SOLUTION_REGION, SOLUTIONS, nbgrader_meta

sys.path.insert(0, str(ROOT / "tools"))
import bundle as bundle_tool  # noqa: E402

MIN_LINE = 25  # shorter lines (`x = torch.zeros(1)`, `super().__init__()`) are not distinctive


def answer_lines() -> dict[str, set[str]]:
    """Every distinctive line of a solution, a hidden test or a model answer in solutions/, with the
    assignments whose answers hold it."""
    lines: dict[str, set[str]] = {}
    for notebook in SOLUTIONS.glob("*/*.ipynb"):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "markdown" and nbgrader_meta(cell).get("solution"):
                found = [cell.source]  # a model answer
            else:
                found = SOLUTION_REGION.findall(cell.source) + HIDDEN_REGION.findall(cell.source)
            for line in (line.strip() for text in found for line in text.splitlines()):
                if len(line) >= MIN_LINE:
                    lines.setdefault(line, set()).add(notebook.parent.name)
    return lines


def _assignment_of(name: str) -> str | None:
    """The assignment a bundle file belongs to (notebooks/<id>/...), or None for the toolkit and the rest."""
    parts = name.replace("!", "/").split("/")
    return parts[parts.index("notebooks") + 1] if "notebooks" in parts[:-2] else None


def bundle_texts(folder: Path):
    """(path, text) of every file under ``folder``, and of every file inside its wheels and archives."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if path.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    yield f"{name}!{member}", archive.read(member).decode("utf-8", "replace")
        elif path.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path) as archive:
                for member in archive.getmembers():
                    if member.isfile():
                        data = archive.extractfile(member).read()
                        if member.name.endswith(".whl"):
                            with zipfile.ZipFile(io.BytesIO(data)) as wheel:
                                for inner in wheel.namelist():
                                    yield (
                                        f"{name}!{member.name}!{inner}",
                                        wheel.read(inner).decode("utf-8", "replace"),
                                    )
                        else:
                            yield f"{name}!{member.name}", data.decode("utf-8", "replace")
        else:
            yield name, path.read_bytes().decode("utf-8", "replace")


def leaks(folder: Path, answers: dict[str, set[str]]) -> list[str]:
    """What in ``folder`` gives an answer away: a solutions/ path, a gradebook, a marker, an answer line.

    An assignment may hand out what earlier assignments asked for (07's reference nets hold 04's VGG), so a file
    of assignment A may hold a line that answers an assignment before A: that answer is due by then, even where a
    later answer repeats the line (08's Bottleneck keeps 06's shortcut). Nothing else may."""
    found = []
    for name, text in bundle_texts(folder):
        parts = name.replace("!", "/").split("/")
        if "solutions" in parts or name.endswith((".db", ".sqlite")):
            found.append(f"{name}: not for students")
        found += [f"{name}: marker {marker!r}" for marker in MARKERS if marker in text]
        owner = _assignment_of(name)
        present = {line.strip() for line in text.splitlines()} & answers.keys()
        given = {line for line in present if owner and any(answered < owner for answered in answers[line])}
        found += [f"{name}: {line!r}" for line in sorted(present - given)]
    return found


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dist")
    bundle_tool.build_bundle(folder)
    return folder


def test_the_bundle_holds_the_course(dist):
    bundle = dist / bundle_tool.NAME
    assert sorted(p.relative_to(bundle / "notebooks") for p in (bundle / "notebooks").glob("*/*")) == sorted(
        p.relative_to(ROOT / "lectures") for p in (ROOT / "lectures").glob("*/*") if p.is_file()
    )
    assert (bundle / "README.md").read_text() == (ROOT / "lectures" / "README.md").read_text()
    assert os.access(bundle / "setup.sh", os.X_OK)
    assert (bundle / "tools" / "setup-common.sh").is_file(), "setup.sh sources it"
    # Validate runs every cell: the course's per-cell limit, not nbgrader's 30 s, which a training run exceeds
    limit = next(
        line for line in (ROOT / "nbgrader_config.py").read_text().splitlines() if "c.Execute.timeout" in line
    )
    assert limit.split("#")[0].strip() in (bundle / "nbgrader_config.py").read_text()
    (wheel,) = (bundle / "wheels").glob("cnnlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cnnlab/data/course.py" in names and "cnnlab/kernel_env.py" in names
    # the toolkit as pyproject.toml builds it, and nothing else: the grading kit is a distribution of its own
    assert {name.split("/")[0] for name in names} == {"cnnlab", wheel.name.split("-py")[0] + ".dist-info"}
    assert (dist / f"{bundle_tool.NAME}.tar.gz").is_file()


def test_nothing_in_the_bundle_answers_a_graded_cell(dist):
    answers = answer_lines()
    assert len(answers) > 100, "found too few answer lines in solutions/ to scan for"
    assert leaks(dist, answers) == []


def test_the_scan_finds_a_leaked_answer(tmp_path):
    answers = answer_lines()
    answer = sorted(line for line, owners in answers.items() if "01_lenet" in owners)[0]
    (tmp_path / "notes.md").write_text(f"some text\n  {answer}\n")
    with zipfile.ZipFile(tmp_path / "cnnlab-0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("cnnlab/hidden.py", "# BEGIN HIDDEN TESTS\n")
    # in its own assignment's folder, or an earlier one's, an answer is a leak; in a later one's, it is given
    for assignment in ("00_foundations", "01_lenet", "02_alexnet"):
        (tmp_path / "notebooks" / assignment).mkdir(parents=True)
        (tmp_path / "notebooks" / assignment / "module.py").write_text(f"{answer}\n")
    assert leaks(tmp_path, {answer: {"01_lenet"}}) == [
        "cnnlab-0-py3-none-any.whl!cnnlab/hidden.py: marker 'BEGIN HIDDEN TESTS'",
        f"notebooks/00_foundations/module.py: {answer!r}",
        f"notebooks/01_lenet/module.py: {answer!r}",
        f"notes.md: {answer!r}",
    ]


# --- what a student receives before an assignment must not build that assignment's graded classes ---------------
# The line scan above misses an answer written another way: notebook 07 once handed out, in its reference_nets.py,
# a DenseNet-121 and a SqueezeNet 1.1 of its own, the graded exercises of notebook 08. So, by name: every class or
# function a graded answer cell defines belongs to the first assignment that asks for it, and no file of an earlier
# assignment's folder (notebooks and the modules next to them) may define it, nor a builder named after it
# (`densenet121`, `squeezenet1_1` for DenseNet and SqueezeNet). A later assignment may hand out an earlier one's
# answer (07's reference nets hold 06's ResNet).


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def graded_definitions() -> dict[str, str]:
    """{name: the first assignment whose graded answers define it} for the top-level classes and functions of
    every autograded answer cell in solutions/."""
    first: dict[str, str] = {}
    for notebook in sorted(SOLUTIONS.glob("*/*.ipynb")):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "code" and nbgrader_meta(cell).get("solution"):
                for node in ast.parse(cell.source).body:
                    if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                        first.setdefault(node.name, notebook.parent.name)
    return first


def _python_sources(folder: Path):
    """(label, source) of every module in ``folder`` and of every code cell of its notebooks."""
    for path in sorted(folder.rglob("*.py")):
        yield str(path.relative_to(folder.parent)), path.read_text()
    for path in sorted(folder.rglob("*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code":
                lines = cell.source.splitlines()  # IPython's magics and shell lines are not Python
                code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)
                yield f"{path.relative_to(folder.parent)} cell {index}", code


def early_definitions(lectures: Path, graded: dict[str, str]) -> list[str]:
    """Each class or function in an assignment's folder under ``lectures`` that a later assignment grades (by
    its name, or as a builder named after a graded class: the class's name and digits)."""
    found = []
    for folder in sorted(p for p in lectures.iterdir() if p.is_dir()):
        later = {name: owner for name, owner in graded.items() if owner > folder.name}
        by_normalised = {_normalised(name): name for name in later}
        for label, source in _python_sources(folder):
            for node in ast.walk(ast.parse(source)):
                if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                    continue
                builder = re.fullmatch(r"(.*?)\d*", _normalised(node.name)).group(1)
                name = node.name if node.name in later else by_normalised.get(builder)
                if name is not None:
                    found.append(f"{label}: {node.name} (graded in {later[name]}: {name})")
    return found


def test_no_assignment_hands_out_a_later_assignments_graded_classes():
    graded = graded_definitions()
    assert {"DenseNet", "DenseLayer", "Fire", "SqueezeNet"} <= {
        n for n, a in graded.items() if a == "08_beyond"
    }
    assert early_definitions(LECTURES, graded) == []


def test_the_definition_scan_finds_a_later_assignments_class(tmp_path):
    graded = {"DenseNet": "08_beyond", "Fire": "08_beyond", "ResNet": "06_resnet"}
    given = tmp_path / "07_complexity"
    given.mkdir()
    (given / "nets.py").write_text(
        "class ResNet:\n    pass\n\n\nclass DenseNet:\n    pass\n\n\ndef densenet121():\n"
        "    return DenseNet()\n\n\ndef build():\n    class Fire:\n        pass\n\n\ndef firewall():\n    pass\n"
    )
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("%matplotlib inline\nclass Fire: ...")]
    )
    nbformat.write(notebook, given / "n.ipynb")
    (tmp_path / "08_beyond").mkdir()
    (tmp_path / "08_beyond" / "own.py").write_text("class DenseNet:\n    pass\n")
    assert early_definitions(tmp_path, graded) == [
        "07_complexity/nets.py: DenseNet (graded in 08_beyond: DenseNet)",
        "07_complexity/nets.py: densenet121 (graded in 08_beyond: DenseNet)",
        "07_complexity/nets.py: Fire (graded in 08_beyond: Fire)",
        "07_complexity/n.ipynb cell 0: Fire (graded in 08_beyond: Fire)",
    ]


def _first_stub(notebook: Path) -> int:
    cells = nbformat.read(notebook, as_version=4).cells
    return next(
        i for i, c in enumerate(cells) if c.cell_type == "code" and "raise NotImplementedError()" in c.source
    )


@pytest.mark.slow
def test_the_bundle_installs_and_runs_outside_the_repository(dist, tmp_path):
    with tarfile.open(dist / f"{bundle_tool.NAME}.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    course = tmp_path / bundle_tool.NAME
    assert not course.resolve().is_relative_to(ROOT)
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))
    }
    environment["PATH"] = os.pathsep.join(
        p for p in environment["PATH"].split(os.pathsep) if ".venv" not in p
    )
    setup = subprocess.run(
        ["./setup.sh", "--no-lab"], cwd=course, env=environment, capture_output=True, text=True, timeout=900
    )
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert (course / "data" / "course-shapes-v1.npz").is_file()

    # An untouched notebook runs, in the course's kernel, to its first exercise and stops there
    notebook = course / "notebooks" / "01_lenet" / "lenet.ipynb"
    stub = _first_stub(notebook)
    script = f"""
import json, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
nb = nbformat.read({str(notebook)!r}, as_version=4)
nb.cells.insert(0, nbformat.v4.new_code_cell("import sys, os, cnnlab; print(sys.prefix, cnnlab.__file__, os.environ['CNNLAB_DATA'])"))
client = NotebookClient(nb, kernel_name="cnnlab", timeout=600, resources={{"metadata": {{"path": {str(notebook.parent)!r}}}}})
try:
    client.execute()
    failed = None
except CellExecutionError as error:
    failed = error.ename
ran = [i - 1 for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]
errors = [i - 1 for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.output_type == "error"]
print(json.dumps({{"failed": failed, "errors": errors, "ran": ran, "where": nb.cells[0].outputs[0].text}}))
"""
    result = subprocess.run(
        [str(course / ".venv" / "bin" / "python"), "-c", script],
        cwd=course,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failed"] == "NotImplementedError"
    assert report["errors"] == [stub], f"the first error must be the first exercise, cell {stub}"
    prefix, toolkit, data = report["where"].split()
    assert Path(prefix).resolve() == (course / ".venv").resolve()
    assert Path(toolkit).resolve().is_relative_to((course / ".venv").resolve())
    assert Path(data).resolve() == (course / "data").resolve()
