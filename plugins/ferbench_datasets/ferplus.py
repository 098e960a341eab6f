"""The ``ferplus`` data set: FER+ (Barsoum et al. 2016) votes joined to the FER+ PNGs.

Reads ``fer2013new.csv`` (``Usage, Image name`` and 10 vote columns: the 8 emotions, ``unknown``,
``NF``) and the PNGs in ``FER2013Train``, ``FER2013Valid`` and ``FER2013Test`` (directly under
the root or under ``root/data``), joined on the image name and the Usage (Training -> Train,
PublicTest -> Valid, PrivateTest -> Test: the ``split`` column). ``fer2013new.csv`` is
authoritative; each folder's ``label.csv`` is only compared with it (the disagreements are
counted in the notes). ``votes="label.csv"`` reads the folders' ``label.csv`` files instead, as
FER+'s own training code does: the 1,602 vote vectors that differ change the kept samples.

Rows of ``fer2013new.csv``:

- an empty ``Image name`` (no face, per the maintainers): dropped and counted;
- a name on several rows (4 in the real file): the **last** row is used. FER+'s export writes
  each row's pixels to the row's name in file order, so the PNG holds the last row's image
  (``fer0033120.png`` shows the non-face icon of its second row, whose votes are NF=10, and is
  therefore dropped by both label modes; ``label.csv`` gives it the first row's votes);
- vote totals other than 10 (one row has 9) are kept: both rules work on vote fractions.

Label modes:

- ``labels="majority"`` (default), the rule of FER+'s ``_process_data``: over the 10 vote
  columns, set every count <= 1 to 0; if the largest count is more than half of the remaining
  votes, the label is that column (the first on a tie), else unknown. Samples labelled unknown
  (by the rule or by the ``unknown`` column) or ``NF`` are dropped, with counts in the notes.
- ``labels="soft"``: ``soft_labels`` are the raw votes of the 8 emotions, renormalised
  (``unknown`` and ``NF`` votes removed); rows with no emotion vote are dropped. ``labels``
  (what scores are computed against) is the majority label where the rule gives an emotion,
  else the argmax of the votes (first on a tie). The test part then holds more images than the
  published 8-class protocol, so use ``majority`` for numbers comparable with papers.

Kept per split (Train / Valid / Test) with the majority rule on the real files: 25,057 / 3,199 /
3,152 from ``fer2013new.csv``; 25,045 / 3,191 / 3,137 from ``label.csv`` (the published test set).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ferbench.data import EMOTIONS, Dataset
from ferbench.errors import UserError
from ferbench.loading import LoadReport, build_dataset, require_dir
from ferbench.specs import DatasetSpec, PublishedResult
from ferbench_datasets.published import seed_table_2

# pandas is imported where the label files are read, not when the plugin registers.
if TYPE_CHECKING:
    import pandas as pd

NAME = "ferplus"
VOTES = (*EMOTIONS, "unknown", "NF")
COLUMNS = ("Usage", "Image name", *VOTES)
SPLITS = {"Training": ("FER2013Train", "Train"), "PublicTest": ("FER2013Valid", "Valid"),
          "PrivateTest": ("FER2013Test", "Test")}
UNKNOWN, NOT_A_FACE, NO_MAJORITY = 8, 9, -1


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """FER+'s majority rule over (N, 10) vote counts: a column index, or -1 with no majority."""
    kept = np.where(votes <= 1, 0, votes)
    top = kept.argmax(1)
    peak = kept[np.arange(len(kept)), top]
    return np.where(peak > 0.5 * kept.sum(1), top, NO_MAJORITY)


def _read_votes(csv: Path, report: LoadReport) -> pd.DataFrame:
    import pandas as pd

    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(f"data set {NAME!r}: cannot parse {csv}: {error}. Use the fer2013new.csv "
                        "of the microsoft/FERPlus repository.") from None
    if tuple(table.columns) != COLUMNS:
        raise UserError(f"data set {NAME!r}: {csv} has columns {list(table.columns)}; expected "
                        f"{list(COLUMNS)} (the header of FER+'s fer2013new.csv).")
    table["line"] = np.arange(len(table)) + 2
    votes = table[list(VOTES)].apply(pd.to_numeric, errors="coerce")
    bad = votes.isna().any(axis=1) | (votes < 0).any(axis=1) | ~table["Usage"].isin(SPLITS)
    for line in table.loc[bad, "line"]:
        report.skip("bad line (Usage not Training/PublicTest/PrivateTest, or a vote that is not "
                    "a count)", f"{csv.name}, line {line}", "Fix the line")
    table[list(VOTES)] = votes.fillna(0).astype(np.int64)
    return table[~bad]


def _dedupe(table: pd.DataFrame, report: LoadReport) -> pd.DataFrame:
    empty = table["Image name"].str.strip() == ""
    if empty.any():
        per = table[empty].groupby("Usage").size()
        report.note(f"dropped {int(empty.sum())} rows with an empty Image name (no face: "
                    f"{', '.join(f'{u} {n}' for u, n in per.items())})")
    table = table[~empty]
    doubled = table[table.duplicated(["Usage", "Image name"], keep=False)]
    if len(doubled):
        names = sorted(doubled["Image name"].unique())
        differ = [n for n, g in doubled.groupby("Image name") if len(g[list(VOTES)].drop_duplicates()) > 1]
        report.note(f"{len(names)} image names are on several rows ({', '.join(names)}); the last row "
                    "is used, as its pixels are the ones in the PNG"
                    + (f" (votes differ for {', '.join(differ)})" if differ else ""))
    table = table.drop_duplicates(["Usage", "Image name"], keep="last")
    totals = table[list(VOTES)].sum(axis=1)
    odd = table[totals != 10]
    if len(odd):
        shown = ", ".join(f"{n} ({t} votes)" for n, t in zip(odd["Image name"][:5], totals[odd.index][:5]))
        report.note(f"{len(odd)} rows do not have 10 votes ({shown}); kept, the rules use vote fractions")
    return table


def _compare_label_csv(table: pd.DataFrame, folders: dict[str, Path], report: LoadReport) -> None:
    import pandas as pd

    counts = {}
    for usage, folder in folders.items():
        path = folder / "label.csv"
        if not path.is_file():
            continue
        try:
            other = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
            other_votes = other.iloc[:, 2:12].astype(np.int64).to_numpy()
        except (pd.errors.ParserError, ValueError, IndexError):
            report.note(f"{path.parent.name}/label.csv could not be read; not compared (fer2013new.csv is used)")
            continue
        mine = table[table["Usage"] == usage].set_index("Image name")[list(VOTES)]
        joined = mine.reindex(other.iloc[:, 0])
        present = joined.notna().all(axis=1).to_numpy()
        counts[SPLITS[usage][1]] = int((joined.to_numpy()[present] != other_votes[present]).any(1).sum())
    if any(counts.values()):
        report.note(f"label.csv disagrees with fer2013new.csv on the votes of {sum(counts.values())} "
                    f"images ({', '.join(f'{s} {n}' for s, n in counts.items())}); fer2013new.csv is used")


def _read_label_csvs(folders: dict[str, Path]) -> pd.DataFrame:
    import pandas as pd

    parts = []
    for usage, folder in folders.items():
        path = folder / "label.csv"
        try:
            part = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
            votes = part.iloc[:, 2:12].astype(np.int64).to_numpy()
        except (OSError, pd.errors.ParserError, ValueError, IndexError) as error:
            raise UserError(f"data set {NAME!r}: cannot read {path} ({error}); it must hold FER+'s "
                            "name, face box and 10 vote columns, or use votes='fer2013new'.") from None
        parts.append(pd.DataFrame({"Usage": usage, "Image name": part.iloc[:, 0],
                                   **dict(zip(VOTES, votes.T))}))
    return pd.concat(parts, ignore_index=True)


def _folders(root: Path) -> dict[str, Path]:
    base = root / "data" if (root / "data" / "FER2013Train").is_dir() else root
    return {usage: require_dir(base / folder, NAME, f"the FER+ PNGs of {usage} ({folder}/fer*.png)")
            for usage, (folder, _) in SPLITS.items()}


def load(root: Path, labels: str = "majority", votes: str = "fer2013new", strict: bool = False,
         verify: bool = False) -> Dataset:
    """Load FER+ from ``root`` (holding fer2013new.csv and the FER2013* folders, or data/).

    ``labels``: ``"majority"`` or ``"soft"`` (see the module docstring for both rules).
    ``votes``: ``"fer2013new"`` (the documented label file) or ``"label.csv"``.
    ``strict`` turns skipped lines and files into errors; ``verify`` checks the image cache
    against file contents.
    """
    if labels not in ("majority", "soft"):
        raise UserError(f"data set {NAME!r}: labels must be 'majority' or 'soft', got {labels!r}.")
    if votes not in ("fer2013new", "label.csv"):
        raise UserError(f"data set {NAME!r}: votes must be 'fer2013new' or 'label.csv', got {votes!r}.")
    root = Path(root)
    csv = root / "fer2013new.csv"
    if votes == "fer2013new" and not csv.is_file():
        raise UserError(f"data set {NAME!r}: {csv} not found. Point --data-dir ferplus=PATH at the "
                        "folder holding fer2013new.csv and FER2013Train/Valid/Test (or data/).")
    folders = _folders(root)
    report = LoadReport(NAME, strict)
    if votes == "label.csv":
        table = _read_label_csvs(folders)
        report.note("votes read from each folder's label.csv (not the documented fer2013new.csv)")
    else:
        table = _dedupe(_read_votes(csv, report), report)
        _compare_label_csv(table, folders, report)
    for usage, folder in folders.items():
        named = set(table.loc[table["Usage"] == usage, "Image name"])
        extra = [p.name for p in folder.glob("*.png") if p.name not in named]
        if extra:
            report.note(f"{len(extra)} PNGs in {folder.name} have no row in fer2013new.csv "
                        f"({', '.join(sorted(extra)[:5])}); not used")

    counts = table[list(VOTES)].to_numpy()
    rule = majority_labels(counts)
    split = np.array([SPLITS[u][1] for u in table["Usage"]], dtype=object)
    if labels == "majority":
        keep = (rule >= 0) & (rule < UNKNOWN)
        for reason, lost in (
            ("no majority: the top class has half of the votes or fewer, after removing "
             "classes with one vote", rule == NO_MAJORITY),
            ("majority 'unknown'", rule == UNKNOWN), ("majority 'NF' (not a face)", rule == NOT_A_FACE),
        ):
            per = dict(zip(*np.unique(split[lost].astype(str), return_counts=True)))
            report.drop(f"{reason}; {', '.join(f'{s} {per.get(s, 0)}' for _, s in SPLITS.values())}",
                        int(lost.sum()))
        columns = {"labels": np.where(keep, rule, 0), "split": split}
    else:
        emotion = counts[:, :len(EMOTIONS)].astype(np.float64)
        total = emotion.sum(1)
        keep = total > 0
        report.drop("no emotion votes (only unknown / NF)", int((~keep).sum()))
        soft = emotion / np.where(keep, total, 1)[:, None]
        soft[~keep] = 1 / len(EMOTIONS)
        has_majority = (rule >= 0) & (rule < UNKNOWN)
        fallback = int((keep & ~has_majority).sum())
        if fallback:
            report.note(f"{fallback} samples have no FER+ majority label; their label is the "
                        "argmax of their emotion votes")
        columns = {"labels": np.where(has_majority, rule, soft.argmax(1)), "split": split,
                   "soft_labels": soft.astype(np.float32)}
    paths = [folders[u] / n for u, n in zip(table["Usage"], table["Image name"])]
    return build_dataset(NAME, EMOTIONS, paths, root, columns, channels=1, size=(48, 48),
                         report=report, verify=verify, keep=keep)


SPEC = DatasetSpec(
    name=NAME,
    load=load,
    same_images_as=("fer2013",),  # FERPlus relabels FER2013's pixels
    classes=EMOTIONS,
    image_size=(48, 48),
    channels=1,
    has_subjects=False,
    has_sequences=False,
    official_splits=("Train", "Valid", "Test"),
    description="FER+ re-annotation of FER2013: 10 votes per image, 8 classes; majority labels "
                "(FER+ rule) or vote distributions (labels='soft'); no subject identity",
    citation="Barsoum, Zhang, Canton Ferrer, Zhang, Training deep networks for facial expression "
             "recognition with crowd-sourced label distribution, ICMI 2016",
    licence="labels MIT (microsoft/FERPlus); images are FER2013 pixels: research use, no redistribution",
    best_published=PublishedResult(
        accuracy=0.923, protocol="official FER2013Test, 8 classes, majority labels",
        source="POSTER++ 92.28% (arXiv 2301.12149; aggregator figure)", model="POSTER++"),
    published=seed_table_2("ferplus"),
)
