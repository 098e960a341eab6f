"""CK+ landmark files: ``Landmarks/S###/###/S###_###_########_landmarks.txt``.

Each holds the 68 iBUG points of one frame, one point a line as two floating-point columns
(x, y in pixels, written in exponent notation: ``   2.1500000e+02   2.6300000e+02``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

POINTS = 68
#: iBUG-68 indices of the eye contours: the subject's right eye (left in the image), then left.
RIGHT_EYE = slice(36, 42)
LEFT_EYE = slice(42, 48)


class LandmarksError(ValueError):
    """A landmarks file that cannot be read; the message names the line where one is at fault."""


def read_landmarks(path: str | Path) -> np.ndarray:
    """The points of ``path`` as float64 (68, 2) columns x, y; :class:`LandmarksError` if the
    file has another number of points or a line that is not two numbers."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as error:
        raise LandmarksError(f"cannot be read ({error.strerror or error})") from None
    points = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            if len(fields) != 2:
                raise ValueError
            points.append((float(fields[0]), float(fields[1])))
        except ValueError:
            raise LandmarksError(f"line {number}: expected two numbers (x y), got {line.strip()[:40]!r}") from None
    if len(points) != POINTS:
        raise LandmarksError(f"has {len(points)} points, expected {POINTS} (one 'x y' line each)")
    out = np.asarray(points, dtype=np.float64)
    if not np.isfinite(out).all():
        raise LandmarksError("holds a non-finite coordinate (nan or inf)")
    return out


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (x, y) of the eye on the image's left and of the one on its right."""
    return points[RIGHT_EYE].mean(axis=0), points[LEFT_EYE].mean(axis=0)
