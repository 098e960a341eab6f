"""Where folds are made: the evaluation protocols and the fold plan they produce.

A :class:`FoldPlan` is a pure function of (data set content, protocol, k, seed). It is saved
with the run and shared by every model, which is what makes model comparisons paired.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, replace

import numpy as np
from ferbench.data import Dataset
from ferbench.errors import UserError
from ferbench.job import plan_key
from ferbench.similarity import DuplicateSearch, Pairs, components, copy_pairs

#: Protocol name -> (description, whether it lets one subject or clip reach both sides).
PROTOCOLS: dict[str, tuple[str, bool]] = {
    "subject": (
        "stratified k-fold grouped by subject (by sequence when a data set has no subjects)",
        False,
    ),
    "image": (
        "stratified k-fold over individual images, the seed paper's protocol: frames of one "
        "subject and one clip land on both sides, so every result is marked leaky",
        True,
    ),
    "dedup": (
        "stratified k-fold over images with every exact or near copy in the same fold: on data "
        "sets without subjects (FER2013, FER+, RAF-DB) the closest to subject-independent there "
        "is; where subjects exist their other images still reach both sides, and the audit says so",
        False,
    ),
    "official": (
        "the data set's own train/test split (one fold; its validation part is held out)",
        False,
    ),
    "official-purged": (
        "the data set's own split, minus every training and validation image that is an exact or "
        "near copy of a test image; the test split stays whole, so results compare with 'official'",
        False,
    ),
}

#: The protocols that use the data set's own split (one fold; ``--folds`` is not used).
OFFICIAL = ("official", "official-purged")

#: ``test_fold`` value of rows that are in no fold's training or test part (official validation).
HELD_OUT = -2
#: ``test_fold`` value of rows dropped from every part because they copy a test image.
PURGED = -3

#: Split names (lower case) of the data sets' own splits -> their role in the official protocol.
SPLIT_ROLES: dict[str, str] = {
    "train": "train", "training": "train",
    "valid": "validation", "validation": "validation", "val": "validation", "publictest": "validation",
    "test": "test", "privatetest": "test",
}


@dataclass(frozen=True)
class FoldPlan:
    """Which fold each sample is tested in (``test_fold[i]``), with what produced it.

    ``test_fold[i]`` is -1 for rows that are only ever trained on (the official protocol's
    training split), :data:`HELD_OUT` for rows in no part (its validation split) and
    :data:`PURGED` for rows dropped because they copy a test image.
    """

    dataset: str
    fingerprint: str
    protocol: str
    k: int
    seed: int
    grouped_by: str | None
    splitter: str
    test_fold: np.ndarray
    #: The unit whose test images count as one independent observation in the statistics
    #: (subject, sequence, copy group or image), and each row's cluster under it. None in
    #: plans saved by ferbench before 0.9: their reports treat every test image as independent.
    cluster_unit: str | None = None
    clusters: np.ndarray | None = None

    @property
    def key(self) -> str:
        """File-name stem that identifies this plan in a run directory."""
        return plan_key(self.dataset, self.protocol, self.k, self.seed)

    @property
    def official(self) -> bool:
        """Whether this plan is the data set's own split rather than k folds."""
        return self.protocol in OFFICIAL

    @property
    def design(self) -> str:
        """``official split`` or ``k-fold``, for titles."""
        return "official split" if self.official else f"{self.k}-fold"

    @property
    def leaky(self) -> bool:
        """Whether the protocol itself lets a subject or clip reach both sides of a fold."""
        return PROTOCOLS[self.protocol][1]

    def train_index(self, fold: int) -> np.ndarray:
        """Indices of the training part of ``fold``."""
        return np.flatnonzero(~np.isin(self.test_fold, (fold, HELD_OUT, PURGED)))

    def outside_index(self, fold: int) -> np.ndarray:
        """Indices outside the test part of ``fold`` (its training part and held-out rows, not
        purged rows): where no copy of a test sample may be."""
        return np.flatnonzero((self.test_fold != fold) & (self.test_fold != PURGED))

    def held_out_index(self) -> np.ndarray:
        """Indices of rows in no training or test part (the official validation split)."""
        return np.flatnonzero(self.test_fold == HELD_OUT)

    def test_index(self, fold: int) -> np.ndarray:
        """Indices of the test part of ``fold``."""
        return np.flatnonzero(self.test_fold == fold)

    def to_json(self) -> str:
        """Serialised form, saved under ``RUN_DIR/folds/``."""
        fields = {k: v for k, v in self.__dict__.items() if k not in ("test_fold", "clusters")}
        clusters = None if self.clusters is None else self.clusters.tolist()
        return json.dumps({**fields, "test_fold": self.test_fold.tolist(), "clusters": clusters})

    @classmethod
    def from_json(cls, text: str) -> FoldPlan:
        """Inverse of :meth:`to_json`."""
        fields = json.loads(text)
        fields["test_fold"] = np.asarray(fields["test_fold"], dtype=np.int64)
        if fields.get("clusters") is not None:
            fields["clusters"] = np.asarray(fields["clusters"], dtype=np.int64)
        return cls(**fields)

    def test_clusters(self, rows: np.ndarray) -> tuple[str, np.ndarray]:
        """The cluster unit and the cluster of each of ``rows`` (data set rows); each row its
        own cluster ("image") for plans saved without clusters."""
        if self.clusters is None:
            return "image", np.asarray(rows)
        return self.cluster_unit or "image", self.clusters[np.asarray(rows)]


def _groups(dataset: Dataset) -> tuple[str, np.ndarray]:
    if dataset.subjects is not None:
        return "subject", dataset.subjects
    if dataset.sequences is not None:
        return "sequence", dataset.sequences
    official = ", --protocol official (its own train/test split)" if dataset.split is not None else ""
    raise UserError(
        f"data set {dataset.name!r} has neither subjects nor sequences, so the 'subject' "
        f"protocol cannot keep anyone out of both sides. Use --protocol dedup (k-fold with every "
        f"copy of an image in one fold){official} or --protocol image (marked leaky), or a data "
        "set that records subjects or sequences."
    )


def check_protocol(protocol: str, k: int) -> None:
    """Reject an unknown protocol or fewer than two folds, before any data is loaded."""
    if protocol not in PROTOCOLS:
        raise UserError(f"unknown protocol {protocol!r}. Known protocols: {', '.join(PROTOCOLS)}.")
    if k < 2 and protocol not in OFFICIAL:
        raise UserError(f"--folds must be at least 2 for cross-validation, got {k}.")


def _official(dataset: Dataset, seed: int) -> FoldPlan:
    if dataset.split is None:
        raise UserError(
            f"data set {dataset.name!r} has no official split (no split column), so "
            "--protocol official cannot run on it. Use --protocol subject."
        )
    names = sorted(set(dataset.split.tolist()))
    unknown = [name for name in names if name.lower() not in SPLIT_ROLES]
    if unknown:
        raise UserError(
            f"data set {dataset.name!r}: split name(s) {unknown} have no known role; name its "
            f"splits with one of {sorted(SPLIT_ROLES)} in the data set plugin."
        )
    roles = np.array([SPLIT_ROLES[name.lower()] for name in dataset.split])
    for needed in ("train", "test"):
        if not (roles == needed).any():
            raise UserError(f"data set {dataset.name!r} has no {needed} split (it has {names}); "
                            "--protocol official needs both. Use --protocol subject.")
    test_fold = np.where(roles == "test", 0, np.where(roles == "train", -1, HELD_OUT)).astype(np.int64)
    described = ", ".join(f"{name}: {SPLIT_ROLES[name.lower()]}" for name in names)
    return FoldPlan(dataset=dataset.name, fingerprint=dataset.fingerprint, protocol="official", k=1,
                    seed=seed, grouped_by=None, splitter=f"official split ({described})",
                    test_fold=test_fold)


def _copy_group(dataset: Dataset, search: DuplicateSearch, copies: tuple[Pairs, Pairs] | None) -> np.ndarray:
    """One label per image: chains of exact or near ``copies`` (searched here when None)."""
    return components(len(dataset), *(copies if copies is not None else copy_pairs(dataset.images, search)))


def _purged(dataset: Dataset, seed: int, search: DuplicateSearch | None,
            copies: tuple[Pairs, Pairs] | None) -> FoldPlan:
    search = search or DuplicateSearch()
    plan = _official(dataset, seed)
    group = _copy_group(dataset, search, copies)
    copies = (plan.test_fold != 0) & np.isin(group, group[plan.test_index(0)])
    return replace(plan, protocol="official-purged", test_fold=np.where(copies, PURGED, plan.test_fold),
                   splitter=f"{plan.splitter}, minus {int(copies.sum())} training or validation "
                            f"images that copy a test image (exact, or near at threshold {search.threshold})")


#: The last data set's copy groups, by (fingerprint, search): planning a run asks for them twice
#: (fold groups or purge, then the statistics' clusters), and the search is the costly part.
_COPY_GROUPS: dict[tuple[str, DuplicateSearch], np.ndarray] = {}


def _copy_group(dataset: Dataset, search: DuplicateSearch | None, copies: tuple[Pairs, Pairs] | None) -> np.ndarray:
    """One label per image: chains of exact or near ``copies`` (searched here when None, once
    per data set and search)."""
    key = (dataset.fingerprint, search or DuplicateSearch())
    if copies is not None:
        _COPY_GROUPS.clear()
        _COPY_GROUPS[key] = components(len(dataset), *copies)
    elif key not in _COPY_GROUPS:
        _COPY_GROUPS.clear()
        _COPY_GROUPS[key] = components(len(dataset), *copy_pairs(dataset.images, key[1]))
    return _COPY_GROUPS[key]


def _copy_groups(dataset: Dataset, search: DuplicateSearch | None,
                 copies: tuple[Pairs, Pairs] | None) -> tuple[np.ndarray, str]:
    """The ``dedup`` protocol's groups: chains of exact or near copies, and how they were found."""
    search = search or DuplicateSearch()
    return (_copy_group(dataset, search, copies),
            f"; groups: chains of exact or near copies (threshold {search.threshold})")


def inference_clusters(dataset: Dataset, search: DuplicateSearch | None = None,
                       copies: tuple[Pairs, Pairs] | None = None) -> tuple[str, np.ndarray]:
    """The unit of independent test observations and each row's cluster: the subject where
    the data set has subjects, else the sequence (clip), else the chain of copies where copies
    exist, else the image. Frames of one person or clip, and copies of one image, fail or
    succeed together, so tests and intervals resample these units, not images."""
    for unit, column in (("subject", dataset.subjects), ("sequence", dataset.sequences)):
        if column is not None:
            return unit, np.unique(np.asarray(column), return_inverse=True)[1].ravel().astype(np.int64)
    groups = _copy_group(dataset, search, copies)
    if len(np.unique(groups)) < len(groups):
        return "copy group", np.asarray(groups, dtype=np.int64)
    return "image", np.arange(len(dataset), dtype=np.int64)


def with_clusters(plan: FoldPlan, dataset: Dataset, search: DuplicateSearch | None = None,
                  copies: tuple[Pairs, Pairs] | None = None) -> FoldPlan:
    """``plan`` carrying :func:`inference_clusters` of ``dataset`` (``copies``: the exact and
    near pairs, where already searched)."""
    unit, clusters = inference_clusters(dataset, search, copies)
    return replace(plan, cluster_unit=unit, clusters=clusters)


def assign_folds(dataset: Dataset, protocol: str = "subject", k: int = 10, seed: int = 0,
                 search: DuplicateSearch | None = None, copies: tuple[Pairs, Pairs] | None = None) -> FoldPlan:
    """Assign every sample of ``dataset`` to the test part of exactly one of ``k`` folds.

    Under ``official`` the data set's own split is the one fold and ``k`` is ignored;
    ``official-purged`` drops from it the copies of test images that ``search`` (the
    near-duplicate detector, default settings when None) finds outside the test split, and
    ``dedup`` groups the folds by the chains of copies it finds. ``copies`` (the exact and near
    pairs ``search`` finds, when already searched) spares searching again.
    """
    check_protocol(protocol, k)
    # Imported here: scikit-learn takes about a second to import, which the official protocols
    # and the commands that only read plans do not need.
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    present = np.unique(dataset.labels)
    if len(present) < 2:
        names = ", ".join(dataset.classes[i] for i in present) or "none"
        raise UserError(f"data set {dataset.name!r} has {len(present)} class with samples ({names}): a "
                        "classifier needs at least two, and every score would be meaningless. Check "
                        "its folder layout or --dataset-option classes=.")
    if protocol == "official":
        return _official(dataset, seed)
    if protocol == "official-purged":
        return _purged(dataset, seed, search, copies)
    labels = dataset.labels
    found = ""
    if protocol == "image":
        grouped_by, groups = None, None
    elif protocol == "dedup":
        groups, found = _copy_groups(dataset, search, copies)
        grouped_by = "copy group"
    else:
        grouped_by, groups = _groups(dataset)
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < k:
            raise UserError(
                f"data set {dataset.name!r} has {n_groups} {grouped_by}s but --folds {k} needs at "
                f"least {k} of them (each {grouped_by} is tested in exactly one fold). "
                f"Use --folds {n_groups} or fewer."
            )
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    largest = int(np.bincount(labels).max())
    if largest < k:
        raise UserError(
            f"data set {dataset.name!r}: its largest class has {largest} samples, fewer than "
            f"--folds {k}, so no stratified split exists. Use --folds {largest} or fewer."
        )
    test_fold = np.full(len(dataset), -1, dtype=np.int64)
    with warnings.catch_warnings():
        # "The least populated class has only n members" is expected on small data sets;
        # the saved plan lets anyone count each fold's classes.
        warnings.filterwarnings("ignore", message="The least populated class")
        try:
            for fold, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
                test_fold[test] = fold
        except ValueError as error:
            raise UserError(f"data set {dataset.name!r} cannot be split into --folds {k} by "
                            f"{type(splitter).__name__} ({error}); use fewer folds.") from None
    empty = sorted(set(range(k)) - set(test_fold.tolist()))
    if empty:
        raise UserError(
            f"{splitter!r} left fold(s) {empty} of data set {dataset.name!r} empty; "
            "lower --folds or change --seed."
        )
    return _trainable(dataset, FoldPlan(
        dataset=dataset.name,
        fingerprint=dataset.fingerprint,
        protocol=protocol,
        k=k,
        seed=seed,
        grouped_by=grouped_by,
        splitter=repr(splitter) + found,
        test_fold=test_fold,
    ))


def _trainable(dataset: Dataset, plan: FoldPlan) -> FoldPlan:
    """``plan`` (k folds), if every fold's training part holds every class the data set has; a
    class missing from a training part could never be predicted on that fold (all its samples,
    or all its subjects, are in one test part), which is refused before any training. (An
    official split is the data set's own and is taken as it is.)"""
    present = set(np.unique(dataset.labels).tolist())
    for fold in range(plan.k):
        missing = present - set(np.unique(dataset.labels[plan.train_index(fold)]).tolist())
        if missing:
            names = ", ".join(dataset.classes[c] for c in sorted(missing))
            unit = f"{plan.grouped_by}s" if plan.grouped_by else "images"
            raise UserError(
                f"data set {dataset.name!r} under --protocol {plan.protocol}: the training part of fold "
                f"{fold} has no {names} (all its {unit} are in that fold's test part), so no model "
                "could learn it there. Use fewer folds, or leave that class out of the data set."
            )
    return plan


@dataclass(frozen=True)
class InnerSplit:
    """A fold's training part divided for model selection: ``fit`` rows train, ``validation``
    rows choose the epoch (row indices into the whole data set); ``source`` says how."""

    fit: np.ndarray
    validation: np.ndarray
    source: str


def inner_split(dataset: Dataset, plan: FoldPlan, fold: int, fraction: float, seed: int) -> InnerSplit:
    """Carve the validation rows that select a model from ``fold``'s training side, never its test part.

    Under the official protocols, with a validation split (FER2013 PublicTest, FER+ Valid) that split is
    the validation part and the whole training split trains. Otherwise about ``fraction`` of
    the training part is held out, stratified by label, grouped by subject (by sequence where
    there are no subjects) so that no person is on both sides, seeded by ``seed``. Under
    ``dedup`` without either, the next fold's test part validates: whole copy groups, about
    1/(k-1) of the training part whatever ``fraction`` asks.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    train = plan.train_index(fold)
    held_out = plan.held_out_index()
    if plan.official and len(held_out):
        splits = ", ".join(sorted(set(dataset.split[held_out].tolist())))
        return InnerSplit(train, held_out, f"the official validation split ({splits})")
    if not 0 < fraction < 1:
        raise UserError(f"the validation fraction must be between 0 and 1 (exclusive), got {fraction}.")
    labels = dataset.labels[train]
    try:
        grouped_by, groups = _groups(dataset)
        groups = groups[train]
    except UserError:
        grouped_by, groups = None, None
    if groups is None and plan.protocol == "dedup":
        other = (fold + 1) % plan.k
        validation = plan.test_index(other)
        return InnerSplit(np.setdiff1d(train, validation), validation,
                          f"fold {other}'s test part ({100 * len(validation) / len(train):.0f}% of the "
                          "training part, whole copy groups)")
    parts = round(1 / fraction)
    if groups is not None:
        parts = min(parts, len(np.unique(groups)))
        if parts < 2:
            raise UserError(f"fold {fold} of {dataset.name!r} trains on one {grouped_by}; an inner "
                            f"validation split needs two. Use the fixed-budget selection (last).")
        splitter = StratifiedGroupKFold(n_splits=parts, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedKFold(n_splits=max(2, min(parts, int(np.bincount(labels).max()))),
                                   shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        fit, validation = next(splitter.split(np.zeros(len(labels)), labels, groups))
    how = f"grouped by {grouped_by}" if grouped_by else "over images"
    return InnerSplit(train[fit], train[validation],
                      f"about {100 / parts:.0f}% of the training part, stratified, {how}")
