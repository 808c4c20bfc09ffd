"""Notebook 08's answers written in another style than the solution's, each as correct: they must get full marks.

Each ``# %% <grade id>`` line starts the answer to that solution cell; the cells it does not name keep the
solution's answer. The style: layers made in a loop, functional ReLUs (``F.relu``) and pools, in-place additions,
``torch.concat`` where the solution has ``torch.cat``, the group width computed first and the groups from it, the
ImageNet nets built from a table, stochastic depth drawn with ``torch.bernoulli``, the linear decay rule as a
``torch.linspace`` (float32), a dense block that keeps a list of its maps in an ``nn.ModuleDict``, DenseNet and
SqueezeNet as torchvision writes them (an ``OrderedDict`` of named parts, the pool and the flatten in ``forward``),
a fractal block whose paths sit in an ``nn.ModuleList``, and a ConvNeXt block with 1×1 convolutions on channels-first
maps. The bottleneck keeps the attribute names the notebook asks for (its checks read them) and makes its layers in
the solution's order, so the graded run's ResNeXt-mini draws the solution's weights.
tests/assignments/test_alternatives.py runs them.
"""
# ruff: noqa: F821, E402, B018 - the names come from earlier cells; each cell is one notebook cell


# %% mlpconv_function
def mlpconv(in_channels, out_channels, kernel_size, stride=1, padding=0):
    """NiN's mlpconv block, its three convolutions made in a loop."""
    layers = []
    for index, kernel in enumerate((kernel_size, 1, 1)):
        first = index == 0
        layers.append(
            nn.Conv2d(
                in_channels if first else out_channels,
                out_channels,
                kernel_size=kernel,
                stride=stride if first else 1,
                padding=padding if first else 0,
            )
        )
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# %% bottleneck_class
class Bottleneck(nn.Module):
    """ResNet's bottleneck, with the group width computed first and functional ReLUs."""

    expansion = 4

    def __init__(self, in_channels, channels, stride=1, groups=1, width_per_group=64):
        super().__init__()
        group_width = channels * width_per_group // 64  # each group's channels
        width = groups * group_width  # cardinality × the width of one path
        out_channels = self.expansion * channels
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(
            width, width, kernel_size=3, stride=stride, padding=1, groups=width // group_width, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = F.relu(self.bn2(self.conv2(out)), inplace=True)
        out = self.bn3(self.conv3(out))
        out += self.shortcut(x)
        return F.relu(out)


# %% wide_resnet_models
RESNET50_STAGES = [3, 4, 6, 3]
with torch.device("meta"):
    resnet50, wide_resnet50_2 = (
        ResNet(Bottleneck, RESNET50_STAGES, width_per_group=per_group) for per_group in (64, 2 * 64)
    )
for name, model in [("ResNet-50", resnet50), ("Wide ResNet-50-2", wide_resnet50_2)]:
    print(f"{name:>16}: {summarize(model, (3, 224, 224)).headline()}")

# %% resnext_model
CARDINALITY, PATH_WIDTH = 32, 4
with torch.device("meta"):
    resnext50_32x4d = ResNet(
        block=Bottleneck, stages=[3, 4, 6, 3], groups=CARDINALITY, width_per_group=PATH_WIDTH
    )
print(summarize(resnext50_32x4d, (3, 224, 224)).headline())


# %% stochastic_depth_class
class StochasticDepth(nn.Module):
    """x + f(x), with f dropped at random while training (kept with probability survival_prob); x + p·f(x) at test."""

    def __init__(self, branch, survival_prob):
        super().__init__()
        self.branch = branch
        self.survival_prob = survival_prob

    def forward(self, x):
        if self.training:
            survives = torch.bernoulli(torch.tensor(float(self.survival_prob)))  # one coin for the batch
            return x + self.branch(x) if survives.item() == 1 else x
        return x + self.branch(x) * self.survival_prob


# %% linear_decay_function
def linear_decay(num_blocks, last_survival=0.5):
    """The survival probabilities p_1 ... p_L of the paper's linear decay rule, down to last_survival."""
    return torch.linspace(1.0, last_survival, num_blocks + 1)[1:].tolist()


rule = linear_decay(54)  # ResNet-110 on CIFAR-10: 54 residual blocks
print(f"first block {rule[0]:.3f}, middle {rule[26]:.3f}, last {rule[-1]:.3f}")
print(f"expected blocks per training pass: {sum(rule):.2f} of {len(rule)}")


# %% dense_layer_class
class DenseLayer(nn.Module):
    """torchvision's dense layer: norm1, conv1, norm2, conv2, with functional ReLUs."""

    def __init__(self, in_channels, growth_rate, bottleneck_width=4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, bottleneck_width * growth_rate, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bottleneck_width * growth_rate)
        self.conv2 = nn.Conv2d(
            bottleneck_width * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False
        )

    def forward(self, x):
        bottleneck = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(bottleneck)))


# %% dense_block_class
class DenseBlock(nn.Module):
    """The layers in a ModuleDict; forward keeps a list of every map so far and concatenates it for each layer."""

    def __init__(self, num_layers, in_channels, growth_rate, bottleneck_width=4, layer=DenseLayer):
        super().__init__()
        self.layers = nn.ModuleDict()
        for index in range(num_layers):
            self.layers[f"denselayer{index + 1}"] = layer(
                in_channels + index * growth_rate, growth_rate, bottleneck_width=bottleneck_width
            )

    def forward(self, x):
        features = [x]
        for dense_layer in self.layers.values():
            features.append(dense_layer(torch.concat(features, dim=1)))
        return torch.concat(features, dim=1)


# %% transition_class
class Transition(nn.Module):
    """A batch norm and a 1×1 conv as modules; the ReLU and the average pool functional."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.norm(x))), kernel_size=2, stride=2)


# %% densenet_class
from collections import OrderedDict


class DenseNet(nn.Module):
    """torchvision's DenseNet: named parts in ``features``, then ReLU, pool and flatten in forward."""

    def __init__(
        self,
        growth_rate=32,
        block_sizes=(6, 12, 24, 16),
        stem_channels=64,
        bottleneck_width=4,
        num_classes=1000,
    ):
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                conv0=nn.Conv2d(3, stem_channels, kernel_size=7, stride=2, padding=3, bias=False),
                norm0=nn.BatchNorm2d(stem_channels),
                relu0=nn.ReLU(inplace=True),
                pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        )
        num_features = stem_channels
        for index, num_layers in enumerate(block_sizes, start=1):
            block = DenseBlock(num_layers, num_features, growth_rate, bottleneck_width=bottleneck_width)
            self.features.add_module(f"denseblock{index}", block)
            num_features = num_features + num_layers * growth_rate
            if index != len(block_sizes):
                self.features.add_module(f"transition{index}", Transition(num_features, num_features // 2))
                num_features = num_features // 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)

    def forward(self, x):
        out = F.relu(self.features(x))
        out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
        return self.classifier(out)


# %% fractal_block_class
class FractalBlock(nn.Module):
    """The paths in a ModuleList: the shallow conv first, then the deep path as a Sequential of two blocks."""

    def __init__(self, columns, in_channels, out_channels, drop_prob=0.15):
        super().__init__()
        self.columns = columns
        self.drop_prob = drop_prob
        self.paths = nn.ModuleList([conv_unit(in_channels, out_channels)])
        if columns > 1:
            deep = nn.Sequential(
                FractalBlock(columns - 1, in_channels, out_channels, drop_prob),
                FractalBlock(columns - 1, out_channels, out_channels, drop_prob),
            )
            self.paths.append(deep)

    def forward(self, x):
        outputs = [path(x) for path in self.paths]
        if len(outputs) == 1:
            return outputs[0]
        return join(outputs, drop_prob=self.drop_prob, training=self.training)


# %% fire_class
class Fire(nn.Module):
    """torchvision's fire module: three named convs, functional ReLUs, torch.concat."""

    def __init__(self, in_channels, squeeze_channels, expand1x1_channels, expand3x3_channels):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze_channels, kernel_size=1)
        self.expand1x1 = nn.Conv2d(squeeze_channels, expand1x1_channels, kernel_size=1)
        self.expand3x3 = nn.Conv2d(squeeze_channels, expand3x3_channels, kernel_size=3, padding=1)

    def forward(self, x):
        x = F.relu(self.squeeze(x))
        return torch.concat((F.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))), dim=1)


# %% squeezenet_class
class SqueezeNet(nn.Module):
    """The stem and the table's modules made in a loop; the classifier's pool and the flatten in forward."""

    def __init__(self, version="1.0", num_classes=1000, dropout=0.5):
        super().__init__()
        config = SQUEEZENET_CONFIGS[version]
        in_channels = config["stem_channels"]
        layers = [nn.Conv2d(3, in_channels, kernel_size=config["stem_kernel"], stride=2), nn.ReLU()]
        for layer in config["layers"]:
            if layer == "M":
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True))
                continue
            squeeze, expand1x1, expand3x3 = layer
            layers.append(Fire(in_channels, squeeze, expand1x1, expand3x3))
            in_channels = expand1x1 + expand3x3
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(p=dropout)
        self.final_conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, x):
        x = F.relu(self.final_conv(self.dropout(self.features(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(start_dim=1)


# %% squeezenet_size
squeezenet_params = summarize(SqueezeNet("1.0"), (3, 224, 224)).total_params
parameter_ratio = alexnet_params / squeezenet_params
bytes_8bit = squeezenet_params * 8 / 8  # 8 bits per weight, 8 bits per byte
print(f"AlexNet has {parameter_ratio:.1f}× the parameters of SqueezeNet 1.0")
print(
    f"SqueezeNet 1.0 in float32: {cnnlab.fmt.num_bytes(4 * bytes_8bit)}; in 8 bits: {cnnlab.fmt.num_bytes(bytes_8bit)}"
)
print(f"AlexNet in float32: {cnnlab.fmt.num_bytes(4 * alexnet_params)}")
print(
    f"under 0.5 MB in 8 bits means keeping {0.5e6 / bytes_8bit:.0%} of SqueezeNet's weights (the paper also prunes)"
)


# %% convnext_block_class
class ConvNeXtBlock(nn.Module):
    """The pointwise layers as 1×1 convolutions on channels-first maps; only the LayerNorm sees channels last."""

    def __init__(self, dim, layer_scale_init=1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Conv2d(dim, 4 * dim, kernel_size=1)
        self.pwconv2 = nn.Conv2d(4 * dim, dim, kernel_size=1)
        self.gamma = nn.Parameter(layer_scale_init * torch.ones(dim))

    def forward(self, x):
        branch = self.norm(self.dwconv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        branch = self.pwconv2(F.gelu(self.pwconv1(branch)))
        return x + self.gamma.view(1, -1, 1, 1) * branch
