"""Training-time augmentation applied to whole batches with tensor operations.

Random draws come from a CPU ``torch.Generator`` so a seed gives the same augmentation on any
device; no per-image Python runs in the training loop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ferbench.specs import Augment


def _uniform(n: int, bound: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return ((torch.rand(n, generator=generator) * 2 - 1) * bound).to(device)


def augment_batch(x: torch.Tensor, augment: Augment, generator: torch.Generator) -> torch.Tensor:
    """Augment a float batch (B, C, H, W) with values in [0, 1]; returns a new tensor."""
    n, device = x.shape[0], x.device
    if augment.hflip:
        flip = (torch.rand(n, generator=generator) < 0.5).to(device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if augment.rotate or augment.shift:
        angle = _uniform(n, math.radians(augment.rotate), generator, device)
        shift = torch.stack(
            [_uniform(n, 2 * augment.shift, generator, device) for _ in range(2)], 1
        )
        cos, sin = angle.cos(), angle.sin()
        theta = torch.stack(
            [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
        ).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if augment.brightness:
        x = x * (1 + _uniform(n, augment.brightness, generator, device)).view(n, 1, 1, 1).to(x.dtype)
    if augment.contrast:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        factor = (1 + _uniform(n, augment.contrast, generator, device)).view(n, 1, 1, 1).to(x.dtype)
        x = (x - mean) * factor + mean
    return x.clamp_(0, 1) if (augment.brightness or augment.contrast) else x
