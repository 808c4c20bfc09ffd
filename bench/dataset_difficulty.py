"""Is the course dataset hard enough that architecture matters? Trains LeNet-5 and a small ResNet on it.

Both are trained by ``cnnlab.train.fit`` with the same budget (by default "lenet", the one notebook
01 gives LeNet-5: 12 epochs, SGD with Nesterov momentum, warm-up then cosine learning rate, batch 128,
no augmentation). A small ResNet should beat LeNet-5 by 10 points or more, while LeNet-5 stays well
above chance. The last line printed is key=value pairs, quoted in data/README.md:

    .venv/bin/python bench/dataset_difficulty.py              # about 3 min on an idle 2-core CPU
    .venv/bin/python bench/dataset_difficulty.py --epochs 2   # a quick look
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from cnnlab.budgets import resolve_budget
from cnnlab.data import load_course_data
from cnnlab.device import default_device, describe
from cnnlab.train import fit, seed_everything

# Notebook 06's ResNet classes, written once, in notebook 07's reference nets
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "solutions" / "07_complexity"))
from reference_nets import BasicBlock, ResNet  # noqa: E402


class LeNet5(nn.Module):
    """LeCun et al. 1998, for 3×32×32 input: conv 6@5×5, pool, conv 16@5×5, pool, fc 120, 84, 10."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc3(F.relu(self.fc2(x)))


def small_resnet(blocks_per_stage: int = 1, num_classes: int = 10) -> nn.Module:
    """A CIFAR-style ResNet from notebook 06's classes: a 3×3 stem at stride 1, three stages of 16/32/64 channels,
    global average pool (1 block per stage: ResNet-8)."""
    stages = (blocks_per_stage,) * 3
    return ResNet(
        BasicBlock, stages, width=16, num_classes=num_classes, stem_kernel=3, stem_stride=1, stem_pool=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="lenet", help="a budget of cnnlab.budgets (default: lenet)")
    parser.add_argument("--epochs", type=int, default=None, help="override the budget's epochs")
    parser.add_argument("--blocks", type=int, default=1, help="basic blocks per ResNet stage (1: ResNet-8)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = load_course_data()
    device = default_device()
    budget_name, budget = resolve_budget(args.budget, device.type)
    if args.epochs is not None:
        budget_name, budget = f"{budget_name}-{args.epochs}-epochs", replace(budget, epochs=args.epochs)
    print(f"{data!r} on {describe(device)}, budget {budget_name}: {budget}")
    accuracy, seconds = {}, {}
    models = {"lenet": LeNet5, "resnet": lambda: small_resnet(blocks_per_stage=args.blocks)}
    for name, make in models.items():
        seed_everything(args.seed)
        history = fit(make(), data, budget=budget, seed=args.seed, progress=False, verbose=False)
        accuracy[name], seconds[name] = history.final_test_acc, history.total_seconds
        curve = " ".join(f"{a:.3f}" for a in history.test_acc)
        print(f"{name}: test accuracy per epoch {curve} ({seconds[name]:.0f} s)", flush=True)
    print(
        f"lenet_acc={accuracy['lenet']:.3f} resnet_acc={accuracy['resnet']:.3f} "
        f"gap_points={100 * (accuracy['resnet'] - accuracy['lenet']):.1f} device={device.type} "
        f"threads={torch.get_num_threads()} budget={budget_name} epochs={budget.epochs} "
        f"resnet_blocks={args.blocks} seed={args.seed} "
        f"lenet_seconds={seconds['lenet']:.0f} resnet_seconds={seconds['resnet']:.0f}"
    )


if __name__ == "__main__":
    main()
