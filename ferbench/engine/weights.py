"""Starting a job's model from ``--init`` weights (written by ``ferbench pretrain``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from torch import nn

from ferbench.errors import UserError
from ferbench.factory import create_model
from ferbench.job import Init
from ferbench.pretraining import read_card
from ferbench.specs import ModelSpec


def head_keys(model: nn.Module, num_classes: int) -> list[str]:
    """The state-dict keys of ``model``'s classifier: the last linear (or 1×1 convolution) layer
    that outputs ``num_classes`` values."""
    for name, module in reversed(list(model.named_modules())):
        outputs = getattr(module, "out_features", None) or (
            getattr(module, "out_channels", None) if isinstance(module, nn.Conv2d) else None)
        if outputs == num_classes:
            prefix = f"{name}." if name else ""
            return [prefix + key for key in module.state_dict()]
    return []


def _shape(tensor: torch.Tensor | None) -> str:
    return "absent" if tensor is None else str(tuple(tensor.shape))


def load_init(model: nn.Module, init: Init, name: str, classes: list[str]) -> dict[str, Any]:
    """Load ``init``'s weights into ``model`` (a fresh build of model ``name`` for ``classes``).

    Every tensor must match by name and shape; the classifier (:func:`head_keys`) is kept from
    the file when the classes are the pretraining set's, in the same order, and otherwise keeps
    its fresh initialisation. A mismatch is a :class:`UserError` naming the tensors and both
    shapes. Returns the card as a job records it (its row list left out) with what happened to
    the head."""
    path = Path(init.path)
    data = path.read_bytes() if path.is_file() else None  # read once: hashed, then loaded
    card = read_card(path, data)
    if card["sha256"] != init.sha256:
        raise UserError(f"--init {init.path} now holds other weights (sha256 {card['sha256'][:12]}…) than "
                        f"this job was planned with ({init.sha256[:12]}…); re-run to plan it again.")
    state = load_safetensors(data)
    own = model.state_dict()
    same_classes = list(card["classes"]) == list(classes)
    head = [] if same_classes else head_keys(model, len(classes))
    if not same_classes and not head:
        raise UserError(f"--init {init.path}: the classes differ ({len(card['classes'])} in {card['dataset']}, "
                        f"{len(classes)} here) and model {name!r} has no final layer with {len(classes)} "
                        "outputs to re-initialise.")
    keys = [key for key in dict.fromkeys([*own, *state]) if key not in head]
    wrong = [key for key in keys if key not in own or key not in state or own[key].shape != state[key].shape]
    if wrong:
        listed = "; ".join(f"{key}: file {_shape(state.get(key))}, model {_shape(own.get(key))}" for key in wrong[:6])
        more = f" (and {len(wrong) - 6} more)" if len(wrong) > 6 else ""
        raise UserError(f"--init {init.path} does not fit model {name!r}: it was pretrained as {card['model']!r} "
                        f"(in_chans {card.get('in_chans')}, image size {card.get('image_size')}), and "
                        f"{len(wrong)} tensor(s) differ: {listed}{more}. Start {name!r} from weights pretrained "
                        f"as {name!r} (`ferbench pretrain --model {name} ...`).")
    model.load_state_dict({key: state[key] for key in keys}, strict=False)
    kept = {key: value for key, value in card.items() if key != "rows"}
    kept["head"] = "kept (same classes)" if same_classes else f"re-initialised ({', '.join(head)})"
    return kept


def check_init_fits(spec: ModelSpec, init: Init) -> None:
    """Build ``spec`` as ``init`` was pretrained (channels, size, classes, from its card) and
    load the weights into it: a model the file does not fit fails before any data is loaded."""
    card = read_card(Path(init.path))
    model = create_model(spec, num_classes=len(card["classes"]), in_chans=card["in_chans"],
                         image_size=card["image_size"])
    load_init(model, init, spec.name, list(card["classes"]))
