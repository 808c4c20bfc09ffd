"""Notebook 01's answers written in another style than the solution's, each as correct: they must get full marks.

Each ``# %% <grade id>`` line starts the answer to that solution cell; the cells it does not name keep the
solution's answer. The style: keyword arguments and tuples for the layers, the network's convolutions and pools
made in a loop, one activation module called after C1, C3, C5 and F6 in ``forward`` (four rows of the summary, no
module per position), and the flatten in ``forward``. tests/assignments/test_alternatives.py runs them.
"""
# ruff: noqa: F821, E402 - the names come from earlier cells; each cell is one notebook cell

# %% c1_layer
c1 = nn.Conv2d(in_channels=1, out_channels=6, kernel_size=(5, 5), stride=(1, 1), padding=0)
print("C1", tuple(c1(x).shape))

# %% s2_layer
s2 = nn.AvgPool2d(2)  # the stride defaults to the window
print("S2", tuple(s2(c1(x)).shape))

# %% s4_c5_layers
s4 = nn.AvgPool2d((2, 2), stride=(2, 2))
c5 = nn.Conv2d(in_channels=16, out_channels=120, kernel_size=(5, 5))
print("S4", tuple(s4(c3(s2(c1(x)))).shape))
print("C5", tuple(c5(s4(c3(s2(c1(x))))).shape))

# %% fc_layers
f6 = nn.Linear(in_features=120, out_features=84)
output = nn.Linear(in_features=84, out_features=10)
features = c5(s4(c3(s2(c1(x))))).flatten(1)
print("flatten", tuple(features.shape))
print("F6", tuple(f6(features).shape))
print("output", tuple(output(f6(features)).shape))

# %% lenet_class
from cnnlab.arithmetic import conv_output_size, pool_output_size


class LeNet5(nn.Module):
    """LeNet-5, its convolutions and pools made in a loop; one activation module, called four times."""

    def __init__(
        self,
        in_channels=1,
        num_classes=10,
        c1_filters=6,
        c3_filters=16,
        c5_filters=120,
        f6_units=84,
        kernel_size=5,
        input_size=32,
        activation=nn.Tanh,
        pool=nn.AvgPool2d,
    ):
        super().__init__()
        size = input_size
        for conv_name, pool_name in (("C1", "S2"), ("C3", "S4")):
            size = conv_output_size(size, kernel_size, layer=conv_name)
            size = pool_output_size(size, 2, 2, layer=pool_name)
        widths = (in_channels, c1_filters, c3_filters, c5_filters)
        kernels = (kernel_size, kernel_size, size)  # C5's kernel covers what S4 leaves
        self.convs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], kernel_size=kernels[i]) for i in range(3)
        )
        self.pools = nn.ModuleList(pool(kernel_size=2, stride=2) for _ in range(2))
        self.f6 = nn.Linear(c5_filters, f6_units)
        self.scores = nn.Linear(f6_units, num_classes)
        self.squash = activation()

    def forward(self, x):
        for i, conv in enumerate(self.convs):
            x = self.squash(conv(x))
            if i < len(self.pools):
                x = self.pools[i](x)
        return self.scores(self.squash(self.f6(x.flatten(1))))
