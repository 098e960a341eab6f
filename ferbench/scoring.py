"""Scoring predictions with metric functions, and finding a stored metric's function again.

A job scores its test part with the registered metrics and stores, per metric, its direction
and the import path of its function (:class:`ferbench.record.MetricInfo`). A report re-scores
pooled predictions with that same function, found by :func:`stored_function` without loading
the plugin registry, so it renders from what the run stored. No torch here.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Mapping

import numpy as np

from ferbench.record import MetricInfo
from ferbench.specs import MetricSpec

MetricFunction = Callable[[np.ndarray, np.ndarray], float]


def score(functions: Mapping[str, MetricFunction], y_true: np.ndarray,
          proba: np.ndarray) -> tuple[dict[str, float], dict[str, str]]:
    """Every metric on one set of predictions, and the errors of the metrics that raised
    (those score NaN): ``(scores, errors)``."""
    scores, errors = {}, {}
    for name, fn in functions.items():
        try:
            scores[name] = float(fn(y_true, proba))
        except Exception as error:  # noqa: BLE001 - a broken metric must not lose the others
            scores[name] = float("nan")
            errors[name] = f"{type(error).__name__}: {error}"
    return scores, errors


def metric_info(spec: MetricSpec) -> MetricInfo:
    """What a record stores about ``spec``: its direction, and its function's import path
    (None for a function that cannot be imported by name, such as a closure or a lambda)."""
    fn = spec.fn
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    importable = module is not None and qualname and "<" not in qualname
    return MetricInfo(spec.higher_is_better, f"{module}:{qualname}" if importable else None)


def _plugin_packages() -> set[str]:
    """Top-level packages of the installed ``ferbench`` plugins (and ferbench itself)."""
    packages = {"ferbench"}
    for entry in importlib.metadata.entry_points(group="ferbench"):
        packages.add(entry.value.split(":")[0].split(".")[0])
    return packages


def stored_function(info: MetricInfo) -> MetricFunction | None:
    """The function ``info`` names, or None when it names none or it cannot be imported here.

    Only modules of installed ferbench plugins are imported: a record is data, and never makes
    ferbench import an arbitrary module.
    """
    if info.function is None:
        return None
    module, _, qualname = info.function.partition(":")
    if module.split(".")[0] not in _plugin_packages():
        return None
    try:
        found: object = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found if callable(found) else None
