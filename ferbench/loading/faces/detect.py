"""Face detection with OpenCV's frontal-face Haar cascade (Viola-Jones), which
``opencv-python-headless`` 4.x ships inside the package (``cv2.data.haarcascades``); OpenCV 5
no longer includes it. Install with ``pip install "ferbench[face]"``.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from ferbench.errors import UserError

CASCADE = "haarcascade_frontalface_default.xml"
INSTALL = 'pip install "ferbench[face]"  (opencv-python-headless>=4.5,<5)'


class Box(NamedTuple):
    """A face box in pixels: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float


def require_opencv(what: str = "face_crop='detect'") -> None:
    """Fail at once, with the install command, when OpenCV or its cascade is missing."""
    try:
        import cv2
    except ImportError:
        raise UserError(f"{what} needs OpenCV, which is not installed: {INSTALL}; or choose "
                        "face_crop='none' (or 'landmarks' where every frame has a landmarks file).") from None
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not os.path.isfile(os.path.join(folder, CASCADE)):
        raise UserError(f"{what} needs OpenCV's {CASCADE}, which this OpenCV "
                        f"({cv2.__version__}) does not ship (OpenCV 5 dropped it): {INSTALL}.")


_cascade = None
_cascade_pid = None


def _classifier():
    """One cascade per process (worker processes build their own)."""
    global _cascade, _cascade_pid
    if _cascade is None or _cascade_pid != os.getpid():
        require_opencv()
        import cv2
        cv2.setNumThreads(1)  # ferbench crops on all cores with processes; no nested thread pools
        _cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, CASCADE))
        _cascade_pid = os.getpid()
    return _cascade


#: The cascade's own window (px).
WINDOW = 24


def find_faces(gray: np.ndarray) -> list[Box]:
    """Every frontal face the cascade finds in ``gray`` (uint8 (H, W)), in its pixels.

    Faces smaller than an eighth of the image's shorter side cannot make a useful crop and are
    not looked for: the image is shrunk (area averaging) until that size is the cascade's
    24-px window, and the boxes scaled back.
    """
    import cv2

    scale = min(1.0, WINDOW / max(WINDOW, min(gray.shape) / 8))
    image = np.ascontiguousarray(gray)
    if scale < 1.0:
        image = cv2.resize(image, (round(gray.shape[1] * scale), round(gray.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
    found = _classifier().detectMultiScale(image, scaleFactor=1.1, minNeighbors=5, minSize=(WINDOW, WINDOW))
    return [Box(*(float(v) / scale for v in box)) for box in found]
