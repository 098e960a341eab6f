"""Adam's fused kernel against its multi-tensor (foreach) one: one optimiser step, and a whole
epoch of ``fit`` at a small batch, where the step is a large share of the time.

For a registered model: (a) ``torch.optim.Adam(fused=True)`` against the default (foreach) over
the model's parameters with fixed gradients, (b) one epoch of ``fit`` on ``--images`` synthetic
images at ``--batch-size`` with the paper recipe, building its optimiser either way (``fit`` uses
``optimizer_for``, which is fused; the other runs it with foreach). Each pair runs once to warm up,
then interleaved for ``--rounds`` rounds (measure.py); prints the medians with their ranges and
the per-round speed-up.

Run: python benchmarks/optimizer_kernels.py --model res-bilstm-fusion --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import ferbench
import ferbench.engine.train as train
from ferbench.engine.device import resolve_precision, select_device
from ferbench.recipes import PAPER
from ferbench.specs import Recipe

sys.path.insert(0, str(Path(__file__).parent))
from measure import compare, describe, describe_value  # noqa: E402


def foreach_adam(recipe: Recipe, params) -> torch.optim.Optimizer:
    """What ``optimizer_for`` built before it was fused: torch's default Adam."""
    return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="res-bilstm-fusion")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--steps", type=int, default=100, help="optimiser steps per round (default: 100)")
    parser.add_argument("--images", type=int, default=320, help="images in the fit epoch (default: 320)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device("cpu")
    data = ferbench.get_dataset("synthetic")
    spec = ferbench.get_registry().get("model", args.model)
    height, _, channels = data.image_shape
    recipe = PAPER.with_overrides(epochs=1, batch_size=args.batch_size)

    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return spec.build(num_classes=len(data.classes), in_chans=channels, image_size=height)

    model = build()
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    optimizers = {"foreach": foreach_adam(recipe, params), "fused": train.optimizer_for(recipe, params)}

    def steps(name: str):
        return lambda: [optimizers[name].step() for _ in range(args.steps)]

    times = compare({name: steps(name) for name in optimizers}, rounds=args.rounds)
    print(f"{args.model}: {len(params)} parameter tensors, {sum(p.numel() for p in params) / 1e6:.2f} M values, "
          f"{torch.get_num_threads()} thread(s), {args.rounds} interleaved rounds")
    for name in optimizers:
        print(f"  Adam step, {name:8s} {describe_value(times.time(name).scaled(1000 / args.steps), 'ms', 2)}")
    print(f"  Adam step: fused / foreach speed-up {describe(times.speedup('fused', 'foreach'))}")

    fused_for = train.optimizer_for
    images, labels = data.images[:args.images], data.labels[:args.images]
    precision = resolve_precision("auto", device, spec.cpu_bf16)

    def epoch(make):
        def run() -> None:
            train.optimizer_for = make
            try:
                train.fit(build(), images, labels, recipe, seed=0, device=device, precision=precision,
                          channels_last=spec.channels_last)
            finally:
                train.optimizer_for = fused_for
        return run

    times = compare({"foreach": epoch(foreach_adam), "fused": epoch(fused_for)}, rounds=args.rounds)
    for name in ("foreach", "fused"):
        print(f"  fit, {args.images} images at batch {args.batch_size} ({precision}), {name:8s} "
              f"{describe_value(times.time(name).inverse(args.images), 'images/s', 1)}")
    print(f"  fit epoch: fused / foreach speed-up {describe(times.speedup('fused', 'foreach'))}")


if __name__ == "__main__":
    main()
