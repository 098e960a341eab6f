"""Class probabilities for a part, in fp32, in eval mode and without gradients."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ferbench.engine.device import autocast, images_to_device


@torch.inference_mode()
def predict_proba(
    model: nn.Module,
    images: np.ndarray,
    *,
    device: torch.device,
    precision: str = "fp32",
    batch_size: int = 256,
) -> np.ndarray:
    """Softmax probabilities (N, n_classes) as float32 for uint8 images (N, H, W, C)."""
    model.eval()
    x_all = images_to_device(images, device)
    out = []
    for start in range(0, len(x_all), batch_size):
        x = x_all[start:start + batch_size].float().div_(255)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            logits = model(x)
        out.append(logits.float().softmax(1).cpu())
    return torch.cat(out).numpy().astype(np.float32)
