"""``ferbench list``: the data sets, models, metrics and plugins that are installed."""

from __future__ import annotations

import argparse
import inspect

from rich.console import Console
from rich.table import Table

from ferbench.factory import model_size
from ferbench.registry import Registry, get_registry

WHAT = ("datasets", "models", "metrics", "executors", "plugins")


def add_parser(commands) -> None:
    """Register the ``list`` subcommand."""
    parser = commands.add_parser(
        "list", help="list installed data sets, models, metrics and plugins",
        description="List what the installed plugins provide (ferbench's own included).",
    )
    parser.add_argument("what", nargs="?", choices=WHAT + ("all",), default="all",
                        help="what to list (default: all)")
    parser.set_defaults(handler=command)


def _provider(registry: Registry, kind: str, name: str) -> str:
    return registry.providers[(kind, name)].distribution


def _size(spec) -> tuple[str, str]:
    """Parameters and forward FLOPs of the model at 48×48×1 with 7 classes (one frame for clips)."""
    try:
        parameters, flops = model_size(spec)
        return f"{parameters / 1e6:.2f}M", f"{flops / 1e9:.2f}G"
    except Exception as error:
        return f"build fails: {type(error).__name__}", "-"


def _table(title: str, registry: Registry, kind: str, columns: tuple[str, ...]) -> Table:
    """A table whose first column holds the names, never truncated."""
    table = Table(title=title)
    table.add_column("name", no_wrap=True, min_width=max(map(len, registry.names(kind)), default=4))
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _options(load) -> str:
    """The loader's keyword options (for --dataset-option NAME.KEY=VALUE)."""
    try:
        parameters = list(inspect.signature(load).parameters.values())[1:]
    except (TypeError, ValueError):
        return "?"
    return ", ".join(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) or "-"


def dataset_table(registry: Registry) -> Table:
    """One row per data set: classes, native size and channels, grouping, official split,
    default face crop."""
    table = _table("Data sets", registry, "dataset",
                   ("classes", "size", "subjects", "sequences", "official split", "face crop", "data",
                    "options", "provider", "description"))
    for name in registry.names("dataset"):
        s = registry.get("dataset", name)
        size = f"{s.image_size[0]}×{s.image_size[1]}" if s.image_size else "any"
        channels = {1: "gray", 3: "RGB", None: "gray or RGB"}.get(s.channels, str(s.channels))
        classes = f"{len(s.classes)}: {', '.join(s.classes)}" if s.classes else "from folders"
        table.add_row(name, classes, f"{size} {channels}", "yes" if s.has_subjects else "no",
                      "yes" if s.has_sequences else "no", ", ".join(s.official_splits) or "-",
                      s.face_crop, f"--data-dir {name}=PATH" if s.needs_root else "generated", _options(s.load),
                      _provider(registry, "dataset", name), s.description)
    return table


def tables(registry: Registry, what: str) -> list[Table]:
    """The rich tables for ``what`` (one of WHAT or ``all``)."""
    out = []
    if what in ("datasets", "all"):
        out.append(dataset_table(registry))
    if what in ("models", "all"):
        table = _table("Models (size at 48×48×1, 7 classes; FLOPs per image or frame)", registry, "model",
                       ("input", "parameters", "FLOPs", "recipes", "pretraining", "licence", "provider",
                        "description"))
        for name in registry.names("model"):
            s = registry.get("model", name)
            table.add_row(name, s.input, *_size(s), ", ".join(sorted(s.recipes)),
                          s.card.pretraining, s.card.licence or "–", _provider(registry, "model", name),
                          s.description)
        out.append(table)
    if what in ("metrics", "all"):
        table = _table("Metrics (all are computed for every job)", registry, "metric",
                       ("better", "provider", "description"))
        for name in registry.names("metric"):
            s = registry.get("metric", name)
            table.add_row(name, "higher" if s.higher_is_better else "lower",
                          _provider(registry, "metric", name), s.description)
        out.append(table)
    if what in ("executors", "all"):
        table = _table("Executors (ferbench run --executor NAME)", registry, "executor", ("provider", "description"))
        for name in registry.names("executor"):
            table.add_row(name, _provider(registry, "executor", name), registry.get("executor", name).description)
        out.append(table)
    if what in ("plugins", "all"):
        table = Table(title="Plugins (entry-point group 'ferbench')")
        for column in ("entry point", "distribution", "version", "status"):
            table.add_column(column, no_wrap=True)
        for p in registry.plugins:
            status = "[red]failed to load (below)[/]" if p.error else "[green]loaded[/]"
            table.add_row(p.name, p.distribution, p.version, status)
        out.append(table)
    return out


def command(args: argparse.Namespace) -> int:
    """Print the tables; report each broken plugin with its traceback (exit status 1)."""
    registry = get_registry()
    console = Console()
    for table in tables(registry, args.what):
        console.print(table)
    err = Console(stderr=True)
    for plugin in registry.broken:
        err.print(f"[bold red]plugin {plugin.provider} failed to load[/]; the others loaded.",
                  highlight=False)
        err.print(plugin.error, markup=False, highlight=False)
    return 1 if registry.broken else 0
