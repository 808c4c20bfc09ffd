"""The course dataset from the command line.

    python -m cnnlab.data build [--force]   generate it unless an intact copy exists, then verify it
    python -m cnnlab.data verify            check the cached copy against the expected SHA-256
    python -m cnnlab.data info              images per class, channel mean and std

``--root PATH`` uses another folder than the default (``$CNNLAB_DATA``, else ``data/`` in the checkout).
"""

import argparse
import sys
import time

from ..errors import CourseError
from .course import COURSE_SPEC, dataset_path, ensure_course_data, load_course_data, verify_course_data


def _build(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    path, built = ensure_course_data(args.root, args.force)
    took = time.perf_counter() - start
    how = f"built in {took:.1f} s" if built else "already built"
    print(f"{path}: {how}, SHA-256 {COURSE_SPEC.sha256} verified.")


def _verify(args: argparse.Namespace) -> None:
    sha256 = verify_course_data(args.root)
    print(f"{dataset_path(args.root)}: SHA-256 {sha256} verified.")


def _info(args: argparse.Namespace) -> None:
    data = load_course_data(args.root)
    print(f"{data!r} at {dataset_path(args.root)}")
    width = max(len(name) for name in data.classes)
    print(f"  {'class':<{width}}  {'train':>6}  {'test':>6}")
    train_counts = data.y_train.bincount(minlength=data.num_classes).tolist()
    test_counts = data.y_test.bincount(minlength=data.num_classes).tolist()
    for name, n_train, n_test in zip(data.classes, train_counts, test_counts, strict=True):
        print(f"  {name:<{width}}  {n_train:>6}  {n_test:>6}")
    print(f"  mean (R, G, B) on 0..1: {', '.join(f'{m:.6f}' for m in data.mean)}")
    print(f"  std  (R, G, B) on 0..1: {', '.join(f'{s:.6f}' for s in data.std)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cnnlab.data", description="The course's generated dataset."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, run, text in (
        ("build", _build, "generate the dataset unless an intact copy exists, then verify it"),
        ("verify", _verify, "check the cached dataset against its expected SHA-256"),
        ("info", _info, "images per class, and the channel mean and std"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "--root", default=None, help="the data folder (default: $CNNLAB_DATA, else data/)"
        )
        if name == "build":
            command.add_argument("--force", action="store_true", help="rebuild even an intact copy")
        command.set_defaults(run=run)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
