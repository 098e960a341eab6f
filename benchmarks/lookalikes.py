"""False alarms of the near-duplicate search on different people photographed alike.

    python benchmarks/lookalikes.py [--data ../shared/data] [--size 48] [--planted 100]

Two sets where every image shows a different person (or a different sequence of one) in one
shared frame, so that a look-alike matches a copy in pose, lighting and background:

a. **CK+48 composited.** Every CK+48 face, enlarged to 160 px and blended through a soft oval
   into one shared 256-px scene (a lit wall with a door frame, a dark shirt), then resized to
   ``--size`` px. Pairs of different subjects are unrelated.
b. **Synthetic portraits.** ``--portraits`` identities of the synthetic face drawer, all drawn
   neutral, with one pose, one background and one lighting, at 256 px, resized to ``--size``.

For each set: the pairs of different subjects flagged at the default threshold (per million
such pairs), the highest score among them, and the recall per kind of ``--planted`` copies of
each planted kind (``ferbench.leakage.planted``) added to the set.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ferbench_datasets import synthetic_faces as drawer
from PIL import Image

from ferbench.factory import get_dataset
from ferbench.leakage.planted import HELD_BACK, KINDS, plant_copies
from ferbench.similarity import DuplicateSearch, components, near_pairs

SCENE = 256


def _scene(seed: int = 0) -> np.ndarray:
    """The shared background: a wall lit from one side, a door frame, a dark shirt, mild texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SCENE, 0:SCENE] / SCENE
    wall = 150 + 50 * x - 30 * y
    wall[:, 20:28] -= 45  # door frame
    wall[:, 28:34] += 25
    texture = np.asarray(Image.fromarray(rng.normal(0, 1, (32, 32)).astype(np.float32))
                         .resize((SCENE, SCENE), Image.BICUBIC))
    wall += 6 * texture
    shirt = ((x - 0.5) ** 2 / 0.45**2 + (y - 1.15) ** 2 / 0.35**2) < 1
    wall[shirt] = 45 + 10 * x[shirt]
    return wall.astype(np.float32)


def composited(faces: np.ndarray, size: int, face_px: int = 160) -> np.ndarray:
    """Grey faces (N, h, w) enlarged to ``face_px`` and blended into one shared scene, resized to
    ``size`` px: (N, size, size) uint8."""
    scene = _scene()
    y, x = (np.mgrid[0:face_px, 0:face_px] + 0.5) / face_px - 0.5
    oval = np.clip((1 - np.sqrt((x / 0.46) ** 2 + (y / 0.5) ** 2)) / 0.08, 0, 1)
    top, left = (SCENE - face_px) // 2 - 10, (SCENE - face_px) // 2
    out = []
    for face in faces:
        big = np.asarray(Image.fromarray(face).resize((face_px, face_px), Image.BICUBIC), np.float32)
        frame = scene.copy()
        window = frame[top:top + face_px, left:left + face_px]
        window += oval * (big - window)
        small = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).resize((size, size), Image.LANCZOS)
        out.append(np.asarray(small))
    return np.stack(out)


def portraits(count: int, size: int, seed: int = 0) -> np.ndarray:
    """``count`` synthetic identities, neutral, one pose, background and lighting, drawn at 256 px
    and resized to ``size``: (count, size, size) uint8, one subject each."""
    px = 2.0 / SCENE
    grid = (np.arange(SCENE) + 0.5) * px - 1.0
    gx, gy = np.meshgrid(grid, grid)
    x, y = gx[None] * 1.25, gy[None] * 1.25  # the face fills 80 % of the frame
    noise = np.random.default_rng((seed, 1))
    out = []
    for subject in range(count):
        identity = drawer._identity(seed, subject)
        identity.update(bg=120.0, bg_gx=8.0, bg_gy=-5.0)
        params = {k: np.array([v]) for k, v in zip(drawer._PARAMS, identity["rest"])}
        image = drawer._render(identity, params, x, y, px * 1.25)[0] + 6 * gx - 4 * gy
        small = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).resize((size, size), Image.LANCZOS)
        out.append(np.clip(np.asarray(small) + noise.normal(0, 1.5, (size, size)), 0, 255).astype(np.uint8))
    return np.stack(out)


def false_pairs(images: np.ndarray, subjects: np.ndarray, search: DuplicateSearch) -> str:
    """Pairs of different subjects flagged, per million such pairs, and their highest score."""
    pairs = near_pairs(images[..., None], search=search)
    cross = subjects[pairs.first] != subjects[pairs.second]
    _, per_subject = np.unique(subjects, return_counts=True)
    total = (len(subjects) ** 2 - (per_subject**2).sum()) // 2
    top = f"{pairs.score[cross].max():.3f}" if cross.any() else "none"
    return (f"{int(cross.sum())} of {total} cross-subject pairs flagged "
            f"({cross.sum() / total * 1e6:.1f} per million; highest flagged score {top})")


def planted_recall(images: np.ndarray, n: int, search: DuplicateSearch, seed: int = 0) -> dict[str, float]:
    """Recall per kind (tuned and held-back kinds) of copies of ``n`` of ``images`` planted among them."""
    originals = np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False)
    kinds_ = {**KINDS, **HELD_BACK}
    copies, kinds, sources = plant_copies(images[originals], seed, kinds_)
    stack = np.concatenate([images, copies])[..., None]
    group = components(len(stack), near_pairs(stack, search=search))
    hit = group[originals[sources]] == group[len(images):]
    return {kind: float(hit[kinds == kind].mean()) for kind in kinds_}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--portraits", type=int, default=400)
    parser.add_argument("--planted", type=int, default=100)
    args = parser.parse_args()
    search = DuplicateSearch()
    sets = []
    if (args.data / "ckplus48").is_dir():
        ck = get_dataset("ckplus", args.data / "ckplus48")
        sets.append(("CK+48 composited", composited(ck.images[..., 0], args.size), ck.subjects))
    else:
        print(f"no CK+48 under {args.data}: the composited set is skipped")
    sets.append(("synthetic portraits", portraits(args.portraits, args.size),
                 np.arange(args.portraits).astype(str)))
    for name, images, subjects in sets:
        print(f"{name} ({len(images)} images at {args.size} px): {false_pairs(images, subjects, search)}")
        recall = planted_recall(images, args.planted, search)
        print("  planted-copy recall: " + ", ".join(f"{k} {v:.0%}" for k, v in recall.items()))


if __name__ == "__main__":
    main()
