"""A small plain CNN: the baseline every FER model should beat, cheap enough for CPU."""

from __future__ import annotations

from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class SmallCNN(nn.Module):
    """Three conv blocks (two 3×3 conv + BN + ReLU, then 2×2 max-pool), global average pool,
    dropout and a linear classifier."""

    def __init__(self, num_classes: int, in_chans: int = 1, width: int = 16, dropout: float = 0.3):
        super().__init__()
        self.features = nn.Sequential(
            _block(in_chans, width), _block(width, 2 * width), _block(2 * width, 4 * width)
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * width, num_classes)
        )

    def forward(self, x):
        return self.head(self.features(x))


def build(num_classes: int, in_chans: int, image_size: int) -> SmallCNN:
    """Any input size works: the global average pool removes the spatial extent."""
    return SmallCNN(num_classes=num_classes, in_chans=in_chans)
