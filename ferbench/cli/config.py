"""Run configuration files: ``ferbench run --config run.toml``.

A file holds the options of ``ferbench run`` as TOML keys (``batch_size`` or ``batch-size``);
it is turned into the command-line arguments it stands for, so every option is checked and
converted exactly as on the command line, and flags given on the command line win. The
resolved options of each run are written back as ``RUN_DIR/config.toml``, which reproduces it.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

from ferbench.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Options that describe where to read a config, not a run: never read from or written to one.
_NOT_IN_FILES = {"config", "help"}
#: Options a file may hold but a saved run configuration leaves out: acts, not settings.
_NOT_SAVED = {"force"}


def whole_numbers(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated whole numbers >= 0 (``0,1,2``); in a file, a TOML list
    (``[0, 1, 2]``) or one number."""
    try:
        numbers = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas (e.g. 0,1,2), "
                                         f"got {text!r}") from None
    if any(n < 0 for n in numbers):
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 0, got {text!r}")
    return numbers


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's options by destination name (``batch_size``)."""
    return {action.dest: action for action in parser._actions
            if action.option_strings and action.dest not in _NOT_IN_FILES}


def _flag(action: argparse.Action) -> str:
    return next(s for s in action.option_strings if s.startswith("--"))


def file_arguments(path: Path, parser: argparse.ArgumentParser) -> list[str]:
    """The command-line arguments that the TOML file at ``path`` stands for.

    Unknown keys are errors naming the nearest valid key.
    """
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"config file {path} not found.") from None
    except IsADirectoryError:
        raise UserError(f"--config {path} is a folder; give the TOML file itself (a run directory's "
                        "is RUN_DIR/config.toml).") from None
    except OSError as error:
        raise UserError(f"config file {path} cannot be read ({error.strerror}).") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not valid TOML: {error}") from None
    options = _options(parser)
    tokens: list[str] = []
    for key, value in data.items():
        dest = key.replace("-", "_")
        if dest not in options:
            close = difflib.get_close_matches(dest, list(options), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"{path}: unknown key {key!r}{hint} Valid keys: {', '.join(sorted(options))}.")
        action = options[dest]
        if action.type is whole_numbers and isinstance(value, list):
            value = ",".join(map(_text, value))
        values = value if isinstance(value, list) else [value]
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise UserError(f"{path}: {key} must be true or false, got {value!r}.")
            tokens += [_flag(action)] if value else []
            continue
        if len(values) > 1 and not isinstance(action, argparse._AppendAction):
            raise UserError(f"{path}: {key} takes one value, got a list.")
        for item in values:
            _check_value(path, key, item, action)
            tokens += [_flag(action), _text(item)]
    return tokens


def _check_value(path: Path, key: str, value: Any, action: argparse.Action) -> None:
    """A file's value converted and checked as the command line would, with an error naming the
    file and the key (argparse's own would name only the flag)."""
    try:
        converted = action.type(_text(value)) if callable(action.type) else _text(value)
    except (ValueError, TypeError, argparse.ArgumentTypeError) as error:
        kind = getattr(action.type, "__name__", "value")
        raise UserError(f"{path}: {key} = {value!r} is not a valid {kind} ({error}).") from None
    if action.choices is not None and converted not in action.choices:
        raise UserError(f"{path}: {key} = {value!r} is not one of {', '.join(map(str, action.choices))}.")


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def merge(file_tokens: list[str], cli_tokens: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Arguments from the file, then from the command line, so the command line wins; a
    repeatable option given on the command line replaces the file's values of it."""
    repeatable = {_flag(a) for a in _options(parser).values() if isinstance(a, argparse._AppendAction)}
    given = {token.split("=", 1)[0] for token in cli_tokens if token.startswith("--")} & repeatable
    kept, skip = [], False
    for token in file_tokens:
        if skip:
            skip = False
            continue
        if token in given:
            skip = True
            continue
        kept.append(token)
    return kept + cli_tokens


def dump(args: argparse.Namespace, parser: argparse.ArgumentParser, raw: dict[str, list[str]]) -> str:
    """The options of a parsed ``ferbench run`` as TOML: every option with a value, repeatable
    ones as given (``raw``: destination -> the strings given), so that the file reproduces
    the run."""
    lines = ["# ferbench run configuration; `ferbench run --config THIS_FILE` runs it again"]
    for dest, action in _options(parser).items():
        if dest in _NOT_SAVED:
            continue
        value = raw.get(dest) if isinstance(action, argparse._AppendAction) else getattr(args, dest, None)
        if value is None or value == []:
            continue
        lines.append(f"{dest} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
