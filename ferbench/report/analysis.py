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
from ferbench.report.calibration import expected_calibration_error
from ferbench.report.collect import Board, Entry
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


@dataclass(frozen=True)
class Units:
    """What the statistics of a board treat as independent: the cluster ``unit`` (subject,
    sequence, copy group or image), how many test clusters and images there are, the images in
    the largest cluster, and the training runs behind each model's number (folds × repeats).
    ``repeats`` are the fold plans the tests use (those every compared model was run on);
    ``most`` the most fold plans any model was run on, where that is more."""

    unit: str
    clusters: int
    images: int
    largest: int
    folds: int
    repeats: int
    most: int = 0

    @property
    def clustered(self) -> bool:
        """Whether some cluster holds several pooled test predictions: several images, or one
        image predicted once per repeat (then tests that take each prediction as independent,
        McNemar's and Wilson's, are wrong)."""
        return self.largest > 1 or self.repeats > 1

    @property
    def training_runs(self) -> int:
        return self.folds * self.repeats

    def describe(self) -> str:
        """One line for the provenance: the units and how many training runs a number rests on."""
        clusters = (f"{self.clusters} {self.unit}s ({self.images} test images, up to {self.largest} "
                    f"per {self.unit})" if self.largest > 1 else f"{self.images} test images, each its own unit")
        if self.most > self.repeats and self.folds == 1:
            shared = f"{self.repeats} seeds" if self.repeats > 1 else "one seed"
            return (f"{clusters}; one split: some models were trained under {self.most} seeds (their means and "
                    f"intervals use all of them), the others under {shared} (variation between training runs not "
                    "covered); the paired t over seeds uses the seeds each pair shares, per-image tests the "
                    f"training run{'s' if self.repeats > 1 else ''} all models share")
        runs = f"{self.training_runs} training run{'s' if self.training_runs != 1 else ''} per model"
        runs += (f" (one split × {self.repeats} training seeds)" if self.repeats > 1 and self.folds == 1 else
                 f" ({self.folds} folds × {self.repeats} fold plans)" if self.repeats > 1 else
                 " (one split, one seed: variation between training runs is not covered)" if self.folds == 1 else
                 f" ({self.folds} folds of one fold plan, one seed: "
                 "variation between training runs of one fold is not covered)")
        if self.most > self.repeats:
            runs += (f"; some models ran on {self.most} fold plans ({self.folds * self.most} training runs: "
                     "their means and intervals use all of them); fold-level tests use the folds each pair "
                     f"shares, per-image tests and ranks the {self.repeats if self.repeats > 1 else 'one'} fold "
                     f"plan{'s' if self.repeats > 1 else ''} all models share")
        return f"{clusters}; {runs}"


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
    units: Units | None = None
    recall: pd.DataFrame = field(default_factory=pd.DataFrame)  # entries × classes, pooled recall
    interval: str = ""  # how the pooled accuracy's interval is made
    rope: float = 0.01


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


def _uncopied(entry: Entry, copied: np.ndarray) -> dict[str, float]:
    """Pooled accuracy on the test predictions whose image has no exact or near copy outside
    its test part (``copied``: one flag per prediction), and how many such predictions there are."""
    predictions = entry.predictions
    keep = ~copied
    right = (predictions["y_true"] == predictions["y_pred"]).to_numpy()[keep]
    return {"accuracy_uncopied": float(right.mean()) if len(right) else np.nan,
            "uncopied_n": int(keep.sum()), "tested_n": int(len(keep))}


def units(board: Board, repeats: int | None = None) -> Units:
    """The cluster unit of ``board``'s test images (from its fold plan) and its counts;
    ``repeats``: the fold plans the tests use, where fewer than the board's."""
    rows = np.unique(np.concatenate([np.zeros(0, np.int64)] + [entry.predictions["index"].to_numpy(dtype=np.int64)
                                                               for entry in board.entries.values()]))
    unit, clusters = board.plan.test_clusters(rows)
    sizes = np.unique(clusters, return_counts=True)[1]
    repeats = board.repeats if repeats is None else repeats
    return Units(unit, len(sizes), len(rows), int(sizes.max(initial=1)), board.plan.k, repeats,
                 board.repeats if board.repeats > repeats else 0)


def _pooled_interval(board: Board, entry: Entry, clustered: bool, seed: int) -> tuple[float, float]:
    """95 % interval of an entry's pooled accuracy: resampling clusters where some hold several
    test images, else Wilson's for independent images."""
    predictions = entry.predictions
    right = (predictions["y_true"] == predictions["y_pred"]).to_numpy()
    if not len(right):
        return np.nan, np.nan
    if not clustered:
        return stats.wilson_interval(int(right.sum()), len(right))
    _, clusters = board.plan.test_clusters(predictions["index"].to_numpy())
    _, low, high = stats.cluster_bootstrap(right, clusters, seed=seed)
    return float(low[0]), float(high[0])


def class_recall(board: Board) -> pd.DataFrame:
    """Recall of every class on each entry's pooled test predictions: entries × classes."""
    from sklearn.metrics import recall_score

    classes = list(range(len(board.classes)))
    rows = {label: recall_score(entry.predictions["y_true"].to_numpy(dtype=np.int64),
                                entry.predictions["y_pred"].to_numpy(dtype=np.int64),
                                labels=classes, average=None, zero_division=np.nan)
            for label, entry in board.entries.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=board.classes)


def correctness(board: Board, labels: list[str], repeats: list[int] | None = None) -> pd.DataFrame | None:
    """Per-prediction correctness of each entry's pooled out-of-fold predictions (of ``repeats``
    only, when given), rows aligned by (repeat, data set row); None when the entries were not
    tested on the same samples."""
    columns = {}
    reference = None
    for label in labels:
        predictions = board.entries[label].predictions
        if repeats is not None:
            predictions = predictions[predictions["repeat"].isin(repeats)]
        predictions = predictions.sort_values(["repeat", "index"])
        index = pd.MultiIndex.from_arrays([predictions["repeat"].to_numpy(dtype=np.int64),
                                           predictions["index"].to_numpy(dtype=np.int64)],
                                          names=["repeat", "index"])
        if reference is None:
            reference = index
        elif not reference.equals(index):
            return None
        columns[label] = (predictions["y_true"] == predictions["y_pred"]).to_numpy()
    return pd.DataFrame(columns, index=reference)


def _best(folds: pd.DataFrame, pairs: pd.DataFrame, higher: bool, columns: list[str], alpha: float) -> str | None:
    """The entry with the best mean over the compared ``folds`` (folds × entries), where every
    test in ``columns`` (Holm-adjusted p-values) says it beats every other entry; else None
    (also when no test applies, or the metric is undefined in every fold)."""
    means = folds.mean().dropna()
    if len(means) < 2 or pairs.empty or not columns:
        return None
    best = means.idxmax() if higher else means.idxmin()
    mine = pairs[(pairs["a"] == best) | (pairs["b"] == best)]
    if len(mine) != len(means) - 1 or mine[columns].isna().any().any():
        return None
    return best if bool((mine[columns] < alpha).all().all()) else None


def _compared(board: Board, labels: list[str], repeats: list[int], metric: str) -> pd.DataFrame:
    """Fold scores (folds × ``labels``) on ``metric``, on the folds of ``repeats`` only, NaN
    where a model did not run on a fold plan."""
    frame = pd.DataFrame({label: board.entries[label].scores[metric] if metric in board.entries[label].scores
                          else pd.Series(np.nan, index=board.entries[label].scores.index) for label in labels})
    return frame[np.isin(frame.index // board.plan.k, repeats)]


def _bold_tests(metric: str, units: Units) -> tuple[list[str], str]:
    """The Holm-adjusted p-value columns that must all fall below α for a bold best, and their names.

    On accuracy: the test at the cluster unit (sign-flip over clusters, or McNemar where each
    image is its own unit) and the corrected (repeated) k-fold t, or on one split trained under
    several seeds the paired t over the seeds each pair shares. Other metrics have no per-image
    test: the fold (or seed) test alone. With one training run per model (one split, one seed) no
    bold at all: the per-image tests cover the sampling of test images, not the variation between
    training runs (Dietterich 1998), so they cannot say which model is better.
    """
    if units.training_runs < 2 and units.most < 2:
        return [], ""
    mixed = units.most > units.repeats  # some models on more plans (seeds): each pair's shared ones
    if units.folds == 1:
        fold_column, fold_test = "ttest_p_holm", ("paired t over the training seeds each pair shares" if mixed
                                                  else "paired t over training seeds")
    elif mixed:
        fold_column, fold_test = "nb_p_holm", "corrected (repeated) k-fold t on the folds each pair shares"
    elif units.repeats > 1:
        fold_column, fold_test = "nb_p_holm", "corrected repeated k-fold t (Bouckaert-Frank)"
    else:
        fold_column, fold_test = "nb_p_holm", "corrected resampled t (Nadeau-Bengio)"
    columns, names = [], []
    if metric == "accuracy":
        if units.clustered:
            columns.append("signflip_p_holm")
            names.append(f"sign-flip test over {units.unit}s")
        else:
            columns.append("mcnemar_p_holm")
            names.append("McNemar (exact) on the test images")
    columns.append(fold_column)
    names.append(fold_test)
    return columns, " and ".join(names) + (", each Holm-adjusted" if names else "")


def analyse_board(board: Board, alpha: float = 0.05, primary: str = "accuracy",
                  seed: int = 0, rope: float = 0.01) -> BoardAnalysis:
    """Summaries of every entry, pairwise tests and ranks among the complete ones.

    ``summary`` columns: ``model, recipe, folds, failed``, per metric ``<m>_mean, <m>_sd,
    <m>_t_low, <m>_t_high, <m>_boot_low, <m>_boot_high, <m>_pooled``, ``accuracy_low`` and
    ``accuracy_high`` (95 % interval of the pooled accuracy at the cluster unit), ``ece``
    (expected calibration error), ``min_recall`` (the lowest per-class recall), ``rank``
    (average rank on ``primary`` over folds; complete entries only) and ``macro_f1_order``
    (1 = best mean macro F1); where the audit found copies of test images outside their test
    part, ``accuracy_uncopied`` (pooled over the other test images), ``uncopied_n`` and
    ``tested_n``. ``rope``: the Bayesian test's region of practical equivalence (0.01 = 1 point).
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
    complete = board.complete()
    shared = board.shared_repeats(complete)
    found = units(board, len(shared) if complete else None)
    if any(plan.clusters is None for plan in board.plans):
        notes.append("this run's fold plans were saved without clusters (by an older ferbench): every test "
                     "image counts as independent; `ferbench run` with the same options on the run directory "
                     "adds them without training again")
    recall = class_recall(board)
    rows = {}
    for label, entry in board.entries.items():
        row = {"model": entry.model, "recipe": entry.recipe_name,
               "folds": len(entry.folds), "failed": len(entry.failed),
               "fold_plans": len(board.run_repeats(label))}
        copied = board.copied(entry.predictions)  # None for every entry alike: the audits found no copies
        if copied is not None:
            row |= _uncopied(entry, copied)
        pooled = _pooled(board, label, notes)
        for metric in metrics:
            values = entry.scores[metric].dropna().to_numpy() if metric in entry.scores else np.array([])
            if len(values):
                s = stats.summarize(values, seed=seed)
                row |= {f"{metric}_mean": s.mean, f"{metric}_sd": s.sd, f"{metric}_t_low": s.t_low,
                        f"{metric}_t_high": s.t_high, f"{metric}_boot_low": s.boot_low,
                        f"{metric}_boot_high": s.boot_high}
            if metric == primary and board.repeats > 1 and len(values):
                by_repeat = entry.scores[metric].groupby(entry.scores.index // board.plan.k).mean()
                row[f"{metric}_repeat_sd"] = float(by_repeat.std(ddof=1)) if len(by_repeat) > 1 else np.nan
            if metric in entry.scores and 0 < len(values) < len(entry.scores):
                notes.append(f"{label}: {metric} is undefined in {len(entry.scores) - len(values)} of "
                             f"{len(entry.scores)} folds; its mean is over the other folds")
            row[f"{metric}_pooled"] = pooled.get(metric, np.nan)
        row["accuracy_low"], row["accuracy_high"] = _pooled_interval(board, entry, found.clustered or row["fold_plans"] > 1,
                                                                   seed)
        row["ece"] = expected_calibration_error(entry.predictions["y_true"].to_numpy(dtype=np.int64),
                                                entry.proba)
        row["min_recall"] = float(recall.loc[label].min())
        if row["min_recall"] == 0:
            zero = [c for c in board.classes if recall.loc[label, c] == 0]
            notes.append(f"{label}: 0 % recall on {', '.join(zero)} (never right on that class)")
        rows[label] = row
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = "label"
    if "macro_f1_mean" in summary:
        summary["macro_f1_order"] = summary["macro_f1_mean"].rank(ascending=False, method="min")
    incomplete = [label for label in board.entries if label not in complete]
    for label, entry in board.entries.items():
        notes += [f"{label}, {board.fold_name(fold)}: failed ({error})" for fold, error in sorted(entry.failed.items())]
    if incomplete:
        notes.append(f"not compared (results missing on some folds): {', '.join(incomplete)}")

    correct = correctness(board, complete, shared) if len(complete) >= 2 else None
    clusters = None if correct is None else board.plan.test_clusters(correct.index.get_level_values(-1))[1]
    pairs, best = {}, {}
    for metric in metrics:
        higher = directions.get(metric, True)
        if len(complete) < 2:
            pairs[metric] = pd.DataFrame()
            best[metric] = None
            continue
        # Fold-level tests on every fold both models of a pair have (NaN elsewhere: stats.pairwise
        # leaves them out); per-image tests on the plans all models share.
        folds = _compared(board, complete, list(range(board.repeats)), metric)
        accuracy = metric == "accuracy"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pairs[metric] = stats.pairwise(folds, board.test_train_ratio(), correct if accuracy else None,
                                           alpha=alpha, clusters=clusters if accuracy else None,
                                           rope=rope, seed=seed)
        best[metric] = _best(folds, pairs[metric], higher, _bold_tests(metric, found)[0], alpha)

    ranking = None
    if len(complete) >= 2 and found.training_runs >= 2:
        folds = _compared(board, complete, shared, primary)
        if not folds.isna().any().any():
            ranking = rank_models(folds, primary, directions.get(primary, True), alpha,
                                  f"folds of {board.plan.dataset}", independent=False)
            summary.loc[complete, "rank"] = ranking.friedman.ranks.reindex(complete).to_numpy()
        else:
            notes.append(f"no ranking over folds: {primary} is undefined in some folds")
    if "rank" not in summary:
        summary["rank"] = np.nan
    interval = (f"cluster bootstrap over {found.unit}s" if found.clustered
                else "Wilson interval (independent test images)")
    return BoardAnalysis(board, metrics, primary, summary, pairs, best, _bold_tests(primary, found)[1],
                         ranking, notes, found, recall, interval, rope)


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
