import numpy as np
import pytest

from ferbench import UserError, assign_folds
from ferbench.protocols import FoldPlan

from conftest import make_dataset


def test_subject_folds_keep_every_subject_on_one_side():
    data = make_dataset(n_subjects=10)
    plan = assign_folds(data, "subject", k=5, seed=0)
    assert plan.grouped_by == "subject" and not plan.leaky
    for fold in range(5):
        train, test = plan.train_index(fold), plan.test_index(fold)
        assert len(test) and set(data.subjects[train]).isdisjoint(data.subjects[test])
        assert len(train) + len(test) == len(data)
    assert sorted(np.unique(plan.test_fold)) == list(range(5))


def test_same_inputs_same_plan_and_seed_matters():
    data = make_dataset(n_subjects=12)
    a, b = assign_folds(data, "subject", 4, 3), assign_folds(data, "subject", 4, 3)
    np.testing.assert_array_equal(a.test_fold, b.test_fold)
    image_a, image_b = assign_folds(data, "image", 4, 0), assign_folds(data, "image", 4, 1)
    assert not np.array_equal(image_a.test_fold, image_b.test_fold)


def test_image_protocol_is_marked_leaky_and_splits_subjects():
    data = make_dataset(n_subjects=6)
    plan = assign_folds(data, "image", k=3, seed=0)
    assert plan.leaky and plan.grouped_by is None
    shared = set(data.subjects[plan.train_index(0)]) & set(data.subjects[plan.test_index(0)])
    assert shared


def test_falls_back_to_sequences_then_refuses():
    data = make_dataset(n_subjects=6)
    data.subjects = None
    assert assign_folds(data, "subject", 3).grouped_by == "sequence"
    bare = make_dataset(subjects=False)
    with pytest.raises(UserError, match="neither subjects nor sequences.*--protocol image"):
        assign_folds(bare, "subject", 3)


@pytest.mark.parametrize("k,message", [(1, "at least 2"), (7, "6 subjects but --folds 7")])
def test_bad_fold_counts(k, message):
    with pytest.raises(UserError, match=message):
        assign_folds(make_dataset(n_subjects=6), "subject", k)


def test_unknown_protocol():
    with pytest.raises(UserError, match="Known protocols: subject, image"):
        assign_folds(make_dataset(), "random", 3)


def test_plan_round_trips_through_json():
    plan = assign_folds(make_dataset(n_subjects=8), "subject", 4, 2)
    again = FoldPlan.from_json(plan.to_json())
    assert again.key == plan.key == "tiny-subject-k4-s2"
    np.testing.assert_array_equal(again.test_fold, plan.test_fold)
    assert "StratifiedGroupKFold" in again.splitter
