"""`ferbench run --config FILE`: TOML options, command-line flags win, RUN_DIR/config.toml reproduces;
the executor options a run chooses when none are given."""

from __future__ import annotations

import json

import pytest

import ferbench.run.config as config_module
from ferbench.cli.config import tomllib
from ferbench.run.config import side_by_side

from test_cli import records


def test_a_config_file_run_equals_the_same_run_given_as_flags(cli, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('models = "smallcnn"\nfolds = 3\nepochs = 1\nbatch-size = 16\nseed = 4\n')
    assert cli("run", "--config", config, "--out", tmp_path / "file")[0] == 0
    assert cli("run", "--models", "smallcnn", "--folds", "3", "--epochs", "1", "--batch-size", "16",
               "--seed", "4", "--out", tmp_path / "flags")[0] == 0
    from_file, from_flags = records(tmp_path / "file"), records(tmp_path / "flags")
    assert list(from_file) == list(from_flags)
    assert [r["config_hash"] for r in from_file.values()] == [r["config_hash"] for r in from_flags.values()]
    assert [r["metrics"] for r in from_file.values()] == [r["metrics"] for r in from_flags.values()]


def test_flags_win_and_the_saved_config_reproduces_the_run(cli, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('models = "smallcnn"\nfolds = 4\nepochs = 2\nexecutor_option = ["a=1"]\n')
    out = tmp_path / "run"
    assert cli("run", "--config", config, "--folds", "3", "--epochs", "1", "--executor-option", "threads=1",
               "--out", out)[0] == 0
    saved = tomllib.loads((out / "config.toml").read_text())
    assert saved["folds"] == 3 and saved["epochs"] == 1 and saved["models"] == "smallcnn"
    assert saved["executor_option"] == ["threads=1"] and "force" not in saved
    before = records(out)
    assert len(before) == 3
    status, text, _ = cli("run", "--config", out / "config.toml")
    assert status == 0 and "0 job(s) trained, 3 already done" in text
    assert records(out) == before


def test_unknown_keys_and_bad_values_name_the_fix(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("fold = 3\n")
    status, _, err = cli("run", "--config", bad)
    assert status == 2 and "unknown key 'fold'; did you mean 'folds'?" in " ".join(err.split())
    bad.write_text("allow_leaky = 'yes'\n")
    assert "allow_leaky must be true or false" in cli("run", "--config", bad)[2]
    bad.write_text("folds = [3, 4]\n")
    assert "folds takes one value" in cli("run", "--config", bad)[2]
    bad.write_text("folds = \n")
    assert "is not valid TOML" in cli("run", "--config", bad)[2]
    assert "not found" in cli("run", "--config", tmp_path / "missing.toml")[2]


@pytest.mark.parametrize(("executor", "options", "on_cpu", "batch", "jobs", "chosen"), [
    ("local", {}, True, 4, 10, {"workers": 2, "threads": 1}),
    ("local", {}, True, 4, 1, {}),  # one job: every core to it
    ("local", {}, True, 32, 10, {}),
    ("local", {}, False, 4, 10, {}),  # a GPU: the executor's own choice
    ("local", {"workers": 1}, True, 4, 10, {"workers": 1}),
    ("local", {"threads": 2}, True, 4, 10, {"threads": 2}),
    ("slurm", {}, True, 4, 10, {}),
])
def test_small_batches_on_the_cpu_train_side_by_side_unless_told_otherwise(monkeypatch, executor, options, on_cpu,
                                                                         batch, jobs, chosen):
    monkeypatch.setattr(config_module, "cpu_cores", lambda: 2)
    got, note = side_by_side(executor, options, on_cpu, batch, jobs)
    assert got == chosen
    assert (note is not None) == (got != options)
    if note:
        assert "2 jobs side by side, one thread each" in note and "--workers 1" in note


def test_a_run_of_small_batches_records_the_workers_it_chose(tmp_path, monkeypatch, cli):
    monkeypatch.setattr(config_module, "cpu_cores", lambda: 2)
    out = tmp_path / "run"
    assert cli("run", "--models", "smallcnn", "--folds", "2", "--epochs", "1", "--batch-size", "4",
               "--out", out)[0] == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["executor_options"] == {"workers": "2", "threads": "1"}
    threads = {json.loads(p.read_text())["threads"] for p in out.rglob("fold-*.json")}
    assert threads == {1}
