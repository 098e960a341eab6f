"""The CUDA paths: AMP, channels-last, pinned memory and ``--compile reduce-overhead``.

Skipped without a GPU. ``FERBENCH_TEST_DEVICE=cpu`` runs what a CPU can of them (bf16 autocast,
channels-last; not fp16, pinned memory or CUDA graphs), as ``benchmarks/gpu_check.sh --dry-run``
does.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from conftest import make_dataset
from test_train import tiny_model

from ferbench.engine.device import images_to_device
from ferbench.engine.predict import predict_proba
from ferbench.engine.train import fit
from ferbench.specs import Augment, Recipe

DEVICE = torch.device(os.environ.get("FERBENCH_TEST_DEVICE", "cuda"))
ON_CUDA = DEVICE.type == "cuda"
pytestmark = pytest.mark.skipif(ON_CUDA and not torch.cuda.is_available(), reason="needs a CUDA device")
cuda_only = pytest.mark.skipif(not ON_CUDA, reason="CUDA only")


def _fit(precision: str, channels_last: bool, compile_mode: str = "none"):
    data = make_dataset()
    recipe = Recipe(epochs=2, batch_size=6, augment=Augment(hflip=True, rotate=10))
    torch.manual_seed(0)
    fitted = fit(tiny_model(), data.images, data.labels, recipe, device=DEVICE, precision=precision, seed=0,
                 channels_last=channels_last, compile_mode=compile_mode)
    return fitted, predict_proba(fitted.model, data.images, device=DEVICE, precision=precision,
                                 channels_last=channels_last)


@pytest.mark.parametrize("precision", ["fp32", "bf16", pytest.param("fp16", marks=cuda_only)])
def test_each_precision_trains_and_predicts_fp32_probabilities(precision):
    fitted, probabilities = _fit(precision, channels_last=True)
    assert all(np.isfinite(loss) for loss in fitted.curves["train_loss"])
    assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(1), 1, atol=1e-5)


def test_channels_last_trains_like_the_default_layout():
    (_, a), (_, b) = _fit("fp32", channels_last=True), _fit("fp32", channels_last=False)
    np.testing.assert_allclose(a, b, atol=2e-2)  # other kernels, same training


@cuda_only
def test_images_go_through_pinned_memory_unchanged():
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    moved = images_to_device(images, DEVICE)
    assert moved.device.type == "cuda" and moved.dtype == torch.uint8
    np.testing.assert_array_equal(moved.cpu().permute(0, 2, 3, 1).numpy(), images)


@cuda_only
@pytest.mark.slow
def test_compile_reduce_overhead_runs_a_job_end_to_end(cli, tmp_path):
    status, _, err = cli("run", "--models", "smallcnn", "--folds", "2", "--epochs", "1", "--device", "cuda",
                         "--compile", "reduce-overhead", "--out", tmp_path / "run")
    assert status == 0, err
    records = [json.loads(p.read_text()) for p in (tmp_path / "run").rglob("fold-*.json")]
    assert len(records) == 2 and all(r["status"] == "ok" for r in records)
