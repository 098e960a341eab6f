import numpy as np
import pytest

import ferbench
from ferbench import UserError
from ferbench_datasets.synthetic_faces import generate_faces


def test_layout_mirrors_ckplus48():
    data = ferbench.get_dataset("synthetic")
    assert data.images.shape == (420, 48, 48, 1) and data.images.dtype == np.uint8
    assert data.classes == ("happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
    assert len(np.unique(data.subjects)) == 20 and len(np.unique(data.sequences)) == 140
    _, per_sequence = np.unique(data.sequences, return_counts=True)
    assert (per_sequence == 3).all()
    for seq in np.unique(data.sequences):
        rows = data.sequences == seq
        assert len(set(data.labels[rows])) == 1 and len(set(data.subjects[rows])) == 1
    assert set(data.class_counts().values()) == {60}


def test_deterministic_and_subjects_independent_of_set_size():
    assert ferbench.get_dataset("synthetic").fingerprint == ferbench.get_dataset("synthetic").fingerprint
    small, large = generate_faces(subjects=2), generate_faces(subjects=4)
    n = len(small["images"])
    np.testing.assert_array_equal(small["images"], large["images"][:n])
    assert ferbench.get_dataset("synthetic", seed=1).fingerprint != ferbench.get_dataset("synthetic").fingerprint


def test_frames_of_a_sequence_are_each_others_nearest_neighbours():
    data = ferbench.get_dataset("synthetic", subjects=8)
    x = data.images.reshape(len(data), -1).astype(np.float32)
    distance = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(distance, np.inf)
    nearest = distance.argmin(1)
    assert (data.sequences[nearest] == data.sequences).mean() > 0.9


def test_expressions_differ_more_than_frames():
    data = ferbench.get_dataset("synthetic", subjects=4)
    x = data.images.astype(np.float32)
    same_sequence = np.abs(x[0] - x[1]).mean()
    other_expression = np.abs(x[0] - x[3]).mean()
    assert other_expression > 2 * same_sequence


def test_neutral_option_adds_the_first_frame_as_neutral():
    data = ferbench.get_dataset("synthetic", subjects=3, neutral=True)
    assert data.classes[0] == "neutral"
    assert data.class_counts()["neutral"] == 3 * 7


@pytest.mark.parametrize("options,message", [
    ({"subjects": 0}, "subjects"), ({"frames": 0}, "frames"), ({"colour": True}, "does not take option"),
])
def test_bad_options_are_user_errors(options, message):
    with pytest.raises(UserError, match=message):
        ferbench.get_dataset("synthetic", **options)
