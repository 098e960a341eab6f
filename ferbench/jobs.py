"""A job is one (model, data set, fold); ``run_job`` fits it, then predicts, then scores it.

The test part is cut from the data set only after ``fit`` has returned: training code never
receives it (invariant 1 of an honest evaluation).
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import json
import math
import platform
import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ferbench.data import Dataset
from ferbench.engine.device import resolve_precision, seed_everything, use_channels_last
from ferbench.engine.predict import predict_proba
from ferbench.engine.train import EpochCallback, FitResult, ValidationPart, fit
from ferbench.factory import count_flops, count_parameters
from ferbench.leakage.report import LeakageReport
from ferbench.protocols import FoldPlan, inner_split
from ferbench.specs import MetricSpec, ModelSpec, PublishedResult, Recipe

SCHEMA_VERSION = 1

#: Recipe fields added after results were first stored, with the value those results ran with.
_EARLIER_RECIPE = {"precision": "fp32", "selection": "last", "val_fraction": 0.1, "patience": 0}


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from any parts, stable across processes and platforms (not ``hash()``)."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class Job:
    """What to run: one model on one fold of one data set's fold plan."""

    model: str
    recipe_name: str
    recipe: Recipe
    dataset: str
    fingerprint: str
    protocol: str
    k: int
    fold: int
    run_seed: int
    plan_digest: str
    pretrained: bool = False
    compile_mode: str = "none"

    @property
    def seed(self) -> int:
        """The job's seed: from (run seed, data set, fold) only, so it is the same wherever it runs."""
        return derive_seed(self.run_seed, self.dataset, self.fold)

    def config(self) -> dict[str, Any]:
        """Everything that determines the result, as plain JSON."""
        recipe = self.recipe.to_dict()
        # Recipe fields added later are left out at the value every earlier result ran with
        # (fp32 on the CPU, the last epoch), so those results keep their hashes.
        for name, earlier in _EARLIER_RECIPE.items():
            if recipe[name] == earlier:
                del recipe[name]
        return {
            "model": self.model,
            "recipe_name": self.recipe_name,
            "recipe": recipe,
            "dataset": self.dataset,
            "dataset_fingerprint": self.fingerprint,
            "protocol": self.protocol,
            "k": self.k,
            "fold": self.fold,
            "run_seed": self.run_seed,
            "job_seed": self.seed,
            "plan_digest": self.plan_digest,
            # Only when set, so results of runs from before this option keep their hashes.
            **({"pretrained": True} if self.pretrained else {}),
            **({"compile_mode": self.compile_mode} if self.compile_mode != "none" else {}),
        }

    @property
    def config_hash(self) -> str:
        """SHA-256 of :meth:`config`; a stored result counts as done only if this matches."""
        return hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()


def plan_digest(plan: FoldPlan) -> str:
    """SHA-256 of a fold plan's assignment and data set fingerprint."""
    digest = hashlib.sha256(plan.fingerprint.encode())
    digest.update(plan.test_fold.astype("<i8").tobytes())
    return digest.hexdigest()


@dataclass
class JobResult:
    """What a job produced: metrics, per-sample predictions and how it ran."""

    job: Job
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    test_index: np.ndarray | None = None
    y_true: np.ndarray | None = None
    proba: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@functools.cache
def _commit() -> str:
    """The git commit of the ferbench source tree ("+dirty" with local changes), or "unknown"."""
    source = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "ferbench_commit": _commit()}
    for package in ("ferbench", "torch", "numpy", "scikit-learn"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def score(metrics: list[MetricSpec], y_true: np.ndarray, proba: np.ndarray,
          info: dict[str, Any]) -> dict[str, float]:
    """Every metric on one fold; a metric that raises scores NaN and its error goes in ``info``."""
    scores = {}
    for metric in metrics:
        try:
            scores[metric.name] = float(metric.fn(y_true, proba))
        except Exception as error:
            scores[metric.name] = float("nan")
            info.setdefault("metric_errors", {})[metric.name] = f"{type(error).__name__}: {error}"
    return scores


def model_card(spec: ModelSpec, model: nn.Module, channels: int, image_size: int,
               clip_length: int | None = None) -> dict[str, Any]:
    """The model card of a trained ``model``: the spec's card fields, and the parameter count and
    forward FLOPs per image (per frame for clip models) computed at the input the job used.
    FLOPs are None where torch's counter cannot run the model."""
    shape = (1, channels, image_size, image_size)
    try:
        flops = (count_flops(model, shape) if clip_length is None
                 else count_flops(model, (1, clip_length, *shape[1:])) / clip_length)
    except Exception:  # noqa: BLE001 - a model the counter cannot trace still has a card
        flops = None
    return {"parameters": count_parameters(model), "flops": flops, "input_size": image_size,
            "channels": channels, "input": spec.input, **dataclasses.asdict(spec.card)}


def _fit_retrying_oom(job: Job, build: Callable[[], nn.Module], train: Callable[..., FitResult],
                      info: dict[str, Any]) -> FitResult:
    """Build the model and ``train(model, recipe=, accumulation=)`` it; once more if out of memory.

    The retry frees the failed attempt, rebuilds the model (``build`` seeds it, so it starts
    from the same weights) and trains with batches of ``batch_size // 2`` accumulated over
    ``ceil(batch_size / half)`` steps per optimiser step: the effective batch is the same for an
    even batch size, a little larger for an odd one. ``info["oom_retry"]`` records the retry.
    The job's recipe (its config) stays the requested one. A second out-of-memory error, or
    one at a batch size of 1, propagates.
    """
    model = build()
    info["parameters"] = count_parameters(model)
    try:
        return train(model, recipe=job.recipe, accumulation=1)
    except torch.OutOfMemoryError as error:
        if job.recipe.batch_size < 2:
            raise
        message = (str(error).splitlines() or [""])[0]
    # Outside the except block, so the failed attempt's traceback (holding its tensors) is gone.
    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    half = job.recipe.batch_size // 2
    accumulation = math.ceil(job.recipe.batch_size / half)
    info["oom_retry"] = {"error": message, "batch_size": half, "accumulation": accumulation,
                         "effective_batch_size": half * accumulation}
    return train(build(), recipe=job.recipe.with_overrides(batch_size=half), accumulation=accumulation)


def run_job(
    job: Job,
    dataset: Dataset,
    plan: FoldPlan,
    model_spec: ModelSpec,
    metrics: list[MetricSpec],
    device: torch.device,
    on_epoch: EpochCallback | None = None,
    leakage: LeakageReport | None = None,
    published: PublishedResult | None = None,
    cross_dataset: str | None = None,
) -> JobResult:
    """Fit on the fold's training part, predict its test part, score the predictions.

    ``leakage`` (the audit of ``plan``) marks the result leaky when it found a leak; without
    one, only a leaky protocol does.

    A fit that runs out of memory is retried once from the same initial weights at half the
    batch size with gradient accumulation (see ``_fit_retrying_oom``); ``info["oom_retry"]``
    then says so, while the job's config keeps the requested recipe.

    ``published`` (the data set spec's best credible published accuracy) is recorded as the
    result's sanity band, which a leaderboard compares the scores with. ``cross_dataset`` (why
    the model's pretraining data holds this data set's images) marks the result leaky.

    The result's ``card`` holds the model card's fields with the parameter count and forward
    FLOPs computed at the input size the job used.

    An exception inside the job becomes a ``failed`` result carrying the error, so one bad
    job never loses the others.
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    precision = resolve_precision(job.recipe.precision, device, model_spec.cpu_bf16)
    channels_last = use_channels_last(device, model_spec.channels_last)
    info: dict[str, Any] = {
        "started": started,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "precision": precision,
        "precision_requested": job.recipe.precision,
        "channels_last": channels_last,
        "leaky_protocol": plan.leaky,
        "leaky": leakage.leaky if leakage is not None else plan.leaky,
        "leakage": {} if leakage is None else {c.name: c.status for c in leakage.checks},
        "selection": "fixed budget: last epoch",
        "classes": list(dataset.classes),
        "versions": _versions(),
    }
    if published is not None:
        info["sanity_band"] = dataclasses.asdict(published)
    if dataset.face_crop is not None:
        info["face_crop"] = dataset.face_crop
    if cross_dataset is not None:
        info["leaky"] = True
        info["cross_dataset"] = cross_dataset
    try:
        split = None
        if job.recipe.selection == "best":
            validation_seed = derive_seed(job.seed, "validation")
            split = inner_split(dataset, plan, job.fold, job.recipe.val_fraction, validation_seed)
        train = dataset.subset(plan.train_index(job.fold) if split is None else split.fit)
        height, _, channels = dataset.image_shape
        image_size = job.recipe.input_size or height
        train_clips = train.clips() if model_spec.input == "clip" else None
        validation = None
        if split is not None:
            val = dataset.subset(split.validation)
            validation = ValidationPart(val.images, val.labels,
                                        None if train_clips is None else val.clips(train_clips.length))

        def build() -> nn.Module:
            seed_everything(job.seed)  # the model's initial weights come from the job's seed
            return model_spec.build(
                num_classes=len(dataset.classes), in_chans=channels, image_size=image_size,
                **({"pretrained": True} if job.pretrained else {}),
            )

        fitted = _fit_retrying_oom(job, build, functools.partial(
            fit, images=train.images, labels=train.labels, clips=train_clips,
            soft_labels=train.soft_labels, device=device, precision=precision, seed=job.seed,
            on_epoch=on_epoch, compile_mode=job.compile_mode, channels_last=channels_last,
            validation=validation,
        ), info)
        del train, validation
        info["card"] = model_card(model_spec, fitted.model.model, channels, image_size,
                                  None if train_clips is None else train_clips.length)
        if split is not None:
            stop = f", early stopping after {job.recipe.patience}" if job.recipe.patience else ""
            info["selection"] = f"best validation accuracy{stop}; validation part: {split.source}"
            info["validation"] = {"source": split.source, "seed": validation_seed,
                                  "n_fit": int(len(split.fit)), "n_validation": int(len(split.validation)),
                                  "selected_epoch": fitted.selected_epoch, "epochs_run": fitted.epochs_run}
        test_index = plan.test_index(job.fold)
        test = dataset.subset(test_index)
        test_clips = None
        if train_clips is not None:
            test_clips = test.clips(train_clips.length)
            info["clips"] = {"length": train_clips.length, "train": len(train_clips),
                             "test": len(test_clips),
                             "rule": "test rows take the prediction of their clip"}
        predicted = time.perf_counter()
        proba = predict_proba(fitted.model, test.images, device=device, precision=precision,
                              clips=test_clips, channels_last=channels_last)
        info.update(
            n_train=int(len(plan.train_index(job.fold))),
            n_test=int(len(test_index)),
            curves=fitted.curves,
            normalisation=fitted.normalisation,
            fit_seconds=round(fitted.seconds, 3),
            predict_seconds=round(time.perf_counter() - predicted, 3),
        )
        scores = score(metrics, test.labels, proba, info)
    except Exception as error:
        info["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return JobResult(
            job, "failed", info=info,
            error=f"{type(error).__name__}: {error}\n\n{traceback.format_exc()}",
        )
    info["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return JobResult(job, "ok", scores, test_index, test.labels, proba, info)
