"""The imagefolder loader, and the CLI around the data set loaders (list, options, --strict)."""

import json

import numpy as np
import pytest

import ferbench
from ferbench import UserError
from layouts import write_image


def make_tree(root):
    for folder, names in {"Happy": ["S01_a_001.png", "S01_a_002.png", "S02_b_001.png"],
                          "grumpy": ["S01_c_001.png", "S02_d_001.png"],
                          "neutral": ["S03_e_001.png", "S03_e_002.png"]}.items():
        for i, name in enumerate(names):
            write_image(root / folder / name, seed=i)
    return root


REGEX = r"^(?P<subject>S\d+)_(?P<sequence>[a-z])_(?P<frame>\d+)"


def test_mapping_aliases_and_subject_regex(tmp_path):
    data = ferbench.get_dataset("imagefolder", make_tree(tmp_path), classes={"grumpy": "anger"},
                                subject_regex=REGEX)
    assert data.classes == ("neutral", "happiness", "anger") and len(data) == 7
    assert data.class_counts() == {"neutral": 2, "happiness": 3, "anger": 2}
    row = list(data.paths).index("Happy/S01_a_002.png")
    assert (data.subjects[row], data.sequences[row], data.frames[row]) == ("S01", "S01_a", 2)
    plain = ferbench.get_dataset("imagefolder", tmp_path, classes={"grumpy": "anger"})
    assert plain.subjects is None and plain.sequences is None


def test_unknown_folder_and_bad_options_are_clear_errors(tmp_path):
    root = make_tree(tmp_path)
    with pytest.raises(UserError, match=r"\['grumpy'\].*classes=\{'grumpy': 'CLASS'\}.*where CLASS is"):
        ferbench.get_dataset("imagefolder", root)
    (root / "grumpy").rename(root / "1 - Happy")
    with pytest.raises(UserError, match=r"classes=\{'1 - Happy': 'happiness'\}") as error:
        ferbench.get_dataset("imagefolder", root)
    assert "CLASS" not in str(error.value)
    (root / "1 - Happy").rename(root / "grumpy")
    with pytest.raises(UserError, match="named group 'subject'"):
        ferbench.get_dataset("imagefolder", root, classes={"grumpy": "anger"}, subject_regex=r"S\d+")
    with pytest.raises(UserError, match="not a valid regular expression"):
        ferbench.get_dataset("imagefolder", root, classes={"grumpy": "anger"}, subject_regex="(?P<subject>")
    with pytest.raises(UserError, match="channels must be"):
        ferbench.get_dataset("imagefolder", root, classes={"grumpy": "anger"}, channels=2)
    with pytest.raises(UserError, match="several folders map onto"):
        ferbench.get_dataset("imagefolder", root, classes={"grumpy": "neutral"})


def test_non_matching_names_sizes_and_channels(tmp_path):
    root = make_tree(tmp_path)
    write_image(root / "neutral" / "scan.png", size=(64, 64))
    data = ferbench.get_dataset("imagefolder", root, classes={"grumpy": "anger"}, subject_regex=REGEX)
    assert len(data) == 7 and data.notes == (
        "skipped 1 file (name does not match subject_regex: neutral/scan.png)",)
    with pytest.raises(UserError, match=r"scan\.png.*--strict"):
        ferbench.get_dataset("imagefolder", root, classes={"grumpy": "anger"}, subject_regex=REGEX, strict=True)
    rgb = ferbench.get_dataset("imagefolder", root, classes={"grumpy": "anger"}, channels=3)
    assert rgb.image_shape == (48, 48, 3) and len(rgb) == 8
    assert "resized 1 image to 48x48 (from 64x64: 1)" in rgb.notes
    assert "converted 8 grayscale images to RGB" in rgb.notes
    small = ferbench.get_dataset("imagefolder", root, classes={"grumpy": "anger"}, image_size=(16, 24))
    assert small.image_shape == (16, 24, 1)


def test_empty_class_and_missing_folder(tmp_path):
    root = make_tree(tmp_path)
    (root / "sad").mkdir()
    with pytest.raises(UserError, match="sad has no images"):
        ferbench.get_dataset("imagefolder", root, classes={"grumpy": "anger"})
    with pytest.raises(UserError, match="not found"):
        ferbench.get_dataset("imagefolder", tmp_path / "missing")


def test_list_datasets_shows_classes_size_subjects_and_splits(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "600")  # one line per data set, every column
    status, out, _ = cli("list", "datasets", "--wide")
    assert status == 0
    for name in ("ckplus", "ferplus", "fer2013", "rafdb", "imagefolder", "synthetic"):
        assert name in out
    assert "8: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt" in out
    assert "100×100 RGB" in out and "48×48 gray" in out
    assert "Train, Valid, Test" in out and "Training, PublicTest, PrivateTest" in out
    ckplus = next(line for line in out.splitlines() if line.startswith("│ ckplus"))
    rafdb = next(line for line in out.splitlines() if line.startswith("│ rafdb"))
    assert "│ yes" in ckplus and "│ no" in rafdb
    imagefolder = next(line for line in out.splitlines() if line.startswith("│ imagefolder"))
    assert imagefolder.count("│ with subject_regex") == 2  # subjects and sequences, from file names


def test_run_passes_dataset_options_and_strict(cli, tmp_path, capsys):
    root = make_tree(tmp_path / "faces")
    write_image(root / "neutral" / "scan.png")
    common = ("run", "--models", "smallcnn", "--datasets", "imagefolder", "--folds", "2", "--epochs", "1",
              "--protocol", "image", "--allow-leaky", "--data-dir", f"imagefolder={root}",
              "--dataset-option", "imagefolder.classes={'grumpy': 'anger'}",
              "--dataset-option", f"imagefolder.subject_regex={REGEX}")
    status, out, err = cli(*common, "--out", tmp_path / "run")
    assert status == 0, out + err
    assert "imagefolder: skipped 1 file (name does not match subject_regex: neutral/scan.png)" in out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["dataset_options"] == {"imagefolder": {"classes": {"grumpy": "anger"}, "subject_regex": REGEX}}
    assert config["strict"] is False
    status, _, err = cli(*common, "--strict", "--out", tmp_path / "strict")
    assert status == 2 and "scan.png" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        cli("run", "--dataset-option", "nodot=1")
    assert "expected NAME.KEY=VALUE" in capsys.readouterr().err


def test_strict_is_not_passed_to_loaders_without_it(cli, tmp_path):
    status, out, err = cli("run", "--models", "smallcnn", "--datasets", "synthetic", "--folds", "2",
                           "--epochs", "1", "--dataset-option", "synthetic.subjects=4", "--strict",
                           "--out", tmp_path / "run")
    assert status == 0, out + err
    jobs = ferbench.load_jobs(tmp_path / "run")
    assert (jobs["n_train"] + jobs["n_test"]).iloc[0] == 4 * 7 * 3
    assert np.all(jobs["status"] == "ok")
