"""Stacked training of k folds (ferbench.engine.stacked): equal, fold by fold, to k unstacked fits."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

import ferbench.engine.stacked as stacked
import ferbench.engine.train as train
from ferbench.engine.stacked import MatmulLSTM, StackingFallback, fit_stacked, stacked_template
from ferbench.engine.train import fit
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
