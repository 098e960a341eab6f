"""Leakage from copies: exact and near duplicates across the sides of a fold, copies of test
images in the validation part a run selects on, and copies that carry different labels.

The pairs come from :mod:`ferbench.similarity`, searched once over the whole data set.

The data set's own structure decides what a near pair means. Under a plan that keeps subjects
apart (``--protocol subject`` on a data set with subjects), every pair across a fold joins two
different people, and people photographed alike (one camera, pose, background) reach the near
threshold without being copies: those pairs are *suspected copies* (a warning, with scores and
examples) and block a run only at :data:`STRICT_THRESHOLD` or above (at the near threshold
itself with ``strict_copies``). Exact copies block under every plan.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ferbench.data import Dataset
from ferbench.leakage.report import SELECTION_CHECK, Check
from ferbench.protocols import PURGED, FoldPlan
from ferbench.similarity import DuplicateSearch, Pairs, components, copy_pairs

#: Score from which a near pair across subjects blocks a plan that keeps subjects apart. With the
#: search's shared axes damped, different people photographed alike score at most 0.937 (400
#: synthetic portraits of one pose and background) and 0.851 (CK+48 faces composited on one scene;
#: ``benchmarks/lookalikes.py``), while a planted 2-px shifted copy can score 0.978: between the
#: two, 0.96 keeps a margin on either side.
STRICT_THRESHOLD = 0.96


def block_threshold(search: DuplicateSearch, strict_copies: bool = False) -> float:
    """Score from which a near pair across subjects is a copy rather than a suspected one."""
    return search.threshold if strict_copies else max(search.threshold, STRICT_THRESHOLD)


def keeps_subjects_apart(dataset: Dataset, plan: FoldPlan) -> bool:
    """Whether ``plan`` tests whole subjects, so that a pair across its sides joins two people."""
    return dataset.subjects is not None and plan.grouped_by == "subject"


def _cross_side(name: str, description: str, group: np.ndarray, pairs: Pairs, dataset: Dataset,
                plan: FoldPlan, examples: int, already: np.ndarray | None = None,
                side: Callable[[int], np.ndarray] | None = None, kind: str = "leak",
                partner: str = "train") -> Check:
    """Test images whose ``group`` (duplicate component) reaches ``side(fold)`` (default: the
    fold's training part); those whose ``already`` component does too are counted by another
    check instead."""
    side = side or plan.train_index
    check = Check(name=name, description=description, kind=kind, details={"unit": "test images"})
    within_training = within_test = 0
    for fold in range(plan.k):
        test, outside = plan.test_index(fold), side(fold)
        leaked = np.isin(group[test], group[outside])
        if already is not None:
            leaked &= ~np.isin(already[test], already[outside])
        check.per_fold.append(int(leaked.sum()))
        check.leaked += test[leaked].tolist()
        in_test = np.isin(pairs.first, test), np.isin(pairs.second, test)
        training = plan.train_index(fold)
        within_test += int((in_test[0] & in_test[1]).sum())
        within_training += int((np.isin(pairs.first, training) & np.isin(pairs.second, training)).sum())
        out = np.isin(pairs.first, outside), np.isin(pairs.second, outside)
        crossing = np.flatnonzero((in_test[0] & out[1]) | (in_test[1] & out[0]))
        for i in crossing[:max(0, examples - len(check.examples))]:
            a, b = (pairs.first[i], pairs.second[i]) if in_test[0][i] else (pairs.second[i], pairs.first[i])
            check.examples.append({"fold": fold, "test": str(dataset.paths[a]), partner: str(dataset.paths[b]),
                                   "score": round(float(pairs.score[i]), 4),
                                   "mirrored": bool(pairs.flipped[i])})
    check.leaks = sum(check.per_fold)
    check.details.update(pairs=len(pairs), pairs_within_training=within_training,
                         pairs_within_test=within_test)
    return check


def _subset(pairs: Pairs, keep: np.ndarray) -> Pairs:
    return Pairs(pairs.first[keep], pairs.second[keep], pairs.score[keep], pairs.flipped[keep])


def _selection(dataset: Dataset, plan: FoldPlan, group: np.ndarray, pairs: Pairs, examples: int,
               selection: str) -> Check:
    """Test images with an exact or near copy in the held-out validation part (official splits)."""
    description = ("test images with an exact or near copy in the validation part that --selection best "
                   "chooses its epoch on")
    if not len(plan.held_out_index()):
        return Check(name=SELECTION_CHECK, description=description,
                     reason="no separate validation part: --selection best validates on a share of the "
                     "training part, whose copies the checks above count")
    kind = "leak" if selection == "best" else "quality"
    if kind == "quality":
        description += " (a warning here: --selection last does not use it)"
    check = _cross_side(SELECTION_CHECK, description, group, pairs, dataset, plan, examples,
                        side=lambda fold: plan.held_out_index(), kind=kind, partner="validation")
    check.details["selection"] = selection
    return check


def duplicate_checks(dataset: Dataset, plan: FoldPlan, search: DuplicateSearch | None = None,
                     examples: int = 5, copies: tuple[Pairs, Pairs] | None = None,
                     strict_copies: bool = False, selection: str = "last") -> list[Check]:
    """Exact duplicates, near duplicates, suspected copies, selection on copies of test images
    and label consistency of ``dataset`` under ``plan``.

    Pairs are searched once over the whole data set (or given as ``copies``: exact, near), then
    each fold counts the test images whose duplicates (direct, or through a chain of copies) lie
    in its training part. Pairs inside one side are counted in ``details`` but are not leaks.
    ``selection`` (``last`` or ``best``) says whether copies in a validation part choose the
    evaluated weights, which makes them leaks.
    """
    search = search or DuplicateSearch()
    n = len(dataset)
    exact, near = copies if copies is not None else copy_pairs(dataset.images, search)
    exact_group = components(n, exact)
    apart = keeps_subjects_apart(dataset, plan)
    blocking = block_threshold(search, strict_copies) if apart else search.threshold
    strong = _subset(near, near.score >= blocking)
    copy_group = components(n, exact, strong)
    checks = [
        _cross_side("exact duplicates", "test images whose decoded pixels also appear in the training "
                    "part of their fold", exact_group, exact, dataset, plan, examples),
        _cross_side("near duplicates", "test images with a re-encoded, shifted, cropped, rotated, "
                    "re-lit or mirrored copy in the training part of their fold (exact copies not "
                    "counted again)", copy_group, strong, dataset, plan, examples, already=exact_group),
    ]
    checks[1].details.update(threshold=round(blocking, 4))
    suspected = Check(name="suspected copies", kind="quality",
                      description=f"test images whose only near copies in the training part are other "
                      f"subjects' images scoring from {search.threshold} to below {blocking:.4g}: look-alikes "
                      "or copies; they block only with --strict-copies",
                      reason=None if apart else "only under a plan that keeps subjects apart; here every "
                      "near pair counts as a near duplicate")
    if apart:
        suspected = _cross_side(suspected.name, suspected.description, components(n, exact, near),
                                _subset(near, near.score < blocking), dataset, plan, examples,
                                already=copy_group, kind="quality")
        suspected.details.update(threshold=search.threshold, block_threshold=round(blocking, 4))
    checks.append(suspected)
    checks.append(_selection(dataset, plan, components(n, exact, near), _joined(exact, near), examples,
                             selection))
    checks.append(_label_consistency(dataset, exact, near, examples))
    return checks


def _joined(exact: Pairs, near: Pairs) -> Pairs:
    return Pairs(*(np.concatenate([getattr(exact, f), getattr(near, f)])
                   for f in ("first", "second", "score", "flipped")))


def _label_consistency(dataset: Dataset, exact: Pairs, near: Pairs, examples: int) -> Check:
    """Copies that carry different labels. On a data set with subjects, near pairs of one subject
    are left out: two frames of one person's clip (onset and apex) are near pairs with different
    expressions by design, not copies with a wrong label. Exact copies and near pairs across
    subjects still count."""
    skipped = 0
    if dataset.subjects is not None:
        same = dataset.subjects[near.first] == dataset.subjects[near.second]
        skipped = int(same.sum())
        near = _subset(near, ~same)
    both = _joined(exact, near)
    conflict = np.flatnonzero(dataset.labels[both.first] != dataset.labels[both.second])
    description = "exact or near duplicates that carry different labels"
    if dataset.subjects is not None:
        description += " (near pairs within one subject, e.g. frames of one clip, are not counted)"
    check = Check(name="label consistency", kind="quality", description=description, leaks=len(conflict),
                  details={"unit": "pairs", "pairs_checked": len(both),
                           "same_subject_near_pairs_not_checked": skipped})
    for i in conflict[:examples]:
        a, b = both.first[i], both.second[i]
        check.examples.append({"first": str(dataset.paths[a]), "second": str(dataset.paths[b]),
                               "labels": [dataset.classes[dataset.labels[a]], dataset.classes[dataset.labels[b]]],
                               "score": round(float(both.score[i]), 4)})
    return check


def pair_rows(dataset: Dataset, plan: FoldPlan, exact: Pairs, near: Pairs) -> list[dict[str, object]]:
    """One row per copy pair (exact, near or mirrored), best score first: both paths, labels,
    and whether the pair crosses a fold (one image tested, the other in that fold's training or
    validation part)."""
    both = _joined(exact, near)
    kinds = np.where(np.arange(len(both)) < len(exact), "exact", np.where(both.flipped, "mirrored", "near"))
    fold = plan.test_fold
    a, b = fold[both.first], fold[both.second]
    crosses = (a != b) & ((a >= 0) | (b >= 0)) & (a != PURGED) & (b != PURGED)
    rows = []
    for i in np.lexsort((both.second, both.first, -both.score)):
        first, second = int(both.first[i]), int(both.second[i])
        row: dict[str, object] = {
            "first": str(dataset.paths[first]), "second": str(dataset.paths[second]),
            "score": round(float(both.score[i]), 4), "kind": str(kinds[i]), "crosses_fold": bool(crosses[i]),
            "first_label": dataset.classes[dataset.labels[first]],
            "second_label": dataset.classes[dataset.labels[second]],
        }
        if dataset.subjects is not None:
            row["same_subject"] = bool(dataset.subjects[first] == dataset.subjects[second])
        rows.append(row)
    return rows
