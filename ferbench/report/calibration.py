"""What an accuracy hides: how well a model's confidence matches how often it is right.

The confidence of a prediction is its top class probability. Predictions are put in ``bins``
equal-width bins of confidence (15, as Guo et al. 2017 do); the expected calibration error is
the mean gap between confidence and accuracy over bins, weighted by how many predictions each
holds. A model that says 90 % and is right 90 % of the time has ECE 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Equal-width confidence bins of the ECE and the reliability diagram.
BINS = 15


def reliability(y_true: np.ndarray, proba: np.ndarray, bins: int = BINS) -> pd.DataFrame:
    """One row per non-empty confidence bin: ``low``, ``high``, ``count``, mean ``confidence``
    and ``accuracy`` of its predictions. Bins are left-open, right-closed; the first includes 0."""
    proba = np.asarray(proba, dtype=float)
    y_true = np.asarray(y_true)
    if proba.ndim != 2 or len(proba) != len(y_true):
        raise ValueError(f"proba must be (samples, classes) with one row per label; got {proba.shape} "
                         f"for {len(y_true)} labels.")
    confidence = proba.max(axis=1)
    right = proba.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "confidence": confidence, "right": right})
    table = frame.groupby("bin").agg(count=("right", "size"), confidence=("confidence", "mean"),
                                     accuracy=("right", "mean"))
    table.insert(0, "high", edges[table.index + 1])
    table.insert(0, "low", edges[table.index])
    return table.reset_index(drop=True)


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, bins: int = BINS) -> float:
    """Σ over bins of (share of predictions) × |accuracy − mean confidence|; NaN without predictions."""
    if len(y_true) == 0:
        return float("nan")
    table = reliability(y_true, proba, bins)
    return float(np.sum(table["count"] / table["count"].sum() * (table["accuracy"] - table["confidence"]).abs()))
