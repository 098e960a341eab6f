"""Pretrained weights, from local files only: ferbench downloads nothing at run time.

Looked up in order: ``$FERBENCH_WEIGHTS_DIR/<timm name>.safetensors`` (or ``.pth``, ``.bin``;
the folder defaults to ``~/.cache/ferbench/weights``), then the Hugging Face cache that timm
itself fills (``~/.cache/huggingface``), read offline. ``.pth``/``.bin`` files are read with
``torch.load(..., weights_only=True)`` (no pickled code runs), ``.safetensors`` with safetensors;
timm then adapts the stem to the channel count and drops a mismatched classifier.
"""

from __future__ import annotations

import os
from pathlib import Path

import timm
import torch
from huggingface_hub import try_to_load_from_cache
from safetensors.torch import load_file

from ferbench.errors import UserError

WEIGHTS_ENV = "FERBENCH_WEIGHTS_DIR"
SUFFIXES = (".safetensors", ".pth", ".bin")


def weights_dir() -> Path:
    """Where ferbench looks for weight files first."""
    return Path(os.environ.get(WEIGHTS_ENV) or Path.home() / ".cache" / "ferbench" / "weights").expanduser()


def local_weights(timm_name: str) -> Path:
    """The local weight file of ``timm_name``, or a UserError saying where to put one."""
    folder = weights_dir()
    for suffix in SUFFIXES:
        path = folder / f"{timm_name}{suffix}"
        if path.is_file():
            return path
    config = timm.get_pretrained_cfg(timm_name)
    hub_id = getattr(config, "hf_hub_id", None)
    if hub_id:
        for filename in ("model.safetensors", "pytorch_model.bin"):
            cached = try_to_load_from_cache(hub_id, filename)
            if isinstance(cached, str):
                return Path(cached)
    fetch = (f" or fill the Hugging Face cache on a machine with internet (`hf download {hub_id}`) "
             "and copy ~/.cache/huggingface here" if hub_id else "")
    raise UserError(
        f"no local pretrained weights for timm/{timm_name}, and ferbench downloads nothing: put a "
        f"state dict at {folder / (timm_name + '.safetensors')} (or .pth; the folder is "
        f"${WEIGHTS_ENV}){fetch}. Or run without --pretrained (training from scratch)."
    )


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path``, read without running pickled code; a training checkpoint's
    ``state_dict`` or ``model`` entry is unwrapped."""
    try:
        if path.suffix == ".safetensors":
            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(f"cannot read weights {path}: {type(error).__name__}: {error}. Save a plain "
                        "state dict (torch.save(model.state_dict(), path)) or a .safetensors file.") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UserError(f"{path} holds a {type(state).__name__}, not a state dict of tensors.")
    return state
