"""Running a benchmark: the configuration, the plan, the coordinator and the task.

- :mod:`~ferbench.run.config`: :class:`RunConfig`, every option of a run, frozen and validated
  once (the command line, a TOML file and Python all build one);
- :mod:`~ferbench.run.plan`: load each data set, assign and audit its folds, expand the jobs;
- :mod:`~ferbench.run.coordinator`: the one process that plans, resumes, hands tasks to an
  executor and reports progress (``ferbench run``, :func:`run_benchmark`);
- :mod:`~ferbench.run.task`: what an executor runs in any process, for one job.

The job itself (fit, predict, record) is :func:`ferbench.engine.job.run_job`.
"""
