"""Leakage across data sets: shared images (`ferbench leakage --against`) and models pretrained
on the images they are tested on (model cards' ``pretrained_on``)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

import ferbench
from ferbench.leakage.crossdata import pretraining_overlap, scan
from ferbench.registry import get_registry, reset_registry
from ferbench.specs import ModelCard, ModelSpec

from conftest import install_plugin, unpadded
from test_train import tiny_model

PRETRAINED_ON_SYNTHETIC = """
    import ferbench
    from torch import nn
    from ferbench.specs import ModelCard, ModelSpec, Recipe

    def build(num_classes, in_chans, image_size):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * image_size * image_size, num_classes))

    @ferbench.hookimpl
    def ferbench_models():
        return [ModelSpec("seen-it", build=build, recipes={"default": Recipe(epochs=1, batch_size=64)},
                          card=ModelCard(pretraining="synthetic faces", pretrained_on=("synthetic",)))]
"""


def halves():
    data = ferbench.get_dataset("synthetic")
    first = np.isin(data.subjects, sorted(set(data.subjects))[:10])
    return data.subset(np.flatnonzero(first)), data.subset(np.flatnonzero(~first))


def test_scan_finds_planted_copies_and_no_false_alarm_on_disjoint_sets():
    a, b = halves()
    clean = scan(a, b)
    assert (clean.exact, clean.near) == (0, 0) and not clean.overlapping
    planted = b.subset(np.arange(len(b)))
    copies = np.arange(0, 40, 5)  # 8 images of a
    planted.images[:4] = a.images[copies[:4]]
    planted.images[4:8] = np.roll(a.images[copies[4:]], 2, axis=2)  # shifted by 2 px
    found = scan(a, planted)
    assert found.exact == 4 and found.near >= 3 and found.overlapping
    assert {e["kind"] for e in found.examples} == {"exact", "near"}


def test_pretraining_on_the_same_images_is_named():
    registry = get_registry()
    card = ModelCard(pretraining="FER2013", pretrained_on=("fer2013",))
    model = ModelSpec("pre", build=tiny_model, card=card)
    line = pretraining_overlap(model, registry.get("dataset", "ferplus"))
    assert line == "cross-data-set leak: pre is pretrained on fer2013, which holds the images of ferplus"
    assert "pretrained on fer2013 itself" in pretraining_overlap(model, registry.get("dataset", "fer2013"))
    assert pretraining_overlap(model, registry.get("dataset", "synthetic")) is None
    assert pretraining_overlap(ModelSpec("plain", build=tiny_model), registry.get("dataset", "ferplus")) is None


def test_against_command_counts_shared_images(cli, tmp_path):
    a, b = halves()
    folder = tmp_path / "folder" / "happiness"
    folder.mkdir(parents=True)
    for i, image in enumerate(b.images[:6]):
        Image.fromarray(image[..., 0]).save(folder / f"other{i}.png")
    args = ("leakage", "--dataset", "synthetic", "--against", "imagefolder",
            "--data-dir", f"imagefolder={tmp_path / 'folder'}")
    status, out, _ = cli(*args, "--dataset-option", "synthetic.subjects=10")  # the first half only
    assert status == 0 and "no shared image found" in out
    for i, image in enumerate(a.images[:3]):
        Image.fromarray(image[..., 0]).save(folder / f"copy{i}.png")
    status, out, _ = cli(*args, "--json", tmp_path / "cross.json")
    report = json.loads((tmp_path / "cross.json").read_text())
    assert status == 3 and "shared images" in out
    assert report["exact"] >= 3 and report["against"] == "imagefolder"
    status, _, err = cli("leakage", "--dataset", "synthetic", "--against", "synthetic")
    assert status == 2 and "--against needs another data set" in err


def test_a_model_pretrained_on_the_test_images_is_refused_then_marked_leaky(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    install_plugin(tmp_path, "seen-fer", "seen_fer", PRETRAINED_ON_SYNTHETIC)
    reset_registry()
    run = ("run", "--models", "seen-it,smallcnn", "--folds", "3", "--epochs", "1", "--out", tmp_path / "run")
    status, _, err = cli(*run)
    assert status == 2 and "cross-data-set leak: seen-it is pretrained on synthetic itself" in err
    assert cli(*run, "--allow-leaky")[0] == 0
    jobs = ferbench.load_jobs(tmp_path / "run").groupby("model")["leaky"].all()
    assert jobs["seen-it"] and not jobs["smallcnn"]
    assert cli("report", tmp_path / "run", "--out", tmp_path / "board")[0] == 0
    md = unpadded((tmp_path / "board" / "leaderboard.md").read_text())
    assert "**LEAKY**" in next(line for line in md.splitlines() if line.startswith("| seen-it |"))
    assert "clean" in next(line for line in md.splitlines() if line.startswith("| smallcnn |"))
    assert "cross-data-set leak: seen-it is pretrained on synthetic itself" in md
