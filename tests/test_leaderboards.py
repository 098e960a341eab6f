"""The published boards are what ``ferbench report`` makes of their committed run directories:
each is regenerated from the run directories its page names (``leaderboards/<board>/run``, and
others beside it, like ``paper-run``) and compared with the committed files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ferbench.report import build_report

BOARDS = Path(__file__).resolve().parents[1] / "leaderboards"
#: The one line that differs between two reports of the same results: when it was generated.
GENERATED = re.compile(r"Generated \S+ by ferbench")
#: Where the page names the run directories it was made from.
SOURCES = re.compile(r"Generated \S+ by ferbench \S+ from (.+?)\.</p>")


def _boards() -> list:
    marks = {"ckplus48": [pytest.mark.slow]}  # about half a minute: 13 rows, three plans, two run directories
    return [pytest.param(p.name, marks=marks.get(p.name, [])) for p in sorted(BOARDS.iterdir())
            if (p / "run").is_dir()]


def _in_run_directory(board: Path, path: Path) -> bool:
    """Whether ``path`` lies in a run directory of the board (``run/``, or one still running
    beside it, like ``paper-run/``: a folder with fold plans), not among what the report wrote."""
    top = board / path.relative_to(board).parts[0]
    return top.is_dir() and (top / "folds").is_dir()


@pytest.mark.parametrize("board", _boards())
def test_a_committed_board_is_reproduced_from_its_run_directory(board, tmp_path, monkeypatch):
    folder = BOARDS / board
    monkeypatch.chdir(BOARDS.parent)  # the page names its run directory as the README's command does
    sources = SOURCES.search((folder / "index.html").read_text()).group(1).split(", ")
    assert all(Path(source).parent == Path("leaderboards") / board for source in sources), sources
    outcome = build_report(sources, tmp_path, html_figures="link")
    written = {path.relative_to(tmp_path).as_posix() for path in outcome.files}
    committed = {path.relative_to(folder).as_posix() for path in folder.rglob("*")
                 if path.is_file() and path.name != "README.md" and not _in_run_directory(folder, path)}
    assert written == committed
    for name in sorted(written):
        if name.endswith(".png"):
            continue  # the figures' pixels depend on the fonts installed; their names are compared above
        new, old = (tmp_path / name).read_text(), (folder / name).read_text()
        if name == "index.html":
            new, old = GENERATED.sub("Generated", new), GENERATED.sub("Generated", old)
        assert new == old, f"{board}/{name} differs from what `ferbench report` makes of {board}/run"
