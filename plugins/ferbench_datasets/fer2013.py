"""The ``fer2013`` data set: FER2013 (Goodfellow et al. 2013), 7 classes, 48×48 grayscale.

Two layouts, detected:

- ``fer2013.csv`` (``emotion,pixels,Usage``; emotion 0 anger, 1 disgust, 2 fear, 3 happiness,
  4 sadness, 5 surprise, 6 neutral; 2,304 pixel values; Usage Training / PublicTest /
  PrivateTest, which becomes the ``split`` column). A bad line is a counted skip naming its
  line number (an error with ``strict``). The parsed pixels are cached like decoded images.
- the common folder layout ``train/<class>/*.jpg`` and ``test/<class>/*.jpg`` (class folders
  angry, disgust, fear, happy, neutral, sad, surprise); ``split`` is ``train`` / ``test``. In
  ``test/``, a file named ``PublicTest_*`` or ``PrivateTest_*`` (the Kaggle folder export) keeps
  that usage as its split, so ``--protocol official`` validates on PublicTest and tests on
  PrivateTest as with the CSV; other file names there are ``test``.
"""

from __future__ import annotations

import csv as csv_module
import warnings
from pathlib import Path

import numpy as np

from ferbench.data import EMOTIONS, Dataset
from ferbench.errors import UserError
from ferbench.loading import LoadReport, build_dataset, cache, folder_tree
from ferbench.specs import DatasetSpec, PublishedResult

NAME = "fer2013"
CODES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
CLASSES = tuple(c for c in EMOTIONS if c in CODES)
USAGES = ("Training", "PublicTest", "PrivateTest")
#: Usages whose file-name prefix sets the split of a file in the folder layout's test/.
TEST_USAGES = ("PublicTest", "PrivateTest")
PIXELS = 48 * 48


def _pixels(text: str) -> np.ndarray | None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            values = np.fromstring(text, dtype=np.int64, sep=" ")
        except (DeprecationWarning, ValueError):
            return None
    if values.size != PIXELS or values.min() < 0 or values.max() > 255:
        return None
    return values.astype(np.uint8).reshape(48, 48, 1)


def _parse_csv(csv: Path) -> tuple[np.ndarray, dict]:
    """Pixels of the good rows, and meta: labels, usage and the bad lines with their reason."""
    images, labels, usage, bad = [], [], [], []
    with open(csv, newline="", errors="replace") as handle:
        reader = csv_module.reader(handle)
        header = next(reader, [])
        if header[:3] != ["emotion", "pixels", "Usage"]:
            raise UserError(f"data set {NAME!r}: {csv} starts with {header[:3]}; expected the header "
                            "emotion,pixels,Usage of the Kaggle fer2013.csv.")
        for row in reader:
            line = reader.line_num
            if not any(field.strip() for field in row):
                continue
            pixels = _pixels(row[1]) if len(row) == 3 else None
            if len(row) != 3:
                bad.append((line, f"{len(row)} fields, not 3"))
            elif row[0].strip() not in {str(i) for i in range(7)}:
                bad.append((line, f"emotion {row[0][:10]!r} is not 0-6"))
            elif row[2].strip() not in USAGES:
                bad.append((line, f"Usage {row[2][:20]!r} is not one of {', '.join(USAGES)}"))
            elif pixels is None:
                bad.append((line, f"pixels are not {PIXELS} values 0-255"))
            else:
                images.append(pixels)
                labels.append(CLASSES.index(CODES[int(row[0])]))
                usage.append(row[2].strip())
    pixels = np.stack(images) if images else np.zeros((0, 48, 48, 1), np.uint8)
    return pixels, {"labels": labels, "usage": usage, "bad": bad}


def _load_csv(csv: Path, report: LoadReport, verify: bool) -> Dataset:
    key = cache.cache_key([csv], {"layout": "fer2013.csv"})
    hit = cache.lookup(key, [csv], verify=verify)
    if hit is None:
        hit = _parse_csv(csv)
        cache.store(key, hit[0], {**hit[1], "digests": cache.content_digests([csv])})
    images, meta = hit
    for line, reason in meta["bad"]:
        report.skip(f"bad line ({reason})", f"{csv.name}, line {line}", "Fix or delete the line")
    if not len(images):
        raise UserError(f"data set {NAME!r}: {csv} has no usable rows.")
    report.log()
    return Dataset(name=NAME, classes=CLASSES, images=images, labels=meta["labels"],
                   paths=[f"{csv.name}#{i}" for i in range(len(images))], split=meta["usage"],
                   notes=report.lines())


def _usage(name: str, part: str) -> str:
    """The split of a file in ``part`` (train or test): the usage its name carries, in test/."""
    if part == "test":
        for usage in TEST_USAGES:
            if name.startswith(usage + "_"):
                return usage
    return part


def load(root: Path, strict: bool = False, verify: bool = False) -> Dataset:
    """Load FER2013 from ``root``: a folder holding ``fer2013.csv``, or ``train/`` and ``test/``.

    ``strict`` turns skipped lines and files into errors; ``verify`` checks the cache against
    file contents.
    """
    root = Path(root)
    report = LoadReport(NAME, strict)
    csv = root / "fer2013.csv" if root.is_dir() else root
    if csv.is_file():
        return _load_csv(csv, report, verify)
    if not (root / "train").is_dir():
        raise UserError(f"data set {NAME!r}: {root} holds neither fer2013.csv nor train/<class>/ and "
                        "test/<class>/ folders. Check --data-dir fer2013=PATH.")
    paths, labels, split = [], [], []
    for part in ("train", "test"):
        if not (root / part).is_dir():
            report.note(f"no {part}/ folder; only train/ is loaded")
            continue
        classes, files, found = folder_tree(root / part, NAME, report)
        if set(classes) - set(CLASSES):
            raise UserError(f"data set {NAME!r}: {root / part} has class folder(s) for "
                            f"{sorted(set(classes) - set(CLASSES))}, which FER2013 does not have; "
                            "remove them or load the tree with the imagefolder data set.")
        paths += files
        labels += [CLASSES.index(classes[i]) for i in found]
        split += [_usage(file.name, part) for file in files]
    usages = {usage: split.count(usage) for usage in TEST_USAGES if usage in split}
    if usages:
        report.note("test/ split by file-name prefix: " + ", ".join(f"{n} {u}" for u, n in usages.items())
                    + (f", {split.count('test')} without a prefix (test)" if "test" in split else ""))
    return build_dataset(NAME, CLASSES, paths, root, {"labels": np.array(labels), "split": split},
                         channels=1, size=(48, 48), report=report, verify=verify)


SPEC = DatasetSpec(
    name=NAME,
    load=load,
    same_images_as=("ferplus",),  # FERPlus relabels FER2013's pixels
    classes=CLASSES,
    image_size=(48, 48),
    channels=1,
    has_subjects=False,
    has_sequences=False,
    official_splits=USAGES,
    description="FER2013: 35,887 web images, 7 classes; fer2013.csv (Training/PublicTest/"
                "PrivateTest) or train/ and test/ class folders; no subject identity",
    citation="Goodfellow et al., Challenges in representation learning: a report on three machine "
             "learning contests, Neural Networks 2015 (arXiv 1307.0414)",
    licence="no explicit licence; research use only, do not redistribute",
    best_published=PublishedResult(
        accuracy=0.744, protocol="PrivateTest, 7 classes, single model",
        source="LHC-Net 74.42% (Pecoraro et al., Information 13(9):419, 2022)"),
)
