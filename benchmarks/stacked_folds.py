"""Training throughput of k folds stacked (one vectorised step for all) against one fold at a time.

For each model and batch size b, in one process: (a) k fold models trained one after another
with ``fit`` at batch b, (b) the same k models trained stacked with ``fit_stacked`` (each fold
its own batch of b), and (c) the ceiling, one model trained with ``fit`` at batch k × b on the
same images; with ``--workers P``, also (d) the k folds shared among P worker processes of one
thread each, side by side (what ``ferbench run --workers P --threads 1`` does). Each fold trains one epoch of ``--steps`` batches on its own rows of the synthetic
set, with the paper recipe's augmentation and the precision and memory format a job would use.
Every configuration runs once to warm up, then all of them interleaved for ``--rounds`` rounds
(measure.py); prints the median images/s with its range, and the per-round ratios stacked /
one at a time and stacked / ceiling.

Run: python benchmarks/stacked_folds.py --models res-bilstm-fusion --k 10 --batch-sizes 4,32 --steps 10 --workers 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

import ferbench
from ferbench.engine.device import resolve_precision, select_device
from ferbench.engine.stacked import StackingFallback, fit_stacked
from ferbench.engine.train import fit
from ferbench.recipes import PAPER
from ferbench.specs import ModelSpec

sys.path.insert(0, str(Path(__file__).parent))
from measure import compare, describe, describe_value  # noqa: E402

ONE_AT_A_TIME, STACKED, CEILING, WORKERS = "one fold at a time", "stacked", "ceiling", "workers"


def fold_parts(data: ferbench.Dataset, k: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """k training parts of ``size`` rows each, fold i starting ``i / k`` of the way through the set."""
    n = len(data)
    return [(data.images[rows], data.labels[rows])
            for rows in ((np.arange(size) + i * n // k) % n for i in range(k))]


def build(spec: ModelSpec, data: ferbench.Dataset, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    height, _, channels = data.image_shape
    return spec.build(num_classes=len(data.classes), in_chans=channels, image_size=height)


def _one_thread() -> None:
    torch.set_num_threads(1)


def train_folds(name: str, k: int, steps: int, batch: int, folds: list[int], device: str) -> None:
    """Train ``folds`` of the k fold models one after another at ``batch``, as a worker does."""
    data = ferbench.get_dataset("synthetic")
    spec = ferbench.get_registry().get("model", name)
    here = select_device(device)
    parts = fold_parts(data, k, steps * batch)
    recipe = PAPER.with_overrides(epochs=1, batch_size=batch)
    for i in folds:
        fit(build(spec, data, i), *parts[i], recipe, seed=i, device=here,
            precision=resolve_precision("auto", here, spec.cpu_bf16), channels_last=spec.channels_last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smallcnn,res-bilstm-fusion,timm/resnet18", help="comma-separated")
    parser.add_argument("--k", type=int, default=10, help="folds trained together (default: 10)")
    parser.add_argument("--batch-sizes", default="4,32", help="comma-separated (default: 4,32)")
    parser.add_argument("--steps", type=int, default=10, help="batches per fold per round (default: 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0,
                        help="also time the folds shared among this many one-thread worker processes")
    args = parser.parse_args()
    pool = (multiprocessing.get_context("spawn").Pool(args.workers, initializer=_one_thread)
            if args.workers else None)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    data = ferbench.get_dataset("synthetic")
    print(f"synthetic 48×48, k={args.k} folds, {args.steps} batches per fold, {device}, "
          f"{torch.get_num_threads()} threads, {args.rounds} interleaved rounds, paper augmentation")
    for name in args.models.split(","):
        spec = ferbench.get_registry().get("model", name)
        precision = resolve_precision("auto", device, spec.cpu_bf16)
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            parts = fold_parts(data, args.k, args.steps * batch)
            recipe = PAPER.with_overrides(epochs=1, batch_size=batch)
            options = dict(device=device, precision=precision, channels_last=spec.channels_last)
            union = (np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts]))

            def one_at_a_time() -> None:
                for i, (images, labels) in enumerate(parts):
                    fit(build(spec, data, i), images, labels, recipe, seed=i, **options)

            def stacked() -> None:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", StackingFallback)
                    fit_stacked([build(spec, data, i) for i in range(args.k)], parts, recipe,
                                seeds=list(range(args.k)), **options)

            def ceiling() -> None:
                fit(build(spec, data, 0), *union, recipe.with_overrides(batch_size=batch * args.k), seed=0,
                    **options)

            def workers() -> None:
                shares = [list(range(w, args.k, args.workers)) for w in range(args.workers)]
                pool.starmap(train_folds, [(name, args.k, args.steps, batch, share, args.device) for share in shares])

            workloads = {ONE_AT_A_TIME: one_at_a_time, STACKED: stacked, CEILING: ceiling}
            times = compare(workloads | ({WORKERS: workers} if pool else {}), rounds=args.rounds)
            images = args.k * args.steps * batch
            for label, config in ((f"{args.k} × batch {batch}, one at a time", ONE_AT_A_TIME),
                                  (f"{args.k} × batch {batch}, stacked", STACKED),
                                  (f"1 × batch {args.k * batch} (ceiling)", CEILING),
                                  *([(f"{args.k} × batch {batch}, {args.workers} one-thread workers", WORKERS)]
                                    if pool else [])):
                print(f"{name:18s} {precision}  {label:32s} "
                      f"{describe_value(times.time(config).inverse(images), 'images/s', 1)}")
            print(f"{name:18s} {precision}  batch {batch}: stacked / one at a time "
                  f"{describe(times.speedup(STACKED, ONE_AT_A_TIME))}; stacked / ceiling "
                  f"{describe(times.speedup(STACKED, CEILING))}")
            if pool:
                print(f"{name:18s} {precision}  batch {batch}: {args.workers} one-thread workers / one at a time "
                      f"{describe(times.speedup(WORKERS, ONE_AT_A_TIME))}")
    if pool:
        pool.close()
        pool.join()


if __name__ == "__main__":
    main()
