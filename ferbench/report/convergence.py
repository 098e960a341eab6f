"""Whether training converged within its budget, read from every fold's stored training curves.

Per model: the epochs run, the training loss and accuracy at the last epoch (means over folds),
and how much the loss still fell over the last quarter of the epochs (relative to its value
when that quarter began). A loss still falling steeply there had not converged at this budget;
a training accuracy near 100 % says the model fit its training part.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ferbench.report.collect import Board

NOTE = ("Means over folds of the last epoch's training loss and accuracy, and of how much the "
        "training loss fell over the last quarter of the epochs (relative to its value when that "
        "quarter began): a large fall there means the model had not converged at this budget "
        "(under a cosine schedule the step size also shrinks to zero at the end).")


def training_table(board: Board) -> pd.DataFrame:
    """One row per entry with curves (index: label): ``epochs`` (range over folds),
    ``final_loss``, ``final_accuracy`` (NaN where not stored), ``last_quarter_fall``."""
    rows = {}
    for label, entry in board.entries.items():
        curves = [np.asarray(c, dtype=float) for c in entry.curves.values() if len(c)]
        if not curves:
            continue
        lengths = sorted({len(c) for c in curves})
        falls = []
        for curve in curves:
            start = curve[max(0, len(curve) - 1 - len(curve) // 4)]
            falls.append((start - curve[-1]) / start if start > 0 else np.nan)
        accuracy = [c[-1] for c in entry.train_accuracy.values() if len(c)]
        rows[label] = {
            "epochs": str(lengths[0]) if len(lengths) == 1 else f"{lengths[0]}–{lengths[-1]}",
            "final_loss": float(np.mean([c[-1] for c in curves])),
            "final_accuracy": float(np.mean(accuracy)) if accuracy else np.nan,
            "last_quarter_fall": float(np.nanmean(falls)) if not np.isnan(falls).all() else np.nan,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["epochs", "final_loss", "final_accuracy", "last_quarter_fall"])
    frame.index.name = "label"
    return frame


def rows(board: Board) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of :func:`training_table`."""
    header = ["model", "epochs", "final training loss", "final training accuracy %",
              "loss fall over the last quarter %"]
    out = []
    for label, row in training_table(board).iterrows():
        accuracy = "–" if np.isnan(row["final_accuracy"]) else f"{100 * row['final_accuracy']:.1f}"
        fall = "–" if np.isnan(row["last_quarter_fall"]) else f"{100 * row['last_quarter_fall']:.0f}"
        out.append([label, row["epochs"], f"{row['final_loss']:.3f}", accuracy, fall])
    return header, out
