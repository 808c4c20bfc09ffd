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
        budget_name="lenet",
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


# --- check_layer: one step of a build, on a fresh input (issue 9, items 1, 4, 5) --------------------


def test_check_layer_passes_with_one_tick_and_returns_the_output(capsys):
    output = checks.check_layer(nn.Conv2d(1, 6, 5), (1, 32, 32), (6, 28, 28), "C1", params=156)
    assert output.shape == (2, 6, 28, 28)
    assert capsys.readouterr().out == "✓ C1: 1×32×32 → 6×28×28, 156 parameters\n"


def test_check_layer_feeds_a_fresh_input_in_eval_mode_without_gradients():
    seen = []

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.BatchNorm2d(3)

        def forward(self, x):
            seen.append((tuple(x.shape), self.training, torch.is_grad_enabled()))
            return self.norm(x)

    spy = Spy().train()
    checks.check_layer(spy, (3, 8, 8), (3, 8, 8), "the block")
    assert seen == [((2, 3, 8, 8), False, False)]
    assert spy.training and spy.norm.training, "the layer's mode is restored"
    assert spy.norm.num_batches_tracked == 0, "no batch-norm statistics change"


@pytest.mark.parametrize(
    "layer, expected, hint",
    [
        # issue 9 item 4: a wrong filter count points at the filters, not at (N − F + 2P)/S + 1
        (nn.Conv2d(1, 5, 5), "expected 6×28×28, got 5×28×28", "number of filters: check out_channels"),
        (nn.Conv2d(1, 6, 7), "expected 6×28×28, got 6×26×26", "kernel size, stride and padding, with (N − F + 2P)/S + 1"),
        (nn.Conv2d(1, 5, 3), "expected 6×28×28, got 5×30×30", "both differ: the channels are the number of filters"),
    ],
)  # fmt: skip
def test_check_layer_hint_fits_the_difference(layer, expected, hint):
    with pytest.raises(CheckFailed) as error:
        checks.check_layer(layer, (1, 32, 32), (6, 28, 28), "C1")
    message = str(error.value)
    assert message.startswith(f"C1 output shape: {expected}. Hint: ") and hint in message, message
    if "out_channels" in hint:  # channels alone: nothing about kernel, stride and padding
        assert "N − F" not in message


def test_check_layer_a_linear_of_the_wrong_width_is_a_course_sentence():
    # issue 9 item 5: no "a and b must have same reduction dim" nor "mat1 and mat2" from torch
    fc6 = nn.Sequential(nn.Flatten(), nn.Linear(43_264, 16), nn.ReLU())
    with pytest.raises(CheckFailed) as error:
        checks.check_layer(fc6, (256, 6, 6), (16,), "FC6")
    assert str(error.value) == (
        "FC6's layer '1' (Linear 43264→16) takes 43,264 input features, but its input has 9,216 (256×6×6). "
        "Hint: in_features must equal channels × height × width of what comes in."
    )
    with pytest.raises(CheckFailed) as error:
        checks.check_layer(nn.Linear(43_264, 16), (9216,), (16,), "FC6")
    assert str(error.value).startswith("FC6 takes 43,264 input features, but its input has 9,216.")
    with pytest.raises(CheckFailed, match="FC6 takes 9,216 input features, but its input is a 256×6×6 map"):
        checks.check_layer(nn.Linear(9216, 16), (256, 6, 6), (16,), "FC6")


@pytest.mark.parametrize(
    "layer, input_shape, words",
    [
        (nn.Conv2d(48, 256, 5, padding=2), (96, 27, 27), "CONV2 takes 48 input channels, but its input has 96 (96×27×27). Hint: in_channels"),
        (nn.Conv2d(16, 120, 7), (16, 5, 5), "C5's 7×7 kernel is larger than its 5×5 input: the output would be empty. Hint:"),
        (nn.MaxPool2d(3, 2), (96, 2, 2), "POOL's 3×3 window is larger than its 2×2 input"),
        (nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(4)), (3, 8, 8), "'1' (BatchNorm2d 4) normalises 4 channels, but its input has 8"),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Conv2d(4, 4, 3)), (3, 8, 8), "takes a C×H×W map, but its input is flat (144)"),
    ],
)  # fmt: skip
def test_check_layer_names_what_cannot_take_its_input(layer, input_shape, words):
    name = words.split("'")[0].split(" ")[0] if not words.startswith("'") else "block"
    with pytest.raises(CheckFailed) as error:
        checks.check_layer(layer, input_shape, (1, 1, 1), name)
    message = str(error.value)
    assert words in message and message.startswith(name), message
    assert (
        "RuntimeError" not in message and "Expected" not in message and "size" not in message.split("Hint")[0]
    )


def test_check_layer_errors_in_forward_code_and_bad_arguments():
    class View(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return self.conv(x).view(-1, 400)

    with pytest.raises(
        CheckFailed, match=r"^Net failed in its own forward code, after layer 'conv' \(output 4×6×6\)"
    ):
        checks.check_layer(View(), (3, 8, 8), (400,), "Net")
    with pytest.raises(CheckFailed, match="expected a built layer, got the class Conv2d itself"):
        checks.check_layer(nn.Conv2d, (3, 8, 8), (4, 6, 6), "CONV1")
    with pytest.raises(
        CheckFailed, match=r"C1 parameters: expected 156, got 150 \(-6\)\. Hint: .*one bias per filter"
    ):
        checks.check_layer(nn.Conv2d(1, 6, 5, bias=False), (1, 32, 32), (6, 28, 28), "C1", params=156)
    with pytest.raises(
        CheckFailed, match="output shape: expected 144, got 4×6×6. Hint: the output is still a map"
    ):
        checks.check_layer(nn.Conv2d(3, 4, 3), (3, 8, 8), (144,), "flat")
    with pytest.raises(CheckFailed, match="keep the batch axis first"):
        checks.check_layer(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(0)), (3, 8, 8), (288,), "flat")


def test_check_shape_and_layer_shapes_hints_fit_the_difference():
    with pytest.raises(CheckFailed, match=r"got \(1, 5, 28, 28\)\. Hint: the channels of a conv's output"):
        checks.check_shape(torch.zeros(1, 5, 28, 28), (1, 6, 28, 28), "C1 output")
    wrong_filters = nn.Sequential(
        nn.Conv2d(1, 5, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5 * 14 * 14, 10)
    )
    reference = [("conv", (6, 28, 28)), ("pool", (6, 14, 14)), ("fc", (10,))]
    with pytest.raises(CheckFailed) as error:
        checks.check_layer_shapes(wrong_filters, (1, 32, 32), reference)
    assert "expected 6×28×28, got 5×28×28" in str(error.value) and "out_channels" in str(error.value)
    assert "N − F" not in str(error.value)


# --- check_raises and check_equal: one check, a useful sentence (issue 9, item 6) -------------------


def refuse_unnamed(input_size):
    raise ConfigError(f"kernel 11 is larger than the input {input_size}: the output would be empty")


def test_check_raises_with_a_message_prefix_is_one_check(capsys):
    def refuse_named(input_size):
        raise ConfigError(f"CONV1: kernel 11 is larger than the input {input_size}")

    message = checks.check_raises(
        refuse_named, ValueError, "input_size=9", message_starts_with="conv1", input_size=9
    )
    assert message.startswith("CONV1:") and capsys.readouterr().out.count("✓") == 1
    with pytest.raises(CheckFailed) as error:
        checks.check_raises(
            refuse_unnamed, ValueError, "input_size=9", message_starts_with="CONV1", input_size=9
        )
    assert capsys.readouterr().out == "", "no ✓ before the failure of the same check"
    assert str(error.value) == (
        "input_size=9 is refused, but the message should start with 'CONV1'; it reads: "
        "'kernel 11 is larger than the input 9: the output would be empty'. Hint: begin the message with 'CONV1'."
    )


def test_check_equal_with_booleans_says_what_does_not_hold(capsys):
    checks.check_equal(True, True, "the model has ReLU layers")
    assert capsys.readouterr().out == "✓ the model has ReLU layers\n"
    for actual in (False, torch.tensor(False)):
        with pytest.raises(CheckFailed) as error:
            checks.check_equal(actual, True, "the message names POOL2", hint="start it with the layer's name")
        assert str(error.value) == (
            "expected that the message names POOL2, but it does not hold. Hint: start it with the layer's name"
        )
    with pytest.raises(
        CheckFailed, match="expected this to be false: the model has LRN layers; but it holds"
    ):
        checks.check_equal(True, False, "the model has LRN layers")


def test_no_check_ever_says_expected_true_got_false():
    attempts = [
        lambda: checks.check_equal(False, True, "x"),
        lambda: checks.check_equal(True, False, "x"),
        lambda: checks.check_raises(refuse_unnamed, message_starts_with="C3", input_size=5),
    ]
    for attempt in attempts:
        with pytest.raises(CheckFailed) as error:
            attempt()
        assert "expected True" not in str(error.value) and "got False" not in str(error.value)


def test_the_student_readme_quotes_what_the_checks_print(capsys):
    """lectures/README.md (issue 9, item 17) shows a ✓ line and a failure exactly as the toolkit writes them."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "lectures" / "README.md").read_text()
    checks.check_layer(nn.Conv2d(1, 6, 5), (1, 32, 32), (6, 28, 28), "C1", params=156)
    tick = capsys.readouterr().out.strip()
    assert f"`{tick}`" in readme
    with pytest.raises(CheckFailed) as error:
        checks.check_layer(nn.Conv2d(1, 6, 7), (1, 32, 32), (6, 28, 28), "C1")
    shown = f"{CheckFailed.title}: {error.value}"
    assert f"`{shown.split(' Hint: ')[0]} Hint: ...`" in readme
    assert f"`{ConfigError.title}: ...`" in readme
    for words in ("Shift+Enter", "Validate", ".ipynb", "GPU", "2 minutes", "1 minute"):
        assert words in readme
    from cnnlab.kernel_env import KERNEL_DISPLAY_NAME

    assert f"**{KERNEL_DISPLAY_NAME}**" in readme  # the kernel the student setup.sh installs


# --- a crash shows the check's own hint first; stand-in blocks check an assembly apart from its blocks ----------


class TwoPathBlock(nn.Module):
    """A residual block whose shortcut was forgotten where the shape changes: its forward cannot add the paths."""

    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1)

    def forward(self, x):
        return self.conv(x) + x


def test_a_crashing_forward_shows_the_checks_own_hint_first_then_where_it_crashed():
    hint = "the shortcut is a 1×1 conv (stride 2) when the shape changes"
    with pytest.raises(CheckFailed) as failure:
        checks.check_layer(
            TwoPathBlock(4, 8, stride=2), (4, 8, 8), (8, 4, 4), "TwoPathBlock(4, 8, 2)", hint=hint
        )
    message = str(failure.value)
    assert message.startswith(f"TwoPathBlock(4, 8, 2) did not run on a 4×8×8 input. Hint: {hint}"), message
    where = message.split("\n", 1)[1]
    assert where.startswith("Where it crashed: ") and "after layer 'conv'" in where
    assert "reshape" not in message, "the generic advice should give way to the check's own hint"
    with pytest.raises(CheckFailed) as failure:
        checks.check_macs(TwoPathBlock(4, 8, stride=2), (4, 8, 8), 1, "its MACs", hint=hint)
    assert str(failure.value).startswith(f"its MACs did not run on a 4×8×8 input. Hint: {hint}")
    # without a hint of its own, the sentence that says where it crashed is the message, generic advice included
    with pytest.raises(CheckFailed) as failure:
        checks.check_layer(TwoPathBlock(4, 8, stride=2), (4, 8, 8), (8, 4, 4), "TwoPathBlock(4, 8, 2)")
    assert "after layer 'conv'" in str(failure.value) and "Hint: print x.shape" in str(failure.value)


class Stages(nn.Module):
    """A small assembly of blocks, reached as an argument: a stem, two stages of ``block``, a head."""

    def __init__(self, block, widths=(8, 16), first_stride=2):
        super().__init__()
        self.stem = nn.Conv2d(3, widths[0], 3, padding=1)
        blocks, channels = [], widths[0]
        for stage, width in enumerate(widths):
            stride = first_stride if stage > 0 else 1
            blocks += [block(channels, width, stride), block(width, width)]
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 10))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def reference_counts(block):
    net = Stages(block)
    return sum(p.numel() for p in net.parameters()), checks.summarize(net, (3, 16, 16)).total_macs


def test_an_assembly_check_passes_whatever_the_blocks_hold_and_names_the_blocks_built():
    from cnnlab.stand_ins import stand_in

    StandIn = stand_in(TwoPathBlock, out_channels="channels", stride="stride")
    params, macs = reference_counts(StandIn)
    # the right assembly passes, although the real block cannot even run
    checks.check_assembly(
        Stages(StandIn), (3, 16, 16), "Stages", params=params, macs=macs, output_shape=(10,)
    )
    # a stride forgotten in the assembly: the parameters agree, the MACs do not, and the message lists the blocks
    with pytest.raises(CheckFailed) as failure:
        checks.check_assembly(
            Stages(StandIn, first_stride=1), (3, 16, 16), "Stages", params=params, macs=macs
        )
    assert "TwoPathBlock(8, 16)" in str(failure.value) and "MACs" in str(failure.value)
    # a wrong width: the parameters differ, and the message lists the blocks and what lies outside them
    with pytest.raises(CheckFailed) as failure:
        checks.check_assembly(
            Stages(StandIn, widths=(8, 24)), (3, 16, 16), "Stages", params=params, macs=macs
        )
    message = str(failure.value)
    assert (
        "TwoPathBlock(8, 24, stride=2); TwoPathBlock(24, 24)" in message and "outside the blocks" in message
    )
    # a net built without the stand-ins cannot be checked this way, and says so
    with pytest.raises(CheckFailed, match="no stand-in block"):
        checks.check_assembly(Stages(TwoPathBlock), (3, 16, 16), "Stages", params=params)


def test_a_stand_in_takes_the_blocks_signature_and_numbers_and_names_a_wrong_call():
    from cnnlab.stand_ins import blocks_built, stand_in, standing_in

    class Expanding(TwoPathBlock):
        expansion = 4

    StandIn = stand_in(Expanding, out_channels=lambda a: a["channels"] * 4)
    assert StandIn.expansion == 4
    built = nn.Sequential(StandIn(8, 2), StandIn(8, 2), StandIn(8, 4, stride=2))
    assert blocks_built(built) == ["Expanding(8, 2) × 2", "Expanding(8, 4, stride=2)"]
    assert built[2].conv.out_channels == 16 and built[2].conv.stride == (1, 1)  # stride not asked for: 1
    with pytest.raises(CheckFailed, match=r"Expanding\(1, 2, 3, 4\).*does not take"):
        StandIn(1, 2, 3, 4)
    namespace = {"Expanding": Expanding}
    with standing_in(namespace, Expanding=StandIn):
        assert namespace["Expanding"] is StandIn
    assert namespace["Expanding"] is Expanding
    with pytest.raises(CheckFailed, match="Missing to be defined"):
        with standing_in(namespace, Missing=StandIn):
            pass
