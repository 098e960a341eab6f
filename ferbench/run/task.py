"""What an executor runs in any process: the picklable :class:`Task` and :func:`execute`.

An executor (``local`` worker processes, ``slurm`` through submitit, or a plugin's own) ships
tasks to processes; each process calls :func:`execute`, which loads the data set (once per
process), reads the fold plan and leakage report from the run directory, trains and scores the
job, and commits its result atomically there. Whatever happens inside, a result is committed:
an exception becomes a ``failed`` record with its error. While a job runs, a claim file names
the process that holds it, so a coordinator can tell a job whose worker died from one that
never started.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferbench.data import Dataset
from ferbench.factory import load_dataset
from ferbench.job import Job, plan_digest
from ferbench.leakage.crossdata import pretraining_overlap
from ferbench.leakage.report import LeakageReport
from ferbench.pretraining import with_init
from ferbench.protocols import FoldPlan
from ferbench.record import JobResult, new_record
from ferbench.registry import get_registry
from ferbench.store import RunStore, atomic_write

if TYPE_CHECKING:
    from ferbench.engine.train import EpochCallback


@dataclass(frozen=True)
class Task:
    """Everything a process needs to run one job; plain data, so it pickles to any process.

    A stacked task (``--stacked``) trains ``stack``, every fold of ``job``'s model and fold plan
    (in fold order, ``job`` among them), side by side, and commits the results of the jobs
    whose configuration hashes are in ``commits`` (``job`` and the other folds still to run).
    """

    job: Job
    run_dir: str
    data_root: str | None = None
    data_options: Mapping[str, Any] = field(default_factory=dict)
    strict: bool = False
    device: str = "auto"
    stack: tuple[Job, ...] = ()
    commits: frozenset[str] = frozenset()

    @property
    def jobs(self) -> list[Job]:
        """The jobs whose results this task commits."""
        return [job for job in self.stack if job.config_hash in self.commits] if self.stack else [self.job]


@dataclass(frozen=True)
class Outcome:
    """What a job's process reports back (the full result is in the run directory); a stacked
    task's outcome carries those of the other jobs it committed in ``others``."""

    job: Job
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    others: tuple[Outcome, ...] = ()

    def each(self) -> list[Outcome]:
        """This outcome and every other one it carries: one per committed job."""
        return [dataclasses.replace(self, others=()), *self.others]


#: Data sets already loaded in this process, by (name, root, options, strict).
_DATASETS: dict[str, Dataset] = {}


def _dataset_key(name: str, root: str | None, options: Mapping[str, Any], strict: bool) -> str:
    return json.dumps([name, root, dict(options), strict], sort_keys=True, default=repr)


def remember_dataset(task: Task, dataset: Dataset) -> None:
    """Let tasks run in this process reuse an already loaded data set."""
    _DATASETS[_dataset_key(task.job.dataset, task.data_root, task.data_options, task.strict)] = dataset


def _load(task: Task) -> Dataset:
    key = _dataset_key(task.job.dataset, task.data_root, task.data_options, task.strict)
    if key not in _DATASETS:
        _DATASETS.clear()  # one data set at a time: a worker may move on to the next one
        _DATASETS[key] = load_dataset(task.job.dataset, task.data_root, dict(task.data_options), task.strict)
    dataset = _DATASETS[key]
    if dataset.fingerprint != task.job.fingerprint:
        raise RuntimeError(
            f"data set {task.job.dataset!r} loaded in this process (on {socket.gethostname()}) has "
            f"fingerprint {dataset.fingerprint[:12]}, not the coordinator's {task.job.fingerprint[:12]}: "
            "the files differ between machines. Point --data-dir at the same copy everywhere."
        )
    return dataset


def _plan(store: RunStore, job: Job) -> tuple[FoldPlan, LeakageReport | None]:
    path = store.root / "folds" / f"{job.plan_key}.json"
    plan = FoldPlan.from_json(path.read_text())
    if plan_digest(plan) != job.plan_digest:
        raise RuntimeError(f"{path} changed since this job was planned (another `ferbench run --force`?); "
                           "re-run to plan the job again.")
    return plan, store.read_report(plan)


def _pretraining_copies(store: RunStore, job: Job, dataset: Dataset, plan: FoldPlan) -> int | None:
    """How many of the job's test images have a copy in its ``--init`` pretraining rows, by the
    audit the coordinator kept (None without ``--init``, or where no audit applies)."""
    if job.init is None:
        return None
    report = store.read_pretraining(job.init, job.dataset, dataset.fingerprint)
    return None if report is None else report.test_copies(plan.test_index(job.fold))


def checkpoint_path(store: RunStore, job: Job) -> Path:
    """Where ``job``'s training keeps its state between epochs, until its result is committed."""
    return store.root / "checkpoints" / f"{job.config_hash}.pt"


def claim_path(store: RunStore, job: Job) -> Path:
    """Where the claim of ``job`` is kept while a process runs it."""
    return store.root / "claims" / f"{job.config_hash}.json"


def read_claim(store: RunStore, job: Job) -> dict[str, Any] | None:
    """The claim on ``job`` (pid, host, started), or None."""
    try:
        return json.loads(claim_path(store, job).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def execute(task: Task, on_epoch: EpochCallback | None = None, threads: int | None = None) -> Outcome:
    """Run ``task``'s job (a stacked task: its stack) in this process and commit its results to
    the run directory.

    ``threads`` sets torch's CPU threads for this process first (results on the CPU are
    bit-identical for the same seed and thread count).
    """
    # Imported here: an executor plugin that only lists itself, or hands tasks to other
    # processes, needs no torch.
    import torch

    from ferbench.engine.device import select_device
    from ferbench.engine.job import JobContext, run_job, run_stacked

    if threads:
        torch.set_num_threads(threads)
    job, jobs = task.job, task.jobs
    store = RunStore(task.run_dir)
    claim = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode()
    for each in jobs:
        atomic_write(claim_path(store, each), claim)
    try:
        try:
            dataset = _load(task)
            plan, report = _plan(store, job)
            registry = get_registry()
            model = with_init(registry.get("model", job.model), job.init)
            dataset_spec = registry.get("dataset", job.dataset)
            context = JobContext(model, registry.select("metric", "all"), select_device(task.device), report,
                                 dataset_spec.best_published, pretraining_overlap(model, dataset_spec))
            contexts = [dataclasses.replace(context, pretraining_copies=_pretraining_copies(store, each, dataset, plan))
                        for each in (task.stack or (job,))]
        except Exception as error:  # noqa: BLE001 - committed as failed jobs, never lost
            text = f"{type(error).__name__}: {error}\n\n{traceback.format_exc()}"
            results = [JobResult(each, new_record(each, error=text)) for each in jobs]
        else:
            if task.stack:
                results = [result for result in run_stacked(list(task.stack), dataset, plan, contexts, on_epoch)
                           if result.job.config_hash in task.commits]
            else:
                results = [run_job(job, dataset, plan, contexts[0], on_epoch, checkpoint_path(store, job))]
        for result in results:
            store.commit(result)
            checkpoint_path(store, result.job).unlink(missing_ok=True)
    finally:
        for each in jobs:
            claim_path(store, each).unlink(missing_ok=True)
    first, *others = [Outcome(r.job, r.record.status, r.record.metrics, r.record.error) for r in results]
    return dataclasses.replace(first, others=tuple(others))


def record_lost(store: RunStore, job: Job, why: str) -> Outcome:
    """Commit a ``failed`` result for a job whose process died before it could commit one."""
    claim = read_claim(store, job)
    where = f" (pid {claim['pid']} on {claim['host']})" if claim else ""
    error = f"WorkerDied: {why}{where}; re-run the same command to retry this job."
    store.commit(JobResult(job, new_record(job, error=error)))
    claim_path(store, job).unlink(missing_ok=True)
    return Outcome(job, "failed", error=error)

