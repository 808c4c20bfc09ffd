"""``explore``: sliders over the arguments of a model-building function, with a live summary.

    def build(kernel=3, stride=1, filters=64): ...
    explore(build, kernel=(1, 11, 2), stride=(1, 4), filters=[32, 64, 128])

Every change rebuilds the model on PyTorch's meta device (no weights are allocated), summarises it,
and shows the table, a bar chart of params and MACs per layer, the difference against the
baseline configuration, and the net's diagram (``cnnlab.draw``) with what changed against the baseline marked.
A configuration that cannot work shows a sentence instead of a traceback, and its diagram stops at the layer
that fails. From code, ``explorer.set(...)`` shows the baseline with some controls moved, ``explorer.move(...)``
keeps earlier moves, and ``explorer.each(moves)`` loops over moves, printing those that cannot work.

Modules, one job each: ``config`` (what explore() is asked, checked up front), ``compare``
(a summary against the baseline), ``render`` (HTML), ``explorer`` (the widgets and their wiring).
"""

from .compare import Change, Diff
from .config import choices
from .explorer import Explorer, explore

__all__ = ["Change", "Diff", "Explorer", "choices", "explore"]
