"""Training-time augmentation applied to whole batches with tensor operations.

Random draws come from a CPU ``torch.Generator`` so a seed gives the same augmentation on any
device; no per-image Python runs in the training loop. Geometry (flip, rotation, shift, crop)
is one ``affine_grid``/``grid_sample`` pass; colour jitter is arithmetic on the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


@dataclass
class Transforms:
    """One batch's drawn augmentation parameters, one entry per image (None: not drawn).

    ``flip`` (B,) bool; ``theta`` (B, 2, 3) maps output to input positions in the normalised
    [-1, 1] (x, y) coordinates of ``affine_grid``; ``angle`` (radians, counter-clockwise in
    (x, y)), ``scale`` (the side of the crop as a fraction of the image) and ``shift`` (B, 2) are
    its parts; ``brightness``, ``contrast``, ``saturation`` (B,) are factors; ``hue`` (B,) is
    an angle in radians.
    """

    flip: torch.Tensor | None = None
    angle: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    shift: torch.Tensor | None = None
    brightness: torch.Tensor | None = None
    contrast: torch.Tensor | None = None
    saturation: torch.Tensor | None = None
    hue: torch.Tensor | None = None

    @property
    def theta(self) -> torch.Tensor:
        cos, sin = self.angle.cos() * self.scale, self.angle.sin() * self.scale
        return torch.stack([torch.stack([cos, -sin, self.shift[:, 0]], 1),
                            torch.stack([sin, cos, self.shift[:, 1]], 1)], 1)


def draw(n: int, augment: Augment, generator: torch.Generator, frames: int = 1,
         device: torch.device | str = "cpu", channels: int = 1) -> Transforms:
    """Draw the parameters for a batch of ``n`` images (``n / frames`` clips, frames of a clip
    alike) from ``generator``:

    - flip with probability 1/2;
    - rotation uniform in ±``rotate`` degrees; crop side uniform in [1 - ``crop``, 1] of the
      image, placed uniformly where it fits; shift uniform in ±``shift`` of the side per axis;
    - brightness, contrast and saturation factors uniform in 1 ± their magnitude; hue rotation
      uniform in ±``hue`` of the colour wheel (saturation and hue only for 3-channel images).
    """
    d = _Draws(n, frames, generator, device)
    t = Transforms()
    if augment.hflip:
        t.flip = d.coin()
    if augment.rotate or augment.shift or augment.crop:
        t.angle = d.uniform(math.radians(augment.rotate))
        t.scale = d.between(1 - augment.crop, 1.0)
        t.shift = torch.stack([d.uniform(2 * augment.shift) + d.uniform(1.0) * (1 - t.scale)
                               for _ in range(2)], 1)
    for name in ("brightness", "contrast") + (("saturation",) if channels == 3 else ()):
        if getattr(augment, name):
            setattr(t, name, 1 + d.uniform(getattr(augment, name)))
    if channels == 3 and augment.hue:
        t.hue = d.uniform(2 * math.pi * augment.hue)
    return t


def apply(x: torch.Tensor, t: Transforms) -> torch.Tensor:
    """Apply drawn parameters to a float batch (B, C, H, W) in [0, 1]: flip, then the affine
    resampling (bilinear, edges extended), then colour; returns a new tensor."""
    n = x.shape[0]
    if t.flip is not None:
        x = torch.where(t.flip[:, None, None, None], x.flip(-1), x)
    if t.angle is not None:
        grid = F.affine_grid(t.theta.to(x.dtype), [n, *x.shape[1:]], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    colour = [t.brightness, t.contrast, t.saturation, t.hue]
    if all(c is None for c in colour):
        return x

    def factor(values: torch.Tensor) -> torch.Tensor:
        return values.view(n, 1, 1, 1).to(x.dtype)

    if t.brightness is not None:
        x = x * factor(t.brightness)
    if t.contrast is not None:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * factor(t.contrast) + mean
    if t.saturation is not None:
        grey = torch.einsum("c,bchw->bhw", _LUMA.to(x), x).unsqueeze(1)
        x = (x - grey) * factor(t.saturation) + grey
    if t.hue is not None:
        cos, sin = t.hue.cos(), t.hue.sin()
        one, zero = torch.ones_like(cos), torch.zeros_like(cos)
        rotation = torch.stack([torch.stack([one, zero, zero], 1), torch.stack([zero, cos, -sin], 1),
                                torch.stack([zero, sin, cos], 1)], 1).to(x)
        yiq = _YIQ.to(x)
        x = torch.einsum("bij,bjhw->bihw", torch.linalg.inv(yiq) @ rotation @ yiq, x)
    return x.clamp_(0, 1)


def augment_batch(x: torch.Tensor, augment: Augment, generator: torch.Generator,
                  frames: int = 1) -> torch.Tensor:
    """Augment a float batch (B, C, H, W) with values in [0, 1]; returns a new tensor.

    With ``frames`` > 1 the batch holds B / frames clips of consecutive frames, and each clip's
    frames are augmented alike.
    """
    return apply(x, draw(x.shape[0], augment, generator, frames, x.device, x.shape[1]))
