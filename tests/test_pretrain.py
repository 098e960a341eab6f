"""``ferbench pretrain`` and ``ferbench run --init``: weights that round-trip, heads re-initialised
where the classes differ, clear errors for files that do not fit, and the pretraining rows
audited against the evaluated data set (a planted copy makes the run LEAKY)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ferbench.data import Dataset
from ferbench.engine.weights import head_keys, load_init
from ferbench.errors import UserError
from ferbench.factory import create_model, get_dataset
from ferbench.pretraining import init_from, training_rows, weights_path
from ferbench.report import collect
from ferbench.store import load_jobs, load_records


def write_folder(root: Path, dataset: Dataset, rows, skip_class: str | None = None) -> Path:
    """Rows of ``dataset`` as an ``imagefolder`` tree (``<class>/<row>.png``)."""
    for row in rows:
        name = dataset.classes[dataset.labels[row]]
        if name == skip_class:
            continue
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(dataset.images[row][..., 0]).save(folder / f"img{row:04d}.png")
    return root


@pytest.fixture(scope="module")
def other_draw(tmp_path_factory) -> Path:
    """Another synthetic draw (other subjects, other seed) written as an image folder."""
    source = get_dataset("synthetic", seed=1, subjects=8)
    return write_folder(tmp_path_factory.mktemp("draw") / "faces", source, range(len(source)))


def pretrain(cli, folder: Path, out: Path, model: str = "smallcnn") -> Path:
    status, stdout, stderr = cli("pretrain", "--model", model, "--dataset", "imagefolder", "--data-dir",
                                 f"imagefolder={folder}", "--epochs", "1", "--out", out)
    assert status == 0, stderr
    return weights_path(out, model)


def test_pretrain_then_finetune_on_another_draw(cli, other_draw, tmp_path):
    weights = pretrain(cli, other_draw, tmp_path / "pretrained")
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["dataset"] == "imagefolder" and card["n_rows"] == len(card["rows"]) == 168
    assert card["rows_description"].startswith("all rows") and card["epochs"] == 1
    assert len(card["curves"]["train_loss"]) == 1 and card["versions"]["ferbench_commit"]

    # The file round-trips: loading it into a fresh build gives exactly the stored tensors.
    init = init_from(weights)
    fresh = create_model("smallcnn", num_classes=7, in_chans=1, image_size=48)
    stored = load_file(weights)
    assert any(not torch.equal(fresh.state_dict()[k], v) for k, v in stored.items())
    kept = load_init(fresh, init, "smallcnn", card["classes"])
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in stored.items())
    assert kept["head"].startswith("kept") and "rows" not in kept

    status, stdout, stderr = cli("run", "--models", "smallcnn", "--folds", "2", "--epochs", "1", "--init",
                                 weights.parent, "--data-dir", f"imagefolder={other_draw}", "--out", tmp_path / "run")
    assert status == 0, stderr
    records = load_records(tmp_path / "run")
    assert len(records) == 2 and all(r.ok and not r.leaky for r in records)
    assert {r.config["init"]["sha256"] for r in records} == {card["sha256"]}
    assert all(r.leakage["copies in pretraining data"] == "clean" for r in records)
    assert records[0].init["sha256"] == card["sha256"] and "rows" not in records[0].init
    assert "pretrain on imagefolder" in records[0].card["pretraining"]
    assert records[0].card["pretrained_on"] == ["imagefolder"]
    assert set(load_jobs(tmp_path / "run")["model"]) == {"smallcnn ← imagefolder"}
    # A from-scratch run beside it is another row, in another folder of the same run directory.
    status, _, stderr = cli("run", "--models", "smallcnn", "--folds", "2", "--epochs", "1", "--out", tmp_path / "run")
    assert status == 0, stderr
    board, = collect([tmp_path / "run"])
    assert sorted(board.entries) == ["smallcnn", "smallcnn ← imagefolder"]
    assert board.entries["smallcnn ← imagefolder"].pretraining.against == "imagefolder"


def test_head_is_reinitialised_when_the_classes_differ(cli, tmp_path):
    source = get_dataset("synthetic", seed=2, subjects=6)
    folder = write_folder(tmp_path / "six", source, range(len(source)), skip_class="contempt")
    weights = pretrain(cli, folder, tmp_path / "pretrained")
    model = create_model("smallcnn", num_classes=7, in_chans=1, image_size=48)
    head = head_keys(model, 7)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    kept = load_init(model, init_from(weights), "smallcnn", list(get_dataset("synthetic").classes))
    assert head and kept["head"].startswith("re-initialised")
    stored = load_file(weights)
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in head)
    assert all(torch.equal(model.state_dict()[k], stored[k]) for k in stored if k not in head)


def test_a_file_that_does_not_fit_names_both_shapes(cli, other_draw, tmp_path):
    weights = pretrain(cli, other_draw, tmp_path / "pretrained", model="timm/resnet18")
    status, _, stderr = cli("run", "--models", "timm/resnet34", "--folds", "2", "--epochs", "1", "--init",
                            f"timm/resnet34={weights}", "--out", tmp_path / "run")
    text = " ".join(stderr.split())
    assert status == 2 and "does not fit model 'timm/resnet34'" in text and "pretrained as 'timm/resnet18'" in text
    assert "layer1.2.conv1.weight: file absent, model (64, 64, 3, 3)" in text
    assert not (tmp_path / "run" / "jobs").exists()


def test_changed_or_missing_files_are_refused(cli, other_draw, tmp_path):
    weights = pretrain(cli, other_draw, tmp_path / "pretrained")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(UserError, match="changed after `ferbench pretrain` wrote them"):
        init_from(weights)
    weights.with_suffix(".json").unlink()
    with pytest.raises(UserError, match="card .* is missing"):
        init_from(weights)
    status, _, stderr = cli("run", "--models", "smallcnn", "--init", tmp_path / "nowhere", "--out", tmp_path / "run")
    assert status == 2 and "no such weights file" in " ".join(stderr.split())
    status, _, stderr = cli("run", "--models", "smallcnn", "--init", f"smallcnn={weights}", "--pretrained",
                            "--out", tmp_path / "run")
    assert status == 2 and "--init and --pretrained" in " ".join(stderr.split())


def test_a_copy_of_a_test_image_in_the_pretraining_rows_makes_the_run_leaky(cli, other_draw, tmp_path):
    tested = get_dataset("synthetic")
    folder = tmp_path / "with-copy"
    write_folder(folder, get_dataset("synthetic", seed=1, subjects=8), range(168))
    write_folder(folder, tested, [5])  # one test image planted among the pretraining images
    weights = pretrain(cli, folder, tmp_path / "pretrained")
    args = ("run", "--models", "smallcnn", "--folds", "2", "--epochs", "1", "--init", weights,
            "--data-dir", f"imagefolder={folder}", "--out", tmp_path / "run")
    status, _, stderr = cli(*args)
    text = " ".join(stderr.split())
    assert status == 2 and "check 'copies in pretraining data'" in text and "--allow-leaky" in text
    assert not (tmp_path / "run" / "jobs").exists()
    status, stdout, stderr = cli(*args, "--allow-leaky")
    assert status == 0, stderr
    by_fold = {r.fold: r for r in load_records(tmp_path / "run")}
    audit = json.loads(next((tmp_path / "run" / "leakage").glob("pretraining-*.json")).read_text())
    assert 5 in audit["rows"] and audit["exact"] == 1
    plan_fold = next(f for f, r in by_fold.items() if 5 in np.load(r.path.with_suffix(".npz"))["index"])
    assert by_fold[plan_fold].leaky and by_fold[plan_fold].leakage["copies in pretraining data"] == "leak"
    assert "copies in pretraining data" in by_fold[plan_fold].cross_dataset

    # Pretrained again without the images that copy the evaluated set: nothing leaks.
    status, _, stderr = cli("pretrain", "--model", "smallcnn", "--dataset", "imagefolder", "--data-dir",
                            f"imagefolder={folder}", "--epochs", "1", "--exclude-copies-of", "synthetic",
                            "--out", tmp_path / "purged")
    assert status == 0, stderr
    card = json.loads((tmp_path / "purged" / "smallcnn.json").read_text())
    left_out = card["excluded"][0]
    before = json.loads(weights.with_suffix(".json").read_text())["n_rows"]
    assert left_out["dataset"] == "synthetic" and left_out["exact"] == 1
    assert card["n_rows"] == before - len(left_out["rows"]) and "with a copy in synthetic" in card["rows_description"]
    status, _, stderr = cli("run", "--models", "smallcnn", "--folds", "2", "--epochs", "1", "--init",
                            tmp_path / "purged" / "smallcnn.safetensors", "--data-dir", f"imagefolder={folder}",
                            "--out", tmp_path / "clean")
    assert status == 0, stderr
    assert not any(r.leaky for r in load_records(tmp_path / "clean"))


def test_pretrained_on_the_evaluated_data_set_is_refused(cli, tmp_path):
    status, _, stderr = cli("pretrain", "--model", "smallcnn", "--dataset", "synthetic", "--epochs", "1",
                            "--out", tmp_path / "pretrained")
    assert status == 0, stderr
    status, _, stderr = cli("run", "--models", "smallcnn", "--folds", "2", "--init", tmp_path / "pretrained",
                            "--out", tmp_path / "run")
    assert status == 2 and "smallcnn is pretrained on synthetic itself" in " ".join(stderr.split())
    status, _, stderr = cli("pretrain", "--model", "smallcnn", "--dataset", "synthetic", "--epochs", "1",
                            "--out", tmp_path / "pretrained")
    assert status == 2 and "--force" in stderr


def test_training_rows_are_the_official_training_split():
    split = np.array(["Training", "PublicTest", "PrivateTest", "Training", "valid"])
    dataset = Dataset(name="d", classes=("anger", "fear"), images=np.zeros((5, 8, 8, 1), np.uint8),
                      labels=np.array([0, 1, 0, 1, 0]), paths=np.array(list("abcde")), split=split)
    rows, which = training_rows(dataset)
    assert rows.tolist() == [0, 3] and "Training" in which
    dataset.split = None
    assert training_rows(dataset)[0].tolist() == [0, 1, 2, 3, 4]
