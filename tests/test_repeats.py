"""Repeated cross-validation: ``ferbench run --seed 0,1,2`` / ``--repeats R`` runs one fold plan
per seed, every model on each, in one run directory."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import ferbench
from ferbench.report import collect
from ferbench import UserError
from ferbench.cli.config import tomllib
from ferbench.protocols import FoldPlan
from ferbench.run import plan as plan_module
from ferbench.run.config import RunConfig
from ferbench.run.coordinator import Reporter, run_benchmark
from ferbench.specs import DatasetSpec

from conftest import make_dataset
from test_cli import records

TINY = ("--models", "smallcnn", "--folds", "2", "--epochs", "1")


@pytest.fixture
def configs(monkeypatch):
    """``ferbench run`` stops once its RunConfig is built; the configs built are collected."""
    built: list[RunConfig] = []

    def stop(config: RunConfig, reporter: Reporter) -> None:
        built.append(config)
        raise UserError("stopped before planning")

    monkeypatch.setattr("ferbench.run.coordinator.run", stop)
    return built


@pytest.mark.parametrize("args, seeds, out", [
    ((), (0,), "runs/subject-k10-s0"),
    (("--seed", "4"), (4,), "runs/subject-k10-s4"),
    (("--seed", "0,1,2"), (0, 1, 2), "runs/subject-k10-s0-2"),
    (("--repeats", "3"), (0, 1, 2), "runs/subject-k10-s0-2"),
    (("--seed", "5", "--repeats", "3", "--folds", "4"), (5, 6, 7), "runs/subject-k4-s5-7"),
    (("--seed", "0,1,2", "--repeats", "3"), (0, 1, 2), "runs/subject-k10-s0-2"),
    (("--seed", "0,3,7"), (0, 3, 7), "runs/subject-k10-s0_3_7"),
    (("--seed=2,1", "--protocol", "official"), (2, 1), "runs/official-k1-s2_1"),
])
def test_seed_lists_and_repeats_give_the_seeds_and_the_default_out(cli, configs, args, seeds, out):
    assert cli("run", *args)[0] == 2
    [config] = configs
    assert (config.seeds, config.seed, config.repeats, config.out) == (seeds, seeds[0], len(seeds), Path(out))
    assert config.to_dict()["seeds"] == list(seeds)


@pytest.mark.parametrize("args, message", [
    (("--seed", "0,1,2", "--repeats", "2"), "--seed 0,1,2 lists 3 seeds but --repeats is 2"),
    (("--seed", "1,1"), "--seed 1,1 repeats a seed"),
    (("--repeats", "0"), "--repeats must be a whole number >= 1"),
    (("--seed", "0,x"), "argument --seed: expected whole numbers separated by commas (e.g. 0,1,2), got '0,x'"),
    (("--seed", "-1"), "argument --seed: expected whole numbers >= 0, got '-1'"),
])
def test_contradictory_or_bad_seeds_are_clear_errors(cli, configs, capsys, tmp_path, args, message):
    try:
        status, _, err = cli("run", *args, "--out", tmp_path / "run")
    except SystemExit as exit_:  # argparse's own errors
        status, err = exit_.code, capsys.readouterr().err
    assert status == 2 and message in " ".join(err.split())
    assert not configs and not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, seeds", [
    ("seed = [0, 1, 2]\n", (0, 1, 2)),
    ("seed = 5\nrepeats = 3\n", (5, 6, 7)),
    ("repeats = 2\n", (0, 1)),
])
def test_a_config_file_gives_seeds_as_a_list_or_repeats(cli, configs, tmp_path, text, seeds):
    path = tmp_path / "run.toml"
    path.write_text(text)
    assert cli("run", "--config", path)[0] == 2
    assert configs[0].seeds == seeds


def test_a_config_file_with_bad_seeds_names_the_key(cli, configs, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('seed = [0, "x"]\n')
    status, _, err = cli("run", "--config", path)
    assert status == 2 and "seed = '0,x' is not a valid" in err and not configs


def test_python_callers_give_seed_or_seeds_and_contradictions_are_refused():
    assert RunConfig(seed=3).seeds == (3,)
    assert RunConfig(seeds=[0, 1, 2]).seed == 0
    assert RunConfig(seed=2, repeats=2).seeds == (2, 3)
    assert RunConfig(seed=4, seeds=(4, 9)).seeds == (4, 9)
    for options, message in [({"seed": 3, "seeds": (0, 1, 2)}, "seed=3 and seeds=(0, 1, 2) disagree"),
                             ({"seeds": ()}, "--seed takes whole numbers >= 0"),
                             ({"seeds": (0, 1), "repeats": 3}, "lists 2 seeds but --repeats is 3"),
                             ({"seed": -1}, "--seed must be a whole number >= 0")]:
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            RunConfig(**options)


class Order(Reporter):
    def __init__(self) -> None:
        self.started: list[tuple[int, int, str]] = []

    def job_started(self, job) -> None:
        self.started.append((job.run_seed, job.fold, job.model))


def test_two_seeds_train_every_model_on_both_plans_and_resume_does_nothing(cli, tmp_path):
    out = tmp_path / "run"
    order = Order()
    outcome = run_benchmark("smallcnn", "synthetic", reporter=order, folds=2, seeds=(0, 1), out=out,
                            overrides={"epochs": 1})
    assert (outcome.ran, outcome.skipped, outcome.failed) == (4, 0, [])
    assert order.started == [(0, 0, "smallcnn"), (0, 1, "smallcnn"), (1, 0, "smallcnn"), (1, 1, "smallcnn")]
    plans = [FoldPlan.from_json((out / "folds" / f"synthetic-subject-k2-s{s}.json").read_text()) for s in (0, 1)]
    assert not np.array_equal(plans[0].test_fold, plans[1].test_fold)
    assert sorted(p.name for p in (out / "leakage").iterdir()) == ["synthetic-subject-k2-s0.json",
                                                                    "synthetic-subject-k2-s1.json"]
    done = records(out)
    assert sorted(done) == [f"jobs/smallcnn/synthetic/subject-k2-s{s}/default/fold-{f}.json"
                            for s in (0, 1) for f in (0, 1)]
    assert len({r["config"]["job_seed"] for r in done.values()}) == 4
    assert json.loads((out / "config.json").read_text())["seeds"] == [0, 1]
    assert sorted(ferbench.load_results(out)["seed"].unique()) == [0, 1]
    (board,) = collect([out])  # the leaderboard merges the two plans into one board of repeated CV
    assert board.key == "synthetic-subject-k2-s0+1" and board.repeats == 2 and board.complete() == ["smallcnn"]
    assert all(plan.cluster_unit == "subject" for plan in board.plans)

    stamps = {p: p.stat().st_mtime_ns for part in ("folds", "leakage", "jobs") for p in (out / part).rglob("*")}
    status, text, _ = cli("run", *TINY, "--seed", "0,1", "--out", out)
    assert status == 0 and "0 job(s) trained, 4 already done" in text and "2 repeats" in text
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    saved = tomllib.loads((out / "config.toml").read_text())
    assert saved["seed"] == [0, 1] and "repeats" not in saved
    status, text, _ = cli("run", "--config", out / "config.toml")
    assert status == 0 and "0 job(s) trained, 4 already done" in text

    overview = json.loads(cli("show", out, "--json")[1])
    assert [p["plan"] for p in overview["plans"]] == ["synthetic-subject-k2-s0", "synthetic-subject-k2-s1"]
    [row] = overview["jobs"]
    assert (row["seeds"], row["done"], row["missing"]) == ([0, 1], 4, 0)
    (out / max(done)).unlink()
    [row] = json.loads(cli("show", out, "--json")[1])["jobs"]
    assert (row["done"], row["missing"]) == (3, 1)
    status, text, _ = cli("show", out)
    assert status == 0 and "seeds 0, 1" in text and "synthetic-subject-k2-s1" in text


def test_an_official_split_under_several_seeds_is_assigned_and_audited_once(monkeypatch):
    data = make_dataset(n_subjects=10)
    split = np.array(["Training", "PublicTest", "PrivateTest"])[np.arange(len(data)) % 3]
    data = dataclasses.replace(data, split=split, subjects=None, sequences=None)
    monkeypatch.setattr(plan_module, "load_dataset", lambda *args: data)
    calls = []
    real_audit = plan_module.audit
    monkeypatch.setattr(plan_module, "audit", lambda *a, **k: calls.append(a) or real_audit(*a, **k))
    config = RunConfig(protocol="official", seeds=(0, 1, 2))
    spec = DatasetSpec(data.name, load=lambda root: data)
    parts = plan_module.plan_dataset(config, spec, None, lambda plan, settings: None)
    assert [p.plan.seed for p in parts] == [0, 1, 2] and [p.report.seed for p in parts] == [0, 1, 2]
    assert len({p.plan.key for p in parts}) == 3 and len({p.report.key for p in parts}) == 3
    assert all(np.array_equal(p.plan.test_fold, parts[0].plan.test_fold) for p in parts)
    assert len(calls) == 1 and all(p.audited for p in parts)


def test_a_run_directory_keeps_its_plan_where_the_copy_search_now_groups_differently(monkeypatch):
    """A dedup plan follows the copy search: where a newer search assigns the same data
    differently, the stored plan stays (results of one directory are paired on one plan), it is
    audited with the current search, and a note says how many images would move."""
    data = make_dataset(n_subjects=6)
    monkeypatch.setattr(plan_module, "load_dataset", lambda *args: data)
    config = RunConfig(protocol="dedup", folds=3)
    spec = DatasetSpec(data.name, load=lambda root: data)
    [fresh] = plan_module.plan_dataset(config, spec, None, lambda plan, settings: None)
    older = dataclasses.replace(fresh.plan, test_fold=np.roll(fresh.plan.test_fold, 1), clusters=None)
    audited = []
    real_audit = plan_module.audit
    monkeypatch.setattr(plan_module, "audit", lambda d, plan, *a, **k: audited.append(plan) or real_audit(d, plan, *a, **k))
    [kept] = plan_module.plan_dataset(config, spec, None, lambda plan, settings: None, "last",
                                      lambda key: older if key == fresh.plan.key else None)
    moved = int((older.test_fold != fresh.plan.test_fold).sum())
    assert np.array_equal(kept.plan.test_fold, older.test_fold) and kept.plan.clusters is not None
    assert kept.audited and len(audited) == 1 and np.array_equal(audited[0].test_fold, older.test_fold)
    assert len(kept.notes) == 1 and f"{moved} of {len(data)} images" in kept.notes[0] and "--force" in kept.notes[0]
    # the same plan, or another data set's plan under the key, changes nothing
    for stored in (fresh.plan, dataclasses.replace(older, fingerprint="other")):
        [same] = plan_module.plan_dataset(config, spec, None, lambda plan, settings: None, "last", lambda key: stored)
        assert np.array_equal(same.plan.test_fold, fresh.plan.test_fold) and same.notes == ()
