"""The command line end to end on the synthetic set: listing, running, resuming, bad input."""

from __future__ import annotations

import io
import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rich.cells import cell_len
from rich.console import Console

import ferbench
from ferbench.cli import list as list_command
from ferbench.registry import get_registry, reset_registry

from conftest import install_plugin
from test_registry import THIRD_PARTY

QUICK = ("--folds", "3", "--epochs", "1")
SMALL = ("--models", "smallcnn", *QUICK)


def records(run_dir: Path) -> dict[str, dict]:
    return {str(p.relative_to(run_dir)): json.loads(p.read_text())
            for p in sorted((run_dir / "jobs").rglob("fold-*.json"))}


def test_help_lists_commands_and_run_options(cli, capsys):
    with pytest.raises(SystemExit) as exit_:
        ferbench.cli.main(["run", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--models", "--datasets", "--folds", "--protocol", "--seed", "--out",
                   "--data-dir", "--epochs", "--batch-size", "--lr", "--force"):
        assert option in text


def test_list_shows_builtins(cli):
    status, out, err = cli("list")
    assert status == 0 and err == ""
    for name in ("synthetic", "smallcnn", "accuracy", "roc_auc_ovr", "datasets", "models", "metrics"):
        assert name in out


@pytest.mark.parametrize("what", list_command.WHAT)
def test_list_tables_fit_an_80_column_terminal_and_wide_shows_every_column(what):
    registry = get_registry()
    console = Console(width=80, record=True, file=io.StringIO())
    (table,) = list_command.tables(registry, what)
    console.print(table)
    lines = console.export_text().splitlines()
    assert max(map(cell_len, lines)) <= 80, "\n".join(lines)
    top, rule = (next(n for n, line in enumerate(lines) if line.startswith(c)) for c in "┏┡")
    assert rule == top + 2, "\n".join(lines)  # every header on one line: no column is a sliver
    names = ([p.name for p in registry.plugins] if what == "plugins"
             else registry.names(what.removesuffix("s")))
    first = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert set(names) <= set(first), "\n".join(lines)  # each name whole on one line
    (wide,) = list_command.tables(registry, what, wide=True)
    assert len(wide.columns) >= len(table.columns) and (what == "plugins" or len(wide.columns) > len(table.columns))


def test_third_party_plugin_is_listed_and_runs(cli, tmp_path, installed):
    installed("acme-fer", "acme_fer", THIRD_PARTY)
    status, out, _ = cli("list", "models", "--wide")
    assert status == 0 and "acme-linear" in out and "acme-fer" in out  # the provider column
    status, out, _ = cli("run", "--models", "acme-linear", *QUICK, "--out", tmp_path / "run")
    assert status == 0, out
    jobs = ferbench.load_jobs(tmp_path / "run")
    assert list(jobs["model"].unique()) == ["acme-linear"] and (jobs["status"] == "ok").all()
    assert "acme_top2" in jobs.columns and jobs["acme_top2"].between(0, 1).all()


def test_broken_plugin_is_reported_with_traceback_and_others_work(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    install_plugin(tmp_path, "broken-fer", "broken_fer", "import not_a_real_module_xyz\n")
    reset_registry()
    status, out, err = cli("list")
    assert status == 1 and "smallcnn" in out
    assert "broken_fer" in err and "Traceback" in err and "not_a_real_module_xyz" in err


@pytest.mark.parametrize("args,message", [
    (("--models", "resnet-nope"), "Known models: res-bilstm-fusion, res-bilstm-fusion-frames, smallcnn, timm/"),
    (("--datasets", "synthetik"), "Did you mean 'synthetic'"),
    (("--folds", "1"), "--folds must be at least 2"),
    (("--folds", "25"), "has 20 subjects but --folds 25"),
    (("--recipe", "paper"), "model 'smallcnn' has no recipe 'paper'; it has: default"),
    (("--epochs", "0"), "epochs must be >= 1"),
    (("--data-dir", "nosuch=/tmp"), "unknown dataset 'nosuch'"),
    (("--device", "tpu"), "--device must be one of"),
    (("--lr", "nan"), "lr must be a finite number > 0"),
    (("--protocol", "image", "--folds", "100"), "largest class has 60 samples, fewer than --folds 100"),
])
def test_bad_input_is_one_clear_line_and_nonzero_exit(cli, tmp_path, args, message):
    status, out, err = cli("run", *args, "--out", tmp_path / "run")
    assert status == 2
    assert message in " ".join(err.split()) and "Traceback" not in err + out
    assert not (tmp_path / "run").exists()


def test_out_that_is_a_file_and_no_models_are_clear_errors(cli, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    status, _, err = cli("run", "--out", tmp_path / "file")
    assert status == 2 and "is a file, not a run directory" in err
    monkeypatch.setenv("FERBENCH_DISABLE_PLUGINS", "models,timm")
    reset_registry()
    status, _, err = cli("run", "--out", tmp_path / "run")
    assert status == 2 and "no models are registered" in err


def test_run_warns_about_a_broken_plugin_and_names_it_for_a_missing_model(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    install_plugin(tmp_path, "broken-fer", "broken_fer", "import not_a_real_module_xyz\n")
    status, out, err = cli("run", "--models", "broken-net", "--out", tmp_path / "run")
    assert status == 2 and "Some plugins failed to load: broken_fer" in " ".join(err.split())
    assert "warning: plugin 'broken_fer' (broken-fer 0.1.0) failed to load" in " ".join(err.split())


def test_duplicate_plugin_name_is_a_clear_error(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    install_plugin(tmp_path, "dupe-fer", "dupe_fer", """
        import ferbench
        from ferbench.specs import ModelSpec
        @ferbench.hookimpl
        def ferbench_models():
            return [ModelSpec("smallcnn", build=print)]
    """)
    status, _, err = cli("list")
    assert status == 2 and "dupe-fer" in err and "Traceback" not in err


def test_rerun_trains_nothing_and_force_redoes(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("run", *SMALL, "--out", out)[0] == 0
    first = records(out)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "jobs").rglob("*")}
    status, text, _ = cli("run", *SMALL, "--out", out)
    assert status == 0 and "0 job(s) trained, 3 already done" in text
    assert {p: p.stat().st_mtime_ns for p in (out / "jobs").rglob("*")} == stamps
    status, text, _ = cli("run", *SMALL, "--out", out, "--force")
    assert "3 job(s) trained" in text
    assert [r["metrics"] for r in records(out).values()] == [r["metrics"] for r in first.values()]


def test_same_seed_twice_gives_identical_folds_metrics_and_predictions(cli, tmp_path):
    for name in ("a", "b"):
        assert cli("run", *SMALL, "--seed", "7", "--out", tmp_path / name)[0] == 0
    plan = "folds/synthetic-subject-k3-s7.json"
    assert (tmp_path / "a" / plan).read_text() == (tmp_path / "b" / plan).read_text()
    a, b = records(tmp_path / "a"), records(tmp_path / "b")
    assert [r["metrics"] for r in a.values()] == [r["metrics"] for r in b.values()]
    pa, pb = ferbench.load_predictions(tmp_path / "a"), ferbench.load_predictions(tmp_path / "b")
    np.testing.assert_array_equal(np.stack(pa["proba"]), np.stack(pb["proba"]))


def test_image_protocol_is_refused_unless_leaks_are_allowed(cli, tmp_path):
    status, _, err = cli("run", *SMALL, "--protocol", "image", "--out", tmp_path / "run")
    message = " ".join(err.split())
    assert status == 2 and "synthetic under --protocol image leaks" in message
    assert re.search(r"check 'sequence overlap' found \d+ test images in 3/3 folds", message)
    assert "near duplicates" in message and "--protocol subject" in message and "--allow-leaky" in message
    assert not (tmp_path / "run" / "jobs").exists()
    report = json.loads((tmp_path / "run" / "leakage" / "synthetic-image-k3-s0.json").read_text())
    assert report["leaky"] and report["protocol"] == "image"


def test_image_protocol_results_are_marked_leaky_everywhere(cli, tmp_path):
    status, out, _ = cli("run", *SMALL, "--protocol", "image", "--allow-leaky", "--out", tmp_path / "run")
    assert status == 0 and "LEAKY" in out
    assert ferbench.load_results(tmp_path / "run")["leaky"].all()
    assert ferbench.load_jobs(tmp_path / "run")["leaky"].all()
    assert ferbench.load_predictions(tmp_path / "run")["leaky"].all()
    assert all(r["leaky_protocol"] and r["leakage"]["sequence overlap"] == "leak"
               for r in records(tmp_path / "run").values())


def test_another_recipe_never_silently_replaces_finished_results(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("run", *SMALL, "--out", out)[0] == 0
    before = records(out)
    status, _, err = cli("run", "--models", "smallcnn", "--folds", "3", "--epochs", "2", "--out", out)
    assert status == 2 and "recipe.epochs: 1 -> 2" in " ".join(err.split()) and "--force" in err
    assert records(out) == before
    assert cli("run", "--models", "smallcnn", "--folds", "3", "--epochs", "2", "--out", out, "--force")[0] == 0
    assert {r["config"]["recipe"]["epochs"] for r in records(out).values()} == {2}


def test_a_job_gives_the_same_result_alone_as_in_a_full_run(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("run", *SMALL, "--out", out)[0] == 0
    before = records(out)
    (out / next(k for k in before if k.endswith("fold-1.json"))).unlink()
    status, text, _ = cli("run", *SMALL, "--out", out)
    assert status == 0 and "1 job(s) trained, 2 already done" in text
    after = records(out)
    assert [r["metrics"] for r in after.values()] == [r["metrics"] for r in before.values()]


def test_killed_run_resumes_with_nothing_lost(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ferbench", "run", "--models", "smallcnn", "--folds", "4", "--epochs", "2", "--out", str(out)]
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and len(records(out) if (out / "jobs").exists() else {}) < 1:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    survivors = records(out)
    assert 1 <= len(survivors) < 4, "kill came too late to test resuming"
    for path in (out / "jobs").rglob("fold-*.npz"):
        with np.load(path) as arrays:
            assert arrays["proba"].shape[0] == arrays["index"].shape[0]
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert f"{4 - len(survivors)} job(s) trained, {len(survivors)} already done" in " ".join(finished.stdout.split())
    after = records(out)
    assert len(after) == 4 and all(r["status"] == "ok" for r in after.values())
    assert all(after[k] == v for k, v in survivors.items())


def test_a_failing_job_is_recorded_the_others_finish_and_a_rerun_retries_it(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    install_plugin(tmp_path, "flaky-fer", "flaky_fer", """
        import ferbench
        from ferbench.specs import ModelSpec

        def build(num_classes, in_chans, image_size):
            raise MemoryError("out of memory while building")

        @ferbench.hookimpl
        def ferbench_models():
            return [ModelSpec("flaky", build=build)]
    """)
    args = ("run", "--models", "flaky,smallcnn", "--folds", "2", "--epochs", "1", "--out", tmp_path / "run")
    status, out, _ = cli(*args)
    assert status == 1 and "2 job(s) failed" in out and "MemoryError: out of memory" in out
    jobs = ferbench.load_jobs(tmp_path / "run").set_index(["model", "fold"])
    assert (jobs.loc["smallcnn", "status"] == "ok").all()
    assert jobs.loc["flaky", "error"].str.contains("out of memory while building").all()
    status, out, _ = cli(*args)
    assert status == 1 and "2 job(s) trained, 2 already done" in " ".join(out.split())


def test_list_published_shows_each_data_sets_figures_as_reported_not_re_run(cli, tmp_path, installed):
    status, out, _ = cli("list", "published", "--wide")
    text = " ".join(out.split())
    assert status == 0 and "reported, not re-run" in text and "protocol not stated" in text
    assert "Patt-Lite" in text and "99.96" in text and "881.4" in text  # the seed paper's Table 2, misprint noted
    installed("acme-published", "acme_published", (
        "import ferbench\n"
        "from ferbench.specs import PublishedResult\n"
        "@ferbench.hookimpl\n"
        "def ferbench_datasets():\n"
        "    return [ferbench.DatasetSpec('acme-faces', load=lambda root: None, needs_root=False,\n"
        "        published=(PublishedResult(0.5, '', 'Acme 2026', model='AcmeNet', note='a test figure'),))]\n"))
    status, out, _ = cli("list", "published", "--wide")
    assert status == 0 and "acme-faces" in out and "AcmeNet" in out and "a test figure" in " ".join(out.split())
