"""ferbench's built-in data sets plugin (registered through the ``ferbench`` entry-point group)."""

import ferbench
from ferbench.specs import DatasetSpec
from ferbench_datasets import synthetic


@ferbench.hookimpl
def ferbench_datasets() -> list[DatasetSpec]:
    return [synthetic.SPEC]
