"""Starting weights written by ``ferbench pretrain``: their files and cards, the rows they were
trained on, and what a run started from them (``--init``) declares. No torch here.

``ferbench pretrain --model M --dataset D --out DIR`` writes two files per model:

    DIR/<model>.safetensors   the trained network's state dict (``timm/x`` is ``timm--x``)
    DIR/<model>.json          its card: model, recipe, data set and fingerprint, the rows trained
                              on, epochs, curves, normalisation, versions, the weights' SHA-256

A run reads the card next to the weights. The card's data set becomes the model's
``pretrained_on``, so the cross-data-set guards apply to it as to a declared model card, and
the run audits the pretraining rows against the evaluated data set before its first job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ferbench.data import Dataset
from ferbench.errors import UserError
from ferbench.job import Init
from ferbench.protocols import SPLIT_ROLES
from ferbench.specs import ModelSpec

WEIGHTS_SUFFIX = ".safetensors"
#: ``--init MODEL=PATH`` key that applies a path to every selected model.
EVERY_MODEL = "*"
#: The check of a run's test images against its ``--init`` pretraining rows, as records name it.
PRETRAINING_CHECK = "copies in pretraining data"


def weights_path(out: Path, model: str) -> Path:
    """Where ``ferbench pretrain --out OUT`` writes ``model``'s weights."""
    return Path(out) / f"{model.replace('/', '--')}{WEIGHTS_SUFFIX}"


def card_path(weights: Path) -> Path:
    """The card that goes with a weights file (``.json`` beside it)."""
    return Path(weights).with_suffix(".json")


def rows_digest(rows: np.ndarray) -> str:
    """SHA-256 of data set rows (sorted, int64 little endian), as :class:`FittedStatistic` hashes them."""
    return hashlib.sha256(np.sort(np.asarray(rows)).astype("<i8").tobytes()).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def training_rows(dataset: Dataset) -> tuple[np.ndarray, str]:
    """The rows pretraining trains on, and which they are: the data set's official training
    split where it has one (never its validation or test split), else every row."""
    if dataset.split is None:
        return np.arange(len(dataset)), "all rows (the data set has no official split)"
    roles = np.array([SPLIT_ROLES.get(str(name).lower(), "") for name in dataset.split])
    rows = np.flatnonzero(roles == "train")
    if not len(rows):
        raise UserError(f"data set {dataset.name!r} has a split column but no training split "
                        f"(its splits: {', '.join(sorted(set(map(str, dataset.split))))}); pretrain on "
                        "a data set with one, or without a split column (every row is then used).")
    names = sorted({str(name) for name, role in zip(dataset.split, roles) if role == "train"})
    return rows, f"official training split ({', '.join(names)})"


def read_card(weights: Path, data: bytes | None = None) -> dict[str, Any]:
    """The card beside ``weights``, checked against the file (or against ``data``, its bytes
    already read, so that what is checked is what gets loaded): a UserError naming the file and
    the fix when either is missing, unreadable, or the weights changed since they were written."""
    weights = Path(weights)
    card = card_path(weights)
    if not weights.is_file():
        raise UserError(f"--init {weights}: no such weights file. `ferbench pretrain --model M --dataset D "
                        "--out DIR` writes DIR/<model>.safetensors and its card.")
    try:
        stored = json.loads(card.read_text())
    except FileNotFoundError:
        raise UserError(f"--init {weights}: its card {card} is missing. Starting weights must come with the "
                        "card `ferbench pretrain` writes (what they were trained on is checked for leaks).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"--init {weights}: its card {card} is unreadable ({error}); pretrain again.") from None
    needed = {"model", "recipe_name", "dataset", "fingerprint", "rows", "rows_sha256", "sha256", "classes"}
    if not isinstance(stored, dict) or needed - set(stored):
        raise UserError(f"--init {weights}: {card} is not a ferbench pretraining card (it lacks "
                        f"{sorted(needed - set(stored if isinstance(stored, dict) else {}))}); pretrain again.")
    actual = file_sha256(weights) if data is None else hashlib.sha256(data).hexdigest()
    if actual != stored["sha256"]:
        raise UserError(f"--init {weights}: the file's SHA-256 is {actual[:12]}…, its card says "
                        f"{stored['sha256'][:12]}…: the weights changed after `ferbench pretrain` wrote them. "
                        "Use the file the card describes, or pretrain again.")
    return stored


def init_from(weights: Path) -> Init:
    """The :class:`Init` of a weights file, read from its checked card."""
    card = read_card(weights)
    return Init(sha256=card["sha256"], model=card["model"], recipe_name=card["recipe_name"],
                dataset=card["dataset"], fingerprint=card["fingerprint"], rows_sha256=card["rows_sha256"],
                path=str(Path(weights).resolve()))


def resolve_inits(paths: Mapping[str, Path], models: list[str]) -> dict[str, Init]:
    """Each selected model's starting weights from ``--init``: ``MODEL=PATH`` for one model,
    ``PATH`` (key :data:`EVERY_MODEL`) for every model. A folder holds one file per model, as
    ``ferbench pretrain --out`` writes them; a file applies as it is."""
    unknown = sorted(set(paths) - set(models) - {EVERY_MODEL})
    if unknown:
        raise UserError(f"--init names model(s) {unknown} that this run does not select (models: "
                        f"{', '.join(models)}); write --init MODEL=PATH for a selected model.")
    inits = {}
    for model in models:
        path = paths.get(model, paths.get(EVERY_MODEL))
        if path is None:
            continue
        path = Path(path).expanduser()
        if path.is_dir():
            path = weights_path(path, model)
            if not path.is_file():
                raise UserError(f"--init {path.parent}: it holds no weights for {model} ({path.name}); run "
                                f"`ferbench pretrain --model {model} --dataset D --out {path.parent}`, or "
                                "name files per model with --init MODEL=PATH.")
        inits[model] = init_from(path)
    return inits


def with_init(spec: ModelSpec, init: Init | None) -> ModelSpec:
    """``spec`` as it runs from ``init``: its card names the pretraining data set in
    ``pretrained_on`` (so the cross-data-set guards see it) and says where the weights came from."""
    if init is None:
        return spec
    card = dataclasses.replace(
        spec.card, pretraining=f"ferbench pretrain on {init.dataset} ({init.model}, recipe {init.recipe_name}; "
        f"sha256 {init.sha256[:12]})", pretrained_on=tuple(dict.fromkeys((*spec.card.pretrained_on, init.dataset))))
    return dataclasses.replace(spec, card=card)
