"""Training throughput of a registered model, per precision: ferbench's fit() against a bare loop,
both against what the machine's fp32 matrix multiply could do for that model.

For each precision and batch size, the bare loop trains the model on the synthetic set's images
preloaded as float tensors (no augmentation, no normalisation, no bookkeeping); fit() trains it
end to end as a job does, without augmentation (the same work as the bare loop) and with the
default recipe's augmentation. The ceiling is the machine's fp32 matmul rate, measured here,
divided by the model's training FLOPs per image (3 × the forward FLOPs: forward, and backward
for activations and weights). For each batch size, every configuration runs once to warm up,
then all of them interleaved for ``--rounds`` rounds (measure.py); prints the median images/s
(frames/s for clip models) with its range, as a fraction of that ceiling, and the median of the
per-round ratios with their range, flagged where the range is wider than the effect.

Run: python benchmarks/training_throughput.py --model res-bilstm-fusion --batch-sizes 4,128
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import ferbench
from ferbench.engine.device import (autocast, images_to_device, resolve_precision, select_device,
                                    use_channels_last)
from ferbench.engine.train import fit
from ferbench.factory import count_flops
from ferbench.specs import Augment, ModelSpec

sys.path.insert(0, str(Path(__file__).parent))
from measure import Comparison, compare, describe, describe_value  # noqa: E402

BARE, PLAIN, AUGMENTED = "bare loop, preloaded tensors", "fit, no augmentation", "fit, default augmentation"


def build(spec: ModelSpec, data: ferbench.Dataset) -> torch.nn.Module:
    torch.manual_seed(0)
    height, _, channels = data.image_shape
    return spec.build(num_classes=len(data.classes), in_chans=channels, image_size=height)


def matmul_gflops(device: torch.device, size: int = 2048, seconds: float = 2.0) -> float:
    """Measured fp32 matrix-multiply rate in GFLOP/s (the best of repeated square products)."""
    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * size**3 / (time.perf_counter() - started) / 1e9)
    return best


def training_flops_per_image(spec: ModelSpec, data: ferbench.Dataset) -> float:
    """3 × forward FLOPs of one image (one frame for clip models)."""
    height, width, channels = data.image_shape
    model = build(spec, data)
    if spec.input == "clip":
        length = data.clips().length
        return 3 * count_flops(model, (1, length, channels, height, width)) / length
    return 3 * count_flops(model, (1, channels, height, width))


def frames(spec: ModelSpec, data: ferbench.Dataset) -> int:
    """Images (frames for clip models) one epoch trains on."""
    return data.clips().rows.size if spec.input == "clip" else len(data)


def bare(spec: ModelSpec, data: ferbench.Dataset, epochs: int, batch: int,
         device: torch.device, precision: str) -> None:
    """A plain training loop over preloaded float tensors (in the memory format the harness uses
    for the model)."""
    model = build(spec, data).to(device)
    x_all = images_to_device(data.images, device).float().div(255)
    if use_channels_last(device, spec.channels_last):
        model = model.to(memory_format=torch.channels_last)
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    if spec.input == "clip":
        clips = data.clips()
        x_all, labels = x_all[torch.as_tensor(clips.rows)], data.labels[clips.rows[:, 0]]
    else:
        labels = data.labels
    y_all = torch.as_tensor(labels, device=device)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y_all), device=device)
        for start in range(0, len(y_all) - 1, batch):
            idx = order[start:start + batch]
            with autocast(device, precision):
                loss = F.cross_entropy(model(x_all[idx]).float(), y_all[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def harness(spec: ModelSpec, data: ferbench.Dataset, epochs: int, batch: int, augment: Augment,
            device: torch.device, precision: str) -> None:
    """fit(), everything included."""
    recipe = spec.recipes["default"].with_overrides(epochs=epochs, batch_size=batch, augment=augment)
    clips = data.clips() if spec.input == "clip" else None
    fit(build(spec, data), data.images, data.labels, recipe, device=device, precision=precision,
        seed=0, clips=clips, channels_last=spec.channels_last)


def fit_against_bare(spec: ModelSpec, data: ferbench.Dataset, epochs: int, batch: int,
                     device: torch.device, precision: str, rounds: int) -> Comparison:
    """fit() with the recipe's augmentation against the bare loop, interleaved."""
    augment = spec.recipes["default"].augment
    return compare({BARE: lambda: bare(spec, data, epochs, batch, device, precision),
                    AUGMENTED: lambda: harness(spec, data, epochs, batch, augment, device, precision)},
                   rounds=rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="res-bilstm-fusion")
    parser.add_argument("--batch-sizes", default="4,128", help="comma-separated (default: 4,128)")
    parser.add_argument("--precisions", default="fp32,auto",
                        help="comma-separated, each as --precision takes it (default: fp32,auto)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: 5)")
    parser.add_argument("--images", type=int, help="train on N synthetic images spread over the set (default: all 420)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    spec = ferbench.get_registry().get("model", args.model)
    device = select_device(args.device)
    precisions = list(dict.fromkeys(resolve_precision(p, device, spec.cpu_bf16)
                                    for p in args.precisions.split(",")))
    data = ferbench.get_dataset("synthetic")
    if args.images:
        data = data.subset(np.linspace(0, len(data) - 1, min(args.images, len(data))).astype(int))
    augment = spec.recipes["default"].augment
    gflops = matmul_gflops(device)
    flops = training_flops_per_image(spec, data)
    ceiling = gflops * 1e9 / flops
    images = args.epochs * frames(spec, data)
    print(f"{spec.name} ({spec.input}), synthetic: {len(data)} images 48×48, {args.epochs} epoch(s), "
          f"{device}, {torch.get_num_threads()} threads, {args.rounds} interleaved rounds")
    print(f"fp32 matmul {gflops:.0f} GFLOP/s; training {flops / 1e9:.2f} GFLOP per image; "
          f"ceiling {ceiling:.0f} images/s")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        workloads = {}
        for precision in precisions:
            workloads[precision, BARE] = lambda p=precision: bare(spec, data, args.epochs, batch, device, p)
            workloads[precision, PLAIN] = lambda p=precision: harness(spec, data, args.epochs, batch, Augment(),
                                                                      device, p)
            workloads[precision, AUGMENTED] = lambda p=precision: harness(spec, data, args.epochs, batch,
                                                                          augment, device, p)
        comparison = compare(workloads, rounds=args.rounds)
        for precision in precisions:
            for name in (BARE, PLAIN, AUGMENTED):
                rate = comparison.time((precision, name)).inverse(images)
                line = (f"batch {batch:4d}  {precision}  {name:28s} {describe_value(rate, 'images/s', 1)}  "
                        f"{rate.median / ceiling:5.2f} × ceiling")
                if name != BARE:
                    line += f"  against bare: {describe(comparison.speedup((precision, name), (precision, BARE)))}"
                print(line)
        for precision in precisions[1:]:
            for name in (BARE, PLAIN, AUGMENTED):
                speedup = comparison.speedup((precision, name), (precisions[0], name))
                print(f"batch {batch:4d}  {precision} / {precisions[0]}  {name:28s} {describe(speedup)}")


if __name__ == "__main__":
    main()
