"""Notebook 05's answers written in another style than the solution's, each as correct: they must get full marks.

Each ``# %% <grade id>`` line starts the answer to that solution cell; the cells it does not name keep the
solution's answer. The style: the arithmetic through a small function; padding="same" and ReLUs that are not in
place in the naive module; the linear layer's weights set through ``.data``; functional ReLUs in ``ConvBN``; the
Inception module's convolutions through a helper that pads by kernel // 2, and its forward a comprehension over the
branches; the auxiliary head's classifier one ``nn.Sequential`` with its flatten; GoogLeNet's layers set from a
table in a loop (``setattr``) and run in a loop. The layers are made in the solution's order, so the graded run's
GoogLeNet-mini draws the solution's weights. tests/assignments/test_alternatives.py runs them.
"""
# ruff: noqa: F821, E402, B018 - the names come from earlier cells; each cell is one notebook cell


# %% naive_arithmetic
def conv_macs(size, filters, kernel, depth):
    """One multiply-accumulate per weight and per output position."""
    return size * size * filters * kernel * kernel * depth


naive_terms = {
    f"{k}×{k} conv, {filters}": conv_macs(28, filters, k, 256) for k, filters in [(1, 128), (3, 192), (5, 96)]
}
naive_depth = 256 + sum([128, 192, 96])
for name, macs in naive_terms.items():
    print(f"{name:>14}: {macs:>13,} MACs")
print(f"{'total':>14}: {sum(naive_terms.values()):>13,} MACs; output depth {naive_depth}")


# %% naive_module
class NaiveInception(nn.Module):
    """The naive Inception module: 1×1, 3×3 and 5×5 convs and a 3×3 max pool, side by side."""

    def __init__(self, in_channels, ch1x1, ch3x3, ch5x5):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, kernel_size=1), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(in_channels, ch3x3, kernel_size=3, padding="same"), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, ch5x5, kernel_size=5, padding="same"), nn.ReLU())
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)

    def forward(self, x):
        return torch.cat(
            [branch(x) for branch in (self.branch1, self.branch2, self.branch3, self.branch4)], 1
        )


# %% as_linear
def as_linear(conv):
    """The nn.Linear that computes what the 1×1 convolution ``conv`` computes at each pixel."""
    out_channels, in_channels = conv.weight.shape[:2]
    linear = nn.Linear(in_channels, out_channels, bias=conv.bias is not None)
    linear.weight.data = conv.weight.data.flatten(1).clone()
    if conv.bias is not None:
        linear.bias.data = conv.bias.data.clone()
    return linear


# %% conv_bn
import torch.nn.functional as F


class ConvBN(nn.Module):
    """Conv (no bias) → batch norm (eps 0.001) → ReLU: torchvision's BasicConv2d."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size=kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


# %% inception_module
def same_size(in_channels, out_channels, kernel_size):
    """A ConvBN that keeps the height and width (odd kernels)."""
    return ConvBN(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


class Inception(nn.Module):
    """The Inception module with 1×1 bottlenecks, as in torchvision (every conv a ConvBN)."""

    def __init__(
        self, in_channels, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj, ch5x5_kernel=5
    ):
        super().__init__()
        self.branch1 = same_size(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(
            same_size(in_channels, ch3x3_reduce, 1), same_size(ch3x3_reduce, ch3x3, 3)
        )
        self.branch3 = nn.Sequential(
            same_size(in_channels, ch5x5_reduce, 1), same_size(ch5x5_reduce, ch5x5, ch5x5_kernel)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1), same_size(in_channels, pool_proj, 1)
        )

    def forward(self, x):
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


# %% inception_aux
class InceptionAux(nn.Module):
    """An auxiliary classifier: avg pool → 1×1 ConvBN → flatten → FC → ReLU → dropout → FC."""

    def __init__(self, in_channels, num_classes, pool_size=4, conv_channels=128, fc_units=1024, dropout=0.7):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.conv = ConvBN(in_channels, conv_channels, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(conv_channels * pool_size**2, fc_units),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(fc_units, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.conv(self.pool(x)))


# %% googlenet_class
INCEPTIONS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}
# the layers of the main path, in the order forward runs them
MAIN_PATH = [
    "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3", "inception4a",
    "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4", "inception5a", "inception5b",
]  # fmt: skip


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1) as torchvision builds it: batch norm, and 3×3 convs in the "5×5" branches."""

    def __init__(self, num_classes=1000, aux_logits=True, dropout=0.2):
        super().__init__()
        self.conv1 = ConvBN(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = ConvBN(64, 64, kernel_size=1)
        self.conv3 = ConvBN(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        for name, widths in INCEPTIONS.items():
            setattr(self, name, Inception(*widths, ch5x5_kernel=3))
        self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.aux1, self.aux2 = None, None
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes)
            self.aux2 = InceptionAux(528, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        heads = {"inception4a": self.aux1, "inception4d": self.aux2}
        aux_outputs = []
        for name in MAIN_PATH:
            x = getattr(self, name)(x)
            if self.training and heads.get(name) is not None:
                aux_outputs.append(heads[name](x))
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return (logits, *aux_outputs) if aux_outputs else logits
