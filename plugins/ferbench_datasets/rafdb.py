"""The ``rafdb`` data set: RAF-DB basic (7 classes, official train/test partition).

Reads ``EmoLabel/list_patition_label.txt`` (``<name> <label>`` per line, labels 1 Surprise,
2 Fear, 3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral; the last line may lack its
newline) with ``Image/aligned/<stem>_aligned.jpg`` (100×100 RGB), or ``Image/original/<name>``
with ``aligned=False``. ``root`` is the folder holding ``EmoLabel`` and ``Image`` (or its parent
holding ``raf-basic``). A bad line is a counted skip naming the line; a missing image is a
counted skip; no image at all is an error. The split (``train``/``test``) is the name's prefix.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ferbench.data import EMOTIONS, Dataset
from ferbench.errors import UserError
from ferbench.loading import LoadReport, build_dataset, parse_size, require_dir
from ferbench.specs import DatasetSpec, PublishedResult
from ferbench_datasets.published import seed_table_2

NAME = "rafdb"
CODES = (None, "surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
CLASSES = tuple(c for c in EMOTIONS if c in CODES)
LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"
_LINE = re.compile(r"^((train|test)_\d+)\.jpg\s+([1-7])$")


def read_labels(path: Path, report: LoadReport) -> list[tuple[str, str, int]]:
    """(stem, split, class index) per good line of the label file; bad lines are skips."""
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None:
            report.skip("bad line (expected '<train|test>_<number>.jpg <label 1-7>')",
                        f"{LABEL_FILE.as_posix()}, line {number}: {line.strip()[:40]!r}", "Fix the line")
            continue
        rows.append((match[1], match[2], CLASSES.index(CODES[int(match[3])])))
    return rows


def load(root: Path, aligned: bool = True, image_size: int | tuple[int, int] | None = None,
         strict: bool = False, verify: bool = False) -> Dataset:
    """Load RAF-DB basic from ``root``.

    ``aligned`` reads the 100×100 aligned images (else the originals, resized to ``image_size``,
    default: their most common size). ``strict`` turns skipped lines and missing images into
    errors; ``verify`` checks the image cache against file contents.
    """
    root = Path(root)
    if not (root / LABEL_FILE).is_file() and (root / "raf-basic" / LABEL_FILE).is_file():
        root = root / "raf-basic"
    labels_path = root / LABEL_FILE
    if not labels_path.is_file():
        raise UserError(f"data set {NAME!r}: {labels_path} not found. Point --data-dir rafdb=PATH at "
                        "RAF-DB basic's folder (the one holding EmoLabel/ and Image/).")
    report = LoadReport(NAME, strict)
    rows = read_labels(labels_path, report)
    if not rows:
        raise UserError(f"data set {NAME!r}: {labels_path} has no label lines.")
    folder = require_dir(root / "Image" / ("aligned" if aligned else "original"), NAME,
                         "RAF-DB's images" + ("" if aligned else " (or use aligned=True)"))
    stems, split, labels = zip(*rows)
    paths = [folder / (f"{stem}_aligned.jpg" if aligned else f"{stem}.jpg") for stem in stems]
    size = parse_size(image_size, NAME) or ((100, 100) if aligned else None)
    return build_dataset(NAME, CLASSES, paths, root, {"labels": np.array(labels), "split": split},
                         channels=3, size=size, report=report, verify=verify)


SPEC = DatasetSpec(
    name=NAME,
    load=load,
    classes=CLASSES,
    image_size=(100, 100),
    channels=3,
    has_subjects=False,
    has_sequences=False,
    official_splits=("train", "test"),
    description="RAF-DB basic: 15,339 in-the-wild images, 7 classes, official 12,271/3,068 "
                "train/test; no subject identity",
    citation="Li, Deng, Du, Reliable crowdsourcing and deep locality-preserving learning for "
             "expression recognition in the wild, CVPR 2017",
    licence="non-commercial research only, on request; redistribution not allowed",
    best_published=PublishedResult(
        accuracy=0.926, protocol="official test set (3,068 images), 7 classes",
        source="S2D 92.57% (Chen et al., IEEE TAC 2024; unverified)", model="S2D"),
    published=seed_table_2("rafdb"),
)
