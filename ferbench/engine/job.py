"""Where a job runs in its process: ``run_job`` fits, then predicts, then records.

The test part is cut from the data set only after ``fit`` has returned: training code never
receives it (invariant 1 of an honest evaluation). What ``fit`` fitted is recorded with the
rows it was fitted on, and checked against the test part (invariant 2).
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
import platform
import subprocess
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ferbench.data import Clips, Dataset
from ferbench.engine.device import resolve_precision, seed_everything, use_channels_last
from ferbench.engine.predict import predict_proba
from ferbench.engine.stacked import StackingFallback, fit_stacked, stacking_skipped
from ferbench.engine.train import Checkpoint, EpochCallback, FitResult, ValidationPart, fit
from ferbench.engine.weights import load_init
from ferbench.pretraining import PRETRAINING_CHECK
from ferbench.factory import count_flops, count_parameters, create_model
from ferbench.job import Job, derive_seed
from ferbench.leakage.fitting import fitted_rows
from ferbench.leakage.report import LeakageReport
from ferbench.protocols import FoldPlan, inner_split
from ferbench.record import JobRecord, JobResult, new_record
from ferbench.scoring import metric_info, score
from ferbench.specs import MetricSpec, ModelSpec, PublishedResult


#: The parts of the source tree that decide a result: a change elsewhere (a board's README, a run
#: directory's own files, a benchmark) does not make a commit "+dirty".
CODE = ("ferbench", "plugins", "baselines", "pyproject.toml")


@functools.cache
def _commit(source: Path = Path(__file__).resolve().parents[2]) -> str:
    """The git commit of the ferbench source tree ``source``, "+dirty" when its code (:data:`CODE`:
    changed or new files) differs from it, or "unknown"."""
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--", *CODE],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def software_versions() -> dict[str, str]:
    """Python, ferbench (version and commit), torch, NumPy and scikit-learn versions, as records store them."""
    found = {"python": platform.python_version(), "ferbench_commit": _commit()}
    for package in ("ferbench", "torch", "numpy", "scikit-learn"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


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
                      record: JobRecord, checkpoint: Path | None = None) -> FitResult:
    """Build the model and ``train(model, recipe=, accumulation=)`` it; once more if out of memory.

    The retry frees the failed attempt, rebuilds the model (``build`` seeds it, so it starts
    from the same weights) and trains with batches of ``batch_size // 2`` accumulated over
    ``ceil(batch_size / half)`` steps per optimiser step: the effective batch is the same for an
    even batch size, a little larger for an odd one. ``record.oom_retry`` records the retry.
    The job's recipe (its config) stays the requested one. A second out-of-memory error, or
    one at a batch size of 1, propagates. With ``checkpoint`` (a file) each attempt keeps its
    training state there after epochs and resumes from it (see :class:`Checkpoint`).
    """
    model = build()
    record.parameters = count_parameters(model)
    try:
        return train(model, recipe=job.recipe, accumulation=1, checkpoint=_checkpoint(job, checkpoint, 1))
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
    record.oom_retry = {"error": message, "batch_size": half, "accumulation": accumulation,
                        "effective_batch_size": half * accumulation}
    return train(build(), recipe=job.recipe.with_overrides(batch_size=half), accumulation=accumulation,
                 checkpoint=_checkpoint(job, checkpoint, accumulation))


#: Seconds between a job's checkpoints (written after the first epoch that ends this long after
#: the last one): at most this much training is redone after a kill.
CHECKPOINT_EVERY = 60.0


def _checkpoint(job: Job, path: Path | None, accumulation: int) -> Checkpoint | None:
    """The checkpoint of one attempt at ``job`` (its configuration and gradient accumulation)."""
    return None if path is None else Checkpoint(path, f"{job.config_hash}/accumulation={accumulation}",
                                                CHECKPOINT_EVERY)


def check_output_shape(model: nn.Module, name: str, num_classes: int) -> None:
    """Make ``model``'s first forward pass check its output against (batch, ``num_classes``):
    a model that returns another shape (10 logits for 7 classes, say) would otherwise train
    and be scored wrongly, or fail later with an error that does not say why."""

    def check(module: nn.Module, args: tuple, output: object) -> None:
        handle.remove()
        expected = (args[0].shape[0], num_classes)
        shape = tuple(getattr(output, "shape", ()))
        if shape != expected:
            raise ValueError(f"model {name!r} returned an output of shape {shape or type(output).__name__} "
                             f"for a batch of {expected[0]}; expected {expected} (batch, classes: one logit "
                             f"per class of the data set). Check its build(num_classes=...).")

    handle = model.register_forward_hook(check)


@dataclass(frozen=True)
class JobContext:
    """What a job is run against besides its data: the model's spec, the metrics, the device,
    and what the coordinator's checks found.

    ``leakage`` (the audit of the plan) marks the record leaky when it found a leak; without
    one, only a leaky protocol does. ``published`` (the data set spec's best credible published
    accuracy) is recorded as the sanity band. ``cross_dataset`` (why the model's pretraining
    data holds this data set's images) marks the record leaky, as ``pretraining_copies`` above 0
    does (test images of this fold with a copy in the ``--init`` pretraining rows; None where
    no such audit applies).
    """

    model_spec: ModelSpec
    metrics: list[MetricSpec]
    device: torch.device
    leakage: LeakageReport | None = None
    published: PublishedResult | None = None
    cross_dataset: str | None = None
    pretraining_copies: int | None = None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _started(job: Job, plan: FoldPlan, dataset: Dataset, context: JobContext) -> JobRecord:
    """The record as it stands before training: identity, how it runs, the leakage verdict."""
    device = context.device
    leakage = context.leakage
    checks = {} if leakage is None else {c.name: c.status for c in leakage.checks}
    cross = context.cross_dataset
    if context.pretraining_copies is not None:
        checks[PRETRAINING_CHECK] = "leak" if context.pretraining_copies else "clean"
        if context.pretraining_copies and cross is None:
            cross = (f"{PRETRAINING_CHECK}: {context.pretraining_copies} test image(s) of this fold have an "
                     f"exact or near copy among the {job.init.dataset} images the model was pretrained on")
    return new_record(
        job, started=_now(), device=str(device), threads=torch.get_num_threads(),
        precision=resolve_precision(job.recipe.precision, device, context.model_spec.cpu_bf16),
        precision_requested=job.recipe.precision,
        channels_last=use_channels_last(device, context.model_spec.channels_last),
        leaky_protocol=plan.leaky,
        leaky=(leakage.leaky if leakage is not None else plan.leaky) or cross is not None,
        leakage=checks,
        cross_dataset=cross,
        selection="fixed budget: last epoch",
        classes=list(dataset.classes),
        metric_info={spec.name: metric_info(spec) for spec in context.metrics},
        versions=software_versions(),
        sanity_band=None if context.published is None else {
            key: getattr(context.published, key) for key in ("accuracy", "protocol", "source")},
        face_crop=dataset.face_crop,
    )


def _build(job: Job, spec: ModelSpec, dataset: Dataset, record: JobRecord, image_size: int) -> nn.Module:
    """The job's model, as training starts it: its initial weights from the job's seed (or its
    ``--init`` file, recorded), its output shape checked on the first forward pass."""
    seed_everything(job.seed)
    model = create_model(spec, num_classes=len(dataset.classes), in_chans=dataset.image_shape[2],
                         image_size=image_size, pretrained=job.pretrained or None)
    if job.init is not None:
        record.init = load_init(model, job.init, spec.name, list(dataset.classes))
    check_output_shape(model, spec.name, len(dataset.classes))
    return model


def _train(job: Job, dataset: Dataset, plan: FoldPlan, context: JobContext, record: JobRecord,
           on_epoch: EpochCallback | None, checkpoint: Path | None = None
           ) -> tuple[FitResult, np.ndarray, Clips | None]:
    """Fit the model on the fold's training part (minus its validation part, with
    ``selection=best``); returns the fit, the data set rows it was handed, and a clip model's
    training clips."""
    spec = context.model_spec
    split = None
    if job.recipe.selection == "best":
        validation_seed = derive_seed(job.seed, "validation")
        split = inner_split(dataset, plan, job.fold, job.recipe.val_fraction, validation_seed)
    rows = plan.train_index(job.fold) if split is None else split.fit
    train = dataset.subset(rows)
    height, _, channels = dataset.image_shape
    image_size = job.recipe.input_size or height
    train_clips = train.clips() if spec.input == "clip" else None
    validation = None
    if split is not None:
        val = dataset.subset(split.validation)
        validation = ValidationPart(val.images, val.labels,
                                    None if train_clips is None else val.clips(train_clips.length))

    fitted = _fit_retrying_oom(job, functools.partial(_build, job, spec, dataset, record, image_size), functools.partial(
        fit, images=train.images, labels=train.labels, clips=train_clips,
        soft_labels=train.soft_labels, device=context.device, precision=record.precision, seed=job.seed,
        on_epoch=on_epoch, compile_mode=job.compile_mode, channels_last=record.channels_last,
        validation=validation,
    ), record, checkpoint)
    record.resumed_after = fitted.resumed_after
    record.card = model_card(spec, fitted.model.model, channels, image_size,
                             None if train_clips is None else train_clips.length)
    if split is not None:
        stop = f", early stopping after {job.recipe.patience}" if job.recipe.patience else ""
        record.selection = f"best validation accuracy{stop}; validation part: {split.source}"
        record.validation = {"source": split.source, "seed": validation_seed,
                             "n_fit": int(len(split.fit)), "n_validation": int(len(split.validation)),
                             "selected_epoch": fitted.selected_epoch, "epochs_run": fitted.epochs_run}
    return fitted, rows, train_clips


def run_job(job: Job, dataset: Dataset, plan: FoldPlan, context: JobContext,
            on_epoch: EpochCallback | None = None, checkpoint: Path | None = None) -> JobResult:
    """Fit on the fold's training part, check what was fitted, predict the test part, score it.

    A fit that runs out of memory is retried once from the same initial weights at half the
    batch size with gradient accumulation (see ``_fit_retrying_oom``). An exception inside the
    job becomes a ``failed`` record carrying the error, so one bad job never loses the others.
    ``checkpoint``: a file where training keeps its state, so a killed job resumes mid-fit.
    """
    record = _started(job, plan, dataset, context)
    try:
        fitted, train_rows, train_clips = _train(job, dataset, plan, context, record, on_epoch, checkpoint)
        return _evaluate(job, dataset, plan, context, record, fitted, train_rows, train_clips)
    except Exception as error:  # noqa: BLE001 - recorded, never lost
        return _failed(job, record, error)


def _failed(job: Job, record: JobRecord, error: Exception) -> JobResult:
    """The job's result when ``error`` stopped it: its record as far as it got, and the error."""
    record.finished = _now()
    record.error = f"{type(error).__name__}: {error}\n\n{traceback.format_exc()}"
    return JobResult(job, record)


def _evaluate(job: Job, dataset: Dataset, plan: FoldPlan, context: JobContext, record: JobRecord,
              fitted: FitResult, train_rows: np.ndarray, train_clips: Clips | None) -> JobResult:
    """Check what ``fit`` fitted against the fold's test part, then predict and score that part."""
    test_index = plan.test_index(job.fold)
    record.fitted = fitted_rows(fitted.fitted, train_rows, test_index)
    if any(statistic.test_rows for statistic in record.fitted):
        record.leaky = True
        record.leakage = {**record.leakage, "fitted on test": "leak"}
    test = dataset.subset(test_index)
    test_clips = None
    if train_clips is not None:
        test_clips = test.clips(train_clips.length)
        record.clips = {"length": train_clips.length, "train": len(train_clips), "test": len(test_clips),
                        "rule": "test rows take the prediction of their clip"}
    predicted = time.perf_counter()
    proba = predict_proba(fitted.model, test.images, device=context.device, precision=record.precision,
                          clips=test_clips, channels_last=record.channels_last)
    record.n_train = int(len(plan.train_index(job.fold)))
    record.n_test = int(len(test_index))
    record.curves = fitted.curves
    record.normalisation = fitted.normalisation
    record.fit_seconds = round(fitted.seconds, 3)
    record.predict_seconds = round(time.perf_counter() - predicted, 3)
    record.metrics, record.metric_errors = score({m.name: m.fn for m in context.metrics}, test.labels, proba)
    record.status = "ok"
    record.finished = _now()
    return JobResult(job, record, test_index, test.labels, proba)


def run_stacked(jobs: list[Job], dataset: Dataset, plan: FoldPlan, contexts: list[JobContext],
                on_epoch: EpochCallback | None = None) -> list[JobResult]:
    """Fit the folds ``jobs`` of one model, recipe and fold plan side by side
    (:func:`ferbench.engine.stacked.fit_stacked`, each fold from its own seed, data order and
    augmentation), then check, predict and score each fold as :func:`run_job` does
    (``contexts``: one per job). Each record's ``stacked`` names the folds trained together;
    where the model or recipe cannot be stacked, the folds train one at a time and it says why.
    A failure in the shared fit fails every fold; one in a fold's scoring fails that fold.
    """
    spec = contexts[0].model_spec
    recipe = jobs[0].recipe
    stack = {"folds": [job.fold for job in jobs]}
    skipped = "clip models are not stacked" if spec.input == "clip" else stacking_skipped(recipe)
    if skipped is not None:
        results = [run_job(job, dataset, plan, context, on_epoch) for job, context in zip(jobs, contexts)]
        for result in results:
            result.record.stacked = {**stack, "trained_together": 1, "fallback": skipped}
        return results
    records = [_started(job, plan, dataset, context) for job, context in zip(jobs, contexts)]
    image_size = recipe.input_size or dataset.image_shape[0]
    rows = [plan.train_index(job.fold) for job in jobs]
    try:
        models, parts, soft = [], [], []
        for job, record, train_rows in zip(jobs, records, rows):
            train = dataset.subset(train_rows)
            parts.append((train.images, train.labels))
            soft.append(train.soft_labels)
            models.append(_build(job, spec, dataset, record, image_size))
            record.parameters = count_parameters(models[-1])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StackingFallback)
            fits = fit_stacked(models, parts, recipe, device=contexts[0].device, precision=records[0].precision,
                               seeds=[job.seed for job in jobs], soft_labels=soft,
                               channels_last=bool(records[0].channels_last),
                               on_epoch=None if on_epoch is None else
                               lambda epoch, epochs, losses: on_epoch(epoch, epochs, float(np.mean(losses))))
    except Exception as error:  # noqa: BLE001 - every fold of the stack is recorded as failed
        return [_failed(job, record, error) for job, record in zip(jobs, records)]
    fallback = next((str(w.message) for w in caught if issubclass(w.category, StackingFallback)), None)
    results = []
    channels = dataset.image_shape[2]
    for job, record, fitted, train_rows, context in zip(jobs, records, fits, rows, contexts):
        record.stacked = {**stack, "trained_together": fitted.stacked,
                          **({"fallback": fallback} if fallback else {})}
        try:
            record.card = model_card(spec, fitted.model.model, channels, image_size)
            results.append(_evaluate(job, dataset, plan, context, record, fitted, train_rows, None))
        except Exception as error:  # noqa: BLE001 - recorded, never lost
            results.append(_failed(job, record, error))
    return results
