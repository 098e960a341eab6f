import math

import numpy as np
import pytest
import torch
from scipy import ndimage, stats

from ferbench.engine.augment import apply, augment_batch, draw
from ferbench.specs import Augment


def batch():
    return torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0))


def test_same_generator_seed_same_augmentation():
    aug = Augment(hflip=True, rotate=10, shift=0.1, brightness=0.2, contrast=0.2)
    a = augment_batch(batch(), aug, torch.Generator().manual_seed(1))
    b = augment_batch(batch(), aug, torch.Generator().manual_seed(1))
    c = augment_batch(batch(), aug, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (8, 1, 16, 16) and a.min() >= 0 and a.max() <= 1


def test_flip_mirrors_some_images_exactly():
    x = batch()
    y = augment_batch(x, Augment(hflip=True), torch.Generator().manual_seed(0))
    flipped = [torch.equal(y[i], x[i].flip(-1)) for i in range(8)]
    kept = [torch.equal(y[i], x[i]) for i in range(8)]
    assert any(flipped) and any(kept) and all(f or k for f, k in zip(flipped, kept))


def test_zero_shift_and_rotation_is_identity():
    x = batch()
    y = augment_batch(x, Augment(rotate=0, shift=0), torch.Generator())
    assert torch.equal(x, y)


def test_shift_moves_content():
    x = torch.zeros(4, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1
    y = augment_batch(x, Augment(shift=0.2), torch.Generator().manual_seed(0))
    assert not torch.allclose(x, y)
    assert torch.allclose(y.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.2)


def test_crop_zooms_in_and_keeps_the_size():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 7:9, 7:9] = 1
    y = augment_batch(x, Augment(crop=0.5), torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert (y.sum((1, 2, 3)) > x.sum((1, 2, 3)) * 1.2).float().mean() > 0.5


def test_colour_jitter_changes_rgb_and_spares_grey_saturation_and_hue():
    rgb = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    for aug in (Augment(saturation=0.5), Augment(hue=0.2)):
        out = augment_batch(rgb, aug, torch.Generator().manual_seed(1))
        assert not torch.allclose(out, rgb) and out.min() >= 0 and out.max() <= 1
    grey = batch()
    assert torch.equal(augment_batch(grey, Augment(saturation=0.5, hue=0.2), torch.Generator()), grey)
    # A hue rotation keeps luma (the Y of YIQ) where nothing is clipped.
    out = augment_batch(rgb, Augment(hue=0.1), torch.Generator().manual_seed(1))
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert torch.allclose((out * luma).sum(1), (rgb * luma).sum(1), atol=1e-4)


def test_frames_of_a_clip_are_augmented_alike():
    clip = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)).repeat(12, 1, 1, 1)
    aug = Augment(hflip=True, rotate=20, crop=0.2, brightness=0.3, contrast=0.3)
    out = augment_batch(clip, aug, torch.Generator().manual_seed(3), frames=3).view(4, 3, 1, 16, 16)
    assert all(torch.equal(out[i, 0], out[i, t]) for i in range(4) for t in range(3))
    assert not torch.equal(out[0, 0], out[1, 0])
    with pytest.raises(ValueError, match="whole number of 3-frame clips"):
        augment_batch(clip[:4], aug, torch.Generator(), frames=3)


def test_drawn_parameters_follow_their_distributions_for_a_fixed_seed():
    aug = Augment(hflip=True, rotate=15, shift=0.1, crop=0.2, brightness=0.3, contrast=0.25)
    t = draw(4000, aug, torch.Generator().manual_seed(0))
    uniform = {"angle": (-math.radians(15), 2 * math.radians(15)), "scale": (0.8, 0.2),
               "brightness": (0.7, 0.6), "contrast": (0.75, 0.5)}
    for name, (low, width) in uniform.items():
        values = getattr(t, name).numpy()
        assert low <= values.min() and values.max() <= low + width
        assert stats.kstest(values, "uniform", args=(low, width)).pvalue > 0.01, name
    assert abs(t.flip.float().mean().item() - 0.5) < 0.03
    # The crop always fits: shift within ±2·shift plus the crop's free room (1 - scale).
    assert (t.shift.abs() <= 2 * 0.1 + (1 - t.scale)[:, None] + 1e-6).all()
    assert t.saturation is None and t.hue is None  # grey: no colour-only parameters


def _per_image(image: np.ndarray, t, i: int) -> np.ndarray:
    """One (H, W) image transformed with scipy.ndimage, independently of the batched code:
    flip, then the affine map of output to input pixels, bilinear with edges extended, then
    brightness and contrast."""
    side = image.shape[0]
    if t.flip[i]:
        image = image[:, ::-1]
    a = t.theta[i, :, :2].double().numpy()
    shift = t.theta[i, :, 2].double().numpy()
    # Output pixel u = (col, row) -> input pixel A u + (S-1)/2 (I - A) 1 + S/2 t  (align_corners=False).
    offset_xy = (side - 1) / 2 * (np.eye(2) - a) @ np.ones(2) + side / 2 * shift
    swap = np.array([[0, 1], [1, 0]])
    image = ndimage.affine_transform(image.astype(np.float64), swap @ a @ swap, swap @ offset_xy,
                                     order=1, mode="nearest")
    image = image * t.brightness[i].item()
    mean = image.mean()
    return np.clip((image - mean) * t.contrast[i].item() + mean, 0, 1)


def test_batched_augmentation_equals_the_per_image_version():
    x = torch.rand(16, 1, 20, 20, generator=torch.Generator().manual_seed(0))
    x[:, :, 5:12, 8:15] = 1  # an off-centre square makes flips, shifts and rotations visible
    aug = Augment(hflip=True, rotate=20, shift=0.1, crop=0.3, brightness=0.2, contrast=0.2)
    t = draw(16, aug, torch.Generator().manual_seed(5))
    batched = apply(x, t)
    assert torch.equal(batched, augment_batch(x, aug, torch.Generator().manual_seed(5)))
    for i in range(16):
        np.testing.assert_allclose(batched[i, 0].numpy(), _per_image(x[i, 0].numpy(), t, i), atol=2e-5)
