"""Writes environment.yml from pyproject.toml, so conda and pip users get the same packages.

python tools/sync_environment.py          # rewrite environment.yml
python tools/sync_environment.py --check  # exit 1 if it is out of date
"""

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def project_dependencies(dev: bool = True) -> list[str]:
    """pyproject.toml's dependencies, with the dev extra's when ``dev``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"]) + (project["optional-dependencies"]["dev"] if dev else [])


def render() -> str:
    deps = project_dependencies()
    lines = [
        "# Generated from pyproject.toml by tools/sync_environment.py: edit pyproject.toml instead.",
        "#   conda env create -f environment.yml && conda activate cnn-architectures",
        "#   pip install -e . --no-deps && python -m cnnlab.data build",
        "name: cnn-architectures",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        "  - python=3.11",
        "  - pip",
        "  - pip:",
    ]
    lines += [f'      - "{d}"' for d in deps]
    return "\n".join(lines) + "\n"


def main() -> int:
    target = ROOT / "environment.yml"
    text = render()
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print("environment.yml is out of date: run python tools/sync_environment.py")
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
