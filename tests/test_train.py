import numpy as np
import pytest
import torch
from torch import nn

from ferbench.engine.predict import predict_proba
from ferbench.engine.train import ValidationPart, channel_stats, fit
from ferbench.specs import Augment, Recipe

from conftest import make_dataset

CPU = torch.device("cpu")


def tiny_model(num_classes=3, in_chans=1, image_size=12):
    return nn.Sequential(nn.Conv2d(in_chans, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, num_classes))


def train(data, seed=0, recipe=None):
    recipe = recipe or Recipe(epochs=2, batch_size=5, augment=Augment(hflip=True, shift=0.1))
    torch.manual_seed(seed)
    return fit(tiny_model(), data.images, data.labels, recipe, device=CPU, precision="fp32", seed=seed)


def test_same_seed_gives_identical_weights_and_curves():
    data = make_dataset()
    a, b = train(data, seed=1), train(data, seed=1)
    assert a.curves == b.curves
    for pa, pb in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(pa, pb)
    assert train(data, seed=2).curves != a.curves


def test_normalisation_is_fitted_on_the_training_images_only():
    data = make_dataset()
    result = train(data.subset(np.arange(10)))
    mean, std = channel_stats(data.images[:10])
    assert result.normalisation["fitted_on_samples"] == 10
    assert result.normalisation["mean"] == pytest.approx(mean.tolist())
    assert torch.allclose(result.model.mean.flatten(), mean) and torch.allclose(result.model.std.flatten(), std)
    other, _ = channel_stats(data.images[10:])
    assert not torch.allclose(other, mean)


def test_channel_stats_in_chunks_match_numpy():
    images = np.random.default_rng(0).integers(0, 256, (10, 5, 5, 3), dtype=np.uint8)
    mean, std = channel_stats(images, chunk=3)
    pixels = images.reshape(-1, 3) / 255
    np.testing.assert_allclose(mean, pixels.mean(0), rtol=1e-6)
    np.testing.assert_allclose(std, pixels.std(0), rtol=1e-5)


def test_curves_have_one_entry_per_epoch_and_batch_of_one_is_avoided():
    data = make_dataset(n_subjects=2, per_subject=6)  # 12 samples, batch 11: remainder of one
    result = train(data, recipe=Recipe(epochs=3, batch_size=11))
    assert len(result.curves["train_loss"]) == 3


def test_nan_loss_fails_with_advice():
    data = make_dataset()
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        train(data, recipe=Recipe(epochs=2, lr=1e30, optimizer="sgd"))


def test_predict_gives_probabilities_and_resizes():
    data = make_dataset(size=12)
    recipe = Recipe(epochs=1, batch_size=8, input_size=16)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 3))  # fails unless inputs are 16×16
    result = fit(model, data.images, data.labels, recipe, device=CPU, precision="fp32", seed=0)
    proba = predict_proba(result.model, data.images, device=CPU, batch_size=7)
    assert proba.shape == (len(data), 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)


def test_one_hot_soft_labels_train_exactly_like_hard_labels():
    data = make_dataset()
    recipe = Recipe(epochs=2, batch_size=5)
    one_hot = np.eye(3, dtype=np.float32)[data.labels]
    runs = []
    for soft in (None, one_hot):
        torch.manual_seed(0)
        runs.append(fit(tiny_model(), data.images, data.labels, recipe, device=CPU, precision="fp32",
                        seed=0, soft_labels=soft))
    assert runs[0].curves["train_loss"] == pytest.approx(runs[1].curves["train_loss"], rel=1e-5)
    torch.manual_seed(0)
    spread = fit(tiny_model(), data.images, data.labels, recipe, device=CPU, precision="fp32", seed=0,
                 soft_labels=np.full((len(data), 3), 1 / 3, dtype=np.float32))
    assert spread.curves["train_loss"] != runs[0].curves["train_loss"]


def test_clip_training_and_prediction_share_one_answer_per_clip():
    data = make_dataset(n_subjects=4)
    clips = data.clips()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(2), nn.Linear(144, 8), nn.ReLU(), nn.Flatten(1), nn.LazyLinear(3))
    fitted = fit(model, data.images, data.labels, Recipe(epochs=2, batch_size=4, augment=Augment(hflip=True)),
                 device=CPU, precision="fp32", seed=0, clips=clips)
    proba = predict_proba(fitted.model, data.images, device=CPU, clips=clips)
    assert proba.shape == (len(data), 3)
    for clip in range(len(clips)):
        rows = proba[clips.member == clip]
        assert np.allclose(rows, rows[0])


def test_augmentation_sees_only_training_images(monkeypatch):
    import ferbench.engine.train as train_module
    from ferbench import assign_folds
    from ferbench.engine.job import JobContext, run_job
    from ferbench.job import Job, plan_digest
    from ferbench.registry import get_registry
    from ferbench.specs import ModelSpec

    data = make_dataset()
    data.images[:, 0, 0, 0] = np.arange(len(data))  # each image carries its row number
    seen = []
    original = train_module.augment_batch

    def recording(x, *args, **kwargs):
        seen.extend(torch.round(x[:, 0, 0, 0] * 255).long().tolist())
        return original(x, *args, **kwargs)

    monkeypatch.setattr(train_module, "augment_batch", recording)
    plan = assign_folds(data, "subject", 3, 0)
    recipe = Recipe(epochs=2, batch_size=5, augment=Augment(hflip=True, rotate=10, brightness=0.2))
    job = Job(model="tiny", recipe_name="default", recipe=recipe, dataset=data.name,
              fingerprint=data.fingerprint, protocol=plan.protocol, k=plan.k, fold=0,
              run_seed=0, plan_digest=plan_digest(plan))
    result = run_job(job, data, plan, JobContext(ModelSpec("tiny", build=tiny_model),
                     get_registry().select("metric", "all"), CPU))
    assert result.status == "ok", result.error
    train_rows = set(plan.train_index(0).tolist())
    assert set(seen) == train_rows and len(seen) == 2 * len(train_rows)
    assert not set(seen) & set(plan.test_index(0).tolist())


def test_best_selection_returns_the_best_validation_epoch_and_patience_stops():
    data = make_dataset(n_subjects=8)
    part = ValidationPart(data.images[:12], data.labels[:12])
    recipe = Recipe(epochs=6, batch_size=6, selection="best", lr=0.05)
    torch.manual_seed(0)
    fitted = fit(tiny_model(), data.images[12:], data.labels[12:], recipe, device=CPU, precision="fp32",
                 seed=0, validation=part)
    accuracy = fitted.curves["val_accuracy"]
    assert len(accuracy) == len(fitted.curves["val_loss"]) == fitted.epochs_run == 6
    assert accuracy[fitted.selected_epoch - 1] == max(accuracy)
    proba = predict_proba(fitted.model, part.images, device=CPU)
    assert (proba.argmax(1) == part.labels).mean() == pytest.approx(max(accuracy))
    torch.manual_seed(0)
    stopped = fit(tiny_model(), data.images[12:], data.labels[12:],
                  recipe.with_overrides(epochs=40, patience=2), device=CPU, precision="fp32", seed=0,
                  validation=part)
    assert stopped.epochs_run == stopped.selected_epoch + 2 < 40
    with pytest.raises(ValueError, match="needs a validation part"):
        fit(tiny_model(), data.images, data.labels, recipe, device=CPU, precision="fp32", seed=0)


def test_early_stopping_job_never_hands_the_test_part_to_training(monkeypatch):
    """The must-show: instrument what the trainer receives, on the synthetic set."""
    import ferbench
    import ferbench.engine.job as jobs_module
    from ferbench import assign_folds
    from ferbench.engine.job import JobContext, run_job
    from ferbench.job import Job, plan_digest
    from ferbench.registry import get_registry

    data = ferbench.get_dataset("synthetic")
    data.images[:, 0, 0, 0], data.images[:, 0, 1, 0] = np.arange(len(data)) // 256, np.arange(len(data)) % 256
    received = {}
    original = jobs_module.fit

    def rows(images):
        return set((images[:, 0, 0, 0].astype(int) * 256 + images[:, 0, 1, 0]).tolist())

    def instrumented(model, images, labels, recipe, **kwargs):
        received["train"] = rows(images)
        received["validation"] = rows(kwargs["validation"].images)
        return original(model, images, labels, recipe, **kwargs)

    monkeypatch.setattr(jobs_module, "fit", instrumented)
    plan = assign_folds(data, "subject", 5, 0)
    spec = get_registry().get("model", "smallcnn")
    recipe = spec.recipes["default"].with_overrides(epochs=3, selection="best", patience=1)
    job = Job(model="smallcnn", recipe_name="default", recipe=recipe, dataset=data.name,
              fingerprint=data.fingerprint, protocol=plan.protocol, k=plan.k, fold=2, run_seed=0,
              plan_digest=plan_digest(plan))
    result = run_job(job, data, plan, JobContext(spec, get_registry().select("metric", "all"), CPU))
    assert result.status == "ok", result.error
    test = set(plan.test_index(2).tolist())
    assert received["train"] and received["validation"]
    assert not (received["train"] | received["validation"]) & test
    assert received["train"] | received["validation"] == set(plan.train_index(2).tolist())
    assert set(data.subjects[list(received["train"])]).isdisjoint(data.subjects[list(received["validation"])])
    assert result.record.selection.startswith("best validation accuracy, early stopping after 1")
    assert 1 <= result.record.validation["selected_epoch"] <= result.record.validation["epochs_run"] <= 3
    assert result.record.validation["n_validation"] == len(received["validation"])
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(result.record.curves)
