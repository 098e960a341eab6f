"""Statistics fitted on data that includes test samples (normalisation, class weights, ...).

What can fit anything, and on which rows:

- the engine's ``fit`` (:data:`ferbench.engine.train.FITTED_STATISTICS`) fits on the rows
  that ``run_job`` hands it, which are ``FoldPlan.train_index(fold)``: the check counts test
  rows among them, fold by fold;
- model plugins get no data when built (``build(num_classes=, in_chans=, image_size=)``), so
  they cannot fit on anything;
- data set plugins' loaders see every file; one that fits something on all of them (a mean
  image, a PCA basis, a face-alignment template) declares it in
  ``DatasetSpec.fitted_on_all``, and every test image then counts, in every fold.
"""

from __future__ import annotations

import numpy as np

from ferbench.engine.train import FITTED_STATISTICS
from ferbench.leakage.report import Check
from ferbench.protocols import FoldPlan


def fitted_on_test(plan: FoldPlan, fitted_on_all: tuple[str, ...] = ()) -> Check:
    """Test rows inside the rows each statistic is fitted on, per fold."""
    check = Check(name="fitted on test", description="test images inside the data that a "
                  "normalisation, class weighting or other fitted statistic is computed from",
                  details={"unit": "test images", "statistics": []})
    for statistic in FITTED_STATISTICS:
        check.details["statistics"].append({"statistic": statistic, "fitted_by": "ferbench engine",
                                            "fitted_on": "training part of each fold"})
    for statistic in fitted_on_all:
        check.details["statistics"].append({"statistic": statistic, "fitted_by": "data set plugin",
                                            "fitted_on": "every image of the data set"})
    for fold in range(plan.k):
        test = plan.test_index(fold)
        inside = int(np.isin(plan.train_index(fold), test).sum()) * len(FITTED_STATISTICS)
        inside += len(test) * len(fitted_on_all)
        check.per_fold.append(inside)
        if inside and len(check.examples) < 5:
            check.examples.append({"fold": fold, "statistics": list(fitted_on_all) or
                                   list(FITTED_STATISTICS), "test_images": len(test)})
    check.leaks = sum(check.per_fold)
    return check
