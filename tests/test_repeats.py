"""Repeated cross-validation: ``ferbench run --seed 0,1,2`` / ``--repeats R`` runs one fold plan
per seed, every model on each, in one run directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferbench import UserError
from ferbench.run.config import RunConfig
from ferbench.run.coordinator import Reporter


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
