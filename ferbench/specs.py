"""What plugins hand to ferbench: dataset, model and metric specifications, and recipes.

Only ``name`` and the callable of each spec are required; every other field has a default,
so a plugin written with the fewest fields works.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ferbench.data import EMOTIONS, Dataset

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SELECTIONS = ("last", "best")


#: ``torch.compile`` modes a job can train under ("none": eager).
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class Augment:
    """Batched training-time augmentation (applied to whole batches as tensor operations).

    ``rotate`` is the maximum rotation in degrees, ``shift`` the maximum translation as a
    fraction of the image side, ``crop`` the largest fraction of the side a random crop removes
    (the crop is resized back to the full size), ``brightness``, ``contrast`` and
    ``saturation`` the maximum relative change, ``hue`` the maximum hue rotation as a fraction
    of the colour wheel (saturation and hue leave grayscale images unchanged).
    """

    hflip: bool = False
    rotate: float = 0.0
    shift: float = 0.0
    crop: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    def __post_init__(self) -> None:
        for name in _MAGNITUDES:
            if getattr(self, name) < 0:
                raise ValueError(f"Augment.{name} must be >= 0, got {getattr(self, name)}.")
        for name, top in (("crop", 1.0), ("hue", 0.5)):
            if getattr(self, name) >= top:
                raise ValueError(f"Augment.{name} must be below {top}, got {getattr(self, name)}.")

    @property
    def active(self) -> bool:
        """Whether any augmentation is switched on."""
        return self.hflip or any(getattr(self, name) for name in _MAGNITUDES)


_MAGNITUDES = ("rotate", "shift", "crop", "brightness", "contrast", "saturation", "hue")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: optimiser, schedule, budget and input handling.

    ``input_size`` None trains at the data set's native size; ``input_sizes`` maps data set
    names to a size for that data set (as papers that train CK+ at 48 and RAF-DB at 100).
    Training runs a fixed budget of ``epochs`` and the last epoch's weights are evaluated
    (nothing is selected on test data). ``precision`` is ``auto`` (bf16 autocast where the
    device computes bf16 natively, else fp32 on a CPU and fp16 on older CUDA devices),
    ``fp32``, ``bf16`` or ``fp16`` (CUDA only); each result records what it resolved to.

    ``selection`` decides which weights are evaluated, and never looks at the test part:
    ``last`` (a fixed budget: the last epoch) or ``best`` (the epoch with the best accuracy on
    a validation part carved from the training part: ``val_fraction`` of it, grouped by
    subject, or the data set's official validation split; with ``patience`` > 0 training stops
    after that many epochs without improvement).
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    epochs: int = 10
    batch_size: int = 32
    schedule: str = "constant"
    input_size: int | None = None
    input_sizes: Mapping[str, int] = field(default_factory=dict)
    augment: Augment = field(default_factory=Augment)
    precision: str = "auto"
    selection: str = "last"
    val_fraction: float = 0.1
    patience: int = 0

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"Recipe.selection must be one of {SELECTIONS}, got {self.selection!r}.")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"Recipe.val_fraction must be between 0 and 1, got {self.val_fraction}.")
        if self.patience < 0:
            raise ValueError(f"Recipe.patience must be >= 0, got {self.patience}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Recipe.precision must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Recipe.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Recipe.schedule must be one of {SCHEDULES}, got {self.schedule!r}.")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"Recipe.lr must be a finite number > 0, got {self.lr}.")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"Recipe.weight_decay must be a finite number >= 0, got {self.weight_decay}.")
        if self.epochs < 1:
            raise ValueError(f"Recipe.epochs must be >= 1, got {self.epochs}.")
        if self.batch_size < 1:
            raise ValueError(f"Recipe.batch_size must be >= 1, got {self.batch_size}.")
        for where, size in (("input_size", self.input_size), *self.input_sizes.items()):
            if size is not None and size < 8:
                raise ValueError(f"Recipe input size for {where!r} must be >= 8, got {size}.")
        object.__setattr__(self, "input_sizes", dict(sorted(self.input_sizes.items())))

    def with_overrides(self, **overrides: Any) -> Recipe:
        """A copy with the given fields replaced; None values keep the recipe's own (as timm).

        An ``input_size`` override applies to every data set (it clears ``input_sizes``).
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"Recipe has no field(s) {sorted(unknown)}.")
        if "input_size" in given:
            given.setdefault("input_sizes", {})
        return dataclasses.replace(self, **given)

    def for_dataset(self, name: str) -> Recipe:
        """The recipe as it runs on data set ``name``: its input size resolved, the map cleared."""
        return dataclasses.replace(
            self, input_size=self.input_sizes.get(name, self.input_size), input_sizes={}
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ModelCard:
    """Facts a leaderboard shows about a model. Parameter counts are computed, never typed.

    ``pretraining`` describes the starting weights in words; ``pretrained_on`` names the
    registered data sets whose images they were trained on (e.g. ``("fer2013",)``), so that
    testing the model on one of them, or on a data set with the same images, is flagged as a
    cross-data-set leak.
    """

    pretraining: str = "none"
    licence: str = ""
    citation: str = ""
    url: str = ""
    pretrained_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishedResult:
    """An accuracy a publication reports on a data set: reported, not re-run here.

    ``protocol`` is the evaluation protocol as the source states it, "" where it states none;
    ``model`` the method's name; ``note`` what a reader should know (a misprint, a figure that
    disagrees with the source's own text). A data set's ``best_published`` is the best credible
    one under its standard protocol (the sanity band); ``published`` lists the others.
    """

    accuracy: float
    protocol: str
    source: str
    model: str = ""
    note: str = ""

    def row(self) -> dict[str, str]:
        """The result as the boards and ``ferbench list published`` print it."""
        return {"model": self.model or "-", "accuracy %": f"{100 * self.accuracy:.2f}",
                "protocol": self.protocol or "protocol not stated", "source": self.source,
                "note": self.note or "-"}


@dataclass(frozen=True)
class DatasetSpec:
    """A data set a plugin provides.

    ``load(root, **options)`` returns a :class:`~ferbench.data.Dataset`; ``root`` is the folder
    given with ``--data-dir NAME=PATH`` (None for data sets with ``needs_root=False``).
    ``fitted_on_all`` names every statistic the loader fits on all images (a mean image, a PCA
    basis): the leakage audit counts each as fitted on test data, in every fold.
    ``same_images_as`` names registered data sets that hold the same images (FERPlus relabels
    FER2013): a model pretrained on one of them is flagged when tested on this one.
    ``face_crop`` says what the loader does to faces by default (``none`` for data sets that
    are already face crops); a loader that takes a ``face_crop`` option can do otherwise.
    ``best_published`` is the sanity band (a mean accuracy above it is marked "verify
    protocol"); ``published`` lists other accuracies reported on the data set, which the boards
    show beside the measured ones as reported, not re-run (:meth:`literature`).
    """

    name: str
    load: Callable[..., Dataset]
    classes: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    channels: int | None = None
    has_subjects: bool = False
    has_sequences: bool = False
    official_splits: tuple[str, ...] = ()
    needs_root: bool = True
    description: str = ""
    citation: str = ""
    licence: str = ""
    best_published: PublishedResult | None = None
    published: tuple[PublishedResult, ...] = ()
    fitted_on_all: tuple[str, ...] = ()
    same_images_as: tuple[str, ...] = ()
    face_crop: str = "none"

    def __post_init__(self) -> None:
        check_name(self.name, "DatasetSpec")
        unknown = [c for c in self.classes if c not in EMOTIONS]
        if unknown:
            raise ValueError(
                f"DatasetSpec {self.name!r}: classes {unknown} are not in the canonical "
                f"vocabulary {EMOTIONS}."
            )

    def literature(self) -> list[dict[str, str]]:
        """Every published result of the data set as a printable row, the sanity band first
        (its ``role``), then ``published`` from the highest accuracy down."""
        band = [] if self.best_published is None else [{**self.best_published.row(), "role": "sanity band"}]
        others = sorted(self.published, key=lambda r: -r.accuracy)
        return band + [{**r.row(), "role": "reported"} for r in others]


@dataclass(frozen=True)
class ModelSpec:
    """A model a plugin provides.

    ``build(num_classes=, in_chans=, image_size=)`` returns a fresh ``torch.nn.Module`` that
    maps a float batch (B, in_chans, image_size, image_size), already normalised, to logits
    (B, num_classes). ``recipes`` must contain ``"default"``.

    Two speed hints, each worth setting only from a measurement (``benchmarks/
    training_throughput.py``): ``channels_last`` trains in the channels-last memory format on
    the CPU too (CUDA always uses it); ``cpu_bf16`` False keeps ``--precision auto`` at fp32 on a
    CPU, for models that bf16 autocast slows down there (depthwise convolutions, small ViTs).
    """

    name: str
    build: Callable[..., nn.Module]
    recipes: Mapping[str, Recipe] = field(default_factory=lambda: {"default": Recipe()})
    input: str = "image"
    description: str = ""
    card: ModelCard = field(default_factory=ModelCard)
    channels_last: bool = False
    cpu_bf16: bool = True

    def __post_init__(self) -> None:
        check_name(self.name, "ModelSpec")
        if "default" not in self.recipes:
            raise ValueError(
                f"ModelSpec {self.name!r} has recipes {sorted(self.recipes)} but no 'default'."
            )
        if self.input not in ("image", "clip"):
            raise ValueError(f"ModelSpec {self.name!r}: input must be 'image' or 'clip'.")


@dataclass(frozen=True)
class MetricSpec:
    """A metric computed from test labels and predicted probabilities.

    ``fn(y_true, proba)`` takes int labels (N,) and probabilities (N, n_classes) and returns a
    float (NaN where the metric is undefined on that fold).
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "MetricSpec")
        if self.name in RESERVED_METRIC_NAMES:
            raise ValueError(f"MetricSpec name {self.name!r} is reserved for a result column; rename it.")


@dataclass(frozen=True)
class ExecutorSpec:
    """Where jobs run: ``create(**options)`` returns an object with
    ``run(tasks, reporter) -> list[Outcome]`` (see :mod:`ferbench.run.task`).

    ``local`` is True when the jobs run on the coordinator's machine, so its device and
    precision can be checked before any data is loaded.
    """

    name: str
    create: Callable[..., Any]
    description: str = ""
    local: bool = False

    def __post_init__(self) -> None:
        check_name(self.name, "ExecutorSpec")


#: Result-table columns a metric must not shadow.
RESERVED_METRIC_NAMES = frozenset({
    "model", "dataset", "protocol", "k", "seed", "fold", "recipe", "leaky", "status", "metric",
    "value", "n_train", "n_test", "fit_seconds", "device", "threads", "precision", "error",
    "config_hash",
})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*(/[A-Za-z0-9][A-Za-z0-9_.+-]*)*")


def check_name(name: str, kind: str) -> None:
    """Reject a ``kind`` name that cannot be a folder name in a run directory (letters, digits,
    "_.+-", "/"-separated parts)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{kind} name must start with a letter or digit and use only letters, digits, "
            f"'_', '.', '+', '-' (and '/' between parts, as in 'timm/resnet18'), got {name!r}."
        )

