"""Where run directories are merged into boards: one board per data set, protocol and k, its
models side by side.

A *board* is every result computed on the fold plans of one data set (by fingerprint) under one
protocol and number of folds: one plan, or several made with different seeds (repeated
cross-validation, ``ferbench run --repeats``). It is the unit in which models are paired and
compared. Several run directories merge into one set of boards (a model run later against the
same folds joins its board); results whose fold assignments differ under one seed are refused,
and plans of different data or protocols are never put on one board.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferbench.errors import UserError
from ferbench.job import Init, plan_digest, plan_key
from ferbench.leakage.crossdata import CrossReport
from ferbench.leakage.report import LeakageReport
from ferbench.protocols import FoldPlan
from ferbench.record import JobRecord, MetricInfo
from ferbench.store import RunStore, load_plans, load_records, read_predictions


@dataclass
class Entry:
    """One model (with one recipe) on one board: its folds' metrics, predictions and provenance."""

    label: str
    model: str
    recipe_name: str
    recipe: dict[str, Any]
    scores: pd.DataFrame  # index: fold (repeat × k + fold); columns: metrics
    predictions: pd.DataFrame  # index, y_true, y_pred, fold, repeat; one row per test prediction
    proba: np.ndarray  # (rows of ``predictions``, classes)
    n_train: dict[int, int]
    n_test: dict[int, int]
    curves: dict[int, list[float]]  # fold -> training loss per epoch
    provenance: dict[str, Any]
    failed: dict[int, str] = field(default_factory=dict)  # fold -> first line of the error
    val_curves: dict[int, list[float]] = field(default_factory=dict)  # fold -> validation accuracy
    train_accuracy: dict[int, list[float]] = field(default_factory=dict)  # fold -> training accuracy
    card: dict[str, Any] = field(default_factory=dict)  # model card, sizes computed at the input used
    band: dict[str, Any] | None = None  # the data set's best credible published accuracy
    cross_dataset: str | None = None  # why the model's pretraining data holds this data set's images
    metric_info: dict[str, MetricInfo] = field(default_factory=dict)  # as the run stored it
    pretraining: CrossReport | None = None  # --init: its pretraining rows audited against this data set

    def above_band(self, metric_mean: float) -> bool:
        """Whether a mean accuracy exceeds the data set's sanity band ("verify protocol")."""
        return self.band is not None and math.isfinite(metric_mean) and metric_mean > self.band["accuracy"]

    @property
    def folds(self) -> list[int]:
        """Folds with a successful result."""
        return sorted(self.scores.index)


@dataclass
class Board:
    """Every result on the fold plans of one data set, protocol and k (one plan per repeat).

    ``plan`` and ``leakage`` are the first repeat's; ``plans`` and ``reports`` hold every
    repeat's, in seed order. Folds are numbered across repeats: fold f of repeat r is
    ``r * k + f`` (:meth:`fold_name` writes it out).
    """

    key: str
    plan: FoldPlan
    leakage: LeakageReport | None
    classes: list[str]
    entries: dict[str, Entry]
    sources: list[Path]
    plans: list[FoldPlan] = field(default_factory=list)
    reports: list[LeakageReport | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.plans = self.plans or [self.plan]
        self.reports = self.reports or [self.leakage]

    @property
    def repeats(self) -> int:
        """How many fold plans (seeds) the board merges."""
        return len(self.plans)

    @property
    def seeds(self) -> list[int]:
        return [plan.seed for plan in self.plans]

    def fold_name(self, fold: int) -> str:
        """"fold 3", or "seed 1, fold 3" on a board of several fold plans."""
        repeat, within = divmod(fold, self.plan.k)
        return f"fold {within}" if self.repeats == 1 else f"seed {self.plans[repeat].seed}, fold {within}"

    @property
    def leaky(self) -> bool:
        """Whether an audit found a leak (or, without a stored audit, the protocol leaks)."""
        return any(report.leaky if report is not None else plan.leaky
                   for plan, report in zip(self.plans, self.reports))

    def copied(self, predictions: pd.DataFrame) -> np.ndarray | None:
        """Which ``predictions`` test an image with an exact or near copy outside its test part
        (by the audit of its repeat's plan); None where no audit found any."""
        mask = np.zeros(len(predictions), dtype=bool)
        found = False
        for repeat, report in enumerate(self.reports):
            rows = report.copied_rows() if report is not None else None
            if rows:
                found = True
                mask |= (predictions["repeat"].to_numpy() == repeat) & predictions["index"].isin(rows).to_numpy()
        return mask if found else None

    def run_repeats(self, label: str) -> list[int]:
        """The repeats (fold plans, by position) ``label`` was run on: where it has a result, ok or
        failed. A board may hold some models under several fold plans and the others under one."""
        entry = self.entries[label]
        return sorted({fold // self.plan.k for fold in [*entry.folds, *entry.failed]})

    def complete(self) -> list[str]:
        """Labels of the entries with a result on every fold of the first fold plan and of every
        other plan they were run on: the ones compared statistically, on the plans they share
        (:meth:`shared_repeats`)."""
        out = []
        for label, entry in self.entries.items():
            repeats = self.run_repeats(label)
            if repeats[:1] == [0] and len(entry.folds) == self.plan.k * len(repeats):
                out.append(label)
        return out

    def shared_repeats(self, labels: Sequence[str]) -> list[int]:
        """The repeats every one of ``labels`` was run on (the first plan at least, for
        :meth:`complete` entries)."""
        sets = [set(self.run_repeats(label)) for label in labels]
        return sorted(set.intersection(*sets)) if sets else []

    def test_train_ratio(self) -> float | None:
        """Mean n_test / n_train over folds (Nadeau-Bengio's correction); None with one fold."""
        if self.plan.k < 2:
            return None
        ratios = [entry.n_test[f] / entry.n_train[f] for entry in self.entries.values() for f in entry.folds
                  if entry.n_train.get(f)]
        return float(np.mean(ratios)) if ratios else 1 / (self.plan.k - 1)


def row_label(record: JobRecord) -> str:
    """The row a record's result takes on a board: its model, starting point and recipe
    (``timm/resnet18 ← ferplus (finetune)``; the default recipe is not named)."""
    return record.label if record.recipe_name == "default" else f"{record.label} ({record.recipe_name})"


def _provenance(record: JobRecord) -> dict[str, Any]:
    versions = record.versions
    return {
        "ferbench": versions.get("ferbench", "unknown"),
        "commit": versions.get("ferbench_commit", "unknown"),
        "torch": versions.get("torch", "unknown"),
        "device": record.device or "unknown",
        "threads": record.threads,
        "precision": record.precision or "unknown",
        "selection": record.selection or "unknown",
        "pretrained": bool(record.config["pretrained"]),
        "init": _init_text(record.init),
        "face_crop": face_crop_text(record.face_crop),
    }


def _pretraining_audit(record: JobRecord) -> CrossReport | None:
    """The audit of a ``--init`` record's pretraining rows against its data set, as its run kept it."""
    init = record.config.get("init")
    if not init or record.run_dir is None:
        return None
    return RunStore(record.run_dir).read_pretraining(Init(**init), record.dataset)


def _init_text(init: dict[str, Any] | None) -> str:
    """Where a result's starting weights came from, in one line ("none" from scratch)."""
    if not init:
        return "none"
    return (f"{init['model']} pretrained on {init['dataset']} ({init['n_rows']} images, {init['rows_description']}; "
            f"recipe {init['recipe_name']}, {init['epochs']} epochs; sha256 {init['sha256'][:12]}); head "
            f"{init['head'].split(' (')[0]}")


def face_crop_text(face: dict[str, Any] | None) -> str:
    """The face step a result's images went through, in one line ("none" without one)."""
    if not face:
        return "none"
    align = ", eye line levelled" if face["method"] == "landmarks" and face["align"] else ""
    counts = ", ".join(f"{n} {key}" for key, n in face["counts"].items() if n)
    return (f"{face['method']}, margin {face['margin']:g}{align}, {face['size'][1]}x{face['size'][0]}, "
            f"no face: {face['no_face']} ({counts})")


def _merge_provenance(values: list[dict[str, Any]]) -> dict[str, Any]:
    """One value per field where the folds agree, else the distinct values joined by ' / '."""
    merged = {}
    for name in values[0]:
        distinct = list(dict.fromkeys(str(v[name]) for v in values))
        merged[name] = distinct[0] if len(distinct) == 1 else " / ".join(distinct)
    return merged


def collect(run_dirs: Sequence[str | Path]) -> list[Board]:
    """Merge the results of ``run_dirs`` into boards, one per fold plan, sorted by key.

    Raises :class:`UserError` when two run directories hold different fold assignments under
    one plan key, or different results for the same model, recipe and fold.
    """
    if not run_dirs:
        raise UserError("name at least one run directory (the --out of `ferbench run`).")
    plans: dict[str, tuple[FoldPlan, Path]] = {}
    leakage: dict[str, LeakageReport] = {}
    chosen: dict[tuple[str, str, int], JobRecord] = {}
    for run_dir in map(Path, run_dirs):
        if not run_dir.is_dir():
            raise UserError(f"{run_dir} does not exist or is not a directory; pass the --out of a "
                            "`ferbench run`.")
        for key, plan in load_plans(run_dir).items():
            if key in plans and plan_digest(plans[key][0]) != plan_digest(plan):
                raise UserError(
                    f"{run_dir} and {plans[key][1]} assign folds differently for {key} (another data set "
                    "version or splitter): their results are not paired and cannot be compared. Report "
                    "them separately, or re-run one against the other's folds."
                )
            plans.setdefault(key, (plan, run_dir))
            report = RunStore(run_dir).read_report(plan)
            if report is not None:
                leakage.setdefault(key, report)
        for record in load_records(run_dir):
            if record.stale:
                continue
            where = (record.plan_key, row_label(record), record.fold)
            previous = chosen.get(where)
            if previous is None or (not previous.ok and record.ok):
                chosen[where] = record
            elif record.ok and previous.config_hash != record.config_hash:
                raise UserError(
                    f"{previous.path} and {record.path} hold different results for {where[1]} on "
                    f"fold {where[2]} of {key}. Pass only one of these run directories, or rename one "
                    "model's recipe."
                )
    repeats: dict[tuple[str, str, str, int], list[FoldPlan]] = {}
    for key in sorted({where[0] for where in chosen} & set(plans), key=lambda key: plans[key][0].seed):
        plan = plans[key][0]  # results without their fold plan were already reported stale by the store
        repeats.setdefault((plan.dataset, plan.fingerprint, plan.protocol, plan.k), []).append(plan)
    boards = []
    for group in repeats.values():
        records = {where: record for where, record in chosen.items()
                   if where[0] in {plan.key for plan in group}}
        board = _board(group, [leakage.get(plan.key) for plan in group], records)
        board.sources = [d for d in dict.fromkeys(map(Path, run_dirs)) if d in board.sources]
        boards.append(board)
    boards.sort(key=lambda board: board.key)
    if not boards:
        raise UserError(f"no results in {', '.join(map(str, run_dirs))}: run `ferbench run --out DIR` first.")
    return boards


def board_key(plans: Sequence[FoldPlan]) -> str:
    """The key of a board: its plan's key, with every seed when it merges several."""
    first = plans[0]
    return plan_key(first.dataset, first.protocol, first.k, "+".join(str(plan.seed) for plan in plans))


def _board(plans: list[FoldPlan], reports: list[LeakageReport | None],
           records: dict[tuple[str, str, int], JobRecord]) -> Board:
    plan, k = plans[0], plans[0].k
    repeat_of = {p.key: r for r, p in enumerate(plans)}
    entries: dict[str, Entry] = {}
    classes: list[str] | None = None
    sources: list[Path] = []
    for label in dict.fromkeys(where[1] for where in sorted(records)):
        folds = sorted((repeat_of[where[0]] * k + where[2], record) for where, record in records.items()
                       if where[1] == label)
        ok = [(fold, record) for fold, record in folds if record.ok]
        first = folds[0][1]
        frames, probas = [], []
        for fold, record in ok:
            frame, proba = read_predictions(record)
            frames.append(frame.assign(fold=fold, repeat=fold // k))
            probas.append(proba)
            classes = classes or record.classes
        for _, record in folds:
            if record.run_dir not in sources:
                sources.append(record.run_dir)
        width = probas[0].shape[1] if probas else 0
        entries[label] = Entry(
            label=label, model=first.model, recipe_name=first.recipe_name, recipe=first.config["recipe"],
            scores=pd.DataFrame([r.metrics for _, r in ok], index=pd.Index([f for f, _ in ok], name="fold")),
            predictions=(pd.concat(frames, ignore_index=True) if frames
                         else pd.DataFrame(columns=["index", "y_true", "y_pred", "fold", "repeat"])),
            proba=np.concatenate(probas) if probas else np.zeros((0, width)),
            n_train={f: r.n_train for f, r in ok},
            n_test={f: r.n_test for f, r in ok},
            curves={f: list(r.curves.get("train_loss", [])) for f, r in ok},
            val_curves={f: list(r.curves["val_accuracy"]) for f, r in ok if r.curves.get("val_accuracy")},
            train_accuracy={f: list(r.curves["train_accuracy"]) for f, r in ok
                            if r.curves.get("train_accuracy")},
            card=next((r.card for _, r in ok if r.card), {}),
            band=next((r.sanity_band for _, r in folds if r.sanity_band is not None), None),
            cross_dataset=next((r.cross_dataset for _, r in folds if r.cross_dataset), None),
            pretraining=_pretraining_audit(first),
            metric_info={name: info for _, r in ok for name, info in r.metric_info.items()},
            provenance=_merge_provenance([_provenance(r) for _, r in folds]),
            failed={fold: (record.error or "failed").splitlines()[0] for fold, record in folds if not record.ok},
        )
    if classes is None:
        width = max((entry.proba.shape[1] for entry in entries.values()), default=0)
        classes = [f"class {i}" for i in range(width)]
    return Board(key=board_key(plans), plan=plan, leakage=reports[0], classes=list(classes), entries=entries,
                 sources=sources, plans=plans, reports=reports)
