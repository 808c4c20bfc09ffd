"""A first cell that makes a notebook's training runs tiny, for tests that run whole notebooks in seconds.

The cell wraps ``cnnlab.fit`` (one epoch at batch 64 on the first 512 training and 256 test images, whatever budget
the notebook asks for) and ``checks.check_learns`` (which then only checks that a run finished without diverging:
no threshold holds after one epoch). It runs before the notebook's own imports, so ``from cnnlab import fit`` picks
the wrapper up. It also sets ``CNNLAB_DEGRADATION_STEPS=2``: notebook 06's degradation experiment, which trains
four nets with its own loop, runs two steps per net. Nothing in cnnlab/ changes: only the copy of the notebook a test
runs.
"""

from __future__ import annotations

import nbformat

MARK = "tiny-budget"  # the injected cell's tag

SOURCE = """\
# Added by the course's tests, not part of the notebook: every training run at a tiny budget (one epoch on a slice
# of the data), so that the whole notebook runs in seconds; check_learns then only checks that a run finished.
import dataclasses as _dataclasses
import os as _os

import cnnlab as _cnnlab
import cnnlab.checks as _checks
import cnnlab.train as _train
from cnnlab.budgets import Budget as _Budget

_full_fit = getattr(_train.fit, "__wrapped__", _train.fit)
_full_check_learns = getattr(_checks.check_learns, "__wrapped__", _checks.check_learns)


def _tiny_fit(model, data, **options):
    options.update(budget=_Budget(epochs=1, batch_size=64, lr=0.01), lr=None, batch_size=None)
    data = _dataclasses.replace(
        data, x_train=data.x_train[:512], y_train=data.y_train[:512], x_test=data.x_test[:256], y_test=data.y_test[:256]
    )
    return _full_fit(model, data, **options)


def _tiny_check_learns(history, min_test_acc, min_loss_drop=0.1, hint=None):
    _full_check_learns(history, 0.0, min_loss_drop=-1.0, hint=hint)  # finished, did not diverge


_tiny_fit.__wrapped__, _tiny_check_learns.__wrapped__ = _full_fit, _full_check_learns
_cnnlab.fit = _train.fit = _tiny_fit
_checks.check_learns = _tiny_check_learns
_os.environ["CNNLAB_DEGRADATION_STEPS"] = "2"  # notebook 06's degradation experiment: two steps per net
print("tiny budget: every fit() is one epoch on 512 training images")
"""


def with_tiny_budget(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with the tiny-budget cell first (a copy; ``nb`` is left alone)."""
    copy = nbformat.from_dict(nb)
    cell = nbformat.v4.new_code_cell(SOURCE, metadata={"tags": [MARK]})
    copy.cells.insert(0, cell)
    return copy
