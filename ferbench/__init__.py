"""ferbench: leakage-checked benchmarking of facial expression recognition models.

The public API::

    from ferbench import get_dataset, create_model, assign_folds, run_benchmark, load_results

Reading results (``load_results``, ``load_jobs``, ``load_predictions``) imports no torch; the
names that train or build models (``run_benchmark``, ``create_model``, ``get_dataset``) are
imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ferbench.hookspecs import hookimpl
from ferbench.errors import UserError
from ferbench.data import EMOTIONS, Dataset
from ferbench.specs import Augment, DatasetSpec, MetricSpec, ModelCard, ModelSpec, Recipe
from ferbench.registry import get_registry
from ferbench.protocols import FoldPlan, assign_folds
from ferbench.store import load_jobs, load_predictions, load_results

#: Public names imported on first use (they import torch), by module.
_LAZY = {"create_model": "ferbench.factory", "get_dataset": "ferbench.factory",
         "run_benchmark": "ferbench.run.coordinator", "RunConfig": "ferbench.run.config"}

__all__ = [
    "EMOTIONS", "Augment", "Dataset", "DatasetSpec", "FoldPlan", "MetricSpec", "ModelCard",
    "ModelSpec", "Recipe", "RunConfig", "UserError", "assign_folds", "create_model", "get_dataset",
    "get_registry", "hookimpl", "load_jobs", "load_predictions", "load_results", "run_benchmark",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ferbench' has no attribute {name!r}")
