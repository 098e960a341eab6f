"""ferbench: leakage-checked benchmarking of facial expression recognition models.

The public API::

    from ferbench import get_dataset, create_model, assign_folds, run_benchmark, load_results
"""

from ferbench.hookspecs import hookimpl
from ferbench.errors import UserError
from ferbench.data import EMOTIONS, Dataset
from ferbench.specs import Augment, DatasetSpec, MetricSpec, ModelCard, ModelSpec, Recipe
from ferbench.registry import get_registry
from ferbench.factory import create_model, get_dataset
from ferbench.protocols import FoldPlan, assign_folds
from ferbench.benchmark import run_benchmark
from ferbench.store import load_jobs, load_predictions, load_results

__all__ = [
    "EMOTIONS", "Augment", "Dataset", "DatasetSpec", "FoldPlan", "MetricSpec", "ModelCard",
    "ModelSpec", "Recipe", "UserError", "assign_folds", "create_model", "get_dataset",
    "get_registry", "hookimpl", "load_jobs", "load_predictions", "load_results", "run_benchmark",
]
