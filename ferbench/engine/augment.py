"""Training-time augmentation applied to whole batches with tensor operations.

Random draws come from a CPU ``torch.Generator`` so a seed gives the same augmentation on any
device; no per-image Python runs in the training loop. Geometry (flip, rotation, shift, crop)
is one ``affine_grid``/``grid_sample`` pass; colour jitter is arithmetic on the batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ferbench.specs import Augment

# RGB -> YIQ (NTSC). A hue rotation is a rotation of the (I, Q) chroma plane.
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_LUMA = _YIQ[0]


class _Draws:
    """Uniform draws per sample, repeated over the ``frames`` images of a clip so that every
    frame of a clip gets the same augmentation."""

    def __init__(self, n: int, frames: int, generator: torch.Generator, device: torch.device):
        if n % frames:
            raise ValueError(f"batch of {n} images is not a whole number of {frames}-frame clips.")
        self.samples, self.frames, self.generator, self.device = n // frames, frames, generator, device

    def _spread(self, values: torch.Tensor) -> torch.Tensor:
        return values.repeat_interleave(self.frames).to(self.device)

    def uniform(self, bound: float) -> torch.Tensor:
        return self._spread((torch.rand(self.samples, generator=self.generator) * 2 - 1) * bound)

    def between(self, low: float, high: float) -> torch.Tensor:
        return self._spread(low + torch.rand(self.samples, generator=self.generator) * (high - low))

    def coin(self) -> torch.Tensor:
        return self._spread(torch.rand(self.samples, generator=self.generator) < 0.5)


def _geometry(x: torch.Tensor, augment: Augment, draw: _Draws) -> torch.Tensor:
    """Rotation, shift and random crop (a zoom by the crop's side, at a random position inside
    the image) as one affine resampling."""
    n = x.shape[0]
    angle = draw.uniform(math.radians(augment.rotate))
    scale = draw.between(1 - augment.crop, 1.0)
    shift = torch.stack([draw.uniform(2 * augment.shift) + draw.uniform(1.0) * (1 - scale)
                         for _ in range(2)], 1)
    cos, sin = angle.cos() * scale, angle.sin() * scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(x.dtype)
    grid = F.affine_grid(theta, [n, *x.shape[1:]], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _colour(x: torch.Tensor, augment: Augment, draw: _Draws) -> torch.Tensor:
    n = x.shape[0]

    def factor(bound: float) -> torch.Tensor:
        return (1 + draw.uniform(bound)).view(n, 1, 1, 1).to(x.dtype)

    if augment.brightness:
        x = x * factor(augment.brightness)
    if augment.contrast:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * factor(augment.contrast) + mean
    if x.shape[1] == 3 and augment.saturation:
        grey = torch.einsum("c,bchw->bhw", _LUMA.to(x), x).unsqueeze(1)
        x = (x - grey) * factor(augment.saturation) + grey
    if x.shape[1] == 3 and augment.hue:
        angle = draw.uniform(2 * math.pi * augment.hue)
        cos, sin = angle.cos(), angle.sin()
        one, zero = torch.ones_like(cos), torch.zeros_like(cos)
        rotation = torch.stack([torch.stack([one, zero, zero], 1), torch.stack([zero, cos, -sin], 1),
                                torch.stack([zero, sin, cos], 1)], 1).to(x)
        yiq = _YIQ.to(x)
        matrix = torch.linalg.inv(yiq) @ rotation @ yiq
        x = torch.einsum("bij,bjhw->bihw", matrix, x)
    return x.clamp_(0, 1)


def augment_batch(x: torch.Tensor, augment: Augment, generator: torch.Generator,
                  frames: int = 1) -> torch.Tensor:
    """Augment a float batch (B, C, H, W) with values in [0, 1]; returns a new tensor.

    With ``frames`` > 1 the batch holds B / frames clips of consecutive frames, and each clip's
    frames are augmented alike.
    """
    draw = _Draws(x.shape[0], frames, generator, x.device)
    if augment.hflip:
        x = torch.where(draw.coin()[:, None, None, None], x.flip(-1), x)
    if augment.rotate or augment.shift or augment.crop:
        x = _geometry(x, augment, draw)
    if any((augment.brightness, augment.contrast, augment.saturation, augment.hue)):
        x = _colour(x, augment, draw)
    return x
