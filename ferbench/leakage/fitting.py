"""Statistics fitted on data that includes test samples (normalisation, class weights, ...).

What can fit anything, and on which rows:

- the training engine's ``fit`` reports, for every statistic it fits, the rows it fitted it on
  (``FitResult.fitted``); each job checks them against its test part after ``fit`` returns
  (:func:`fitted_rows`), stores the result in its record, and is marked leaky when any test row
  is among them;
- model plugins get no data when built (``build(num_classes=, in_chans=, image_size=)``), so
  they cannot fit on anything;
- data set plugins' loaders see every file; one that fits something on all of them (a mean
  image, a PCA basis, a face-alignment template) declares it in
  ``DatasetSpec.fitted_on_all``, and the audit before any training (:func:`fitted_on_test`)
  counts every test image, in every fold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from ferbench.leakage.report import Check
from ferbench.protocols import FoldPlan
from ferbench.record import FittedStatistic


def fitted_on_test(plan: FoldPlan, fitted_on_all: tuple[str, ...] = ()) -> Check:
    """Test images inside what a data set's loader fitted on every image, per fold.

    Statistics the training code fits are checked per job, on the rows ``fit`` reports
    (:func:`fitted_rows`), since they exist only once it has run.
    """
    check = Check(name="fitted on test", description="test images inside the data that a "
                  "normalisation, class weighting or other fitted statistic is computed from",
                  details={"unit": "test images", "statistics": [
                      {"statistic": "training code's statistics (normalisation, ...)", "fitted_by": "fit()",
                       "fitted_on": "checked per job against the rows fit() reports (record: fitted)"},
                      *({"statistic": statistic, "fitted_by": "data set plugin",
                         "fitted_on": "every image of the data set"} for statistic in fitted_on_all),
                  ]})
    for fold in range(plan.k):
        test = plan.test_index(fold)
        inside = len(test) * len(fitted_on_all)
        check.per_fold.append(inside)
        if inside and len(check.examples) < 5:
            check.examples.append({"fold": fold, "statistics": list(fitted_on_all), "test_images": len(test)})
    check.leaks = sum(check.per_fold)
    return check


def fitted_rows(fitted: Mapping[str, np.ndarray], part_rows: np.ndarray,
                test_index: np.ndarray) -> list[FittedStatistic]:
    """Each statistic ``fit`` fitted, with the data set rows it was fitted on and how many of
    them are test rows.

    ``fitted`` maps a statistic to positions among the rows ``fit`` was handed, ``part_rows``
    those positions' data set rows, ``test_index`` the fold's test rows.
    """
    found = []
    for statistic, positions in fitted.items():
        rows = np.unique(np.asarray(part_rows)[np.asarray(positions, dtype=np.int64)])
        found.append(FittedStatistic(
            statistic=statistic, rows=int(len(rows)), test_rows=int(np.isin(rows, test_index).sum()),
            rows_sha256=hashlib.sha256(rows.astype("<i8").tobytes()).hexdigest(),
        ))
    return found
