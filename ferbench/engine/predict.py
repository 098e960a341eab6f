"""Class probabilities for a part, in fp32, in eval mode and without gradients."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ferbench.data import Clips
from ferbench.engine.device import autocast, images_to_device, use_channels_last
from ferbench.engine.train import batch_input


@torch.inference_mode()
def predict_proba(
    model: nn.Module,
    images: np.ndarray,
    *,
    device: torch.device,
    precision: str = "fp32",
    batch_size: int = 256,
    clips: Clips | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """Softmax probabilities (N, n_classes) as float32 for uint8 images (N, H, W, C).

    With ``clips`` (from ``Dataset.clips()`` of the same part) the model sees each clip once
    and every row gets its clip's probabilities, so results stay per row (and paired with
    image models' results on the same fold). ``channels_last`` as in ``fit``.
    """
    channels_last = use_channels_last(device, channels_last)
    model.eval()
    x_all = images_to_device(images, device)
    items = torch.arange(len(images)) if clips is None else torch.as_tensor(clips.rows)
    items = items.to(device)
    if clips is not None:
        batch_size = max(1, batch_size // clips.length)
    out = []
    for start in range(0, len(items), batch_size):
        x = batch_input(x_all, items[start:start + batch_size], channels_last)
        with autocast(device, precision):
            logits = model(x)
        out.append(logits.float().softmax(1).cpu())
    proba = torch.cat(out).numpy().astype(np.float32)
    return proba if clips is None else proba[clips.member]
