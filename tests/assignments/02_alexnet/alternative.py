"""Notebook 02's answers written in another style than the solution's, each as correct: they must get full marks.

Each ``# %% <grade id>`` line starts the answer to that solution cell; the cells it does not name keep the
solution's answer. The style: keyword arguments and tuples for the layers, the network's layers made in a loop
from a table, ReLUs that are not in place, the flatten and the pool in ``forward``, and the FC share counted from
the model's modules. tests/assignments/test_alternatives.py runs them.
"""
# ruff: noqa: F821, E402, B018 - the names come from earlier cells; each cell is one notebook cell

# %% conv1_answers
conv1_output_volume = (96, 1 + (227 - 11) // 4, 1 + (227 - 11) // 4)
conv1_params = (11 * 11 * 3 + 1) * 96

# %% conv1_layer
conv1 = nn.Conv2d(in_channels=3, out_channels=96, kernel_size=(11, 11), stride=(4, 4), padding=0)
print("CONV1", tuple(conv1(x).shape))

# %% pool1_norm1_layers
pool1 = nn.MaxPool2d(3, 2)
norm1 = nn.LocalResponseNorm(size=5, alpha=0.0005, beta=0.75, k=2)
print("POOL1", tuple(pool1(conv1(x)).shape))
print("NORM1", tuple(norm1(pool1(conv1(x))).shape))

# %% alexnet_class
from cnnlab.arithmetic import conv_output_size, pool_output_size


class AlexNet(nn.Module):
    """AlexNet, its layers made in a loop from one table; the pool and the flatten in forward."""

    def __init__(
        self,
        num_classes=1000,
        widths=(96, 256, 384, 384, 256),
        fc_units=4096,
        conv1=(11, 4, 0),
        input_size=227,
        groups=1,
        lrn=True,
        adaptive_pool=False,
        dropout=0.5,
    ):
        super().__init__()
        kernel, stride, padding = conv1
        channels = (3, *widths)
        # per convolution: kernel, stride, padding, groups, then a max pool?, then an LRN?
        table = [
            (kernel, stride, padding, 1, True, lrn),
            (5, 1, 2, groups, True, lrn),
            (3, 1, 1, 1, False, False),
            (3, 1, 1, groups, False, False),
            (3, 1, 1, groups, True, False),
        ]
        layers, size = [], input_size
        for number, (k, s, p, g, pooled, normed) in enumerate(table, start=1):
            layers += [nn.Conv2d(channels[number - 1], channels[number], k, s, p, groups=g), nn.ReLU()]
            size = conv_output_size(size, k, s, p, layer=f"CONV{number}")
            if pooled:
                layers.append(nn.MaxPool2d(3, 2))
                size = pool_output_size(size, 3, 2, layer=f"POOL after CONV{number}")
            if normed:
                layers.append(nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((6, 6)) if adaptive_pool else None
        side = 6 if adaptive_pool else size
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(widths[-1] * side * side, fc_units),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(fc_units, fc_units),
            nn.ReLU(),
            nn.Linear(fc_units, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        if self.pool is not None:
            x = self.pool(x)
        return self.classifier(torch.flatten(x, start_dim=1))


# %% fc_share
linear_layers = [m for m in AlexNet().modules() if isinstance(m, nn.Linear)]
fc_share = sum(p.numel() for m in linear_layers for p in m.parameters()) / alexnet_summary.total_params
print(f"fully connected layers: {fc_share:.1%} of the parameters")

# %% two_gpu_model
two_gpu_alexnet = AlexNet(num_classes=1000, groups=2)
print(f"{sum(p.numel() for p in two_gpu_alexnet.parameters()):,} parameters")

# %% torchvision_model
torchvision_alexnet = AlexNet(
    num_classes=1000,
    widths=(64, 192, 384, 256, 256),
    conv1=(11, 4, 2),
    input_size=224,
    lrn=False,
    adaptive_pool=True,
)
torchvision_summary = summarize(torchvision_alexnet, (3, 224, 224))
print(torchvision_summary.headline())
