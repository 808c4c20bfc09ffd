"""Builds the student bundle: the assignments released so far, with no answer not yet due in it.

    .venv/bin/python tools/bundle.py --through 05_googlenet
        # a class's release, assignments 00 to 05 only: dist/cnn-architectures-through-05_googlenet/ and .tar.gz
    .venv/bin/python tools/bundle.py
        # the whole course: dist/cnn-architectures/ and .tar.gz, for self-study once a class is over (later
        # notebooks hold earlier answers: 07's reference nets build the nets of 02 to 06)

What a student unpacks and runs (``./setup.sh``):

    README.md            the student README (lectures/README.md), then a section on this bundle: the release it
                         is, or the whole course for self-study
    notebooks/<id>/      the student versions of the assignments released, as committed in lectures/; a module an
                         assignment imports (07's reference nets) travels with it, so only with 07 and later
    notebooks/docs/      the documents of docs/ that those notebooks cite (`docs/degradation.md`): JupyterLab
                         starts on notebooks/, so the path a notebook names is the one its file browser shows
    wheels/cnnlab-*.whl  the toolkit, built from pyproject.toml as it is (the same for every release)
    setup.sh             makes .venv, installs the wheel and its dependencies, builds the course dataset into
                         data/, installs the course's kernel and starts JupyterLab on notebooks/
    tools/setup-common.sh  the first part of setup.sh, the same as the repository's (its option, Python, .venv)
    environment.yml      the same dependencies for conda
    nbgrader_config.py   the per-cell time limit of nbgrader's Validate, the course's own

Each release has a folder (and archive) of its own name, so unpacking the next one overwrites nothing.

The dataset is generated on the student's machine, as in the repository: the wheel holds its generator and the
SHA-256 it must have. The grading kit is a distribution of its own (grading/), the instructor's tool
(docs/class.md): the bundle has nothing of it. Before the archive is written, the structural scan
(tools/structure_scan.py) checks the bundle as the release it is, and the build stops if any code it delivers holds
a graded answer not yet due, even renamed or reformatted. tests/test_bundle.py also scans every file of every
release, the wheel's contents included, for any line of a solution, a hidden test or a model answer, and installs
and runs one release outside the repository.

Each step is one small class with one job, run in order by ``build_bundle``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
NAME = "cnn-architectures"
LECTURES = ROOT / "lectures"
ASSIGNMENT_ID = re.compile(r"\d\d_\w+")
DOCS = "docs"  # under notebooks/: the folder of the course documents the notebooks cite
CITED_DOC = re.compile(r"\bdocs/([\w.-]+\.md)\b")  # `docs/degradation.md`, in a notebook's text or links


def assignment_ids() -> list[str]:
    """The course's assignments, in order: the folders of lectures/."""
    return sorted(p.name for p in LECTURES.iterdir() if p.is_dir() and ASSIGNMENT_ID.fullmatch(p.name))


@dataclass(frozen=True)
class Release:
    """What one bundle holds: the assignments up to ``through``, or the whole course (``through`` None)."""

    through: str | None = None
    wheel: Path | None = None  # the toolkit's wheel, built once for several releases; None builds it

    def __post_init__(self):
        if self.through is not None and self.through not in assignment_ids():
            raise SystemExit(
                f"bundle.py: there is no assignment {self.through!r}; --through takes one of "
                + ", ".join(assignment_ids())
            )

    @property
    def assignments(self) -> list[str]:
        return [a for a in assignment_ids() if self.through is None or a <= self.through]

    @property
    def name(self) -> str:
        """The bundle's folder: each release has its own, so unpacking a new one never overwrites a student's work."""
        return NAME if self.through is None else f"{NAME}-through-{self.through}"


def cited_docs(notebook: Path) -> list[str]:
    """The names of the course documents (docs/<name>.md) that a notebook cites."""
    return sorted(set(CITED_DOC.findall(notebook.read_text())))


class CopyNotebooks:
    """lectures/<id>/* → notebooks/<id>/ for the assignments released, and the documents they cite (docs/) →
    notebooks/docs/."""

    def __call__(self, bundle: Path, release: Release) -> None:
        # every file of an assignment: a notebook may come with modules it imports (07's reference nets), which
        # therefore travel only with their assignment and the later ones
        for assignment in release.assignments:
            for path in sorted(p for p in (LECTURES / assignment).iterdir() if p.is_file()):
                target = bundle / "notebooks" / assignment / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
        cited = sorted(
            {name for path in (bundle / "notebooks").glob("*/*.ipynb") for name in cited_docs(path)}
        )
        for name in cited:
            source = ROOT / "docs" / name
            if not source.is_file():
                raise SystemExit(
                    f"bundle.py: a notebook cites docs/{name}, which the repository does not have"
                )
            (bundle / "notebooks" / DOCS).mkdir(exist_ok=True)
            shutil.copy(source, bundle / "notebooks" / DOCS / name)


class WriteReadme:
    """lectures/README.md → README.md, with a last section on what this bundle holds and when to use it."""

    def __call__(self, bundle: Path, release: Release) -> None:
        readme = LECTURES / "README.md"
        if not readme.exists():
            raise SystemExit("bundle.py: lectures/README.md (the student README) is missing")
        first, last = release.assignments[0], release.assignments[-1]
        docs = sorted(p.name for p in (bundle / "notebooks" / DOCS).glob("*.md"))
        cited = (
            f"\n\n`notebooks/{DOCS}/` holds the course documents the notebooks cite ("
            + ", ".join(f"`{DOCS}/{name}`" for name in docs)
            + "): in JupyterLab they are in the `docs` folder beside the notebooks' folders."
            if docs
            else ""
        )
        if release.through is None:
            section = (
                "## This bundle: the whole course, for self-study\n\n"
                f"This bundle holds every assignment, `{first}` to `{last}`, at once. Later notebooks hold the "
                "answers to earlier ones (`07_complexity/reference_nets.py` builds the nets of 02, 04, 05 and 06, and "
                "08 starts from 06's blocks), so it is meant for self-study once a class is over. In a class, your "
                "instructor hands out the assignments release by release."
            )
        else:
            section = (
                f"## This release: `{first}` to `{last}`\n\n"
                f"Your instructor hands out the course release by release: this folder holds the assignments "
                f"`{first}` to `{last}`. A later release comes as a new archive whose folder has a name of its own "
                f"(`{NAME}-through-<assignment>`), so unpacking it never overwrites your work here: run its "
                "`./setup.sh`, then copy your notebooks of the earlier assignments into its `notebooks/`."
            )
        paragraphs = [textwrap.fill(p, 115, break_on_hyphens=False) for p in (section + cited).split("\n\n")]
        (bundle / "README.md").write_text(
            readme.read_text().rstrip("\n") + "\n\n" + "\n\n".join(paragraphs) + "\n"
        )


def build_wheel(into: Path) -> Path:
    """The toolkit's wheel, built from pyproject.toml into ``into``."""
    with tempfile.TemporaryDirectory() as scratch:
        # Built from a copy, so that setuptools' build/ and egg-info never land in the checkout
        source = Path(scratch) / "source"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(ROOT / name, source / name)
        shutil.copytree(ROOT / "cnnlab", source / "cnnlab", ignore=shutil.ignore_patterns("__pycache__"))
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
        build = subprocess.run([*command, "-w", str(into), str(source)], capture_output=True, text=True)
        if build.returncode != 0:
            raise SystemExit(f"bundle.py: building the cnnlab wheel failed:\n{build.stderr}")
    return next(Path(into).glob("cnnlab-*.whl"))


class BuildStudentWheel:
    """The toolkit's wheel, into wheels/."""

    def __call__(self, bundle: Path, release: Release) -> None:
        wheels = bundle / "wheels"
        wheels.mkdir()
        if release.wheel is None:
            build_wheel(wheels)
        else:
            shutil.copy(release.wheel, wheels / release.wheel.name)


class WriteSetup:
    """The student setup.sh (tools/student/setup.sh, with tools/setup-common.sh, which it sources) and an
    environment.yml with the same dependencies."""

    def __call__(self, bundle: Path, release: Release) -> None:
        setup = bundle / "setup.sh"
        shutil.copy(ROOT / "tools" / "student" / "setup.sh", setup)
        setup.chmod(0o755)
        (bundle / "tools").mkdir()
        shutil.copy(ROOT / "tools" / "setup-common.sh", bundle / "tools" / "setup-common.sh")
        sys.path.insert(0, str(ROOT / "tools"))
        from sync_environment import environment_yml, project_dependencies

        wheel = next((bundle / "wheels").glob("cnnlab-*.whl")).name
        comments = [
            "# The course's environment for conda; ./setup.sh does the same with a venv.",
            "#   conda env create -f environment.yml && conda activate cnn-architectures",
            "#   export CNNLAB_DATA=$PWD/data && python -m cnnlab.data build",
            "#   python -m cnnlab.kernel_env install --env CNNLAB_DATA $PWD/data",
        ]
        dependencies = [*project_dependencies(dev=False), f"./wheels/{wheel}"]
        (bundle / "environment.yml").write_text(environment_yml(comments, dependencies))


class WriteNbgraderConfig:
    """nbgrader_config.py beside notebooks/, where JupyterLab starts: Validate runs every cell, and nbgrader's
    default of 30 s a cell would fail a correct training run; the limit is the course's own (nbgrader_config.py),
    and so is what Validate says of a cell stopped at that limit."""

    def __call__(self, bundle: Path, release: Release) -> None:
        from traitlets.config.loader import PyFileConfigLoader

        course = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
        timeout = course.Execute.timeout
        (bundle / "nbgrader_config.py").write_text(
            "# nbgrader's settings for this course (Validate in JupyterLab runs every cell of a notebook).\n"
            "c = get_config()  # noqa: F821\n"
            f"c.Execute.timeout = {timeout}  # seconds a cell may run: a training run on one slow core fits\n"
            "# Validate never says 'Success' for a notebook that did not run to the end: a cell stopped at the\n"
            "# limit is listed as a failed cell, with the course's sentence (cnnlab/nbgrader_validate.py).\n"
            "import cnnlab.nbgrader_validate as _validate  # noqa: E402\n"
            "c.Validator.Execute.error_on_timeout = _validate.ERROR_ON_TIMEOUT\n"
            "c.Validator.Execute.on_cell_error = _validate.fail_the_stopped_cell\n"
        )


class ScanStructure:
    """The structural scan (tools/structure_scan.py): no code the bundle delivers may hold a graded answer of its
    last assignment or of a later one, renamed or reformatted. The whole course is the release of the last one."""

    def __call__(self, bundle: Path, release: Release) -> None:
        sys.path.insert(0, str(ROOT / "tools"))
        import structure_scan

        findings = structure_scan.scan(bundle, release.assignments[-1])
        if findings:
            raise SystemExit(
                "bundle.py: the bundle hands out graded answers not yet due:\n"
                + "\n".join(f"  {finding}" for finding in findings)
            )


class Archive:
    """dist/<name>.tar.gz, for handing out as one file."""

    def __call__(self, bundle: Path, release: Release) -> None:
        with tarfile.open(bundle.parent / f"{release.name}.tar.gz", "w:gz") as archive:
            archive.add(bundle, arcname=release.name)


STEPS = [
    CopyNotebooks(),
    WriteReadme(),
    BuildStudentWheel(),
    WriteSetup(),
    WriteNbgraderConfig(),
    ScanStructure(),
    Archive(),
]


def build_bundle(dist: Path = DIST, through: str | None = None, wheel: Path | None = None) -> Path:
    """Builds the bundle of the assignments up to ``through`` (all of them when None) in ``dist``, with the
    toolkit's wheel ``wheel`` (built from the tree when None); returns its folder."""
    release = Release(through, wheel)
    bundle = dist / release.name
    shutil.rmtree(bundle, ignore_errors=True)
    (dist / f"{release.name}.tar.gz").unlink(missing_ok=True)
    bundle.mkdir(parents=True)
    for step in STEPS:
        step(bundle, release)
    return bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Builds the student bundle (see the docstring of tools/bundle.py)."
    )
    parser.add_argument(
        "--through",
        metavar="ASSIGNMENT",
        help="the last assignment released, e.g. 05_googlenet: the bundle holds it and the ones before it "
        "(default: the whole course, for self-study after a class)",
    )
    args = parser.parse_args(argv)
    bundle = build_bundle(through=args.through)
    files = sorted(path.relative_to(bundle.parent) for path in bundle.rglob("*") if path.is_file())
    print("\n".join(str(path) for path in files))
    shown = os.path.relpath(bundle)  # dist/<name> when run from the repository, as the docs show it
    print(f"==> {shown} and {shown}.tar.gz: hand out the archive")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
