"""Published figures beside the measured ones: what each data set's plugin says was published on
it (``DatasetSpec.best_published`` and ``published``), as the boards print them, marked as
reported and not re-run.

They come from the plugin registry, not from the run directory: they are facts about the
literature, the same for every run on the data set. A data set whose plugin is not installed
(or lists none) gets no section.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from ferbench.errors import UserError
from ferbench.registry import get_registry
from ferbench.report.tables import escape_markdown, markdown_table

#: The columns of a published-figures table, in order.
COLUMNS = ("role", "model", "accuracy %", "protocol", "source", "note")


def literature(datasets: list[str]) -> dict[str, list[dict[str, str]]]:
    """Data set name -> its published figures (:meth:`DatasetSpec.literature` rows), for each of
    ``datasets`` (in order, once each) whose plugin is installed and lists any."""
    registry = get_registry()
    found = {}
    for name in dict.fromkeys(datasets):
        try:
            rows = registry.get("dataset", name).literature()
        except UserError:  # the run's data set is not registered here
            continue
        if rows:
            found[name] = rows
    return found


def title(dataset: str) -> str:
    return f"Published figures on {dataset} (reported, not re-run)"


def note(dataset: str) -> str:
    return (f"Accuracies published on {dataset}, as its plugin lists them (`ferbench list published`): "
            "first the sanity band, the best credible figure under a stated protocol, above which a mean "
            "is marked \"verify protocol\"; then the others from the highest down. None was re-run here, "
            "and none is comparable with the numbers above unless its protocol is the same.")


def markdown(found: dict[str, list[dict[str, str]]]) -> list[str]:
    """One section per data set: heading, note and table."""
    out: list[str] = []
    for dataset, rows in found.items():
        out += [f"## {escape_markdown(title(dataset))}", "", escape_markdown(note(dataset)), ""]
        out += markdown_table(pd.DataFrame(rows)[list(COLUMNS)])
        out.append("")
    return out


def html(found: dict[str, list[dict[str, str]]]) -> list[str]:
    """One ``<section>`` per data set."""
    sections = []
    for dataset, rows in found.items():
        head = "".join(f"<th>{escape(column)}</th>" for column in COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{escape(row[column])}</td>" for column in COLUMNS) + "</tr>"
                       for row in rows)
        sections.append(f'<section id="published-{escape(dataset)}"><h2>{escape(title(dataset))}</h2>'
                        f'<p class="note">{escape(note(dataset))}</p>'
                        f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
                        "</section>")
    return sections
