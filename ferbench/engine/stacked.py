"""Train the k folds of one model side by side: one vectorised step for all k copies.

At the paper's batch of 4 a CPU step is mostly per-operation overhead, not arithmetic, so k
models trained one after another leave the cores idle. Here the k copies' parameters and
buffers are stacked along a new first dimension (``torch.func.stack_module_state``) and one
``vmap``-ed ``functional_call`` runs all of them, each on its own batch: a convolution with
stacked weights becomes one grouped convolution, a linear layer one batched matrix product.
The folds are independent, so the gradient of the sum of their losses is each fold's own
gradient; each fold's optimiser updates its own views of the stacked tensors (:class:`FoldOptimizers`).

What stays each fold's own: its training images and their normalisation statistics, its data
order and augmentation (its own ``torch.Generator``, seeded as ``fit`` seeds it, drawn in the
same order), its initial weights and its batch-norm running statistics. What is shared: the
global random stream that dropout draws from (``vmap(randomness="different")`` gives every
fold its own masks, but not the masks an unstacked run draws), so a stacked result is a
different configuration from an unstacked one, like a different thread count.

``nn.LSTM`` has no vmap batching rule on the CPU (PyTorch loops over the copies: 0.35 × one
fold at a time, measured on res-bilstm-fusion); :class:`MatmulLSTM` computes the same function
with matrix products, and the stacked forward uses it in place of every ``nn.LSTM``. Trained
weights load back into ordinary models (same parameter names), which predict as any other.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ferbench.data import Clips
from ferbench.engine.augment import Transforms, apply, draw
from ferbench.engine.device import autocast, images_to_device, seed_everything, use_channels_last
from ferbench.engine.train import (NORMALISATION, FitResult, Preprocessed, as_channels_last, batch_input,
                                   channel_stats, fit, optimizer_for)
from ferbench.specs import Recipe


def lstm_layers(x: Tensor, weights: Sequence[Tensor], hidden: int, layers: int, directions: int,
                dropout: float = 0.0, h0: Tensor | None = None, c0: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
    """An LSTM over S independent stacks of weights, with matrix products and elementwise ops.

    ``x`` (S, T, B, I); ``weights``: per layer and direction (forward, then reverse), nn.LSTM's
    ``weight_ih``, ``weight_hh`` (and ``bias_ih``, ``bias_hh`` when it has biases), each with a
    leading S; ``h0``, ``c0`` (S, layers * directions, B, H) or None (zeros). Returns the output
    (S, T, B, directions * H), h_n and c_n (S, layers * directions, B, H). The S stacks and both
    directions advance in one batched product per time step; the cell state is kept in float32
    under autocast.
    """
    per = len(weights) // (layers * directions)
    stacks, steps, batch = x.shape[:3]
    low = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else None
    h_n, c_n = [], []
    for layer in range(layers):
        if layer and dropout:
            x = F.dropout(x, dropout, training=True)
        own = [weights[(layer * directions + d) * per:(layer * directions + d + 1) * per] for d in range(directions)]
        w_ih = torch.stack([w[0] for w in own], 1).flatten(0, 1)  # (S * D, 4H, I)
        w_hh = torch.stack([w[1] for w in own], 1).flatten(0, 1)  # (S * D, 4H, H)
        if low is not None:  # cast once, not at each of the T steps (autocast re-casts non-leaves)
            x, w_ih, w_hh = x.to(low), w_ih.to(low), w_hh.to(low)
        # The reverse direction reads time backwards: (S * D, T * B, I).
        inputs = torch.stack([x, x.flip(1)][:directions], 1).flatten(0, 1).flatten(1, 2)
        gates_x = torch.bmm(inputs, w_ih.transpose(1, 2)).unflatten(1, (steps, batch))  # (S * D, T, B, 4H)
        if per == 4:
            bias = torch.stack([w[2] + w[3] for w in own], 1).flatten(0, 1)
            gates_x = gates_x + bias[:, None, None, :].to(gates_x.dtype)
        state = torch.promote_types(gates_x.dtype, torch.float32)
        first = slice(layer * directions, (layer + 1) * directions)
        h = (x.new_zeros(stacks * directions, batch, hidden) if h0 is None else h0[:, first].flatten(0, 1)
             ).to(gates_x.dtype)
        c = h.to(state) if c0 is None else c0[:, first].flatten(0, 1).to(state)
        w_hh_t = w_hh.transpose(1, 2).contiguous()
        outputs = []
        # unbind, not gates_x[:, t]: the backward of T slices would be T full-size zero tensors.
        for gates_t in gates_x.unbind(1):
            gates = (gates_t + torch.bmm(h, w_hh_t)).to(state)
            i, f, _, o = gates.sigmoid().chunk(4, -1)
            c = f * c + i * gates[..., 2 * hidden:3 * hidden].tanh()
            h = (o * c.tanh()).to(gates_x.dtype)
            outputs.append(h)
        out = torch.stack(outputs, 1).unflatten(0, (stacks, directions))  # (S, D, T, B, H)
        x = out[:, 0] if directions == 1 else torch.cat([out[:, 0], out[:, 1].flip(1)], -1)
        h_n.append(h.unflatten(0, (stacks, directions)))
        c_n.append(c.to(h.dtype).unflatten(0, (stacks, directions)))
    return x, torch.cat(h_n, 1), torch.cat(c_n, 1)


@torch.library.custom_op("ferbench::stacked_lstm", mutates_args=())
def _lstm(x: Tensor, weights: list[Tensor], hidden: int, layers: int, directions: int,
          dropout: float) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`lstm_layers` of one stack, (T, B, I) in; only ever called under vmap, where
    :func:`_lstm_rule` computes all folds as the S stacks of one call."""
    out, h, c = lstm_layers(x[None], [w[None] for w in weights], hidden, layers, directions, dropout)
    return out[0], h[0], c[0]


@_lstm.register_fake
def _(x, weights, hidden, layers, directions, dropout):
    state = x.new_empty(layers * directions, x.shape[1], hidden)
    return x.new_empty(*x.shape[:2], directions * hidden), state, torch.empty_like(state)


def _lstm_rule(info, in_dims, x, weights, hidden, layers, directions, dropout):
    k = info.batch_size

    def front(t: Tensor, dim: int | None) -> Tensor:
        return t.expand(k, *t.shape) if dim is None else t.movedim(dim, 0)

    out, h, c = lstm_layers(front(x, in_dims[0]), [front(w, d) for w, d in zip(weights, in_dims[1])],
                            hidden, layers, directions, dropout)
    return (out, h, c), (0, 0, 0)


_lstm.register_vmap(_lstm_rule)


class MatmulLSTM(nn.LSTM):
    """``nn.LSTM`` computed by :func:`lstm_layers`: matrix products and elementwise ops, which
    run all stacked folds at once (under vmap, as one call on the stacked weights).

    Same parameters (names, layout, gate order i, f, g, o), same outputs up to rounding. Not
    supported (``unsupported`` says why): ``proj_size``, packed sequences.
    """

    @staticmethod
    def unsupported(lstm: nn.LSTM) -> str | None:
        """Why ``lstm`` cannot be computed by this class, or None."""
        return "an LSTM with proj_size" if lstm.proj_size else None

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if not isinstance(input, Tensor):
            raise TypeError("MatmulLSTM takes a tensor, not a packed sequence.")
        unbatched = input.dim() == 2
        x = input.unsqueeze(0 if self.batch_first else 1) if unbatched else input
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        directions = 2 if self.bidirectional else 1
        dropout = self.dropout if self.training else 0.0
        weights = [getattr(self, name) for name in self._flat_weights_names]
        if hx is None and _batched(x):
            out, h_n, c_n = _lstm(x, weights, self.hidden_size, self.num_layers, directions, dropout)
        else:
            h0, c0 = (None, None) if hx is None else ((s.unsqueeze(1) if unbatched else s)[None] for s in hx)
            out, h_n, c_n = (t[0] for t in lstm_layers(x[None], [w[None] for w in weights], self.hidden_size,
                                                       self.num_layers, directions, dropout, h0, c0))
        output = out.transpose(0, 1) if self.batch_first else out
        if unbatched:
            return output.squeeze(0 if self.batch_first else 1), (h_n.squeeze(1), c_n.squeeze(1))
        return output, (h_n, c_n)


# --- Batching rules for convolutions, batch norm and max pooling ---------------------------
# Each rule sees all k folds' activations and folds them into the channels, (B, k * C, ...): a
# convolution of all folds is one grouped convolution, a batch norm one batch norm over k * C
# channels (per channel, so per fold, running statistics included), a max pooling one pooling
# over k * C channels. The result goes back fold-first as a view of that tensor, which the
# next rule folds again without a copy. PyTorch's own rules run convolutions outside autocast
# (fp32 where fit trains in bf16: half the speed) and batch norm as a dozen elementwise ops
# (16 ms against 2.9 ms for one layer of res-bilstm-fusion's stem, 10 folds, batch 4).

def _folded(t: Tensor, dim: int | None, k: int) -> Tensor:
    """A per-fold batched tensor (B, C, ...) with its fold dimension at ``dim`` as (B, k * C, ...)."""
    t = t.unsqueeze(1).expand(t.shape[0], k, *t.shape[1:]) if dim is None else t.movedim(dim, 1)
    return t.reshape(t.shape[0], k * t.shape[2], *t.shape[3:])


def _per_fold(t: Tensor | None, dim: int | None, k: int) -> Tensor | None:
    """A per-fold parameter (C, ...) with its fold dimension at ``dim`` as (k * C, ...)."""
    if t is None:
        return None
    t = t.expand(k, *t.shape) if dim is None else t.movedim(dim, 0)
    return t.reshape(-1, *t.shape[2:])


_CONVOLUTIONS = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}


@torch.library.custom_op("ferbench::stacked_conv", mutates_args=())
def _conv(x: Tensor, weight: Tensor, bias: Tensor | None, stride: list[int], padding: list[int],
          dilation: list[int], groups: int) -> Tensor:
    """A convolution; only ever called under vmap, where :func:`_conv_rule` computes it."""
    return _CONVOLUTIONS[x.dim()](x, weight, bias, stride, padding, dilation, groups)


@_conv.register_fake
def _(x, weight, bias, stride, padding, dilation, groups):
    return _CONVOLUTIONS[x.dim()](x, weight, bias, stride, padding, dilation, groups)


#: Output positions (H' x W') at or below which the folds convolve one by one: oneDNN's grouped
#: convolution is slow on tiny maps with many channels (bf16, 1 thread, 10 folds, batch 4,
#: forward and backward: 512 channels at 2 x 2, 161 ms grouped against 41 ms one by one; 256 at
#: 3 x 3, 14 against 12 ms; 128 at 6 x 6, 5 against 9 ms).
SMALL_MAP = 16


def _conv_rule(info, in_dims, x, weight, bias, stride, padding, dilation, groups):
    k = info.batch_size
    convolve = _CONVOLUTIONS[x.dim() - 1]
    folded = _folded(x, in_dims[0], k)
    weights, biases = _per_fold(weight, in_dims[1], k), _per_fold(bias, in_dims[2], k)
    positions = math.prod((side + 2 * pad - spread * (size - 1) - 1) // step + 1 for side, pad, spread, size, step
                          in zip(folded.shape[2:], padding, dilation, weights.shape[2:], stride))
    if positions > SMALL_MAP:
        out = convolve(folded, weights, biases, stride, padding, dilation, groups * k)
        return out.unflatten(1, (k, -1)).movedim(1, 0), 0
    # unbind, not [i]: the backward of k slices would be k full-size zero tensors.
    parts = folded.unflatten(1, (k, -1)).movedim(1, 0).contiguous().unbind(0)
    weights = weights.unflatten(0, (k, -1)).unbind(0)
    biases = [None] * k if biases is None else biases.unflatten(0, (k, -1)).unbind(0)
    return torch.stack([convolve(part, w, b, stride, padding, dilation, groups)
                        for part, w, b in zip(parts, weights, biases)]), 0


_conv.register_vmap(_conv_rule)


@torch.library.custom_op("ferbench::stacked_batch_norm", mutates_args=("running_mean", "running_var"))
def _batch_norm(x: Tensor, running_mean: Tensor, running_var: Tensor, weight: Tensor | None,
                bias: Tensor | None, momentum: float, eps: float) -> Tensor:
    """Batch norm in training mode; only ever called under vmap, where :func:`_batch_norm_rule` computes it."""
    return F.batch_norm(x, running_mean, running_var, weight, bias, True, momentum, eps)


@_batch_norm.register_fake
def _(x, running_mean, running_var, weight, bias, momentum, eps):
    return torch.empty_like(x)


def _batch_norm_rule(info, in_dims, x, running_mean, running_var, weight, bias, momentum, eps):
    k = info.batch_size
    if in_dims[1] is None or in_dims[2] is None:
        raise ValueError("stacked batch norm needs each fold's own running statistics (stacked buffers).")
    stats = [s.movedim(d, 0).reshape(-1) for s, d in ((running_mean, in_dims[1]), (running_var, in_dims[2]))]
    if any(s.data_ptr() != r.data_ptr() for s, r in zip(stats, (running_mean, running_var))):
        raise ValueError("stacked batch norm needs contiguous stacked running statistics.")
    out = F.batch_norm(_folded(x, in_dims[0], k), stats[0], stats[1], _per_fold(weight, in_dims[3], k),
                       _per_fold(bias, in_dims[4], k), True, momentum, eps)
    return out.unflatten(1, (k, -1)).movedim(1, 0), 0


_batch_norm.register_vmap(_batch_norm_rule)


@torch.library.custom_op("ferbench::stacked_max_pool2d", mutates_args=())
def _max_pool2d(x: Tensor, kernel_size: list[int], stride: list[int], padding: list[int],
                dilation: list[int], ceil_mode: bool) -> Tensor:
    """2-d max pooling; only ever called under vmap, where :func:`_max_pool2d_rule` computes it."""
    return F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)


@_max_pool2d.register_fake
def _(x, kernel_size, stride, padding, dilation, ceil_mode):
    return F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)


def _max_pool2d_rule(info, in_dims, x, kernel_size, stride, padding, dilation, ceil_mode):
    k = info.batch_size
    out = F.max_pool2d(_folded(x, in_dims[0], k), kernel_size, stride, padding, dilation, ceil_mode)
    return out.unflatten(1, (k, -1)).movedim(1, 0), 0


_max_pool2d.register_vmap(_max_pool2d_rule)


def _batched(x: Tensor) -> bool:
    return torch._C._functorch.is_batchedtensor(x)


class _StackedConv:
    """Mixin for ``nn.Conv1d/2d/3d`` (zero or explicit padding): under vmap, :func:`_conv`, whose
    rule runs outside vmap, so under autocast."""

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if not _batched(input) or self.padding_mode != "zeros" or isinstance(self.padding, str):
            return super()._conv_forward(input, weight, bias)
        return _conv(input, weight, bias, list(self.stride), list(self.padding), list(self.dilation),
                     self.groups)


class _StackedBatchNorm:
    """Mixin for ``nn.BatchNorm1d/2d/3d`` with running statistics and a momentum: under vmap in
    training mode, :func:`_batch_norm`."""

    def forward(self, input: Tensor) -> Tensor:
        if not (_batched(input) and self.training and self.track_running_stats and self.momentum is not None):
            return super().forward(input)
        self._check_input_dim(input)
        self.num_batches_tracked.add_(1)
        return _batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                           self.momentum, self.eps)


class _StackedMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` on batched (B, C, H, W) input: under vmap, :func:`_max_pool2d`."""

    def forward(self, input: Tensor) -> Tensor:
        if not _batched(input) or input.dim() != 4 or self.return_indices:
            return super().forward(input)
        pair = nn.modules.utils._pair
        return _max_pool2d(input, list(pair(self.kernel_size)), list(pair(self.stride or self.kernel_size)),
                           list(pair(self.padding)), list(pair(self.dilation)), self.ceil_mode)


_SUBSTITUTES: dict[type, type] = {
    cls: type(f"Stacked{cls.__name__}", (mixin, cls), {})
    for mixin, classes in ((_StackedConv, (nn.Conv1d, nn.Conv2d, nn.Conv3d)),
                           (_StackedBatchNorm, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)))
    for cls in classes
}
_SUBSTITUTES.update({nn.LSTM: MatmulLSTM, nn.MaxPool2d: _StackedMaxPool2d})

#: Modules that vmap cannot batch on the CPU (it loops over the folds), with no substitute here.
_LOOPED = (nn.GRU, nn.RNN)


def stacking_problem(model: nn.Module) -> str | None:
    """Why the folds of ``model`` cannot be trained stacked, or None."""
    for name, module in model.named_modules():
        if isinstance(module, _LOOPED):
            return f"{name} is an nn.{type(module).__name__}, which vmap cannot batch on the CPU"
        if isinstance(module, nn.LSTM) and MatmulLSTM.unsupported(module):
            return f"{name} is {MatmulLSTM.unsupported(module)}"
    return None


def stacked_template(net: nn.Module) -> nn.Module:
    """A structure-only copy of ``net`` (on the meta device) whose LSTMs, convolutions, batch norms
    and max poolings compute with the stacked batching rules above, and whose in-place
    activations are out of place; ``functional_call`` fills in the weights."""
    template = copy.deepcopy(net).to("meta")
    for module in template.modules():
        # In place on the rules' (views of) outputs, autograd rebuilds the base tensor in the
        # backward: res-bilstm-fusion's stem ReLU took 42 ms a step against 4 ms out of place.
        if getattr(module, "inplace", False) is True:
            module.inplace = False
        substitute = _SUBSTITUTES.get(type(module))
        if substitute is not None:
            module.__class__ = substitute
    return template


class FoldOptimizers:
    """The recipe's optimiser, one per fold, over views of the stacked parameters (k, ...):
    each fold's update, step count and moments are exactly its own, and a fold whose epoch has
    fewer batches sits out the last step(s). Adam and AdamW run torch's fused kernel: on the
    CPU, 10 folds of res-bilstm-fusion (17 M parameters), 9 ms per step against 34 ms for ten
    multi-tensor (foreach) Adams and 106 ms for one elementwise Adam over the stacked tensors."""

    def __init__(self, recipe: Recipe, params: Sequence[Tensor], folds: int):
        self.params = list(params)
        self.views = [[p.detach()[i].requires_grad_() for p in self.params] for i in range(folds)]
        self.optimizers = [optimizer_for(recipe, views) for views in self.views]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, lr: float, active: Sequence[int]) -> None:
        """One update at learning rate ``lr`` of the folds in ``active``."""
        for i in active:
            for p, view in zip(self.params, self.views[i]):
                view.grad = None if p.grad is None else p.grad[i]
            for group in self.optimizers[i].param_groups:
                group["lr"] = lr
            self.optimizers[i].step()


class StackingFallback(UserWarning):
    """Stacked training was asked for and the folds train one at a time instead (the message says why)."""


def _learning_rate(recipe: Recipe, epoch: int) -> float:
    """``fit``'s learning rate in ``epoch`` (0-based): constant, or cosine annealed to 0 over the epochs."""
    if recipe.schedule == "cosine":
        return recipe.lr * (1 + math.cos(math.pi * epoch / recipe.epochs)) / 2
    return recipe.lr


def _steps(n: int, batch: int) -> int:
    """Batches per epoch as ``fit`` cuts them: a last batch of one sample joins the one before."""
    return max(1, n // batch if n % batch == 1 else math.ceil(n / batch))


class _Fold:
    """One fold's part on the device, its generator and its epoch's batches."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, soft_labels: np.ndarray | None,
                 recipe: Recipe, seed: int, device: torch.device):
        self.generator = torch.Generator().manual_seed(seed)  # as seed_everything(seed) returns it
        self.x = images_to_device(images, device)
        self.y = torch.as_tensor(labels, dtype=torch.long, device=device)
        self.targets = self.y if soft_labels is None else torch.as_tensor(soft_labels, device=device)
        self.n = len(labels)
        self.batch = min(recipe.batch_size, self.n)
        self.steps = _steps(self.n, self.batch)
        self.order = torch.arange(self.n)

    def shuffle(self) -> None:
        self.order = torch.randperm(self.n, generator=self.generator).to(self.x.device)

    def rows(self, step: int) -> Tensor:
        b = self.batch
        return self.order[step * b:] if step == self.steps - 1 else self.order[step * b:(step + 1) * b]


def _cat_transforms(parts: list[Transforms]) -> Transforms:
    return Transforms(**{name: None if getattr(parts[0], name) is None else
                         torch.cat([getattr(t, name) for t in parts])
                         for name in Transforms.__dataclass_fields__})


def stacking_skipped(recipe: Recipe, clips: Clips | None = None, precision: str = "fp32",
                     compile_mode: str = "none") -> str | None:
    """Why a fit with these settings trains one fold at a time, or None (it can be stacked)."""
    if clips is not None:
        return "clip models are not stacked"
    if recipe.selection != "last":
        return f"selection {recipe.selection!r} picks each fold's epoch on its validation part, not stacked"
    if precision == "fp16":
        return "fp16 needs a loss scaler per fold, not stacked"
    if compile_mode != "none":
        return "torch.compile is not combined with stacking"
    return None


def fit_stacked(
    models: Sequence[nn.Module],
    parts: Sequence[tuple[np.ndarray, np.ndarray]],
    recipe: Recipe,
    *,
    device: torch.device,
    precision: str,
    seeds: Sequence[int],
    soft_labels: Sequence[np.ndarray | None] | None = None,
    channels_last: bool = False,
    on_epoch: Callable[[int, int, list[float]], None] | None = None,
) -> list[FitResult]:
    """Train ``models[i]`` on ``parts[i]`` (uint8 images (N, H, W, C), int labels) for every
    fold i at once, as ``fit(models[i], *parts[i], recipe, seed=seeds[i], ...)`` would one after
    another; returns each fold's :class:`FitResult` (``stacked``: the number of folds trained
    together). Meant for small batches on a GPU, where each step is launch-bound (not yet
    measured). On a 2-core CPU it does not pay (benchmarks/stacked_folds.py, 10 folds of
    res-bilstm-fusion): at batch 4, 0.91 × one fold at a time on one thread and 1.09 × on two,
    both too noisy to call; at batch 32, 0.53 ×.

    Each fold keeps its own normalisation statistics, data order and augmentation (a generator
    seeded with its seed, drawn in ``fit``'s order), batch-norm statistics and step count.
    Dropout masks come from the global stream, seeded with ``seeds[0]``. With one fold, or
    a model or recipe that cannot be stacked (:func:`stacking_problem`, :func:`stacking_skipped`),
    or a first step that fails under vmap, the folds train one at a time through ``fit``, with
    a :class:`StackingFallback` warning saying why.
    """
    folds = len(models)
    if not folds or len(parts) != folds or len(seeds) != folds:
        raise ValueError(f"fit_stacked needs as many parts and seeds as models, got {folds} models, "
                         f"{len(parts)} parts, {len(seeds)} seeds.")
    soft = list(soft_labels) if soft_labels is not None else [None] * folds
    # Folded activations stay in NCHW on the CPU: in channels-last, the backward of a ReLU between
    # two stacked layers copies and runs 10x slower (res-bilstm-fusion, 10 folds, batch 4).
    folded_channels_last = device.type != "cpu" and use_channels_last(device, channels_last)
    reason = ("one fold" if folds == 1 else stacking_skipped(recipe, precision=precision)
              or stacking_problem(models[0]))
    if reason is None:
        try:
            return _fit_stacked(models, parts, recipe, device, precision, seeds, soft, folded_channels_last,
                                on_epoch)
        except _FirstStepFailed as failure:
            reason = f"the first stacked step failed ({failure.__cause__!r})"
    if folds > 1:
        warnings.warn(f"stacked training falls back to one fold at a time: {reason}.", StackingFallback,
                      stacklevel=2)
    return [fit(model, images, labels, recipe, device=device, precision=precision, seed=seed,
                soft_labels=soft_i, channels_last=channels_last)
            for model, (images, labels), seed, soft_i in zip(models, parts, seeds, soft)]


class _FirstStepFailed(Exception):
    """The first vectorised step raised: the model does something the stacking cannot batch."""


def _fit_stacked(models, parts, recipe, device, precision, seeds, soft, channels_last, on_epoch):
    started = time.perf_counter()
    folds = len(models)
    seed_everything(seeds[0])
    data = [_Fold(images, labels, s, recipe, seed, device)
            for (images, labels), s, seed in zip(parts, soft, seeds)]
    stats = [channel_stats(images) for images, _ in parts]
    height = parts[0][0].shape[1]
    nets = [Preprocessed(model, mean, std, recipe.input_size or height).to(device)
            for model, (mean, std) in zip(models, stats)]
    if channels_last:
        nets = [net.to(memory_format=torch.channels_last) for net in nets]
    template = stacked_template(nets[0])
    stacked_params, buffers = stack_module_state(nets)
    params = {name: p.detach().requires_grad_() for name, p in stacked_params.items()}
    optimizer = FoldOptimizers(recipe, list(params.values()), folds)

    def fold_loss(p: dict, b: dict, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        logits = functional_call(template, (p, b), (x,))
        return F.cross_entropy(logits.float(), target), logits

    step_all = vmap(fold_loss, randomness="different")
    frames = 1
    curves: dict[str, list[list[float]]] = {"train_loss": [[] for _ in data], "train_accuracy": [[] for _ in data]}
    template.train()
    every = torch.arange(folds, device=device)
    first = True
    for epoch in range(recipe.epochs):
        lr = _learning_rate(recipe, epoch)
        for fold in data:
            fold.shuffle()
        loss_sum = torch.zeros(folds, dtype=torch.float64, device=device)
        correct = torch.zeros(folds, dtype=torch.long, device=device)
        for step in range(max(fold.steps for fold in data)):
            groups: dict[int, list[int]] = {}
            for i, fold in enumerate(data):
                if step < fold.steps:
                    groups.setdefault(len(fold.rows(step)), []).append(i)
            optimizer.zero_grad()
            for members in groups.values():
                rows = [data[i].rows(step) for i in members]
                x = torch.stack([batch_input(data[i].x, r) for i, r in zip(members, rows)])
                if recipe.augment.active:
                    draws = [draw(len(r), recipe.augment, data[i].generator, frames, device, x.shape[2])
                             for i, r in zip(members, rows)]
                    x = apply(x.flatten(0, 1), _cat_transforms(draws)).view_as(x)
                if channels_last:
                    x = as_channels_last(x.flatten(0, 1)).view_as(x)
                target = torch.stack([data[i].targets[r] for i, r in zip(members, rows)])
                whole = len(members) == folds
                index = every if whole else torch.as_tensor(members, device=device)
                p = params if whole else {n: t[index] for n, t in params.items()}
                b = buffers if whole else {n: t[index] for n, t in buffers.items()}
                try:
                    with autocast(device, precision):
                        losses, logits = step_all(p, b, x, target)
                    finite = bool(torch.isfinite(losses).all())
                    if finite:
                        losses.sum().backward()
                except Exception as error:
                    if first:
                        raise _FirstStepFailed from error
                    raise
                if not finite:
                    bad = int((~torch.isfinite(losses)).nonzero()[0])
                    raise FloatingPointError(f"fold {members[bad]} of {folds} trained stacked: training loss "
                                             f"became {losses[bad].item()} at epoch {epoch + 1}, step {step + 1}; "
                                             f"lower the learning rate (--lr, now {recipe.lr}).")
                if not whole:
                    for n, t in b.items():
                        buffers[n][index] = t
                loss_sum[index] += losses.detach().double() * len(rows[0])
                y = torch.stack([data[i].y[r] for i, r in zip(members, rows)])
                correct[index] += (logits.argmax(-1) == y).sum(1)
                first = False
            optimizer.step(lr, [i for members in groups.values() for i in members])
        for i, fold in enumerate(data):
            curves["train_loss"][i].append(loss_sum[i].item() / fold.n)
            curves["train_accuracy"][i].append(correct[i].item() / fold.n)
        if on_epoch is not None:
            on_epoch(epoch + 1, recipe.epochs, [c[-1] for c in curves["train_loss"]])
    seconds = time.perf_counter() - started
    results = []
    for i, (net, (mean, std), fold) in enumerate(zip(nets, stats, data)):
        net.load_state_dict({**{n: t[i].detach() for n, t in params.items()},
                             **{n: t[i] for n, t in buffers.items()}})
        net.eval()
        results.append(FitResult(
            net, {name: values[i] for name, values in curves.items()},
            {"mean": mean.tolist(), "std": std.tolist(), "fitted_on_samples": fold.n},
            seconds / len(nets), recipe.epochs, recipe.epochs,
            fitted={NORMALISATION: np.arange(fold.n)}, stacked=len(nets)))
    return results
