"""cnnlab: the toolkit of the CNN Architectures course.

    from cnnlab import summarize, explore, fit, load_course_data, checks

Modules, one job each: ``arithmetic`` (conv arithmetic), ``summary`` (per-layer tables),
``data`` (the course dataset, CIFAR-10 reader), ``train`` (``fit``), ``checks`` (test-cell
assertions), ``widgets`` (``explore``), ``notebook`` (the set-up cell), ``init`` (``he_init``), ``filters``
(first-layer filters as a picture), ``diagram`` (``draw``: the net as a picture of its layers and blocks;
``draw_side_by_side``: several nets on one colour scale), ``feature_maps`` (``show_feature_maps``: what each
stage of a trained net makes of one image).
It holds no answer to a graded exercise: students receive it.
"""

import importlib

__version__ = "0.1.0"

# name -> module: imported on first use, so `import cnnlab` stays cheap and cycle-free
_LAZY = {
    "summarize": "cnnlab.summary",
    "fit": "cnnlab.train",
    "evaluate": "cnnlab.train",
    "explore": "cnnlab.widgets",
    "load_course_data": "cnnlab.data",
    "load_cifar10": "cnnlab.data",
    "setup_notebook": "cnnlab.notebook",
    "he_init": "cnnlab.init",
    "show_filters": "cnnlab.filters",
    "draw": "cnnlab.diagram",
    "draw_side_by_side": "cnnlab.diagram.side_by_side",
    "show_feature_maps": "cnnlab.feature_maps",
}
_SUBMODULES = {
    "arithmetic",
    "checks",
    "data",
    "summary",
    "train",
    "widgets",
    "notebook",
    "fmt",
    "device",
    "errors",
    "init",
    "filters",
    "diagram",
    "feature_maps",
}

__all__ = sorted([*_LAZY, *_SUBMODULES])


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"cnnlab.{name}")
    raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
