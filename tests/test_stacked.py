"""Stacked training of k folds (ferbench.engine.stacked): equal, fold by fold, to k unstacked fits."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

import ferbench.engine.stacked as stacked
import ferbench.engine.train as train
from ferbench.engine.stacked import MatmulLSTM, StackingFallback, fit_stacked, stacked_template
from ferbench.engine.train import fit
from ferbench.errors import UserError
from ferbench.specs import Augment, Recipe

CPU = torch.device("cpu")
SEEDS = [11, 12, 13]
# Training parts of 21, 22 and 23 images: at batch 4 the folds' epochs end differently (a last
# batch of 5, 2 and 3), so the tail steps run in groups and the first fold sits one step out.
SIZES = (21, 22, 23)
RECIPE = Recipe(optimizer="adam", lr=1e-3, weight_decay=1e-4, epochs=3, batch_size=4,
                augment=Augment(hflip=True, rotate=15, crop=0.1, brightness=0.2, contrast=0.2))


class Tiny(nn.Module):
    """Conv, batch norm, ReLU, max pool, a bidirectional LSTM over positions, a linear head: the
    layers res-bilstm-fusion has, at a size that trains in a second (no dropout, whose masks a
    stacked run draws differently)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1),
                                      nn.BatchNorm2d(6), nn.ReLU(inplace=True))
        self.lstm = nn.LSTM(6, 5, batch_first=True, bidirectional=True)
        self.head = nn.Linear(10, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.features(x).flatten(2).transpose(1, 2))
        return self.head(h.mean(1))


class WithGRU(Tiny):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.GRU(6, 5, batch_first=True, bidirectional=True)


def _parts() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8), rng.integers(0, 3, n)) for n in SIZES]


def _models(cls: type[nn.Module] = Tiny) -> list[nn.Module]:
    models = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        models.append(cls())
    return models


def _unstacked(models: list[nn.Module], parts, recipe: Recipe = RECIPE) -> list[train.FitResult]:
    return [fit(copy.deepcopy(model), images, labels, recipe, device=CPU, precision="fp32", seed=seed)
            for model, (images, labels), seed in zip(models, parts, SEEDS)]


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("layers", [1, 2])
def test_matmul_lstm_equals_nn_lstm(batch_first: bool, layers: int) -> None:
    torch.manual_seed(0)
    reference = nn.LSTM(8, 5, num_layers=layers, batch_first=batch_first, bidirectional=True)
    matmul = copy.deepcopy(reference)
    matmul.__class__ = MatmulLSTM
    x = torch.randn(3, 7, 8)
    grads = []
    for lstm in (reference, matmul):
        xi = x.clone().requires_grad_()
        out, (h, c) = lstm(xi)
        (out.square().sum() + h.sum() + c.sum()).backward()
        grads.append([xi.grad] + [p.grad for p in lstm.parameters()])
        lstm.zero_grad()
        if lstm is reference:
            expected = out, h, c
    for a, b in zip(expected, (out, h, c)):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


def test_stacked_lstm_under_vmap_equals_each_fold() -> None:
    torch.manual_seed(0)
    lstms = [nn.LSTM(6, 4, batch_first=True, bidirectional=True) for _ in range(3)]
    params, buffers = stack_module_state(lstms)
    params = {name: p.detach().requires_grad_() for name, p in params.items()}
    template = stacked_template(lstms[0])
    x = torch.randn(3, 2, 5, 6)
    out = vmap(lambda p, xi: functional_call(template, p, (xi,))[0])(params, x)
    out.square().sum().backward()
    for i, lstm in enumerate(lstms):
        expected = lstm(x[i])[0]
        expected.square().sum().backward()
        torch.testing.assert_close(out[i], expected, atol=1e-5, rtol=1e-5)
        for name, p in lstm.named_parameters():
            torch.testing.assert_close(params[name].grad[i], p.grad, atol=1e-5, rtol=1e-5)


def test_stacked_fit_equals_unstacked_fits() -> None:
    """Per fold, the stacked fit's weights, batch-norm statistics, curves and predictions equal
    an unstacked fit's with the same seed, up to the rounding of batched sums (fp32).

    Tolerances: a loss agrees to 1e-6 relative (sums reordered, ~1e-7 each); weights to 5e-5
    absolute after 3 epochs (17 Adam steps) at lr 1e-3: Adam divides by sqrt(v), so where a
    gradient element is near zero a 1e-7 difference can change its step by a sizeable part of
    lr; measured at most 2.5e-6. Predicted probabilities agree to 1e-4.
    """
    parts = _parts()
    models = _models()
    expected = _unstacked(models, parts)
    results = fit_stacked(models, parts, RECIPE, device=CPU, precision="fp32", seeds=SEEDS)
    probe = torch.rand(6, 1, 8, 8)
    for got, want in zip(results, expected):
        assert got.stacked == 3 and want.stacked == 1
        np.testing.assert_allclose(got.curves["train_loss"], want.curves["train_loss"], rtol=1e-6)
        np.testing.assert_allclose(got.curves["train_accuracy"], want.curves["train_accuracy"])
        assert got.normalisation == want.normalisation
        state, reference = got.model.state_dict(), want.model.state_dict()
        assert state.keys() == reference.keys()
        for name in state:
            torch.testing.assert_close(state[name], reference[name], atol=5e-5, rtol=0, msg=name)
        with torch.no_grad():
            torch.testing.assert_close(got.model(probe).softmax(1), want.model(probe).softmax(1),
                                       atol=1e-4, rtol=0)


def _record_rows(monkeypatch: pytest.MonkeyPatch, module) -> dict[int, list[list[int]]]:
    """Patch ``module.batch_input`` to record, per training part (by its size), the rows of every batch."""
    seen: dict[int, list[list[int]]] = {}
    original = module.batch_input

    def recording(x_all, rows, channels_last=False):
        seen.setdefault(len(x_all), []).append(rows.tolist())
        return original(x_all, rows, channels_last)

    monkeypatch.setattr(module, "batch_input", recording)
    return seen


def test_each_fold_keeps_its_own_data_order(monkeypatch: pytest.MonkeyPatch) -> None:
    parts = _parts()
    models = _models()
    recipe = RECIPE.with_overrides(epochs=2)
    unstacked_rows = _record_rows(monkeypatch, train)
    _unstacked(models, parts, recipe)
    stacked_rows = _record_rows(monkeypatch, stacked)
    fit_stacked(models, parts, recipe, device=CPU, precision="fp32", seeds=SEEDS)
    assert sorted(stacked_rows) == sorted(unstacked_rows) == list(SIZES)
    unstacked_orders, stacked_orders = [unstacked_rows[n] for n in SIZES], [stacked_rows[n] for n in SIZES]
    for got, want, n in zip(stacked_orders, unstacked_orders, SIZES):
        assert got == want  # the same batches, in the same order, as the fold's own fit
        assert sorted(sum(got[:len(got) // 2], [])) == list(range(n))  # every row once an epoch
    # Different seeds, different orders (the parts' first 21 rows in their first epoch).
    firsts = [[r for batch in order for r in batch if r < SIZES[0]] for order in stacked_orders]
    assert firsts[0] != firsts[1] != firsts[2]


def test_model_it_cannot_stack_falls_back_with_a_warning() -> None:
    parts = _parts()
    models = _models(WithGRU)
    expected = _unstacked(models, parts)
    with pytest.warns(StackingFallback, match="lstm is an nn.GRU"):
        results = fit_stacked(models, parts, RECIPE, device=CPU, precision="fp32", seeds=SEEDS)
    for got, want in zip(results, expected):
        assert got.stacked == 1
        assert got.curves == want.curves  # fit itself ran: bit-identical


class ReadsAValue(Tiny):
    """A forward pass vmap cannot batch (it reads a value out of a tensor)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * (1.0 if x.max().item() >= 0 else 0.0)


def test_a_first_step_vmap_cannot_run_falls_back_from_the_initial_weights() -> None:
    parts = _parts()
    models = _models(ReadsAValue)
    recipe = RECIPE.with_overrides(epochs=1)
    expected = _unstacked(models, parts, recipe)
    with pytest.warns(StackingFallback, match="the first stacked step failed"):
        results = fit_stacked(models, parts, recipe, device=CPU, precision="fp32", seeds=SEEDS)
    for got, want in zip(results, expected):
        assert got.stacked == 1
        assert got.curves == want.curves


# -- stacked runs (`ferbench run --stacked`) ------------------------------------------------

RUN = dict(models="smallcnn", datasets="synthetic", folds=3, workers=None,
           overrides={"epochs": 2, "batch_size": 4, "precision": "fp32", "input_size": 24})


def _run(out, **options):
    import ferbench

    settings = {**RUN, **options}
    settings.pop("workers")
    return ferbench.run_benchmark(**settings, out=out, executor_options={"workers": 1, "threads": 1})


def _predictions(out) -> dict[int, np.ndarray]:
    import ferbench

    frame = ferbench.load_predictions(out).sort_values(["fold", "index"])
    return {fold: np.stack(part["proba"].to_numpy()) for fold, part in frame.groupby("fold")}


def test_a_stacked_run_scores_every_fold_within_noise_of_an_unstacked_run(tmp_path):
    """Three folds of smallcnn trained side by side (same recipe and seeds as one at a time):
    each fold's accuracy within 3 sd of the difference between two training runs scored on the
    fold's n test images, 3·sqrt(2·p(1−p)/n) (about 0.17 here).

    Why noise, not rounding: the stacked step computes the same function in another order
    (grouped convolutions, batched sums), and Adam turns the rounding of near-zero gradients
    into whole steps, so after 140 steps at batch 4 the two runs are different training runs
    (measured here, dropout off: the largest probability difference per fold 3e-4 to 0.09, and
    4e-4 to 9e-3 at lr 1e-4); and dropout draws
    its masks from one stream for all folds. A stack that trained a fold on another fold's
    data, or not at all, lands near chance (1/7), 0.3 points and more below.
    """
    alone = _run(tmp_path / "alone")
    together = _run(tmp_path / "stacked", stacked=True)
    assert not alone.failed and not together.failed and together.ran == 3
    first, second = alone.jobs.sort_values("fold"), together.jobs.sort_values("fold")
    p = (first["accuracy"].to_numpy() + second["accuracy"].to_numpy()) / 2
    noise = 3 * np.sqrt(2 * p * (1 - p) / second["n_test"].to_numpy())
    assert np.all(np.abs(first["accuracy"].to_numpy() - second["accuracy"].to_numpy()) <= noise)
    assert first["accuracy"].min() > 0.3  # well above chance, so the bound can fail
    records = [json.loads(path.read_text()) for path in sorted((tmp_path / "stacked").rglob("fold-*.json"))]
    assert [r["stacked"] for r in records] == [{"folds": [0, 1, 2], "trained_together": 3}] * 3
    assert all(r["config"]["stacked"] is True for r in records)
    assert all("stacked" not in json.loads(p.read_text())["config"]
               for p in (tmp_path / "alone").rglob("fold-*.json"))


def test_a_stacked_run_resumes_by_training_the_whole_stack_and_never_mixes_with_unstacked(tmp_path):
    out = tmp_path / "run"
    _run(out, stacked=True)
    before = _predictions(out)
    for path in out.rglob("fold-1.*"):
        path.unlink()
    again = _run(out, stacked=True)
    assert again.ran == 1 and not again.failed
    after = _predictions(out)
    for fold in before:  # the stack trained again from the same seeds: fold 1 comes back bit for bit
        np.testing.assert_array_equal(after[fold], before[fold])
    with pytest.raises(UserError, match="another configuration.*stacked: True -> None"):
        _run(out)  # an unstacked run of the same folds is another configuration, never mixed in


def test_stacked_refuses_what_it_cannot_combine():
    from ferbench.run.config import RunConfig

    with pytest.raises(UserError, match="--stacked .* --compile"):
        RunConfig(models="smallcnn", stacked=True, compile_mode="default")
    with pytest.raises(UserError, match="--selection best"):
        RunConfig(models="smallcnn", stacked=True, overrides={"selection": "best"})
