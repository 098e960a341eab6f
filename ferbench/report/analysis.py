"""The numbers behind a leaderboard: summaries, pairwise tests, ranks, for each board and across.

Everything here is computed from :mod:`ferbench.report.collect`'s boards with
:mod:`ferbench.stats`; the renderers (tables, HTML) only format it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ferbench import stats
from ferbench.errors import UserError
from ferbench.report.collect import Board
from ferbench.scoring import score, stored_function

#: Metrics shown first, in this order; any other metric in the results follows.
PREFERRED = ("accuracy", "macro_f1", "macro_recall", "macro_precision", "roc_auc_ovr")


@dataclass
class Ranking:
    """Friedman test, average ranks and Nemenyi critical difference over some blocks."""

    metric: str
    blocks: str  # what a block is: "folds of <dataset>" or "data sets"
    friedman: stats.Friedman
    nemenyi: stats.Nemenyi
    cliques: list[list[str]]
    independent: bool  # False when blocks are folds of one data set (they share training data)


@dataclass
class BoardAnalysis:
    """What a leaderboard says about one board."""

    board: Board
    metrics: list[str]
    primary: str
    summary: pd.DataFrame  # one row per entry (index: label); see ``analyse_board``
    pairs: dict[str, pd.DataFrame]  # metric -> ``stats.pairwise`` frame over complete entries
    best: dict[str, str | None]  # metric -> entry that is best *and* significantly so, else None
    test: str  # the test behind ``best``
    ranking: Ranking | None
    notes: list[str] = field(default_factory=list)


def _directions(board: Board) -> dict[str, bool]:
    """Metric -> higher is better, as the runs of ``board`` stored it."""
    return {name: info.higher_is_better for entry in board.entries.values()
            for name, info in entry.metric_info.items()}


def _ordered_metrics(columns) -> list[str]:
    return [m for m in PREFERRED if m in columns] + sorted(set(columns) - set(PREFERRED))


def _pooled(board: Board, label: str, notes: list[str]) -> dict[str, float]:
    """Every metric on the entry's predictions pooled over folds, each computed with the
    function the run stored for it; a metric whose function cannot be imported here is left
    out, with a note."""
    entry = board.entries[label]
    if entry.proba.size == 0:
        return {}
    functions = {}
    for name, info in entry.metric_info.items():
        function = stored_function(info)
        if function is None:
            notes.append(f"{label}: pooled {name} not computed (its function "
                         f"{info.function or '(not stored)'} cannot be imported here)")
        else:
            functions[name] = function
    scores, _ = score(functions, entry.predictions["y_true"].to_numpy(), entry.proba)
    return scores


def _uncopied(entry, copied: set[int]) -> dict[str, float]:
    """Pooled accuracy on the test predictions whose image has no exact or near copy outside
    its test part (``copied``: data set rows), and how many such predictions there are."""
    predictions = entry.predictions
    keep = ~predictions["index"].isin(copied).to_numpy()
    right = (predictions["y_true"] == predictions["y_pred"]).to_numpy()[keep]
    return {"accuracy_uncopied": float(right.mean()) if len(right) else np.nan,
            "uncopied_n": int(keep.sum()), "tested_n": int(len(keep))}


def correctness(board: Board, labels: list[str]) -> pd.DataFrame | None:
    """Per-sample correctness of each entry's pooled out-of-fold predictions, rows aligned by
    sample index; None when the entries were not tested on the same samples."""
    columns = {}
    reference = None
    for label in labels:
        predictions = board.entries[label].predictions.sort_values("index")
        index = predictions["index"].to_numpy()
        if reference is None:
            reference = index
        elif not np.array_equal(reference, index):
            return None
        columns[label] = (predictions["y_true"] == predictions["y_pred"]).to_numpy()
    return pd.DataFrame(columns, index=reference)


def _best(summary: pd.DataFrame, pairs: pd.DataFrame, metric: str, higher: bool,
          column: str, alpha: float) -> str | None:
    means = summary[f"{metric}_mean"].dropna()
    if len(means) < 2 or pairs.empty:
        return None
    best = means.idxmax() if higher else means.idxmin()
    mine = pairs[(pairs["a"] == best) | (pairs["b"] == best)]
    if len(mine) != len(means) - 1 or mine[column].isna().any():
        return None
    return best if bool((mine[column] < alpha).all()) else None


def analyse_board(board: Board, alpha: float = 0.05, primary: str = "accuracy",
                  seed: int = 0) -> BoardAnalysis:
    """Summaries of every entry, pairwise tests and ranks among the complete ones.

    ``summary`` columns: ``model, recipe, folds, failed``, per metric ``<m>_mean, <m>_sd,
    <m>_t_low, <m>_t_high, <m>_boot_low, <m>_boot_high, <m>_pooled``, and ``rank`` (average rank
    on ``primary`` over folds; complete entries only); where the audit found copies of test
    images outside their test part, ``accuracy_uncopied`` (pooled over the other test images),
    ``uncopied_n`` and ``tested_n``.
    """
    metric_columns = set()
    for entry in board.entries.values():
        metric_columns |= set(entry.scores.columns)
    metrics = _ordered_metrics(metric_columns)
    if primary not in metrics:
        raise UserError(f"metric {primary!r} is not in the results of {board.key}; "
                        f"they have: {', '.join(metrics)}.")
    directions = _directions(board)
    notes = [f"metric {m!r} has no stored direction; taken as higher-is-better" for m in metrics
             if m not in directions]
    rows = {}
    copied = board.leakage.copied_rows() if board.leakage is not None else None
    for label, entry in board.entries.items():
        row = {"model": entry.model, "recipe": entry.recipe_name,
               "folds": len(entry.folds), "failed": len(entry.failed)}
        if copied:
            row |= _uncopied(entry, copied)
        pooled = _pooled(board, label, notes)
        for metric in metrics:
            values = entry.scores[metric].dropna().to_numpy() if metric in entry.scores else np.array([])
            if len(values):
                s = stats.summarize(values, seed=seed)
                row |= {f"{metric}_mean": s.mean, f"{metric}_sd": s.sd, f"{metric}_t_low": s.t_low,
                        f"{metric}_t_high": s.t_high, f"{metric}_boot_low": s.boot_low,
                        f"{metric}_boot_high": s.boot_high}
            row[f"{metric}_pooled"] = pooled.get(metric, np.nan)
        rows[label] = row
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "label"
    complete = board.complete()
    incomplete = [label for label in board.entries if label not in complete]
    for label, entry in board.entries.items():
        notes += [f"{label}, fold {fold}: failed ({error})" for fold, error in sorted(entry.failed.items())]
    if incomplete:
        notes.append(f"not compared (results missing on some folds): {', '.join(incomplete)}")

    k = board.plan.k
    test = ("corrected resampled t (Nadeau-Bengio), Holm" if k >= 2
            else "McNemar (exact) on the test predictions, Holm")
    correct = correctness(board, complete) if len(complete) >= 2 else None
    pairs, best = {}, {}
    for metric in metrics:
        higher = directions.get(metric, True)
        if len(complete) < 2:
            pairs[metric] = pd.DataFrame()
            best[metric] = None
            continue
        folds = pd.DataFrame({label: board.entries[label].scores[metric] for label in complete})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pairs[metric] = stats.pairwise(folds, board.test_train_ratio(),
                                           correct if metric == "accuracy" else None,
                                           alpha=alpha)
        column = "nb_p_holm" if k >= 2 else "mcnemar_p_holm"
        best[metric] = _best(summary.loc[complete], pairs[metric], metric, higher, column, alpha)

    ranking = None
    if len(complete) >= 2 and k >= 2:
        folds = pd.DataFrame({label: board.entries[label].scores[primary] for label in complete})
        if not folds.isna().any().any():
            ranking = rank_models(folds, primary, directions.get(primary, True), alpha,
                                  f"folds of {board.plan.dataset}", independent=False)
            summary.loc[complete, "rank"] = ranking.friedman.ranks.reindex(complete).to_numpy()
    if "rank" not in summary:
        summary["rank"] = np.nan
    return BoardAnalysis(board, metrics, primary, summary, pairs, best, test, ranking, notes)


def rank_models(scores: pd.DataFrame, metric: str, higher: bool, alpha: float, blocks: str,
                independent: bool) -> Ranking:
    """Friedman, Nemenyi and the critical-difference cliques on ``scores`` (blocks × models)."""
    friedman = stats.friedman(scores, higher_is_better=higher)
    nemenyi = stats.nemenyi(friedman, alpha=alpha)
    return Ranking(metric, blocks, friedman, nemenyi, stats.cliques(friedman.ranks, nemenyi.cd),
                   independent)


def across_datasets(analyses: list[BoardAnalysis], alpha: float = 0.05) -> Ranking | None:
    """Friedman/Nemenyi with data sets as blocks (Demšar 2006), cells the mean over folds.

    Uses boards of one protocol with at least two data sets and the entries complete on all of
    them; None when that leaves fewer than two data sets or two models.
    """
    by_protocol: dict[str, dict[str, BoardAnalysis]] = {}
    for analysis in analyses:  # the first board of each data set under each protocol
        plan = analysis.board.plan
        by_protocol.setdefault(plan.protocol, {}).setdefault(plan.dataset, analysis)
    for protocol, per_dataset in sorted(by_protocol.items(), key=lambda item: -len(item[1])):
        group = list(per_dataset.values())
        if len(group) < 2:
            continue
        common = set.intersection(*(set(a.board.complete()) for a in group))
        if len(common) < 2:
            continue
        primary = group[0].primary
        labels = [label for label in group[0].board.entries if label in common]
        scores = pd.DataFrame(
            [[a.summary.loc[label, f"{primary}_mean"] for label in labels] for a in group],
            index=[a.board.key for a in group], columns=labels)
        return rank_models(scores, primary, _directions(group[0].board).get(primary, True), alpha,
                           f"data sets ({protocol} protocol)", independent=True)
    return None
