"""The ``local`` executor: jobs in this process, or in worker processes on this machine.

With one worker, jobs run in the coordinating process (epoch-level progress). With several,
each worker process gets its own GPU (``CUDA_VISIBLE_DEVICES``) when GPUs are visible, else its
share of the CPU cores as torch threads. A worker that dies (SIGKILL, a crash in native code)
takes the pool down: the jobs that were running are rerun one at a time, so the one that kills
its worker again is committed as failed, and the jobs that had not started run on. Workers die
with their coordinator, even when it is killed with SIGKILL.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path


from ferbench.errors import UserError
from ferbench.run.config import cpu_cores
from ferbench.run.task import Outcome, Task, claim_path, execute, record_lost
from ferbench.specs import ExecutorSpec
from ferbench.store import RunStore


#: ``prctl`` option: the signal this process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> bool:
    """Have the kernel SIGKILL this process when its parent dies; False where it cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    """Exit this process as soon as ``parent`` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _die_with(parent: int) -> None:
    """Make this process die with ``parent`` (its coordinator), even when that is SIGKILLed: a
    parent-death signal on Linux, a watchdog thread elsewhere. Exits at once if ``parent`` is
    already gone (it may die before the signal is set up).

    The kernel sends the signal when the thread that started this process ends, so a pool is
    started, used and shut down by one thread (:meth:`LocalExecutor._run_pool`).
    """
    if not _parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent,), name="watch-coordinator", daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _init_worker(slots: multiprocessing.Queue, threads: int, parent: int) -> None:
    """Runs first in each worker: die with the coordinator ``parent``, take a GPU slot (or none)
    and a number of CPU threads."""
    _die_with(parent)
    gpu = slots.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import torch  # after CUDA_VISIBLE_DEVICES, and never when the plugin is only listed

    torch.set_num_threads(threads)


class LocalExecutor:
    """Runs tasks in ``workers`` processes on this machine (in this process when 1)."""

    def __init__(self, workers: int | str | None = None, threads: int | str | None = None):
        import torch  # here, not at the top: listing the registered executors needs no torch

        gpus = torch.cuda.device_count()
        try:
            self.workers = int(workers) if workers not in (None, "auto") else max(1, gpus)
            self.threads = int(threads) if threads not in (None, "auto") else None
        except ValueError:
            raise UserError(f"--workers and --threads take whole numbers (or auto); got {workers!r}, "
                            f"{threads!r}.") from None
        if self.workers < 1 or (self.threads is not None and self.threads < 1):
            raise UserError("--workers and --threads must be at least 1.")
        self.gpus = gpus

    def run(self, tasks: Sequence[Task], reporter) -> list[Outcome]:
        """Run every task; return their outcomes in the order they finished."""
        if self.workers == 1 or len(tasks) <= 1:
            return self._serial(tasks, reporter)
        return self._parallel(list(tasks), reporter)

    def _serial(self, tasks: Sequence[Task], reporter) -> list[Outcome]:
        outcomes = []
        for task in tasks:
            reporter.job_started(task.job)
            for outcome in execute(task, reporter.epoch, self.threads).each():
                reporter.job_finished(outcome)
                outcomes.append(outcome)
        return outcomes

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # no fork of a process with torch threads
        slots = context.Queue()
        for index in range(workers):
            slots.put(index % self.gpus if self.gpus else None)
        threads = self.threads or max(1, cpu_cores() // workers)
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                   initargs=(slots, threads, os.getpid()))

    def _parallel(self, tasks: list[Task], reporter) -> list[Outcome]:
        workers = min(self.workers, len(tasks))
        jobs = sum(len(task.jobs) for task in tasks)
        reporter.note(f"running {jobs} jobs" + (f" in {len(tasks)} stacks" if jobs > len(tasks) else "")
                      + f" in {workers} worker processes"
                      + (", one GPU each" if self.gpus else
                         f", {self.threads or max(1, cpu_cores() // workers)} CPU thread(s) each"))
        for task in tasks:  # left by workers of a killed run: a claim now means a worker of this one
            for job in task.jobs:
                claim_path(RunStore(task.run_dir), job).unlink(missing_ok=True)
        outcomes: list[Outcome] = []
        pending = tasks
        while pending:
            suspects, unstarted = self._run_pool(pending, min(workers, len(pending)), reporter, outcomes)
            # A dying worker takes the pool and its other workers down: rerun each job that was
            # running then alone, so that a crash is pinned on the job that caused it.
            for task in suspects:
                if self._run_pool([task], 1, reporter, outcomes) != ([], []):
                    self._lost(task, "the worker process running this job died (killed, out of "
                               "memory, or a crash in native code)", reporter, outcomes)
            if unstarted and not suspects and len(unstarted) == len(pending):
                for task in unstarted:  # the pool cannot start at all: do not loop
                    self._lost(task, "the worker pool broke before this job started", reporter, outcomes)
                unstarted = []
            pending = unstarted
        return outcomes

    @staticmethod
    def _lost(task: Task, why: str, reporter, outcomes: list[Outcome]) -> None:
        for job in task.jobs:
            outcome = record_lost(RunStore(task.run_dir), job, why)
            reporter.job_finished(outcome)
            outcomes.append(outcome)

    def _run_pool(self, tasks: list[Task], workers: int, reporter,
                  outcomes: list[Outcome]) -> tuple[list[Task], list[Task]]:
        """Run ``tasks`` in one pool. If a worker dies, return (the jobs that were running, the
        jobs that had not started); else ([], []).

        The claim of a job that was running is left in place for :func:`record_lost` to name
        the worker that died.
        """
        finished: set[str] = set()
        broken = False
        before = {task.job.config_hash: _stamp(RunStore(task.run_dir).job_path(task.job, ".json"))
                  for task in tasks}
        pool = self._pool(workers)
        try:
            futures = {pool.submit(execute, task): task for task in tasks}
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                finished.add(outcome.job.config_hash)
                for each in outcome.each():
                    reporter.job_finished(each)
                    outcomes.append(each)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if not broken:
            return [], []
        suspects, unstarted = [], []
        for task in tasks:
            if task.job.config_hash in finished:
                continue
            store = RunStore(task.run_dir)
            claim = claim_path(store, task.job)
            # Only a record committed in this pool is the job's outcome: a failed one left by an
            # earlier run (or a finished one, with --force) is not.
            stamp = _stamp(store.job_path(task.job, ".json"))
            record = store.read_job(task.job) if stamp not in (None, before[task.job.config_hash]) else None
            if record is not None:
                claim.unlink(missing_ok=True)
                outcome = Outcome(task.job, record.status, record.metrics, record.error)
                reporter.job_finished(outcome)  # committed just before the pool broke
                outcomes.append(outcome)
            elif claim.exists():
                suspects.append(task)
            else:
                unstarted.append(task)
        return suspects, unstarted


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Which version of ``path`` is there (inode, modification time, size), or None. Every
    commit replaces a record with a new file, so a new record has a new stamp."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


SPEC = ExecutorSpec(
    name="local", create=LocalExecutor,
    description="this machine: --workers N processes (default: one per GPU, else 1), each with its "
    "own GPU or an equal share of the CPU cores (--threads overrides)",
    local=True,
)
