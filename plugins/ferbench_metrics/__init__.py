"""ferbench's built-in metrics plugin (registered through the ``ferbench`` entry-point group)."""

from ferbench_metrics.classification import ferbench_metrics

__all__ = ["ferbench_metrics"]
