"""The numbers the leaderboard READMEs quote are the ones their committed run data give:
``leaderboards/check_claims.py`` recomputes each one and finds it in its README."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def claims() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("check_claims", ROOT / "leaderboards" / "check_claims.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _failures(outcome: list) -> list[str]:
    return [f"{claim.readme}: {claim.expected}\n  {problem}" for claim, problem in outcome if problem is not None]


def test_every_number_quoted_from_the_run_data_is_recomputed_and_stated(claims):
    outcome = claims.results(data=None)
    assert len(outcome) > 100
    assert {claim.readme for claim, _ in outcome} == {
        "README.md", "ckplus48/README.md", "ferplus/README.md", "ferplus-label-csv/README.md",
        "synthetic-quick/README.md"}
    assert not _failures(outcome)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs ../shared/data")
def test_the_claims_on_the_data_sets_and_the_label_csv_rescoring_hold(claims):
    outcome = claims.verify([claim for group in claims.DATA_GROUPS for claim in group(SHARED_DATA)])
    assert any("label.csv" in claim.expected for claim, _ in outcome)
    assert not _failures(outcome)


def test_a_wrong_number_or_an_unsupported_statement_is_reported(claims):
    claim = claims.Claim("README.md", "gives {}–{} % to", ("95.0", "99.5"))
    assert claims.check(claim, "the protocol gives 95.0–99.5\n% to every model") is None
    problem = claims.check(claim, "the protocol gives 95.0–100 % to every model")
    assert "95.0 | 100" in problem and "95.0 | 99.5" in problem
    assert "does not say" in claims.check(claim, "another sentence")
    unsupported = claims.Claim("README.md", "in every fold", holds=False)
    assert "do not bear it out" in claims.check(unsupported, "found in every fold")
