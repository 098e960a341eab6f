"""Device and precision choice, seeding, and the autocast context for each."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from ferbench.errors import UserError

DEVICES = ("auto", "cpu", "cuda")


def select_device(requested: str = "auto") -> torch.device:
    """``auto``: the first CUDA device when one is visible, else the CPU."""
    if requested not in DEVICES and not requested.startswith("cuda:"):
        raise UserError(f"--device must be one of {', '.join(DEVICES)} or cuda:N, got {requested!r}.")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {requested} was asked for but torch sees no CUDA device; use --device cpu.")
    return torch.device(requested)


def precision_for(device: torch.device) -> str:
    """Mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling); fp32 on CPU."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context for ``precision``; a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch globally; return a CPU generator for shuffling and augmentation.

    On CPU the same seed and the same number of torch threads (recorded in every result) give
    bit-identical training; a different thread count reorders floating-point sums. On CUDA
    results are reproducible only up to such reordering.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def images_to_device(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, C) array -> uint8 (N, C, H, W) tensor held on ``device``.

    The part is moved once, as uint8 (a quarter of float32's size); batches are then cut and
    converted on the device. On CUDA the copy goes through pinned memory.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor
