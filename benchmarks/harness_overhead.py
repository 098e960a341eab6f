"""Training throughput of ferbench's fit() against a bare PyTorch loop on the same model.

Both train SmallCNN on the synthetic set's images, preloaded as tensors, with the same batch
size and epochs; the bare loop has no augmentation, no normalisation step and no bookkeeping.
Prints images/s for each and their ratio, measured in one run (these machines are shared and
noisy: compare ratios, not absolute numbers). Run: python benchmarks/harness_overhead.py
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import ferbench
from ferbench.engine.train import fit
from ferbench.specs import Augment, Recipe
from ferbench_models.smallcnn import SmallCNN


def bare(images: torch.Tensor, labels: torch.Tensor, epochs: int, batch: int) -> float:
    torch.manual_seed(0)
    model = SmallCNN(num_classes=7)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_all = images.float().div(255)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), batch):
            idx = order[start:start + batch]
            loss = F.cross_entropy(model(x_all[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return epochs * len(labels) / (time.perf_counter() - started)


def harness(data: ferbench.Dataset, epochs: int, batch: int, augment: Augment) -> float:
    recipe = Recipe(epochs=epochs, batch_size=batch, augment=augment)
    started = time.perf_counter()
    fit(SmallCNN(num_classes=7), data.images, data.labels, recipe,
        device=torch.device("cpu"), precision="fp32", seed=0)
    return epochs * len(data) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    data = ferbench.get_dataset("synthetic")
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(data.labels)
    harness(data, 1, args.batch_size, Augment())  # warm-up: oneDNN primitive creation
    rates = {
        "bare loop": bare(images, labels, args.epochs, args.batch_size),
        "fit, no augmentation": harness(data, args.epochs, args.batch_size, Augment()),
        "fit, smallcnn's augmentation": harness(
            data, args.epochs, args.batch_size, Augment(hflip=True, shift=0.05, brightness=0.1, contrast=0.1)),
    }
    print(f"SmallCNN, {len(data)} images 48×48, batch {args.batch_size}, {args.epochs} epochs, "
          f"{torch.get_num_threads()} threads")
    for name, rate in rates.items():
        print(f"{name:30s} {rate:7.0f} images/s   {rate / rates['bare loop']:.2f} × bare")


if __name__ == "__main__":
    main()
