"""``RunConfig``: every option of a run, frozen and validated once.

``ferbench run`` builds one from its flags (and a ``--config`` TOML file), Python from keyword
arguments (:func:`ferbench.run_benchmark`); the coordinator takes it whole. What can be checked
without the plugin registry is checked here; names of models, data sets and executors are
checked by the plan, against the registry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferbench.errors import UserError
from ferbench.job import plan_folder
from ferbench.similarity import DuplicateSearch
from ferbench.protocols import OFFICIAL, check_protocol
from ferbench.specs import COMPILE_MODES

#: Recipe fields that ``ferbench run`` can override from the command line.
OVERRIDABLE = ("epochs", "batch_size", "lr", "weight_decay", "optimizer", "schedule", "input_size",
               "precision", "selection", "val_fraction", "patience")


def _names(value: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    """``"all"``, or names: a comma-separated string or a sequence, as a tuple."""
    if isinstance(value, str):
        return value if value == "all" else tuple(n.strip() for n in value.split(",") if n.strip())
    return tuple(value)


@dataclass(frozen=True)
class RunConfig:
    """Every option of one ``ferbench run``.

    ``models`` and ``datasets``: ``"all"`` or names (a comma-separated string or a sequence).
    ``protocol``, ``folds``, ``seed``: the fold plan (the official protocols have one fold:
    ``folds`` is set to 1, with a note). ``out``: the run directory (default
    ``runs/<protocol>-k<folds>-s<seed>``). ``recipe`` and ``overrides`` (recipe fields from
    :data:`OVERRIDABLE`; None keeps the recipe's): how each model trains. ``device``: ``auto``,
    ``cpu``, ``cuda``, ``cuda:N``. ``data_dirs``: data set name -> folder; ``dataset_options``:
    data set name -> loader options; ``strict``: skipped files become errors; ``face_crop``:
    the face step of loaders that have one. ``allow_leaky``: train on a leaky plan (results
    marked LEAKY). ``search``: the near-duplicate detector of the audit. ``strict_copies``: near
    pairs across subjects block at the search's threshold, not only at the audit's stricter
    one. ``pretrained``: start every model from its local pretrained weights. ``executor`` and
    ``executor_options``: where jobs run. ``compile_mode``: ``torch.compile`` mode. ``force``: redo every requested job.
    ``config_toml``: the command line's options as TOML, saved as ``RUN_DIR/config.toml``.
    """

    models: str | tuple[str, ...] = "all"
    datasets: str | tuple[str, ...] = "synthetic"
    protocol: str = "subject"
    folds: int = 10
    seed: int = 0
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
    executor: str = "local"
    executor_options: Mapping[str, Any] = field(default_factory=dict)
    compile_mode: str = "none"
    force: bool = False
    config_toml: str | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        check_protocol(self.protocol, self.folds)
        if self.compile_mode not in COMPILE_MODES:
            raise UserError(f"--compile must be one of {', '.join(COMPILE_MODES)}; got {self.compile_mode!r}.")
        unknown = set(self.overrides) - set(OVERRIDABLE)
        if unknown:
            raise UserError(f"cannot override recipe field(s) {sorted(unknown)}; overridable: {OVERRIDABLE}.")
        set_ = object.__setattr__
        set_(self, "models", _names(self.models))
        set_(self, "datasets", _names(self.datasets))
        set_(self, "overrides", {k: v for k, v in self.overrides.items() if v is not None})
        set_(self, "data_dirs", {name: Path(path) for name, path in self.data_dirs.items()})
        set_(self, "dataset_options", {name: dict(o) for name, o in self.dataset_options.items()})
        set_(self, "executor_options", dict(self.executor_options))
        if self.protocol in OFFICIAL and self.folds != 1:
            set_(self, "notes", (*self.notes, f"--protocol {self.protocol} has one fold (the data set's "
                                 f"own split); --folds {self.folds} is not used"))
            set_(self, "folds", 1)
        if self.out is None:
            set_(self, "out", Path("runs") / plan_folder(self.protocol, self.folds, self.seed))
        set_(self, "out", Path(self.out))

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain JSON (saved as ``RUN_DIR/config.json``)."""
        return {
            "models": self.models, "datasets": self.datasets, "protocol": self.protocol,
            "folds": self.folds, "seed": self.seed, "recipe": self.recipe,
            "overrides": dict(self.overrides), "device": self.device,
            "data_dirs": {k: str(v) for k, v in self.data_dirs.items()},
            "dataset_options": json.loads(json.dumps(self.dataset_options, default=repr)),
            "strict": self.strict, "allow_leaky": self.allow_leaky,
            "duplicate_search": self.search.to_dict(), "strict_copies": self.strict_copies,
            "pretrained": self.pretrained,
            "compile_mode": self.compile_mode, "executor": self.executor,
            "executor_options": {k: str(v) for k, v in self.executor_options.items()},
        }
