"""Planted copies: the transformed duplicates the near-duplicate search must find.

Used by the tests and ``benchmarks/near_duplicates.py`` to measure recall per kind, and by
anyone who wants to check a threshold on their own images.

``KINDS`` are the copies the search was tuned on. ``HELD_BACK`` are other parameters of the same
operations (3-px shifts, 7° and 3° rotations, JPEG quality 40, 5-px crops, stronger noise,
darkening, a mirrored shifted copy) that were not looked at while choosing the search; the
benchmarks report them separately, as a check that the search is not tuned to ``KINDS`` alone.
A filled border takes the value PIL and OpenCV use by default (black), white, or the image mean.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from functools import partial

import numpy as np
from PIL import Image

Maker = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _fill(image: np.ndarray, fill: str) -> int:
    return {"black": 0, "white": 255, "mean": int(image.mean())}[fill]


def _jpeg(image: np.ndarray, rng: np.random.Generator, quality: int = 70) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


def _shift(image: np.ndarray, rng: np.random.Generator, pixels: int = 2, fill: str = "edge") -> np.ndarray:
    """Shifted by ``pixels`` along both axes; the uncovered border repeats the edge or is filled."""
    dy, dx = rng.choice([-pixels, pixels], 2)
    if fill == "edge":
        padded = np.pad(image, pixels, mode="edge")
    else:
        padded = np.pad(image, pixels, constant_values=_fill(image, fill))
    return padded[pixels + dy:pixels + dy + image.shape[0], pixels + dx:pixels + dx + image.shape[1]]


def _crop(image: np.ndarray, rng: np.random.Generator, pixels: int = 3) -> np.ndarray:
    """``pixels`` rows and columns cropped off (split at random between the sides), resized back."""
    y, x = rng.integers(0, pixels + 1, 2)
    h, w = image.shape
    cropped = Image.fromarray(image[y:h - pixels + y, x:w - pixels + x])
    return np.asarray(cropped.resize((w, h), Image.BILINEAR))


def _rotate(image: np.ndarray, rng: np.random.Generator, degrees: float = 5.0,
            fill: str = "mean") -> np.ndarray:
    angle = float(rng.choice([-degrees, degrees]))
    return np.asarray(Image.fromarray(image).rotate(angle, Image.BILINEAR, fillcolor=_fill(image, fill)))


def _relight(image: np.ndarray, rng: np.random.Generator, gain: float = 1.15, offset: float = 12) -> np.ndarray:
    return np.clip(image.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


def _noise(image: np.ndarray, rng: np.random.Generator, sd: float = 4.0) -> np.ndarray:
    return np.clip(image + rng.normal(0, sd, image.shape), 0, 255).astype(np.uint8)


def _mirror(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return image[:, ::-1].copy()


#: Kind of copy -> maker(grey uint8 (H, W) image, generator) -> copy of the same shape.
KINDS: dict[str, Maker] = {
    "exact": lambda image, rng: image.copy(),
    "jpeg q70": _jpeg,
    "shift 2px": _shift,
    "shift 2px black": partial(_shift, fill="black"),
    "shift 2px white": partial(_shift, fill="white"),
    "shift 2px mean": partial(_shift, fill="mean"),
    "crop 3px": _crop,
    "rotate 5deg": _rotate,
    "rotate 5deg black": partial(_rotate, fill="black"),
    "rotate 5deg white": partial(_rotate, fill="white"),
    "brightness+contrast": _relight,
    "noise sd4": _noise,
    "mirror": _mirror,
}

#: Kinds held back from tuning (see the module docstring).
HELD_BACK: dict[str, Maker] = {
    "shift 3px black": partial(_shift, pixels=3, fill="black"),
    "shift 1px white": partial(_shift, pixels=1, fill="white"),
    "rotate 7deg black": partial(_rotate, degrees=7.0, fill="black"),
    "rotate 3deg white": partial(_rotate, degrees=3.0, fill="white"),
    "jpeg q40": partial(_jpeg, quality=40),
    "crop 5px": partial(_crop, pixels=5),
    "noise sd8": partial(_noise, sd=8.0),
    "darker, less contrast": partial(_relight, gain=0.8, offset=-5),
    "mirror + shift 2px mean": lambda image, rng: _shift(_mirror(image, rng), rng, fill="mean"),
}


def plant_copies(images: np.ndarray, seed: int = 0,
                 kinds: Mapping[str, Maker] = KINDS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One copy of each kind of every grey image (N, H, W): ``(copies, kinds, sources)`` with
    ``copies`` (N * len(kinds), H, W), the kind name and the source index of each copy."""
    rng = np.random.default_rng(seed)
    copies, names, sources = [], [], []
    for kind, make in kinds.items():
        copies += [make(image, rng) for image in images]
        names += [kind] * len(images)
        sources += range(len(images))
    return np.stack(copies), np.array(names), np.array(sources)
