"""Notebook 04's answers written in another style than the solution's, each as correct: they must get full marks.

Each ``# %% <grade id>`` line starts the answer to that solution cell; the cells it does not name keep the
solution's answer. The style: the receptive field summed over a list of jumps, conv3x3 as a Sequential of named
layers with a ReLU that is not in place, a stage appended to in a loop, the class's widths from a formula and its
stages called with keyword arguments, its own refusal, the flatten in ``fc7_features``, and the family made in one
comprehension. tests/assignments/test_alternatives.py runs them.
"""
# ruff: noqa: F821, E402, B018 - the names come from earlier cells; each cell is one notebook cell


# %% receptive_field_function
def receptive_field_size(layers):
    """The side, in input pixels, of what one unit after ``layers`` sees; ``layers`` = [(kernel, stride), ...]."""
    jumps = [1]  # jumps[i]: the distance in input pixels between neighbouring units before layer i
    for _, stride in layers:
        jumps.append(jumps[-1] * stride)
    return 1 + sum((kernel - 1) * jump for (kernel, _), jump in zip(layers, jumps))


# %% stack_weights_function
def stack_weights(channels, kernel, depth):
    """Weights (no biases) of ``depth`` kernel×kernel convs, each with ``channels`` maps in and out."""
    weights_per_layer = kernel**2 * channels**2
    return weights_per_layer * depth


# %% conv3x3_function
from collections import OrderedDict


def conv3x3(in_channels, out_channels, batch_norm=False):
    """A 3×3 convolution at stride 1 with padding 1, optionally batch norm, then ReLU."""
    layers = OrderedDict(conv=nn.Conv2d(in_channels, out_channels, (3, 3), padding=(1, 1)))
    if batch_norm:
        layers["bn"] = nn.BatchNorm2d(num_features=out_channels)
    layers["relu"] = nn.ReLU()
    return nn.Sequential(layers)


# %% vgg_stage_function
def vgg_stage(in_channels, out_channels, num_convs, batch_norm=False):
    """``num_convs`` 3×3 convolutions with ``out_channels`` filters each, then a 2×2 max pool at stride 2."""
    stage = nn.Sequential()
    for index in range(num_convs):
        reads = in_channels if index == 0 else out_channels
        stage.append(conv3x3(reads, out_channels, batch_norm=batch_norm))
    stage.append(nn.MaxPool2d(2))
    return stage


# %% vgg_class
class VGG(nn.Module):
    """VGG: five stages of 3×3 convolutions, each ending in a 2×2 max pool, then FC6-8."""

    def __init__(
        self,
        convs_per_stage=VGG_CONVS_PER_STAGE["VGG-16"],
        base_width=64,
        batch_norm=False,
        num_classes=1000,
        input_size=224,
        fc_units=4096,
        dropout=0.5,
    ):
        super().__init__()
        widths = [base_width * 2 ** min(stage, 3) for stage in range(5)]  # 64, 128, 256, 512, 512
        size = input_size
        for stage in range(1, 6):
            if size < 2:
                raise ConfigError(
                    f"POOL{stage} cannot work on a {size}×{size} map: a 2×2 window needs 2×2 values"
                )
            size //= 2
        self.features = nn.Sequential(
            *(
                vgg_stage(in_channels=reads, out_channels=width, num_convs=convs, batch_norm=batch_norm)
                for reads, width, convs in zip([3, *widths[:-1]], widths, convs_per_stage)
            )
        )
        self.classifier = nn.Sequential(
            nn.Linear(widths[-1] * size**2, fc_units),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(fc_units, fc_units),
            nn.ReLU(),
            nn.Dropout(p=dropout),
        )
        self.fc8 = nn.Linear(fc_units, num_classes)

    def fc7_features(self, x):
        """What FC7 gives, after its ReLU: the features a linear probe reads."""
        return self.classifier(self.features(x).flatten(1))

    def forward(self, x):
        return self.fc8(self.fc7_features(x))


# %% vgg_family
with torch.device("meta"):
    vgg_family = {
        name + suffix: VGG(convs, batch_norm=suffix == "-BN")
        for name, convs in VGG_CONVS_PER_STAGE.items()
        for suffix in ("", "-BN")
    }
