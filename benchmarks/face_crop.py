"""Face detection and cropping speed: one process against all cores, and detection quality.

    python benchmarks/face_crop.py [--data ../shared/data] [--portraits 200] [--size 256] [--rounds 5]

Writes ``--portraits`` grey ``--size``² portraits into a temporary image folder: CK+48 faces
(from ``--data``/ckplus48) enlarged to 40–60 % of the frame and pasted at random places into
noise, then loads the folder with ``face_crop="detect"`` (OpenCV's Haar cascade) twice, each
time into an empty cache: in one process, and the way ``ferbench run`` does (forked workers on
every core), once each to warm up, then interleaved for ``--rounds`` rounds (measure.py). Prints
the median ms per portrait with its range, the median per-round speed-up with its range, and the
share of crops whose detection box overlaps the pasted face with IoU ≥ 0.5.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ferbench.loading import FaceCrop, LoadReport, cache, images, load_images
from ferbench.loading.faces import detect

sys.path.insert(0, str(Path(__file__).parent))
from measure import compare, describe, describe_value  # noqa: E402


def write_portraits(folder: Path, faces: list[Path], count: int, size: int, seed: int = 0) -> list[tuple]:
    """``count`` portraits in ``folder``; returns each one's pasted face box (x, y, side)."""
    rng = np.random.default_rng(seed)
    boxes = []
    for i in range(count):
        side = int(size * rng.uniform(0.4, 0.6))
        face = Image.open(faces[i % len(faces)]).convert("L").resize((side, side), Image.Resampling.BICUBIC)
        scene = np.clip(rng.normal(128, 40, (size, size)), 0, 255).astype(np.uint8)
        x, y = (int(v) for v in rng.integers(0, size - side, 2))
        scene[y:y + side, x:x + side] = np.asarray(face)
        Image.fromarray(scene).save(folder / f"{i:04d}.png")
        boxes.append((x, y, side))
    return boxes


def crop_all(paths: list[str], parallel: bool) -> None:
    """Crop every portrait into an empty cache."""
    cache.clear_memory()
    saved = images._PARALLEL_FROM_FACES
    images._PARALLEL_FROM_FACES = images._PARALLEL_FROM_FACES if parallel else len(paths) + 1
    try:
        with tempfile.TemporaryDirectory() as folder:
            os.environ["FERBENCH_CACHE_DIR"] = folder
            load_images(paths, channels=1, size=(96, 96), report=LoadReport("bench"), face=FaceCrop("detect"))
    finally:
        images._PARALLEL_FROM_FACES = saved


def iou_share(paths: list[str], boxes: list[tuple]) -> float:
    """Share of portraits whose largest detection overlaps the pasted face with IoU ≥ 0.5."""
    good = 0
    for path, (x, y, side) in zip(paths, boxes):
        found = detect.find_faces(np.asarray(Image.open(path)))
        if not found:
            continue
        box = max(found, key=lambda b: b.w * b.h)
        dx = max(0.0, min(x + side, box.x + box.w) - max(x, box.x))
        dy = max(0.0, min(y + side, box.y + box.h) - max(y, box.y))
        good += dx * dy / (side * side + box.w * box.h - dx * dy) >= 0.5
    return good / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--portraits", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: 5)")
    args = parser.parse_args()
    faces = sorted((args.data / "ckplus48").glob("*/*.png"))
    if not faces:
        raise SystemExit(f"no CK+48 faces under {args.data / 'ckplus48'}; pass --data")
    detect.require_opencv()
    with tempfile.TemporaryDirectory() as folder:
        boxes = write_portraits(Path(folder), faces[::max(1, len(faces) // args.portraits)], args.portraits, args.size)
        paths = sorted(str(p) for p in Path(folder).glob("*.png"))
        times = compare({"one process": lambda: crop_all(paths, parallel=False),
                         "all cores": lambda: crop_all(paths, parallel=True)}, rounds=args.rounds)
        share = iou_share(paths, boxes)
    n = len(paths)
    print(f"{n} portraits of {args.size}x{args.size}, {os.cpu_count()} cores, {args.rounds} interleaved rounds")
    for name in ("one process", "all cores"):
        print(f"{name + ':':12s} {describe_value(times.time(name).scaled(1000 / n), 'ms a portrait', 1)}")
    print(f"speed-up of all cores: {describe(times.speedup('all cores', 'one process'))}")
    print(f"detections with IoU >= 0.5 against the pasted face: {100 * share:.1f} %")


if __name__ == "__main__":
    main()
