"""Subject and sequence overlap: one person or one clip on both sides of a fold."""

from __future__ import annotations

import numpy as np

from ferbench.data import Dataset
from ferbench.leakage.report import Check
from ferbench.protocols import FoldPlan


def _overlap(name: str, what: str, column: np.ndarray | None, dataset: Dataset, plan: FoldPlan,
             examples: int) -> Check:
    check = Check(name=name, description=f"test images whose {what} also has images in the "
                  "training side of the fold", details={"unit": "test images"})
    if column is None:
        check.reason = f"data set {dataset.name!r} records no {what} ids"
        return check
    both_sides = 0
    for fold in range(plan.k):
        test, train = plan.test_index(fold), plan.outside_index(fold)
        shared = np.isin(column[test], column[train])
        check.per_fold.append(int(shared.sum()))
        both_sides += len(np.unique(column[test][shared]))
        for row in test[shared]:
            if len(check.examples) >= examples:
                break
            partner = train[column[train] == column[row]][0]
            check.examples.append({"fold": fold, what: str(column[row]),
                                   "test": str(dataset.paths[row]), "train": str(dataset.paths[partner])})
    check.leaks = sum(check.per_fold)
    check.details[f"{what}s_on_both_sides"] = both_sides
    return check


def subject_overlap(dataset: Dataset, plan: FoldPlan, examples: int = 5) -> Check:
    """Test images whose subject is also in the fold's training side."""
    return _overlap("subject overlap", "subject", dataset.subjects, dataset, plan, examples)


def sequence_overlap(dataset: Dataset, plan: FoldPlan, examples: int = 5) -> Check:
    """Test images whose sequence (clip) also has frames in the fold's training side."""
    return _overlap("sequence overlap", "sequence", dataset.sequences, dataset, plan, examples)
