"""docs/tutorial.md runs: every fenced block, in order, in a fresh folder.

``bash`` blocks run line by line in bash; ``python file=PATH`` blocks are written to PATH;
other ``python`` blocks run in a fresh interpreter. ``pip install -e PACKAGE`` installs into a
private folder (put on PYTHONPATH for the later blocks) instead of the test environment, so
the tutorial's plugin never leaks into other tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import unpadded

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2).strip(), m.group(3)) for m in FENCE.finditer(TUTORIAL.read_text())]


def test_the_tutorial_has_the_steps_it_promises():
    kinds = [(kind, info) for kind, info, _ in blocks()]
    assert ("python", "file=plugins-tutorial/ferbench-my-net/ferbench_my_net/__init__.py") in kinds
    commands = " ".join(body for kind, _, body in blocks() if kind == "bash")
    for step in ("ferbench new model", "pip install -e", "ferbench list models", "ferbench run",
                 "ferbench report", "leaderboard.tex"):
        assert step in commands


@pytest.mark.slow
def test_every_block_of_the_tutorial_runs(tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "PYTHONPATH": str(site),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    work = tmp_path / "work"
    work.mkdir()
    outputs = []
    for kind, info, body in blocks():
        if kind == "python" and info.startswith("file="):
            target = work / info[len("file="):]
            assert target.parent.is_dir(), f"{target.parent} should exist by now"
            target.write_text(body)
            continue
        if kind == "python":
            command = [sys.executable, "-c", body]
        else:
            assert kind == "bash", kind
            script = re.sub(r"^pip install -e (\S+)$",
                            rf'"{sys.executable}" -m pip install --quiet --no-deps --no-build-isolation '
                            rf'--target "{site}" \1', body, flags=re.M)
            command = ["bash", "-e", "-c", script]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"block failed:\n{body}\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    text = "\n".join(outputs)
    assert "my-net" in text and "corrected t p =" in text
    board = unpadded((work / "boards" / "tutorial" / "leaderboard.md").read_text())
    assert "| my-net | 5/5 |" in board and "| smallcnn | 5/5 |" in board
