"""Where a fold is trained: fit a model on the training part, and nothing else.

``fit`` receives only training images and labels, and optionally a validation part carved from
the training side; it fits the normalisation statistics on the training images, trains for the
recipe's budget and returns the last epoch's weights, or the epoch that did best on the
validation part (test data never reaches this module).
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferbench.engine.augment import augment_batch
from ferbench.data import Clips
from ferbench.engine.device import autocast, images_to_device, seed_everything, use_channels_last
from ferbench.specs import Recipe

EpochCallback = Callable[[int, int, float], None]

#: The statistic ``fit`` computes from data: the per-channel mean and standard deviation of
#: the images it is handed. ``FitResult.fitted`` reports the rows it was computed from.
NORMALISATION = "normalisation"


class Preprocessed(nn.Module):
    """A model behind its input step: resize to ``input_size`` square and normalise with fitted stats.

    Takes float batches with values in [0, 1]: images (B, C, H, W), or clips (B, T, C, H, W)
    for clip models (each frame is resized and normalised alike).
    """

    def __init__(self, model: nn.Module, mean: torch.Tensor, std: torch.Tensor, input_size: int):
        super().__init__()
        self.model = model
        self.input_size = input_size
        self.register_buffer("mean", mean.view(1, -1, 1, 1))
        self.register_buffer("std", std.view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clip_shape = x.shape[:2] if x.ndim == 5 else None
        if clip_shape is not None:
            x = x.flatten(0, 1)
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        if clip_shape is not None:
            x = x.unflatten(0, clip_shape)
        return self.model(x)


def batch_input(x_all: torch.Tensor, rows: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """The float [0, 1] model input for ``rows`` of a uint8 (N, C, H, W) part: images (B, C, H, W)
    for rows (B,), clips (B, T, C, H, W) for rows (B, T); image batches in channels-last
    memory format when asked."""
    x = x_all[rows].float().div_(255)
    return as_channels_last(x) if channels_last else x


def as_channels_last(x: torch.Tensor) -> torch.Tensor:
    """An image batch (B, C, H, W) in channels-last memory format; clips unchanged."""
    return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x




@dataclass
class FitResult:
    """A trained model and what training recorded.

    ``curves`` holds ``train_loss`` and ``train_accuracy`` per epoch, and ``val_loss`` and
    ``val_accuracy`` when a validation part was given; ``selected_epoch`` is the (1-based) epoch
    whose weights ``model`` holds, ``epochs_run`` how many ran (fewer on early stopping).
    ``fitted`` maps each statistic fitted on data to the positions, among the images ``fit``
    was handed, that it was computed from (the audit checks them against the test part).
    ``resumed_after``: the epoch a :class:`Checkpoint` resumed the fit after (None: from the start).
    ``stacked``: how many folds were trained together, this one included (1: alone; see
    ``ferbench.engine.stacked``); ``seconds`` is then the stacked fit's time shared out evenly.
    """

    model: Preprocessed
    curves: dict[str, list[float]]
    normalisation: dict[str, list[float] | int]
    seconds: float
    selected_epoch: int = 0
    epochs_run: int = 0
    fitted: dict[str, np.ndarray] = field(default_factory=dict)
    resumed_after: int | None = None
    stacked: int = 1


@dataclass(frozen=True)
class Checkpoint:
    """Where ``fit`` keeps its whole state after an epoch, so that a fit interrupted (killed)
    resumes from there and ends exactly as an uninterrupted one would on the CPU.

    ``tag`` names the fit (a job's configuration hash and its gradient accumulation): a file
    with another tag is ignored and replaced. The state is written after an epoch once
    ``every`` seconds have passed since the last write (0: after every epoch): writing a
    ResNet-18 with its Adam state is about 130 MB, too much to repeat after each few-second
    epoch. Deleting the file is the caller's (a job deletes it when its result is committed).
    """

    path: Path
    tag: str
    every: float = 60.0

    def load(self) -> dict | None:
        """The saved state of this fit, or None (no file, another fit's, or unreadable)."""
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a torn or foreign file is not resumed from
            return None
        return state if isinstance(state, dict) and state.get("tag") == self.tag else None

    def save(self, state: dict) -> None:
        """Write ``state`` under a temporary name, then rename it into place."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Named as the run directory's other temporaries, which a later run removes if this process dies.
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        torch.save({**state, "tag": self.tag}, tmp)
        os.replace(tmp, self.path)


def _cpu(state: dict) -> dict:
    """A state dict with every tensor copied to the CPU (nested dicts and lists followed)."""
    if isinstance(state, dict):
        return {k: _cpu(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_cpu(v) for v in state]
    return state.detach().to("cpu", copy=True) if isinstance(state, torch.Tensor) else state


@dataclass
class ValidationPart:
    """Images (N, H, W, C) uint8 and labels of a validation part; ``clips`` for clip models."""

    images: np.ndarray
    labels: np.ndarray
    clips: Clips | None = None


class _Validator:
    """Loss and accuracy of the model on a validation part, held on the device as uint8."""

    def __init__(self, part: ValidationPart, device: torch.device, channels_last: bool, batch: int = 256):
        self.x = images_to_device(part.images, device)
        rows = np.arange(len(part.labels)) if part.clips is None else part.clips.rows
        self.items = torch.as_tensor(rows, device=device)
        first = rows if part.clips is None else rows[:, 0]
        self.y = torch.as_tensor(part.labels[first], dtype=torch.long, device=device)
        self.channels_last, self.device = channels_last, device
        self.batch = batch if part.clips is None else max(1, batch // part.clips.length)

    @torch.no_grad()
    def __call__(self, net: nn.Module, precision: str) -> tuple[float, float]:
        net.eval()
        loss, correct = 0.0, 0
        for start in range(0, len(self.items), self.batch):
            x = batch_input(self.x, self.items[start:start + self.batch], self.channels_last)
            y = self.y[start:start + self.batch]
            with autocast(self.device, precision):
                logits = net(x).float()
            loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
        net.train()
        return loss / len(self.y), correct / len(self.y)


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 images (N, H, W, C), scaled to [0, 1].

    Sums run over chunks of images in float64, so memory stays at one chunk's copy.
    """
    total = np.zeros(images.shape[-1])
    squares = np.zeros(images.shape[-1])
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk].reshape(-1, images.shape[-1]).astype(np.float64)
        total += block.sum(0)
        squares += np.square(block).sum(0)
    count = images.size // images.shape[-1]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return (torch.tensor(mean / 255, dtype=torch.float32),
            torch.tensor(np.maximum(std / 255, 1e-3), dtype=torch.float32))


def optimizer_for(recipe: Recipe, params) -> torch.optim.Optimizer:
    """The optimiser ``recipe`` names over ``params``. Adam and AdamW run torch's fused kernel, on
    the CPU as on CUDA: for res-bilstm-fusion (1.7 M parameters in 45 tensors, one thread) a step
    took 0.76 ms against 5.45 ms for the default multi-tensor (foreach) one, and one epoch of
    ``fit`` at the paper's batch of 4 ran 1.09 × as fast (``benchmarks/optimizer_kernels.py``)."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay, nesterov=True)
    optimizer = torch.optim.AdamW if recipe.optimizer == "adamw" else torch.optim.Adam
    return optimizer(params, lr=recipe.lr, weight_decay=recipe.weight_decay, fused=True)


def _not_finite(loss: float, logits: torch.Tensor, epoch: int, step: int, lr: float) -> str:
    """Why training stopped on a non-finite loss, and what to try: before any update the model
    itself emits it; after some, the steps were too large."""
    where = f"training loss became {loss} at epoch {epoch + 1}, step {step + 1}"
    if epoch == 0 and step == 0:
        finite = "finite" if bool(torch.isfinite(logits).all()) else "not finite"
        return (f"{where}, before any weight update: the model's untrained output is already {finite} "
                "there, so the model (or its input) is at fault, not the learning rate; check its "
                "forward pass and initialisation.")
    return f"{where}; lower the learning rate (--lr, now {lr})."


def fit(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    recipe: Recipe,
    *,
    device: torch.device,
    precision: str,
    seed: int,
    clips: Clips | None = None,
    soft_labels: np.ndarray | None = None,
    on_epoch: EpochCallback | None = None,
    accumulation: int = 1,
    compile_mode: str = "none",
    channels_last: bool = False,
    validation: ValidationPart | None = None,
    checkpoint: Checkpoint | None = None,
) -> FitResult:
    """Train ``model`` on the training part (uint8 images (N, H, W, C), int labels).

    With ``clips`` (from ``Dataset.clips()`` of the same part) the model is trained on clips,
    each labelled with its frames' label; otherwise on single images. With ``soft_labels``
    (N, n_classes) the loss is cross-entropy against those distributions (``labels`` still
    gives the training accuracy).

    Each optimiser step accumulates gradients over ``accumulation`` consecutive batches of
    ``recipe.batch_size`` samples, each batch's loss weighted by its share of the group, so a
    step follows the mean loss over ``recipe.batch_size * accumulation`` samples (fewer in the
    epoch's last group).

    ``compile_mode`` other than ``"none"`` trains through ``torch.compile`` with that mode
    (``"default"``, ``"reduce-overhead"``: CUDA graphs, for small launch-bound batches such as
    the paper's 4; ``"max-autotune"``); prediction uses the uncompiled module.

    ``channels_last`` trains in that memory format on the CPU too (always on CUDA).

    With ``validation`` (rows of the training side that ``images`` does not hold) the loss and
    accuracy on it are recorded after every epoch; under ``recipe.selection == "best"`` the
    returned weights are those of the epoch with the best validation accuracy (lower loss
    breaks ties, then the earlier epoch), and ``recipe.patience`` > 0 stops training after that
    many epochs without a better one.

    With ``checkpoint`` the whole training state (weights, optimiser, schedule, loss scaler,
    random generators, curves, the best epoch so far) is saved after epochs, and a fit whose
    checkpoint holds a saved state continues after its epoch: on the CPU the result is
    bit-identical to an uninterrupted fit.
    """
    if accumulation < 1:
        raise ValueError(f"accumulation must be an integer >= 1, got {accumulation}.")
    if recipe.selection == "best" and validation is None:
        raise ValueError("Recipe.selection 'best' needs a validation part (fit(validation=...)).")
    started = time.perf_counter()
    generator = seed_everything(seed)
    mean, std = channel_stats(images)
    # Non-square images are resized to a square of their height unless the recipe sets a size.
    net = Preprocessed(model, mean, std, recipe.input_size or images.shape[1]).to(device)
    channels_last = use_channels_last(device, channels_last)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    forward = net if compile_mode == "none" else torch.compile(
        net, mode=None if compile_mode == "default" else compile_mode)
    x_all = images_to_device(images, device)
    if clips is None:
        items = torch.arange(len(labels), device=device)
        frames = 1
    else:
        items = torch.as_tensor(clips.rows, device=device)
        frames = clips.length
    y_all = torch.as_tensor(labels, dtype=torch.long, device=device)
    first = items if clips is None else items[:, 0]
    y_items = y_all[first]
    targets = y_items if soft_labels is None else torch.as_tensor(soft_labels, device=device)[first]
    optimizer = optimizer_for(recipe, net.parameters())
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
        if recipe.schedule == "cosine" else None
    )
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    n = len(items)
    batch = min(recipe.batch_size, n)
    # A last batch of one sample breaks batch norm in training mode; fold it into the epoch's end.
    steps = max(1, n // batch if n % batch == 1 else math.ceil(n / batch))
    # Samples per optimiser step, one per group of ``accumulation`` batches (the last takes the rest).
    group_sizes = [(n if first + accumulation >= steps else (first + accumulation) * batch) - first * batch
                   for first in range(0, steps, accumulation)]
    curves: dict[str, list[float]] = {"train_loss": [], "train_accuracy": []}
    validator = None if validation is None else _Validator(validation, device, channels_last)
    if validator is not None:
        curves.update(val_loss=[], val_accuracy=[])
    best: tuple[float, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch = selected = epochs_run = 0
    start = 0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        net.load_state_dict(saved["net"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        if device.type == "cuda" and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"], device)
        curves = saved["curves"]
        best = tuple(saved["best"]) if saved["best"] is not None else None
        best_state, best_epoch = saved["best_state"], saved["best_epoch"]
        start = epochs_run = selected = saved["epoch"]
        started -= saved["seconds"]
    last_save = time.perf_counter()
    net.train()
    for epoch in range(start, recipe.epochs):
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum, correct = 0.0, 0
        for step in range(steps):
            idx = order[step * batch:] if step == steps - 1 else order[step * batch:(step + 1) * batch]
            x = batch_input(x_all, items[idx], channels_last)
            if recipe.augment.active:
                x = augment_batch(x.flatten(0, x.ndim - 4), recipe.augment, generator, frames).view_as(x)
                if channels_last:
                    x = as_channels_last(x)
            y = y_items[idx]
            with autocast(device, precision):
                logits = forward(x)
                loss = F.cross_entropy(logits.float(), targets[idx])
            if not torch.isfinite(loss):
                raise FloatingPointError(_not_finite(loss.item(), logits, epoch, step, recipe.lr))
            group, place = divmod(step, accumulation)
            if place == 0:
                optimizer.zero_grad(set_to_none=True)
            weight = len(idx) / group_sizes[group]
            scaler.scale(loss if weight == 1 else loss * weight).backward()
            if place == accumulation - 1 or step == steps - 1:
                scaler.step(optimizer)
                scaler.update()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        if scheduler is not None:
            scheduler.step()
        curves["train_loss"].append(loss_sum / n)
        curves["train_accuracy"].append(correct / n)
        epochs_run = selected = epoch + 1
        if validator is not None:
            val_loss, val_accuracy = validator(net, precision)
            curves["val_loss"].append(val_loss)
            curves["val_accuracy"].append(val_accuracy)
        stop = False
        if recipe.selection == "best":
            if best is None or (val_accuracy, -val_loss) > best:
                best, best_epoch = (val_accuracy, -val_loss), epoch + 1
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            elif recipe.patience and epoch + 1 - best_epoch >= recipe.patience:
                stop = True
        if (checkpoint is not None and not stop and epoch + 1 < recipe.epochs
                and time.perf_counter() - last_save >= checkpoint.every):
            checkpoint.save(_cpu({
                "epoch": epoch + 1, "net": net.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(), "scaler": scaler.state_dict(),
                "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "curves": curves, "best": None if best is None else list(best), "best_state": best_state,
                "best_epoch": best_epoch, "seconds": time.perf_counter() - started,
            }))
            last_save = time.perf_counter()
        if on_epoch is not None:
            on_epoch(epoch + 1, recipe.epochs, loss_sum / n)
        if stop:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
        selected = best_epoch
    net.eval()
    normalisation = {"mean": mean.tolist(), "std": std.tolist(), "fitted_on_samples": len(labels)}
    return FitResult(net, curves, normalisation, time.perf_counter() - started, selected, epochs_run,
                     fitted={NORMALISATION: np.arange(len(images))},
                     resumed_after=None if saved is None else saved["epoch"])
