"""Training: one ``fit`` for every notebook, fast on a GPU and repeatable on a CPU.

    seed_everything(0)            # the model's initial weights come from torch's global generator
    model = MyNet()
    history = fit(model, data)    # budget "lenet": epochs and batch size chosen for this device
    history.plot()

How it runs: the dataset stays uint8 and is normalised batch by batch, on the device. On a GPU it is
copied there once (and kept for later fits), batches are taken by index from a random permutation,
the model runs in channels-last memory format under bf16 autocast (fp16 with loss scaling on GPUs
without bf16), and the step loop never waits for the GPU: losses and accuracies add up on the device
and are read once per epoch. On a CPU it is the same loop in float32 on every core.

Shuffling and augmentation draw from a generator seeded with ``seed``, so on a CPU the same seed and
the same initial weights give the same history, step for step. GPU runs are close, not identical.
"""

import inspect
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import fmt
from .budgets import BUDGETS, Budget, resolve_budget
from .data.images import ImageData
from .device import default_device, describe
from .errors import ConfigError
from .history import History
from .summary.messages import ForwardTrace

__all__ = ["BUDGETS", "Budget", "History", "cpu_threads", "evaluate", "fit", "seed_everything"]

EVAL_BATCH_SIZE = 1000
AUGMENT_PADDING = 4
PROGRESS_REFRESH_SECONDS = 0.5  # the bar's loss is read from the device at most this often


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's global generators (CPU and every GPU).

    Call it just before building a model: the initial weights, and dropout masks during training,
    come from torch's global generator. ``fit`` seeds its own shuffling from its ``seed``.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def _fit(
    model: nn.Module,
    data: ImageData,
    *,
    budget: str | Budget = "lenet",
    seed: int = 0,
    device: torch.device | str | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    weight_decay: float = 5e-4,
    augment: bool = False,
    label_smoothing: float = 0.0,
    aux_weight: float | None = None,
    progress: bool = True,
    verbose: bool = True,
    name: str | None = None,
) -> History:
    """Trains ``model`` on ``data`` and returns its History (``history.model`` is the model); the model ends on
    ``device``, in eval mode.

    SGD with Nesterov momentum 0.9 and weight decay, the learning rate warmed up then cosine-decayed
    step by step, cross-entropy loss. ``budget`` names a row of ``BUDGETS`` ("lenet",
    "alexnet-mini", ...: named for the nets they train), whose epochs, batch size and peak lr depend
    on the device, or is a ``Budget(...)``.
    ``lr`` and ``batch_size`` override the budget's; a new batch size alone scales the lr with it.
    ``augment`` adds random crops (4-pixel padding) and horizontal flips. The model is evaluated
    on the test split after every epoch. If the loss becomes NaN, training stops: the History has
    ``diverged=True`` and a ``message`` saying so.

    ``seed`` drives the shuffling and the augmentation. The initial weights are the caller's: call
    ``seed_everything(seed)`` just before building the model to make the whole run repeatable.

    ``aux_weight`` is for models with auxiliary classifiers (GoogLeNet): in training mode such a model
    returns ``(logits, aux_logits, ...)``, and the loss is the main cross-entropy plus ``aux_weight``
    times each auxiliary one. In eval mode it returns the logits alone, which are what is evaluated.

    ``name`` names the run (``name="ZFNet-mini"``) in the training line, the progress bar, the
    History and the plot's title; by default it is the model's class name.
    """
    started = time.perf_counter()
    model_name = _check_model(model)
    run_name = _check_name(name, model_name)
    _check_data(data)
    device = _resolve_device(device)
    budget_name, plan = resolve_budget(budget, device.type)
    plan = _with_overrides(plan, lr=lr, batch_size=batch_size)
    _check_regularisation(weight_decay, label_smoothing)
    _check_aux_weight(aux_weight)
    _configure_backends(device)

    run = _TrainingRun(
        model,
        data,
        plan,
        device,
        weight_decay=weight_decay,
        augment=augment,
        label_smoothing=label_smoothing,
        seed=seed,
        aux_weight=aux_weight,
    )
    history = History(
        model_name=model_name,
        device=describe(device),
        budget_name=budget_name,
        epochs=plan.epochs,
        batch_size=run.batch_size,
        seed=seed,
        num_classes=data.num_classes,
        lr=plan.lr,
        steps_per_epoch=run.steps_per_epoch,
        name=run_name,
        model=model,
        aux_weight=aux_weight,
    )
    if verbose:
        print(_header(history, model, augment))

    bar = _ProgressBar(plan.epochs * run.steps_per_epoch, run_name, run.batch_size, enabled=progress)
    try:
        for epoch in range(1, plan.epochs + 1):
            _train_and_record_epoch(run, history, bar, started)
            if not math.isfinite(history.train_loss[-1]):
                _record_divergence(history, epoch)
                break
    finally:
        bar.close()  # also when the cell is interrupted
    model.eval()
    history.total_seconds = time.perf_counter() - started

    if verbose:
        if history.diverged:
            print(f"Warning: {history.message}")
        print(
            f"Finished in {history.total_seconds:.1f} s ({fmt.count(history.throughput)} img/s): "
            f"test accuracy {100 * history.final_test_acc:.1f}% after {len(history.test_acc)} epochs."
        )
    return history


class _LastRun:
    """Whether the last training run of this kernel stopped on an error, and why: a check cell that follows a run
    that stopped finds no ``history``, and ``cnnlab.notebook`` then says which run stopped and why (a NameError
    would say nothing of the step to fix)."""

    stopped: tuple[str, str] | None = None  # (the run's name, the first line of why it stopped)


def last_stopped_run() -> tuple[str, str] | None:
    """(name, reason) of the last training run if it stopped on an error; None when it finished (or none ran)."""
    return _LastRun.stopped


def fit(model: nn.Module, data: ImageData, **options) -> History:
    try:
        history = _fit(model, data, **options)
    except Exception as error:
        name = options.get("name") or type(model).__name__
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        _LastRun.stopped = (str(name), reason)
        raise
    _LastRun.stopped = None
    return history


fit.__doc__ = _fit.__doc__
fit.__signature__ = inspect.signature(_fit)


def _train_and_record_epoch(
    run: "_TrainingRun", history: History, bar: "_ProgressBar", started: float
) -> None:
    epoch_started = time.perf_counter()
    loss_sum, correct = run.train_epoch(on_step=bar.step if bar.enabled else None)
    train_loss = loss_sum.item() / run.images_per_epoch  # the epoch's one wait for the device
    train_seconds = time.perf_counter() - epoch_started
    if not history.train_loss:
        history.initial_loss = run.initial_loss.item()
    test_loss, test_acc = run.evaluate_test()

    history.train_loss.append(train_loss)
    history.train_acc.append(correct.item() / run.images_per_epoch)
    history.test_loss.append(test_loss)
    history.test_acc.append(test_acc)
    history.seconds.append(time.perf_counter() - started)
    history.images_per_second.append(run.images_per_epoch / train_seconds)
    bar.end_epoch(train_loss, test_acc)


def _record_divergence(history: History, epoch: int) -> None:
    became = "NaN" if math.isnan(history.train_loss[-1]) else "infinite"
    history.diverged = True
    history.message = (
        f"the training loss became {became} in epoch {epoch} of {history.epochs}, so training stopped there; "
        f"a smaller learning rate (it was {history.lr:g}) or a normalisation layer may help."
    )


def evaluate(
    model: nn.Module, data: ImageData, split: str = "test", device: torch.device | str | None = None
) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy) of ``model`` on one split of ``data``, in eval mode.

    ``device`` defaults to where the model's parameters are. The model's train/eval mode is kept.
    """
    _check_model(model, needs_parameters=False)
    _check_data(data)
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test'; got {split!r}.")
    device = _resolve_device(device) if device is not None else _device_of(model)
    recipe = _recipe_for(device)
    model.to(device)
    images, labels = _on_device(data, device)[split]
    if len(labels) == 0:
        return math.nan, math.nan
    to_input = _Normalise(data, device, recipe.channels_last)
    autocast = partial(recipe.autocast, device)
    _check_model_takes_batch(model, data, to_input(images[:2]), autocast)
    loss_sum, correct = _evaluation_sums(model, images, labels, to_input, autocast)
    return loss_sum.item() / len(labels), correct.item() / len(labels)


# ---------------------------------------------------------------------------------------------
# The step loop


@dataclass(frozen=True)
class _Recipe:
    """How the step loop runs on one kind of device."""

    channels_last: bool = False
    autocast_dtype: torch.dtype | None = None
    grad_scaling: bool = False  # fp16 needs a loss scale to keep small gradients; bf16 does not
    fused_optimizer: bool = False

    def autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)


def _recipe_for(device: torch.device) -> _Recipe:
    if device.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        return _Recipe(
            channels_last=True,
            autocast_dtype=torch.bfloat16 if bf16 else torch.float16,
            grad_scaling=not bf16,
            fused_optimizer=True,
        )
    if device.type == "cpu":
        return _Recipe(fused_optimizer=True)
    return _Recipe()


class _TrainingRun:
    """Everything fit's step loop needs, set up once: model and data on the device, optimiser,
    schedule, generator. ``bench/train_throughput.py`` times ``train_epoch`` to measure fit itself."""

    def __init__(
        self,
        model: nn.Module,
        data: ImageData,
        budget: Budget,
        device: torch.device,
        *,
        weight_decay: float = 5e-4,
        augment: bool = False,
        label_smoothing: float = 0.0,
        seed: int = 0,
        recipe: _Recipe | None = None,
        aux_weight: float | None = None,
    ):
        self.device = device
        self.recipe = recipe or _recipe_for(device)
        self.augment = augment
        memory_format = torch.channels_last if self.recipe.channels_last else torch.preserve_format
        self.model = model.to(device=device, memory_format=memory_format)

        splits = _on_device(data, device)
        self.images, self.labels = splits["train"]
        self.test_images, self.test_labels = splits["test"]
        self.to_input = _Normalise(data, device, self.recipe.channels_last)
        _check_model_takes_batch(model, data, self.to_input(self.images[:2]), self.autocast)

        self.batch_size = min(budget.batch_size, len(self.labels))
        self.steps_per_epoch = len(self.labels) // self.batch_size  # the last, partial batch is dropped
        self.images_per_epoch = self.steps_per_epoch * self.batch_size
        total_steps = budget.epochs * self.steps_per_epoch
        self.optimizer = torch.optim.SGD(
            model.parameters(),
            lr=budget.lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=weight_decay,
            fused=self.recipe.fused_optimizer or None,
        )
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _warmup_cosine(total_steps, round(budget.warmup_fraction * total_steps))
        )
        self.scaler = torch.amp.GradScaler(device.type) if self.recipe.grad_scaling else None
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.aux_weight = aux_weight
        # Random numbers come from the device itself on a GPU, so drawing them needs no copy.
        generator_device = device if device.type == "cuda" else torch.device("cpu")
        self.generator = torch.Generator(device=generator_device).manual_seed(seed)
        self.initial_loss: torch.Tensor | None = None

    def autocast(self):
        return self.recipe.autocast(self.device)

    def train_epoch(self, steps: int | None = None, on_step=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch, or its first ``steps`` steps, over a fresh random order of the training set.

        Returns the summed loss and the number of correct predictions, both still on the device:
        reading them is the only time the host waits for the device. ``on_step(step, loss_sum)``
        is called after each step.
        """
        steps = self.steps_per_epoch if steps is None else min(steps, self.steps_per_epoch)
        order = torch.randperm(len(self.labels), generator=self.generator, device=self.generator.device)
        order = order.to(self.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        self.model.train()
        for step in range(steps):
            batch = order[step * self.batch_size : (step + 1) * self.batch_size]
            images, labels = self.images[batch], self.labels[batch]
            if self.augment:
                images = _random_crop_flip(images, AUGMENT_PADDING, self.generator)
            if self.initial_loss is None:
                loss, logits = self._first_step(self.to_input(images), labels)
                self.initial_loss = loss  # computed before the first update
            else:
                loss, logits = self._step(self.to_input(images), labels)
            loss_sum += loss * self.batch_size
            correct += (logits.argmax(dim=1) == labels).sum()
            if on_step is not None:
                on_step(step, loss_sum)
        return loss_sum, correct

    def _first_step(self, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The first step, traced: a layer that runs only in training mode (an auxiliary head) and breaks on the
        batch is named in a sentence, as ``_check_model_takes_batch`` names one of eval mode. The trace only
        watches, so the step computes what an untraced one does."""
        trace = ForwardTrace(self.model, tuple(inputs.shape[1:]))
        try:
            with trace:
                return self._step(inputs, labels)
        except RuntimeError as error:  # torch's shape errors; a bug like a NameError keeps its traceback
            raise ConfigError(
                f"the model could not train on a batch of {fmt.shape(inputs.shape[1:])} images (in training mode, "
                f"where layers that eval mode skips run too): {trace.explain(error)}"
            ) from error

    def _step(self, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            logits, aux_logits = _main_and_aux(self.model(inputs), self.aux_weight)
            loss = self.loss_fn(logits, labels)  # autocast computes cross-entropy in float32
            for aux in aux_logits:
                loss = loss + self.aux_weight * self.loss_fn(aux, labels)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)  # a fused optimizer skips inf steps without a sync
            self.scaler.update()
        self.schedule.step()
        return loss.detach().float(), logits.detach()

    def evaluate_test(self) -> tuple[float, float]:
        if len(self.test_labels) == 0:
            return math.nan, math.nan
        loss_sum, correct = _evaluation_sums(
            self.model, self.test_images, self.test_labels, self.to_input, self.autocast
        )
        return loss_sum.item() / len(self.test_labels), correct.item() / len(self.test_labels)


def _main_and_aux(outputs, aux_weight: float | None) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """A training-mode output split into the main logits and the auxiliary ones (none for a plain model)."""
    if isinstance(outputs, torch.Tensor):
        return outputs, ()
    if not (
        isinstance(outputs, tuple | list) and outputs and all(isinstance(o, torch.Tensor) for o in outputs)
    ):
        raise ConfigError(
            f"in training mode the model should return a tensor of class scores, or a tuple (logits, "
            f"aux_logits, ...) of tensors; it returned a {type(outputs).__name__}."
        )
    if aux_weight is None:
        raise ConfigError(
            f"in training mode the model returned {len(outputs)} outputs, (logits, aux_logits, ...): "
            "pass aux_weight= to fit (say 0.3) to add the auxiliary losses, or return the logits alone."
        )
    return outputs[0], tuple(outputs[1:])


def _warmup_cosine(total_steps: int, warmup_steps: int):
    """The lr factor at each step: a linear rise to 1 over ``warmup_steps``, then a cosine to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


@torch.no_grad()
def _evaluation_sums(model, images, labels, to_input, autocast) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy and correct count over a split, in eval mode, left on the device.
    ``autocast()`` makes the autocast context for each batch."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=labels.device)
    correct = torch.zeros((), dtype=torch.int64, device=labels.device)
    for start in range(0, len(labels), EVAL_BATCH_SIZE):
        batch_labels = labels[start : start + EVAL_BATCH_SIZE]
        with autocast():
            logits = model(to_input(images[start : start + EVAL_BATCH_SIZE]))
        loss_sum += F.cross_entropy(logits.float(), batch_labels, reduction="sum")
        correct += (logits.argmax(dim=1) == batch_labels).sum()
    model.train(was_training)
    return loss_sum, correct


class _Normalise:
    """uint8 images on the device -> the float input the model sees, with the dataset's mean and std."""

    def __init__(self, data: ImageData, device: torch.device, channels_last: bool):
        channels = data.image_shape[0]
        if len(data.mean) != channels or len(data.std) != channels:
            raise ConfigError(
                f"the dataset's mean and std need one value per channel ({channels}); "
                f"got {len(data.mean)} and {len(data.std)}."
            )
        mean = torch.tensor(data.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        std = torch.tensor(data.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        # (x / 255 - mean) / std as one multiply-add
        self.scale = 1 / (255 * std)
        self.shift = -mean / std
        self.channels_last = channels_last

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)  # cheap while still uint8
        return images.float().mul_(self.scale).add_(self.shift)


def _random_crop_flip(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Each image shifted by up to ``padding`` pixels (zero fill) and mirrored with probability 1/2.

    One gather does both, on the images' device: row and column indices into the padded batch.
    """
    n, channels, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))

    def draw(high):
        values = torch.randint(0, high, (n, 1), generator=generator, device=generator.device)
        return values.to(images.device)

    top, left, flip = draw(2 * padding + 1), draw(2 * padding + 1), draw(2).bool()
    rows = top + torch.arange(height, device=images.device)
    columns = torch.arange(width, device=images.device).expand(n, width)
    columns = left + torch.where(flip, width - 1 - columns, columns)
    return padded[
        torch.arange(n, device=images.device)[:, None, None, None],
        torch.arange(channels, device=images.device)[None, :, None, None],
        rows[:, None, :, None],
        columns[:, None, None, :],
    ]


# ---------------------------------------------------------------------------------------------
# Devices and the dataset's copies on them


def _resolve_device(device: torch.device | str | None) -> torch.device:
    if device is None:
        device = default_device()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ConfigError(f"device must be like 'cpu' or 'cuda'; got {device!r}.") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {str(device)!r} was asked for, but this machine has no CUDA GPU.")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else _resolve_device(None)


def cpu_threads() -> int:
    """The threads ``fit`` trains with on a CPU: every core this process may use; ``CNNLAB_THREADS=1`` says
    otherwise. ``setup_notebook`` applies and prints the same number.

    On a machine shared with other busy processes, OpenMP threads that wait for each other can
    make a step many times slower than one thread would (200 vs 7,000 img/s seen on 2 cores).
    """
    forced = os.environ.get("CNNLAB_THREADS")
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise ConfigError(f"CNNLAB_THREADS should be a whole number ≥ 1; got {forced!r}.")
        return int(forced)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))  # the cores this process may use, in a container too
    return os.cpu_count() or 1


def _configure_backends(device: torch.device) -> None:
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads())
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the shapes stay fixed, so the fastest kernels pay off


def _on_device(data: ImageData, device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The dataset's splits on ``device``. A copy on another device is made once and kept on the
    (frozen) ImageData, so later fits on the same data don't copy it again."""
    if device.type == "cpu":
        return {"train": (data.x_train, data.y_train), "test": (data.x_test, data.y_test)}
    copies = data.__dict__.setdefault("_device_copies", {})
    key = str(device)
    if key not in copies:
        copies[key] = {
            "train": (data.x_train.to(device), data.y_train.to(device)),
            "test": (data.x_test.to(device), data.y_test.to(device)),
        }
    return copies[key]


# ---------------------------------------------------------------------------------------------
# Checks: every bad input is one sentence saying what was expected and what came


def _check_model(model, needs_parameters: bool = True) -> str:
    """The model's name, once it is known to be a module that can be trained."""
    if isinstance(model, type) and issubclass(model, nn.Module):
        raise ConfigError(
            f"the model should be a built network, but got the class {model.__name__} itself; "
            f"build one first, as in {model.__name__}()."
        )
    if not isinstance(model, nn.Module):
        raise ConfigError(f"the model should be a torch.nn.Module; got a {type(model).__name__}.")
    name = type(model).__name__
    if needs_parameters and not any(parameter.requires_grad for parameter in model.parameters()):
        raise ConfigError(f"the model {name} has no trainable parameters, so there is nothing to train.")
    return name


def _check_name(name, model_name: str) -> str:
    """The run's name: ``name``, or the model's class name when there is none."""
    if name is None:
        return model_name
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(
            f'name should be a short text that names the run, such as "VGG-mini"; got {name!r}.'
        )
    return name.strip()


def _check_data(data) -> None:
    if not isinstance(data, ImageData):
        raise ConfigError(f"data should be an ImageData (from cnnlab.data); got a {type(data).__name__}.")
    if data.x_train.dtype != torch.uint8 or data.x_test.dtype != torch.uint8:
        raise ConfigError(
            f"the dataset's images should be uint8 (0..255); got {data.x_train.dtype} and {data.x_test.dtype}."
        )
    if len(data.y_train) == 0:
        raise ConfigError(f"the dataset {data.name!r} has no training images.")


def _check_model_takes_batch(model: nn.Module, data: ImageData, inputs: torch.Tensor, autocast) -> None:
    """Runs the model once on a tiny batch, so a wrong input or output shape is one clear sentence."""
    was_training = model.training
    model.eval()  # no batch-norm statistics change, no dropout draws
    trace = ForwardTrace(model, data.image_shape)
    try:
        with torch.no_grad(), autocast(), trace:
            outputs = model(inputs)
    except RuntimeError as error:  # torch's shape errors; a bug like a NameError keeps its traceback
        image_shape = fmt.shape(data.image_shape)
        raise ConfigError(
            f"the model could not take a batch of {image_shape} images: {trace.explain(error)}"
        ) from error
    finally:
        model.train(was_training)
    if not isinstance(outputs, torch.Tensor):
        raise ConfigError(
            f"the model should return a tensor of class scores; it returned a {type(outputs).__name__}."
        )
    expected = (len(inputs), data.num_classes)
    if tuple(outputs.shape) != expected:
        raise ConfigError(
            f"the model's output should have shape (batch, num_classes) = {expected} for a batch of "
            f"{len(inputs)} images of the {data.num_classes} classes; got {tuple(outputs.shape)}."
        )


def _with_overrides(budget: Budget, *, lr: float | None, batch_size: int | None) -> Budget:
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size should be a whole number ≥ 1; got {batch_size!r}.")
        # Linear scaling: the same lr per image keeps a budget's lr sensible for another batch size.
        budget = replace(budget, batch_size=batch_size, lr=budget.lr * batch_size / budget.batch_size)
    if lr is not None:
        if not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
            raise ConfigError(f"lr should be a positive number; got {lr!r}.")
        budget = replace(budget, lr=float(lr))
    return budget


def _check_aux_weight(aux_weight: float | None) -> None:
    if aux_weight is None:
        return
    if isinstance(aux_weight, bool) or not (isinstance(aux_weight, int | float) and aux_weight >= 0):
        raise ConfigError(f"aux_weight should be a number ≥ 0 (or None); got {aux_weight!r}.")


def _check_regularisation(weight_decay: float, label_smoothing: float) -> None:
    if not (isinstance(weight_decay, int | float) and weight_decay >= 0):
        raise ConfigError(f"weight_decay should be a number ≥ 0; got {weight_decay!r}.")
    if not (isinstance(label_smoothing, int | float) and 0 <= label_smoothing < 1):
        raise ConfigError(f"label_smoothing should be a number in [0, 1); got {label_smoothing!r}.")


# ---------------------------------------------------------------------------------------------
# What fit prints


def _header(history: History, model: nn.Module, augment: bool) -> str:
    parameters = sum(parameter.numel() for parameter in model.parameters())
    kind = "" if history.run_name == history.model_name else f"{history.model_name}, "
    return (
        f"Training {history.run_name} ({kind}{fmt.count(parameters)} parameters) on {history.device}, "
        f"budget {history.budget_name!r}: {history.epochs} epochs × {history.steps_per_epoch} steps "
        f"of {history.batch_size} images, peak lr {history.lr:g}" + (", augmented" if augment else "")
    )


class _ProgressBar:
    """A per-step tqdm bar. The running loss is read from the device at most twice a second, so a
    GPU's step loop hardly ever waits for the bar."""

    def __init__(self, total_steps: int, name: str, batch_size: int, enabled: bool):
        self.enabled = enabled
        self.batch_size = batch_size
        self.last_refresh = time.perf_counter()
        self.test_acc = ""
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total_steps, desc=name, unit="step", dynamic_ncols=True)

    def step(self, step: int, loss_sum: torch.Tensor) -> None:
        self.bar.update()
        now = time.perf_counter()
        if now - self.last_refresh >= PROGRESS_REFRESH_SECONDS:
            self.last_refresh = now
            self._show(loss_sum.item() / ((step + 1) * self.batch_size))

    def end_epoch(self, train_loss: float, test_acc: float) -> None:
        self.test_acc = f", test acc {100 * test_acc:.1f}%"
        if self.enabled:
            self._show(train_loss)

    def _show(self, loss: float) -> None:
        self.bar.set_postfix_str(f"loss {loss:.3f}{self.test_acc}")

    def close(self) -> None:
        if self.enabled:
            self.bar.close()
