"""The ferbench plugin hooks. These docstrings are the plugin author's manual.

A plugin is any importable module (or object) that implements one or more of the hooks below,
decorated with ``ferbench.hookimpl``, and is announced in its package's ``pyproject.toml``::

    [project.entry-points.ferbench]
    my_plugin = "my_package.plugin_module"

After ``pip install`` of that package, ``ferbench list`` shows what it provides; nothing in
ferbench changes. ferbench's own data sets, models and metrics are registered exactly this way.

Every listing hook takes no arguments and returns a list of specifications (see
``ferbench.specs``); ``ferbench_resolve_model`` makes models on demand by name.
Names must be unique across all installed plugins: two plugins providing one name is an error
that names both. A plugin that fails to import, or whose hook raises, is reported with its
traceback (``ferbench list``) and the other plugins still load.

Example::

    import ferbench
    from ferbench.specs import ModelSpec, Recipe

    @ferbench.hookimpl
    def ferbench_models():
        return [ModelSpec(name="my-net", build=build_my_net,
                          recipes={"default": Recipe(epochs=30, batch_size=64)})]
"""

from __future__ import annotations

import pluggy

from ferbench.specs import DatasetSpec, ExecutorSpec, MetricSpec, ModelSpec

PROJECT = "ferbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ferbench_datasets() -> list[DatasetSpec]:
    """Return the data sets this plugin provides.

    Each :class:`~ferbench.specs.DatasetSpec` needs a ``name`` and a
    ``load(root, **options) -> Dataset`` callable. ``root`` is the folder the user passed with
    ``--data-dir NAME=PATH`` (``None`` when the spec says ``needs_root=False``). ``load`` must:

    - return a :class:`~ferbench.data.Dataset` whose images are decoded uint8 arrays
      (N, H, W, C) and whose labels index ``classes``, a tuple of names from
      :data:`ferbench.data.EMOTIONS` (map the data set's own codes onto that vocabulary);
    - fill ``subjects`` and ``sequences`` whenever the data set has them: the default
      ``subject`` protocol groups folds by them, and leakage checks read them;
    - raise :class:`ferbench.UserError` naming the file and the fix when the data on disk is
      missing or malformed, never a bare traceback.

    Declare ``has_subjects``/``has_sequences``, ``image_size``, ``channels`` and the citation
    and licence, so ``ferbench list datasets`` can show them before anything is loaded. Give
    the best credible published accuracy under the data set's standard protocol as
    ``best_published`` (results above it are marked "verify protocol"), and any other published
    figures as ``published`` (``ferbench list published`` shows them as reported, not re-run;
    leave ``protocol`` empty where the source does not state one).
    :mod:`ferbench.loading` holds the helpers to write ``load`` with (decoding, the image cache,
    class folders, counted skips, face crops), the same ones ferbench's own loaders use.
    """


@hookspec
def ferbench_models() -> list[ModelSpec]:
    """Return the models this plugin provides.

    Each :class:`~ferbench.specs.ModelSpec` needs a ``name`` and a
    ``build(num_classes=, in_chans=, image_size=) -> torch.nn.Module`` callable that returns a
    freshly initialised module mapping a normalised float batch (B, C, S, S) to logits
    (B, num_classes). ferbench owns everything around it: normalisation (statistics fitted on
    the training part only), augmentation, the optimiser, device and precision. Give at least
    a ``"default"`` :class:`~ferbench.specs.Recipe`; name others (``"paper"``, ...) for
    ``ferbench run --recipe``. Seed nothing yourself: ferbench seeds each job.

    Two optional speed hints, to set only after measuring with
    ``benchmarks/training_throughput.py``: ``channels_last=True`` when the channels-last memory
    format trains your model faster on the CPU (plain convolutions usually; CUDA always uses
    it), and ``cpu_bf16=False`` when bf16 autocast trains it slower than fp32 on a CPU with
    native bf16 (depthwise convolutions, small ViTs), so that ``--precision auto`` keeps fp32
    there. A recipe may fix ``precision`` when a model is only stable in one.
    """


@hookspec(firstresult=True)
def ferbench_resolve_model(name: str) -> ModelSpec | None:
    """Return a model for a ``name`` that no plugin registered, or ``None`` if it is not yours.

    For plugins that wrap a library of models too large to list (``timm/<any timm name>``):
    ``ferbench run --models timm/resnet34`` asks each plugin in turn until one returns a
    :class:`~ferbench.specs.ModelSpec` whose ``name`` equals ``name``. Claim only names with your
    own prefix; for a name with your prefix that you do not know, raise
    :class:`ferbench.UserError` with close matches. ``--models all`` never calls this hook.
    """


@hookspec
def ferbench_metrics() -> list[MetricSpec]:
    """Return the metrics this plugin provides.

    Each :class:`~ferbench.specs.MetricSpec` needs a ``name`` and ``fn(y_true, proba) -> float``:
    ``y_true`` int labels (N,), ``proba`` float probabilities (N, n_classes) from one test
    fold. Return ``float('nan')`` where the metric is undefined on that fold rather than raise.
    Every registered metric is computed for every job.
    """


@hookspec
def ferbench_executors() -> list[ExecutorSpec]:
    """Return the executors this plugin provides: where and how ``ferbench run`` runs its jobs.

    Each :class:`~ferbench.specs.ExecutorSpec` needs a ``name`` and a ``create(**options)``
    callable (options come from ``ferbench run --executor NAME --executor-option KEY=VALUE``)
    returning an object with ``run(tasks, reporter) -> list[Outcome]``. ``tasks`` are
    :class:`ferbench.run.task.Task` objects: plain picklable data. Run each, in any process
    or on any machine that sees the run directory, by calling
    ``ferbench.run.task.execute(task)``: it trains, scores and commits the job's result
    atomically and returns its :class:`~ferbench.run.task.Outcome`. Call
    ``reporter.job_finished(outcome)`` as each ends. When a process dies before ``execute``
    returns (killed, out of host memory, a lost node), commit its job as failed with
    ``ferbench.run.task.record_lost(store, task.job, why)`` so that the run directory says
    what happened and a re-run retries it. ferbench's own ``local`` and ``slurm`` executors
    are registered exactly this way.
    """
