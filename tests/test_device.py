"""Device and precision choice: ``--precision auto|fp32|bf16|fp16`` resolved, run and recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ferbench.engine.device as device_module
from ferbench import UserError
from ferbench.engine.device import resolve_precision
from ferbench.engine.predict import predict_proba
from ferbench.engine.train import fit
from ferbench.specs import Augment, Recipe

from conftest import make_dataset
from test_train import tiny_model

CPU = torch.device("cpu")
SMALL = ("--models", "smallcnn", "--folds", "3", "--epochs", "1")


@pytest.mark.parametrize("native, cpu_bf16, expected", [
    (True, True, "bf16"), (False, True, "fp32"), (True, False, "fp32"), (False, False, "fp32"),
])
def test_auto_is_bf16_only_on_a_cpu_with_native_bf16_and_a_model_it_speeds_up(monkeypatch, native,
                                                                               cpu_bf16, expected):
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native)
    assert resolve_precision("auto", CPU, cpu_bf16) == expected
    assert resolve_precision("fp32", CPU, cpu_bf16) == "fp32"
    assert resolve_precision("bf16", CPU, cpu_bf16) == "bf16"  # asked for: emulated if need be


def test_fp16_on_the_cpu_and_unknown_settings_are_clear_errors():
    with pytest.raises(UserError, match="fp16 needs a CUDA device.*bf16 or fp32"):
        resolve_precision("fp16", CPU)
    with pytest.raises(UserError, match="must be one of auto, fp32, bf16, fp16"):
        resolve_precision("half", CPU)
    with pytest.raises(ValueError, match="Recipe.precision must be one of"):
        Recipe(precision="fp64")


def _fit(data, precision: str, seed: int = 3):
    recipe = Recipe(epochs=2, batch_size=6, augment=Augment(hflip=True, rotate=10))
    torch.manual_seed(seed)
    fitted = fit(tiny_model(), data.images, data.labels, recipe, device=CPU, precision=precision,
                 seed=seed, channels_last=True)
    return fitted, predict_proba(fitted.model, data.images, device=CPU, precision=precision,
                                 channels_last=True)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_each_precision_is_deterministic_and_predicts_fp32_probabilities(precision):
    data = make_dataset()
    (a, pa), (b, pb) = _fit(data, precision), _fit(data, precision)
    assert a.curves == b.curves
    np.testing.assert_array_equal(pa, pb)
    assert pa.dtype == np.float32 and np.allclose(pa.sum(1), 1, atol=1e-5)


def test_bf16_changes_the_arithmetic():
    data = make_dataset()
    (_, fp32), (_, bf16) = _fit(data, "fp32"), _fit(data, "bf16")
    assert not np.array_equal(fp32, bf16)
    assert np.abs(fp32 - bf16).max() < 0.2


def test_precision_bf16_trains_evaluates_and_is_recorded(cli, tmp_path):
    status, _, err = cli("run", *SMALL, "--precision", "bf16", "--out", tmp_path / "run")
    assert status == 0, err
    records = [json.loads(p.read_text()) for p in (tmp_path / "run").rglob("fold-*.json")]
    assert len(records) == 3
    for record in records:
        assert record["status"] == "ok"
        assert record["precision"] == "bf16" and record["precision_requested"] == "bf16"
        assert record["config"]["recipe"]["precision"] == "bf16"
        assert record["channels_last"] is True  # smallcnn asks for it on the CPU


def test_auto_is_recorded_as_what_it_resolved_to(cli, tmp_path):
    assert cli("run", *SMALL, "--out", tmp_path / "auto")[0] == 0
    record = json.loads(next((tmp_path / "auto").rglob("fold-0.json")).read_text())
    assert record["precision_requested"] == "auto"
    assert record["precision"] == resolve_precision("auto", CPU)
    assert cli("run", *SMALL, "--precision", "fp32", "--out", tmp_path / "fp32")[0] == 0
    record = json.loads(next((tmp_path / "fp32").rglob("fold-0.json")).read_text())
    assert record["precision"] == "fp32" and record["config"]["recipe"]["precision"] == "fp32"


def test_fp16_on_the_cpu_is_refused_before_any_data_is_loaded(cli, tmp_path):
    status, _, err = cli("run", *SMALL, "--precision", "fp16", "--out", tmp_path / "run")
    assert status != 0 and "fp16 needs a CUDA device" in err
    assert not (tmp_path / "run").exists()
