"""README's main job on the synthetic set, 10-fold subject CV, on CPU.

The full ``--models all`` job trains every model for its default budget (tens of minutes on
two cores, see README); here the cheap baseline runs the whole 10-fold job and every model
runs a short version of it.
"""

import numpy as np

import ferbench


def test_main_job_baseline_beats_chance_clearly(cli, tmp_path):
    status, out, err = cli("run", "--models", "smallcnn", "--out", tmp_path / "run")
    assert status == 0, err
    assert "10 job(s) trained" in out and "Results in %" in out
    jobs = ferbench.load_jobs(tmp_path / "run")
    assert (jobs["status"] == "ok").all() and set(jobs["fold"]) == set(range(10))
    assert not jobs["leaky"].any() and (jobs["protocol"] == "subject").all()
    chance = 1 / 7
    assert jobs["accuracy"].mean() > 0.6, jobs["accuracy"].describe()
    assert (jobs["accuracy"] > chance).all()
    assert np.nanmean(jobs["roc_auc_ovr"]) > 0.85


def test_main_job_runs_every_registered_model(cli, tmp_path):
    status, out, err = cli("run", "--models", "all", "--folds", "2", "--epochs", "1", "--input-size", "32",
                           "--out", tmp_path / "run")
    assert status == 0, err
    jobs = ferbench.load_jobs(tmp_path / "run")
    assert set(jobs["model"]) == set(ferbench.get_registry().names("model"))
    assert (jobs["status"] == "ok").all() and len(jobs) == 2 * len(set(jobs["model"]))
