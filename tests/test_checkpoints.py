"""Within-fold checkpoints: a fit killed after an epoch resumes from its saved state and ends
exactly where an uninterrupted fit ends on the CPU; a job's checkpoint goes when it commits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import ferbench.engine.job
from ferbench import assign_folds
from ferbench.engine.job import JobContext, run_job
from ferbench.engine.train import Checkpoint, ValidationPart, fit
from ferbench.specs import Augment, ModelSpec, Recipe

from conftest import make_dataset
from test_store import make_job

CPU = torch.device("cpu")
#: Dropout draws from torch's global generator, augmentation and batch order from fit's own:
#: a resumed fit must restore both, and the optimiser's and schedule's state, to end identically.
RECIPE = Recipe(epochs=4, batch_size=6, schedule="cosine", optimizer="adam",
                augment=Augment(hflip=True, shift=0.1, brightness=0.2))


def dropout_model(num_classes: int = 3, in_chans: int = 1, image_size: int = 12) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_chans, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.3),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, num_classes))


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing on the way out records or cleans up."""


def kill_after(epoch: int):
    def on_epoch(done: int, _epochs: int, _loss: float) -> None:
        if done == epoch:
            raise Killed

    return on_epoch


def _fit(data, checkpoint=None, on_epoch=None, recipe=RECIPE, validation=None):
    torch.manual_seed(0)
    return fit(dropout_model(), data.images, data.labels, recipe, device=CPU, precision="fp32", seed=3,
               checkpoint=checkpoint, on_epoch=on_epoch, validation=validation)


@pytest.mark.parametrize("selection", ["last", "best"])
def test_a_fit_killed_after_an_epoch_resumes_to_the_identical_result(tmp_path, selection):
    data = make_dataset()
    train, held = data.subset(np.arange(30)), data.subset(np.arange(30, len(data)))
    validation = ValidationPart(held.images, held.labels) if selection == "best" else None
    recipe = RECIPE.with_overrides(selection=selection)
    whole = _fit(train, recipe=recipe, validation=validation)
    checkpoint = Checkpoint(tmp_path / "fit.pt", "job-a", every=0)
    with pytest.raises(Killed):
        _fit(train, checkpoint, kill_after(2), recipe, validation)
    assert checkpoint.path.is_file()
    resumed = _fit(train, checkpoint, recipe=recipe, validation=validation)
    assert resumed.resumed_after == 2 and whole.resumed_after is None
    assert resumed.curves == whole.curves and resumed.selected_epoch == whole.selected_epoch
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key


def test_another_fits_checkpoint_is_not_resumed_from(tmp_path):
    data = make_dataset()
    with pytest.raises(Killed):
        _fit(data, Checkpoint(tmp_path / "fit.pt", "job-a", every=0), kill_after(2))
    other = _fit(data, Checkpoint(tmp_path / "fit.pt", "job-b", every=0))
    assert other.resumed_after is None
    (tmp_path / "fit.pt").write_bytes(b"torn")
    assert _fit(data, Checkpoint(tmp_path / "fit.pt", "job-b", every=0)).resumed_after is None


def test_a_killed_job_resumes_from_its_checkpoint_to_the_uninterrupted_predictions(tmp_path, monkeypatch):
    monkeypatch.setattr(ferbench.engine.job, "CHECKPOINT_EVERY", 0.0)
    data = make_dataset()
    plan = assign_folds(data, "subject", k=3, seed=0)
    job = make_job(data, plan, 0, recipe=RECIPE)
    context = JobContext(ModelSpec("dropout", build=dropout_model), [], CPU)
    whole = run_job(job, data, plan, context)
    path = tmp_path / "checkpoints" / "job.pt"
    with pytest.raises(Killed):
        run_job(job, data, plan, context, on_epoch=kill_after(3), checkpoint=path)
    resumed = run_job(job, data, plan, context, checkpoint=path)
    assert resumed.record.ok and resumed.record.resumed_after == 3
    assert whole.record.resumed_after is None
    np.testing.assert_array_equal(resumed.proba, whole.proba)
    assert resumed.record.curves == whole.record.curves
