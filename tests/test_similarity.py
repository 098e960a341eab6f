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
