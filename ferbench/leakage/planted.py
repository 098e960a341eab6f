"""Planted copies: the transformed duplicates the near-duplicate search must find.

Used by the tests and ``benchmarks/near_duplicates.py`` to measure recall per kind, and by
anyone who wants to check a threshold on their own images.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image


def _jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=70)
    return np.asarray(Image.open(buffer))


def _shift(image: np.ndarray, rng: np.random.Generator, pixels: int = 2) -> np.ndarray:
    dy, dx = rng.choice([-pixels, pixels], 2)
    padded = np.pad(image, pixels, mode="edge")
    return padded[pixels + dy:pixels + dy + image.shape[0], pixels + dx:pixels + dx + image.shape[1]]


def _crop(image: np.ndarray, rng: np.random.Generator, pixels: int = 3) -> np.ndarray:
    y, x = rng.integers(0, pixels + 1, 2)
    h, w = image.shape
    cropped = Image.fromarray(image[y:h - pixels + y, x:w - pixels + x])
    return np.asarray(cropped.resize((w, h), Image.BILINEAR))


def _rotate(image: np.ndarray, rng: np.random.Generator, degrees: float = 5.0) -> np.ndarray:
    angle = float(rng.choice([-degrees, degrees]))
    return np.asarray(Image.fromarray(image).rotate(angle, Image.BILINEAR, fillcolor=int(image.mean())))


def _relight(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image.astype(np.float32) * 1.15 + 12, 0, 255).astype(np.uint8)


#: Kind of copy -> maker(grey uint8 (H, W) image, generator) -> copy of the same shape.
KINDS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "exact": lambda image, rng: image.copy(),
    "jpeg q70": _jpeg,
    "shift 2px": _shift,
    "crop 3px": _crop,
    "rotate 5deg": _rotate,
    "brightness+contrast": _relight,
    "mirror": lambda image, rng: image[:, ::-1].copy(),
}


def plant_copies(images: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One copy of each kind of every grey image (N, H, W): ``(copies, kinds, sources)`` with
    ``copies`` (N * len(KINDS), H, W), the kind name and the source index of each copy."""
    rng = np.random.default_rng(seed)
    copies, kinds, sources = [], [], []
    for kind, make in KINDS.items():
        copies += [make(image, rng) for image in images]
        kinds += [kind] * len(images)
        sources += range(len(images))
    return np.stack(copies), np.array(kinds), np.array(sources)
