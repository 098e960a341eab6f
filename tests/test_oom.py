"""Out of memory: a job retries once at half the batch with gradient accumulation."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from ferbench import assign_folds
from ferbench.engine.device import seed_everything
from ferbench.engine.predict import predict_proba
from ferbench.engine.train import fit
from ferbench.engine.job import JobContext, run_job
from ferbench.job import Job, plan_digest
from ferbench.registry import get_registry
from ferbench.specs import Augment, ModelSpec, Recipe
from ferbench.store import RunStore

from conftest import make_dataset
from test_train import tiny_model

CPU = torch.device("cpu")
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


class RunsOutOfMemory(nn.Module):
    """``tiny_model`` that raises OOM when training on batches larger than ``limit``."""

    def __init__(self, limit: int, **kwargs):
        super().__init__()
        self.net = tiny_model(**kwargs)
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and len(x) > self.limit:
            raise torch.OutOfMemoryError(f"{OOM}\nGPU 0 has a total capacity of 1 GiB.")
        return self.net(x)


def counting_spec(limit: int | None) -> tuple[ModelSpec, list[int]]:
    """A spec whose model runs out of memory above ``limit`` samples (never for None), and its build count."""
    builds = []

    def build(**kwargs):
        builds.append(1)
        return tiny_model(**kwargs) if limit is None else RunsOutOfMemory(limit, **kwargs)

    return ModelSpec("tiny", build=build), builds


def setup(batch_size: int) -> tuple:
    data = make_dataset()
    plan = assign_folds(data, "subject", 3, 0)
    job = Job(model="tiny", recipe_name="default", recipe=Recipe(epochs=2, batch_size=batch_size, precision="fp32"),
              dataset=data.name, fingerprint=data.fingerprint, protocol=plan.protocol, k=plan.k,
              fold=1, run_seed=plan.seed, plan_digest=plan_digest(plan))
    return data, plan, job


def run(job, data, plan, spec):
    return run_job(job, data, plan, JobContext(spec, get_registry().select("metric", "all"), CPU))


def direct_proba(job, data, plan, recipe, accumulation):
    """The job's test predictions from fitting ``tiny_model`` directly, as ``run_job`` seeds it."""
    train, test = data.subset(plan.train_index(job.fold)), data.subset(plan.test_index(job.fold))
    seed_everything(job.seed)
    fitted = fit(tiny_model(), train.images, train.labels, recipe, device=CPU, precision="fp32",
                 seed=job.seed, accumulation=accumulation)
    return predict_proba(fitted.model, test.images, device=CPU, precision="fp32")


@pytest.mark.parametrize("batch_size, half, accumulation", [(8, 4, 2), (5, 2, 3)])
def test_out_of_memory_retries_once_at_half_batch_from_the_same_start(tmp_path, batch_size, half,
                                                                     accumulation):
    data, plan, job = setup(batch_size)
    spec, builds = counting_spec(limit=half)
    result = run(job, data, plan, spec)
    assert result.status == "ok", result.error
    assert len(builds) == 2
    assert result.record.oom_retry == {"error": OOM, "batch_size": half, "accumulation": accumulation,
                                        "effective_batch_size": half * accumulation}
    assert result.job.recipe.batch_size == batch_size and result.job.config_hash == job.config_hash
    retried = direct_proba(job, data, plan, job.recipe.with_overrides(batch_size=half), accumulation)
    np.testing.assert_array_equal(result.proba, retried)
    store = RunStore(tmp_path)
    store.commit(result)
    assert store.is_done(job)
    record = json.loads(store.job_path(job, ".json").read_text())
    assert record["config"]["recipe"]["batch_size"] == batch_size
    assert record["oom_retry"]["effective_batch_size"] == half * accumulation


def test_a_second_out_of_memory_fails_the_job():
    data, plan, job = setup(8)
    spec, builds = counting_spec(limit=0)
    result = run(job, data, plan, spec)
    assert result.status == "failed" and len(builds) == 2
    assert result.error.startswith(f"OutOfMemoryError: {OOM}")
    assert result.record.oom_retry["batch_size"] == 4


def test_out_of_memory_at_batch_size_one_is_not_retried():
    data, plan, job = setup(1)
    spec, builds = counting_spec(limit=0)
    result = run(job, data, plan, spec)
    assert result.status == "failed" and len(builds) == 1 and result.record.oom_retry is None


def test_without_out_of_memory_nothing_changes():
    data, plan, job = setup(8)
    spec, builds = counting_spec(limit=None)
    result = run(job, data, plan, spec)
    assert result.status == "ok" and len(builds) == 1 and result.record.oom_retry is None
    np.testing.assert_array_equal(result.proba, direct_proba(job, data, plan, job.recipe, 1))


def linear_fit(batch_size, accumulation, subjects=12, per_subject=4):
    data = make_dataset(n_subjects=subjects, per_subject=per_subject)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12 * 12, 3))
    # SGD recipes always use Nesterov momentum; equal gradients still give equal steps.
    recipe = Recipe(optimizer="sgd", lr=0.5, epochs=1, batch_size=batch_size, augment=Augment())
    return fit(model, data.images, data.labels, recipe, device=CPU, precision="fp32", seed=0,
               accumulation=accumulation)


# 48 samples: three steps of 16; 44: the last step has 12; 49: it has 17 (a batch of one is folded in).
@pytest.mark.parametrize("subjects, per_subject", [(12, 4), (11, 4), (7, 7)])
def test_accumulated_batches_train_like_one_large_batch(subjects, per_subject):
    large = linear_fit(16, 1, subjects, per_subject)
    accumulated = linear_fit(8, 2, subjects, per_subject)
    assert accumulated.curves["train_loss"] == pytest.approx(large.curves["train_loss"], rel=1e-6)
    assert accumulated.curves["train_accuracy"] == large.curves["train_accuracy"]
    for name, weight in large.model.state_dict().items():
        assert torch.allclose(accumulated.model.state_dict()[name], weight, atol=1e-6), name


def test_accumulation_below_one_is_refused():
    with pytest.raises(ValueError, match="accumulation must be an integer >= 1"):
        linear_fit(8, 0)
