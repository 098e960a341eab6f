import numpy as np
import pytest

from ferbench import EMOTIONS, Dataset

from conftest import make_dataset


def test_subset_keeps_columns_aligned():
    data = make_dataset()
    part = data.subset(np.array([3, 0]))
    assert len(part) == 2
    assert part.paths.tolist() == ["img3.png", "img0.png"]
    assert part.subjects.tolist() == [data.subjects[3], data.subjects[0]]
    np.testing.assert_array_equal(part.images[0], data.images[3])


def test_sample_is_a_view_of_one_row():
    data = make_dataset()
    sample = data.sample(4)
    assert sample.label == data.classes[data.labels[4]]
    assert sample.subject == data.subjects[4] and sample.path == "img4.png"
    assert sample.frame is None and sample.split is None


def test_fingerprint_follows_pixels_and_labels_not_paths():
    a, b = make_dataset(), make_dataset()
    assert a.fingerprint == b.fingerprint
    b.paths = np.array([f"elsewhere/{p}" for p in b.paths])
    assert a.fingerprint == b.fingerprint
    changed = make_dataset()
    changed.images[0, 0, 0, 0] ^= 1
    assert changed.fingerprint != a.fingerprint


def test_rejects_classes_outside_the_vocabulary():
    with pytest.raises(ValueError, match="canonical vocabulary"):
        Dataset("x", ("happy",), np.zeros((1, 4, 4, 1), np.uint8), [0], ["a"])


def test_rejects_misaligned_columns_and_bad_images():
    with pytest.raises(ValueError, match="'subjects' must be 1-D with 1 rows"):
        Dataset("x", EMOTIONS[:1], np.zeros((1, 4, 4, 1), np.uint8), [0], ["a"], subjects=["a", "b"])
    with pytest.raises(ValueError, match="uint8"):
        Dataset("x", EMOTIONS[:1], np.zeros((1, 4, 4, 1), np.float32), [0], ["a"])
    with pytest.raises(ValueError, match="'labels' must be 1-D with 1 rows"):
        Dataset("x", EMOTIONS[:1], np.zeros((1, 4, 4, 1), np.uint8), [[0, 1]], ["a"])
    with pytest.raises(ValueError, match="'subjects' has None entries"):
        Dataset("x", EMOTIONS[:1], np.zeros((2, 4, 4, 1), np.uint8), [0, 0], ["a", "b"], subjects=["s", None])
    with pytest.raises(ValueError, match="'paths' must be 1-D"):
        Dataset("x", EMOTIONS[:1], np.zeros((1, 4, 4, 1), np.uint8), [0], "a")
    with pytest.raises(ValueError, match="labels must index classes"):
        Dataset("x", EMOTIONS[:1], np.zeros((1, 4, 4, 1), np.uint8), [3], ["a"])


def test_class_counts():
    assert make_dataset(n_classes=3, per_subject=6, n_subjects=2).class_counts() == {
        "happiness": 4, "surprise": 4, "sadness": 4}



def test_clips_group_rows_by_sequence_in_frame_order_and_resample():
    data = Dataset(
        name="tiny", classes=("happiness", "anger"), images=np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1),
        labels=[1, 0, 0, 0, 1], paths=list("abcde"),
        sequences=["s2", "s1", "s1", "s1", "s2"], frames=[9, 3, 1, 2, 4],
    )
    clips = data.clips()
    assert clips.length == 3 and clips.sizes.tolist() == [3, 2]
    assert clips.rows.tolist() == [[2, 3, 1], [4, 4, 0]]
    assert clips.member.tolist() == [1, 0, 0, 0, 1]
    assert data.clips(length=2).rows.tolist() == [[2, 1], [4, 0]]
    with pytest.raises(ValueError, match="has no sequences"):
        Dataset(name="x", classes=("anger",), images=data.images, labels=[0] * 5, paths=list("abcde")).clips()
