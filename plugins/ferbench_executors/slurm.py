"""The ``slurm`` executor: one Slurm job per task, submitted as a job array through submitit.

Every job runs :func:`ferbench.run.task.execute` on a compute node, which commits its result
into the run directory (it must be on a file system the nodes share). The coordinator waits
with a progress display and commits a failed result for any job that ended without one
(time limit, node failure, cancelled). ``cluster="local"`` runs the same path (pickling, a
separate process per job, reading results back) through submitit's local executor, without
a cluster: that is how the tests exercise it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from ferbench.errors import UserError
from ferbench.run.task import Outcome, Task, execute, record_lost
from ferbench.specs import ExecutorSpec
from ferbench.store import RunStore

#: Options of ``--executor slurm`` (``--executor-option KEY=VALUE``) and their submitit names.
PARAMETERS = {
    "partition": "slurm_partition",
    "time": "timeout_min",
    "gpus": "gpus_per_node",
    "cpus": "cpus_per_task",
    "mem": "mem_gb",
    "parallel": "slurm_array_parallelism",
    "account": "slurm_account",
    "qos": "slurm_qos",
    "constraint": "slurm_constraint",
}
INTEGERS = {"time", "gpus", "cpus", "mem", "parallel"}


class SlurmExecutor:
    """Submits tasks as a Slurm job array and waits for them."""

    def __init__(self, cluster: str | None = None, folder: str | None = None, poll: float | str = 10.0,
                 threads: int | str | None = None, **options: str | int):
        unknown = sorted(set(options) - set(PARAMETERS))
        if unknown:
            raise UserError(f"--executor slurm has no option(s) {unknown}; it takes --threads and: "
                            f"{', '.join(sorted(PARAMETERS))}, cluster, folder, poll.")
        try:
            self.parameters = {PARAMETERS[key]: int(value) if key in INTEGERS else str(value)
                               for key, value in options.items()}
            self.poll = float(poll)
            self.threads = None if threads is None else int(threads)
        except ValueError as error:
            raise UserError(f"--executor slurm: {error}; {', '.join(sorted(INTEGERS))} take whole numbers "
                            "(time in minutes, mem in GB).") from None
        self.parameters.setdefault("timeout_min", 240)
        if self.threads is not None:
            self.parameters.setdefault("cpus_per_task", self.threads)
        self.cluster = None if cluster in (None, "auto", "slurm") else cluster
        if self.cluster not in (None, "local", "debug"):
            raise UserError(f"--executor-option cluster={cluster} is not one of slurm, local, debug.")
        self.folder = folder
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise UserError('--executor slurm needs submitit: pip install "ferbench[slurm]".') from None

    def run(self, tasks: Sequence[Task], reporter) -> list[Outcome]:
        """Submit every task, wait for all of them, and return their outcomes."""
        import submitit

        if not tasks:
            return []
        folder = Path(self.folder or Path(tasks[0].run_dir) / "slurm")
        executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster)
        threads = self.threads or self.parameters.get("cpus_per_task")
        executor.update_parameters(name="ferbench", **self.parameters)
        jobs = executor.map_array(_execute, tasks, [threads] * len(tasks))
        reporter.note(f"submitted {len(jobs)} jobs ({'Slurm' if self.cluster is None else self.cluster}); "
                      f"logs in {folder}")
        outcomes = []
        waiting = dict(zip(jobs, tasks))
        while waiting:
            for job in [job for job in waiting if job.done()]:
                task = waiting.pop(job)
                try:
                    finished = job.result().each()
                except Exception as error:  # the job ended without returning: commit why
                    store = RunStore(task.run_dir)
                    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    finished = []
                    for each in task.jobs:
                        record = store.read_job(each)
                        finished.append(
                            Outcome(each, record.status, record.metrics, record.error)
                            if record is not None and record.config_hash == each.config_hash else
                            record_lost(store, each, f"Slurm job {job.job_id} ended without a result ({first}); "
                                        f"its log is in {folder}"))
                for outcome in finished:
                    reporter.job_finished(outcome)
                    outcomes.append(outcome)
            if waiting:
                time.sleep(self.poll)
        return outcomes


def _execute(task: Task, threads: int | None) -> Outcome:
    """What each Slurm job runs."""
    return execute(task, threads=threads)


SPEC = ExecutorSpec(
    name="slurm", create=SlurmExecutor,
    description="a Slurm cluster through submitit: one job per (model, data set, fold), per stack of "
    "folds with --stacked; options "
    "partition, time (min), gpus, cpus, mem (GB), parallel, account, qos, constraint",
)
