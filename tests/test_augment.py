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
