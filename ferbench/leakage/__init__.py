"""Where leakage is checked: ``audit`` runs every check of a data set under a fold plan.

One module per family of checks: :mod:`~ferbench.leakage.groups` (subject and sequence
overlap), :mod:`~ferbench.leakage.duplicates` (exact and near duplicates, label consistency,
suspected copies across subjects, copies of test images in the validation part a run selects
on, found by :mod:`ferbench.similarity`), :mod:`~ferbench.leakage.fitting` (statistics fitted on
test data). The
:class:`~ferbench.leakage.report.LeakageReport` they fill is printed by ``ferbench leakage``
and stored with every run.
"""

from __future__ import annotations

import time

from ferbench.data import Dataset
from ferbench.leakage.duplicates import block_threshold, duplicate_checks
from ferbench.leakage.fitting import fitted_on_test
from ferbench.leakage.groups import sequence_overlap, subject_overlap
from ferbench.leakage.report import Check, LeakageReport
from ferbench.protocols import FoldPlan
from ferbench.similarity import DuplicateSearch, Pairs

__all__ = ["Check", "LeakageReport", "audit", "audit_settings"]


def audit_settings(search: DuplicateSearch, strict_copies: bool = False, selection: str = "last") -> dict:
    """The audit's settings besides the search, kept with its report: a stored report is
    reused only for the same ones."""
    return {"strict_copies": strict_copies, "block_threshold": block_threshold(search, strict_copies),
            "selection": selection}


def audit(dataset: Dataset, plan: FoldPlan, search: DuplicateSearch | None = None,
          examples: int = 5, fitted_on_all: tuple[str, ...] = (), *, strict_copies: bool = False,
          selection: str = "last", copies: tuple[Pairs, Pairs] | None = None) -> LeakageReport:
    """Run every leakage check of ``dataset`` under ``plan``.

    ``search`` sets the near-duplicate detector; ``examples`` caps the examples kept per check;
    ``fitted_on_all`` names statistics the data set's loader fitted on every image.
    ``strict_copies``: near pairs across subjects block at the search's threshold, not only at
    :data:`~ferbench.leakage.duplicates.STRICT_THRESHOLD`. ``selection``: ``best`` when a run
    chooses its weights on the validation part, whose copies of test images are then leaks.
    ``copies``: the exact and near pairs, when already searched.
    """
    if plan.fingerprint != dataset.fingerprint:
        raise ValueError(f"fold plan {plan.key} was made for other data than {dataset.name!r} "
                         "(fingerprints differ); make the plan from this data set.")
    started = time.perf_counter()
    search = search or DuplicateSearch()
    checks = [
        subject_overlap(dataset, plan, examples),
        sequence_overlap(dataset, plan, examples),
        *duplicate_checks(dataset, plan, search, examples, copies, strict_copies, selection),
        fitted_on_test(plan, fitted_on_all),
    ]
    return LeakageReport(
        dataset=dataset.name, fingerprint=dataset.fingerprint, protocol=plan.protocol,
        folds=plan.k, seed=plan.seed, protocol_leaky=plan.leaky, checks=checks,
        search=search.to_dict(), seconds=time.perf_counter() - started,
        settings=audit_settings(search, strict_copies, selection),
    )
