# ruff: noqa: F821  (a notebook cell: its names come from the notebook's other cells)
# A wrong answer, and the checks patched to always pass, three ways: the module's functions, the
# toolkit's summary, and the name the test cell uses. The grader restores them: tiny_net_check fails.
import cnnlab.checks
import cnnlab.summary


def tiny_net_params(channels=8, kernel_size=3, num_classes=10, input_size=32):
    return 0


def _always_passes(*args, **kwargs):
    return None


for _name in ("check_params", "check_equal", "check_own_work", "check_shape", "check_close"):
    setattr(cnnlab.checks, _name, _always_passes)
cnnlab.checks._fail = lambda *args, **kwargs: None


class _Lenient:
    def __getattr__(self, name):
        return _always_passes


checks = _Lenient()
