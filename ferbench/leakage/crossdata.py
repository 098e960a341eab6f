"""Leakage across data sets: images two data sets share, and models pretrained on the test data.

FERPlus relabels FER2013's pixels, so a model pretrained on one and tested on the other has
seen its test faces, however clean the folds are. ``scan`` finds shared images with the same
exact and near-duplicate detector as the within-data-set audit; ``pretraining_overlap`` reads
the declarations in model cards (``pretrained_on``) and data set specs (``same_images_as``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ferbench.data import Dataset
from ferbench.similarity import DuplicateSearch, exact_pairs, near_pairs
from ferbench.specs import DatasetSpec, ModelSpec


@dataclass
class CrossReport:
    """Images of ``dataset`` with a copy in ``against``: exact (identical decoded pixels) and
    near (re-encoded, shifted, cropped, rotated, re-lit or mirrored; exact ones not counted
    again), with example pairs; ``rows``: every row of ``dataset`` with a copy, ``scores`` its
    best pair's score (1 for an exact copy). ``blocking``: the score from which a near pair counts
    as a copy that leaks (None: every pair found); below it a pair is a suspected copy, as look-alike
    faces of different people reach the search's threshold."""

    dataset: str
    against: str
    n: int
    n_against: int
    exact: int
    near: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    search: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    rows: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    blocking: float | None = None

    @property
    def overlapping(self) -> bool:
        """Whether any image of ``dataset`` has a copy in ``against``."""
        return bool(self.exact or self.near)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)

    def _found(self, test_index: np.ndarray | None) -> np.ndarray:
        scores = np.asarray(self.scores, dtype=float)
        return scores if test_index is None else scores[np.isin(np.asarray(self.rows, dtype=np.int64), test_index)]

    def test_copies(self, test_index: np.ndarray | None = None) -> int:
        """How many of the rows ``test_index`` (default: every row) have a copy in ``against``
        at or above ``blocking``."""
        return int((self._found(test_index) >= (self.blocking or 0)).sum())

    def suspected(self, test_index: np.ndarray | None = None) -> int:
        """How many of the rows ``test_index`` (default: every row) have a near pair in
        ``against`` below ``blocking`` only."""
        return int((self._found(test_index) < (self.blocking or 0)).sum())


def scan(dataset: Dataset, against: Dataset, search: DuplicateSearch | None = None,
         examples: int = 5) -> CrossReport:
    """Count the images of ``dataset`` that have an exact or near copy in ``against``."""
    search = search or DuplicateSearch()
    started = time.perf_counter()
    exact = (exact_pairs(dataset.images, against.images)
             if dataset.images.shape[1:] == against.images.shape[1:] else None)
    near = near_pairs(dataset.images, against.images, search)
    exact_rows = np.unique(exact.first) if exact is not None else np.zeros(0, np.int64)
    near_rows = np.setdiff1d(np.unique(near.first), exact_rows)
    shown = []
    for kind, pairs in (("exact", exact), ("near", near)):
        if pairs is None:
            continue
        for i in range(min(examples, len(pairs))):
            a, b = int(pairs.first[i]), int(pairs.second[i])
            shown.append({"kind": kind, dataset.name: str(dataset.paths[a]), against.name: str(against.paths[b]),
                          "score": round(float(pairs.score[i]), 3), "mirrored": bool(pairs.flipped[i])})
    best = np.zeros(len(dataset))
    np.maximum.at(best, near.first, near.score)
    best[exact_rows] = 1.0
    rows = np.union1d(exact_rows, near_rows)
    return CrossReport(dataset.name, against.name, len(dataset), len(against), int(len(exact_rows)),
                       int(len(near_rows)), shown, search.to_dict(), round(time.perf_counter() - started, 2),
                       rows.astype(int).tolist(), [round(float(v), 4) for v in best[rows]])



def pretraining_overlap(model: ModelSpec, dataset: DatasetSpec) -> str | None:
    """Why ``model``'s declared pretraining data includes the images of ``dataset``, or None.

    A model card's ``pretrained_on`` names data sets; a data set spec's ``same_images_as``
    names those holding the same images (FERPlus and FER2013).
    """
    seen = set(model.card.pretrained_on)
    shared = sorted(seen & ({dataset.name} | set(dataset.same_images_as)))
    if not shared:
        return None
    if shared == [dataset.name]:
        return f"cross-data-set leak: {model.name} is pretrained on {dataset.name} itself"
    return (f"cross-data-set leak: {model.name} is pretrained on {', '.join(shared)}, which holds "
            f"the images of {dataset.name}")
