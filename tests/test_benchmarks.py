"""The benchmarks' measurement helper, and the GPU check's CPU half."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from measure import Spread, compare, describe  # noqa: E402


def sleeper(seconds: float, noise: np.ndarray, load: list[float]):
    """A workload that sleeps ``seconds`` × its next noise factor × the round's shared load."""
    draws = iter(noise)

    def work() -> None:
        time.sleep(seconds * next(draws) * load[0])

    return work


def test_a_known_ratio_is_recovered_through_noise_and_shared_load():
    rng = np.random.default_rng(1)
    rounds = 11
    # Per call: ±10 % of its own noise; per round: both slowed alike by 1-3 × (another process).
    noise = {name: rng.uniform(0.9, 1.1, rounds + 1) for name in ("fast", "slow")}
    loads = iter(np.concatenate([[1.0, 1.0], np.repeat(rng.uniform(1.0, 3.0, rounds), 2)]))
    load = [1.0]
    fast, slow = sleeper(0.020, noise["fast"], load), sleeper(0.040, noise["slow"], load)

    def stepping(work):
        def run() -> None:
            load[0] = next(loads)
            work()
        return run

    comparison = compare({"fast": stepping(fast), "slow": stepping(slow)}, rounds=rounds)
    ratio = comparison.ratio("slow", "fast")
    assert ratio.rounds == rounds and len(comparison.seconds["fast"]) == rounds
    assert abs(ratio.median - 2.0) <= 0.2
    assert ratio.brackets(2.0)
    assert comparison.speedup("fast", "slow").median == pytest.approx(ratio.median)
    # The times themselves swing with the load far more than the ratio does.
    times = comparison.time("slow")
    assert times.high / times.low > ratio.high / ratio.low


def test_order_rotates_within_rounds_after_the_warm_up():
    calls: list[str] = []
    compare({name: (lambda name=name: calls.append(name)) for name in "abc"}, rounds=3, warmup=1)
    assert calls == list("abc" "abc" "bca" "cab")


def test_a_range_wider_than_the_effect_is_flagged():
    assert describe(Spread(1.9, 1.2, 3.4, 5)) == "1.90 × (1.20-3.40 over 5 rounds): too noisy to call"
    assert describe(Spread(2.0, 1.9, 2.1, 5)) == "2.00 × (1.90-2.10 over 5 rounds)"
    assert Spread(1.05, 0.98, 1.10, 5).noisy()
    assert Spread(2.0, 1.5, 2.5, 3).inverse(10).median == 5.0
    assert Spread(1.9, 1.65, 1.91, 3).overlaps(Spread(2.1, 0.9, 16.2, 3))
    assert not Spread(0.6, 0.23, 0.86, 3).overlaps(Spread(0.96, 0.95, 0.99, 3))
    with pytest.raises(ValueError, match="rounds=0"):
        compare({"a": lambda: None}, rounds=0)


@pytest.mark.slow
def test_gpu_check_dry_run_writes_its_log_and_a_run_directory(tmp_path):
    out = tmp_path / "gpu-out"
    env = {**os.environ, "OUT": str(out)}
    # 100 s: the dry run's steps before the paper recipe may take 53 s at most, and 40 s are kept
    # back for it and the report, so on a loaded machine no step is skipped for lack of budget.
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--budget", "100"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    log = (out / "gpu_check.log").read_text()
    assert done.returncode == 0, log + done.stderr
    # On a loaded machine a step may be cut short by its budget, which is noted, not failed.
    for step in ("install: skipped in a dry run", "environment: start", "cuda-tests: start",
                 "throughput: start", "parallel-folds: start", "stacked-folds: start", "paper-recipe: start",
                 "0 step(s) failed"):
        assert step in log
    assert (out / "logs" / "paper-recipe.log").is_file()
    assert (out / "run").is_dir()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_coordinator_killed_early_and_late_resumes_to_the_same_results_leaving_nothing(tmp_path):
    """Two trials of `benchmarks/crash_safety.py` (which runs 20 at seeded random moments)."""
    import crash_safety

    seconds, expected = crash_safety.reference(tmp_path / "reference")
    for number, fraction in enumerate((0.35, 0.8)):
        _, problems = crash_safety.trial(tmp_path / f"trial-{number}", seconds * fraction, expected)
        assert not problems, problems
