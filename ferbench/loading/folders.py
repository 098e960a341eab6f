"""Walking a data set's folders: class folders mapped to canonical classes, image files listed.

Class folder names are matched against ferbench's canonical classes and common aliases
(:data:`ALIASES`: happy, angry, sad, ...), or a loader option ``classes={"folder": "anger"}``.
What is not an image (by its extension) or is a folder where images were expected is a counted
skip in the :class:`~ferbench.loading.report.LoadReport`; hidden files and OS junk
(Thumbs.db, desktop.ini) are passed over without a word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ferbench.data import EMOTIONS
from ferbench.errors import UserError
from ferbench.loading.report import LoadReport

#: File name extensions read as images (compared in lower case).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                            ".pgm", ".ppm", ".pnm"})
#: Files an OS or a file manager leaves in folders; never data, so passed over.
JUNK_FILES = frozenset({"thumbs.db", "desktop.ini"})
#: Folder names that data sets and users commonly give to the canonical classes.
ALIASES: Mapping[str, str] = {
    **{name: name for name in EMOTIONS},
    "happy": "happiness", "joy": "happiness", "angry": "anger", "sad": "sadness",
    "surprised": "surprise", "fearful": "fear", "afraid": "fear", "disgusted": "disgust",
    "contemptuous": "contempt", "calm": "neutral",
}


def _guess(folder: str) -> str | None:
    """The canonical class a folder name spells out in one of its words ('1 - Happy': happiness)."""
    for word in re.findall(r"[a-z]+", folder.lower()):
        if word in ALIASES:
            return ALIASES[word]
    return None


def relative_path(path: str | Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes, as Datasets and messages show it
    (``path`` unchanged when it is not under ``root``)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def require_dir(path: Path, dataset: str, what: str) -> Path:
    """``path`` if it is a folder, else a UserError saying what was expected there."""
    if not path.is_dir():
        found = "is a file, not a folder" if path.exists() else "not found"
        raise UserError(f"data set {dataset!r}: {path} {found}; expected a folder: {what}. "
                        f"Check --data-dir {dataset}=PATH.")
    return path


def image_files(folder: Path, report: LoadReport, root: Path | None = None) -> list[Path]:
    """The image files directly in ``folder``, sorted by name; other files are counted skips,
    named relative to ``root`` (hidden files and OS junk such as Thumbs.db are passed over)."""
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name.lower() in JUNK_FILES:
            continue
        if path.is_dir():
            report.skip("a folder where image files were expected", relative_path(path, root or folder),
                        "Move it out of the image folder")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            out.append(path)
        else:
            report.skip("not an image file (by its extension)", relative_path(path, root or folder),
                        "Remove it from the image folder")
    return out


def class_folders(root: Path, dataset: str, mapping: Mapping[str, str] | None = None,
                  option: str = "classes") -> dict[str, str]:
    """Map each class folder under ``root`` to a canonical class name.

    ``mapping`` (folder name -> canonical name) comes first, then :data:`ALIASES`
    (case-insensitive). An unknown folder is a UserError saying how to map it.
    """
    require_dir(root, dataset, "one folder per class")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UserError(f"data set {dataset!r}: {root} has no class folders; expected "
                        f"<class>/<image> (e.g. {root}/happy/0001.png).")
    mapping = dict(mapping or {})
    bad_targets = sorted({v for v in mapping.values() if v not in EMOTIONS})
    if bad_targets:
        raise UserError(f"data set {dataset!r}: option {option} maps onto {bad_targets}, which are "
                        f"not canonical class names; use names from {', '.join(EMOTIONS)}.")
    out, unknown = {}, []
    for folder in folders:
        canonical = mapping.get(folder) or ALIASES.get(folder.lower())
        if canonical is None:
            unknown.append(folder)
        else:
            out[folder] = canonical
    if unknown:
        guesses = [(folder, _guess(folder)) for folder in unknown[:2]]
        example = ", ".join(f"'{folder}': '{guess or 'CLASS'}'" for folder, guess in guesses)
        where = ", where CLASS is the canonical name of its class" if not all(g for _, g in guesses) else ""
        raise UserError(
            f"data set {dataset!r}: class folder(s) {unknown} in {root} are not canonical class "
            f"names ({', '.join(EMOTIONS)}) or a known alias. Map them with the option "
            f"{option}={{{example}}} (command line: --dataset-option \"{dataset}.{option}={{{example}}}\"){where}, "
            "or move the folder(s) out."
        )
    doubled = sorted({c for c in out.values() if list(out.values()).count(c) > 1})
    if doubled:
        raise UserError(f"data set {dataset!r}: several folders map onto {doubled} "
                        f"({ {f: c for f, c in out.items() if c in doubled} }); map each class once.")
    return out


def folder_tree(root: Path, dataset: str, report: LoadReport,
                mapping: Mapping[str, str] | None = None) -> tuple[tuple[str, ...], list[Path], list[int]]:
    """Read a ``<class>/<image>`` tree: (classes in canonical order, files, label per file).

    An empty class folder is a UserError (its class would have no samples).
    """
    folders = class_folders(root, dataset, mapping)
    classes = tuple(c for c in EMOTIONS if c in folders.values())
    files, labels = [], []
    for folder, canonical in folders.items():
        found = image_files(root / folder, report, root)
        if not found:
            raise UserError(f"data set {dataset!r}: class folder {root / folder} has no images; "
                            "add its images or remove the folder.")
        files += found
        labels += [classes.index(canonical)] * len(found)
    return classes, files, labels
