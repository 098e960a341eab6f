"""``ferbench new model|dataset|metric NAME``: start a plugin package."""

from __future__ import annotations

import argparse
from pathlib import Path

from ferbench.cli.console import console
from ferbench.scaffold import KINDS, scaffold


def add_parser(commands) -> None:
    """Register the ``new`` subcommand."""
    parser = commands.add_parser(
        "new", help="write a new model, data set or metric plugin package, ready for pip install -e",
        description="Write an installable plugin package: pyproject.toml with the `ferbench` entry "
        "point, the hook implemented around a documented skeleton, and a test that runs it on the "
        "synthetic set. Never overwrites.",
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("name", help="the name it is registered under (e.g. my-net)")
    parser.add_argument("--dir", type=Path, default=Path("."), help="where to create the package (default: .)")
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    """Write the package and say what to do next."""
    target = scaffold(args.kind, args.name, args.dir)
    console().print(f"wrote {target}\nnext: pip install -e '{target}[dev]' && ferbench list {args.kind}s "
                    f"&& pytest {target}", markup=False)
    return 0
