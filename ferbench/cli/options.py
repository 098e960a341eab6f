"""Command-line options shared by the commands that load data sets."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

from ferbench.errors import UserError
from ferbench.leakage.duplicates import STRICT_THRESHOLD
from ferbench.loading.faces import METHODS
from ferbench.similarity import DuplicateSearch
from ferbench.specs import OPTIMIZERS, PRECISIONS, SCHEDULES


def _data_dir(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH (e.g. ckplus=~/data/CK+48), got {text!r}")
    return name.strip(), Path(path).expanduser()


def _dataset_option(text: str) -> tuple[str, str, Any]:
    target, sep, raw = text.partition("=")
    name, dot, key = target.partition(".")
    if not sep or not dot or not name.strip() or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected NAME.KEY=VALUE (e.g. ferplus.labels=soft or ckplus.apex_frames=1), got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), key.strip(), value


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``, ``--dataset-option``, ``--face-crop`` and ``--strict``."""
    parser.add_argument("--data-dir", type=_data_dir, action="append", default=[], metavar="NAME=PATH",
                        help="where data set NAME lives on disk (repeatable)")
    parser.add_argument("--dataset-option", type=_dataset_option, action="append", default=[],
                        metavar="NAME.KEY=VALUE",
                        help="an option of data set NAME's loader, e.g. ferplus.labels=soft; VALUE is "
                        "a Python literal or else a string (repeatable; `ferbench list datasets` "
                        "names each data set's options)")
    parser.add_argument("--face-crop", choices=METHODS, default=None,
                        help="crop the face of every image first, for data sets with a face step: "
                        "by the data set's landmark files, or by detection (OpenCV: pip install "
                        "'ferbench[face]'); default: each data set's own (`ferbench list datasets`)")
    parser.add_argument("--strict", action="store_true",
                        help="make every skipped image file or label line an error (default: skip, "
                        "count and report them)")


def data_arguments(args: argparse.Namespace) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """``(data_dirs, dataset_options)`` from the parsed ``--data-dir`` and ``--dataset-option``."""
    data_dirs = dict(args.data_dir)
    if len(data_dirs) != len(args.data_dir):
        raise UserError("--data-dir names one data set more than once.")
    dataset_options: dict[str, dict[str, Any]] = {}
    for name, key, value in args.dataset_option:
        dataset_options.setdefault(name, {})[key] = value
    return data_dirs, dataset_options


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """``--duplicate-threshold`` (the near-duplicate detector's decision threshold) and
    ``--strict-copies``."""
    default = DuplicateSearch().threshold
    parser.add_argument("--duplicate-threshold", type=float, default=default, metavar="R",
                        help="band-pass correlation (after the best shift, rotation, scale and "
                        f"mirroring) at which two images are near duplicates (default: {default})")
    parser.add_argument("--strict-copies", action="store_true",
                        help="under a plan that keeps subjects apart, near pairs across subjects are "
                        f"suspected copies (a warning) below {STRICT_THRESHOLD}; with this flag they block "
                        "at the near-duplicate threshold")


def search_argument(args: argparse.Namespace) -> DuplicateSearch:
    """The near-duplicate search the parsed arguments ask for."""
    return DuplicateSearch(threshold=args.duplicate_threshold)


def add_recipe_arguments(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """The recipe overrides every training command takes (``--epochs`` ... ``--precision``), in a
    group named ``title``, which is returned for a command's own additions."""
    recipe = parser.add_argument_group(title)
    recipe.add_argument("--epochs", type=int)
    recipe.add_argument("--batch-size", type=int)
    recipe.add_argument("--lr", type=float)
    recipe.add_argument("--weight-decay", type=float)
    recipe.add_argument("--optimizer", choices=OPTIMIZERS)
    recipe.add_argument("--schedule", choices=SCHEDULES)
    recipe.add_argument("--input-size", type=int, help="train and test at this square size")
    recipe.add_argument("--precision", choices=PRECISIONS,
                        help="auto: bf16 autocast where the device computes bf16 natively (CPUs with "
                        "AVX512-BF16/AMX, recent GPUs), fp16 on older GPUs, else fp32; each result "
                        "records what it resolved to")
    return recipe
