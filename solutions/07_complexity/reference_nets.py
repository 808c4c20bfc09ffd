"""The ImageNet networks that notebook 07 compares, in plain torch: ResNet in notebook 06's own classes, the others
written like torchvision's models.

Given to you, read-only: you built AlexNet, VGG, GoogLeNet and ResNet in notebooks 02 and 04-06, and notebook 07
compares them. (SqueezeNet and DenseNet are not here: you build them yourself in notebook 08, which compares them
with these.) The ResNet part is notebook 06's code (``BasicBlock``, ``Bottleneck``, ``ResNet``, ``RESNET_STAGES``
and ``resnet(depth)``, with the same arguments and attributes), so it reads as you wrote it there. At grading time
this file is replaced by the course's own copy, so changing it changes nothing. Each builder gives torchvision's
variant of the network (the same layers, so the same parameter count and MACs as the model torchvision ships), with
default PyTorch initialisation: the weights are random, which changes nothing about size or speed.

    from reference_nets import NETWORKS, PUBLISHED_TOP1, TOP1_SOURCE
    model = NETWORKS["ResNet-50"]()

The published accuracies are facts about trained weights that this course does not ship: they are quoted, with
their source, not measured here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "NETWORKS",
    "PUBLISHED_TOP1",
    "TOP1_SOURCE",
    "LATENCY_STUDY",
    "LatencyStudy",
    "PAPER_ALEXNET_WIDTHS",
    "paper_alexnet",
    "alexnet",
    "vgg16",
    "vgg19",
    "googlenet",
    "resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]


# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatencyStudy:
    """What notebook 07's latency study times on one type of device, the one place that sets it.

    The study runs in rounds; each round times every (network, batch size) pair once, so every pair the notebook
    charts is measured in every round, and the rounds' spread shows how much the machine moved while they ran. It
    runs at least ``min_rounds`` rounds, and more, up to ``max_rounds``, while one more round (as long as the
    longest so far) fits in ``budget_s`` seconds.
    """

    networks: tuple[str, ...]  # names in NETWORKS
    image_side: int  # the input is 3 × side × side
    batch_sizes: tuple[int, ...]
    min_rounds: int
    max_rounds: int
    budget_s: float
    why: str  # what the settings trade away, for the notebook to print


# A device type missing here uses the "cpu" entry. On a CPU the paper-sized study (nine nets at 224×224, batches
# of 1, 16 and 64) takes tens of minutes; five nets, one per design (and ResNet at two depths), at 64×64 with
# batches of 1, 4 and 16 take about a fortieth of its work, so a 2-core laptop times every pair in every round.
# 64 is the smallest side that AlexNet's stride-4 stem and three pools take.
LATENCY_STUDY = {
    "cpu": LatencyStudy(
        networks=("AlexNet", "VGG-16", "GoogLeNet", "ResNet-18", "ResNet-50"),
        image_side=64,
        batch_sizes=(1, 4, 16),
        min_rounds=3,
        max_rounds=7,
        budget_s=40.0,
        why="a CPU cannot afford the full study in a notebook: five of the nine nets, on 64×64 images",
    ),
    "cuda": LatencyStudy(
        networks=(
            "AlexNet",
            "VGG-16",
            "VGG-19",
            "GoogLeNet",
            "ResNet-18",
            "ResNet-34",
            "ResNet-50",
            "ResNet-101",
            "ResNet-152",
        ),
        image_side=224,
        batch_sizes=(1, 16, 64),
        min_rounds=3,
        max_rounds=7,
        budget_s=60.0,
        why="a GPU affords the paper's study: every net on 224×224 images",
    ),
}

# ImageNet-1k top-1 accuracy (%) of torchvision's pretrained weights, single 224×224 centre crop.
TOP1_SOURCE = (
    "torchvision model documentation (pytorch.org/vision/stable/models.html), the IMAGENET1K_V1 weights "
    "of each model"
)
PUBLISHED_TOP1 = {
    "AlexNet": 56.522,
    "VGG-16": 71.592,
    "VGG-19": 72.376,
    "GoogLeNet": 69.778,
    "ResNet-18": 69.758,
    "ResNet-34": 73.314,
    "ResNet-50": 76.130,
    "ResNet-101": 77.374,
    "ResNet-152": 78.312,
}


# --- AlexNet ----------------------------------------------------------------------------------------------
# The paper's filters (Krizhevsky et al. 2012), one tower, as notebook 02 builds them first; torchvision's variant
# (Krizhevsky 2014, "one weird trick") is the AlexNet that NETWORKS compares and that its published accuracy is for.
PAPER_ALEXNET_WIDTHS = (96, 256, 384, 384, 256)
TORCHVISION_ALEXNET_WIDTHS = (64, 192, 384, 256, 256)


class AlexNet(nn.Module):
    """torchvision's AlexNet by default: one tower, 64-192-384-256-256 filters (the 'one weird trick' variant).
    ``paper_alexnet()`` builds the 2012 paper's filters with this class, for comparing the two."""

    def __init__(
        self,
        num_classes: int = 1000,
        dropout: float = 0.5,
        widths: Sequence[int] = TORCHVISION_ALEXNET_WIDTHS,
        conv1_padding: int = 2,
        lrn: bool = False,
    ):
        super().__init__()
        c1, c2, c3, c4, c5 = widths

        def normalised() -> list[nn.Module]:
            """The paper's local response normalisation (after the first two pools, as notebook 02 builds it)."""
            return [nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)] if lrn else []

        self.features = nn.Sequential(
            nn.Conv2d(3, c1, kernel_size=11, stride=4, padding=conv1_padding),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            *normalised(),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            *normalised(),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(c5 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- VGG --------------------------------------------------------------------------------------------------
VGG_STAGES = {  # filters of each 3×3 convolution, stage by stage; a 2×2 max-pool ends each stage
    "VGG-16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "VGG-19": [[64, 64], [128, 128], [256] * 4, [512] * 4, [512] * 4],
}


def vgg_features(stages: Sequence[Sequence[int]]) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for stage in stages:
        for filters in stage:
            layers += [nn.Conv2d(channels, filters, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = filters
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, stages: Sequence[Sequence[int]], num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = vgg_features(stages)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --- GoogLeNet --------------------------------------------------------------------------------------------
class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm, ReLU: GoogLeNet's unit, as torchvision trains it."""

    def __init__(self, in_channels: int, out_channels: int, **conv):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four branches side by side, concatenated along the channels: 1×1; 1×1→3×3; 1×1→3×3 (torchvision's
    stand-in for the paper's 5×5); 3×3 max-pool→1×1."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """torchvision's GoogLeNet (batch norm, no auxiliary classifiers): the paper's table 1, row by row."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for block in (
            self.inception4a,
            self.inception4b,
            self.inception4c,
            self.inception4d,
            self.inception4e,
        ):
            x = block(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


# --- ResNet -----------------------------------------------------------------------------------------------
# Notebook 06's classes, as its solution writes them: the same names, arguments and attributes. Their counts are
# torchvision's (the bottleneck's stride on its 3×3 conv, torchvision's 'V1.5'). What both blocks do alike, the
# shortcut and the sum that ends them, is written once, in the two functions first.
def residual_shortcut(in_channels, out_channels, stride, residual):
    """What a block adds to its branch: None for a plain block, the input itself where the shape holds, and a
    strided 1×1 conv with batch norm (a projection) where it changes. Both blocks below use it."""
    if not residual:
        return None
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


def with_shortcut(block, x, branch):
    """A block's output: its branch plus its shortcut of the input ``x`` (a plain block adds nothing), then the
    last ReLU."""
    if block.shortcut is not None:
        branch = branch + block.shortcut(x)
    return block.relu(branch)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers; the input, projected if its shape changes, is added before the last ReLU."""

    expansion = 1  # the block's output has channels * expansion channels

    def __init__(self, in_channels, channels, stride=1, residual=True):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = residual_shortcut(in_channels, out_channels, stride, residual)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return with_shortcut(self, x, self.bn2(self.conv2(out)))


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3, 1×1 expand (each with batch norm); the input, projected if needed, is added before the last ReLU."""

    expansion = 4  # the block's output has channels * expansion channels

    def __init__(self, in_channels, channels, stride=1, residual=True):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = residual_shortcut(in_channels, out_channels, stride, residual)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return with_shortcut(self, x, self.bn3(self.conv3(out)))


class ResNet(nn.Module):
    """A stem, stages of residual blocks, global average pooling and a fully connected layer."""

    def __init__(
        self,
        block,
        stages,
        width=64,
        num_classes=1000,
        stem_kernel=7,
        stem_stride=2,
        stem_pool=True,
        residual=True,
    ):
        super().__init__()
        stem = [
            nn.Conv2d(3, width, stem_kernel, stride=stem_stride, padding=stem_kernel // 2, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        if stem_pool:
            stem.append(nn.MaxPool2d(3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        blocks, in_channels = [], width
        for stage, count in enumerate(stages):
            channels = width * 2**stage
            for position in range(count):
                stride = 2 if stage > 0 and position == 0 else 1
                blocks.append(block(in_channels, channels, stride, residual))
                in_channels = channels * block.expansion
        self.stages = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes))

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


# RESNET_STAGES = {depth: (block class, blocks per stage), ...}
RESNET_STAGES = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def resnet(depth, num_classes=1000):
    """ResNet-``depth`` for ImageNet, from RESNET_STAGES."""
    block, stages = RESNET_STAGES[depth]
    return ResNet(block, stages, num_classes=num_classes)


# --- the builders, by name --------------------------------------------------------------------------------
def alexnet() -> AlexNet:
    return AlexNet()


def paper_alexnet() -> AlexNet:
    """The 2012 paper's AlexNet in one tower, for 227×227 inputs (notebook 02's ``AlexNet()``); not in NETWORKS:
    torchvision publishes no weights for it, so the table quotes no accuracy for it."""
    return AlexNet(widths=PAPER_ALEXNET_WIDTHS, conv1_padding=0, lrn=True)


def vgg16() -> VGG:
    return VGG(VGG_STAGES["VGG-16"])


def vgg19() -> VGG:
    return VGG(VGG_STAGES["VGG-19"])


def googlenet() -> GoogLeNet:
    return GoogLeNet()


def resnet18() -> ResNet:
    return resnet(18)


def resnet34() -> ResNet:
    return resnet(34)


def resnet50() -> ResNet:
    return resnet(50)


def resnet101() -> ResNet:
    return resnet(101)


def resnet152() -> ResNet:
    return resnet(152)


NETWORKS: dict[str, Callable[[], nn.Module]] = {
    "AlexNet": alexnet,
    "VGG-16": vgg16,
    "VGG-19": vgg19,
    "GoogLeNet": googlenet,
    "ResNet-18": resnet18,
    "ResNet-34": resnet34,
    "ResNet-50": resnet50,
    "ResNet-101": resnet101,
    "ResNet-152": resnet152,
}
