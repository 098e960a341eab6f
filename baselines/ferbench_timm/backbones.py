"""timm backbones as ferbench models: a curated set, and any other timm name on request.

Input adaptation:

- **Channels.** Models are built with the data set's channel count (``in_chans=1`` for
  grayscale FER data) rather than replicating grey to three channels: the first convolution
  then costs a third, and timm adapts pretrained RGB filters by summing them over the colour
  axis, which gives exactly what a 3-channel copy of the grey image would.
- **Size.** CNNs run at the data set's native size (global pooling takes any size). Backbones
  with a fixed token grid (ViT) are built for the recipe's input size (``img_size``); timm
  resamples their position embeddings when pretrained weights are loaded.
- **Classes.** The classifier has the data set's number of classes (a pretrained head is
  dropped).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ferbench.errors import UserError
from ferbench.recipes import PAPER, finetune
from ferbench.specs import Augment, ModelCard, ModelSpec, Recipe

if TYPE_CHECKING:
    from torch import nn

# timm (and with it torch) is imported where a model is built or an uncurated name resolved,
# never when the plugin is only registered: listing plugins and reading results need no torch.

PREFIX = "timm/"

_AUGMENT = Augment(hflip=True, rotate=10, crop=0.1, brightness=0.2, contrast=0.2, saturation=0.2,
                   hue=0.05)

#: From-scratch training on small FER data: AdamW with decoupled weight decay 0.05, cosine
#: schedule over 20 epochs, batch 32, the fusion model's default augmentation.
SCRATCH = Recipe(optimizer="adamw", lr=1e-3, weight_decay=0.05, epochs=20, batch_size=32,
                 schedule="cosine", augment=_AUGMENT)


@dataclass(frozen=True)
class Backbone:
    """One curated timm model and why it is in the set; ``hub_id`` and ``licence`` are timm's
    pretrained configuration's (a test checks them against timm), for the card."""

    timm_name: str
    family: str
    citation: str
    hub_id: str
    recipe: Recipe = SCRATCH
    cpu_bf16: bool = True
    licence: str = "apache-2.0"


# bf16 autocast against fp32 on a CPU with AMX (2 cores, batch 32, 48×48×1; ViT at 96): 1.08 ×
# resnet18, 1.10 × resnet50, but 0.83 × efficientnet_b0 and mobilenetv3 (depthwise
# convolutions), 0.86 × convnext_atto, 0.91 × vit_tiny. Those four keep fp32 under
# --precision auto on the CPU (``cpu_bf16=False``); on CUDA auto is still mixed precision.


#: The families FER papers compare against, at the sizes that train on a CPU.
CURATED: tuple[Backbone, ...] = (
    Backbone("resnet18", "ResNet", "He et al., Deep Residual Learning for Image Recognition, CVPR 2016",
             "timm/resnet18.a1_in1k"),
    Backbone("resnet50", "ResNet", "He et al., Deep Residual Learning for Image Recognition, CVPR 2016",
             "timm/resnet50.a1_in1k"),
    Backbone("efficientnet_b0", "EfficientNet",
             "Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019",
             "timm/efficientnet_b0.ra_in1k", cpu_bf16=False),
    Backbone("mobilenetv3_large_100", "MobileNetV3", "Howard et al., Searching for MobileNetV3, ICCV 2019",
             "timm/mobilenetv3_large_100.ra_in1k", cpu_bf16=False),
    Backbone("convnext_atto", "ConvNeXt", "Liu et al., A ConvNet for the 2020s, CVPR 2022",
             "timm/convnext_atto.d2_in1k", cpu_bf16=False),
    # 16-px patches need a larger input than 48 px (3×3 tokens): 96 px gives 6×6 tokens.
    Backbone("vit_tiny_patch16_224", "ViT",
             "Dosovitskiy et al., An Image is Worth 16x16 Words, ICLR 2021",
             "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k",
             Recipe(optimizer="adamw", lr=5e-4, weight_decay=0.05, epochs=20, batch_size=32,
                    schedule="cosine", input_size=96, augment=_AUGMENT), cpu_bf16=False),
)


def _fixed_size(timm_name: str) -> bool:
    import timm

    config = timm.get_pretrained_cfg(timm_name)
    return bool(getattr(config, "fixed_input_size", False))


def builder(timm_name: str):
    """``build(num_classes=, in_chans=, image_size=, pretrained=False)`` for ``timm_name``."""

    def build(num_classes: int, in_chans: int, image_size: int, pretrained: bool = False) -> nn.Module:
        import timm

        from ferbench_timm.weights import load_weights, local_weights

        options = {"img_size": image_size} if _fixed_size(timm_name) else {}
        if pretrained:
            state = load_weights(local_weights(timm_name))
            options.update(pretrained=True, pretrained_cfg_overlay={"state_dict": state})
        return timm.create_model(timm_name, num_classes=num_classes, in_chans=in_chans, **options)

    build.__qualname__ = f"build_{timm_name}"
    return build


def timm_card(timm_name: str) -> tuple[str | None, str | None]:
    """(licence, Hugging Face hub id) from timm's pretrained configuration of ``timm_name``."""
    import timm

    config = timm.get_pretrained_cfg(timm_name)
    return getattr(config, "license", None), getattr(config, "hf_hub_id", None)


def _card(citation: str, licence: str | None, hub_id: str | None) -> ModelCard:
    return ModelCard(pretraining="none (--pretrained: local timm weights)",
                     licence=licence or "see timm",
                     citation=citation or "timm (Wightman, PyTorch Image Models)",
                     url=f"https://huggingface.co/{hub_id}" if hub_id
                     else "https://github.com/huggingface/pytorch-image-models")


def spec_for(timm_name: str, recipe: Recipe = SCRATCH, family: str = "timm", citation: str = "",
             cpu_bf16: bool = True, card: ModelCard | None = None) -> ModelSpec:
    """The ferbench model ``timm/<timm_name>``, with a from-scratch recipe, the seed paper's, and a
    ``finetune`` one for ``--init`` or ``--pretrained`` starts (its card from timm's pretrained
    configuration unless given)."""
    return ModelSpec(name=PREFIX + timm_name, build=builder(timm_name),
                     recipes={"default": recipe, "paper": PAPER, "finetune": finetune(recipe)},
                     description=f"timm {timm_name} ({family}), trained from scratch unless --pretrained",
                     card=card or _card(citation, *timm_card(timm_name)), cpu_bf16=cpu_bf16)


def curated_specs() -> list[ModelSpec]:
    """The curated baselines."""
    return [spec_for(b.timm_name, b.recipe, b.family, b.citation, b.cpu_bf16, _card(b.citation, b.licence, b.hub_id))
            for b in CURATED]


def resolve(name: str) -> ModelSpec | None:
    """``timm/<any name timm knows>`` as a model; other prefixes are not ours (None)."""
    if not name.startswith(PREFIX):
        return None
    import timm

    timm_name = name[len(PREFIX):]
    if not timm.is_model(timm_name):
        close = difflib.get_close_matches(timm_name, timm.list_models(), n=5, cutoff=0.6)
        hint = f" Did you mean {', '.join(PREFIX + c for c in close)}?" if close else ""
        raise UserError(f"timm has no model {timm_name!r}.{hint} `python -c \"import timm; "
                        f"print(timm.list_models('*{timm_name[:6]}*'))\"` lists similar names.")
    return spec_for(timm_name)
