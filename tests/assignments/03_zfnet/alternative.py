"""Notebook 03's answers written in another style than the solution's, each as correct: they must get full marks.

Each ``# %% <grade id>`` line starts the answer to that solution cell; the cells it does not name keep the
solution's answer. The style: the convolutions made in a loop from a table, ReLUs in place, the flatten in
``forward`` (which notebook 02's checks allow), and the sizes checked in the same loop.
tests/assignments/test_alternatives.py runs them.
"""
# ruff: noqa: F821, E402, B018 - the names come from earlier cells; each cell is one notebook cell

# %% family_class
from cnnlab.arithmetic import conv_output_size, pool_output_size


class AlexNetFamily(nn.Module):
    """AlexNet and its relatives, made from a table of convolutions; the flatten is in forward."""

    def __init__(
        self,
        conv1_kernel=11,
        conv1_stride=4,
        conv1_padding=0,
        conv2_stride=1,
        conv1_filters=96,
        conv2_filters=256,
        conv3_filters=384,
        conv4_filters=384,
        conv5_filters=256,
        fc_units=4096,
        num_classes=1000,
        input_size=227,
        dropout=0.5,
        lrn=True,
    ):
        super().__init__()
        filters = [3, conv1_filters, conv2_filters, conv3_filters, conv4_filters, conv5_filters]
        # name, kernel, stride, padding, the pool after it (or None)
        table = [
            ("CONV1", conv1_kernel, conv1_stride, conv1_padding, "POOL1"),
            ("CONV2", 5, conv2_stride, 2, "POOL2"),
            ("CONV3", 3, 1, 1, None),
            ("CONV4", 3, 1, 1, None),
            ("CONV5", 3, 1, 1, "POOL3"),
        ]
        layers, size = [], input_size
        for index, (name, kernel, stride, padding, pool) in enumerate(table):
            layers.append(
                nn.Conv2d(filters[index], filters[index + 1], kernel, stride=stride, padding=padding)
            )
            layers.append(nn.ReLU(inplace=True))
            size = conv_output_size(size, kernel, stride, padding, layer=name)
            if pool:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
                size = pool_output_size(size, 3, 2, layer=pool)
                if lrn and pool != "POOL3":
                    layers.append(nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(conv5_filters * size**2, fc_units),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(fc_units, fc_units),
            nn.ReLU(inplace=True),
            nn.Linear(fc_units, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


# %% zfnet_model
zfnet = AlexNetFamily(
    conv1_kernel=7,
    conv1_stride=2,
    conv1_padding=0,
    conv2_stride=2,
    conv3_filters=512,
    conv4_filters=1024,
    conv5_filters=512,
)
zfnet_summary = summarize(zfnet, (3, 227, 227))
zfnet_summary
