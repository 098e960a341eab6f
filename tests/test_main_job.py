"""README's main job, exactly: every model on the synthetic set, 10-fold subject CV, on CPU."""

import numpy as np

import ferbench


def test_run_all_models_on_synthetic_beats_chance_clearly(cli, tmp_path):
    status, out, err = cli("run", "--models", "all", "--out", tmp_path / "run")
    assert status == 0, err
    assert "10 job(s) trained" in out and "Results in %" in out
    jobs = ferbench.load_jobs(tmp_path / "run")
    assert (jobs["status"] == "ok").all() and set(jobs["fold"]) == set(range(10))
    assert not jobs["leaky"].any() and (jobs["protocol"] == "subject").all()
    smallcnn = jobs[jobs["model"] == "smallcnn"]
    chance = 1 / 7
    assert smallcnn["accuracy"].mean() > 0.6, smallcnn["accuracy"].describe()
    assert (smallcnn["accuracy"] > chance).all()
    assert np.nanmean(smallcnn["roc_auc_ovr"]) > 0.85
