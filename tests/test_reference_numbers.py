"""The lecture's and torchvision's numbers, recomputed from the reference solutions' own classes.

The notebooks' graded cells check these too (tests/test_notebooks.py runs them through nbgrader); this
file pins them in seconds, without a kernel, and adds the numbers the notebooks only print.
"""

import pytest
from course import solution_code

from cnnlab import summarize

ZFNET = dict(
    conv1_kernel=7, conv1_stride=2, conv2_stride=2, conv3_filters=512, conv4_filters=1024, conv5_filters=512
)


@pytest.fixture(scope="module")
def alexnet():
    return solution_code("02_alexnet/alexnet.ipynb", "alexnet_class")["AlexNet"]


@pytest.fixture(scope="module")
def family():
    return solution_code("03_zfnet/zfnet.ipynb", "family_class")["AlexNetFamily"]


def test_alexnet_layer_by_layer(alexnet):
    summary = summarize(alexnet(), (3, 227, 227))
    conv1 = summary.rows[0]
    assert conv1.output_shape == (96, 55, 55)
    assert conv1.params == 34_944 == 11 * 11 * 3 * 96 + 96
    assert summary.rows[2].output_shape == (96, 27, 27) and summary.rows[2].params == 0  # POOL1
    assert summary.row("features.14").output_shape == (256, 6, 6)  # POOL3
    assert summary.total_params == 62_378_344


def test_the_two_gpu_split_and_why_it_is_smaller(alexnet):
    assert summarize(alexnet(groups=2), (3, 227, 227)).total_params == 60_965_224
    # each grouped filter reads half of its input maps: CONV2, CONV4 and CONV5 lose half their weights
    halved = (5 * 5 * 96 * 256 + 3 * 3 * 384 * 384 + 3 * 3 * 384 * 256) // 2
    assert 62_378_344 - 60_965_224 == halved == 1_413_120


def test_the_torchvision_variant(alexnet):
    model = alexnet(
        widths=(64, 192, 384, 256, 256), conv1=(11, 4, 2), input_size=224, lrn=False, adaptive_pool=True
    )
    summary = summarize(model, (3, 224, 224))
    assert summary.total_params == 61_100_840
    assert summary.total_macs == 714_188_480  # torchvision's model card: 0.71 GFLOPS (as MACs)


def test_the_fully_connected_layers_hold_most_parameters(alexnet):
    summary = summarize(alexnet(), (3, 227, 227))
    fc = sum(row.params for row in summary.rows if row.kind == "Linear")
    assert fc == 37_752_832 + 16_781_312 + 4_097_000 and fc / summary.total_params > 0.93


def test_zfnet_and_the_slides_two_changes(family):
    assert summarize(family(), (3, 227, 227)).total_params == 62_378_344  # AlexNet's defaults
    zfnet = summarize(family(**ZFNET), (3, 227, 227))
    assert zfnet.total_params == 107_627_624
    assert zfnet.row("features.14").output_shape == (512, 6, 6)
    slide_only = summarize(family(**{k: v for k, v in ZFNET.items() if k != "conv2_stride"}), (3, 227, 227))
    assert slide_only.row("features.14").output_shape == (512, 13, 13)
    assert slide_only.total_params == 386_548_840  # FC6 alone: 4096 × (512·13·13 + 1) = 354,422,784


def test_the_minis_are_the_same_network_in_both_notebooks(alexnet, family):
    mini_02 = dict(widths=(24, 64, 96, 96, 64), fc_units=256, conv1=(5, 2, 2), input_size=32, num_classes=10)
    mini_03 = dict(
        conv1_kernel=5, conv1_stride=2, conv1_padding=2, conv1_filters=24, conv2_filters=64, conv3_filters=96,
        conv4_filters=96, conv5_filters=64, fc_units=256, num_classes=10, input_size=32,
    )  # fmt: skip
    shapes = [
        [tuple(p.shape) for p in model.parameters()] for model in (alexnet(**mini_02), family(**mini_03))
    ]
    assert shapes[0] == shapes[1]


# --- notebook 05: the Inception module and torchvision's GoogLeNet ---------------------------------------
SLIDE_MODULE = dict(ch1x1=128, ch3x3_reduce=64, ch3x3=192, ch5x5_reduce=64, ch5x5=96, pool_proj=64)


@pytest.fixture(scope="module")
def googlenet_classes():
    return solution_code(
        "05_googlenet/googlenet.ipynb",
        "naive_module",
        "conv_bn",
        "inception_module",
        "inception_aux",
        "googlenet_class",
    )


def test_the_naive_inception_module(googlenet_classes):
    summary = summarize(googlenet_classes["NaiveInception"](256, 128, 192, 96), (256, 28, 28))
    assert summary.output_shape == (672, 28, 28)
    assert (
        summary.total_macs == 854_196_224 == 28 * 28 * 256 * (128 + 192 * 9 + 96 * 25)
    )  # the slide's 854M ops


def test_the_bottleneck_module_and_the_slides_total(googlenet_classes):
    summary = summarize(googlenet_classes["Inception"](256, **SLIDE_MODULE), (256, 28, 28))
    assert summary.output_shape == (480, 28, 28)
    six_terms = [28 * 28 * 64 * 256, 28 * 28 * 64 * 256, 28 * 28 * 128 * 256, 28 * 28 * 192 * 9 * 64,
                 28 * 28 * 96 * 25 * 64, 28 * 28 * 64 * 256]  # fmt: skip
    assert summary.total_macs == sum(six_terms) == 271_351_808
    # the slide says 358M: its six terms with the 3×3 term counted twice
    assert round((sum(six_terms) + six_terms[3]) / 1e6) == 358


def test_torchvisions_googlenet(googlenet_classes):
    googlenet = googlenet_classes["GoogLeNet"]
    without_aux = summarize(googlenet(aux_logits=False), (3, 224, 224))
    assert without_aux.total_params == 6_624_904
    assert without_aux.total_macs == 1_498_376_192  # torchvision's model card: 1.5 GFLOPS (as MACs)
    assert (
        summarize(googlenet().train(), (3, 224, 224)).total_params == 13_004_888
    )  # with both auxiliary heads
    assert without_aux.output_shape == (1000,)


def test_googlenet_against_alexnet(alexnet, googlenet_classes):
    alexnet_params = summarize(alexnet(), (3, 227, 227)).total_params
    assert round(alexnet_params / 6_624_904, 1) == 9.4  # not the slide's 12×
    # the paper's true 5×5 filters in the nine modules' third branch
    five_by_five = [
        (16, 32),
        (32, 96),
        (16, 48),
        (24, 64),
        (24, 64),
        (32, 64),
        (32, 128),
        (32, 128),
        (48, 128),
    ]
    paper = 6_624_904 + sum(reduce * filters * 16 for reduce, filters in five_by_five)
    assert paper == 7_005_832 and round(alexnet_params / paper, 1) == 8.9


# Notebook 06: torchvision's ResNets (v1.5: the bottleneck's stride on its 3×3 conv), exact at 224×224.
RESNETS = {
    18: (11_689_512, 1_814_073_344),
    34: (21_797_672, 3_663_761_408),
    50: (25_557_032, 4_089_184_256),
    101: (44_549_160, 7_801_405_440),
    152: (60_192_808, 11_513_626_624),
}


@pytest.fixture(scope="module")
def resnet():
    return solution_code("06_resnet/resnet.ipynb", "basic_block", "bottleneck_block", "resnet_builder")[
        "resnet"
    ]


@pytest.mark.parametrize("depth", RESNETS)
def test_resnet_counts_from_one_builder(resnet, depth):
    params, macs = RESNETS[depth]
    summary = summarize(resnet(depth), (3, 224, 224))
    assert (summary.total_params, summary.total_macs) == (params, macs)
    assert round(macs / 1e9, 3) == {18: 1.814, 34: 3.664, 50: 4.089, 101: 7.801, 152: 11.514}[depth]
    assert summary.output_shape == (1000,)
