"""Print the README's table of model sizes: parameters and forward FLOPs of every registered
model at 48×48×1 (CK+48, FER2013) and 100×100×3 (RAF-DB), 7 classes.

    python benchmarks/model_sizes.py            # Markdown, as pasted into README.md
"""

from __future__ import annotations

from ferbench.factory import model_size
from ferbench.registry import get_registry

SIZES = ((48, 1), (100, 3))


def table() -> str:
    """The Markdown table, one row per registered model (clip models: FLOPs per frame)."""
    lines = ["| model | parameters (48×48×1) | FLOPs (48×48×1) | parameters (100×100×3) | FLOPs (100×100×3) |",
             "|---|---|---|---|---|"]
    registry = get_registry()
    for name in registry.names("model"):
        cells = []
        for size, channels in SIZES:
            parameters, flops = model_size(registry.get("model", name), size, channels)
            cells += [f"{parameters / 1e6:.2f} M", f"{flops / 1e9:.3f} G"]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
