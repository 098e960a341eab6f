"""Shared fixtures: offline hub, a fresh plugin registry, a CLI runner, tiny data sets."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["COLUMNS"] = "160"  # rich tables print in full when output is captured

import ferbench  # noqa: E402
from ferbench.cli import main  # noqa: E402
from ferbench.registry import reset_registry  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def image_cache_dir(tmp_path_factory):
    """The decoded-image cache of the whole session lives in a temporary folder."""
    old = os.environ.get("FERBENCH_CACHE_DIR")
    os.environ["FERBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("ferbench-cache"))
    yield Path(os.environ["FERBENCH_CACHE_DIR"])
    if old is None:
        os.environ.pop("FERBENCH_CACHE_DIR", None)
    else:
        os.environ["FERBENCH_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def fresh_registry():
    """Each test sees the plugins installed at that moment, and leaves none behind."""
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: returns (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        status = main([str(a) for a in args])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def make_dataset(n_subjects: int = 6, per_subject: int = 6, n_classes: int = 3, size: int = 12,
                 seed: int = 0, subjects: bool = True) -> ferbench.Dataset:
    """A small random Dataset with subjects and sequences (two frames per sequence)."""
    rng = np.random.default_rng(seed)
    n = n_subjects * per_subject
    subject = np.repeat([f"S{i:03d}" for i in range(n_subjects)], per_subject)
    labels = np.tile(np.arange(per_subject) % n_classes, n_subjects)
    sequence = np.array([f"{s}_{i // 2:03d}" for s, i in zip(subject, np.tile(np.arange(per_subject), n_subjects))])
    return ferbench.Dataset(
        name="tiny",
        classes=ferbench.EMOTIONS[1:1 + n_classes],
        images=rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8),
        labels=labels,
        paths=[f"img{i}.png" for i in range(n)],
        subjects=subject if subjects else None,
        sequences=sequence if subjects else None,
    )


def unpadded(markdown: str) -> str:
    """``markdown`` with the padding around its table cells taken out: ``| a | b |`` whatever the
    column widths."""
    lines = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            line = "| " + " | ".join(cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]) + " |"
        lines.append(line)
    return "\n".join(lines)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """``installed(dist, module, source)`` installs a plugin distribution for this test only
    (in a site folder on ``sys.path``) and reloads the registry."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(dist: str, module: str, source: str) -> None:
        install_plugin(site, dist, module, source)
        reset_registry()

    return install


def install_plugin(site: Path, dist: str, module: str, source: str, entry_name: str | None = None) -> None:
    """Lay out an installed distribution in ``site`` (a module plus its .dist-info with a
    ``ferbench`` entry point), exactly as pip would, so importlib.metadata discovers it."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[ferbench]\n{entry_name or module} = {module}\n")
