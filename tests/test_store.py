import dataclasses
import json

import numpy as np
import pytest
import torch

import ferbench.engine.job
from ferbench import UserError, assign_folds, load_jobs, load_predictions, load_results
from ferbench.engine.device import resolve_precision
from ferbench.engine.job import JobContext, run_job
from ferbench.job import Job, plan_digest
from ferbench.registry import get_registry
from ferbench.specs import MetricSpec, ModelSpec, PublishedResult, Recipe
from ferbench.store import RunStore, atomic_write

from conftest import make_dataset
from test_train import tiny_model


def make_job(data, plan, fold, recipe=Recipe(epochs=1, batch_size=8)):
    return Job(model="tiny", recipe_name="default", recipe=recipe, dataset=data.name,
               fingerprint=data.fingerprint, protocol=plan.protocol, k=plan.k, fold=fold,
               run_seed=plan.seed, plan_digest=plan_digest(plan))


@pytest.fixture
def finished(tmp_path):
    data = make_dataset(n_subjects=6)
    plan = assign_folds(data, "subject", 3, 0)
    store = RunStore(tmp_path)
    store.save_plan(plan)
    spec = ModelSpec("tiny", build=tiny_model)
    metrics = get_registry().select("metric", "accuracy,macro_f1")
    results = [run_job(make_job(data, plan, f), data, plan, JobContext(spec, metrics, torch.device("cpu")))
               for f in range(3)]
    for result in results:
        store.commit(result)
    return data, plan, store, results


def test_committed_jobs_are_done_and_load_back_tidy(finished):
    data, plan, store, results = finished
    assert all(r.status == "ok" for r in results)
    assert all(store.is_done(r.job) for r in results)
    tidy = load_results(store.root)
    assert len(tidy) == 3 * 2 and set(tidy["metric"]) == {"accuracy", "macro_f1"}
    assert list(tidy.columns) == ["model", "dataset", "protocol", "k", "seed", "fold", "recipe",
                                  "leaky", "metric", "value"]
    jobs = load_jobs(store.root)
    assert (jobs["status"] == "ok").all() and (jobs["n_train"] + jobs["n_test"] == len(data)).all()


def test_predictions_cover_every_sample_once(finished):
    data, plan, store, _ = finished
    predictions = load_predictions(store.root)
    assert sorted(predictions["index"]) == list(range(len(data)))
    np.testing.assert_array_equal(predictions.sort_values("index")["y_true"], data.labels)
    for _, row in predictions.iterrows():
        assert plan.test_fold[row["index"]] == row["fold"]


def test_changed_recipe_is_not_done(finished):
    data, plan, store, results = finished
    assert not store.is_done(make_job(data, plan, 0, Recipe(epochs=2, batch_size=8)))


def test_failed_job_is_recorded_and_not_done(tmp_path):
    data = make_dataset()
    plan = assign_folds(data, "subject", 3, 0)

    def broken(**kwargs):
        raise RuntimeError("cannot build")

    job = make_job(data, plan, 0)
    result = run_job(job, data, plan, JobContext(ModelSpec("tiny", build=broken), [], torch.device("cpu")))
    store = RunStore(tmp_path)
    store.commit(result)
    record = store.read_job(job)
    assert record.status == "failed" and "RuntimeError: cannot build" in record.error
    assert not store.is_done(job)
    assert load_results(tmp_path).empty


def test_record_has_config_versions_and_curves(finished):
    _, _, store, results = finished
    record = store.read_job(results[0].job)
    assert record.config_hash == results[0].job.config_hash
    assert record.config["recipe"]["epochs"] == 1
    assert {"torch", "numpy", "python"} <= set(record.versions)
    assert len(record.curves["train_loss"]) == 1
    assert record.device == "cpu" and record.precision_requested == "auto"
    assert record.precision == resolve_precision("auto", torch.device("cpu"))
    assert record.selection.startswith("fixed budget")


def test_record_has_a_computed_model_card_even_for_a_spec_without_one(finished):
    _, _, store, results = finished
    card = store.read_job(results[0].job).card
    assert card["parameters"] == sum(p.numel() for p in tiny_model().parameters())
    assert card["flops"] > 0 and card["input_size"] == 12 and card["channels"] == 1
    assert card["pretraining"] == "none" and card["licence"] == ""  # the spec gave no card


def test_the_data_sets_sanity_band_is_recorded_with_the_result():
    data = make_dataset()
    plan = assign_folds(data, "subject", 3, 0)
    band = PublishedResult(accuracy=0.9, protocol="subject 10-fold", source="A 2024")
    result = run_job(make_job(data, plan, 0), data, plan, JobContext(ModelSpec("tiny", build=tiny_model), [],
                     torch.device("cpu"), published=band))
    assert result.record.sanity_band == {"accuracy": 0.9, "protocol": "subject 10-fold", "source": "A 2024"}


def test_a_different_plan_under_the_same_key_is_refused(finished):
    data, plan, store, _ = finished
    changed = make_dataset(n_subjects=6, seed=1)
    with pytest.raises(UserError, match="different fold plan"):
        store.save_plan(assign_folds(changed, "subject", 3, 0))


def test_results_of_a_replaced_plan_are_marked_stale_and_left_out(finished):
    data, plan, store, _ = finished
    store.save_plan(assign_folds(make_dataset(n_subjects=6, seed=1), "subject", 3, 0), force=True)
    assert (load_jobs(store.root)["status"] == "stale").all()
    assert load_results(store.root).empty and load_predictions(store.root).empty


def test_a_metric_that_raises_scores_nan_and_keeps_the_predictions(tmp_path):
    data = make_dataset()
    plan = assign_folds(data, "subject", 3, 0)

    def broken(y, p):
        raise ValueError("undefined here")

    metrics = [MetricSpec("broken", broken)] + get_registry().select("metric", "accuracy")
    result = run_job(make_job(data, plan, 0), data, plan, JobContext(ModelSpec("tiny", build=tiny_model),
                     metrics, torch.device("cpu")))
    assert result.status == "ok" and np.isnan(result.record.metrics["broken"])
    assert 0 <= result.record.metrics["accuracy"] <= 1
    assert result.record.metric_errors == {"broken": "ValueError: undefined here"}


def test_fit_receives_only_the_training_part(monkeypatch):
    data = make_dataset(n_subjects=6)
    plan = assign_folds(data, "subject", 3, 0)
    seen = {}
    real_fit = ferbench.engine.job.fit

    def spy(model, images, labels, recipe, **kwargs):
        seen["images"], seen["labels"] = images, labels
        return real_fit(model, images, labels, recipe, **kwargs)

    monkeypatch.setattr(ferbench.engine.job, "fit", spy)
    result = run_job(make_job(data, plan, 1), data, plan, JobContext(ModelSpec("tiny", build=tiny_model), [],
                     torch.device("cpu")))
    train = plan.train_index(1)
    np.testing.assert_array_equal(seen["images"], data.images[train])
    np.testing.assert_array_equal(seen["labels"], data.labels[train])
    assert set(result.test_index).isdisjoint(train)


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    atomic_write(tmp_path / "a" / "x.json", b"{}")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.json"]


def test_corrupt_record_names_the_file(finished):
    _, _, store, results = finished
    path = store.job_path(results[0].job, ".json")
    path.write_text("{ half")
    with pytest.raises(UserError, match=f"{path.name} is not valid JSON.*delete it and re-run"):
        load_jobs(store.root)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(UserError, match="not a ferbench run directory"):
        load_results(tmp_path)


def test_job_seed_depends_on_run_seed_dataset_and_fold_only(finished):
    data, plan, _, results = finished
    job = results[0].job
    assert job.seed == dataclasses.replace(job, model="another-model").seed
    assert job.seed != make_job(data, plan, 1).seed
    assert json.dumps(job.config())
