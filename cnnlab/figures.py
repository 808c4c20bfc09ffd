"""Figures that show exactly once in a notebook, however the cell ends.

``history.plot()``, ``history.plot();`` and ``figure = history.plot()`` each show one image. A figure
made with pyplot shows at the cell's end only while it is open, and once more as the cell's value;
a closed one shows only as the value, so ``plot();`` showed nothing. Here a figure is made without
pyplot (no global state, nothing left open), shown by the call that makes it, and adds nothing when
it is also the cell's value. Shown again in a later cell (``figure``), it shows again.
"""

from __future__ import annotations

from matplotlib.figure import Figure

__all__ = ["CellFigure", "new_figure", "show"]


def _kernel_shell():
    """The IPython shell of a Jupyter kernel, or None (a script, a terminal, a test)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return None
    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


class CellFigure(Figure):
    """A matplotlib Figure that the notebook shows once per cell."""

    _shown_in_cell: int | None = None  # the execution count of the cell that showed it

    def _ipython_display_(self) -> None:
        shell = _kernel_shell()
        if shell is None:
            return
        if self._shown_in_cell == shell.execution_count:
            return  # the call that made it showed it already: as the cell's value it adds nothing
        _publish(self, shell)


def new_figure(**kwargs) -> CellFigure:
    """A figure outside pyplot: ``Figure(**kwargs)``, e.g. figsize=(10, 3.6), layout="constrained"."""
    return CellFigure(**kwargs)


def show(figure: CellFigure) -> CellFigure:
    """Shows ``figure`` now when running in a Jupyter kernel (once per cell); returns it."""
    shell = _kernel_shell()
    if shell is not None and figure._shown_in_cell != shell.execution_count:
        _publish(figure, shell)
    return figure


def _publish(figure: CellFigure, shell) -> None:
    from IPython.display import publish_display_data

    # The kernel's figure formatter keeps the notebook's settings (retina, format) once pyplot has set it up.
    png = shell.display_formatter.formatters["image/png"](figure)
    if png is None:
        from IPython.core.pylabtools import print_figure

        png = print_figure(figure, "png", base64=True)
    metadata = None
    if isinstance(png, tuple):  # (data, metadata), as the retina formatter returns
        png, metadata = png
    width, height = figure.get_size_inches() * figure.dpi
    data = {"image/png": png, "text/plain": f"<Figure size {width:.0f}x{height:.0f}>"}
    publish_display_data(data, {"image/png": metadata} if metadata else None)
    figure._shown_in_cell = shell.execution_count
