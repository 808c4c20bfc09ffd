"""Training images per second: fit's step loop against a plain PyTorch loop, on this machine.

    .venv/bin/python bench/train_throughput.py                        # ResNet-18, GPU if there is one
    .venv/bin/python bench/train_throughput.py --model small --steps 50

fast   exactly the loop ``fit`` runs (``cnnlab.train._TrainingRun.train_epoch``), evaluation excluded:
       uint8 data resident on the device, batches by index, normalised on the fly; on a GPU also
       channels-last, bf16 autocast, fused SGD, cuDNN autotuning and no host sync in the loop.
naive  what a tutorial writes: pre-normalised float32 tensors in a DataLoader(shuffle=True),
       zero_grad / forward / backward / step, and loss.item() after every step.

Both train the same freshly seeded model on the same random uint8 images (no dataset needed),
with the same batch size and SGD settings. The last line printed is one line of key=value pairs.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnnlab import train
from cnnlab.budgets import Budget
from cnnlab.data.images import ImageData
from cnnlab.device import describe

# Notebook 06's ResNet classes, written once, in notebook 07's reference nets
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "solutions" / "07_complexity"))
from reference_nets import BasicBlock, ResNet  # noqa: E402

NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)


# --- models: notebook 06's ResNet and a plain net, in plain torch (torchvision does not work here) ------


def resnet18(num_classes: int = NUM_CLASSES) -> nn.Module:
    """ResNet-18 for 32×32 images, from notebook 06's classes: a 3×3 stem without max-pooling, then 4 stages of 2
    basic blocks."""
    return ResNet(
        BasicBlock, (2, 2, 2, 2), num_classes=num_classes, stem_kernel=3, stem_stride=1, stem_pool=False
    )


def small(num_classes: int = NUM_CLASSES) -> nn.Module:
    """Three conv-BN-ReLU stages: a small net where per-step overheads show."""
    layers, in_channels = [], 3
    for out_channels in (32, 64, 128):
        layers += [
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        ]
        layers += [nn.MaxPool2d(2)]
        in_channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, num_classes)]
    return nn.Sequential(*layers)


MODELS = {"resnet18": resnet18, "small": small}


# --- the two loops ------------------------------------------------------------------------------


def random_data(num_images: int) -> ImageData:
    generator = torch.Generator().manual_seed(0)

    def images(n):
        return torch.randint(0, 256, (n, *IMAGE_SHAPE), generator=generator, dtype=torch.uint8)

    def labels(n):
        return torch.randint(0, NUM_CLASSES, (n,), generator=generator)

    classes = tuple(str(i) for i in range(NUM_CLASSES))
    return ImageData("random", classes, images(num_images), labels(num_images), images(8), labels(8), (0.5,) * 3, (0.25,) * 3)  # fmt: skip


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fast_images_per_second(make_model, data, device, batch_size, warmup_steps, steps) -> float:
    torch.manual_seed(0)
    train._configure_backends(device)
    run = train._TrainingRun(make_model(), data, Budget(epochs=2, batch_size=batch_size, lr=0.05), device)
    run.train_epoch(steps=warmup_steps)[0].item()
    synchronize(device)
    started = time.perf_counter()
    run.train_epoch(steps=steps)[0].item()  # reading the loss waits for the last step
    synchronize(device)
    return steps * batch_size / (time.perf_counter() - started)


def naive_images_per_second(make_model, data, device, batch_size, warmup_steps, steps) -> float:
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = False  # a plain loop leaves cuDNN's defaults alone
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    images = (data.x_train.float() / 255 - mean) / std
    loader = DataLoader(
        TensorDataset(images, data.y_train), batch_size=batch_size, shuffle=True, drop_last=True
    )
    model = make_model().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def run_steps(count):
        running_loss = 0.0
        for step, (x, y) in enumerate(loader):
            if step == count:
                break
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        return running_loss

    run_steps(warmup_steps)
    synchronize(device)
    started = time.perf_counter()
    run_steps(steps)
    synchronize(device)
    return steps * batch_size / (time.perf_counter() - started)


# --- command line -------------------------------------------------------------------------------


def default_steps(device: torch.device, model: str) -> tuple[int, int]:
    """(warmup steps, timed steps): enough to be stable, about a minute or two in all on a CPU."""
    if device.type == "cuda":
        return 30, 300
    return (2, 20) if model == "resnet18" else (10, 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet18")
    parser.add_argument(
        "--steps", type=int, help="timed steps per loop (default: 300 on a GPU, fewer on a CPU)"
    )
    parser.add_argument("--warmup", type=int, help="untimed steps first (cuDNN autotuning, allocator)")
    parser.add_argument("--batch-size", type=int, help="default 256 on a GPU, 64 on a CPU")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    warmup_steps, steps = default_steps(device, args.model)
    steps = args.steps or steps
    warmup_steps = args.warmup if args.warmup is not None else warmup_steps
    batch_size = args.batch_size or (256 if device.type == "cuda" else 64)
    train._configure_backends(device)  # all cores on a CPU, for both loops
    data = random_data(max(warmup_steps, steps) * batch_size)
    make_model = MODELS[args.model]
    print(
        f"{args.model} on {describe(device)}: {warmup_steps} warm-up + {steps} timed steps of {batch_size} images"
    )

    naive = naive_images_per_second(make_model, data, device, batch_size, warmup_steps, steps)
    print(f"  naive loop: {naive:,.0f} img/s")
    fast = fast_images_per_second(make_model, data, device, batch_size, warmup_steps, steps)
    print(f"  fit's loop: {fast:,.0f} img/s")
    print(
        f"device={device.type} model={args.model} batch_size={batch_size} steps={steps} "
        f"fast_img_s={fast:.0f} naive_img_s={naive:.0f} ratio={fast / naive:.2f}"
    )


if __name__ == "__main__":
    main()
