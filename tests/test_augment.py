import pytest
import torch

from ferbench.engine.augment import augment_batch
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
