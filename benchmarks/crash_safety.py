"""Crash safety: SIGKILL a `ferbench run` coordinator at random moments, resume, and compare.

    python benchmarks/crash_safety.py --trials 20 --seed 0

A reference run of a tiny job grid (`--workers 2`) is made first and timed. Each trial starts the
same run in a fresh directory, kills its coordinator after a seeded random delay within the
reference's duration, then checks:

- no process it started survives it (its workers die with it) for more than 10 s;
- re-running the same command finishes, and gives the reference's metrics and predictions
  exactly (CPU results are bit-identical for the same seed and threads);
- every record verifies (predictions present, at the size and SHA-256 the record names), and no
  temporary file or claim is left behind.

It prints one line per trial and exits 1 if any trial failed. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from ferbench import load_jobs, load_predictions
from ferbench.store import load_records, read_predictions

GRID = ("--models", "smallcnn", "--folds", "3", "--epochs", "1", "--workers", "2", "--threads", "1")


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (read from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()
            and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"}


def _command(out: Path) -> list[str]:
    return [sys.executable, "-m", "ferbench", "run", *GRID, "--out", str(out)]


def _results(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    jobs = load_jobs(out)
    metrics = jobs.sort_values(["model", "fold"])[["model", "fold", "status", "accuracy", "macro_f1"]]
    predictions = load_predictions(out).sort_values(["model", "fold", "index"])
    return metrics.reset_index(drop=True), predictions[["model", "fold", "index", "y_pred"]].reset_index(drop=True)


def reference(folder: Path) -> tuple[float, tuple[pd.DataFrame, pd.DataFrame]]:
    """Run the grid once to the end: (seconds it took, its results)."""
    started = time.perf_counter()
    subprocess.run(_command(folder), check=True, capture_output=True, timeout=900)
    return time.perf_counter() - started, _results(folder)


def trial(folder: Path, delay: float, expected: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[int, list[str]]:
    """Kill a run after ``delay`` seconds, resume it: (jobs committed before the kill, what went
    wrong; empty when nothing did)."""
    problems = []
    process = subprocess.Popen(_command(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started, seen = time.perf_counter(), set()
    while time.perf_counter() - started < delay and process.poll() is None:
        seen |= _children(process.pid)
        time.sleep(0.02)
    seen |= _children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    committed = sum(1 for path in folder.glob("jobs/**/fold-*.json") if '"status": "ok"' in path.read_text())
    deadline = time.perf_counter() + 10
    while _alive(seen) and time.perf_counter() < deadline:
        time.sleep(0.1)
    if left := _alive(seen):
        problems.append(f"{len(left)} process(es) outlived the coordinator: {sorted(left)}")
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    resumed = subprocess.run(_command(folder), capture_output=True, text=True, timeout=900)
    if resumed.returncode != 0:
        return committed, problems + [f"resume failed ({resumed.returncode}): {resumed.stderr.strip()[-300:]}"]
    metrics, predictions = _results(folder)
    if not metrics.equals(expected[0]):
        problems.append("metrics differ from the uninterrupted run")
    if not predictions.equals(expected[1]):
        problems.append("predictions differ from the uninterrupted run")
    for record in load_records(folder):
        try:
            read_predictions(record)
        except Exception as error:  # noqa: BLE001 - reported, the trial goes on
            problems.append(f"{record.path.name}: {error}")
    leftovers = [*folder.rglob(".*.tmp"), *folder.glob("claims/*")]
    if leftovers:
        problems.append(f"left behind: {', '.join(p.name for p in leftovers)}")
    return committed, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        seconds, expected = reference(Path(tmp) / "reference")
        print(f"reference run: {seconds:.1f} s; kills drawn uniformly in [0, {seconds:.1f}] s (seed {args.seed})")
        for number in range(args.trials):
            delay = rng.uniform(0, seconds)
            folder = Path(tmp) / f"trial-{number}"
            committed, problems = trial(folder, delay, expected)
            failed += bool(problems)
            verdict = "ok" if not problems else "FAILED: " + "; ".join(problems)
            print(f"trial {number + 1:2d}: killed after {delay:4.1f} s with {committed} of 3 jobs committed; "
                  f"resumed: {verdict}", flush=True)
    print(f"{args.trials - failed} of {args.trials} trials gave the uninterrupted results with nothing left behind")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
