"""Finding, aligning and cropping the face in an image before it becomes a sample.

- :mod:`ferbench.loading.faces.landmarks`: reading CK+ landmark files (68 iBUG points a frame).
- :mod:`ferbench.loading.faces.detect`: OpenCV's frontal-face Haar cascade (optional extra).
- :mod:`ferbench.loading.faces.crop`: the settings (:class:`FaceCrop`) and the crop itself.

Loaders pass a :class:`FaceCrop` to :func:`ferbench.loading.build_dataset`, which crops each
image once, into the decoded-image cache, and counts what it did in the data set's notes.
"""

from ferbench.loading.faces.crop import METHODS, FaceCrop, face_crop
from ferbench.loading.faces.landmarks import LandmarksError, read_landmarks

__all__ = ["METHODS", "FaceCrop", "LandmarksError", "face_crop", "read_landmarks"]
