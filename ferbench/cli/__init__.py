"""The ``ferbench`` command: one module per subcommand, user errors caught once, here."""

from __future__ import annotations

import argparse
import sys

from ferbench.cli import leakage as leakage_command
from ferbench.cli import list as list_command
from ferbench.cli import new as new_command
from ferbench.cli import pretrain as pretrain_command
from ferbench.cli import report as report_command
from ferbench.cli import run as run_command
from ferbench.cli import show as show_command
from ferbench.cli.console import console, say
from ferbench.errors import UserError

COMMANDS = (list_command, run_command, pretrain_command, show_command, leakage_command, report_command,
            new_command)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ferbench",
        description="Leakage-checked benchmarking of facial expression recognition models: "
        "identical cross-validation folds for every model, every fold's predictions stored.",
        epilog="Run `ferbench COMMAND --help` for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    err = console(stderr=True)
    try:
        if argv[:1] == ["run"]:
            argv = run_command.with_config(argv)
        args = build_parser().parse_args(argv)
        args.argv = argv
        return args.handler(args)
    except UserError as error:
        say(err, "[bold red]ferbench: error:[/] {}", error)
        return 2
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: finished jobs are saved; re-run the same command to resume.")
        return 130

