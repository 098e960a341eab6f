"""Wall time of k-fold CV run serially (one process, all cores) against local worker processes.

Runs the same grid (one model, the synthetic set, k folds) with ``--workers 1`` and all cores
as torch threads, and with ``--workers N`` and the cores shared out, each time into a fresh run
directory: once each to warm up, then interleaved for ``--rounds`` rounds (measure.py). Prints
the median wall times with their range and the median per-round speed-up with its range. Then
the harness's training throughput against a bare loop on preloaded tensors (from
training_throughput.py), interleaved the same way and measured first.

Run: python benchmarks/parallel_folds.py --model res-bilstm-fusion --folds 10 --epochs 2
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import torch

import ferbench
from ferbench.engine.device import resolve_precision, select_device
from ferbench.run.config import cpu_cores

sys.path.insert(0, str(Path(__file__).parent))
from measure import compare, describe, describe_value  # noqa: E402
from training_throughput import AUGMENTED, BARE, fit_against_bare, frames  # noqa: E402


def cross_validate(model: str, folds: int, epochs: int, workers: int, threads: int, out: Path) -> None:
    """The whole grid into the fresh run directory ``out``."""
    outcome = ferbench.run_benchmark(model, "synthetic", folds=folds, out=out, overrides={"epochs": epochs},
                                     executor_options={"workers": workers, "threads": threads})
    if outcome.failed:
        raise SystemExit(f"{len(outcome.failed)} job(s) failed: {outcome.failed[0].error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="res-bilstm-fusion")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    args = parser.parse_args()
    cores = cpu_cores()
    # fit() against the bare loop first: timed after run_benchmark in the same process, fit()
    # read several times slower (not yet explained).
    spec = ferbench.get_registry().get("model", args.model)
    device = select_device("auto")
    precision = resolve_precision("auto", device, spec.cpu_bf16)
    torch.set_num_threads(cores)
    data = ferbench.get_dataset("synthetic")
    batch = spec.recipes["default"].batch_size
    loops = fit_against_bare(spec, data, args.epochs, batch, device, precision, args.rounds)
    images = args.epochs * frames(spec, data)
    threads = max(1, cores // args.workers)
    serial, parallel = "serial", f"--workers {args.workers}"
    with tempfile.TemporaryDirectory() as tmp:
        fresh = (Path(tmp) / str(i) for i in itertools.count())
        times = compare({
            serial: lambda: cross_validate(args.model, args.folds, args.epochs, 1, cores, next(fresh)),
            parallel: lambda: cross_validate(args.model, args.folds, args.epochs, args.workers, threads,
                                             next(fresh)),
        }, rounds=args.rounds)
    print(f"{args.model}, synthetic, {args.folds} folds × {args.epochs} epoch(s), {cores} CPU cores, "
          f"{args.rounds} interleaved rounds")
    print(f"serial, 1 process × {cores} threads: {describe_value(times.time(serial), 's', 1)}")
    print(f"{parallel}, {args.workers} × {threads} thread(s): {describe_value(times.time(parallel), 's', 1)}")
    print(f"speed-up of {parallel}: {describe(times.speedup(parallel, serial))}")
    print(f"training throughput at batch {batch} ({precision}): bare loop "
          f"{describe_value(loops.time(BARE).inverse(images), 'images/s', 1)}, ferbench fit() "
          f"{describe_value(loops.time(AUGMENTED).inverse(images), 'images/s', 1)}; fit() against bare: "
          f"{describe(loops.speedup(AUGMENTED, BARE))}")


if __name__ == "__main__":
    main()
