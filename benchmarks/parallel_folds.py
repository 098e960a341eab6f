"""Wall time of k-fold CV run serially (one process, all cores) against local worker processes.

Runs the same grid (one model, the synthetic set, k folds) with ``--workers 1`` and all cores
as torch threads, then with ``--workers N`` and the cores shared out, each into a fresh run
directory, and prints both wall times and their ratio. Then prints the harness's training
throughput against a bare loop on preloaded tensors (from training_throughput.py), so both
ratios come from one run on the same machine state.

Run: python benchmarks/parallel_folds.py --model res-bilstm-fusion --folds 10 --epochs 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ferbench
from ferbench.engine.device import resolve_precision, select_device
from ferbench_executors.local import cpu_cores

sys.path.insert(0, str(Path(__file__).parent))
from training_throughput import bare, harness  # noqa: E402


def timed_run(model: str, folds: int, epochs: int, workers: int, threads: int, out: Path) -> float:
    started = time.perf_counter()
    outcome = ferbench.run_benchmark(model, "synthetic", folds=folds, out=out, overrides={"epochs": epochs},
                                     executor_options={"workers": workers, "threads": threads})
    if outcome.failed:
        raise SystemExit(f"{len(outcome.failed)} job(s) failed: {outcome.failed[0].error}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="res-bilstm-fusion")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cores = cpu_cores()
    with tempfile.TemporaryDirectory() as tmp:
        serial = timed_run(args.model, args.folds, args.epochs, 1, cores, Path(tmp) / "serial")
        parallel = timed_run(args.model, args.folds, args.epochs, args.workers,
                             max(1, cores // args.workers), Path(tmp) / "parallel")
    print(f"{args.model}, synthetic, {args.folds} folds × {args.epochs} epoch(s), {cores} CPU cores")
    print(f"serial, 1 process × {cores} threads:        {serial:7.1f} s")
    print(f"--workers {args.workers}, {args.workers} × {max(1, cores // args.workers)} thread(s):"
          f"          {parallel:7.1f} s")
    print(f"speed-up of --workers {args.workers}: {serial / parallel:.2f} ×")

    spec = ferbench.get_registry().get("model", args.model)
    device = select_device("auto")
    precision = resolve_precision("auto", device, spec.cpu_bf16)
    torch.set_num_threads(cores)
    data = ferbench.get_dataset("synthetic")
    batch = spec.recipes["default"].batch_size
    warm = data.subset(np.arange(64))
    bare(spec, warm, 1, batch, device, precision)
    rate_bare = bare(spec, data, args.epochs, batch, device, precision)
    rate_fit = harness(spec, data, args.epochs, batch, spec.recipes["default"].augment, device, precision)
    print(f"training throughput at batch {batch}: bare loop {rate_bare:.1f} images/s, ferbench fit() "
          f"{rate_fit:.1f} images/s = {rate_fit / rate_bare:.2f} × bare")


if __name__ == "__main__":
    main()
