"""Leaderboards from run directories: tables, figures, the HTML page.

``build_report(run_dirs, out)`` merges run directories into boards (:mod:`.collect`), computes
the statistics (:mod:`.analysis`), draws the figures (:mod:`.figures`) and writes
``leaderboard.md``, ``leaderboard.csv``, ``pairwise.csv``, ``leaderboard.tex``, ``index.html``
and ``figures/*.png`` (:mod:`.tables`, :mod:`.html`; the page embeds the figures or links those
files); where one data set was run under several
protocols, ``protocols.csv`` and a first section comparing them (:mod:`.protocols`); last, the
figures published on each data set, from its plugin (:mod:`.published`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from ferbench.report import figures, html, protocols, published, tables
from ferbench.report.analysis import BoardAnalysis, Ranking, across_datasets, analyse_board
from ferbench.report.calibration import reliability
from ferbench.report.collect import Board, collect
from ferbench.store import atomic_write

__all__ = ["ReportOutcome", "build_report", "collect", "analyse_board", "across_datasets"]


#: Figure sections that leaderboard.md shows too (index.html shows them all).
MARKDOWN_FIGURES = ("ranks", "calibration", "confusion")

#: How index.html carries its figures: inside the page, or as links to ``figures/*.png``.
HTML_FIGURES = ("embed", "link")


@dataclass
class ReportOutcome:
    """What ``build_report`` computed and the files it wrote."""

    analyses: list[BoardAnalysis]
    across: Ranking | None
    files: list[Path]
    comparisons: list[protocols.ProtocolComparison]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def _board_figures(board: Board, analysis: BoardAnalysis) -> dict[str, dict[str, bytes]]:
    drawn: dict[str, dict[str, bytes]] = {"ranks": {}, "calibration": {}, "confusion": {}, "roc": {},
                                          "curves": {}, "validation": {}}
    if analysis.ranking is not None:
        drawn["ranks"]["critical-difference diagram"] = figures.cd_diagram_png(
            analysis.ranking.friedman.ranks, analysis.ranking.nemenyi.cd, analysis.ranking.cliques,
            f"{board.plan.dataset} ({board.plan.protocol}): mean rank over folds on {analysis.primary}")
    tested = {label: entry for label, entry in board.entries.items() if entry.proba.size}
    if tested:
        drawn["calibration"]["reliability diagram"] = figures.reliability_png(
            {label: reliability(entry.predictions["y_true"].to_numpy(dtype="int64"), entry.proba)
             for label, entry in tested.items()},
            f"{board.plan.dataset} ({board.plan.protocol}): reliability, pooled test predictions")
    for label, entry in board.entries.items():
        if entry.proba.size == 0:
            continue
        y_true = entry.predictions["y_true"].to_numpy()
        drawn["confusion"][label] = figures.confusion_matrix_png(
            y_true, entry.predictions["y_pred"].to_numpy(), board.classes, label)
        drawn["roc"][label] = figures.roc_png(y_true, entry.proba, board.classes, label)
        curves = {board.fold_name(fold): values for fold, values in entry.curves.items() if values}
        if curves:
            drawn["curves"][label] = figures.curves_png(curves, label, "training loss")
        if entry.val_curves:
            drawn["validation"][label] = figures.curves_png(
                {board.fold_name(fold): values for fold, values in entry.val_curves.items()}, label,
                "validation accuracy")
    return drawn


def build_report(run_dirs: Sequence[str | Path], out: str | Path, alpha: float = 0.05,
                 metric: str = "accuracy", html_figures: str = "embed", rope: float = 0.01) -> ReportOutcome:
    """Write the leaderboard of ``run_dirs`` into ``out``; see the module docstring for the files.

    ``metric`` is the one boards are sorted, ranked and pairwise-tested on (all metrics get
    summaries and a significance-checked bold best). ``html_figures="embed"`` makes index.html
    one self-contained file; ``"link"`` points it at the PNG files written beside it, which keeps
    a board stored in git from holding every figure twice. ``rope``: the Bayesian test's region of
    practical equivalence, in the metric's units (0.01 = 1 point).
    """
    if html_figures not in HTML_FIGURES:
        raise ValueError(f"html_figures must be one of {', '.join(HTML_FIGURES)} (got {html_figures!r})")
    link = html_figures == "link"
    out = Path(out)
    boards = collect(run_dirs)
    analyses = [analyse_board(board, alpha=alpha, primary=metric, rope=rope) for board in boards]
    across = across_datasets(analyses, alpha=alpha)
    files: list[Path] = []

    def write(name: str, data: bytes) -> None:
        atomic_write(out / name, data)
        files.append(out / name)

    shown: dict[str, dict[str, dict[str, html.Figure]]] = {}
    paths: dict[str, dict[str, str]] = {}
    for board, analysis in zip(boards, analyses):
        shown[board.key] = {}
        paths[board.key] = {}
        for section, images in _board_figures(board, analysis).items():
            shown[board.key][section] = {}
            for caption, png in images.items():
                name = f"figures/{_slug(board.key)}/{section}-{_slug(caption)}.png"
                write(name, png)
                shown[board.key][section][caption] = name if link else png
                if section in MARKDOWN_FIGURES:
                    paths[board.key][f"{section}: {caption}"] = name
    across_figure: html.Figure | None = None
    if across is not None:
        across_png = figures.cd_diagram_png(across.friedman.ranks, across.nemenyi.cd, across.cliques,
                                            f"mean rank over {across.blocks} on {across.metric}")
        write("figures/across-datasets-cd.png", across_png)
        across_figure = "figures/across-datasets-cd.png" if link else across_png

    generated = (f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by ferbench "
                 f"{version('ferbench')} from {', '.join(str(Path(d)) for d in run_dirs)}.")
    comparisons = protocols.compare_protocols(analyses)
    literature = published.literature([board.plan.dataset for board in boards])
    write("leaderboard.md", tables.markdown(analyses, across, lambda a: paths[a.board.key],
                                            protocols.markdown(comparisons), published.markdown(literature)).encode())
    write("leaderboard.csv", tables.csv(analyses).encode())
    write("pairwise.csv", tables.pairs_csv(analyses).encode())
    if comparisons:
        write("protocols.csv", protocols.csv(comparisons).encode())
    write("leaderboard.tex", tables.latex(analyses).encode())
    write("index.html", html.page(analyses, shown, across, across_figure, generated, comparisons,
                                  published.html(literature)).encode())
    return ReportOutcome(analyses, across, files, comparisons)
