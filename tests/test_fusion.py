"""The seed paper's model: shapes, attention, gradients, capacity, recipes, and a real run."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ferbench
from ferbench.factory import count_flops, count_parameters, create_model
from ferbench.registry import get_registry
from ferbench_models.fusion import ResBiLSTMFusion

from conftest import install_plugin


@pytest.mark.parametrize("size", [48, 100])
@pytest.mark.parametrize("chans", [1, 3])
@pytest.mark.parametrize("mode,sequence", [("spatial", "positions"), ("spatial", "rows"), ("frames", "positions")])
def test_output_shapes_and_attention_weights(mode, sequence, chans, size):
    model = ResBiLSTMFusion(num_classes=7, in_chans=chans, image_size=size, mode=mode, sequence=sequence).eval()
    x = torch.rand(2, chans, size, size) if mode == "spatial" else torch.rand(2, 4, chans, size, size)
    with torch.no_grad():
        logits, alpha = model.forward_with_attention(x)
    assert logits.shape == (2, 7)
    steps = {"positions": 36 if size == 48 else 169, "rows": 6 if size == 48 else 13}[sequence]
    assert alpha.shape == (2, 4 if mode == "frames" else steps)
    assert torch.allclose(alpha.sum(1), torch.ones(2)) and (alpha >= 0).all()


def test_wrong_input_rank_is_a_clear_error():
    with pytest.raises(ValueError, match=r"takes clips \(B, T, C, H, W\)"):
        ResBiLSTMFusion(7, mode="frames")(torch.rand(2, 1, 48, 48))
    with pytest.raises(ValueError, match="sequence must be one of"):
        ResBiLSTMFusion(7, sequence="columns")


def test_gradients_reach_the_first_convolution():
    model = ResBiLSTMFusion(num_classes=5, in_chans=1, image_size=48)
    F.cross_entropy(model(torch.rand(4, 1, 48, 48)), torch.arange(4)).backward()
    first = model.dsn.layers[0]
    assert isinstance(first, torch.nn.Conv2d)
    assert first.weight.grad is not None and first.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["spatial", "frames"])
def test_a_tiny_batch_is_overfitted(mode):
    torch.manual_seed(0)
    model = ResBiLSTMFusion(num_classes=4, in_chans=1, image_size=32, mode=mode)
    shape = (8, 1, 32, 32) if mode == "spatial" else (8, 3, 1, 32, 32)
    x, y = torch.rand(shape), torch.arange(8) % 4
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(40):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        assert (model(x).argmax(1) == y).all()


def test_registered_with_paper_and_default_recipes():
    registry = get_registry()
    spatial, frames = registry.get("model", "res-bilstm-fusion"), registry.get("model", "res-bilstm-fusion-frames")
    assert spatial.input == "image" and frames.input == "clip"
    paper = spatial.recipes["paper"]
    assert (paper.optimizer, paper.lr, paper.batch_size, paper.epochs, paper.schedule) == ("adam", 1e-3, 4, 200, "constant")
    assert paper.weight_decay > 0
    assert paper.augment.rotate == 30 and paper.augment.hflip and paper.augment.crop > 0
    assert all(getattr(paper.augment, k) > 0 for k in ("brightness", "contrast", "saturation", "hue"))
    assert [paper.for_dataset(d).input_size for d in ("ckplus", "rafdb", "ferplus")] == [48, 100, 100]
    assert spatial.recipes["default"].epochs < paper.epochs
    model = create_model("res-bilstm-fusion", num_classes=7, in_chans=3, image_size=100)
    assert model(torch.rand(1, 3, 100, 100)).shape == (1, 7)
    assert count_parameters(model) > 1e6


def test_flops_count_the_recurrent_layers():
    lstm = torch.nn.LSTM(8, 16, batch_first=True, bidirectional=True)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x):
            return self.lstm(x)[0]

    assert count_flops(Wrap(), (2, 5, 8)) == 2 * 2 * 5 * 2 * 4 * 16 * (8 + 16)
    assert count_flops(torch.nn.Linear(10, 3), (4, 10)) == 2 * 4 * 10 * 3
    model = ResBiLSTMFusion(7, 1, 48)
    assert 0.3e9 < count_flops(model, (1, 1, 48, 48)) < 0.4e9


def test_run_learns_the_synthetic_set_well_above_chance(cli, tmp_path):
    status, out, err = cli("run", "--models", "res-bilstm-fusion", "--datasets", "synthetic", "--folds", "3",
                           "--epochs", "8", "--input-size", "32", "--out", tmp_path / "run")
    assert status == 0, err
    jobs = ferbench.load_jobs(tmp_path / "run")
    assert (jobs["status"] == "ok").all() and len(jobs) == 3
    assert jobs["accuracy"].mean() > 3 / 7, jobs["accuracy"].tolist()


def test_frames_model_runs_on_clips_and_predicts_per_row(tmp_path):
    outcome = ferbench.run_benchmark(
        models="res-bilstm-fusion-frames", datasets="synthetic", folds=2, out=tmp_path / "run",
        overrides={"epochs": 2, "input_size": 24},
    )
    assert not outcome.failed
    record = next((tmp_path / "run" / "jobs").rglob("fold-0.json")).read_text()
    assert '"length": 3' in record and "prediction of their clip" in record
    predictions = ferbench.load_predictions(tmp_path / "run")
    fold = predictions[(predictions["fold"] == 0)]
    dataset = ferbench.get_dataset("synthetic")
    proba = np.stack(fold["proba"].to_numpy())
    sequences = dataset.sequences[fold["index"].to_numpy()]
    for sequence in np.unique(sequences)[:5]:
        rows = proba[sequences == sequence]
        assert len(rows) == 3 and np.allclose(rows, rows[0])


PLAIN = """
    import ferbench
    from ferbench.specs import DatasetSpec
    from conftest import make_dataset

    def load(root=None):
        data = make_dataset(subjects=False)
        data.name = "plain"
        return data

    @ferbench.hookimpl
    def ferbench_datasets():
        return [DatasetSpec("plain", load=load, needs_root=False)]
"""


def test_clip_models_skip_data_sets_without_sequences(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    install_plugin(tmp_path, "plain-fer", "plain_fer", PLAIN)
    with pytest.raises(ferbench.UserError, match="nothing to run"):
        ferbench.run_benchmark(models="res-bilstm-fusion-frames", datasets="plain", protocol="image",
                               folds=2, out=tmp_path / "run", allow_leaky=True)
    status, out, err = cli("run", "--models", "smallcnn,res-bilstm-fusion-frames", "--datasets", "plain",
                           "--protocol", "image", "--allow-leaky", "--folds", "2", "--epochs", "1",
                           "--out", tmp_path / "run")
    assert status == 0, err
    assert "skipping res-bilstm-fusion-frames on plain" in " ".join(out.split())
    assert set(ferbench.load_jobs(tmp_path / "run")["model"]) == {"smallcnn"}
