"""Near-duplicate search: recall of planted copies, false alarms, and speed against imagehash.

    python benchmarks/near_duplicates.py [--data ../shared/data] [--planted 300] [--no-imagehash]
        [--baseline OLD_SIMILARITY.py] [--end-to-end 2240]

1. **Planted copies.** ``--planted`` images of each data set get one copy of each kind of
   ``ferbench.leakage.planted`` (``KINDS``, then the ``HELD_BACK`` kinds not used for tuning)
   added to the data set; recall per kind is the share of copies linked to their original
   (directly or through other copies), for ferbench's search and, with imagehash installed, for
   pHash (plain and mirrored hash, Hamming <= 8) on the same stack.
2. **False alarms.** On CK+48 and the synthetic set every pair of different subjects is
   unrelated, so each cross-subject pair found is a false alarm.
3. **Speed.** All pairs of the FER+ images (or the first ``--speed-images``): ferbench's search
   against imagehash's per-image pHash (plain and mirrored) with all pairs within Hamming
   distance 8 found by a blocked numpy popcount, once each to warm up, then interleaved for
   ``--rounds`` rounds (measure.py). Prints the median time ratio with its range and how far the
   two pair sets agree. ``--baseline FILE`` adds an earlier version of ``ferbench/similarity.py``
   (e.g. ``git show c0cb832:ferbench/similarity.py > /tmp/before.py``) to the same rounds.
4. **End to end.** ``--end-to-end N`` FER+ images written as PNGs in an image folder: the wall
   time of ``ferbench leakage --dataset imagefolder --protocol image`` (a fresh process: start-up,
   loading, the search and the audit) against a fresh process that reads the same files and finds
   the pHash pairs, interleaved.

Needs ``pip install imagehash`` for parts 3 and 4 (``--no-imagehash`` skips them).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

from ferbench.factory import get_dataset
from ferbench.leakage.planted import HELD_BACK, KINDS, plant_copies
from ferbench.similarity import DuplicateSearch, Pairs, components, near_pairs

sys.path.insert(0, str(Path(__file__).parent))
from measure import compare, describe, describe_value  # noqa: E402


def planted_recall(images: np.ndarray, n: int, seed: int = 0,
                   phash: bool = False) -> dict[str, dict[str, float]]:
    """Recall per kind (tuned, then held-back kinds) of copies planted among ``images`` (grey,
    (N, H, W)): ``{"ferbench": {kind: recall}, "pHash": ...}`` (pHash only if asked)."""
    originals = np.random.default_rng(seed).choice(len(images), size=min(n, len(images)), replace=False)
    makers = {**KINDS, **HELD_BACK}
    copies, kinds, sources = plant_copies(images[originals], seed, makers)
    stack = np.concatenate([images, copies])
    found = {"ferbench": near_pairs(stack[..., None])}
    if phash:
        pairs = np.array(sorted(phash_pairs(stack)), dtype=np.int64).reshape(-1, 2)
        found["pHash"] = Pairs(pairs[:, 0], pairs[:, 1], np.ones(len(pairs), np.float32), np.zeros(len(pairs), bool))
    recall = {}
    for method, pairs in found.items():
        group = components(len(stack), pairs)
        hit = group[originals[sources]] == group[len(images):]
        recall[method] = {kind: float(hit[kinds == kind].mean()) for kind in makers}
    return recall


def _popcount_pairs(hashes: np.ndarray, flipped: np.ndarray, distance: int, block: int = 2048) -> set:
    """All (i < j) with Hamming(h_i, h_j) <= distance or Hamming(h_i, mirrored h_j) <= distance."""
    found = set()
    for start in range(0, len(hashes), block):
        rows = hashes[start:start + block, None]
        near = np.bitwise_count(rows ^ hashes[None]) <= distance
        near |= np.bitwise_count(rows ^ flipped[None]) <= distance
        i, j = np.nonzero(near)
        i += start
        keep = i < j
        found.update(zip(i[keep].tolist(), j[keep].tolist()))
    return found


def _phash_bits(images: np.ndarray) -> np.ndarray:
    import imagehash

    def pack(image: np.ndarray) -> int:
        return int(str(imagehash.phash(Image.fromarray(image))), 16)

    return np.array([pack(image) for image in images], dtype=np.uint64)


def phash_pairs(images: np.ndarray) -> set:
    """imagehash's pHash of every image and its mirror, all pairs within Hamming distance 8."""
    return _popcount_pairs(_phash_bits(images), _phash_bits(np.ascontiguousarray(images[:, :, ::-1])), 8)


def _module(path: Path) -> ModuleType:
    """An earlier version of the search, loaded from its source file under its own name."""
    spec = importlib.util.spec_from_file_location("baseline_similarity", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def speed(images: np.ndarray, rounds: int, baseline: Path | None = None) -> None:
    """ferbench's search against imagehash pHash + numpy popcount on the same images (and an
    earlier version of the search, if given), interleaved."""
    found: dict[str, set] = {}

    def search(name: str, find: Callable[[np.ndarray], Pairs]) -> Callable[[], None]:
        def run() -> None:
            pairs = find(images[..., None])
            found[name] = set(zip(pairs.first.tolist(), pairs.second.tolist()))
        return run

    def theirs() -> None:
        found["pHash"] = phash_pairs(images)

    workloads = {"ferbench": search("ferbench", near_pairs), "pHash": theirs}
    if baseline is not None:
        workloads["before"] = search("before", _module(baseline).near_pairs)
    times = compare(workloads, rounds=rounds)
    mine, other = found["ferbench"], found["pHash"]
    both = len(mine & other)
    print(f"all pairs of {len(images)} images, {rounds} interleaved rounds: ferbench "
          f"{describe_value(times.time('ferbench'), 's', 1)} ({len(mine)} pairs); imagehash pHash "
          f"{describe_value(times.time('pHash'), 's', 1)} ({len(other)} pairs within Hamming 8, mirrors included)")
    print(f"  time ratio pHash / ferbench: {describe(times.ratio('pHash', 'ferbench'))}")
    print(f"  agreement: {both} pairs in both; {both / max(len(other), 1):.1%} of pHash's pairs "
          f"found by ferbench, {both / max(len(mine), 1):.1%} of ferbench's found by pHash")
    if baseline is not None:
        print(f"  {baseline.name}: {describe_value(times.time('before'), 's', 1)} ({len(found['before'])} pairs); "
              f"time ratio before / ferbench: {describe(times.ratio('before', 'ferbench'))}")


def end_to_end(images: np.ndarray, rounds: int) -> None:
    """Wall time of ``ferbench leakage`` on ``images`` written as an image folder, against a
    fresh process that reads the same files and finds the pHash pairs."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        classes = ("neutral", "happiness", "sadness", "anger")
        for i, image in enumerate(images):
            (root / classes[i % 4]).mkdir(exist_ok=True)
            Image.fromarray(image).save(root / classes[i % 4] / f"{i:05d}.png")
        ours = [sys.executable, "-m", "ferbench", "leakage", "--dataset", "imagefolder",
                "--data-dir", f"imagefolder={root}", "--dataset-option", f"imagefolder.image_size={images.shape[1]}",
                "--protocol", "image", "--json", str(root / "report.json")]
        theirs = [sys.executable, "-c", (
            "import sys, glob, numpy as np; from PIL import Image\n"
            f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "from near_duplicates import phash_pairs\n"
            f"files = sorted(glob.glob({str(root)!r} + '/*/*.png'))\n"
            "print(len(phash_pairs(np.stack([np.asarray(Image.open(f).convert('L')) for f in files]))))")]

        def command(argv: list[str]) -> Callable[[], None]:
            def run() -> None:
                done = subprocess.run(argv, capture_output=True, text=True, check=False)
                if done.returncode not in (0, 3):  # 3: leakage found, as expected of FER+ images
                    raise SystemExit(f"{' '.join(argv[:4])} failed:\n{done.stderr}")
            return run

        times = compare({"ferbench leakage": command(ours), "pHash": command(theirs)}, rounds=rounds)
        print(f"end to end on {len(images)} images in an image folder, {rounds} interleaved rounds: "
              f"`ferbench leakage --protocol image` {describe_value(times.time('ferbench leakage'), 's')}, "
              f"reading the files + pHash pairs {describe_value(times.time('pHash'), 's')}; "
              f"ratio ferbench / pHash {describe(times.ratio('ferbench leakage', 'pHash'))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--planted", type=int, default=300)
    parser.add_argument("--no-imagehash", action="store_true")
    parser.add_argument("--speed-images", type=int, help="time the search on the first N FER+ images (default: all)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the speed part (default: 3)")
    parser.add_argument("--baseline", type=Path, help="an earlier ferbench/similarity.py to time in the same rounds")
    parser.add_argument("--end-to-end", type=int, default=2240, metavar="N",
                        help="time `ferbench leakage` end to end on N FER+ images (default 2240; 0 skips)")
    args = parser.parse_args()
    print(f"defaults: {DuplicateSearch().to_dict()}")
    sets = [("synthetic", None)]
    if (args.data / "ckplus48").is_dir():
        sets.append(("ckplus", args.data / "ckplus48"))
    if (args.data / "ferplus").is_dir():
        sets.append(("ferplus", args.data / "ferplus"))
    for name, root in sets:
        dataset = get_dataset(name, root)
        grey = dataset.images[..., 0]
        recall = planted_recall(grey, args.planted, phash=not args.no_imagehash)
        for method, per_kind in recall.items():
            for label, kinds in (("tuned kinds", KINDS), ("held-back kinds", HELD_BACK)):
                print(f"{name}: {method} planted-copy recall, {label}: "
                      + ", ".join(f"{k} {per_kind[k]:.1%}" for k in kinds))
        if dataset.subjects is not None:
            pairs = near_pairs(dataset.images)
            unrelated = dataset.subjects[pairs.first] != dataset.subjects[pairs.second]
            total = len(dataset) * (len(dataset) - 1) // 2
            print(f"{name}: {int(unrelated.sum())} false alarms (pairs of different subjects) among "
                  f"{total} pairs; {int((~unrelated).sum())} pairs within a subject")
            if not args.no_imagehash:
                found = phash_pairs(grey)
                first, second = np.array(sorted(found), dtype=np.int64).reshape(-1, 2).T
                wrong = int((dataset.subjects[first] != dataset.subjects[second]).sum())
                print(f"{name}: pHash {wrong} false alarms among the same pairs")
        if name == "ferplus" and not args.no_imagehash:
            speed(grey[:args.speed_images], args.rounds, args.baseline)
            if args.end_to_end:
                chosen = np.random.default_rng(0).choice(len(grey), min(args.end_to_end, len(grey)), replace=False)
                end_to_end(grey[np.sort(chosen)], args.rounds)


if __name__ == "__main__":
    main()
