"""Builds the student bundle: the whole course for a class, with no answer in it.

    .venv/bin/python tools/bundle.py            # writes dist/cnn-architectures/ and dist/cnn-architectures.tar.gz

What a student unpacks and runs (``./setup.sh``):

    README.md            the student README (lectures/README.md)
    notebooks/<id>/      the student versions of every assignment, as committed in lectures/
    wheels/cnnlab-*.whl  the toolkit, built from pyproject.toml as it is
    setup.sh             makes .venv, installs the wheel and its dependencies, builds the course dataset into
                         data/, installs the course's kernel and starts JupyterLab on notebooks/
    tools/setup-common.sh  the first part of setup.sh, the same as the repository's (its option, Python, .venv)
    environment.yml      the same dependencies for conda
    nbgrader_config.py   the per-cell time limit of nbgrader's Validate, the course's own

The dataset is generated on the student's machine, as in the repository: the wheel holds its generator and the
SHA-256 it must have. The grading kit is a distribution of its own (grading/), the instructor's tool
(docs/class.md): the bundle has nothing of it. tests/test_bundle.py scans every file of the bundle, the wheel's contents included, for any
line of a solution, a hidden test or a model answer, and installs and runs the bundle outside the repository.

Each step is one small class with one job, run in order by ``build_bundle``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
NAME = "cnn-architectures"


class CopyNotebooks:
    """lectures/<id>/* → notebooks/<id>/, and lectures/README.md → README.md."""

    def __call__(self, bundle: Path) -> None:
        lectures = ROOT / "lectures"
        readme = lectures / "README.md"
        if not readme.exists():
            raise SystemExit("bundle.py: lectures/README.md (the student README) is missing")
        shutil.copy(readme, bundle / "README.md")
        # every file of an assignment: a notebook may come with modules it imports (07's reference nets)
        for path in sorted(p for p in lectures.glob("*/*") if p.is_file()):
            target = bundle / "notebooks" / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)


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

    def __call__(self, bundle: Path) -> None:
        wheels = bundle / "wheels"
        wheels.mkdir()
        build_wheel(wheels)


class WriteSetup:
    """The student setup.sh (tools/student/setup.sh, with tools/setup-common.sh, which it sources) and an
    environment.yml with the same dependencies."""

    def __call__(self, bundle: Path) -> None:
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
    default of 30 s a cell would fail a correct training run; the limit is the course's own (nbgrader_config.py)."""

    def __call__(self, bundle: Path) -> None:
        from traitlets.config.loader import PyFileConfigLoader

        course = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
        timeout = course.Execute.timeout
        (bundle / "nbgrader_config.py").write_text(
            "# nbgrader's settings for this course (Validate in JupyterLab runs every cell of a notebook).\n"
            "c = get_config()  # noqa: F821\n"
            f"c.Execute.timeout = {timeout}  # seconds a cell may run: a training run on one slow core fits\n"
        )


class Archive:
    """dist/cnn-architectures.tar.gz, for handing out as one file."""

    def __call__(self, bundle: Path) -> None:
        with tarfile.open(bundle.parent / f"{NAME}.tar.gz", "w:gz") as archive:
            archive.add(bundle, arcname=NAME)


STEPS = [CopyNotebooks(), BuildStudentWheel(), WriteSetup(), WriteNbgraderConfig(), Archive()]


def build_bundle(dist: Path = DIST) -> Path:
    """Builds the bundle in ``dist``; returns its folder."""
    bundle = dist / NAME
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir(parents=True)
    for step in STEPS:
        step(bundle)
    return bundle


def main() -> int:
    bundle = build_bundle()
    files = sorted(path.relative_to(bundle.parent) for path in bundle.rglob("*") if path.is_file())
    print("\n".join(str(path) for path in files))
    print(f"==> {bundle} and {bundle.parent / (NAME + '.tar.gz')}: hand out the archive")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
