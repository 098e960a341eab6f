"""Does bf16 cost accuracy? k folds trained in fp32 and in bf16 with the same seed and folds.

Runs one model on the synthetic set twice through ``run_benchmark`` (same folds, same seed,
same recipe but for ``precision``), each into a fresh run directory, then compares the paired
fold accuracies with the corrected resampled t-test (Nadeau & Bengio) and prints its p-value,
the mean difference with its 95% interval, and the training-time ratio, all from one run.

Run: python benchmarks/precision_accuracy.py --model res-bilstm-fusion --folds 5
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

import ferbench
from ferbench.stats import corrected_ttest


def accuracies(model: str, folds: int, epochs: int | None, precision: str, out: Path) -> pd.DataFrame:
    outcome = ferbench.run_benchmark(model, "synthetic", folds=folds, out=out,
                                     overrides={"epochs": epochs, "precision": precision})
    if outcome.failed:
        raise SystemExit(f"{len(outcome.failed)} {precision} job(s) failed: {outcome.failed[0].error}")
    return outcome.jobs.sort_values("fold").set_index("fold")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="res-bilstm-fusion")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, help="default: the model's default recipe")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {p: accuracies(args.model, args.folds, args.epochs, p, Path(tmp) / p) for p in ("fp32", "bf16")}
    fp32, bf16 = runs["fp32"], runs["bf16"]
    ratio = float((fp32["n_test"] / fp32["n_train"]).mean())
    test = corrected_ttest(bf16["accuracy"], fp32["accuracy"], ratio)
    print(f"{args.model}, synthetic, {args.folds} folds, epochs: {args.epochs or 'recipe default'}, "
          f"precision recorded: {sorted(set(fp32['precision']))} vs {sorted(set(bf16['precision']))}")
    for name, table in runs.items():
        print(f"{name}: accuracy per fold {[round(100 * a, 1) for a in table['accuracy']]}, "
              f"mean {100 * table['accuracy'].mean():.2f} %, training {table['fit_seconds'].sum():.0f} s")
    print(f"bf16 - fp32: {100 * test.mean_difference:+.2f} points "
          f"(95% CI {100 * test.low:+.2f} to {100 * test.high:+.2f}); corrected resampled t = "
          f"{test.statistic:.2f}, p = {test.pvalue:.3f} "
          f"({'no significant difference' if test.pvalue >= 0.05 else 'significant'} at 0.05)")
    print(f"training time bf16 / fp32: {bf16['fit_seconds'].sum() / fp32['fit_seconds'].sum():.2f} ×")


if __name__ == "__main__":
    main()
