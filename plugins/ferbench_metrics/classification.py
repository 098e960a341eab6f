"""Classification metrics from sklearn: accuracy, macro F1/precision/recall, one-vs-rest AUC.

sklearn is imported by each metric when it first scores, not when the plugin registers: the
commands that score nothing (``ferbench leakage``, ``ferbench list``) start without its second
of import time.
"""

from __future__ import annotations

import warnings

import numpy as np

import ferbench
from ferbench.specs import MetricSpec


def accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Fraction of test samples whose most probable class is the true one."""
    from sklearn import metrics

    return float(metrics.accuracy_score(y_true, proba.argmax(1)))


def _macro(name: str, y_true: np.ndarray, proba: np.ndarray) -> float:
    from sklearn import metrics

    score = getattr(metrics, name)
    # sklearn's rule: averaged over the classes that occur in this fold's labels or
    # predictions; an undefined per-class score (0/0) counts as 0.
    return float(score(y_true, proba.argmax(1), average="macro", zero_division=0))


# Module-level functions, not closures: a result stores each metric's import path, so a report
# can re-score pooled predictions with the very function the run used.
def macro_f1(y_true: np.ndarray, proba: np.ndarray) -> float:
    """F1 averaged over classes."""
    return _macro("f1_score", y_true, proba)


def macro_precision(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Precision averaged over classes."""
    return _macro("precision_score", y_true, proba)


def macro_recall(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Recall averaged over classes (balanced accuracy)."""
    return _macro("recall_score", y_true, proba)


def roc_auc_ovr(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC over the classes present in this fold's test part.

    A class with no positive (or no negative) test sample has no defined AUC and is left out;
    NaN when no class qualifies.
    """
    from sklearn import metrics
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.preprocessing import label_binarize

    onehot = label_binarize(y_true, classes=np.arange(proba.shape[1]))
    if proba.shape[1] == 2:
        onehot = np.column_stack([1 - onehot[:, 0], onehot[:, 0]])
    positives = onehot.sum(0)
    defined = (positives > 0) & (positives < len(y_true))
    if not defined.any():
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return float(metrics.roc_auc_score(onehot[:, defined], proba[:, defined], average="macro"))


@ferbench.hookimpl
def ferbench_metrics() -> list[MetricSpec]:
    return [
        MetricSpec("accuracy", accuracy, description="overall accuracy"),
        MetricSpec("macro_f1", macro_f1, description="F1 averaged over classes"),
        MetricSpec("macro_precision", macro_precision, description="precision averaged over classes"),
        MetricSpec("macro_recall", macro_recall, description="recall averaged over classes (balanced accuracy)"),
        MetricSpec("roc_auc_ovr", roc_auc_ovr, description="one-vs-rest ROC AUC, macro average"),
    ]
