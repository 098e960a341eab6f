"""Finding, aligning and cropping the face in an image before it becomes a sample.

- :mod:`ferbench.faces.landmarks`: reading CK+ landmark files (68 iBUG points a frame).
- :mod:`ferbench.faces.detect`: OpenCV's frontal-face Haar cascade (optional extra).
- :mod:`ferbench.faces.crop`: the settings (:class:`FaceCrop`) and the crop itself.

Loaders pass a :class:`FaceCrop` to :func:`ferbench.imagefiles.load_images`, which crops each
image once, into the decoded-image cache, and counts what it did in the data set's notes.
"""

from ferbench.faces.crop import METHODS, FaceCrop, face_crop

__all__ = ["METHODS", "FaceCrop", "face_crop"]
