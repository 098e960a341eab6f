"""Recipes shared across models, so a protocol from the literature applies to every model alike."""

from __future__ import annotations

import dataclasses

from ferbench.specs import Augment, Recipe

#: The seed paper's training settings exactly (``--recipe paper``): categorical cross-entropy,
#: Adam 1e-3 with L2 regularisation (its strength is not given; 1e-4 is used, as torch Adam's
#: coupled weight decay *is* L2), batch 4, 200 epochs, 48×48 for CK+ and 100×100 for RAF-DB and
#: FERPlus, ±30° rotation, horizontal flip, random crop resized back, brightness/contrast/
#: saturation/hue jitter (the paper gives no magnitudes; torchvision's common 0.2/0.2/0.2/0.05).
PAPER = Recipe(
    optimizer="adam", lr=1e-3, weight_decay=1e-4, epochs=200, batch_size=4, schedule="constant",
    input_size=48, input_sizes={"rafdb": 100, "ferplus": 100},
    augment=Augment(hflip=True, rotate=30, crop=0.15, brightness=0.2, contrast=0.2,
                    saturation=0.2, hue=0.05),
)


def finetune(recipe: Recipe) -> Recipe:
    """The ``finetune`` recipe of a model whose from-scratch recipe is ``recipe``, for runs that
    start from pretrained weights (``--init``): a tenth of its learning rate and half its epochs,
    everything else as it is. This is the common fine-tuning rule, fixed before any run; it was
    not tuned on any test part (nor on any validation part)."""
    return dataclasses.replace(recipe, lr=recipe.lr / 10, epochs=max(1, recipe.epochs // 2))
