"""The first code cell of every notebook: seed, device and versions, in one line each."""

import platform

import torch

from .device import default_device, describe
from .errors import CheckFailed
from .train import cpu_threads, last_stopped_run, seed_everything

__all__ = ["setup_notebook"]


def setup_notebook(seed: int = 0) -> torch.device:
    """Seed everything, pick the device, print what this notebook runs on; returns the device.

    On a CPU it sets torch's thread count to what ``fit`` trains with (``cpu_threads()``), so the
    line it prints, the cells that follow and every training run agree.
    """
    seed_everything(seed)
    device = default_device()
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads())
    print(f"cnnlab: torch {torch.__version__}, Python {platform.python_version()}, seed {seed}")
    print(f"device: {describe(device)}")
    _explain_names_a_stopped_run_left_undefined()
    return device


def _explain_names_a_stopped_run_left_undefined() -> None:
    """A check cell after a training run that stopped meets a NameError (``history`` was never assigned): in a
    notebook, that error says which run stopped and why, so the lost points name the step to fix."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: nothing to explain in
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((NameError,), _name_error_after_a_stopped_run)


def _name_error_after_a_stopped_run(shell, etype, value, tb, tb_offset=None):
    stopped = last_stopped_run()
    if stopped is None:  # an ordinary NameError: shown as IPython shows it
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    name, reason = stopped
    failure = CheckFailed(
        f"{value}: the training run {name!r} above stopped before it finished, so there is nothing to check. "
        f"It stopped because: {reason} Hint: fix the step that message names, run the cells from there again, "
        "then the training run and this cell."
    )
    shell.showtraceback((CheckFailed, failure, tb), tb_offset=tb_offset)
    return None
