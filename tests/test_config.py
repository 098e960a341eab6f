"""`ferbench run --config FILE`: TOML options, command-line flags win, RUN_DIR/config.toml reproduces."""

from __future__ import annotations

from ferbench.cli.config import tomllib

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
