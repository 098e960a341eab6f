"""The public doors to registered things: ``get_dataset`` loads one, ``create_model`` builds one."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferbench.data import Dataset
from ferbench.errors import UserError
from ferbench.registry import get_registry
from ferbench.specs import ModelSpec

if TYPE_CHECKING:
    from torch import nn


def get_dataset(name: str, root: str | Path | None = None, **options: Any) -> Dataset:
    """Load the registered data set ``name`` from ``root`` (its folder on disk, where it has one)."""
    spec = get_registry().get("dataset", name)
    if root is None and spec.needs_root:
        raise UserError(
            f"data set {name!r} is read from disk: tell ferbench where with "
            f"--data-dir {name}=PATH (Python: get_dataset({name!r}, root=PATH))."
        )
    if root is not None:
        root = Path(root).expanduser()
        if not root.exists():
            raise UserError(f"data folder for {name!r} not found: {root}. Check --data-dir {name}=PATH.")
    try:
        inspect.signature(spec.load).bind(root, **options)
    except TypeError as error:
        raise UserError(f"data set {name!r} does not take option(s) {sorted(options)}: {error}.") from None
    try:
        dataset = spec.load(root, **options)
    except NotADirectoryError as error:
        raise UserError(f"data set {name!r}: {error.filename or root} is a file where a folder was expected "
                        f"({error.strerror}); --data-dir {name}=PATH takes the folder that holds the data "
                        "set (`ferbench list datasets --wide` shows each layout).") from None
    if not isinstance(dataset, Dataset):
        raise TypeError(f"data set plugin {name!r}: load() returned {type(dataset).__name__}, not Dataset.")
    if dataset.name != name:
        raise TypeError(f"data set plugin {name!r}: load() returned a Dataset named {dataset.name!r}.")
    if len(dataset) == 0:
        raise UserError(f"data set {name!r} loaded from {root} has no samples; check the folder layout.")
    return dataset


def with_face_crop(name: str, options: dict[str, Any] | None, face_crop: str | None) -> dict[str, Any]:
    """Loader ``options`` of data set ``name`` with ``--face-crop`` applied (an option given for
    the data set itself wins). Asking a loader without a face step to crop is an error."""
    options = dict(options or {})
    if face_crop is None:
        return options
    registry = get_registry()

    def has_face_step(dataset: str) -> bool:
        return "face_crop" in inspect.signature(registry.get("dataset", dataset).load).parameters

    if has_face_step(name):
        options.setdefault("face_crop", face_crop)
    elif face_crop != "none":
        able = [n for n in registry.names("dataset") if has_face_step(n)]
        raise UserError(f"data set {name!r} has no face step (its images are face crops already), so "
                        f"--face-crop {face_crop} cannot apply to it; data sets that crop faces: "
                        f"{', '.join(able) or '(none)'}. Load {name!r} in a run of its own, or set "
                        "the option per data set: --dataset-option NAME.face_crop=METHOD.")
    return options


def load_dataset(name: str, root: str | Path | None = None, options: dict[str, Any] | None = None,
                 strict: bool = False, face_crop: str | None = None) -> Dataset:
    """``get_dataset`` with loader ``options``; ``strict`` is passed to every loader that takes it
    (skipped files and label lines become errors), ``face_crop`` (``--face-crop``) to every
    loader with a face step."""
    options = with_face_crop(name, options, face_crop)
    if strict and "strict" in inspect.signature(get_registry().get("dataset", name).load).parameters:
        options.setdefault("strict", True)
    return get_dataset(name, root, **options)


def create_model(name: str | ModelSpec, num_classes: int, in_chans: int, image_size: int, *,
                 pretrained: bool | None = None, **options: Any) -> nn.Module:
    """Build a fresh instance of the registered model ``name`` (or of a spec in hand, as a job
    holds): the one door to a model.

    As timm's ``create_model``, options left unset (None) are dropped, not passed, so a plugin
    whose ``build`` does not take them still works; ``pretrained=True`` asks for its pretrained
    weights (read from local files only) and is refused for a model that has none.
    """
    spec = get_registry().get("model", name) if isinstance(name, str) else name
    name = spec.name
    options = {key: value for key, value in {"pretrained": pretrained, **options}.items() if value is not None}
    parameters = inspect.signature(spec.build).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(key for key in options if key not in parameters and not takes_any)
    if unknown == ["pretrained"]:
        raise UserError(f"model {name!r} has no pretrained weights (its build() takes no `pretrained`); "
                        "drop --pretrained or leave this model out.")
    if unknown:
        raise UserError(f"model {name!r} does not take option(s) {unknown}; its build() takes "
                        f"{', '.join(parameters)}.")
    return spec.build(num_classes=num_classes, in_chans=in_chans, image_size=image_size, **options)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _recurrent_flops(module: nn.RNNBase, batch: int, steps: int) -> int:
    """2 × multiply-adds of an LSTM/GRU/RNN's gate matrices over ``steps`` (torch's flop counter
    does not see inside the fused recurrent kernels)."""
    gates = {"LSTM": 4, "GRU": 3}.get(type(module).__name__, 1)
    directions = 2 if module.bidirectional else 1
    total = 0
    for layer in range(module.num_layers):
        width = module.input_size if layer == 0 else module.hidden_size * directions
        total += gates * module.hidden_size * (width + module.hidden_size)
    return 2 * batch * steps * directions * total


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Forward FLOPs (2 per multiply-add) of ``model`` on one zero input of ``input_shape``
    (batch dimension included), in eval mode; recurrent layers counted from their shapes."""
    # Imported here: loading data through this module needs no torch.
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    recurrent = 0

    def count(module, args, _output):
        nonlocal recurrent
        x = args[0]
        batch, steps = (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])
        recurrent += _recurrent_flops(module, batch, steps)

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, nn.RNNBase)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            device = next(model.parameters(), torch.empty(0)).device
            model(torch.zeros(input_shape, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return counter.get_total_flops() + recurrent


def model_size(spec: ModelSpec, image_size: int = 48, in_chans: int = 1,
               num_classes: int = 7) -> tuple[int, int]:
    """(parameters, forward FLOPs for one image, or one frame of a clip) of a fresh ``spec`` model."""
    model = create_model(spec, num_classes=num_classes, in_chans=in_chans, image_size=image_size)
    frame = (1, in_chans, image_size, image_size)
    shape = frame if spec.input == "image" else (1, *frame)
    return count_parameters(model), count_flops(model, shape)
