"""Notebook 06's answers written in another style than the solution's, each as correct: they must get full marks.

Each ``# %% <grade id>`` line starts the answer to that solution cell; the cells it does not name keep the
solution's answer. The style: torchvision's layout for the basic block (named layers, a ``downsample`` that is None
for the identity, functional ReLUs, ``out += identity``), the bottleneck's branch as one ``nn.Sequential`` with its
shortcut as a lambda (``lambda x: x``, or ``lambda x: 0`` for a plain block), and the network with a named stem,
its stages in an ``nn.ModuleList`` of ``nn.Sequential``, the pool and the flatten in ``forward``, and the table of
ResNets filled in a loop. The layers are made in the solution's order, so the graded run's ResNet-mini draws the
solution's weights. tests/assignments/test_alternatives.py runs them.
"""
# ruff: noqa: F821, E402, B018 - the names come from earlier cells; each cell is one notebook cell

# %% basic_block
import torch.nn.functional as F


class BasicBlock(nn.Module):
    """torchvision's basic block: conv1/bn1, conv2/bn2, and a downsample only where the shape changes."""

    expansion = 1

    def __init__(self, in_channels, channels, stride=1, residual=True):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels * self.expansion, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels * self.expansion)
        self.downsample = None
        if residual and (stride != 1 or in_channels != channels * self.expansion):
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels * self.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(channels * self.expansion),
            )

    def forward(self, x):
        identity = x
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        if self.residual:
            out += identity
        return F.relu(out)


# %% bottleneck_block
class Bottleneck(nn.Module):
    """The residual branch as one Sequential; the shortcut a lambda, or a projection where the shape changes."""

    expansion = 4

    def __init__(self, in_channels, channels, stride=1, residual=True):
        super().__init__()
        out_channels = self.expansion * channels
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, out_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        if not residual:
            self.shortcut = lambda x: 0
        elif stride == 1 and in_channels == out_channels:
            self.shortcut = lambda x: x
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.branch(x) + self.shortcut(x))


# %% resnet_builder
class ResNet(nn.Module):
    """torchvision's layout: conv1, bn1 and maxpool for the stem, a list of stages, avgpool and fc."""

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
        self.conv1 = nn.Conv2d(
            3, width, kernel_size=stem_kernel, stride=stem_stride, padding=stem_kernel // 2, bias=False
        )
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem_pool else nn.Identity()
        self.layers = nn.ModuleList()
        in_channels, planes = width, width
        for index, count in enumerate(stages):
            stage = []
            for position in range(count):
                first_of_a_later_stage = index > 0 and position == 0
                stage.append(
                    block(in_channels, planes, 2 if first_of_a_later_stage else 1, residual=residual)
                )
                in_channels = planes * block.expansion
            self.layers.append(nn.Sequential(*stage))
            planes *= 2
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        for stage in self.layers:
            x = stage(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


RESNET_STAGES = {}
for depth, block_class, blocks_per_stage in [
    (18, BasicBlock, [2, 2, 2, 2]),
    (34, BasicBlock, [3, 4, 6, 3]),
    (50, Bottleneck, [3, 4, 6, 3]),
    (101, Bottleneck, [3, 4, 23, 3]),
    (152, Bottleneck, [3, 8, 36, 3]),
]:
    RESNET_STAGES[depth] = (block_class, blocks_per_stage)


def resnet(depth, num_classes=1000):
    """ResNet-``depth`` for ImageNet, from RESNET_STAGES."""
    return ResNet(*RESNET_STAGES[depth], num_classes=num_classes)
