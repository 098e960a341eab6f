"""The coordinator: the one process of a run that plans it, resumes it, hands its tasks to an
executor and reports progress (``ferbench run``, :func:`run_benchmark`).

It checks every name first, loads each data set once, saves its fold plans (one per seed) and
their audits, then hands the executor the jobs that the run directory does not already hold.
The run directory is locked for the whole call: a second coordinator on it is refused while
this one works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ferbench.engine.device import resolve_precision, select_device
from ferbench.errors import UserError
from ferbench.job import Job
from ferbench.registry import get_registry
from ferbench.run.config import RunConfig, side_by_side
from ferbench.run.plan import (Planned, audit_pretraining, cross_dataset_leaks, expand_jobs, plan_dataset,
                               pretraining_leaks, refuse_leaky, run_selection, select)
from ferbench.run.task import Outcome, Task, remember_dataset
from ferbench.store import RunStore, load_jobs


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


def _refuse_to_replace(store: RunStore, jobs: list[Job]) -> None:
    """Finished results of another configuration in the same places are never silently replaced."""
    for job in jobs:
        record = store.differs(job)
        if record is None:
            continue
        old, new = record.config, job.config()
        changed = {k: (old.get(k), new.get(k)) for k in {**old, **new} if old.get(k) != new.get(k)}
        if "recipe" in changed:
            changed = {f"recipe.{k}": (changed["recipe"][0].get(k), v)
                       for k, v in changed["recipe"][1].items() if changed["recipe"][0].get(k) != v}
        details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise UserError(
            f"{store.job_path(job, '.json')} holds a finished result of another configuration "
            f"({details}). Use a new --out to keep both, or --force to replace it."
        )


def stacked_tasks(jobs: list[Job], pending: list[Job]) -> list[tuple[Job, tuple[Job, ...], frozenset[str]]]:
    """(first pending job, stack, hashes to commit) for every model and fold plan with a pending
    fold: the stack is every fold of it, always all of them, so that a fold's result does not
    depend on which others were still to run (the folds share the dropout stream)."""
    todo = {job.config_hash for job in pending}
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        rest = {k: v for k, v in job.config().items() if k not in ("fold", "job_seed")}
        groups.setdefault(json.dumps(rest, sort_keys=True), []).append(job)
    out = []
    for group in groups.values():
        stack = tuple(sorted(group, key=lambda job: job.fold))
        commits = frozenset(job.config_hash for job in stack if job.config_hash in todo)
        if commits:
            out.append((next(job for job in stack if job.config_hash in commits), stack, commits))
    return out


def run(config: RunConfig, reporter: Reporter | None = None) -> RunOutcome:
    """Train and evaluate the models × data sets × folds of ``config`` into ``config.out``, under
    one fold plan per data set and seed (``config.seeds``), every model on the same plans.

    Every fold plan is audited for leakage and its report kept under ``RUN_DIR/leakage/``; a
    leaky plan is refused unless ``config.allow_leaky`` (results are then marked leaky).
    Finished jobs (same config hash, predictions in place) are skipped unless ``config.force``;
    failed jobs are retried.
    """
    reporter = reporter or Reporter()
    for line in config.notes:
        reporter.note(line)
    registry = get_registry()
    selection = select(config, registry)
    executor = registry.get("executor", config.executor)
    # An unusable --device, or a precision it cannot run, fails before any data is loaded.
    here = select_device(config.device)
    if executor.local:
        for spec in selection.models:
            resolve_precision(selection.recipes[spec.name].precision, here, spec.cpu_bf16)
    store = RunStore(config.out)

    with store.lock():
        planned: dict[tuple[str, int], Planned] = {}
        for spec in selection.datasets:
            parts = plan_dataset(config, spec, selection.dataset_options.get(spec.name),
                                 lambda plan, settings: None if config.force else store.read_report(
                                     plan, config.search.to_dict(), settings), run_selection(selection),
                                 lambda key: None if config.force else store.read_plan(key))
            for line in parts[0].dataset.notes:
                reporter.note(f"{spec.name}: {line}")
            for part in parts:
                for line in part.notes:
                    reporter.note(f"{spec.name}: {line}")
                store.save_plan(part.plan, force=config.force)
                if part.audited:
                    store.save_report(part.report, part.plan)
                for line in part.report.summary():
                    reporter.note(f"{spec.name} ({part.plan.key}): {line}")
                planned[spec.name, part.plan.seed] = part
            clip_models = [m.name for m in selection.models if m.input == "clip"]
            if clip_models and parts[0].dataset.sequences is None:
                reporter.note(f"skipping {', '.join(clip_models)} on {spec.name}: these models take "
                              f"clips (frame sequences) and {spec.name} has none")
        datasets = {name: part.dataset for (name, _), part in planned.items()}
        audits = audit_pretraining(config, selection, datasets, lambda init, dataset: None if config.force else
                                   store.read_pretraining(init, dataset.name, dataset.fingerprint,
                                                          config.search.to_dict()))
        for (sha, name), report in audits.items():
            init = next(i for i in selection.inits.values() if i.sha256 == sha)
            store.save_pretraining(init, report, datasets[name].fingerprint)
            suspected = report.suspected()
            reporter.note(f"{name}: {report.exact} exact and {report.near} near copies among the "
                          f"{report.n_against} {init.dataset} images of --init {Path(init.path).name}"
                          + (f" ({suspected} of them suspected copies: near pairs below {report.blocking}, "
                             "look-alikes or copies; not blocking)" if suspected else ""))
        refuse_leaky([(part.report, store.report_path(part.plan)) for part in planned.values()],
                     cross_dataset_leaks(selection), config.allow_leaky,
                     pretraining_leaks(selection, planned, audits, store.pretraining_path))
        jobs = expand_jobs(config, selection, planned)
        if not jobs:
            raise UserError("nothing to run: every selected model takes clips and no selected data set "
                            "has sequences. Pick an image model or a data set with sequences.")
        if not config.force:
            _refuse_to_replace(store, jobs)
        pending = [job for job in jobs if config.force or not store.is_done(job)]
        options, note = side_by_side(config.executor, config.executor_options, here.type == "cpu",
                                     max((job.recipe.batch_size for job in pending), default=0), len(pending))
        if note:
            reporter.note(note)
        store.write_config({**config.to_dict(), "models": [s.name for s in selection.models],
                            "datasets": [s.name for s in selection.datasets],
                            "executor_options": {k: str(v) for k, v in options.items()}}, config.config_toml)
        runner = executor.create(**options)
        reporter.planned(len(jobs), len(jobs) - len(pending))
        stacks = stacked_tasks(jobs, pending) if config.stacked else [(job, (), frozenset()) for job in pending]
        if config.stacked:
            reporter.note(f"--stacked: {len(stacks)} stack(s), each training every fold of one model and fold "
                          "plan side by side (folds already done are trained again, not replaced)")
        tasks = []
        for job, stack, commits in stacks:
            root = config.data_dirs.get(job.dataset)
            task = Task(job, str(config.out), None if root is None else str(root),
                        selection.dataset_options.get(job.dataset, {}), config.strict, config.device,
                        stack, commits)
            remember_dataset(task, planned[job.dataset, job.run_seed].dataset)
            tasks.append(task)
        failed = [outcome for outcome in runner.run(tasks, reporter) if outcome.status != "ok"]

    table = load_jobs(config.out)
    hashes = {job.config_hash for job in jobs}
    return RunOutcome(
        run_dir=config.out, ran=len(pending), skipped=len(jobs) - len(pending), failed=failed,
        jobs=table[table["config_hash"].isin(hashes)].reset_index(drop=True),
    )


def run_benchmark(models: str | list[str] = "all", datasets: str | list[str] = "synthetic", *,
                  reporter: Reporter | None = None, **options: Any) -> RunOutcome:
    """Train and evaluate ``models`` × ``datasets`` under k-fold cross-validation, resumably.

    ``options`` are the fields of :class:`~ferbench.run.config.RunConfig` (``protocol``,
    ``folds``, ``seed``, ``seeds`` or ``repeats``, ``out``, ``recipe``, ``overrides``,
    ``data_dirs``, ...): the configuration is built and validated once, then run by the
    coordinator.
    """
    try:
        config = RunConfig(models=models, datasets=datasets, **options)
    except TypeError as error:
        raise UserError(f"run_benchmark: {error}; the options are RunConfig's fields.") from None
    return run(config, reporter)
