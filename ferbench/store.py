"""The run directory: atomic commits of job results, fold plans, and loading results back.

Layout::

    RUN_DIR/config.json                              the resolved command of the last run
    RUN_DIR/folds/<dataset>-<protocol>-k<k>-s<seed>.json   fold plans
    RUN_DIR/jobs/<model>/<dataset>/<plan>/fold-<i>.npz      test index, labels, probabilities
    RUN_DIR/jobs/<model>/<dataset>/<plan>/fold-<i>.json     config + hash, metrics, curves, ...

Every file is written under a temporary name in its folder, flushed, synced and renamed into
place; a job's JSON is written after its predictions and is its commit mark.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferbench.errors import UserError
from ferbench.jobs import SCHEMA_VERSION, Job, JobResult
from ferbench.protocols import FoldPlan


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _safe(name: str) -> str:
    return name.replace("/", "--")


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def job_path(self, job: Job, suffix: str) -> Path:
        """Where ``job``'s ``.json`` or ``.npz`` lives."""
        plan = f"{job.protocol}-k{job.k}-s{job.run_seed}"
        return self.root / "jobs" / _safe(job.model) / _safe(job.dataset) / plan / f"fold-{job.fold}{suffix}"

    def read_job(self, job: Job) -> dict[str, Any] | None:
        """The stored JSON record of ``job``, or None if absent or unreadable."""
        path = self.job_path(job, ".json")
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def is_done(self, job: Job) -> bool:
        """True when a successful result with the same config hash is committed."""
        record = self.read_job(job)
        return bool(record) and record["status"] == "ok" and record["config_hash"] == job.config_hash

    def commit(self, result: JobResult) -> None:
        """Store a job's predictions, then its JSON record (the commit mark)."""
        job = result.job
        if result.status == "ok":
            buffer = io.BytesIO()
            np.savez(buffer, index=result.test_index, y_true=result.y_true, proba=result.proba)
            atomic_write(self.job_path(job, ".npz"), buffer.getvalue())
        record = {
            "schema_version": SCHEMA_VERSION,
            "config": job.config(),
            "config_hash": job.config_hash,
            "status": result.status,
            "metrics": result.metrics,
            "error": result.error,
            **result.info,
        }
        atomic_write(self.job_path(job, ".json"), json.dumps(record, indent=1).encode())

    def save_plan(self, plan: FoldPlan, force: bool = False) -> None:
        """Save a fold plan; an existing plan of the same key must be identical unless ``force``."""
        path = self.root / "folds" / f"{plan.key}.json"
        if path.exists() and not force:
            stored = FoldPlan.from_json(path.read_text())
            if stored.fingerprint != plan.fingerprint or not np.array_equal(stored.test_fold, plan.test_fold):
                raise UserError(
                    f"{path} holds a different fold plan for {plan.key} (the data set's content "
                    "or the splitter changed). Results in this run directory would not be paired "
                    "with new ones: use a new --out, or --force to redo every job."
                )
            return
        atomic_write(path, plan.to_json().encode())

    def write_config(self, config: dict[str, Any]) -> None:
        """Record the resolved configuration of the latest ``ferbench run`` here."""
        atomic_write(self.root / "config.json", json.dumps(config, indent=1).encode())


def _records(run_dir: Path) -> list[dict[str, Any]]:
    if not (run_dir / "jobs").is_dir():
        raise UserError(f"{run_dir} is not a ferbench run directory (no jobs/ folder inside).")
    records = []
    for path in sorted((run_dir / "jobs").rglob("fold-*.json")):
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise UserError(f"{path} is not valid JSON ({error}); delete it and re-run to redo that job.") from None
        record["_path"] = path
        records.append(record)
    return records


def _identity(record: dict[str, Any]) -> dict[str, Any]:
    config = record["config"]
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "protocol": config["protocol"],
        "k": config["k"],
        "seed": config["run_seed"],
        "fold": config["fold"],
        "recipe": config["recipe_name"],
        "leaky": record.get("leaky_protocol", False),
    }


IDENTITY = ["model", "dataset", "protocol", "k", "seed", "fold", "recipe", "leaky"]


def load_jobs(run_dir: str | Path) -> pd.DataFrame:
    """One row per job: identity, status, metrics as columns, timings, device, error."""
    rows = []
    for record in _records(Path(run_dir)):
        rows.append({
            **_identity(record),
            "status": record["status"],
            **record["metrics"],
            **{key: record.get(key) for key in (
                "n_train", "n_test", "fit_seconds", "device", "precision", "error", "config_hash")},
        })
    return pd.DataFrame(rows)


def load_results(run_dir: str | Path) -> pd.DataFrame:
    """Tidy metrics of the successful jobs: one row per (model, dataset, protocol, fold, metric)."""
    rows = [
        {**_identity(record), "metric": metric, "value": value}
        for record in _records(Path(run_dir)) if record["status"] == "ok"
        for metric, value in record["metrics"].items()
    ]
    frame = pd.DataFrame(rows, columns=IDENTITY + ["metric", "value"])
    return frame.sort_values(IDENTITY + ["metric"]).reset_index(drop=True)


def load_predictions(run_dir: str | Path) -> pd.DataFrame:
    """Every stored test prediction: one row per (model, dataset, protocol, fold, sample)."""
    frames = []
    for record in _records(Path(run_dir)):
        if record["status"] != "ok":
            continue
        with np.load(record["_path"].with_suffix(".npz")) as arrays:
            proba = arrays["proba"]
            frame = pd.DataFrame({
                "index": arrays["index"], "y_true": arrays["y_true"], "y_pred": proba.argmax(1),
            })
        frame["proba"] = list(proba)
        frames.append(frame.assign(**_identity(record))[IDENTITY + list(frame.columns)])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=IDENTITY)
