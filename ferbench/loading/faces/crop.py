"""The face step of loading: settings, the crop square, and the crop.

``landmarks`` takes a square around the 68 points with a margin, rotated so that the two eye
centres are level; a frame without landmarks falls back to ``detect``. ``detect`` keeps the
largest face the Haar cascade finds, as a square with a margin. A square that runs off the image
is moved back inside, and made smaller only where the image is smaller than it; no pixel of a
crop is invented. The crop is cut at the image's own resolution, then resized (bilinear with
antialiasing) to the data set's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from ferbench.errors import UserError
from ferbench.loading.faces import detect
from ferbench.loading.faces.landmarks import eye_centres

METHODS = ("none", "landmarks", "detect")
NO_FACE = ("keep", "skip")

#: What happened to one image, as counted in the notes (in this order).
OUTCOMES = {
    "landmarks": "cropped by landmarks",
    "detect": "cropped by detection",
    "fallback": "had no landmarks and fell back to detection",
    "no face": "had no face found",
    "several": "had several faces (the largest kept)",
}


@dataclass(frozen=True)
class FaceCrop:
    """How faces are cropped: ``method`` (landmarks or detect), ``margin`` (fraction of the
    face's size added on each side), ``align`` (landmarks: rotate the eye line level) and
    ``no_face`` (an image where no face is found: ``keep`` the full frame, or ``skip`` it)."""

    method: str
    margin: float = 0.15
    align: bool = True
    no_face: str = "keep"

    def to_dict(self) -> dict:
        """Plain JSON, for cache keys and provenance."""
        return asdict(self)

    def describe(self, size: Sequence[int]) -> str:
        """One line, e.g. ``landmarks, margin 0.15, eye line levelled, 48x48``."""
        parts = [self.method, f"margin {self.margin:g}"]
        if self.method == "landmarks":
            parts.append("eye line levelled" if self.align else "not rotated")
        parts.append(f"{size[1]}x{size[0]}")
        parts.append(f"no face: {'full frame kept' if self.no_face == 'keep' else 'image skipped'}")
        return ", ".join(parts)


def face_crop(method: str | None, dataset: str, margin: float = 0.15, align: bool = True,
              no_face: str = "keep") -> FaceCrop | None:
    """Validated settings for ``dataset``'s loader (None for ``method="none"``); ``detect``
    checks here, before any image is read, that OpenCV is installed."""
    if method not in METHODS:
        raise UserError(f"data set {dataset!r}: face_crop must be one of {', '.join(METHODS)}, got {method!r}.")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin <= 1:
        raise UserError(f"data set {dataset!r}: face_margin must be a number from 0 to 1 (a fraction of "
                        f"the face's size added on each side), got {margin!r}.")
    if not isinstance(align, bool):
        raise UserError(f"data set {dataset!r}: face_align must be true or false, got {align!r}.")
    if no_face not in NO_FACE:
        raise UserError(f"data set {dataset!r}: no_face must be 'keep' (the full frame) or 'skip', got {no_face!r}.")
    if method == "none":
        return None
    if method == "detect":
        detect.require_opencv()
    return FaceCrop(method, float(margin), align, no_face)


@dataclass(frozen=True)
class Square:
    """A square in an image: centre (x, y) in pixels, side, and the angle (radians, clockwise
    on screen) of its top edge."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0


def square_from_points(points: np.ndarray, margin: float, align: bool) -> Square:
    """The square around ``points`` (N, 2) plus ``margin`` on each side, its top edge along the
    eye line when ``align``."""
    angle = 0.0
    if align:
        left, right = eye_centres(points)
        angle = math.atan2(right[1] - left[1], right[0] - left[0])
    cos, sin = math.cos(angle), math.sin(angle)
    rotated = points @ np.array([[cos, -sin], [sin, cos]])  # image → square's frame
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    middle = (low + high) / 2
    cx, cy = middle[0] * cos - middle[1] * sin, middle[0] * sin + middle[1] * cos  # back to the image
    return Square(float(cx), float(cy), float((high - low).max() * (1 + 2 * margin)), angle)


def square_from_box(box: detect.Box, margin: float) -> Square:
    """The square centred on a detection box, its side the box's longer side plus ``margin``."""
    return Square(box.x + box.w / 2, box.y + box.h / 2, max(box.w, box.h) * (1 + 2 * margin))


def fit(square: Square, width: int, height: int) -> Square:
    """``square`` moved inside a ``width`` × ``height`` image, and shrunk only if it cannot fit."""
    spread = abs(math.cos(square.angle)) + abs(math.sin(square.angle))  # bounding box / side
    side = min(square.side, width / spread, height / spread)
    half = side * spread / 2
    return Square(min(max(square.cx, half), width - half), min(max(square.cy, half), height - half),
                  side, square.angle)


def cut(pixels: np.ndarray, square: Square) -> np.ndarray:
    """The pixels of ``square`` (which lies inside the image) at the image's resolution: an
    (n, n, C) array, n = the side rounded down. An unrotated square is an exact slice."""
    height, width, channels = pixels.shape
    n = max(1, int(square.side))
    if square.angle == 0.0:
        left = min(max(round(square.cx - n / 2), 0), width - n)
        top = min(max(round(square.cy - n / 2), 0), height - n)
        return pixels[top:top + n, left:left + n].copy()
    cos, sin = math.cos(square.angle), math.sin(square.angle)
    # output pixel centre (u, v) → image point: centre + rotation · (u − n/2, v − n/2)
    coefficients = (cos, -sin, square.cx - n / 2 * (cos - sin), sin, cos, square.cy - n / 2 * (sin + cos))
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    out = image.transform((n, n), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR)
    return np.asarray(out).reshape(n, n, channels)


def _gray(pixels: np.ndarray) -> np.ndarray:
    if pixels.shape[2] == 1:
        return pixels[..., 0]
    return np.asarray(Image.fromarray(pixels).convert("L"))


def crop(pixels: np.ndarray, settings: FaceCrop, points: np.ndarray | None = None
         ) -> tuple[np.ndarray | None, list[str]]:
    """The face of ``pixels`` (uint8 (H, W, C)) at the image's resolution, and what happened
    (keys of :data:`OUTCOMES`). No face found: the full frame, or None when ``no_face="skip"``."""
    height, width = pixels.shape[:2]
    if settings.method == "landmarks" and points is not None:
        return cut(pixels, fit(square_from_points(points, settings.margin, settings.align), width, height)), \
            ["landmarks"]
    outcomes = ["fallback"] if settings.method == "landmarks" else []
    faces = detect.find_faces(_gray(pixels))
    if not faces:
        return (pixels if settings.no_face == "keep" else None), outcomes + ["no face"]
    if len(faces) > 1:
        outcomes.append("several")
    largest = max(faces, key=lambda box: box.w * box.h)
    return cut(pixels, fit(square_from_box(largest, settings.margin), width, height)), ["detect"] + outcomes
