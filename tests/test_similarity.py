"""The near-duplicate search on generated data: copies with filled borders are found, and
different faces drawn with one pose, background and lighting are not flagged."""

from __future__ import annotations

import numpy as np
import pytest
from ferbench_datasets import synthetic_faces as drawer
from PIL import Image

from ferbench.errors import UserError
from ferbench.leakage.planted import plant_copies
from ferbench.similarity import DuplicateSearch, components, near_pairs


def _portraits(count: int, seed: int = 3) -> np.ndarray:
    """``count`` neutral synthetic identities with one pose, background and lighting, 48 px."""
    size = 128
    px = 2.0 / size
    grid = (np.arange(size) + 0.5) * px - 1.0
    x, y = np.meshgrid(grid * 1.25, grid * 1.25)
    out = []
    for subject in range(count):
        identity = drawer._identity(seed, subject)
        identity.update(bg=120.0, bg_gx=8.0, bg_gy=-5.0)
        params = {k: np.array([v]) for k, v in zip(drawer._PARAMS, identity["rest"])}
        image = drawer._render(identity, params, x[None], y[None], px * 1.25)[0]
        out.append(np.asarray(Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).resize((48, 48), Image.LANCZOS)))
    return np.stack(out)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return _portraits(24)


def _found(originals: np.ndarray, kinds: list[str]) -> dict[str, float]:
    from ferbench.leakage.planted import HELD_BACK, KINDS

    makers = {**KINDS, **HELD_BACK}
    copies, names, sources = plant_copies(originals, seed=5, kinds={k: makers[k] for k in kinds})
    stack = np.concatenate([originals, copies])[..., None]
    group = components(len(stack), near_pairs(stack))
    hit = group[sources] == group[len(originals):]
    return {kind: float(hit[names == kind].mean()) for kind in kinds}


def test_copies_with_black_and_white_filled_borders_are_found(faces):
    found = _found(faces[:12], ["shift 2px black", "rotate 5deg black", "shift 2px white", "rotate 5deg white"])
    assert all(share >= 0.9 for share in found.values()), found


def test_look_alikes_with_one_pose_and_background_are_not_flagged(faces):
    pairs = near_pairs(faces[..., None])
    assert len(pairs) == 0, f"{len(pairs)} pairs of different faces flagged, scores {pairs.score}"
    # The same faces match where they are copies: the score separates copies from look-alikes.
    loose = near_pairs(faces[..., None], search=DuplicateSearch(threshold=0.5))
    assert len(loose) > 0 and loose.score.max() < DuplicateSearch().threshold


def test_settings_out_of_range_say_what_to_pass():
    with pytest.raises(UserError, match="margin"):
        DuplicateSearch(margin=0.3)
    with pytest.raises(UserError, match="shared_keep"):
        DuplicateSearch(shared_keep=2.0)


def test_the_search_arithmetic_matches_the_library_operations_it_replaces():
    """Each hand-written step equals the library call it stands for: the shift-limited inverse
    transform (scipy's irfft2), the resampling matrices (torch's adaptive pooling, antialiased
    bilinear resize and affine grid sampling), the window sums and the sparse-mask scan."""
    import scipy.fft
    import torch
    import torch.nn.functional as F

    from ferbench import similarity as s

    rng = np.random.default_rng(0)
    images = rng.standard_normal((6, 36, 36)).astype(np.float32)
    spectra = scipy.fft.rfft2(images)
    assert np.allclose(s._shift_inverse(spectra, 36, 9), scipy.fft.irfft2(spectra, s=(36, 36))[:, :9, :9], atol=1e-5)
    odd = scipy.fft.rfft2(images[:, :35, :35])
    assert np.allclose(s._shift_inverse(odd, 35, 7), scipy.fft.irfft2(odd, s=(35, 35))[:, :7, :7], atol=1e-5)

    tensor = torch.from_numpy(images)[:, None]
    pooled = F.adaptive_avg_pool2d(tensor, 16)[:, 0].numpy()
    assert np.allclose(s._sandwich(s._area_matrix(36, 16), images, s._area_matrix(36, 16)), pooled, atol=1e-5)
    resized = F.interpolate(tensor, size=(20, 20), mode="bilinear", antialias=True, align_corners=False)[:, 0].numpy()
    assert np.allclose(s._sandwich(s._resize_matrix(36, 20), images, s._resize_matrix(36, 20)), resized, atol=1e-4)

    warp = s._warp_matrices((5.0,), (0.95,), 36)[0]
    c, t = np.cos(np.radians(5.0)) / 0.95, np.sin(np.radians(5.0)) / 0.95
    theta = torch.tensor([[[c, -t, 0.0], [t, c, 0.0]]], dtype=torch.float32).expand(6, 2, 3)
    grid = F.affine_grid(theta, (6, 1, 36, 36), align_corners=False)
    sampled = F.grid_sample(tensor, grid, mode="bilinear", padding_mode="border", align_corners=False)[:, 0]
    assert np.allclose((warp @ images.reshape(6, -1).T).T.reshape(6, 36, 36), sampled.numpy(), atol=1e-4)

    sums = s._sandwich(s._band_matrix(36, 28).T, images, s._band_matrix(36, 28).T)
    windows = np.lib.stride_tricks.sliding_window_view(images, (28, 28), axis=(1, 2)).sum((-2, -1))
    assert np.allclose(sums, windows, atol=1e-3)

    for shape in ((256, 64), (7, 13)):
        mask = rng.random(shape) > 0.97
        assert all((a == b).all() for a, b in zip(s._nonzero(mask), np.nonzero(mask)))
