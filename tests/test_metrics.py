import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from ferbench.registry import get_registry


def metric(name):
    return get_registry().get("metric", name).fn


Y = np.array([0, 0, 1, 1, 2, 2])
P = np.array([[.8, .1, .1], [.3, .6, .1], [.2, .7, .1], [.1, .8, .1], [.1, .2, .7], [.5, .2, .3]])


def test_values_match_sklearn():
    assert metric("accuracy")(Y, P) == pytest.approx(4 / 6)
    assert metric("macro_f1")(Y, P) == pytest.approx(f1_score(Y, P.argmax(1), average="macro"))
    assert metric("macro_recall")(Y, P) == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert metric("roc_auc_ovr")(Y, P) == pytest.approx(roc_auc_score(Y, P, multi_class="ovr"))


def test_auc_leaves_out_classes_absent_from_the_fold():
    y, p = Y[:4], P[:4]
    expected = np.mean([roc_auc_score(y == c, p[:, c]) for c in (0, 1)])
    assert metric("roc_auc_ovr")(y, p) == pytest.approx(expected)
    assert math.isnan(metric("roc_auc_ovr")(Y[:2], P[:2]))


def test_macro_scores_average_over_classes_seen_in_the_fold():
    y, p = Y[:4], P[:4]  # class 2 neither occurs nor is predicted
    assert metric("macro_recall")(y, p) == pytest.approx((0.5 + 1) / 2)
    y, p = Y[:3], P[[0, 1, 4]]  # class 2 predicted once but absent: its recall 0/0 counts as 0
    assert metric("macro_recall")(y, p) == pytest.approx((0.5 + 0 + 0) / 3)
