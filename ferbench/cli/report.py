"""``ferbench report``: leaderboard tables, figures and significance tests from run directories."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from rich.table import Table

from ferbench.cli.console import add_row, console, styled
from ferbench.errors import UserError

#: Kept in step with ferbench.report.HTML_FIGURES, which this module does not import (see command).
HTML_FIGURES = ("embed", "link")

#: Pairwise-table columns printed on the console (the files have them all).
PAIR_SUMMARY = ("a", "b", "difference", "nb_holm", "bayes", "signflip_holm", "mcnemar_holm")


def add_parser(commands) -> None:
    """Register the ``report`` subcommand."""
    parser = commands.add_parser(
        "report", help="leaderboards with significance tests from run directories",
        description="Merge run directories (results on the same fold plans are paired; different "
        "fold assignments are refused) and write leaderboard.md, leaderboard.csv, pairwise.csv, "
        "leaderboard.tex (booktabs), index.html (sortable; self-contained unless --html-figures link) "
        "and figures/*.png.",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="run directories (the --out of `ferbench run`)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the leaderboard into")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level for bold best models and critical differences (default: 0.05)")
    parser.add_argument("--metric", default="accuracy",
                        help="metric that orders, ranks and pairwise-tests the models (default: accuracy)")
    parser.add_argument("--rope", type=float, default=1.0,
                        help="region of practical equivalence of the Bayesian test, in points of the "
                        "metric (default: 1, i.e. ±1 point of accuracy)")
    parser.add_argument("--html-figures", choices=HTML_FIGURES, default="embed",
                        help="embed the figures in index.html, one self-contained file (default), or link "
                        "the PNG files in figures/, a much smaller page for a board kept in git")
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    """Build the leaderboard and print its main tables."""
    # Imported here: matplotlib, scipy and statsmodels are needed by this command only.
    from ferbench.report import build_report, protocols
    from ferbench.report.tables import LEAKY, columns, main_table, pair_columns, pair_table, title

    if not (0 < args.alpha < 1) or math.isnan(args.alpha):
        raise UserError(f"--alpha must be between 0 and 1 (got {args.alpha}); 0.05 is usual.")
    if not (math.isfinite(args.rope) and args.rope >= 0):
        raise UserError(f"--rope must be a number of points >= 0 (got {args.rope}); 1 is usual.")
    outcome = build_report(args.run_dirs, args.out, alpha=args.alpha, metric=args.metric,
                           html_figures=args.html_figures, rope=args.rope / 100)
    out = console()
    for analysis in outcome.analyses:
        table = Table(title=title(analysis), title_style="bold red" if analysis.board.leaky else "bold")
        shown = {"model", "folds", "pooled", "uncopied", "rank", "leakage", *analysis.metrics[:3]}
        keys = [(key, header) for key, header in columns(analysis) if key in shown]
        for key, header in keys:
            table.add_column(header, justify="left" if key == "model" else "right", no_wrap=key == "model")
        for row in main_table(analysis):
            add_row(table, *[
                (styled(LEAKY, "bold red") if key == "leakage" and row[key] == LEAKY
                 else styled(row[key], "bold") if row["bold"].get(key) else row[key])
                for key, _ in keys
            ])
        out.print(table)
        pairs = pair_table(analysis)
        if pairs:
            tests = Table(title=f"pairwise on {analysis.primary} (full table: leaderboard.md, pairwise.csv)")
            shown = [(key, header) for key, header in pair_columns(analysis) if key in PAIR_SUMMARY]
            for key, header in shown:
                tests.add_column(header, justify="left" if key in ("a", "b") else "right", no_wrap=key in ("a", "b"))
            for pair in pairs:
                add_row(tests, *[pair[key] for key, _ in shown])
            out.print(tests)
        for note in analysis.notes:
            out.print(f"  note: {note}", markup=False)
    for comparison in outcome.comparisons:
        header, rows = protocols.table(comparison)
        table = Table(title=protocols.title(comparison), title_style="bold")
        for n, column in enumerate(header):
            table.add_column(column, justify="left" if n == 0 else "right", no_wrap=n == 0)
        for row in rows:
            add_row(table, *row)
        out.print(table)
        for name, verdict in protocols.explanation(comparison):
            out.print(f"  {name}: {verdict}", markup=False)
    out.print(f"wrote {len(outcome.files)} files to {args.out}: leaderboard.md, leaderboard.csv, "
              "pairwise.csv, leaderboard.tex, index.html, figures/"
              + (", protocols.csv" if outcome.comparisons else ""), markup=False)
    return 0
