"""The ``imagefolder`` data set: any ``<class>/<image>`` tree, for data sets ferbench does not know.

Class folders must be canonical class names or common aliases (happy, angry, sad, surprised,
...), or be mapped with ``classes={"folder": "canonical name"}``. ``subject_regex`` is searched
in each file name; its named group ``subject`` (and optionally ``sequence`` and ``frame``) gives
the grouping columns (a sequence id is qualified by its subject: ``S010`` + ``004`` gives
``S010_004``), and a file whose name does not match is a counted skip. Images of other
sizes are resized to ``image_size`` (default: the most common size), other modes converted to
``channels``; both are counted in the notes.

The images are taken as they are (``face_crop="none"``): ferbench cannot know whether a folder
holds face crops or portraits. For portraits, ``face_crop="detect"`` crops the largest face
(OpenCV's Haar cascade; ``pip install "ferbench[face]"``) to ``image_size`` (default 96).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ferbench.data import Dataset
from ferbench.errors import UserError
from ferbench.loading import LoadReport, build_dataset, check_channels, folder_tree, parse_size
from ferbench.loading import face_crop as face_settings
from ferbench.specs import DatasetSpec

NAME = "imagefolder"
#: Output size of cropped faces when ``image_size`` is not given.
FACE_SIZE = (96, 96)


def _pattern(subject_regex: str | None) -> re.Pattern | None:
    if subject_regex is None:
        return None
    try:
        pattern = re.compile(subject_regex)
    except re.error as error:
        raise UserError(f"data set {NAME!r}: subject_regex {subject_regex!r} is not a valid regular "
                        f"expression ({error}).") from None
    if "subject" not in pattern.groupindex:
        raise UserError(f"data set {NAME!r}: subject_regex needs a named group 'subject', e.g. "
                        r"'^(?P<subject>S\d+)_(?P<sequence>\d+)_(?P<frame>\d+)'.")
    return pattern


def load(root: Path, classes: Mapping[str, str] | None = None, subject_regex: str | None = None,
         image_size: int | tuple[int, int] | None = None, channels: int = 1,
         face_crop: str = "none", face_margin: float = 0.15, no_face: str = "keep",
         strict: bool = False, verify: bool = False) -> Dataset:
    """Load every image of ``root/<class>/`` (see the module docstring for the options).

    ``face_crop`` is ``none`` or ``detect`` (with ``face_margin`` and ``no_face``: ``keep`` the
    full frame or ``skip`` it, as in :class:`ferbench.loading.FaceCrop`). ``strict`` turns skipped
    files into errors; ``verify`` checks the image cache against file contents.
    """
    root = Path(root)
    report = LoadReport(NAME, strict)
    pattern = _pattern(subject_regex)
    check_channels(channels, NAME)
    if face_crop == "landmarks":
        raise UserError(f"data set {NAME!r}: face_crop='landmarks' needs landmark files, which an image "
                        "folder does not have; use face_crop='detect' or 'none'.")
    face = face_settings(face_crop, NAME, face_margin, no_face=no_face)
    size = parse_size(image_size, NAME) or (FACE_SIZE if face is not None else None)
    names, files, labels = folder_tree(root, NAME, report, classes)
    groups: dict[str, list] = {"subject": [], "sequence": [], "frame": []}
    chosen, chosen_labels = [], []
    for path, label in zip(files, labels):
        if pattern is not None:
            match = pattern.search(path.name)
            found = match.groupdict() if match else {}
            if match is None or any(v is None for g, v in found.items() if g in groups):
                report.skip("name does not match subject_regex", str(path.relative_to(root)),
                            "Rename it or widen subject_regex")
                continue
            if "frame" in found and not (found["frame"] or "").isdigit():
                raise UserError(f"data set {NAME!r}: subject_regex group 'frame' must match digits; "
                                f"in {path.name} it matched {found['frame']!r}.")
            for group in groups:
                groups[group].append(found.get(group))
        chosen.append(path)
        chosen_labels.append(label)
    columns = {"labels": np.array(chosen_labels, dtype=np.int64)}
    if pattern is not None:
        columns["subjects"] = groups["subject"]
        if "sequence" in pattern.groupindex:
            # Sequence numbers restart per subject (CK+'s 001, 002, ...): qualify them.
            columns["sequences"] = [f"{subject}_{sequence}" for subject, sequence
                                    in zip(groups["subject"], groups["sequence"])]
        if "frame" in pattern.groupindex:
            columns["frames"] = [int(f) for f in groups["frame"]]
    if not chosen:
        raise UserError(f"data set {NAME!r}: no file name under {root} matches subject_regex "
                        f"{subject_regex!r}.")
    return build_dataset(NAME, names, chosen, root, columns, channels=channels,
                         size=size, report=report, verify=verify, face=face)


SPEC = DatasetSpec(
    name=NAME,
    load=load,
    image_size=None,
    channels=None,
    has_subjects=False,
    has_sequences=False,
    description="any <class>/<image> tree; options classes (folder -> canonical name), "
                "subject_regex (subjects, sequences, frames from file names), image_size, channels, "
                "face_crop",
    face_crop="none (yours to choose)",
    licence="yours",
)
