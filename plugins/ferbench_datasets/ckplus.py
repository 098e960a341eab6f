"""The ``ckplus`` data set: CK+ (Extended Cohn-Kanade), in either of its two common layouts.

- **CK+48** (the derived 48×48 set): ``<class>/S###_###_########.png`` with class folders
  anger, contempt, disgust, fear, happy, sadness, surprise (the last 3 frames of each of the 327
  labelled sequences).
- **Original release**: ``cohn-kanade-images/S###/###/S###_###_########.png`` and
  ``Emotion/S###/###/S###_###_########_emotion.txt`` holding one float code (0 neutral, 1 anger,
  2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise). A sequence without an emotion
  file has no label in CK+ and is not used (the notes say how many).

The layout is detected: a ``cohn-kanade-images`` folder means the original release.
Subject = ``S###``, sequence = ``S###_###``, frame = the 8-digit number in the file name.

Faces: the original release holds 640×490 full frames, so its faces are cropped by default
(``face_crop="landmarks"``): a square around the 68 points of
``Landmarks/S###/###/S###_###_########_landmarks.txt``, with ``face_margin`` on each side,
rotated so the eye line is level (``face_align``), resized to ``image_size`` (default 48, as
CK+48). A frame without a landmarks file falls back to detection (``face_crop="detect"``,
OpenCV), and is counted. CK+48 is already cropped (default ``face_crop="none"``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ferbench.data import EMOTIONS, Dataset
from ferbench.errors import UserError
from ferbench.loading import (
    LandmarksError, LoadReport, build_dataset, folder_tree, image_files, parse_size, read_landmarks,
    require_dir,
)
from ferbench.loading import face_crop as face_settings
from ferbench.specs import DatasetSpec, PublishedResult
from ferbench_datasets.published import seed_table_2

NAME = "ckplus"
CODES = ("neutral", "anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
EXPRESSIONS = tuple(c for c in EMOTIONS if c != "neutral")
#: Output size of cropped faces when ``image_size`` is not given: CK+48's.
FACE_SIZE = (48, 48)
_CK_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})$")


def ck_name(stem: str) -> tuple[str, str, int] | None:
    """(subject, sequence, frame) from a CK+ file stem like ``S010_004_00000017``, else None."""
    match = _CK_NAME.match(stem)
    if not match:
        return None
    return match[1], f"{match[1]}_{match[2]}", int(match[3])


def load(root: Path, apex_frames: int = 3, neutral_first: bool = False, clips: bool = False,
         image_size: int | tuple[int, int] | None = None, face_crop: str | None = None,
         face_margin: float = 0.15, face_align: bool = True, no_face: str = "keep",
         strict: bool = False, verify: bool = False) -> Dataset:
    """Load CK+ from ``root`` (CK+48 or the original release; detected).

    Original release only: the last ``apex_frames`` frames of each labelled sequence become
    samples; ``neutral_first`` adds each sequence's first frame as ``neutral``; ``clips`` makes
    every frame of each labelled sequence a sample with the sequence's label (for clip models;
    ``apex_frames`` and ``neutral_first`` do not apply). ``image_size`` (int or (H, W)) resizes;
    None keeps the most common size (48×48 for cropped faces). ``face_crop`` is ``landmarks``,
    ``detect`` or ``none`` (default: landmarks for the original release, none for CK+48), with
    ``face_margin``, ``face_align`` and ``no_face`` (``keep`` the full frame or ``skip`` it) as
    in :class:`ferbench.loading.FaceCrop`. ``strict`` turns skipped files into errors;
    ``verify`` checks the image cache against file contents.
    """
    root = Path(root)
    report = LoadReport(NAME, strict)
    size = parse_size(image_size, NAME)
    original = (root / "cohn-kanade-images").is_dir()
    method = face_crop if face_crop is not None else "landmarks" if original else "none"
    if method == "landmarks" and not original:
        raise UserError(f"data set {NAME!r}: face_crop='landmarks' needs the original CK+ release "
                        f"(cohn-kanade-images/ and Landmarks/), and {root} is CK+48, whose faces are "
                        "already cropped; use face_crop='none' (its default) or 'detect'.")
    face = face_settings(method, NAME, face_margin, face_align, no_face)
    if face is not None:
        size = size or FACE_SIZE
    if original:
        return _load_original(root, report, apex_frames, neutral_first, clips, size, verify, face)
    if (apex_frames, neutral_first, clips) != (3, False, False):
        raise UserError(f"data set {NAME!r}: options apex_frames, neutral_first and clips apply to the "
                        f"original CK+ release (a cohn-kanade-images folder), and {root} is not one; "
                        "CK+48 already holds the last 3 frames of each sequence.")
    if not any(p.is_dir() for p in root.iterdir()):
        raise UserError(f"data set {NAME!r}: {root} holds neither CK+48 class folders "
                        "(<class>/S###_###_########.png) nor the original release "
                        "(cohn-kanade-images/ and Emotion/). Check --data-dir ckplus=PATH.")
    found, files, labels = folder_tree(root, NAME, report)
    if "neutral" in found:
        raise UserError(f"data set {NAME!r}: CK+48 has no neutral class, but {root} has a folder for "
                        "it; move it out, or load the tree with the imagefolder data set.")
    missing = [c for c in EXPRESSIONS if c not in found]
    if missing:
        report.note(f"no class folder for {', '.join(missing)} (those classes have no samples)")
    rows = []
    for path, label in zip(files, (EXPRESSIONS.index(found[i]) for i in labels)):
        parsed = ck_name(path.stem)
        if parsed is None:
            report.skip("name is not S###_###_########", str(path.relative_to(root)),
                        "Rename it as CK+ names its frames or move it out")
        else:
            rows.append((path, label, *parsed))
    return _build(root, EXPRESSIONS, rows, size, report, verify, face)


def _build(root, classes, rows, size, report, verify, face, landmarks=None):
    if not rows:
        raise UserError(f"data set {NAME!r}: no CK+ frames found under {root}.")
    paths, labels, subjects, sequences, frames = zip(*rows)
    columns = {"labels": np.array(labels), "subjects": subjects, "sequences": sequences,
               "frames": frames}
    return build_dataset(NAME, classes, paths, root, columns, channels=1, size=size,
                         report=report, verify=verify, face=face, landmarks=landmarks)


def _landmarks(root: Path, rows: list, report: LoadReport) -> tuple[list, list]:
    """Each row's points from ``Landmarks/`` (None where the frame has no file); rows whose file
    cannot be read are counted skips naming the file and line (errors with ``strict``)."""
    folder = root / "Landmarks"
    if not folder.is_dir():
        report.note(f"no Landmarks folder in {root}: every frame falls back to face detection")
        return rows, [None] * len(rows)
    kept, points = [], []
    for row in rows:
        path = row[0]
        file = folder / path.parent.parent.name / path.parent.name / f"{path.stem}_landmarks.txt"
        if not file.is_file():
            kept.append(row)
            points.append(None)
            continue
        try:
            points.append(read_landmarks(file))
            kept.append(row)
        except LandmarksError as error:
            report.skip("unreadable landmarks file", f"{file.relative_to(root)}: {error}",
                        "Fix the file (68 lines of 'x y'), delete it to fall back to detection, "
                        "or load with face_crop='detect'")
    return kept, points


def _emotion(folder: Path, report: LoadReport, root: Path) -> str | None:
    """The expression named by the sequence's emotion file; None without one, "" if unreadable."""
    found = sorted(folder.glob("*_emotion.txt")) if folder.is_dir() else []
    if not found:
        return None
    text = found[0].read_text(errors="replace").strip()
    try:
        code = float(text)
    except ValueError:
        code = -1.0
    if code != int(code) or not 1 <= code <= 7:
        report.skip("emotion file without a code 1-7", f"{found[0].relative_to(root)} ({text[:20]!r})",
                    "Fix the file (one number, e.g. 3.0000000e+00)")
        return ""
    return CODES[int(code)]


def _load_original(root, report, apex_frames, neutral_first, clips, size, verify, face):
    if not isinstance(apex_frames, int) or apex_frames < 1:
        raise UserError(f"data set {NAME!r}: apex_frames must be an int >= 1, got {apex_frames!r}.")
    if clips and neutral_first:
        raise UserError(f"data set {NAME!r}: clips=True keeps whole sequences (neutral onset "
                        "included); it cannot be combined with neutral_first.")
    images = root / "cohn-kanade-images"
    emotions = require_dir(root / "Emotion", NAME, "Emotion/S###/###/*_emotion.txt next to cohn-kanade-images/")
    classes = (("neutral",) if neutral_first else ()) + EXPRESSIONS
    rows, unlabelled, total = [], 0, 0
    for subject in sorted(p for p in images.iterdir() if p.is_dir()):
        for sequence in sorted(p for p in subject.iterdir() if p.is_dir()):
            total += 1
            expression = _emotion(emotions / subject.name / sequence.name, report, root)
            unlabelled += expression is None
            if not expression:
                continue
            frames = []
            for path in image_files(sequence, report, root):
                parsed = ck_name(path.stem)
                if parsed is None:
                    report.skip("name is not S###_###_########", str(path.relative_to(root)),
                                "Rename it as CK+ names its frames or move it out")
                else:
                    frames.append((parsed[2], path, parsed))
            frames.sort()
            if clips:
                chosen = [(f, expression) for f in frames]
            else:
                chosen = [(f, expression) for f in frames[-apex_frames:]]
                if neutral_first and frames and frames[0] not in frames[-apex_frames:]:
                    chosen.insert(0, (frames[0], "neutral"))
            rows += [(path, classes.index(label), *parsed) for (_, path, parsed), label in chosen]
    report.note(f"{unlabelled} of {total} sequences have no emotion file (unlabelled in CK+; not used)")
    landmarks = None
    if face is not None and face.method == "landmarks":
        rows, landmarks = _landmarks(root, rows, report)
    return _build(root, classes, rows, size, report, verify, face, landmarks)


SPEC = DatasetSpec(
    name=NAME,
    load=load,
    classes=EXPRESSIONS,
    image_size=(48, 48),
    channels=1,
    has_subjects=True,
    has_sequences=True,
    official_splits=(),
    description="CK+: 327 labelled sequences of 118 subjects; CK+48 (last 3 frames, 48×48) or the "
                "original release (apex_frames, neutral_first, clips options)",
    face_crop="landmarks (original), none (CK+48)",
    citation="Lucey et al., The Extended Cohn-Kanade Dataset (CK+), CVPR Workshops 2010",
    licence="research only, by signed agreement; redistribution not permitted",
    best_published=PublishedResult(
        accuracy=0.998, protocol="subject-independent 10-fold CV, last 3 frames, 7 classes",
        source="ViT+SE, Aouayeb et al. 2021 (arXiv 2107.03107; aggregator figure)", model="ViT+SE"),
    published=seed_table_2("ckplus"),
)
