"""The timm baselines: curated builds at both sizes, any timm name, local pretrained weights only."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

import ferbench
from ferbench.registry import get_registry
from ferbench_timm.backbones import CURATED

README = Path(__file__).resolve().parents[1] / "README.md"
CURATED_NAMES = [f"timm/{b.timm_name}" for b in CURATED]


@pytest.mark.parametrize("name", CURATED_NAMES)
def test_curated_baseline_builds_and_trains_at_both_sizes(name):
    spec = get_registry().get("model", name)
    assert set(spec.recipes) >= {"default", "paper"}
    assert spec.recipes["paper"] == get_registry().get("model", "res-bilstm-fusion").recipes["paper"]
    torch.manual_seed(0)
    for size, channels in ((48, 1), (100, 3)):
        model = spec.build(num_classes=7, in_chans=channels, image_size=size)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x, y = torch.randn(4, channels, size, size), torch.tensor([0, 1, 2, 3])
        losses = []
        for _ in range(2):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert model(x).shape == (4, 7) and all(torch.isfinite(torch.tensor(losses)))
        assert losses[1] != losses[0]


def test_any_timm_name_resolves_and_runs(cli, tmp_path):
    status, out, err = cli("run", "--models", "timm/resnet10t", "--folds", "2", "--epochs", "1",
                           "--out", tmp_path / "run")
    assert status == 0, out + err
    jobs = ferbench.load_jobs(tmp_path / "run")
    assert set(jobs["model"]) == {"timm/resnet10t"} and (jobs["status"] == "ok").all()


def test_unknown_timm_name_fails_with_suggestions(cli, tmp_path):
    status, _, err = cli("run", "--models", "timm/resnet34x", "--out", tmp_path / "run")
    assert status == 2 and "timm has no model 'resnet34x'" in err and "timm/resnet34" in err
    status, _, err = cli("run", "--models", "not-a-model", "--out", tmp_path / "run")
    assert status == 2 and "unknown model 'not-a-model'" in err


def test_pretrained_without_local_weights_fails_fast(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FERBENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    started = time.perf_counter()
    status, _, err = cli("run", "--models", "timm/resnet18", "--pretrained", "--out", tmp_path / "run")
    message = " ".join(err.split())
    assert status == 2 and "no local pretrained weights for timm/resnet18" in message
    assert str(tmp_path / "weights" / "resnet18.safetensors") in message.replace(" ", "")
    assert time.perf_counter() - started < 10 and not (tmp_path / "run" / "jobs").exists()
    status, _, err = cli("run", "--models", "smallcnn", "--pretrained", "--out", tmp_path / "run")
    assert status == 2 and "has no pretrained weights" in err


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_pretrained_weights_load_from_a_local_file(tmp_path, monkeypatch, suffix):
    source = timm.create_model("resnet18", num_classes=1000, in_chans=3)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    (tmp_path / "weights").mkdir()
    path = tmp_path / "weights" / f"resnet18{suffix}"
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)
    monkeypatch.setenv("FERBENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    spec = get_registry().get("model", "timm/resnet18")
    model = spec.build(num_classes=7, in_chans=1, image_size=48, pretrained=True)
    loaded = model.state_dict()
    torch.testing.assert_close(loaded["layer3.1.conv2.weight"], state["layer3.1.conv2.weight"])
    # the RGB stem is summed over colour for one grey channel; the 1000-class head is dropped
    torch.testing.assert_close(loaded["conv1.weight"], state["conv1.weight"].sum(1, keepdim=True))
    assert loaded["fc.weight"].shape == (7, 512)
    scratch = spec.build(num_classes=7, in_chans=1, image_size=48)
    assert not torch.equal(scratch.state_dict()["layer3.1.conv2.weight"], state["layer3.1.conv2.weight"])


def test_readme_model_table_is_the_scripts_output():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "model_sizes.py"
    module_spec = importlib.util.spec_from_file_location("model_sizes", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    assert module.table() in README.read_text(), "re-run benchmarks/model_sizes.py into README.md"


def test_curated_cards_are_timms_own():
    """The curated cards are written out (registering the plugin imports no timm); they must
    say what timm's pretrained configuration says."""
    from ferbench_timm.backbones import timm_card

    for backbone in CURATED:
        assert timm_card(backbone.timm_name) == (backbone.licence, backbone.hub_id), backbone.timm_name
