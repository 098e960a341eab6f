"""``ferbench leakage``: audit a data set's folds for leakage, without training anything."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ferbench.cli.console import add_row, console, safe, styled
from ferbench.cli.options import add_data_arguments, add_search_arguments, data_arguments, search_argument
from ferbench.data import Dataset
from ferbench.errors import UserError
from ferbench.factory import load_dataset
from ferbench.leakage import LeakageReport, audit
from ferbench.leakage.crossdata import CrossReport, scan
from ferbench.leakage.duplicates import pair_rows
from ferbench.protocols import PROTOCOLS, assign_folds
from ferbench.registry import get_registry
from ferbench.similarity import copy_pairs
from ferbench.specs import SELECTIONS
from ferbench.store import atomic_write

#: Exit status when a leak is found (0: clean; 2: a usage error).
EXIT_LEAKY = 3

_STYLES = {"pass": "green", "leak": "bold red", "warn": "yellow", "not checked": "dim"}


def add_parser(commands) -> None:
    """Register the ``leakage`` subcommand."""
    parser = commands.add_parser(
        "leakage", help="check a data set's folds for leakage (no training)",
        description="Make the fold plan `ferbench run` would make and check it: subject and "
        "sequence overlap, exact and near duplicates across the sides of each fold, copies of test "
        "images in the validation part a run selects on, statistics fitted on test data, and "
        "(warnings) suspected copies across subjects and duplicates with different labels. Exit status 0 "
        "when clean, 3 when a leak is found. With --against, scan for images that two data sets "
        "share instead (exit 3 when any are found).",
    )
    parser.add_argument("--dataset", required=True, help="the data set to check")
    parser.add_argument("--against", metavar="OTHER",
                        help="count the images of --dataset that have an exact or near copy in data set "
                        "OTHER (the same detector as the within-data-set check); folds are not used")
    add_data_arguments(parser)
    parser.add_argument("--protocol", default="subject", choices=sorted(PROTOCOLS),
                        help="fold protocol (default: subject)")
    parser.add_argument("--folds", type=int, default=10, help="number of folds k (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="fold seed (default: 0)")
    parser.add_argument("--selection", choices=SELECTIONS, default="last",
                        help="the runs' --selection: with best, copies of test images in an official "
                        "validation split are leaks (default: last, where they are a warning)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON here")
    parser.add_argument("--pairs", type=Path, metavar="FILE",
                        help="also write every copy pair as CSV here (both paths, score, kind exact, "
                        "near or mirrored, whether it crosses a fold, labels), not only those the "
                        "checks list")
    parser.add_argument("--examples", type=int, default=5, help="examples kept per check (default: 5)")
    add_search_arguments(parser)
    parser.set_defaults(handler=command)


def render(report: LeakageReport) -> list:
    """Rich renderables: the checks table, then each finding's examples."""
    title = (f"Leakage checks: {report.dataset}, protocol {report.protocol}, {report.folds} fold(s), "
             f"seed {report.seed}")
    table = Table(title=title)
    for column in ("check", "status", "found", "folds with any", "what it counts"):
        table.add_column(column, justify="right" if column in ("found", "folds with any") else "left")
    for check in report.checks:
        folds = f"{sum(1 for n in check.per_fold if n)}/{len(check.per_fold)}" if check.per_fold else "-"
        found = "-" if check.status == "not checked" else f"{check.leaks} {check.details.get('unit', '')}"
        add_row(table, check.name, styled(check.status, _STYLES[check.status]), found, folds,
                check.reason or check.description)
    parts: list = [table]
    for check in report.checks:
        for example in check.examples:
            parts.append(f"  [{_STYLES[check.status]}]{safe(check.name)}[/]: " + safe(", ".join(
                f"{key} {value}" for key, value in example.items())))
    if report.protocol_leaky:
        parts.append(f"[bold red]LEAKY protocol[/]: {PROTOCOLS[report.protocol][0]}.")
    verdict = ("[bold red]LEAKY[/]: " + safe("; ".join(report.summary())) if report.leaky
               else "[green]no leak found[/]")
    parts.append(f"{verdict} ({report.seconds:.1f} s)")
    return parts


def render_cross(report: CrossReport) -> list:
    """Rich renderables for a scan of one data set against another."""
    table = Table(title=f"Images of {report.dataset} ({report.n}) with a copy in {report.against} "
                  f"({report.n_against})")
    for column in ("copy", "images", "share"):
        table.add_column(column, justify="left" if column == "copy" else "right")
    for kind, count in (("exact (identical pixels)", report.exact), ("near (not exact)", report.near)):
        add_row(table, kind, count, f"{100 * count / max(report.n, 1):.1f} %")
    parts: list = [table]
    parts += ["  " + safe(", ".join(f"{key} {value}" for key, value in example.items())) for example in report.examples]
    verdict = (f"[bold red]shared images[/]: a model trained or pretrained on {report.against} has seen "
               f"these {report.dataset} images" if report.overlapping else "[green]no shared image found[/]")
    parts.append(f"{verdict} ({report.seconds:.1f} s)")
    return parts


def _print_notes(out: Console, *datasets: Dataset) -> None:
    """What each loader skipped, converted, cropped and dropped, before the verdict."""
    for dataset in datasets:
        for note in dataset.notes:
            out.print(f"note {dataset.name}: {note}", markup=False)


def _cross(args: argparse.Namespace, data_dirs: dict, dataset_options: dict) -> int:
    if args.against == args.dataset:
        raise UserError("--against needs another data set than --dataset; for overlap inside one data "
                        "set's folds, leave --against out.")
    loaded = [load_dataset(name, data_dirs.get(name), dataset_options.get(name), args.strict, args.face_crop)
              for name in (get_registry().get("dataset", n).name for n in (args.dataset, args.against))]
    report = scan(*loaded, search_argument(args), args.examples)
    if args.json:
        atomic_write(args.json, json.dumps(report.to_dict(), indent=1).encode())
    out = console()
    _print_notes(out, *loaded)
    for part in render_cross(report):
        out.print(part)
    return EXIT_LEAKY if report.overlapping else 0


def write_pairs(path: Path, rows: list[dict]) -> None:
    """Every copy pair as CSV, text cells that a spreadsheet would run as a formula defused."""
    import pandas as pd

    from ferbench.report.tables import csv_text

    columns = ["first", "second", "score", "kind", "crosses_fold", "first_label", "second_label"]
    frame = pd.DataFrame(rows, columns=[*columns, *([] if not rows or "same_subject" not in rows[0]
                                                    else ["same_subject"])])
    atomic_write(path, csv_text(frame).encode())


def command(args: argparse.Namespace) -> int:
    """Audit one data set's fold plan (or scan it against another); exit 3 when it leaks."""
    data_dirs, dataset_options = data_arguments(args)
    spec = get_registry().get("dataset", args.dataset)
    if args.examples < 0:
        raise UserError("--examples must be 0 or more.")
    if args.against:
        return _cross(args, data_dirs, dataset_options)
    dataset = load_dataset(spec.name, data_dirs.get(spec.name), dataset_options.get(spec.name), args.strict,
                           args.face_crop)
    search = search_argument(args)
    started = time.perf_counter()
    copies = copy_pairs(dataset.images, search)
    plan = assign_folds(dataset, args.protocol, args.folds, args.seed, search, copies)
    report = audit(dataset, plan, search, args.examples, spec.fitted_on_all, strict_copies=args.strict_copies,
                   selection=args.selection, copies=copies)
    report.seconds = time.perf_counter() - started  # the search, searched once for plan and audit, included
    if args.json:
        atomic_write(args.json, report.to_json().encode())
    if args.pairs:
        write_pairs(args.pairs, pair_rows(dataset, plan, *copies))
    out = console()
    _print_notes(out, dataset)
    out.print(f"folds {plan.key}: {plan.splitter}", markup=False)
    for part in render(report):
        out.print(part)
    found = len(copies[0]) + len(copies[1])
    if args.pairs:
        out.print(f"wrote {found} copy pair(s) to {args.pairs}", markup=False)
    elif found:
        out.print(f"{found} exact or near copy pair(s) in all, within one side of a fold too; "
                  "--pairs FILE writes every one as CSV", markup=False)
    return EXIT_LEAKY if report.leaky else 0
