"""Does bf16 cost accuracy? k folds trained in fp32 and in bf16 with the same seed and folds.

Runs one model on the synthetic set twice through ``run_benchmark`` (same folds, same seed,
same recipe but for ``precision``), each into a fresh run directory, then compares the paired
fold accuracies with the corrected resampled t-test (Nadeau & Bengio) and prints its p-value and
the mean difference with its 95% interval. The training-time ratio comes from fit() on the whole
synthetic set with the same recipe in fp32 and bf16, interleaved for ``--rounds`` rounds after a
warm-up (measure.py): the folds above run one precision after the other, so their times are not
compared.

Run: python benchmarks/precision_accuracy.py --model res-bilstm-fusion --folds 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

import ferbench
from ferbench.engine.device import select_device
from ferbench.stats import corrected_ttest

sys.path.insert(0, str(Path(__file__).parent))
from measure import compare, describe  # noqa: E402
from training_throughput import harness  # noqa: E402


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
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the time ratio (default: 3)")
    args = parser.parse_args()
    # Timed before the runs: timed after them in the same process, two runs in a row read
    # 0.06 × and 2.11 × (not yet explained).
    spec = ferbench.get_registry().get("model", args.model)
    recipe = spec.recipes["default"]
    epochs = args.epochs or recipe.epochs
    data, device = ferbench.get_dataset("synthetic"), select_device("auto")
    times = compare({p: lambda p=p: harness(spec, data, epochs, recipe.batch_size, recipe.augment, device, p)
                     for p in ("fp32", "bf16")}, rounds=args.rounds)
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
    print(f"training time bf16 / fp32 (fit() on all {len(data)} images, {epochs} epoch(s), batch "
          f"{recipe.batch_size}): {describe(times.ratio('bf16', 'fp32'))}")


if __name__ == "__main__":
    main()
