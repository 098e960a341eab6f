"""The main job: every selected model on every selected data set, fold by fold, resumable.

``run_benchmark`` validates every name first, loads each data set once, saves its fold plan,
then runs the jobs that the run directory does not already hold. Jobs run fold by fold with
the models side by side, so an interrupted run leaves every model at a similar point.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ferbench.engine.device import resolve_precision, select_device
from ferbench.engine.train import COMPILE_MODES
from ferbench.errors import UserError
from ferbench.factory import load_dataset, with_face_crop
from ferbench.execution import Outcome, Task, remember_dataset
from ferbench.jobs import Job, plan_digest
from ferbench.leakage import DuplicateSearch, LeakageReport, audit
from ferbench.leakage.crossdata import pretraining_overlap
from ferbench.protocols import OFFICIAL, assign_folds, check_protocol
from ferbench.registry import get_registry
from ferbench.specs import ModelSpec, Recipe
from ferbench.store import RunStore, load_jobs

#: Recipe fields that ``ferbench run`` can override from the command line.
OVERRIDABLE = ("epochs", "batch_size", "lr", "weight_decay", "optimizer", "schedule", "input_size",
               "precision", "selection", "val_fraction", "patience")


class Reporter:
    """Progress callbacks; the default reports nothing. The CLI draws rich progress bars."""

    def note(self, message: str) -> None:
        """Something the user should know that is not an error (e.g. a skipped combination)."""

    def planned(self, total: int, done: int) -> None:
        """``total`` jobs requested, ``done`` of them already in the run directory."""

    def job_started(self, job: Job) -> None:
        """A job begins training."""

    def epoch(self, epoch: int, epochs: int, loss: float) -> None:
        """An epoch of the current job finished."""

    def job_finished(self, outcome: Outcome) -> None:
        """A job's result was committed (``outcome.status`` is ``ok`` or ``failed``)."""


@dataclass
class RunOutcome:
    """What a call to :func:`run_benchmark` did, and the jobs it covers."""

    run_dir: Path
    ran: int
    skipped: int
    failed: list[Outcome] = field(default_factory=list)
    jobs: pd.DataFrame = field(default_factory=pd.DataFrame)


def resolve_recipe(spec: ModelSpec, name: str, overrides: Mapping[str, Any]) -> Recipe:
    """The model's recipe ``name`` with command-line overrides applied (None keeps the recipe's)."""
    if name not in spec.recipes:
        raise UserError(
            f"model {spec.name!r} has no recipe {name!r}; it has: {', '.join(sorted(spec.recipes))}."
        )
    unknown = set(overrides) - set(OVERRIDABLE)
    if unknown:
        raise UserError(f"cannot override recipe field(s) {sorted(unknown)}; overridable: {OVERRIDABLE}.")
    try:
        return spec.recipes[name].with_overrides(**overrides)
    except ValueError as error:
        raise UserError(f"model {spec.name!r}, recipe {name!r}: {error}") from None


def _refuse_to_replace(store: RunStore, jobs: list[Job]) -> None:
    """Finished results of another configuration in the same places are never silently replaced."""
    for job in jobs:
        record = store.differs(job)
        if record is None:
            continue
        old, new = record["config"], job.config()
        changed = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
        if "recipe" in changed:
            changed = {f"recipe.{k}": (changed["recipe"][0].get(k), v)
                       for k, v in changed["recipe"][1].items() if changed["recipe"][0].get(k) != v}
        details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise UserError(
            f"{store.job_path(job, '.json')} holds a finished result of another configuration "
            f"({details}). Use a new --out to keep both, or --force to replace it."
        )


def _check_pretrained(specs: list[ModelSpec]) -> None:
    """Fail before any data is loaded when a model has no pretrained weights to load."""
    for spec in specs:
        if "pretrained" not in inspect.signature(spec.build).parameters:
            raise UserError(f"model {spec.name!r} has no pretrained weights (its build() takes no "
                            "`pretrained`); drop --pretrained or leave this model out.")
        spec.build(num_classes=7, in_chans=1, image_size=48, pretrained=True)


def _refuse_leaky(reports: list[tuple[LeakageReport, Path]], cross: list[str], allow_leaky: bool) -> None:
    """Stop before any training when a plan leaks, or a model was pretrained on the images it
    would be tested on, and leaks were not allowed."""
    leaky = [(report, path) for report, path in reports if report.leaky]
    if not (leaky or cross) or allow_leaky:
        return
    lines = []
    for report, path in leaky:
        lines.append(f"{report.dataset} under --protocol {report.protocol} leaks (report: {path}):")
        lines += [f"  - {line}" for line in report.summary(warnings=False)]
    lines += [f"{line} (its model card's pretrained_on)" for line in cross]
    raise UserError(
        "\n".join(lines) + "\nA test image that the model has seen in training (itself, a copy, its "
        "clip or its subject) inflates the score. For an honest number use --protocol subject "
        "(whole subjects or clips per fold), or --protocol official where the data set has its own "
        "split (official-purged where that split itself holds copies of test images); to reproduce "
        "this protocol anyway, add --allow-leaky and every result is marked LEAKY."
    )


def run_benchmark(
    models: str | list[str] = "all",
    datasets: str | list[str] = "synthetic",
    *,
    protocol: str = "subject",
    folds: int = 10,
    seed: int = 0,
    out: str | Path | None = None,
    recipe: str = "default",
    overrides: Mapping[str, Any] | None = None,
    device: str = "auto",
    data_dirs: Mapping[str, str | Path] | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
    dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
    strict: bool = False,
    allow_leaky: bool = False,
    search: DuplicateSearch | None = None,
    pretrained: bool = False,
    executor: str = "local",
    executor_options: Mapping[str, Any] | None = None,
    compile_mode: str = "none",
    config_toml: str | None = None,
    face_crop: str | None = None,
) -> RunOutcome:
    """Train and evaluate ``models`` × ``datasets`` × ``folds`` into the run directory ``out``
    (default ``runs/<protocol>-k<folds>-s<seed>``).

    ``dataset_options`` maps a data set name to keyword options of its loader; ``strict`` is
    passed to every loader that takes it (skipped files and lines become errors); ``face_crop``
    (none, landmarks, detect) to every loader with a face step, where ``dataset_options`` does
    not set one.

    Every fold plan is audited for leakage (``search`` sets the near-duplicate detector) and
    its report kept under ``RUN_DIR/leakage/``. A leaky plan is refused unless ``allow_leaky``;
    its results are then marked leaky.

    ``pretrained`` builds every model with its pretrained weights, read from local files only;
    each model is built once before any data is loaded, so missing weights fail at once.

    ``compile_mode`` trains through ``torch.compile`` (``reduce-overhead``: CUDA graphs);
    it is part of each job's configuration.

    ``executor`` (a registered executor: ``local``, ``slurm``, ...) runs the jobs, created with
    ``executor_options`` (``local``: ``workers``, ``threads``). The run directory is locked
    for the whole call: a second run on it is refused while this one works.

    Finished jobs (same config hash) are skipped unless ``force``; failed jobs are retried.
    ``config_toml`` (the command line's options as TOML) is saved as ``RUN_DIR/config.toml``.
    """
    check_protocol(protocol, folds)
    if compile_mode not in COMPILE_MODES:
        raise UserError(f"--compile must be one of {', '.join(COMPILE_MODES)}; got {compile_mode!r}.")
    reporter = reporter or Reporter()
    if protocol in OFFICIAL and folds != 1:
        reporter.note(f"--protocol {protocol} has one fold (the data set's own split); --folds {folds} "
                      "is not used")
        folds = 1
    search = search or DuplicateSearch()
    registry = get_registry()
    overrides = dict(overrides or {})
    data_dirs = dict(data_dirs or {})
    model_specs = registry.select("model", models)
    dataset_specs = registry.select("dataset", datasets)
    registry.select("metric", "all")  # fails now, not after training, when no metric is registered
    dataset_options = {name: dict(options) for name, options in (dataset_options or {}).items()}
    for name in (*data_dirs, *dataset_options):
        registry.get("dataset", name)
    for spec in dataset_specs:  # before jobs take their options with them to worker processes
        options = with_face_crop(spec.name, dataset_options.get(spec.name), face_crop)
        if options:
            dataset_options[spec.name] = options
    recipes = {spec.name: resolve_recipe(spec, recipe, overrides) for spec in model_specs}
    runner = registry.get("executor", executor).create(**dict(executor_options or {}))
    if pretrained:
        _check_pretrained(model_specs)
    # An unusable --device, or a precision it cannot run, fails before any data is loaded.
    here = select_device(device)
    if executor == "local":
        for spec in model_specs:
            resolve_precision(recipes[spec.name].precision, here, spec.cpu_bf16)
    out = Path(out) if out is not None else Path("runs") / f"{protocol}-k{folds}-s{seed}"
    store = RunStore(out)

    with store.lock():
        loaded = {}
        for spec in dataset_specs:
            dataset = load_dataset(spec.name, data_dirs.get(spec.name), dataset_options.get(spec.name), strict)
            for line in dataset.notes:
                reporter.note(f"{spec.name}: {line}")
            plan = assign_folds(dataset, protocol, folds, seed, search)
            store.save_plan(plan, force=force)
            report = None if force else store.read_report(plan, search.to_dict())
            if report is None:
                report = audit(dataset, plan, search, fitted_on_all=spec.fitted_on_all)
                store.save_report(report, plan)
            for line in report.summary():
                reporter.note(f"{spec.name} ({plan.key}): {line}")
            loaded[spec.name] = (dataset, plan, report)
            clip_models = [m.name for m in model_specs if m.input == "clip"]
            if clip_models and dataset.sequences is None:
                reporter.note(f"skipping {', '.join(clip_models)} on {spec.name}: these models take "
                              f"clips (frame sequences) and {spec.name} has none")

        cross = [line for model in model_specs for spec in dataset_specs
                 if (line := pretraining_overlap(model, spec))]
        _refuse_leaky([(report, store.report_path(plan)) for _, plan, report in loaded.values()],
                      cross, allow_leaky)
        jobs = [
            (Job(
                model=model.name, recipe_name=recipe, recipe=recipes[model.name].for_dataset(name),
                dataset=name,
                fingerprint=dataset.fingerprint, protocol=protocol, k=folds, fold=fold,
                run_seed=seed, plan_digest=plan_digest(plan), pretrained=pretrained,
                compile_mode=compile_mode,
            ), model)
            for name, (dataset, plan, _) in loaded.items()
            for fold in range(folds)
            for model in model_specs
            if model.input == "image" or dataset.sequences is not None
        ]
        if not jobs:
            raise UserError("nothing to run: every selected model takes clips and no selected data set "
                            "has sequences. Pick an image model or a data set with sequences.")
        if not force:
            _refuse_to_replace(store, [job for job, _ in jobs])
        store.write_config({
            "models": [s.name for s in model_specs], "datasets": [s.name for s in dataset_specs],
            "protocol": protocol, "folds": folds, "seed": seed, "recipe": recipe,
            "overrides": overrides, "device": device,
            "data_dirs": {k: str(v) for k, v in data_dirs.items()},
            "dataset_options": json.loads(json.dumps(dataset_options, default=repr)), "strict": strict,
            "allow_leaky": allow_leaky, "duplicate_search": search.to_dict(), "pretrained": pretrained,
            "compile_mode": compile_mode, "executor": executor,
            "executor_options": {k: str(v) for k, v in (executor_options or {}).items()},
        }, config_toml)
        pending = [job for job, _ in jobs if force or not store.is_done(job)]
        reporter.planned(len(jobs), len(jobs) - len(pending))
        tasks = [Task(job, str(out), None if data_dirs.get(job.dataset) is None else str(data_dirs[job.dataset]),
                      dataset_options.get(job.dataset, {}), strict, device) for job in pending]
        for task in tasks:
            remember_dataset(task, loaded[task.job.dataset][0])
        failed = [outcome for outcome in runner.run(tasks, reporter) if outcome.status != "ok"]

    table = load_jobs(out)
    hashes = {job.config_hash for job, _ in jobs}
    return RunOutcome(
        run_dir=out, ran=len(pending), skipped=len(jobs) - len(pending), failed=failed,
        jobs=table[table["config_hash"].isin(hashes)].reset_index(drop=True),
    )
