"""The Dataset container: one column per field, decoded once.

Columns make hashing, fold assignment, leakage scans and batching vectorised; a
:class:`Sample` is only a view of one row, for APIs that want one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

#: The canonical emotion vocabulary. Every data set maps its labels onto these names.
EMOTIONS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
)


@dataclass(frozen=True)
class Sample:
    """One row of a :class:`Dataset`."""

    image: np.ndarray
    label: str
    subject: str | None
    sequence: str | None
    frame: int | None
    path: str
    split: str | None


def _column(values, name: str, n: int, dtype=None) -> np.ndarray | None:
    if values is None:
        return None
    raw = np.asarray(values, dtype=object if dtype is str else None)
    if raw.ndim != 1 or len(raw) != n:
        raise ValueError(f"Dataset column {name!r} must be 1-D with {n} rows (one per image), "
                         f"got shape {raw.shape}.")
    if raw.dtype == object and any(v is None for v in raw):
        raise ValueError(f"Dataset column {name!r} has None entries; pass {name}=None when the "
                         "whole column is unknown.")
    return raw.astype(dtype) if dtype is not None else raw


@dataclass
class Dataset:
    """A data set as columns of equal length N.

    ``labels`` index into ``classes`` (a tuple of names from :data:`EMOTIONS`).
    ``subjects``, ``sequences``, ``frames`` and ``split`` are ``None`` where the data set
    has no such information. ``soft_labels`` (float32 (N, n_classes), rows summing to 1) holds
    label distributions where the data set has them (e.g. FER+ votes); ``labels`` stays the label
    that scores are computed against. ``notes`` says what the loader skipped, converted or dropped;
    ``face_crop`` (None when faces were not cropped) the face-crop settings and outcome counts.
    """

    name: str
    classes: tuple[str, ...]
    images: np.ndarray
    labels: np.ndarray
    paths: np.ndarray
    subjects: np.ndarray | None = None
    sequences: np.ndarray | None = None
    frames: np.ndarray | None = None
    split: np.ndarray | None = None
    soft_labels: np.ndarray | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)
    face_crop: dict | None = field(default=None, compare=False)
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = [c for c in self.classes if c not in EMOTIONS]
        if unknown:
            raise ValueError(
                f"Dataset {self.name!r} uses classes {unknown} outside the canonical vocabulary "
                f"{EMOTIONS}; map them onto it in the dataset plugin."
            )
        self.classes = tuple(self.classes)
        images = np.asarray(self.images)
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"Dataset {self.name!r}: images must be a uint8 array (N, H, W, C), "
                f"got {images.dtype} with shape {images.shape}."
            )
        self.images = images
        n = len(images)
        self.labels = _column(self.labels, "labels", n, np.int64)
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(
                f"Dataset {self.name!r}: labels must index classes (0..{len(self.classes) - 1})."
            )
        self.paths = _column(self.paths, "paths", n, str)
        self.subjects = _column(self.subjects, "subjects", n, str)
        self.sequences = _column(self.sequences, "sequences", n, str)
        self.frames = _column(self.frames, "frames", n, np.int64)
        self.split = _column(self.split, "split", n, str)
        self.notes = tuple(str(note) for note in self.notes)
        if self.soft_labels is not None:
            soft = np.asarray(self.soft_labels, dtype=np.float32)
            if soft.shape != (n, len(self.classes)):
                raise ValueError(f"Dataset {self.name!r}: soft_labels must have shape "
                                 f"{(n, len(self.classes))} (one row per image, one column per "
                                 f"class), got {soft.shape}.")
            if n and (not np.isfinite(soft).all() or soft.min() < 0
                      or not np.allclose(soft.sum(1), 1, atol=1e-4)):
                raise ValueError(f"Dataset {self.name!r}: soft_labels must be finite, >= 0, "
                                 "and each row must sum to 1.")
            self.soft_labels = soft

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        return tuple(self.images.shape[1:])

    @property
    def fingerprint(self) -> str:
        """SHA-256 over decoded pixels, labels and class names (not file bytes or paths)."""
        if self._fingerprint is None:
            digest = hashlib.sha256()
            digest.update(repr((self.classes, self.images.shape)).encode())
            digest.update(np.ascontiguousarray(self.images).tobytes())
            digest.update(self.labels.astype("<i8").tobytes())
            if self.soft_labels is not None:
                digest.update(self.soft_labels.astype("<f4").tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def class_counts(self) -> dict[str, int]:
        """Number of samples per class name."""
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return dict(zip(self.classes, counts.tolist()))

    def sample(self, i: int) -> Sample:
        """Row ``i`` as a :class:`Sample`."""

        def cell(column):
            return None if column is None else column[i].item()

        return Sample(
            image=self.images[i],
            label=self.classes[self.labels[i]],
            subject=cell(self.subjects),
            sequence=cell(self.sequences),
            frame=cell(self.frames),
            path=str(self.paths[i]),
            split=cell(self.split),
        )

    def subset(self, index: np.ndarray) -> Dataset:
        """The rows in ``index`` (an integer array) as a new Dataset."""
        index = np.asarray(index, dtype=np.int64)

        def take(column):
            return None if column is None else column[index]

        return Dataset(
            name=self.name,
            classes=self.classes,
            images=self.images[index],
            labels=self.labels[index],
            paths=self.paths[index],
            subjects=take(self.subjects),
            sequences=take(self.sequences),
            frames=take(self.frames),
            split=take(self.split),
            soft_labels=take(self.soft_labels),
            notes=self.notes,
            face_crop=self.face_crop,
        )

    def clips(self, length: int | None = None) -> Clips:
        """Group rows into clips for models that take frame sequences.

        A clip is the rows sharing a sequence and a label, in frame order (row order where
        ``frames`` is None). Every clip is resampled to ``length`` frames (default: the longest
        clip) by evenly spaced indices, so shorter clips repeat frames and longer ones skip some.
        """
        if self.sequences is None:
            raise ValueError(
                f"data set {self.name!r} has no sequences, so it cannot feed a clip model; "
                "use an image model, or a data set whose spec has has_sequences=True."
            )
        order = np.lexsort((
            self.frames if self.frames is not None else np.arange(len(self)),
            self.labels,
            self.sequences,
        ))
        keys = np.stack([self.sequences[order], self.labels[order].astype(str)], 1)
        starts = np.flatnonzero(np.r_[True, (keys[1:] != keys[:-1]).any(1)])
        sizes = np.diff(np.r_[starts, len(order)])
        length = int(sizes.max()) if length is None else length
        if length < 1:
            raise ValueError(f"clip length must be >= 1, got {length}.")
        steps = np.linspace(0, 1, length)
        rows = order[starts[:, None] + np.round(steps[None, :] * (sizes[:, None] - 1)).astype(np.int64)]
        member = np.empty(len(self), dtype=np.int64)
        member[order] = np.repeat(np.arange(len(starts)), sizes)
        return Clips(rows=rows, member=member, sizes=sizes)


@dataclass(frozen=True)
class Clips:
    """Clips of a :class:`Dataset`: ``rows`` (n_clips, T) row indices in frame order,
    ``member`` (N,) the clip each row belongs to, ``sizes`` (n_clips,) frames before resampling."""

    rows: np.ndarray
    member: np.ndarray
    sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def length(self) -> int:
        """Frames per clip, T."""
        return self.rows.shape[1]
