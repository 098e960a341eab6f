"""Leakage from copies: exact and near duplicates across the sides of a fold, and copies that
carry different labels.

The pairs come from :mod:`ferbench.similarity`, searched once over the whole data set.
"""

from __future__ import annotations

import numpy as np

from ferbench.data import Dataset
from ferbench.leakage.report import Check
from ferbench.protocols import FoldPlan
from ferbench.similarity import DuplicateSearch, Pairs, components, copy_pairs


def _cross_side(name: str, description: str, group: np.ndarray, pairs: Pairs, dataset: Dataset,
                plan: FoldPlan, examples: int, already: np.ndarray | None = None) -> Check:
    """Test images whose ``group`` (duplicate component) reaches outside their test part;
    those whose ``already`` component does too are counted by another check instead."""
    check = Check(name=name, description=description, details={"unit": "test images"})
    within_training = within_test = 0
    for fold in range(plan.k):
        test, outside = plan.test_index(fold), plan.outside_index(fold)
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
            check.examples.append({"fold": fold, "test": str(dataset.paths[a]), "train": str(dataset.paths[b]),
                                   "score": round(float(pairs.score[i]), 4),
                                   "mirrored": bool(pairs.flipped[i])})
    check.leaks = sum(check.per_fold)
    check.details.update(pairs=len(pairs), pairs_within_training=within_training,
                         pairs_within_test=within_test)
    return check


def duplicate_checks(dataset: Dataset, plan: FoldPlan, search: DuplicateSearch | None = None,
                     examples: int = 5) -> list[Check]:
    """Exact duplicates, near duplicates and label consistency of ``dataset`` under ``plan``.

    Pairs are searched once over the whole data set, then each fold counts the test images
    whose duplicates (direct, or through a chain of copies) lie outside its test part. Pairs
    inside one side are counted in ``details`` but are not leaks.
    """
    search = search or DuplicateSearch()
    n = len(dataset)
    exact, near = copy_pairs(dataset.images, search)
    exact_group = components(n, exact)
    checks = [
        _cross_side("exact duplicates", "test images whose decoded pixels also appear outside "
                    "their test part", exact_group, exact, dataset, plan, examples),
        _cross_side("near duplicates", "test images with a re-encoded, shifted, cropped, rotated, "
                    "re-lit or mirrored copy outside their test part (exact copies not counted "
                    "again)", components(n, exact, near), near, dataset, plan, examples,
                    already=exact_group),
    ]
    checks[1].details.update(threshold=search.threshold)
    both = Pairs(*(np.concatenate([getattr(exact, f), getattr(near, f)])
                   for f in ("first", "second", "score", "flipped")))
    conflict = np.flatnonzero(dataset.labels[both.first] != dataset.labels[both.second])
    labels = Check(name="label consistency", kind="quality",
                   description="exact or near duplicates that carry different labels",
                   leaks=len(conflict), details={"unit": "pairs", "pairs_checked": len(both)})
    for i in conflict[:examples]:
        a, b = both.first[i], both.second[i]
        labels.examples.append({"first": str(dataset.paths[a]), "second": str(dataset.paths[b]),
                                "labels": [dataset.classes[dataset.labels[a]],
                                           dataset.classes[dataset.labels[b]]],
                                "score": round(float(both.score[i]), 4)})
    return [*checks, labels]
