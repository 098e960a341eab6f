"""Training throughput of a registered model: ferbench's fit() against a bare PyTorch loop.

For each batch size, the bare loop trains the model on the synthetic set's images preloaded as
tensors on the device (no augmentation, no normalisation step, no bookkeeping); fit() trains
it end to end as a job does, once without augmentation and once with the model's default
recipe's augmentation. Prints images/s (frames/s for clip models) and the ratio to the bare
loop, all measured in one run: these machines are shared and noisy, so compare ratios.

Run: python benchmarks/training_throughput.py --model res-bilstm-fusion --batch-sizes 4,128
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import ferbench
from ferbench.engine.device import autocast, images_to_device, precision_for, select_device
from ferbench.engine.train import fit
from ferbench.specs import Augment, ModelSpec


def build(spec: ModelSpec, data: ferbench.Dataset) -> torch.nn.Module:
    torch.manual_seed(0)
    height, _, channels = data.image_shape
    return spec.build(num_classes=len(data.classes), in_chans=channels, image_size=height)


def bare(spec: ModelSpec, data: ferbench.Dataset, epochs: int, batch: int,
         device: torch.device, precision: str) -> float:
    """Images (frames) per second of a plain loop over preloaded float tensors."""
    model = build(spec, data).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_all = images_to_device(data.images, device).float().div(255)
    if spec.input == "clip":
        clips = data.clips()
        x_all, labels = x_all[torch.as_tensor(clips.rows)], data.labels[clips.rows[:, 0]]
    else:
        labels = data.labels
    y_all = torch.as_tensor(labels, device=device)
    frames = x_all[0].numel() // data.images[0].size
    model.train()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
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
    return epochs * len(y_all) * frames / (time.perf_counter() - started)


def harness(spec: ModelSpec, data: ferbench.Dataset, epochs: int, batch: int, augment: Augment,
            device: torch.device, precision: str) -> float:
    """Images (frames) per second of fit(), everything included."""
    recipe = spec.recipes["default"].with_overrides(epochs=epochs, batch_size=batch, augment=augment)
    clips = data.clips() if spec.input == "clip" else None
    started = time.perf_counter()
    fit(build(spec, data), data.images, data.labels, recipe, device=device, precision=precision,
        seed=0, clips=clips)
    frames = len(data) if clips is None else clips.rows.size
    return epochs * frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="res-bilstm-fusion")
    parser.add_argument("--batch-sizes", default="4,128", help="comma-separated (default: 4,128)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    spec = ferbench.get_registry().get("model", args.model)
    device = select_device(args.device)
    precision = precision_for(device)
    data = ferbench.get_dataset("synthetic")
    augment = spec.recipes["default"].augment
    warm = data.subset(np.arange(64))  # oneDNN / cuDNN primitive creation, outside the timings
    bare(spec, warm, 1, 32, device, precision)
    harness(spec, warm, 1, 32, augment, device, precision)
    print(f"{spec.name} ({spec.input}), synthetic: {len(data)} images 48×48, {args.epochs} epoch(s), "
          f"{device}, {precision}, {torch.get_num_threads()} threads")
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        rates = {
            "bare loop, preloaded tensors": bare(spec, data, args.epochs, batch, device, precision),
            "fit, no augmentation": harness(spec, data, args.epochs, batch, Augment(), device, precision),
            "fit, default recipe's augmentation": harness(spec, data, args.epochs, batch, augment,
                                                          device, precision),
        }
        for name, rate in rates.items():
            print(f"batch {batch:4d}  {name:36s} {rate:7.1f} images/s   "
                  f"{rate / rates['bare loop, preloaded tensors']:.2f} × bare")


if __name__ == "__main__":
    main()
