"""Console output of every command, in one place: whatever comes from a plugin, a path, a data
set's files or an exception is printed as text, never read as Rich markup.

Messages are markup templates filled with :func:`safe` values (``say("[red]failed[/] {}", name)``);
table cells go through :func:`cell`. A model description or an error that holds ``[/]`` then
prints as written instead of crashing the command.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


def safe(value: object) -> str:
    """``value`` as markup that prints exactly its text."""
    return escape(str(value))


def cell(value: object) -> Text:
    """A table cell holding ``value`` as plain text."""
    return value if isinstance(value, Text) else Text(str(value))


def styled(value: object, style: str) -> Text:
    """``value`` as plain text in ``style`` (e.g. ``"bold red"``)."""
    return Text(str(value), style=style)


def add_row(table: Table, *values: object) -> None:
    """Add a row whose every cell is plain text (or an already styled :class:`Text`)."""
    table.add_row(*map(cell, values))


def console(stderr: bool = False) -> Console:
    """The console a command prints to (standard output, or standard error)."""
    return Console(stderr=stderr, highlight=False)


def say(target: Console, template: str, *values: object) -> None:
    """Print markup ``template`` with its ``{}`` fields filled by ``values`` as plain text."""
    target.print(template.format(*map(safe, values)), highlight=False)
