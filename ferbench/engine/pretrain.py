"""``ferbench pretrain``: train a model on a data set's official training split (every row where
there is none) for its recipe's fixed budget, selecting nothing on any other part, and write the
weights and their card (see :mod:`ferbench.pretraining`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save as save_safetensors

from ferbench.data import Dataset
from ferbench.engine.device import resolve_precision, seed_everything, use_channels_last
from ferbench.engine.job import check_output_shape, model_card, software_versions
from ferbench.engine.train import Checkpoint, EpochCallback, fit
from ferbench.errors import UserError
from ferbench.factory import create_model
from ferbench.job import config_hash
from ferbench.leakage.crossdata import scan
from ferbench.pretraining import card_path, rows_digest, training_rows, weights_path
from ferbench.similarity import DuplicateSearch
from ferbench.specs import ModelSpec, Recipe
from ferbench.store import atomic_write


def pretrain(spec: ModelSpec, dataset: Dataset, recipe: Recipe, recipe_name: str, out: Path, *,
             device: torch.device, seed: int = 0, force: bool = False,
             on_epoch: EpochCallback | None = None, exclude: Sequence[Dataset] = ()) -> Path:
    """Train ``spec`` on ``dataset``'s training rows (:func:`ferbench.pretraining.training_rows`)
    under ``recipe`` (a fixed budget: the last epoch is kept), and write ``OUT/<model>.safetensors``
    and its card. Returns the weights' path. An existing file is kept unless ``force``. Training
    keeps its state beside the weights between epochs, so the same command run again after a kill resumes.

    ``exclude``: data sets whose images must not be trained on: every training row with an exact
    or near copy (at the search's own threshold, look-alikes included) of one of their images is
    left out, and the card lists them, so a run later evaluated on such a data set finds none."""
    weights = weights_path(out, spec.name)
    if weights.exists() and not force:
        raise UserError(f"{weights} exists; pass --force to replace it, or choose another --out.")
    if recipe.selection != "last":
        raise UserError("pretraining trains a fixed budget and keeps the last epoch (it selects on no "
                        "split); drop --selection best.")
    if spec.input == "clip" and dataset.sequences is None:
        raise UserError(f"model {spec.name!r} takes clips and {dataset.name!r} has no sequences; pretrain "
                        "an image model, or on a data set with sequences.")
    rows, which = training_rows(dataset)
    excluded = []
    for other in exclude:
        found = scan(dataset.subset(rows), other, DuplicateSearch())
        dropped = rows[np.asarray(found.rows, dtype=np.int64)]
        excluded.append({"dataset": other.name, "fingerprint": other.fingerprint, "threshold": DuplicateSearch().threshold,
                         "exact": found.exact, "near": found.near, "rows": dropped.tolist(), "examples": found.examples})
        rows = np.setdiff1d(rows, dropped)
    train = dataset.subset(rows)
    clips = train.clips() if spec.input == "clip" else None
    height, _, channels = dataset.image_shape
    image_size = recipe.input_size or height
    precision = resolve_precision(recipe.precision, device, spec.cpu_bf16)
    channels_last = use_channels_last(device, spec.channels_last)
    seed_everything(seed)
    model = create_model(spec, num_classes=len(dataset.classes), in_chans=channels, image_size=image_size)
    check_output_shape(model, spec.name, len(dataset.classes))
    checkpoint = Checkpoint(weights.with_name(f".{weights.stem}.checkpoint.pt"), config_hash(
        {"model": spec.name, "recipe": recipe.to_dict(), "fingerprint": dataset.fingerprint, "seed": seed,
         "rows": rows_digest(rows)}))
    fitted = fit(model, train.images, train.labels, recipe, device=device, precision=precision, seed=seed,
                 clips=clips, soft_labels=train.soft_labels, on_epoch=on_epoch, channels_last=channels_last,
                 checkpoint=checkpoint)
    network = fitted.model.model
    state = {name: tensor.detach().to("cpu", copy=True).contiguous()
             for name, tensor in network.state_dict().items()}
    data = save_safetensors(state, metadata={"model": spec.name, "dataset": dataset.name})
    card = {
        "model": spec.name, "recipe_name": recipe_name, "recipe": recipe.to_dict(),
        "dataset": dataset.name, "fingerprint": dataset.fingerprint, "classes": list(dataset.classes),
        "rows_description": which + "".join(f", less {len(e['rows'])} with a copy in {e['dataset']}" for e in excluded),
        "n_rows": int(len(rows)), "rows_sha256": rows_digest(rows), "excluded": excluded,
        "seed": seed, "epochs": recipe.epochs, "resumed_after": fitted.resumed_after, "curves": fitted.curves,
        "normalisation": fitted.normalisation,
        "in_chans": channels, "image_size": image_size, "device": str(device), "precision": precision,
        "threads": torch.get_num_threads(), "fit_seconds": round(fitted.seconds, 1),
        "card": model_card(spec, network, channels, image_size, None if clips is None else clips.length),
        "versions": software_versions(), "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "rows": rows.tolist(),
    }
    atomic_write(weights, data)
    atomic_write(card_path(weights), json.dumps(card, indent=1).encode())
    checkpoint.path.unlink(missing_ok=True)
    return weights
