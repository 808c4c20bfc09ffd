"""summarize(): exact parameters and MACs, shapes per layer, no weights allocated, readable errors."""

import contextlib
import html
import math
import time

import course
import pytest
import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.summary import MEMORY_CONVENTION, summarize, summary_html

VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16(num_classes=1000):
    """VGG-16 (configuration D) as torchvision builds it, in plain torch."""
    layers, channels = [], 3
    for v in VGG16_CONFIG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
            channels = v
    return nn.Sequential(
        nn.Sequential(*layers),
        nn.AdaptiveAvgPool2d(7),
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(4096, num_classes),
    )


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(120, 84),
        nn.Tanh(),
        nn.Linear(84, 10),
    )


@pytest.fixture(scope="module")
def vgg16_summary():
    with torch.device("meta"):
        model = vgg16()
    return summarize(model, (3, 224, 224))


def test_vgg16_exact_params_and_macs(vgg16_summary):
    assert vgg16_summary.total_params == 138_357_544  # torchvision's count
    assert vgg16_summary.total_macs == 15_470_264_320
    assert vgg16_summary.output_shape == (1000,)


def test_vgg16_layer_shapes_and_rows(vgg16_summary):
    convs = [r for r in vgg16_summary.rows if r.kind == "Conv2d"]
    assert len(convs) == 13
    assert convs[0].output_shape == (64, 224, 224) and convs[0].params == 1_792
    assert convs[-1].output_shape == (512, 14, 14)
    fc6 = next(r for r in vgg16_summary.rows if r.kind == "Linear")
    assert fc6.params == 102_764_544 and fc6.config == "25088→4096"
    assert sum(r.params for r in vgg16_summary.rows) == vgg16_summary.total_params
    assert sum(r.macs for r in vgg16_summary.rows) == vgg16_summary.total_macs


def test_vgg16_activation_memory_counts_each_allocated_output_once(vgg16_summary):
    # in-place ReLUs and the flatten view allocate nothing; every conv, pool and linear output counts
    values = vgg16_summary.activation_bytes // 4
    expected = sum(r.activation_bytes for r in vgg16_summary.rows if r.kind not in ("ReLU", "Flatten")) // 4
    assert values == expected
    assert all(
        r.activation_bytes == 0 for r in vgg16_summary.rows if r.kind in ("ReLU", "Flatten", "Dropout")
    )
    # the input plus every conv, pool and linear output, as the lecture tabulates VGG-16's memory
    by_hand = (
        3 * 224**2
        + 2 * 64 * 224**2
        + 64 * 112**2
        + 2 * 128 * 112**2
        + 128 * 56**2
        + 3 * 256 * 56**2
        + 256 * 28**2
        + 3 * 512 * 28**2
        + 512 * 14**2
        + 3 * 512 * 14**2
        + 2 * 512 * 7**2  # pool5, then the adaptive pool
        + 4096
        + 4096
        + 1000
    )
    assert (vgg16_summary.activation_bytes + vgg16_summary.input_bytes) // 4 == by_hand == 15_262_696


def test_summarize_on_meta_is_fast_and_allocates_no_weights(vgg16_summary):
    with torch.device("meta"):
        model = vgg16()
    summarize(model, (3, 224, 224))  # the first meta op in a process is slow
    started = time.perf_counter()
    summary = summarize(model, (3, 224, 224))
    elapsed = time.perf_counter() - started
    assert summary.total_params == 138_357_544
    assert all(p.is_meta for p in model.parameters())
    assert elapsed < 1.0, f"summarize took {elapsed:.3f} s"  # milliseconds in practice; generous for CI


def test_a_real_model_is_summarised_without_touching_its_weights():
    torch.manual_seed(0)
    model = lenet5()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    summary = summarize(model, (1, 32, 32))
    assert summary.total_params == 61_706
    assert summary.total_macs == 416_520
    assert model.training, "summarize must restore train mode"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert summary.output_shapes()["6"] == (120, 1, 1)


def test_a_real_model_with_a_shared_module_keeps_its_own_weights():
    # torch.func.functional_call, used before, left the shared conv holding meta tensors after the summary
    shared = nn.Conv2d(8, 8, 3, padding=1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), shared, nn.ReLU(), shared)
    before = {id(t): t.clone() for t in [*model.parameters(), *model.buffers()]}
    tensors = [*model.parameters(), *model.buffers()]
    first, second = summarize(model, (3, 12, 12)), summarize(model, (3, 12, 12))
    assert first == second
    assert first.total_params == first.trainable_params == sum(p.numel() for p in model.parameters())
    assert [*model.parameters(), *model.buffers()] == tensors  # the very same tensor objects
    assert all(not t.is_meta and torch.equal(t, before[id(t)]) for t in tensors)
    assert model[2] is model[4] and model[2].weight is shared.weight


def test_rendering_text_and_html():
    summary = summarize(lenet5(), (1, 32, 32))
    text = str(summary)
    assert "61,706" in text and "Conv2d" in text and "6×28×28" in text
    html = summary._repr_html_()
    assert html.count("<tr") == len(summary.rows) + 2  # header, rows, total
    assert "61,706" in html
    assert "background" in summary_html(summary, highlight=["0"])


def test_grouped_convs_batch_norm_and_shared_modules():
    shared = nn.Conv2d(8, 8, 3, padding=1, groups=2)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), shared, shared)
    summary = summarize(model, (3, 16, 16), batch_size=4)
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert summary.rows[-1].params == 0, "a module called twice counts its parameters once"
    assert summary.rows[2].config.endswith("g2")
    # batch of 4: MACs scale with the batch
    assert summary.total_macs == 4 * (16 * 16 * 8 * 3 * 9 + 2 * 16 * 16 * 8 * 4 * 9)


def test_functional_ops_in_forward_are_still_counted():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(10, 48))

        def forward(self, x):
            return x.flatten(1) @ self.weight.t()

    summary = summarize(Functional(), (3, 4, 4))
    assert summary.total_macs == 48 * 10
    assert summary.total_params == 480
    # a module without children is a leaf: its row holds what its forward does
    assert [(r.kind, r.params, r.macs) for r in summary.rows] == [("Functional", 480, 480)]


def test_matmuls_in_a_parent_and_parameters_outside_leaves_get_rows_of_their_own():
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Conv2d(3, 4, 1)
            self.scale = nn.Parameter(torch.ones(10, 64))

        def forward(self, x):
            return self.body(x).flatten(1) @ self.scale.t()

    summary = summarize(Head(), (3, 4, 4))
    assert summary.total_macs == 16 * 4 * 3 + 64 * 10
    assert summary.total_params == 16 + 640
    assert [r.name for r in summary.rows] == ["body", "(functional ops)", "(other parameters)"]


@pytest.mark.parametrize(
    ("input_shape", "words"),
    [
        ((1, 16, 16), ["layer '6' (Conv2d 16→120", "its 5×5 kernel is larger than its 1×1 input", "Hint:"]),
        ((3, 32, 32), ["layer '0'", "takes 1 input channel, but its input has 3 (3×32×32)", "in_channels"]),
    ],
)
def test_a_model_that_cannot_take_its_input_gets_a_sentence(input_shape, words):
    with pytest.raises(ConfigError) as error:
        summarize(lenet5(), input_shape)
    assert all(w in str(error.value) for w in words), str(error.value)


def test_wrong_linear_size_names_the_layer_and_the_fix():
    model = nn.Sequential(nn.Conv2d(3, 6, 5), nn.Flatten(), nn.Linear(100, 10))
    with pytest.raises(ConfigError) as error:
        summarize(model, (3, 32, 32))
    assert str(error.value) == (
        "layer '2' (Linear 100→10) takes 100 input features, but its input has 4,704 (6×28×28). "
        "Hint: in_features must equal channels × height × width of what comes in."
    )


@pytest.mark.parametrize("bad", [(3, 0, 32), "32x32", (3, 32, 32, 1, 1), None, (3.5, 32, 32)])
def test_bad_input_shapes_are_refused_clearly(bad):
    with pytest.raises(ConfigError, match="input_shape should be"):
        summarize(lenet5(), bad)


def test_non_modules_are_refused_clearly():
    with pytest.raises(ConfigError, match="needs a torch nn.Module; got function"):
        summarize(lenet5, (1, 32, 32))


def alexnet(inplace: bool, lrn: bool = True, dropout: bool = True):
    """AlexNet (one tower, as in notebook 02), with in-place ReLUs or not."""

    def relu():
        return nn.ReLU(inplace=inplace)

    norm = (lambda: nn.LocalResponseNorm(5)) if lrn else nn.Identity
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), relu(), norm(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2), relu(), norm(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), relu(),
        nn.Conv2d(384, 384, 3, padding=1), relu(),
        nn.Conv2d(384, 256, 3, padding=1), relu(), nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Dropout(0.5) if dropout else nn.Identity(), nn.Linear(256 * 6 * 6, 4096), relu(),
        nn.Dropout(0.5) if dropout else nn.Identity(), nn.Linear(4096, 4096), relu(),
        nn.Linear(4096, 1000),
    )  # fmt: skip


@pytest.mark.parametrize("lrn, dropout", [(True, True), (False, False)])
def test_activation_memory_does_not_depend_on_inplace_relus(lrn, dropout):
    """Issue 9 item 11: two equally correct students quoted 437 MiB and 758 MiB for one batch of 128."""
    with torch.device("meta"):
        in_place, fresh = alexnet(True, lrn, dropout), alexnet(False, lrn, dropout)
    a, b = summarize(in_place, (3, 227, 227), batch_size=128), summarize(fresh, (3, 227, 227), batch_size=128)
    assert a.activation_bytes == b.activation_bytes
    assert [r.activation_bytes for r in a.rows] == [r.activation_bytes for r in b.rows]
    # the convention: conv, norm, pool and FC outputs count; ReLU, dropout, identity and flatten do not
    counted = {"Conv2d", "LocalResponseNorm", "MaxPool2d", "Linear"}
    assert all((r.activation_bytes > 0) == (r.kind in counted) for r in b.rows), [
        (r.kind, r.activation_bytes) for r in b.rows
    ]
    by_hand = sum(math.prod(r.output_shape) for r in b.rows if r.kind in counted) * 128 * 4
    assert b.activation_bytes == by_hand
    conv1 = 96 * 55 * 55 + (96 * 55 * 55 if lrn else 0) + 96 * 27 * 27  # CONV1, its LRN, POOL1
    assert sum(r.activation_bytes for r in b.rows[:4]) == conv1 * 128 * 4


def test_the_table_says_how_memory_is_counted():
    summary = summarize(lenet5(), (1, 32, 32))
    assert MEMORY_CONVENTION in str(summary) and html.escape(MEMORY_CONVENTION) in summary._repr_html_()
    assert "ReLU" in MEMORY_CONVENTION and "in place or not" in MEMORY_CONVENTION
    tanh_rows = [r for r in summary.rows if r.kind == "Tanh"]
    assert tanh_rows and all(r.activation_bytes == 0 for r in tanh_rows)  # not in place, still not counted


def test_meta_fast_path_for_batch_norm_and_relu_changes_nothing_it_reports(monkeypatch):
    # summarize skips the meta kernels of batch norm and ReLU (they only keep the shape): same rows as the real ops
    from cnnlab.summary.macs import MacCounter

    block = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.Conv2d(8, 8, 3, stride=2, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
    )  # fmt: skip
    taken = []
    shortcuts = {op: _noting(taken, op, shortcut) for op, shortcut in MacCounter.SHAPE_ONLY.items()}
    monkeypatch.setattr(MacCounter, "SHAPE_ONLY", shortcuts)
    fast = summarize(block, (3, 17, 17))
    assert sorted(map(str, set(taken))) == sorted(map(str, MacCounter.SHAPE_ONLY))  # each shortcut was taken
    monkeypatch.setattr(MacCounter, "SHAPE_ONLY", {})
    slow = summarize(block, (3, 17, 17))
    assert fast == slow
    assert not any(op.overloadpacket in MacCounter._FORMULAS for op in shortcuts)  # no op it skips holds MACs


def _noting(taken: list, op, shortcut):
    def noted(*args, **kwargs):
        result = shortcut(*args, **kwargs)
        if result is not None:
            taken.append(op)
        return result

    return noted


def test_a_batch_norm_of_the_wrong_size_is_still_refused():
    broken = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(16), nn.ReLU())
    with pytest.raises(ConfigError):
        summarize(broken, (3, 9, 9))


def test_a_failure_in_forward_code_names_the_last_layer_that_ran_without_torch_text():
    class HardCoded(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.MaxPool2d(2))
            self.fc = nn.Linear(8 * 15 * 15, 10)

        def forward(self, x):
            return self.fc(self.features(x).view(-1, 8 * 15 * 15))

    assert summarize(HardCoded(), (3, 32, 32)).total_params > 0
    with pytest.raises(ConfigError) as error:
        summarize(HardCoded(), (3, 40, 40))
    assert str(error.value).startswith(
        "HardCoded failed in its own forward code, after layer 'features.1' (output 8×19×19), on a 3×40×40 "
        "input (RuntimeError). Hint: print x.shape after each step of forward()"
    )
    assert "invalid for input of size" not in str(error.value)  # torch's own words stay out


# --- repeated blocks are replayed, not run again: the same numbers, faster ----------------------------------------
@contextlib.contextmanager
def _counting_replays():
    """Counts the blocks summarize replays; ``replays.off = True`` turns replaying off for the next summaries."""
    from cnnlab.summary.replay import BlockReplay as replay_class

    install, replay = replay_class.install, replay_class._replay
    state = contextlib.ExitStack()
    state.replays, state.off = 0, False

    def counted(self, *args):
        state.replays += 1
        return replay(self, *args)

    def maybe_install(self):
        if not state.off:
            install(self)

    replay_class.install, replay_class._replay = maybe_install, counted
    try:
        yield state
    finally:
        replay_class.install, replay_class._replay = install, replay


def _with_and_without_replay(model, input_shape):
    with _counting_replays() as replays:
        fast = summarize(model, input_shape)
        replayed = replays.replays
        replays.off = True
        slow = summarize(model, input_shape)
    return fast, slow, replayed


def _beyond_nets():
    """DenseNet-121 and SqueezeNet 1.1 from notebook 08's solution (07's reference nets stop at ResNet)."""
    from course import solution_code

    cells = solution_code(
        "08_beyond/beyond.ipynb",
        "dense_layer_class",
        "dense_block_class",
        "transition_class",
        "densenet_class",
        "fire_class",
        "squeezenet_configs",
        "squeezenet_class",
    )
    return {"densenet121": lambda: cells["DenseNet"](), "squeezenet1_1": lambda: cells["SqueezeNet"]("1.1")}


@pytest.mark.parametrize(
    "name, replayed",
    [
        ("resnet101", 25),
        ("resnet18", 1),
        ("densenet121", 54),  # notebook 08's DenseNet: a dense layer's parts repeat across blocks
        ("googlenet", 7),
        ("squeezenet1_1", 8),  # notebook 08's fire modules: expands of one width met twice
        ("vgg16", 0),
    ],
)
def test_replaying_repeated_blocks_changes_no_number(name, replayed):
    from torch.utils.flop_counter import FlopCounterMode

    builders = _beyond_nets() if name in ("densenet121", "squeezenet1_1") else vars(course.reference_nets())
    with torch.device("meta"):
        model = builders[name]()
    fast, slow, count = _with_and_without_replay(model, (3, 224, 224))
    assert (
        count == replayed
    )  # ResNet-101: 33 bottlenecks, 8 of them run (the first of a stage, its first twin)
    assert fast == slow
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.empty(1, 3, 224, 224, device="meta"))
    assert fast.total_macs == counter.get_total_flops() // 2  # torch's own counter agrees with the light one


def test_twins_that_differ_in_a_plain_attribute_are_not_confused():
    class ConvThenPool(nn.Module):
        def __init__(self, pool_stride):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)
            self.pool_stride = (
                pool_stride  # read in forward, held by no module: part of the block's signature
            )

        def forward(self, x):
            return nn.functional.max_pool2d(self.conv(x), self.pool_stride)

    model = nn.Sequential(ConvThenPool(1), ConvThenPool(1), ConvThenPool(2), ConvThenPool(1), ConvThenPool(2))
    fast, slow, replayed = _with_and_without_replay(model, (8, 16, 16))
    assert fast == slow and replayed == 1  # block 1 is block 0's twin; 3 and 4 get 8×8 maps, a new shape
    assert fast.output_shape == (8, 4, 4)
    assert [r.name for r in fast.rows] == ["0.conv", "1.conv", "2.conv", "3.conv", "4.conv"]


def test_a_module_shared_by_twin_blocks_counts_its_parameters_once():
    shared = nn.Conv2d(8, 8, 3, padding=1)

    class Residual(nn.Module):
        def __init__(self, conv):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return x + self.conv(x)

    model = nn.Sequential(Residual(shared), Residual(shared), Residual(nn.Conv2d(8, 8, 3, padding=1)))
    fast, slow, _ = _with_and_without_replay(model, (8, 10, 10))
    assert fast == slow
    assert fast.total_params == 2 * (8 * 8 * 9 + 8)
    assert sum(r.params for r in fast.rows) == fast.total_params


def test_a_failure_after_replayed_blocks_names_the_layer_it_would_without_them():
    block = lambda: nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())  # noqa: E731
    model = nn.Sequential(block(), block(), block(), nn.Flatten(), nn.Linear(100, 10))
    messages = []
    with _counting_replays() as replays:
        for off in (False, True):
            replays.off = off
            with pytest.raises(ConfigError) as error:
                summarize(model, (4, 6, 6))
            messages.append(str(error.value))
    assert replays.replays == 2 and messages[0] == messages[1]
    assert "'4'" in messages[0] and "144" in messages[0]  # the Linear, and what came instead
