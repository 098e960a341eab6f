"""ferbench's built-in models plugin (registered through the ``ferbench`` entry-point group).

The specs (recipes, cards) live here without torch; each ``build`` imports its network module
when a model is built, so listing the plugins, reading results or reporting never loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ferbench
from ferbench.recipes import PAPER, finetune
from ferbench.specs import Augment, ModelCard, ModelSpec, Recipe

if TYPE_CHECKING:
    from torch import nn


def build_smallcnn(num_classes: int, in_chans: int, image_size: int) -> nn.Module:
    """:func:`ferbench_models.smallcnn.build`."""
    from ferbench_models import smallcnn

    return smallcnn.build(num_classes, in_chans, image_size)


def build_fusion(num_classes: int, in_chans: int, image_size: int) -> nn.Module:
    """:func:`ferbench_models.fusion.build` (the ``spatial`` model)."""
    from ferbench_models import fusion

    return fusion.build(num_classes, in_chans, image_size)


def build_fusion_frames(num_classes: int, in_chans: int, image_size: int) -> nn.Module:
    """:func:`ferbench_models.fusion.build_frames` (the ``frames`` model)."""
    from ferbench_models import fusion

    return fusion.build_frames(num_classes, in_chans, image_size)


SMALLCNN = ModelSpec(
    name="smallcnn",
    build=build_smallcnn,
    description="3-block plain CNN (16-32-64 channels), the CPU-friendly baseline",
    recipes={
        "default": Recipe(
            optimizer="adam", lr=3e-3, weight_decay=1e-4, epochs=12, batch_size=32,
            schedule="cosine", augment=Augment(hflip=True, shift=0.05, brightness=0.1, contrast=0.1),
        ),
    },
    card=ModelCard(pretraining="none", licence="MIT"),
    # Measured on the CPU at batch 32 / 128: 1.30 / 1.35 × (fp32), 1.48 / 1.41 × (bf16).
    channels_last=True,
)

#: The fusion models' own recipe; the paper's (``--recipe paper``) is :data:`ferbench.recipes.PAPER`,
#: shared by every model so the seed's protocol applies to all of them alike.
#: Finishes on a CPU: batch 32 and a cosine schedule over 20 epochs at the native size, with
#: milder augmentation (±10°, 10% crop) that suits so short a budget. At ≈110 images/s
#: (2 CPU cores, fp32; about twice that in bf16) a CK+48 fold (883 training images) trains in
#: under 3 minutes.
FUSION_DEFAULT = Recipe(
    optimizer="adam", lr=1e-3, weight_decay=1e-4, epochs=20, batch_size=32, schedule="cosine",
    augment=Augment(hflip=True, rotate=10, crop=0.1, brightness=0.2, contrast=0.2,
                    saturation=0.2, hue=0.05),
)

_FUSION_CARD = ModelCard(
    pretraining="none",
    licence="MIT (this implementation); the paper is CC BY-SA 4.0",
    citation="Munsarif & Ku-Mahamud, Deep residual bidirectional long short-term memory fusion: "
             "achieving superior accuracy in facial emotion recognition (2024/25)",
)

# Channels-last on the CPU, measured (2 cores, one training step repeated, batch 32 / 128):
# 1.20 / 1.32 × fp32 and 1.35 / 1.52 × bf16 for the image model; the clip model is unmeasured.
FUSION, FUSION_FRAMES = (
    ModelSpec(name=name, build=builder, recipes={"default": FUSION_DEFAULT, "paper": PAPER,
                                                  "finetune": finetune(FUSION_DEFAULT)}, input=kind,
              description=description, card=_FUSION_CARD, channels_last=kind == "image")
    for name, builder, kind, description in (
        ("res-bilstm-fusion", build_fusion, "image",
         "the seed paper's residual CNN → Bi-LSTM → attention → FC, sequence = feature-map positions"),
        ("res-bilstm-fusion-frames", build_fusion_frames, "clip",
         "the same network with the Bi-LSTM over the frames of a clip (data sets with sequences)"),
    )
)


@ferbench.hookimpl
def ferbench_models() -> list[ModelSpec]:
    return [SMALLCNN, FUSION, FUSION_FRAMES]
