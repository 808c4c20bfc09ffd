"""The checks that test cells call: they pass quietly with a ✓, and fail with expected / got / hint."""

import math
import types

import pytest
import torch
from torch import nn

import cnnlab
import cnnlab.arithmetic
from cnnlab import checks
from cnnlab.errors import CheckFailed, ConfigError, CourseError
from cnnlab.history import History


def small_net(kernel=5):
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 14 * 14, 10)
    )


def test_passing_checks_print_a_tick(capsys):
    checks.check_equal(3, 3, "three")
    checks.check_shape(torch.zeros(2, 3), (2, 3), "zeros")
    checks.check_params(nn.Linear(4, 2), 10, "linear")
    checks.check_close(0.1 + 0.2, 0.3, "sum")
    out = capsys.readouterr().out
    assert out.count("✓") == 4 and "linear: 10" in out


def test_failures_say_what_was_expected_and_what_came():
    with pytest.raises(CheckFailed, match=r"C1 output: expected \(1, 6, 28, 28\), got \(1, 6, 30, 30\)"):
        checks.check_shape(torch.zeros(1, 6, 30, 30), (1, 6, 28, 28), "C1 output")
    with pytest.raises(CheckFailed, match=r"expected 61,706, got 61,716 \(\+10\).*Hint: count the biases"):
        checks.check_params(61_716, 61_706, hint="count the biases")
    with pytest.raises(CheckFailed, match="expected a tensor of shape"):
        checks.check_shape("not a tensor", (1,))
    with pytest.raises(CheckFailed, match="needs the expected count as an int"):
        checks.check_params(nn.Linear(1, 1), nn.Linear(1, 1))


def test_check_failed_is_an_assertion_error_shown_without_traceback(monkeypatch):
    error = CheckFailed("expected 1, got 2.")
    assert isinstance(error, AssertionError) and isinstance(error, CourseError)
    assert error._render_traceback_() == ["\x1b[1;31mCheck failed:\x1b[0m expected 1, got 2."]
    monkeypatch.setenv("CNNLAB_TRACEBACK", "1")
    assert not hasattr(error, "_render_traceback_"), "CNNLAB_TRACEBACK=1 brings the full traceback back"


def test_check_macs():
    checks.check_macs(small_net(), (1, 32, 32), 6 * 28 * 28 * 25 + 6 * 14 * 14 * 10)
    with pytest.raises(CheckFailed, match="MACs: expected 1 "):
        checks.check_macs(small_net(), (1, 32, 32), 1)
    with pytest.raises(CheckFailed, match="does not run on a 1×8×8 input"):
        checks.check_macs(small_net(), (1, 8, 8), 1)


def test_layer_shapes_by_position_name_the_first_wrong_layer():
    reference = [("conv", (6, 28, 28)), ("pool", (6, 14, 14)), ("fc", (10,))]
    checks.check_layer_shapes(small_net(), (1, 32, 32), reference)
    wrong = nn.Sequential(
        nn.Conv2d(1, 6, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 15 * 15, 10)
    )
    with pytest.raises(
        CheckFailed, match=r"layer '0' \(the reference's conv\) output shape: expected 6×28×28, got 6×30×30"
    ):
        checks.check_layer_shapes(wrong, (1, 32, 32), reference)
    with pytest.raises(CheckFailed, match="expected 3 shape-changing layers"):
        checks.check_layer_shapes(nn.Sequential(nn.Conv2d(1, 6, 5)), (1, 32, 32), reference)


def test_layer_shapes_by_name():
    class Named(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.pool1 = nn.MaxPool2d(2)

        def forward(self, x):
            return self.pool1(self.conv1(x))

    checks.check_layer_shapes(Named(), (1, 32, 32), [("conv1", (6, 28, 28)), ("pool1", (6, 14, 14))])
    with pytest.raises(CheckFailed, match="layer 'pool1' output shape: expected 6×13×13"):
        checks.check_layer_shapes(Named(), (1, 32, 32), [("conv1", (6, 28, 28)), ("pool1", (6, 13, 13))])


def history(test_acc, train_loss, initial_loss=2.3, diverged=False):
    return History(
        model_name="Net",
        device="cpu: 2 threads",
        budget_name="short",
        epochs=len(test_acc),
        batch_size=128,
        seed=0,
        num_classes=10,
        train_loss=list(train_loss),
        test_acc=list(test_acc),
        initial_loss=initial_loss,
        diverged=diverged,
    )


def test_check_learns():
    checks.check_learns(history([0.3, 0.5], [1.9, 1.2]), min_test_acc=0.4)
    with pytest.raises(CheckFailed, match=r"test accuracy ≥ 40% \(chance is 10%\), got 11.0%"):
        checks.check_learns(history([0.1, 0.11], [1.9, 1.8]), min_test_acc=0.4)
    with pytest.raises(CheckFailed, match="training loss: expected to fall by at least 10%"):
        checks.check_learns(history([0.5], [2.29]), min_test_acc=0.4)
    with pytest.raises(CheckFailed, match="diverged"):
        checks.check_learns(history([0.1], [math.nan], diverged=True), min_test_acc=0.4)
    with pytest.raises(CheckFailed, match="expected the History that cnnlab.fit returns, got dict"):
        checks.check_learns({"test_acc": 0.9}, min_test_acc=0.4)


def test_check_raises():
    def refuse(size):
        raise ConfigError(f"size {size} is too small")

    assert checks.check_raises(refuse, size=1) == "size 1 is too small"
    with pytest.raises(CheckFailed, match="expected ConfigError to be raised, got no error"):
        checks.check_raises(lambda size: size, size=1)
    with pytest.raises(CheckFailed, match="expected ValueError, got KeyError"):
        checks.check_raises(refuse_with_key_error, ValueError, size=1)


def refuse_with_key_error(size):
    raise KeyError(size)


def test_check_own_work_catches_every_way_of_calling_the_toolkit():
    namespace = {}
    exec(
        "import cnnlab\n"
        "import cnnlab.arithmetic as arith\n"
        "from cnnlab.arithmetic import conv_output_size as size_of\n"
        "def by_hand(n, f): return n - f + 1\n"
        "def via_alias(n, f): return size_of(n, f)\n"
        "def via_package(n, f): return cnnlab.arithmetic.conv_output_size(n, f)\n"
        "def via_module(n, f): return [arith.conv_output_size(n, f) for _ in range(1)][0]\n",
        namespace,
    )
    checks.check_own_work(namespace["by_hand"], cnnlab.arithmetic)
    for name in ("via_alias", "via_package", "via_module"):
        with pytest.raises(CheckFailed, match="asks you to write the formula yourself"):
            checks.check_own_work(namespace[name], cnnlab.arithmetic)
    with pytest.raises(CheckFailed, match="expected a function written in the notebook"):
        checks.check_own_work(types.SimpleNamespace(), cnnlab.arithmetic)
