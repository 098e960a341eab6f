"""Hostile input and broken files: printed as text, redone, or refused with a message that says why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import ferbench
from ferbench import assign_folds
from ferbench.engine.job import JobContext, run_job
from ferbench.specs import ModelSpec

from conftest import make_dataset
from test_store import make_job
from test_train import tiny_model

CPU = torch.device("cpu")

#: A plugin whose texts hold Rich markup that closes nothing, and whose model's build raises.
MARKUP = '''
import ferbench
from torch import nn
from ferbench.specs import ModelSpec

def build(num_classes, in_chans, image_size):
    raise ValueError("cannot build [/] at [bold]this[/bold] size")

@ferbench.hookimpl
def ferbench_models():
    return [ModelSpec("markup-net", build=build, description="closes [/] nothing")]
'''


def test_markup_in_plugin_texts_and_errors_prints_as_written(cli, tmp_path, installed):
    installed("markup-fer", "markup_fer", MARKUP)
    status, out, err = cli("list", "models")
    assert status == 0 and "closes [/] nothing" in " ".join(out.split()), err
    status, out, err = cli("run", "--models", "markup-net,smallcnn", "--folds", "2", "--epochs", "1",
                           "--out", tmp_path / "run")
    assert status == 1, err  # one model failed: the run went on and reported it
    assert "cannot build [/] at [bold]this[/bold] size" in " ".join(out.split())
    jobs = ferbench.load_jobs(tmp_path / "run")
    assert set(jobs.loc[jobs["model"] == "smallcnn", "status"]) == {"ok"}
    status, _, err = cli("show", tmp_path / "run [backup]")
    assert status == 2 and "run [backup]" in err


class TooWide(nn.Module):
    """Ten logits, whatever the number of classes."""

    def __init__(self, **_):
        super().__init__()
        self.fc = nn.Linear(1, 10)

    def forward(self, x):
        return self.fc(x.mean((1, 2, 3))[:, None])


@pytest.mark.parametrize("build, shape", [(lambda **kw: TooWide(), "(4, 10)"),
                                          (lambda **kw: nn.Sequential(nn.Flatten(), nn.Linear(144, 2)), "(4, 2)")])
def test_a_model_with_the_wrong_output_shape_fails_its_job_naming_both_shapes(build, shape):
    data = make_dataset(n_subjects=6)
    plan = assign_folds(data, "subject", 3, 0)
    job = make_job(data, plan, 0, ferbench.Recipe(epochs=1, batch_size=4))
    result = run_job(job, data, plan, JobContext(ModelSpec("wrong", build=build), [], CPU))
    assert result.status == "failed"
    first = result.error.splitlines()[0]
    assert f"model 'wrong' returned an output of shape {shape}" in first and "expected (4, 3)" in first


def test_a_model_with_the_right_shape_trains(tmp_path):
    data = make_dataset(n_subjects=6)
    plan = assign_folds(data, "subject", 3, 0)
    result = run_job(make_job(data, plan, 0), data, plan, JobContext(ModelSpec("tiny", build=tiny_model), [], CPU))
    assert result.status == "ok" and result.proba.shape == (len(plan.test_index(0)), 3)
    assert np.allclose(result.proba.sum(1), 1, atol=1e-5)


def test_show_names_a_broken_prediction_file_and_run_redoes_it(cli, tmp_path):
    run = tmp_path / "run"
    assert cli("run", "--models", "smallcnn", "--folds", "2", "--epochs", "1", "--out", run)[0] == 0
    npz = next(run.rglob("fold-1.npz"))
    npz.write_bytes(npz.read_bytes()[:100])
    status, out, _ = cli("show", run)
    text = " ".join(out.split())
    assert status == 0 and "1 done, 1 broken" in text and "fold-1.npz has 100 bytes" in text
    status, out, _ = cli("run", "--models", "smallcnn", "--folds", "2", "--epochs", "1", "--out", run)
    assert status == 0 and "1 job(s) trained, 1 already done" in " ".join(out.split())
    assert (ferbench.load_jobs(run)["status"] == "ok").all()


@pytest.mark.parametrize("dataset", ["ckplus", "imagefolder"])
def test_a_file_given_as_a_data_folder_is_named(cli, tmp_path, dataset):
    file = tmp_path / "CK+48 [backup].zip"
    file.write_bytes(b"not a folder")
    status, _, err = cli("leakage", "--dataset", dataset, "--data-dir", f"{dataset}={file}")
    text = " ".join(err.split())
    assert status == 2 and "CK+48 [backup].zip" in text and "a file" in text and "folder" in text, err


def test_too_many_folds_for_the_classes_and_a_single_class_are_refused_by_name():
    few = make_dataset(n_subjects=12, per_subject=1, n_classes=3)
    few.labels[:] = np.arange(12) % 3  # 12 subjects, 4 images a class
    with pytest.raises(ferbench.UserError, match="largest class has 4 samples, fewer than --folds 10"):
        assign_folds(few, "subject", 10, 0)
    one = make_dataset()
    one.labels[:] = 0
    with pytest.raises(ferbench.UserError, match="has 1 class with samples"):
        assign_folds(one, "dedup", 3, 0)


def test_config_file_errors_name_the_file_and_the_key(cli, tmp_path):
    status, _, err = cli("run", "--config", tmp_path)
    assert status == 2 and "is a folder" in err
    config = tmp_path / "run.toml"
    config.write_text('folds = "three"\n')
    status, _, err = cli("run", "--config", config)
    assert status == 2 and str(config) in " ".join(err.split()) and "folds = 'three'" in err
    config.write_text('protocol = "images"\n')
    status, _, err = cli("run", "--config", config)
    assert status == 2 and "protocol = 'images' is not one of" in " ".join(err.split())


def test_plugin_text_cannot_run_in_a_spreadsheet_break_latex_or_become_math(tmp_path):
    from ferbench.report import build_report
    from ferbench.report.tables import csv_text, escape_markdown
    from test_report import write_run

    frame = pd.DataFrame({"text": ["=HYPERLINK(\"x\")", "+1+2", "@SUM(A1)", "-0.5", "plain"], "n": [1, -2, 3, 4, 5]})
    rows = csv_text(frame).splitlines()
    assert rows[1:] == ['"\'=HYPERLINK(""x"")",1', "'+1+2,-2", "'@SUM(A1),3", "-0.5,4", "plain,5"]
    assert escape_markdown("costs $x$") == r"costs \$x\$"
    write_run(tmp_path / "run", {"a": 0.9, "b": 0.6}, k=3, card={"parameters": 10, "pretraining": "line one\nline two"})
    build_report([tmp_path / "run"], tmp_path / "out")
    tex = (tmp_path / "out" / "leaderboard.tex").read_text()
    assert "line one line two" in tex and "line one\n" not in tex


class EmitsNaN(nn.Module):
    def __init__(self, **_):
        super().__init__()
        self.fc = nn.Linear(1, 3)

    def forward(self, x):
        return self.fc(x.mean((1, 2, 3))[:, None]) * float("nan")


def test_a_model_that_emits_nan_at_once_is_not_blamed_on_the_learning_rate():
    data = make_dataset(n_subjects=6)
    plan = assign_folds(data, "subject", 3, 0)
    result = run_job(make_job(data, plan, 0), data, plan, JobContext(ModelSpec("nan", build=EmitsNaN), [], CPU))
    first = result.error.splitlines()[0]
    assert result.status == "failed" and "before any weight update" in first and "--lr" not in first


def test_show_on_a_planned_run_and_orphaned_temporary_files(cli, tmp_path):
    from ferbench.store import RunStore

    data = make_dataset()
    store = RunStore(tmp_path / "run")
    store.save_plan(assign_folds(data, "subject", 3, 0))
    status, out, err = cli("show", tmp_path / "run")
    assert status == 0, err
    dead = tmp_path / "run" / "jobs" / ".fold-0.json.999999999.abcd.tmp"
    live = tmp_path / "run" / "jobs" / f".fold-1.json.{__import__('os').getpid()}.abcd.tmp"
    for path in (dead, live):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{")
    with store.lock():
        pass
    assert not dead.exists() and live.exists()


def test_a_plan_whose_training_part_lacks_a_class_is_refused():
    data = make_dataset(n_subjects=6, per_subject=6, n_classes=3)
    data.labels[data.subjects != "S003"] %= 2  # class 2 ("sadness") now lives in one subject only
    with pytest.raises(ferbench.UserError, match=r"training part of fold \d has no sadness \(all its subjects"):
        assign_folds(data, "subject", 3, 0)
    assign_folds(make_dataset(n_subjects=6, per_subject=6, n_classes=3), "subject", 3, 0)
