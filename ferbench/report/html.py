"""The leaderboard as one static HTML page.

No network: figures are embedded as ``data:`` URIs (one self-contained file) or linked as the
PNG files beside the page (a page a tenth the size, for a board kept in git), the sorting script
and the style are inline, and a Content-Security-Policy forbids loading anything else. Every
piece of text is escaped with :func:`html.escape`, names coming from plugins included.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape
from urllib.parse import quote

from ferbench.leakage.report import LeakageReport
from ferbench.report import convergence, protocols
from ferbench.report.analysis import BoardAnalysis, Ranking
from ferbench.report.protocols import ProtocolComparison
from ferbench.report.tables import (
    LEAKY, LEAKY_NOTE, PAIR_NOTE, bold_note, columns, emphasised, leak_reason, main_table, pair_columns,
    pair_table, provenance, ranking_text, recall_frame, title,
)

_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'")

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .8em 0; }
th, td { padding: .3em .6em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; background: #f4f4f4; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
td.best { font-weight: bold; }
table.leaderboard td, table.pairs td { white-space: nowrap; }
table.pairs td:nth-child(2), table.pairs th:nth-child(2), table.leakage td:last-child,
table.leakage th:last-child { text-align: left; }
.leaky { color: #fff; background: #b00020; padding: .1em .4em; border-radius: 3px; font-weight: bold; }
.banner { border: 2px solid #b00020; background: #fdecee; padding: .6em 1em; margin: 1em 0; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dt { font-weight: bold; } dd { margin: 0; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
.figures figure { margin: 0; } .figures img { max-width: 560px; height: auto; }
.note { color: #555; }
.status-leak { color: #b00020; font-weight: bold; } .status-warn { color: #9a6700; }
.status-pass { color: #1a7f37; }
"""

# Sorts a table's body on a header click; cells sort by their data-sort value when present.
_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column];
        var value = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
        var number = parseFloat(value);
        return isNaN(number) ? value.toLowerCase() : number;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


#: A figure: PNG bytes to embed, or the path of its PNG file relative to the page, to link.
Figure = bytes | str


def _image(figure: Figure, alt: str) -> str:
    if isinstance(figure, str):
        source = escape(quote(figure))
    else:
        source = "data:image/png;base64," + base64.b64encode(figure).decode("ascii")
    return f'<img src="{source}" alt="{escape(alt)}" loading="lazy">'


def _figures(images: Mapping[str, Figure]) -> str:
    if not images:
        return ""
    parts = [f"<figure>{_image(figure, caption)}<figcaption>{escape(caption)}</figcaption></figure>"
             for caption, figure in images.items()]
    return '<div class="figures">' + "".join(parts) + "</div>"


def _sort_value(analysis: BoardAnalysis, label: str, key: str) -> str | None:
    """The number a leaderboard cell sorts by (its mean, unrounded), or None to sort by text."""
    summary = analysis.summary.loc[label]
    column = {"pooled": f"{analysis.primary}_pooled", "rank": "rank", "folds": "folds",
              "t_ci": f"{analysis.primary}_t_low", "boot_ci": f"{analysis.primary}_boot_low"}.get(
        key, f"{key}_mean")
    value = summary.get(column)
    if value is None:
        return None
    return repr(float(value)) if value == value else "-1e308"


def _leaderboard(analysis: BoardAnalysis) -> str:
    keys = columns(analysis)
    head = "".join(f'<th scope="col">{escape(header)}</th>' for _, header in keys)
    body = []
    for row in main_table(analysis):
        cells = []
        for key, _ in keys:
            classes = ' class="best"' if row["bold"].get(key) else ""
            sort = _sort_value(analysis, row["model"], key) if key not in ("model", "leakage") else None
            data = f' data-sort="{escape(sort)}"' if sort is not None else ""
            text = escape(str(row[key]))
            if emphasised(key, row[key]):
                text = f'<span class="leaky">{text}</span>'
            cells.append(f"<td{classes}{data}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="sortable leaderboard"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _pairs(analysis: BoardAnalysis) -> str:
    rows = pair_table(analysis)
    if not rows:
        return ""
    keys = pair_columns(analysis)
    head = "".join(f"<th>{escape(header)}</th>" for _, header in keys)
    body = "".join("<tr>" + "".join(f"<td>{escape(row[key])}</td>" for key, _ in keys) + "</tr>"
                   for row in rows)
    return (f"<h3>Pairwise comparisons ({escape(analysis.primary)})</h3>"
            '<p class="note">Raw and Holm-adjusted p-values; Holm adjusts within each test\'s family of '
            f"pairs; {escape(PAIR_NOTE)}. The paired t-test without correction is anti-conservative over "
            "CV folds and shown only as an extra.</p>"
            f'<table class="sortable pairs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def _leakage(report: LeakageReport | None) -> str:
    if report is None:
        return '<p class="note">No stored leakage audit for this fold plan.</p>'
    rows = []
    for check in report.checks:
        folds = (f"{sum(1 for n in check.per_fold if n)}/{len(check.per_fold)}" if check.per_fold else "–")
        found = "–" if check.status == "not checked" else f"{check.leaks} {check.details.get('unit', '')}"
        examples = "; ".join(", ".join(f"{k} {v}" for k, v in example.items()) for example in check.examples[:3])
        rows.append(
            f"<tr><td>{escape(check.name)}</td>"
            f'<td class="status-{escape(check.status.replace(" ", "-"))}">{escape(check.status)}</td>'
            f"<td>{escape(found)}</td><td>{escape(folds)}</td>"
            f"<td>{escape(check.reason or check.description)}"
            + (f"<br><small>e.g. {escape(examples)}</small>" if examples else "") + "</td></tr>"
        )
    return ("<h3>Leakage report</h3><table class=\"leakage\"><thead><tr><th>check</th><th>status</th>"
            "<th>found</th><th>folds with any</th><th>what it counts</th></tr></thead><tbody>"
            + "".join(rows) + f"</tbody></table><p class=\"note\">Audit took {report.seconds:.1f} s.</p>")


def _training(analysis: BoardAnalysis) -> str:
    header, rows = convergence.rows(analysis.board)
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return (f'<h3>Training</h3><table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            f'</table><p class="note">{escape(convergence.NOTE)}</p>')


def _comparison(comparison: ProtocolComparison) -> str:
    header, rows = protocols.table(comparison)
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    verdicts = "".join(f"<dt>{escape(name)}</dt><dd>{escape(text)}</dd>"
                       for name, text in protocols.explanation(comparison))
    return (f'<section id="protocols-{escape(comparison.dataset)}"><h2>{escape(protocols.title(comparison))}</h2>'
            f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f'<p class="note">{escape(protocols.NOTE)}</p><dl>{verdicts}</dl></section>')


def page(analyses: list[BoardAnalysis], figures: Mapping[str, Mapping[str, Mapping[str, Figure]]],
         across: Ranking | None = None, across_png: Figure | None = None, generated: str = "",
         comparisons: list[ProtocolComparison] | None = None, last: list[str] | None = None) -> str:
    """The HTML document. ``figures[board key][section]`` maps captions to figures (PNG bytes to
    embed, or a relative path to link); sections are ``ranks``, ``confusion``, ``roc``,
    ``curves`` and ``validation``. ``comparisons`` (one data set under several protocols) come
    first; ``last``, HTML sections, after everything else (the published figures)."""
    body = ["<h1>ferbench leaderboard</h1>"]
    if generated:
        body.append(f'<p class="note">{escape(generated)}</p>')
    body += [_comparison(comparison) for comparison in comparisons or ()]
    for analysis in analyses:
        key = analysis.board.key
        board_figures = figures.get(key, {})
        badge = f' <span class="leaky">{LEAKY}</span>' if analysis.board.leaky else ""
        body.append(f'<section id="{escape(key)}"><h2>{escape(title(analysis))}{badge}</h2>')
        if analysis.board.leaky:
            body.append(f'<div class="banner"><strong>{LEAKY}</strong>: {escape(leak_reason(analysis))}. '
                        f"{escape(LEAKY_NOTE)}</div>")
        body.append("<dl>" + "".join(f"<dt>{escape(name)}</dt><dd>{escape(value)}</dd>"
                                     for name, value in provenance(analysis)) + "</dl>")
        body.append(_leaderboard(analysis))
        body.append(f'<p class="note">Click a column header to sort. {escape(bold_note(analysis))}</p>')
        if not analysis.recall.empty:
            recall = recall_frame(analysis)
            head = "".join(f"<th>{escape(str(name))}</th>" for name in recall.columns)
            rows = "".join("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>"
                           for row in recall.itertuples(index=False))
            body.append("<h3>Recall per class (%, pooled test predictions; (!) marks 0 %)</h3>"
                        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>')
        body.append(_pairs(analysis))
        if analysis.ranking:
            body.append(f"<h3>Ranks</h3><p>{escape(ranking_text(analysis.ranking))}</p>")
        body.append(_figures(board_figures.get("ranks", {})))
        body += [f'<p class="note">{escape(note)}</p>' for note in analysis.notes]
        for section, heading in (("calibration", "Calibration: accuracy against confidence, 15 bins "
                                  "(pooled test predictions)"),
                                 ("confusion", "Confusion matrices (pooled test predictions, row-normalised)"),
                                 ("roc", "ROC curves, one-vs-rest per class (pooled test predictions)"),
                                 ("curves", "Training curves (training loss per epoch, each fold)"),
                                 ("validation", "Validation accuracy per epoch, each fold (the inner "
                                  "validation part that chose the evaluated epoch; never the test part)")):
            if section == "curves":
                body.append(_training(analysis))
            if board_figures.get(section):
                body.append(f"<h3>{escape(heading)}</h3>" + _figures(board_figures[section]))
        body.append(_leakage(analysis.board.leakage))
        body.append("</section>")
    if across is not None:
        body.append(f"<section id=\"across\"><h2>Across data sets</h2><p>{escape(ranking_text(across))}</p>")
        if across_png:
            body.append(_figures({"critical-difference diagram across data sets": across_png}))
        body.append("</section>")
    body += last or []
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>ferbench leaderboard</title><style>{_STYLE}</style></head><body>"
            + "\n".join(part for part in body if part)
            + f"<script>{_SCRIPT}</script></body></html>\n")
