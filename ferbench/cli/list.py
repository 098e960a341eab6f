"""``ferbench list``: the data sets, models, metrics and plugins that are installed."""

from __future__ import annotations

import argparse
import inspect

from rich.table import Table

from ferbench.cli.console import add_row, console, say, styled
from ferbench.factory import model_size
from ferbench.registry import Registry, get_registry
from ferbench.specs import DatasetSpec

WHAT = ("datasets", "models", "metrics", "executors", "plugins")


def add_parser(commands) -> None:
    """Register the ``list`` subcommand."""
    parser = commands.add_parser(
        "list", help="list installed data sets, models, metrics and plugins",
        description="List what the installed plugins provide (ferbench's own included). The tables "
                    "show the columns that fit an 80-column terminal; --wide shows them all. "
                    "`published` lists the accuracies each data set's plugin says were published "
                    "(reported, not re-run here).",
    )
    parser.add_argument("what", nargs="?", choices=WHAT + ("published", "all"), default="all",
                        help="what to list (default: all but published)")
    parser.add_argument("--wide", action="store_true",
                        help="every column: options, provider, licence, recipes, ... (for a wide terminal)")
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


def _table(title: str, rows: dict[str, dict[str, str]], essential: tuple[str, ...], wide: bool) -> Table:
    """A table of ``rows`` (name -> {column: cell}): the names, never wrapped, then every column
    with ``wide``, else only the ``essential`` ones; the last column ("description") takes what
    width is left and wraps."""
    table = Table(title=title)
    table.add_column("name", no_wrap=True, min_width=max(map(len, rows), default=4))
    shown = [c for c in next(iter(rows.values()), {}) if wide or c in essential]
    for column in shown:
        table.add_column(column, overflow="fold", no_wrap=not wide and column != "description")
    for name, cells in rows.items():
        add_row(table, name, *(cells[column] for column in shown))
    return table


def _options(load) -> str:
    """The loader's keyword options (for --dataset-option NAME.KEY=VALUE)."""
    try:
        parameters = list(inspect.signature(load).parameters.values())[1:]
    except (TypeError, ValueError):
        return "?"
    return ", ".join(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) or "-"


def _grouping(spec: DatasetSpec, column: str) -> str:
    """``yes``, ``no``, or ``with subject_regex`` for loaders whose file names can give the column."""
    if getattr(spec, f"has_{column}"):
        return "yes"
    return "with subject_regex" if "subject_regex" in _options(spec.load).split(", ") else "no"


def dataset_table(registry: Registry, wide: bool = False) -> Table:
    """One row per data set: classes, native size and channels, grouping, official split,
    default face crop (name, classes, size and description unless ``wide``)."""
    rows = {}
    for name in registry.names("dataset"):
        s = registry.get("dataset", name)
        size = f"{s.image_size[0]}×{s.image_size[1]}" if s.image_size else "any"
        channels = {1: "gray", 3: "RGB", None: "gray or RGB"}.get(s.channels, str(s.channels))
        rows[name] = {
            "classes": ((f"{len(s.classes)}: {', '.join(s.classes)}" if wide else str(len(s.classes)))
                        if s.classes else "from folders"),
            "size": f"{size} {channels}", "subjects": _grouping(s, "subjects"),
            "sequences": _grouping(s, "sequences"), "official split": ", ".join(s.official_splits) or "-",
            "face crop": s.face_crop, "data": f"--data-dir {name}=PATH" if s.needs_root else "generated",
            "options": _options(s.load), "provider": _provider(registry, "dataset", name),
            "description": s.description,
        }
    return _table("Data sets", rows, ("classes", "size", "description"), wide)


def tables(registry: Registry, what: str, wide: bool = False) -> list[Table]:
    """The rich tables for ``what`` (one of WHAT, ``published`` or ``all``): the columns that fit
    80 characters, or every column with ``wide``."""
    out = []
    if what in ("datasets", "all"):
        out.append(dataset_table(registry, wide))
    if what in ("models", "all"):
        rows = {}
        for name in registry.names("model"):
            s = registry.get("model", name)
            parameters, flops = _size(s)
            rows[name] = {"input": s.input, "parameters": parameters, "FLOPs": flops,
                          "recipes": ", ".join(sorted(s.recipes)), "pretraining": s.card.pretraining,
                          "licence": s.card.licence or "–", "provider": _provider(registry, "model", name),
                          "description": s.description}
        out.append(_table("Models (size at 48×48×1, 7 classes; FLOPs per image or frame)", rows,
                          ("input", "parameters", "description"), wide))
    if what in ("metrics", "all"):
        rows = {name: {"better": "higher" if s.higher_is_better else "lower",
                       "provider": _provider(registry, "metric", name), "description": s.description}
                for name, s in ((name, registry.get("metric", name)) for name in registry.names("metric"))}
        out.append(_table("Metrics (all are computed for every job)", rows, ("better", "description"), wide))
    if what in ("executors", "all"):
        rows = {name: {"provider": _provider(registry, "executor", name),
                       "description": registry.get("executor", name).description}
                for name in registry.names("executor")}
        out.append(_table("Executors (ferbench run --executor NAME)", rows, ("description",), wide))
    if what == "published":
        table = Table(title="Published accuracies (reported, not re-run)")
        for column in ("data set", "role", "model", "accuracy %", "protocol", "source", "note"):
            table.add_column(column, overflow="fold", no_wrap=column in ("data set", "accuracy %"))
        for name in registry.names("dataset"):
            for row in registry.get("dataset", name).literature():
                add_row(table, name, *(row[c] for c in ("role", "model", "accuracy %", "protocol", "source", "note")))
        out.append(table)
    if what in ("plugins", "all"):
        table = Table(title="Plugins (entry-point group 'ferbench')")
        for column in ("entry point", "distribution", "version", "status"):
            table.add_column(column, no_wrap=True)
        for p in registry.plugins:
            status = styled("failed to load (below)", "red") if p.error else styled("loaded", "green")
            add_row(table, p.name, p.distribution, p.version, status)
        out.append(table)
    return out


def command(args: argparse.Namespace) -> int:
    """Print the tables; report each broken plugin with its traceback (exit status 1)."""
    registry = get_registry()
    out = console()
    for table in tables(registry, args.what, args.wide):
        out.print(table)
    err = console(stderr=True)
    for plugin in registry.broken:
        say(err, "[bold red]plugin {} failed to load[/]; the others loaded.", plugin.provider)
        err.print(plugin.error, markup=False, highlight=False)
    return 1 if registry.broken else 0
