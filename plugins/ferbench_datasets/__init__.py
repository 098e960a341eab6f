"""ferbench's built-in data sets plugin (registered through the ``ferbench`` entry-point group)."""

import ferbench
from ferbench.specs import DatasetSpec
from ferbench_datasets import ckplus, fer2013, ferplus, imagefolder, rafdb, synthetic


@ferbench.hookimpl
def ferbench_datasets() -> list[DatasetSpec]:
    return [synthetic.SPEC, ckplus.SPEC, ferplus.SPEC, fer2013.SPEC, rafdb.SPEC, imagefolder.SPEC]
