"""ferbench's built-in models plugin (registered through the ``ferbench`` entry-point group)."""

import ferbench
from ferbench.specs import ModelSpec
from ferbench_models import fusion, smallcnn


@ferbench.hookimpl
def ferbench_models() -> list[ModelSpec]:
    return [smallcnn.SPEC, fusion.SPEC, fusion.FRAMES_SPEC]
