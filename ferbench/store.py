"""The run directory: atomic commits of job results, fold plans, and loading results back.

Layout::

    RUN_DIR/config.json                                  the resolved command of the last run
    RUN_DIR/folds/<dataset>-<protocol>-k<k>-s<seed>.json       fold plans
    RUN_DIR/leakage/<dataset>-<protocol>-k<k>-s<seed>.json     their leakage reports
    RUN_DIR/leakage/pretraining-<init data set>-<hash>-<dataset>.json   --init audits (copies of
                                                       the evaluated images in the pretraining rows)
    RUN_DIR/jobs/<model>/<dataset>/<plan>/<recipe>/fold-<i>.npz   test index, labels, probabilities
    RUN_DIR/jobs/<model>/<dataset>/<plan>/<recipe>/fold-<i>.json  config + hash, metrics, curves, ...

    RUN_DIR/checkpoints/<config hash>.pt                  a running job's training state, until it commits

(``<plan>`` is ``<protocol>-k<k>-s<seed>``, so one run directory can hold several protocols
side by side.) Every file is written under a temporary name in its folder, flushed, synced and
renamed into place; a job's JSON is written after its predictions and is its commit mark. The
npz carries the config hash of the JSON it belongs to.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ferbench.errors import UserError
from ferbench.job import Init, Job, plan_digest
from ferbench.leakage.crossdata import CrossReport
from ferbench.leakage.report import LeakageReport
from ferbench.protocols import FoldPlan
from ferbench.record import JobRecord, JobResult, Predictions, job_folder

# pandas (half a second to import) is imported by the functions that build frames, so that the
# commands that only audit or write runs start without it.
if TYPE_CHECKING:
    import pandas as pd


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
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"--out {self.root} is a file, not a run directory; choose another path.")

    def job_path(self, job: Job, suffix: str) -> Path:
        """Where ``job``'s ``.json`` or ``.npz`` lives."""
        return self.root / job_folder(job.config()) / f"fold-{job.fold}{suffix}"

    def read_job(self, job: Job) -> JobRecord | None:
        """The stored record of ``job``, or None if absent or unreadable (then it is redone)."""
        path = self.job_path(job, ".json")
        if not path.exists():
            return None
        try:
            return JobRecord.read(path)
        except UserError:
            return None

    def is_done(self, job: Job) -> bool:
        """True when a successful result with the same config hash is committed and the
        predictions it names are there, at the size it recorded."""
        record = self.read_job(job)
        if record is None or not record.ok or record.config_hash != job.config_hash:
            return False
        return predictions_problem(record) is None

    def differs(self, job: Job) -> JobRecord | None:
        """The committed successful record at ``job``'s place if its configuration differs."""
        record = self.read_job(job)
        if record is not None and record.ok and record.config_hash != job.config_hash:
            return record
        return None

    def commit(self, result: JobResult) -> None:
        """Store a job's predictions, then its record (the commit mark), which names the
        predictions file with its size and SHA-256."""
        record = result.record
        json_path = self.root / job_folder(record) / f"fold-{record.fold}.json"
        if record.ok:
            buffer = io.BytesIO()
            np.savez(buffer, index=result.test_index, y_true=result.y_true, proba=result.proba,
                     config_hash=np.array(record.config_hash))
            data = buffer.getvalue()
            npz = json_path.with_suffix(".npz")
            atomic_write(npz, data)
            record.predictions = Predictions(npz.name, record.config_hash, len(data),
                                             hashlib.sha256(data).hexdigest())
        atomic_write(json_path, record.to_json().encode())

    def read_plan(self, key: str) -> FoldPlan | None:
        """The fold plan saved under ``key``, if any."""
        path = self.root / "folds" / f"{key}.json"
        return FoldPlan.from_json(path.read_text()) if path.exists() else None

    def save_plan(self, plan: FoldPlan, force: bool = False) -> None:
        """Save a fold plan; an existing plan of the same key must be identical unless ``force``."""
        path = self.root / "folds" / f"{plan.key}.json"
        stored = None if force else self.read_plan(plan.key)
        if stored is not None:
            if stored.fingerprint != plan.fingerprint or not np.array_equal(stored.test_fold, plan.test_fold):
                raise UserError(
                    f"{path} holds a different fold plan for {plan.key} (the data set's content "
                    "or the splitter changed). Results in this run directory would not be paired "
                    "with new ones: use a new --out, or --force to redo every job."
                )
            if stored.clusters is not None or plan.clusters is None:
                return  # a plan saved without clusters gets them; the assignment is the same
        atomic_write(path, plan.to_json().encode())

    def report_path(self, plan: FoldPlan) -> Path:
        """Where the leakage report of ``plan`` is kept."""
        return self.root / "leakage" / f"{plan.key}.json"

    def save_report(self, report: LeakageReport, plan: FoldPlan) -> None:
        """Keep the leakage report of ``plan``, with the plan's digest so it is reused only for it."""
        record = {**report.to_dict(), "plan_digest": plan_digest(plan)}
        atomic_write(self.report_path(plan), json.dumps(record, indent=1).encode())

    def read_report(self, plan: FoldPlan, search: dict[str, Any] | None = None,
                    settings: dict[str, Any] | None = None) -> LeakageReport | None:
        """The stored report of this exact plan (and, if given, near-duplicate search and audit
        settings), or None."""
        try:
            record = json.loads(self.report_path(plan).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if record.pop("plan_digest", None) != plan_digest(plan):
            return None
        if search is not None and record.get("search") != search:
            return None
        if settings is not None and record.get("settings") != settings:
            return None
        try:
            return LeakageReport.from_dict(record)
        except TypeError:  # written by another version of ferbench
            return None

    def pretraining_path(self, init: Init, dataset: str) -> Path:
        """Where the audit of ``init``'s pretraining rows against ``dataset`` is kept."""
        return self.root / "leakage" / f"pretraining-{init.tag}-{dataset}.json"

    def save_pretraining(self, init: Init, report: CrossReport, fingerprint: str) -> None:
        """Keep the audit of ``init``'s pretraining rows against the data set of ``fingerprint``."""
        record = {**report.to_dict(), "init": init.config(), "fingerprint": fingerprint}
        atomic_write(self.pretraining_path(init, report.dataset), json.dumps(record, indent=1).encode())

    def read_pretraining(self, init: Init, dataset: str, fingerprint: str | None = None,
                         search: dict[str, Any] | None = None) -> CrossReport | None:
        """The kept audit of ``init`` against ``dataset`` (if given: of that exact data set and
        search), or None."""
        try:
            record = json.loads(self.pretraining_path(init, dataset).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if record.pop("init", None) != init.config() or (search is not None and record.get("search") != search):
            return None
        if record.pop("fingerprint", None) != fingerprint and fingerprint is not None:
            return None
        try:
            return CrossReport(**record)
        except TypeError:  # written by another version of ferbench
            return None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run directory for one coordinating ``ferbench run`` at a time.

        A second one gets a :class:`UserError` naming the holder. The lock is the kernel's
        (``flock``), so it is released when its holder dies, even by SIGKILL. A run directory
        that this call created and that is still empty at the end (the run failed before
        writing anything) is removed again.
        """
        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / ".lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UserError(
                f"{self.root} is in use by another `ferbench run` ({holder}). Wait for it to finish "
                "(finished jobs are kept, and a re-run then does only what is missing), or use another --out."
            ) from None
        try:
            self._remove_orphaned_temporaries()
            handle.truncate(0)
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
            if created and [p.name for p in self.root.iterdir()] == [".lock"]:
                (self.root / ".lock").unlink()
                self.root.rmdir()

    def _remove_orphaned_temporaries(self) -> None:
        """Delete the temporary files of commits whose process died before renaming them
        (``.<name>.<pid>.<token>.tmp`` of a pid no longer running on this machine)."""
        for path in self.root.rglob(".*.tmp"):
            parts = path.name.split(".")
            if len(parts) >= 5 and parts[-3].isdigit() and not _running(int(parts[-3])):
                path.unlink(missing_ok=True)

    def write_config(self, config: dict[str, Any], toml: str | None = None) -> None:
        """Record the resolved configuration of the latest ``ferbench run`` here (and, from the
        command line, its options as ``config.toml``, which ``ferbench run --config`` reads)."""
        atomic_write(self.root / "config.json", json.dumps(config, indent=1).encode())
        if toml is not None:
            atomic_write(self.root / "config.toml", toml.encode())


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def load_plans(run_dir: str | Path) -> dict[str, FoldPlan]:
    """Every fold plan saved in ``run_dir``, by key (``<dataset>-<protocol>-k<k>-s<seed>``)."""
    plans = {}
    for path in sorted((Path(run_dir) / "folds").glob("*.json")):
        try:
            plans[path.stem] = FoldPlan.from_json(path.read_text())
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise UserError(f"{path} is not a readable fold plan ({error}); re-run `ferbench run` with "
                            "the same arguments to rewrite it.") from None
    return plans


def _plan_digests(run_dir: Path) -> dict[str, str]:
    return {key: plan_digest(plan) for key, plan in load_plans(run_dir).items()}


def load_records(run_dir: str | Path) -> list[JobRecord]:
    """Every job record in ``run_dir``, migrated to the current schema, with ``path`` and
    ``stale`` (its fold plan was since replaced, by ``--force``) set."""
    run_dir = Path(run_dir)
    if not (run_dir / "jobs").is_dir():
        if (run_dir / "folds").is_dir():
            return []  # planned, nothing committed yet
        raise UserError(f"{run_dir} is not a ferbench run directory (no jobs/ or folds/ folder inside).")
    digests = _plan_digests(run_dir)
    records = []
    for path in sorted((run_dir / "jobs").rglob("fold-*.json")):
        record = JobRecord.read(path)
        record.stale = digests.get(record.plan_key) != record.plan_digest
        records.append(record)
    return records


def predictions_problem(record: JobRecord) -> str | None:
    """Why ``record``'s predictions file cannot be used (missing, another size), or None."""
    if record.predictions is None or record.path is None:
        return "the record names no predictions file"
    npz = record.path.parent / record.predictions.file
    try:
        size = npz.stat().st_size
    except OSError:
        return f"{npz} is missing"
    if record.predictions.bytes is not None and size != record.predictions.bytes:
        return f"{npz} has {size} bytes, the record says {record.predictions.bytes}"
    return None


def read_predictions(record: JobRecord) -> tuple[pd.DataFrame, np.ndarray]:
    """A successful job's test predictions, verified against its record: a frame with
    ``index`` (data set row), ``y_true``, ``y_pred`` and ``fold``, and the probabilities
    (rows, classes). A :class:`UserError` names the file and the fix when they do not verify."""
    import pandas as pd

    redo = "delete {json} and re-run the same `ferbench run` command to redo that job."
    problem = predictions_problem(record)
    if problem is not None:
        raise UserError(f"{problem}; " + redo.format(json=record.path))
    npz = record.path.parent / record.predictions.file
    try:
        data = npz.read_bytes()
        if record.predictions.sha256 is not None and hashlib.sha256(data).hexdigest() != record.predictions.sha256:
            raise UserError(f"{npz} does not have the content its record {record.path.name} names "
                            "(changed or corrupted); " + redo.format(json=record.path))
        with np.load(io.BytesIO(data)) as arrays:
            if str(arrays["config_hash"]) != record.predictions.tag:
                raise UserError(f"{npz} belongs to another run of that job than its JSON; "
                                + redo.format(json=record.path))
            proba = arrays["proba"]
            frame = pd.DataFrame({"index": arrays["index"], "y_true": arrays["y_true"],
                                  "y_pred": proba.argmax(1)})
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"{npz} is unreadable ({error}); " + redo.format(json=record.path)) from None
    return frame.assign(fold=record.fold), proba


def _identity(record: JobRecord) -> dict[str, Any]:
    return {
        "model": record.label,
        "dataset": record.dataset,
        "protocol": record.protocol,
        "k": record.k,
        "seed": record.run_seed,
        "fold": record.fold,
        "recipe": record.recipe_name,
        "leaky": record.leaky,
    }


IDENTITY = ["model", "dataset", "protocol", "k", "seed", "fold", "recipe", "leaky"]


def load_jobs(run_dir: str | Path) -> pd.DataFrame:
    """One row per job: identity, status, metrics as columns, timings, device, error.

    ``status`` is ``ok``, ``failed``, ``stale`` (its fold plan was replaced since) or ``broken``
    (a successful record whose predictions file is missing or changed: ``problem`` says how;
    the next run redoes it).
    """
    import pandas as pd

    rows = []
    for record in load_records(run_dir):
        problem = predictions_problem(record) if record.ok and not record.stale else None
        rows.append({
            **_identity(record),
            "status": "stale" if record.stale else "broken" if problem else record.status,
            "problem": problem,
            **record.metrics,
            **{key: getattr(record, key) for key in (
                "n_train", "n_test", "fit_seconds", "device", "threads", "precision", "error", "config_hash")},
        })
    return pd.DataFrame(rows)


def load_results(run_dir: str | Path) -> pd.DataFrame:
    """Tidy metrics of the successful jobs: one row per (model, dataset, protocol, fold, metric)."""
    import pandas as pd

    rows = [
        {**_identity(record), "metric": metric, "value": value}
        for record in load_records(run_dir) if record.ok and not record.stale
        for metric, value in record.metrics.items()
    ]
    frame = pd.DataFrame(rows, columns=IDENTITY + ["metric", "value"])
    return frame.sort_values(IDENTITY + ["metric"]).reset_index(drop=True)


def load_predictions(run_dir: str | Path) -> pd.DataFrame:
    """Every stored test prediction: one row per (model, dataset, protocol, fold, sample)."""
    import pandas as pd

    frames = []
    for record in load_records(run_dir):
        if not record.ok or record.stale:
            continue
        frame, proba = read_predictions(record)
        frame = frame.drop(columns="fold")
        frame["proba"] = list(proba)
        frames.append(frame.assign(**_identity(record))[IDENTITY + list(frame.columns)])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=IDENTITY)
