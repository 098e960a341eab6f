"""ferbench's timm baselines plugin: ``timm/<name>`` models (registered through the ``ferbench``
entry-point group, like any third-party plugin)."""

import ferbench
from ferbench.specs import ModelSpec
from ferbench_timm.backbones import curated_specs, resolve


@ferbench.hookimpl
def ferbench_models() -> list[ModelSpec]:
    return curated_specs()


@ferbench.hookimpl
def ferbench_resolve_model(name: str) -> ModelSpec | None:
    return resolve(name)
