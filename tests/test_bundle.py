"""The student bundle (tools/bundle.py): it holds no answer, and it installs and runs outside the repository."""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shutil
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
import structure_scan  # noqa: E402

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
    """The assignment a bundle file belongs to (notebooks/<id>/...), or None for the toolkit, the cited documents
    (notebooks/docs/) and the rest."""
    parts = name.replace("!", "/").split("/")
    if "notebooks" not in parts[:-2]:
        return None
    folder = parts[parts.index("notebooks") + 1]
    return folder if bundle_tool.ASSIGNMENT_ID.fullmatch(folder) else None


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


def _assignment_files(bundle: Path) -> list[Path]:
    return sorted(
        p.relative_to(bundle / "notebooks")
        for p in (bundle / "notebooks").glob("*/*")
        if bundle_tool.ASSIGNMENT_ID.fullmatch(p.parent.name)
    )


def test_the_bundle_holds_the_course(dist):
    bundle = dist / bundle_tool.NAME
    assert _assignment_files(bundle) == sorted(
        p.relative_to(ROOT / "lectures") for p in (ROOT / "lectures").glob("*/*") if p.is_file()
    )
    readme = (bundle / "README.md").read_text()
    assert readme.startswith((ROOT / "lectures" / "README.md").read_text().rstrip("\n"))
    # the whole course hands out earlier answers in later notebooks: its README says who it is for
    assert "for self-study once a class is over" in " ".join(readme.split())
    assert os.access(bundle / "setup.sh", os.X_OK)
    assert (bundle / "tools" / "setup-common.sh").is_file(), "setup.sh sources it"
    # Validate runs every cell: the course's per-cell limit, not nbgrader's 30 s, which a training run exceeds
    limit = next(
        line for line in (ROOT / "nbgrader_config.py").read_text().splitlines() if "c.Execute.timeout" in line
    )
    assert limit.split("#")[0].strip() in (bundle / "nbgrader_config.py").read_text()
    # ... and a cell stopped at that limit fails Validate, as in the course's own config
    from traitlets.config.loader import PyFileConfigLoader

    import cnnlab.nbgrader_validate

    config = PyFileConfigLoader("nbgrader_config.py", path=str(bundle)).load_config()
    assert config.Validator.Execute.on_cell_error is cnnlab.nbgrader_validate.fail_the_stopped_cell
    assert config.Validator.Execute.error_on_timeout == cnnlab.nbgrader_validate.ERROR_ON_TIMEOUT
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


# --- release by release: a class gets the assignments released so far, and nothing of a later answer ------------
# The line and name scans above miss an answer written another way (07's reference_nets.py once held 06's blocks
# and 05's GoogLeNet with other names), so the structural scan (tools/structure_scan.py) compares by normalised
# tokens. Every per-release bundle is built (one with its own wheel, the others reusing it: the same toolkit) and
# scanned; only one is installed (below).

INSTALLED_RELEASE = "06_resnet"  # the per-release bundle the slow test installs: it cites a document (06's)


@pytest.fixture(scope="module")
def releases(tmp_path_factory, dist) -> dict[str, Path]:
    """{assignment id: the folder of the bundle released through it}, for every assignment."""
    folder = tmp_path_factory.mktemp("releases")
    built = {INSTALLED_RELEASE: bundle_tool.build_bundle(folder, INSTALLED_RELEASE)}
    (wheel,) = (built[INSTALLED_RELEASE] / "wheels").glob("cnnlab-*.whl")
    for assignment in bundle_tool.assignment_ids():
        if assignment != INSTALLED_RELEASE:
            built[assignment] = bundle_tool.build_bundle(folder, assignment, wheel=wheel)
    return built


def _wheel_contents(bundle: Path) -> dict[str, bytes]:
    (wheel,) = (bundle / "wheels").glob("cnnlab-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_each_release_holds_the_assignments_so_far_with_the_same_toolkit(releases, dist):
    whole = dist / bundle_tool.NAME
    ids = bundle_tool.assignment_ids()
    assert ids[0] == "00_foundations" and len(ids) >= 9
    for through, bundle in releases.items():
        released = ids[: ids.index(through) + 1]
        assert (
            bundle.name == f"{bundle_tool.NAME}-through-{through}"
        )  # unpacking it overwrites no other release
        assert (bundle.parent / f"{bundle.name}.tar.gz").is_file()
        assert _assignment_files(bundle) == [p for p in _assignment_files(whole) if p.parts[0] in released]
        # 07's modules hold the nets of 02 to 06 in full: they travel with 07 and later only
        assert (bundle / "notebooks" / "07_complexity" / "reference_nets.py").exists() == (through >= "07")
        assert (bundle / "notebooks" / "07_complexity" / "latency_probes.py").exists() == (through >= "07")
        for name in ("setup.sh", "tools/setup-common.sh", "environment.yml", "nbgrader_config.py"):
            assert (bundle / name).read_bytes() == (whole / name).read_bytes(), name
    # the installed release built its own wheel: the same toolkit as the whole course's
    assert _wheel_contents(releases[INSTALLED_RELEASE]) == _wheel_contents(whole)


def test_an_unknown_release_gets_a_sentence_naming_the_valid_ones():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bundle.py"), "--through", "05_inception"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "there is no assignment '05_inception'" in result.stderr
    assert ", ".join(bundle_tool.assignment_ids()) in result.stderr
    assert not (bundle_tool.DIST / "cnn-architectures-through-05_inception").exists()


def test_each_release_passes_the_line_and_structure_scans(releases):
    answers = answer_lines()
    graded = graded_definitions()
    for through, bundle in releases.items():
        assert leaks(bundle, answers) == [], through
        assert early_definitions(bundle / "notebooks", graded) == [], through
        assert structure_scan.scan(bundle, through) == [], through


def test_the_whole_course_taken_as_the_release_of_05_fails_the_structure_scan(dist, tmp_path):
    """Today's whole-course archive, handed to a class at 05, gives away 05's and 06's answers in 07's
    reference_nets.py; the line scan allows it (07 may hand out earlier answers), the structural scan does not."""
    with tarfile.open(dist / f"{bundle_tool.NAME}.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    bundle = tmp_path / bundle_tool.NAME
    for release in ("05_googlenet", "06_resnet"):
        findings = structure_scan.scan(bundle, release)
        in_reference_nets = {
            f.answer.split()[-1]: f
            for f in findings
            if f.delivered == "notebooks/07_complexity/reference_nets.py"
        }
        assert "bottleneck_block" in in_reference_nets and "basic_block" in in_reference_nets, release
        for finding in in_reference_nets.values():
            assert finding.answer.split("/")[0] >= release  # only answers not yet due count
            assert finding.share >= structure_scan.THRESHOLD and finding.shared >= structure_scan.MIN_SHARED
    as_05 = {f.answer for f in structure_scan.scan(bundle, "05_googlenet")}
    assert "05_googlenet/googlenet.ipynb googlenet_class" in as_05
    # due by 06: 05's GoogLeNet no longer counts against the release of 06
    assert not any(f.answer.startswith("05_") for f in structure_scan.scan(bundle, "06_resnet"))
    # and bundle.py refuses to hand out such a release: the scan runs before the archive is written
    with pytest.raises(SystemExit, match="graded answers not yet due"):
        bundle_tool.ScanStructure()(bundle, bundle_tool.Release("05_googlenet"))


class _Renamer(ast.NodeTransformer):
    """Renames every name a student could choose (variables, arguments, attributes of self, classes, helper
    functions): what a copy does to look like one's own."""

    def __init__(self, keep: frozenset[str]):
        self.keep, self.new = keep, {}

    def rename(self, name: str) -> str:
        if name in self.keep or name.startswith("__") or name == "forward":  # nn.Module's own hooks
            return name
        return self.new.setdefault(name, f"my_thing_{len(self.new)}")

    def visit_Name(self, node):
        node.id = self.rename(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.rename(node.arg)
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id == "self" and not node.attr.startswith("__"):
            node.attr = self.new.setdefault(node.attr, f"my_thing_{len(self.new)}")  # even `self.relu`
        return node

    def visit_FunctionDef(self, node):
        node.name = self.rename(node.name)
        return self.generic_visit(self._undocumented(node))

    def visit_ClassDef(self, node):
        node.name = self.rename(node.name)
        return self.generic_visit(self._undocumented(node))

    @staticmethod
    def _undocumented(node):
        """A copy drops the docstring that would give it away."""
        if ast.get_docstring(node) is not None and len(node.body) > 1:
            node.body = node.body[1:]
        return node


def _solution_cell(assignment: str, grade_id: str) -> str:
    for notebook in SOLUTIONS.glob(f"{assignment}/*.ipynb"):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if nbgrader_meta(cell).get("grade_id") == grade_id:
                return cell.source
    raise LookupError(f"{assignment} has no cell {grade_id}")


def disguised(source: str) -> str:
    """``source`` with its names renamed, its docstrings dropped, and its code laid out anew (ast.unparse: one line
    a statement, no comments, no trailing commas, other quotes), with comments of its own on every third line."""
    tree = _Renamer(structure_scan._api_names()).visit(ast.parse(source))
    lines = ast.unparse(tree).splitlines()
    return (
        "\n".join(f"{line}  # mine" if i % 3 == 0 and line else line for i, line in enumerate(lines)) + "\n"
    )


def test_a_renamed_and_reformatted_answer_fails_the_structure_scan(releases, tmp_path):
    # 06's Bottleneck, disguised, planted in a module of 05's folder of the release of 05
    release = tmp_path / "release"
    shutil.copytree(releases["05_googlenet"], release)
    copy = disguised(_solution_cell("06_resnet", "bottleneck_block"))
    assert "self.conv1" not in copy and "out_channels" not in copy and "Bottleneck" not in copy
    (release / "notebooks" / "05_googlenet" / "helpers.py").write_text(copy)
    # 08's DenseLayer, disguised, planted in a new code cell of 05's notebook
    notebook_path = release / "notebooks" / "05_googlenet" / "googlenet.ipynb"
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell(disguised(_solution_cell("08_beyond", "dense_layer_class")))
    )
    nbformat.write(notebook, notebook_path)
    cell = len(notebook.cells) - 1

    assert leaks(release, answer_lines()) == [], "no line of either copy is an answer's line"
    planted_module, planted_cell = (
        "notebooks/05_googlenet/helpers.py",
        f"notebooks/05_googlenet/googlenet.ipynb cell {cell}",
    )
    findings = structure_scan.scan(release, "05_googlenet")
    assert {f.delivered for f in findings} == {planted_module, planted_cell}
    found = {(f.delivered, f.answer) for f in findings}
    assert (planted_module, "06_resnet/resnet.ipynb bottleneck_block") in found
    assert (planted_cell, "08_beyond/beyond.ipynb dense_layer_class") in found
    # in the release of 07, 06's blocks are due (08's Bottleneck extends 06's); 08's DenseLayer is not
    found = {(f.delivered, f.answer) for f in structure_scan.scan(release, "07_complexity")}
    assert found == {(planted_cell, "08_beyond/beyond.ipynb dense_layer_class")}


def test_the_structure_scan_sees_through_names_and_layout():
    # all but the docstring's few fingerprints survive the disguise
    for assignment, grade_id in [("06_resnet", "bottleneck_block"), ("08_beyond", "dense_layer_class")]:
        original = set(structure_scan.fingerprints(_solution_cell(assignment, grade_id)))
        copy = set(structure_scan.fingerprints(disguised(_solution_cell(assignment, grade_id))))
        assert len(original & copy) >= 0.8 * len(original), grade_id

    # winnowing's guarantee: a run of K + W - 1 normalised tokens shared by two otherwise different sources leaves
    # a fingerprint in both, wherever the run sits
    shared = "total = -first.weight.sum() + second.bias * scale - offset\n"  # 18 tokens and its NEWLINE
    assert len(structure_scan.normalised_tokens(shared)) == structure_scan.K + structure_scan.W - 1
    before = ["a = 1\n", "for i in range(3):\n    print(i)\n", "import os\nos.getcwd()\nx = [1, 2]\n"]
    after = ["", "y = {'k': (1, 2)}\n", "def f(u):\n    return u ** 2\n"]
    for one in before:
        for other in after:
            mine, theirs = one + shared + other, other + shared + one
            assert set(structure_scan.fingerprints(mine)) & set(structure_scan.fingerprints(theirs)), (
                one,
                other,
            )


# --- the documents the notebooks cite travel with them ------------------------------------------------------------

CITATION = re.compile(r"\bdocs/[\w./-]*\w")  # any path under docs/ a notebook names, in its text or its code


def test_every_document_a_bundled_notebook_cites_is_in_the_bundle(releases, dist):
    for bundle in [*releases.values(), dist / bundle_tool.NAME]:
        cited = {
            citation
            for notebook in (bundle / "notebooks").glob("*/*.ipynb")
            for citation in CITATION.findall(notebook.read_text())
        }
        # JupyterLab starts on notebooks/, so a cited docs/<name> is notebooks/docs/<name>; nothing else is shipped
        for citation in cited:
            assert (bundle / "notebooks" / citation).is_file(), (
                f"{bundle.name}: {citation} is cited, not shipped"
            )
        shipped = {f"docs/{p.name}" for p in (bundle / "notebooks" / "docs").glob("*")}
        assert shipped == cited, bundle.name
        assert all((bundle / "notebooks" / c).read_text() == (ROOT / c).read_text() for c in cited)
    assert any(CITATION.search(path.read_text()) for path in LECTURES.glob("*/*.ipynb")), (
        "no notebook cites a document: this test would check nothing"
    )


def test_a_cited_document_the_repository_lacks_stops_the_build(tmp_path, monkeypatch):
    lectures = tmp_path / "lectures"
    (lectures / "00_intro").mkdir(parents=True)
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("The record: `docs/nowhere.md`.")]
    )
    nbformat.write(notebook, lectures / "00_intro" / "intro.ipynb")
    monkeypatch.setattr(bundle_tool, "LECTURES", lectures)
    (tmp_path / "bundle").mkdir()
    with pytest.raises(
        SystemExit, match="a notebook cites docs/nowhere.md, which the repository does not have"
    ):
        bundle_tool.CopyNotebooks()(tmp_path / "bundle", bundle_tool.Release("00_intro"))


# --- the student README, line by line -----------------------------------------------------------------------------


def test_the_student_readme_is_true(releases, dist):
    ids = bundle_tool.assignment_ids()
    for bundle in [*releases.values(), dist / bundle_tool.NAME]:
        readme = (bundle / "README.md").read_text()
        flat = " ".join(readme.split())
        held = sorted(p.name for p in (bundle / "notebooks").iterdir() if p.name in ids)
        # its last section names what this folder holds
        assert f"`{held[0]}` to `{held[-1]}`" in flat, bundle.name
        if bundle.name != bundle_tool.NAME:
            assert f"`{bundle_tool.NAME}-through-<assignment>`" in flat
        # the commands it gives: ./setup.sh and its one option (the install test runs `./setup.sh --no-lab`),
        # and JupyterLab on notebooks/ (the install test checks .venv/bin/jupyter)
        commands = re.findall(r"^(\S.*?)\s+#", re.search(r"```bash\n(.*?)```", readme, re.S).group(1), re.M)
        assert commands == ["./setup.sh", "./setup.sh --no-lab", ".venv/bin/jupyter lab notebooks/"]
        assert "--no-lab) START_LAB=0" in (bundle / "tools" / "setup-common.sh").read_text()
        assert os.access(bundle / "setup.sh", os.X_OK) and (bundle / "notebooks").is_dir()
        if "01_lenet" in held:
            assert (
                bundle / "notebooks" / "01_lenet" / "lenet.ipynb"
            ).is_file()  # its example of what to hand back
        for assignment in held:
            (path,) = (bundle / "notebooks" / assignment).glob("*.ipynb")
            cells = nbformat.read(path, as_version=4).cells
            code = [c.source for c in cells if c.cell_type == "code"]
            text = "\n".join(c.source for c in cells)
            # "replace both lines with your code", "write your answer in its place", "ends with questions"
            assert any(re.search(r"# YOUR CODE HERE\n\s*raise NotImplementedError\(\)", c) for c in code), (
                assignment
            )
            assert "YOUR ANSWER HERE" in text, assignment
            # "with a check after each step": answer cells (A) are followed by a graded check cell (C)
            kinds = "".join(
                "A" if nbgrader_meta(c).get("solution") else "C" if nbgrader_meta(c).get("grade") else ""
                for c in cells
                if c.cell_type == "code"
            )
            assert re.fullmatch(r"(A+C+)+", kinds), f"{assignment}: answers and checks in the order {kinds}"
            # "each one but 07_complexity ... lets you explore ... with sliders and trains a small version of it"
            if assignment != "07_complexity":
                assert "explore(" in text and "fit(" in text, assignment
            # "the notebook's first cell prints what it runs on": setup_notebook prints `device: ...`
            assert "setup_notebook(" in code[0], assignment
            # "the checks and the training cells are locked"
            for cell in cells:
                meta = nbgrader_meta(cell)
                if cell.cell_type == "code" and (
                    meta.get("grade") or meta.get("grade_id", "").endswith("_run")
                ):
                    assert meta.get("locked"), f"{assignment}: {meta.get('grade_id')} is not locked"


def _first_stub(notebook: Path) -> int:
    cells = nbformat.read(notebook, as_version=4).cells
    return next(
        i for i, c in enumerate(cells) if c.cell_type == "code" and "raise NotImplementedError()" in c.source
    )


@pytest.mark.slow
def test_a_release_installs_and_runs_outside_the_repository(releases, tmp_path):
    """A per-release bundle, as a class gets it; the whole course differs only in its notebooks (the setup, the
    wheel and the rest are the same: test_each_release_holds_the_assignments_so_far_with_the_same_toolkit)."""
    name = releases[INSTALLED_RELEASE].name
    with tarfile.open(releases[INSTALLED_RELEASE].parent / f"{name}.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    course = tmp_path / name
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
    assert os.access(
        course / ".venv" / "bin" / "jupyter", os.X_OK
    )  # the README's `.venv/bin/jupyter lab notebooks/`

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
