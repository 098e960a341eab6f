"""``RunConfig``: every option of a run, frozen and validated once.

``ferbench run`` builds one from its flags (and a ``--config`` TOML file), Python from keyword
arguments (:func:`ferbench.run_benchmark`); the coordinator takes it whole. What can be checked
without the plugin registry is checked here; names of models, data sets and executors are
checked by the plan, against the registry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferbench.errors import UserError
from ferbench.job import plan_folder
from ferbench.similarity import DuplicateSearch
from ferbench.protocols import OFFICIAL, check_protocol
from ferbench.specs import COMPILE_MODES

#: Training batches up to this size run on the CPU as one-thread jobs side by side, one per core,
#: unless ``--workers`` or ``--threads`` is given: a step of 4 images spends its time in per-step
#: overhead that threads cannot share out. Measured with ``benchmarks/stacked_folds.py --workers 2``
#: (2 cores, the paper recipe at batch 4, interleaved rounds): res-bilstm-fusion 1.41 × (1.36-1.44)
#: the images/s of one job on both cores; timm/resnet18, whose convolutions do use a second
#: thread, 0.80 × (0.80-0.81).
SMALL_BATCH = 4


def cpu_cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def side_by_side(executor: str, options: Mapping[str, Any], on_cpu: bool, batch_size: int,
                 jobs: int) -> tuple[dict[str, Any], str | None]:
    """The local executor's options for ``jobs`` jobs whose largest training batch is
    ``batch_size``: those given, or, for small batches on the CPU with neither ``workers`` nor
    ``threads`` given, one one-thread worker per core (:data:`SMALL_BATCH`), with a note saying so."""
    cores = min(cpu_cores(), jobs)
    if (executor != "local" or not on_cpu or batch_size > SMALL_BATCH or cores < 2
            or {"workers", "threads"} & set(options)):
        return dict(options), None
    return {**options, "workers": cores, "threads": 1}, (
        f"batch {batch_size} on the CPU: {cores} jobs side by side, one thread each (faster at small "
        f"batches for res-bilstm-fusion, 1.41 × one job on {cores} threads; timm/resnet18 0.80 ×). "
        f"--workers 1 trains one job at a time on every core")


#: Recipe fields that ``ferbench run`` can override from the command line.
OVERRIDABLE = ("epochs", "batch_size", "lr", "weight_decay", "optimizer", "schedule", "input_size",
               "precision", "selection", "val_fraction", "patience")


def _names(value: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    """``"all"``, or names: a comma-separated string or a sequence, as a tuple."""
    if isinstance(value, str):
        return value if value == "all" else tuple(n.strip() for n in value.split(",") if n.strip())
    return tuple(value)


def resolve_seeds(seed: int | None, seeds: Sequence[int] | None, repeats: int | None) -> tuple[int, ...]:
    """The run seeds: ``seeds`` as given, else ``repeats`` consecutive seeds from ``seed``
    (default 0, one repeat). Every seed a distinct non-negative int; ``seed`` and ``repeats``,
    when given with ``seeds``, must agree with it."""
    if repeats is not None and (isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1):
        raise UserError(f"--repeats must be a whole number >= 1, got {repeats!r}.")
    if seeds is None:
        start = 0 if seed is None else seed
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise UserError(f"--seed must be a whole number >= 0, got {start!r}.")
        return tuple(range(start, start + (repeats or 1)))
    seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
    if not seeds or bad:
        raise UserError(f"--seed takes whole numbers >= 0 (e.g. --seed 0,1,2), got {list(seeds)!r}.")
    if len(set(seeds)) < len(seeds):
        raise UserError(f"--seed {','.join(map(str, seeds))} repeats a seed; each repeat needs its own.")
    if repeats is not None and repeats != len(seeds):
        raise UserError(f"--seed {','.join(map(str, seeds))} lists {len(seeds)} seeds but --repeats is "
                        f"{repeats}; give the list alone, or --seed FIRST --repeats {repeats}.")
    if seed is not None and seed != seeds[0]:
        raise UserError(f"seed={seed} and seeds={seeds} disagree (seed is the first of seeds); give one of them.")
    return seeds


def default_out(protocol: str, k: int, seeds: tuple[int, ...]) -> Path:
    """``runs/<protocol>-k<k>-s<seed>``; several seeds: ``-s<first>-<last>`` when they are
    consecutive (``s0-2``), else joined by ``_`` (``s0_3_7``)."""
    if len(seeds) == 1:
        tag = f"{seeds[0]}"
    elif seeds == tuple(range(seeds[0], seeds[0] + len(seeds))):
        tag = f"{seeds[0]}-{seeds[-1]}"
    else:
        tag = "_".join(map(str, seeds))
    return Path("runs") / plan_folder(protocol, k, tag)


@dataclass(frozen=True)
class RunConfig:
    """Every option of one ``ferbench run``.

    ``models`` and ``datasets``: ``"all"`` or names (a comma-separated string or a sequence).
    ``protocol``, ``folds``: the fold plan (the official protocols have one fold: ``folds`` is
    set to 1, with a note). ``seeds``: one fold plan per seed, every model on each (repeated
    cross-validation; on an official split, repeats of training only); or ``seed`` (the first,
    default 0) and ``repeats`` (that many consecutive seeds, default 1); resolved, all three
    agree (:func:`resolve_seeds`). ``out``: the run directory (default :func:`default_out`,
    ``runs/<protocol>-k<folds>-s<seed>``). ``recipe`` and ``overrides`` (recipe fields from
    :data:`OVERRIDABLE`; None keeps the recipe's): how each model trains. ``device``: ``auto``,
    ``cpu``, ``cuda``, ``cuda:N``. ``data_dirs``: data set name -> folder; ``dataset_options``:
    data set name -> loader options; ``strict``: skipped files become errors; ``face_crop``:
    the face step of loaders that have one. ``allow_leaky``: train on a leaky plan (results
    marked LEAKY). ``search``: the near-duplicate detector of the audit. ``strict_copies``: near
    pairs across subjects block at the search's threshold, not only at the audit's stricter
    one. ``pretrained``: start every model from its local pretrained weights. ``init``: model
    name (``*`` for every model) -> weights written by ``ferbench pretrain`` to start from (a file,
    or the folder holding one per model). ``executor`` and
    ``executor_options``: where jobs run. ``compile_mode``: ``torch.compile`` mode. ``stacked``:
    train the folds of each model and fold plan side by side in one process
    (:mod:`ferbench.engine.stacked`). ``force``: redo every requested job.
    ``config_toml``: the command line's options as TOML, saved as ``RUN_DIR/config.toml``.
    """

    models: str | tuple[str, ...] = "all"
    datasets: str | tuple[str, ...] = "synthetic"
    protocol: str = "subject"
    folds: int = 10
    seed: int | None = None
    seeds: Sequence[int] | None = None
    repeats: int | None = None
    out: Path | None = None
    recipe: str = "default"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    device: str = "auto"
    data_dirs: Mapping[str, str | Path] = field(default_factory=dict)
    dataset_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    strict: bool = False
    face_crop: str | None = None
    allow_leaky: bool = False
    search: DuplicateSearch = field(default_factory=DuplicateSearch)
    strict_copies: bool = False
    pretrained: bool = False
    init: Mapping[str, str | Path] = field(default_factory=dict)
    executor: str = "local"
    executor_options: Mapping[str, Any] = field(default_factory=dict)
    compile_mode: str = "none"
    stacked: bool = False
    force: bool = False
    config_toml: str | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        check_protocol(self.protocol, self.folds)
        if self.compile_mode not in COMPILE_MODES:
            raise UserError(f"--compile must be one of {', '.join(COMPILE_MODES)}; got {self.compile_mode!r}.")
        if self.stacked and self.compile_mode != "none":
            raise UserError("--stacked trains the folds through torch.func.vmap, which is not combined with "
                            "--compile; give one of them.")
        if self.stacked and self.overrides.get("selection") == "best":
            raise UserError("--stacked trains every fold for the recipe's fixed budget; --selection best picks "
                            "each fold's epoch on its own validation part. Give one of them.")
        unknown = set(self.overrides) - set(OVERRIDABLE)
        if unknown:
            raise UserError(f"cannot override recipe field(s) {sorted(unknown)}; overridable: {OVERRIDABLE}.")
        set_ = object.__setattr__
        set_(self, "seeds", resolve_seeds(self.seed, self.seeds, self.repeats))
        set_(self, "seed", self.seeds[0])
        set_(self, "repeats", len(self.seeds))
        set_(self, "models", _names(self.models))
        set_(self, "datasets", _names(self.datasets))
        set_(self, "overrides", {k: v for k, v in self.overrides.items() if v is not None})
        set_(self, "data_dirs", {name: Path(path) for name, path in self.data_dirs.items()})
        set_(self, "dataset_options", {name: dict(o) for name, o in self.dataset_options.items()})
        set_(self, "executor_options", dict(self.executor_options))
        set_(self, "init", {name: Path(path) for name, path in self.init.items()})
        if self.init and self.pretrained:
            raise UserError("--init and --pretrained both choose starting weights; give one of them.")
        if self.protocol in OFFICIAL and self.folds != 1:
            set_(self, "notes", (*self.notes, f"--protocol {self.protocol} has one fold (the data set's "
                                 f"own split); --folds {self.folds} is not used"))
            set_(self, "folds", 1)
        if self.out is None:
            set_(self, "out", default_out(self.protocol, self.folds, self.seeds))
        set_(self, "out", Path(self.out))

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain JSON (saved as ``RUN_DIR/config.json``)."""
        return {
            "models": self.models, "datasets": self.datasets, "protocol": self.protocol,
            "folds": self.folds, "seed": self.seed, "seeds": list(self.seeds), "recipe": self.recipe,
            "overrides": dict(self.overrides), "device": self.device,
            "data_dirs": {k: str(v) for k, v in self.data_dirs.items()},
            "dataset_options": json.loads(json.dumps(self.dataset_options, default=repr)),
            "strict": self.strict, "allow_leaky": self.allow_leaky,
            "duplicate_search": self.search.to_dict(), "strict_copies": self.strict_copies,
            "pretrained": self.pretrained, "init": {k: str(v) for k, v in self.init.items()},
            "compile_mode": self.compile_mode, "stacked": self.stacked, "executor": self.executor,
            "executor_options": {k: str(v) for k, v in self.executor_options.items()},
        }
