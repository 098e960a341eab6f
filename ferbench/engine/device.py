"""Device and precision choice, seeding, and the autocast context for each."""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import numpy as np
import torch

from ferbench.errors import UserError
from ferbench.specs import PRECISIONS

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




def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as oneDNN's fast bf16 kernels need.

    Without it torch still runs bf16 autocast on the CPU, by conversion, and slower than fp32.
    """
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(probe is not None for probe in probes):
        return any(probe() for probe in probes if probe is not None)
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(requested: str, device: torch.device, cpu_bf16: bool = True) -> str:
    """The precision a job trains in: ``auto`` is bf16 autocast where the device computes bf16
    natively (CUDA with bf16 support, a CPU with AVX512-BF16 or AMX, unless ``cpu_bf16`` is
    False: the model's own measurement says bf16 is slower there), fp16 with loss scaling on
    older CUDA devices, fp32 otherwise. Explicit settings are checked against the device."""
    if requested not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, got {requested!r}.")
    if requested == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device.type == "cpu" and cpu_bf16 and cpu_has_native_bf16() else "fp32"
    if requested == "fp16" and device.type != "cuda":
        raise UserError(f"--precision fp16 needs a CUDA device (this job runs on {device}); "
                        "use --precision bf16 or fp32 on the CPU.")
    if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError("--precision bf16: this CUDA device does not support bf16; use fp16 or auto.")
    return requested


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


def use_channels_last(device: torch.device, requested: bool) -> bool:
    """Channels-last memory format: always on CUDA, on the CPU where the model asks for it."""
    return device.type == "cuda" or requested


def images_to_device(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, H, W, C) array -> uint8 (N, C, H, W) tensor held on ``device``.

    The part is moved once, as uint8 (a quarter of float32's size); batches are then cut and
    converted on the device. On CUDA the copy goes through pinned memory.
    """
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor
