"""The job record: schema and migrations, the torch-free read path, fitted rows checked per job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ferbench import UserError, assign_folds
from ferbench.engine.job import JobContext, run_job
from ferbench.job import config_hash
from ferbench.record import SCHEMA_VERSION, JobRecord, MetricInfo
from ferbench.report import build_report
from ferbench.specs import ModelSpec
from ferbench.store import RunStore, load_records, read_predictions

from conftest import make_dataset
from test_report import write_run
from test_store import make_job
from test_train import tiny_model

BOARDS = Path(__file__).resolve().parents[1] / "leaderboards"
CPU = torch.device("cpu")


def test_reading_results_and_listing_plugins_import_no_torch():
    code = ("import sys, ferbench.store, ferbench\n"
            "assert 'torch' not in sys.modules, 'import'\n"
            f"ferbench.load_results({str(BOARDS / 'ferplus' / 'run')!r})\n"
            f"ferbench.load_predictions({str(BOARDS / 'ferplus' / 'run')!r})\n"
            "import ferbench.report.collect, ferbench.report.analysis\n"
            "assert 'torch' not in sys.modules, 'load'\n"
            "ferbench.get_registry().select('metric', 'all')\n"
            "assert 'torch' not in sys.modules, 'plugins'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("board", sorted(p.name for p in BOARDS.iterdir() if (p / "run").is_dir()))
def test_every_committed_record_migrates_and_its_predictions_verify(board):
    records = load_records(BOARDS / board / "run")
    assert records
    for record in records:
        assert record.schema_version == SCHEMA_VERSION
        assert config_hash(record.config) == record.config_hash
        assert {"precision", "selection", "val_fraction", "patience"} <= set(record.config["recipe"])
        assert record.metric_info and all(info.function for info in record.metric_info.values())
        assert record.run_dir == BOARDS / board / "run"
        if record.ok:
            frame, proba = read_predictions(record)
            assert len(frame) == len(proba) == record.n_test


def test_a_record_from_a_newer_ferbench_or_not_a_record_is_refused_by_name(tmp_path):
    path = tmp_path / "fold-0.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "config": {}}))
    with pytest.raises(UserError, match=f"{path}.*Upgrade ferbench"):
        JobRecord.read(path)
    path.write_text("[1, 2]")
    with pytest.raises(UserError, match="not a job record"):
        JobRecord.read(path)


def test_a_report_renders_after_the_metric_plugin_is_gone(tmp_path):
    """Directions and functions come from the records: a metric whose plugin is uninstalled
    keeps its direction, and its pooled value is left out with a note."""
    write_run(tmp_path / "run", {"a": 0.9, "b": 0.5}, k=3)
    for path in (tmp_path / "run").rglob("fold-*.json"):
        stored = json.loads(path.read_text())
        stored["metrics"]["error_rate"] = 1 - stored["metrics"]["accuracy"]
        stored["metric_info"]["error_rate"] = {"higher_is_better": False,
                                               "function": "ferbench_gone.metrics:error_rate"}
        path.write_text(json.dumps(stored))
    outcome = build_report([tmp_path / "run"], tmp_path / "out", metric="error_rate")
    analysis = outcome.analyses[0]
    summary = analysis.summary
    assert summary.loc["a", "error_rate_mean"] < summary.loc["b", "error_rate_mean"]
    assert analysis.ranking.friedman.ranks["a"] < analysis.ranking.friedman.ranks["b"]  # lower is better
    assert np.isnan(summary.loc["a", "error_rate_pooled"]) and np.isfinite(summary.loc["a", "accuracy_pooled"])
    assert any("pooled error_rate not computed" in note for note in analysis.notes)


def test_a_deleted_or_truncated_prediction_file_makes_the_job_redo(tmp_path):
    data = make_dataset()
    plan = assign_folds(data, "subject", 3, 0)
    store = RunStore(tmp_path)
    store.save_plan(plan)
    job = make_job(data, plan, 0)
    store.commit(run_job(job, data, plan, JobContext(ModelSpec("tiny", build=tiny_model), [], CPU)))
    assert store.is_done(job)
    npz = store.job_path(job, ".npz")
    npz.write_bytes(npz.read_bytes()[:-10])
    assert not store.is_done(job)
    with pytest.raises(UserError, match="bytes, the record says"):
        read_predictions(store.read_job(job))
    npz.unlink()
    assert not store.is_done(job)


def test_what_fit_fitted_is_checked_against_the_test_part(monkeypatch):
    """A clean job fits its normalisation on its training rows only; an engine handed test
    rows (planted: a plan whose training part includes its test part) is caught and marked."""
    data = make_dataset(n_subjects=6)
    plan = assign_folds(data, "subject", 3, 0)
    spec = ModelSpec("tiny", build=tiny_model)
    clean = run_job(make_job(data, plan, 0), data, plan, JobContext(spec, [], CPU)).record
    (statistic,) = clean.fitted
    assert statistic.statistic == "normalisation" and statistic.rows == clean.n_train
    assert statistic.test_rows == 0 and not clean.leaky and "fitted on test" not in clean.leakage

    leaky_plan = assign_folds(data, "subject", 3, 0)
    monkeypatch.setattr(type(leaky_plan), "train_index", lambda self, fold: np.arange(len(self.test_fold)))
    record = run_job(make_job(data, leaky_plan, 0), data, leaky_plan, JobContext(spec, [], CPU)).record
    assert record.ok and record.leaky and record.leakage["fitted on test"] == "leak"
    assert record.fitted[0].test_rows == len(plan.test_index(0))


def test_metric_info_names_an_importable_function():
    from ferbench.registry import get_registry
    from ferbench.scoring import metric_info, stored_function

    for spec in get_registry().select("metric", "all"):
        info = metric_info(spec)
        assert stored_function(info) is spec.fn
    assert stored_function(MetricInfo(True, "os:system")) is None  # records never import arbitrary modules


def test_a_records_commit_is_dirty_only_when_the_code_differs(tmp_path, monkeypatch):
    from ferbench.engine.job import _commit

    for name in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        monkeypatch.setenv(name, "ferbench tests")
    for name in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(name, "tests@ferbench.invalid")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "ferbench").mkdir()
    (tmp_path / "ferbench" / "a.py").write_text("x = 1\n")
    (tmp_path / "leaderboards").mkdir()
    (tmp_path / "leaderboards" / "config.json").write_text("{}\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--short=12", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()

    def commit() -> str:
        _commit.cache_clear()
        return _commit(tmp_path)

    (tmp_path / "leaderboards" / "config.json").write_text('{"a run": "wrote this"}\n')
    (tmp_path / "notes.md").write_text("untracked, outside the code\n")
    assert commit() == head
    (tmp_path / "ferbench" / "b.py").write_text("y = 2\n")  # new code, not yet committed
    assert commit() == head + "+dirty"
    (tmp_path / "ferbench" / "b.py").unlink()
    (tmp_path / "ferbench" / "a.py").write_text("x = 2\n")
    assert commit() == head + "+dirty"
    assert _commit(tmp_path / "not-a-repository") == "unknown"
