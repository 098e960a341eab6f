import dataclasses

import numpy as np
import pytest

from ferbench import UserError, assign_folds
from ferbench.protocols import FoldPlan, inner_split

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


def test_inner_split_is_carved_from_the_training_part_grouped_by_subject():
    data = make_dataset(n_subjects=20)
    plan = assign_folds(data, "subject", 4, 0)
    for fold in range(4):
        split = inner_split(data, plan, fold, 0.2, seed=1)
        train = set(plan.train_index(fold).tolist())
        assert set(split.fit.tolist()) | set(split.validation.tolist()) == train
        assert not set(split.fit.tolist()) & set(split.validation.tolist())
        assert set(data.subjects[split.fit]).isdisjoint(data.subjects[split.validation])
        assert 0.1 < len(split.validation) / len(train) < 0.3 and "grouped by subject" in split.source
    again = inner_split(data, plan, 0, 0.2, seed=1)
    np.testing.assert_array_equal(again.validation, inner_split(data, plan, 0, 0.2, seed=1).validation)
    assert not np.array_equal(again.validation, inner_split(data, plan, 0, 0.2, seed=2).validation)


def test_inner_split_uses_the_official_validation_split_and_images_without_groups():
    data = make_dataset(n_subjects=10)
    split_names = np.array(["Training", "PublicTest", "PrivateTest"])[np.arange(len(data)) % 3]
    official = dataclasses.replace(data, split=split_names, subjects=None, sequences=None)
    plan = assign_folds(official, "official")
    split = inner_split(official, plan, 0, 0.1, seed=0)
    np.testing.assert_array_equal(split.validation, np.flatnonzero(split_names == "PublicTest"))
    np.testing.assert_array_equal(split.fit, plan.train_index(0))
    assert "official validation split (PublicTest)" in split.source
    image_plan = assign_folds(official, "image", 3, 0)
    loose = inner_split(official, image_plan, 0, 0.25, seed=0)
    assert "over images" in loose.source and len(loose.validation)
    with pytest.raises(UserError, match="between 0 and 1"):
        inner_split(data, assign_folds(data, "subject", 3, 0), 0, 1.5, seed=0)


def test_inference_clusters_follow_subject_then_sequence_then_copies_then_image():
    from ferbench.protocols import inference_clusters

    data = make_dataset(n_subjects=5)
    unit, clusters = inference_clusters(data)
    assert unit == "subject" and len(np.unique(clusters)) == 5
    assert all(len(set(clusters[data.subjects == s])) == 1 for s in np.unique(data.subjects))
    unit, clusters = inference_clusters(dataclasses.replace(data, subjects=None))
    assert unit == "sequence" and len(np.unique(clusters)) == len(np.unique(data.sequences))
    bare = dataclasses.replace(data, subjects=None, sequences=None)
    assert inference_clusters(bare)[0] == "image"
    images = bare.images.copy()
    images[7] = images[3]  # an exact copy joins its original's cluster
    unit, clusters = inference_clusters(dataclasses.replace(bare, images=images, _fingerprint=None))
    assert unit == "copy group" and clusters[7] == clusters[3]
    assert len(np.unique(clusters)) == len(bare) - 1


def test_clusters_are_saved_with_the_plan_and_old_plans_gain_them(tmp_path):
    from ferbench.protocols import with_clusters
    from ferbench.store import RunStore, load_plans

    data = make_dataset(n_subjects=6)
    bare = assign_folds(data, "subject", 3, 0)
    assert bare.clusters is None and bare.test_clusters(np.array([4, 5]))[0] == "image"
    plan = with_clusters(bare, data)
    assert FoldPlan.from_json(plan.to_json()).cluster_unit == "subject"
    np.testing.assert_array_equal(FoldPlan.from_json(plan.to_json()).clusters, plan.clusters)
    store = RunStore(tmp_path)
    store.save_plan(bare)  # as an older ferbench saved it
    assert load_plans(tmp_path)[plan.key].clusters is None
    store.save_plan(plan)
    unit, clusters = load_plans(tmp_path)[plan.key].test_clusters(plan.test_index(0))
    assert unit == "subject" and np.array_equal(clusters, plan.clusters[plan.test_index(0)])
