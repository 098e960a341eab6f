"""The seed paper's model: deep residual Bi-LSTM fusion (Munsarif & Ku-Mahamud, 2024/25).

    image ─▶ DSN: conv+BN+ReLU layers, then residual blocks ─▶ feature map (C', H', W')
          ─▶ a sequence of feature vectors ─▶ DTN: Bi-LSTM, H_t = [h→_t ; h←_t]
          ─▶ attention: e_t = vᵀ tanh(W_h H_t + b_h), α = softmax_t(e), z = Σ_t α_t H_t
          ─▶ head: FC + ReLU + dropout 0.5 ─▶ FC ─▶ logits (ferbench applies the softmax)

The paper does not say what the "sequence" of a still image is. Two readings are offered:

* ``spatial`` (the ``res-bilstm-fusion`` model, for still images): the DSN's final feature map
  read **position by position** (``sequence="positions"``): each of the H'·W' tokens is the
  C'-dim descriptor of one receptive field, so attention weights face regions (eyes, brows,
  mouth), which is what the paper's attention is said to do, and the token size does not depend
  on the input size. ``sequence="rows"`` reads it row by row instead (H' tokens of C'·W' values,
  a top-to-bottom scan), the other common CNN-RNN reading.
* ``frames`` (the ``res-bilstm-fusion-frames`` model, for clips): every frame of a sequence
  passes the DSN (weights shared, global average pooled), and the Bi-LSTM runs over time — the
  temporal reading of Liang et al. (2020), on which the paper builds. ferbench feeds clips to
  it from data sets that have sequences (CK+, synthetic).

Sizes the paper leaves open are constructor arguments. Defaults: stem 32-64 channels, three
residual stages of one block each at 64/128/256 channels (strides 1, 2, 2 after a 2×2 pool),
one Bi-LSTM layer of 128 units per direction, attention size 128, hidden FC layers ``fc=(128,)``
(each FC + ReLU + dropout 0.5), then the classifier.
At 7 classes and one grayscale channel, measured with ``ferbench.factory.count_flops``
(FLOPs = 2 × multiply-adds, forward pass, one image):

==========================  ==========  ==============  ================
model                       parameters  FLOPs at 48×48  FLOPs at 100×100
==========================  ==========  ==============  ================
spatial, positions          1.70 M      0.33 G          1.48 G
spatial, rows               3.01 M      0.32 G          1.43 G
                            (4.85 M at 100×100: the row token grows with the width)
frames, per frame           1.70 M      0.30 G          1.34 G
==========================  ==========  ==============  ================
"""

from __future__ import annotations

import torch
from torch import nn

SEQUENCES = ("positions", "rows")


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ResidualBlock(nn.Module):
    """Two 3×3 conv + BN (+ ReLU) with an identity skip, or a 1×1 projection where the channel
    count or the stride changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn_relu(cin, cout, stride),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
        )
        self.skip = (
            nn.Identity() if cin == cout and stride == 1 else
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.skip(x))


class DeepSpatialNetwork(nn.Module):
    """The DSN: conv+BN+ReLU stem, a 2×2 max-pool, then residual stages (first one at stride 1,
    the others at stride 2). Maps (B, C, H, W) to (B, channels[-1], H/8, W/8) by default."""

    def __init__(self, in_chans: int, stem: tuple[int, ...] = (32, 64),
                 channels: tuple[int, ...] = (64, 128, 256), blocks: int = 1):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_chans
        for out in stem:
            layers += _conv_bn_relu(width, out)
            width = out
        layers.append(nn.MaxPool2d(2))
        for stage, out in enumerate(channels):
            for block in range(blocks):
                layers.append(ResidualBlock(width, out, stride=2 if stage and not block else 1))
                width = out
        self.layers = nn.Sequential(*layers)
        self.out_channels = width
        self.strided = len(channels) - 1

    def output_side(self, side: int) -> int:
        """Side of the output feature map for an input of ``side`` pixels."""
        side //= 2
        for _ in range(self.strided):
            side = (side + 1) // 2
        if side < 1:
            raise ValueError(f"input of {side} pixels is too small for this network; "
                             f"use at least {2 ** (self.strided + 1)}.")
        return side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Attention(nn.Module):
    """Additive attention over time: e_t = vᵀ tanh(W_h H_t + b_h), α = softmax(e), z = Σ α_t H_t."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.project = nn.Linear(dim, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) -> context (B, D) and weights α (B, T), each row summing to 1."""
        alpha = self.v(torch.tanh(self.project(h))).squeeze(-1).float().softmax(-1).to(h.dtype)
        return torch.einsum("bt,btd->bd", alpha, h), alpha


class ResBiLSTMFusion(nn.Module):
    """Deep residual Bi-LSTM fusion (see the module docstring for the two sequence modes).

    ``mode="spatial"`` takes images (B, C, H, W); ``mode="frames"`` takes clips (B, T, C, H, W).
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        image_size: int = 48,
        mode: str = "spatial",
        sequence: str = "positions",
        stem: tuple[int, ...] = (32, 64),
        channels: tuple[int, ...] = (64, 128, 256),
        blocks: int = 1,
        lstm_hidden: int = 128,
        lstm_layers: int = 1,
        attention: int = 128,
        fc: tuple[int, ...] = (128,),
        dropout: float = 0.5,
    ):
        super().__init__()
        if mode not in ("spatial", "frames"):
            raise ValueError(f"mode must be 'spatial' or 'frames', got {mode!r}.")
        if sequence not in SEQUENCES:
            raise ValueError(f"sequence must be one of {SEQUENCES}, got {sequence!r}.")
        self.mode, self.sequence = mode, sequence
        self.dsn = DeepSpatialNetwork(in_chans, stem, channels, blocks)
        side = self.dsn.output_side(image_size)
        token = self.dsn.out_channels
        if mode == "spatial" and sequence == "rows":
            token *= side
        self.lstm = nn.LSTM(token, lstm_hidden, num_layers=lstm_layers, batch_first=True,
                            bidirectional=True)
        self.attention = Attention(2 * lstm_hidden, attention)
        head: list[nn.Module] = [] if fc else [nn.Dropout(dropout)]
        width = 2 * lstm_hidden
        for out in fc:
            head += [nn.Linear(width, out), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = out
        head.append(nn.Linear(width, num_classes))
        self.head = nn.Sequential(*head)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The sequence the Bi-LSTM reads: (B, T, token)."""
        if self.mode == "frames":
            if x.ndim != 5:
                raise ValueError(f"mode 'frames' takes clips (B, T, C, H, W), got shape {tuple(x.shape)}.")
            b, t = x.shape[:2]
            return self.dsn(x.flatten(0, 1)).mean((-2, -1)).view(b, t, -1)
        if x.ndim != 4:
            raise ValueError(f"mode 'spatial' takes images (B, C, H, W), got shape {tuple(x.shape)}.")
        features = self.dsn(x)
        if self.sequence == "rows":
            return features.permute(0, 2, 1, 3).flatten(2)
        return features.flatten(2).transpose(1, 2)

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, num_classes) and attention weights (B, T)."""
        h, _ = self.lstm(self.tokens(x))
        z, alpha = self.attention(h)
        return self.head(z), alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_attention(x)[0]


def build(num_classes: int, in_chans: int, image_size: int) -> ResBiLSTMFusion:
    """The ``spatial`` model (positions) with the documented defaults."""
    return ResBiLSTMFusion(num_classes, in_chans, image_size, mode="spatial")


def build_frames(num_classes: int, in_chans: int, image_size: int) -> ResBiLSTMFusion:
    """The ``frames`` model with the documented defaults."""
    return ResBiLSTMFusion(num_classes, in_chans, image_size, mode="frames")
