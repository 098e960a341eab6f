"""ferbench's built-in executors: ``local`` worker processes and ``slurm`` through submitit
(registered through the ``ferbench`` entry-point group, like any plugin's)."""

import ferbench
from ferbench.specs import ExecutorSpec
from ferbench_executors import local, slurm


@ferbench.hookimpl
def ferbench_executors() -> list[ExecutorSpec]:
    return [local.SPEC, slurm.SPEC]
