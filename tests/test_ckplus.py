"""The ckplus loader on generated CK+48 and original-release trees, and on the real CK+48."""

import numpy as np
import pytest

import ferbench
from ferbench import UserError
from layouts import SHARED_DATA, ckplus48, ckplus_original, write_image

CK48 = {"anger": ["S010_004", "S011_002"], "happy": ["S010_006"], "contempt": ["S012_001"]}


def test_ckplus48_layout(tmp_path):
    data = ferbench.get_dataset("ckplus", ckplus48(tmp_path, CK48))
    assert len(data) == 12 and data.image_shape == (48, 48, 1)
    assert data.classes == ("happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
    assert data.class_counts() == {"happiness": 3, "surprise": 0, "sadness": 0, "anger": 6,
                                   "disgust": 0, "fear": 0, "contempt": 3}
    assert sorted(set(data.subjects)) == ["S010", "S011", "S012"]
    assert len(set(data.sequences)) == 4 and sorted(set(data.frames)) == [10, 11, 12]
    row = list(data.paths).index("anger/S010_004_00000011.png")
    assert (data.subjects[row], data.sequences[row], data.frames[row]) == ("S010", "S010_004", 11)
    assert data.notes == ("no class folder for surprise, sadness, disgust, fear (those classes have no samples)",)


def test_ckplus48_odd_names_are_counted_skips(tmp_path):
    root = ckplus48(tmp_path, CK48)
    write_image(root / "anger" / "IMG_0001.png")
    (root / "anger" / "notes.txt").write_text("x")
    (root / "anger" / ".DS_Store").write_bytes(b"\0")
    data = ferbench.get_dataset("ckplus", root)
    assert len(data) == 12
    assert data.notes[:2] == ("skipped 1 file (not an image file (by its extension): anger/notes.txt)",
                          "skipped 1 file (name is not S###_###_########: anger/IMG_0001.png)")
    with pytest.raises(UserError, match=r"notes\.txt.*--strict"):
        ferbench.get_dataset("ckplus", root, strict=True)


def test_ckplus48_bad_trees_are_clear_errors(tmp_path):
    root = ckplus48(tmp_path / "a", CK48)
    (root / "sleepy").mkdir()
    write_image(root / "sleepy" / "S010_001_00000001.png")
    with pytest.raises(UserError, match=r"\['sleepy'\].*classes="):
        ferbench.get_dataset("ckplus", root)
    root = ckplus48(tmp_path / "b", CK48)
    (root / "fear").mkdir()
    with pytest.raises(UserError, match=r"fear has no images"):
        ferbench.get_dataset("ckplus", root)
    with pytest.raises(UserError, match="not found"):
        ferbench.get_dataset("ckplus", tmp_path / "nowhere")
    (tmp_path / "flat").mkdir()
    with pytest.raises(UserError, match="neither CK\\+48 class folders"):
        ferbench.get_dataset("ckplus", tmp_path / "flat")
    with pytest.raises(UserError, match="original CK\\+ release"):
        ferbench.get_dataset("ckplus", root, apex_frames=1)


# Random pixels, not faces: these tests load the original layout with face_crop="none".
ORIGINAL = {"S005_001": (6, 3.0), "S005_002": (5, None), "S010_003": (4, 7.0), "S011_001": (5, 2.0)}


def test_original_release_apex_frames(tmp_path):
    root = ckplus_original(tmp_path, ORIGINAL)
    data = ferbench.get_dataset("ckplus", root, face_crop="none")
    assert len(data) == 9 and data.image_shape == (50, 60, 1)
    assert data.class_counts()["disgust"] == 3 and data.class_counts()["surprise"] == 3
    assert data.class_counts()["contempt"] == 3
    disgust = data.sequences == "S005_001"
    assert sorted(data.frames[disgust]) == [4, 5, 6] and set(data.subjects[disgust]) == {"S005"}
    assert "1 of 4 sequences have no emotion file (unlabelled in CK+; not used)" in data.notes
    one = ferbench.get_dataset("ckplus", root, face_crop="none", apex_frames=1)
    assert len(one) == 3 and sorted(one.frames) == [4, 5, 6]


def test_original_release_neutral_first_and_clips(tmp_path):
    root = ckplus_original(tmp_path, ORIGINAL)
    data = ferbench.get_dataset("ckplus", root, face_crop="none", neutral_first=True)
    assert data.classes[0] == "neutral" and len(data) == 12
    neutral = data.labels == 0
    assert sorted(data.sequences[neutral]) == ["S005_001", "S010_003", "S011_001"]
    assert set(data.frames[neutral]) == {1}
    clips = ferbench.get_dataset("ckplus", root, face_crop="none", clips=True)
    assert len(clips) == 6 + 4 + 5 and "neutral" not in clips.classes
    for sequence, (frames, _) in ORIGINAL.items():
        rows = clips.sequences == sequence
        if ORIGINAL[sequence][1] is not None:
            assert sorted(clips.frames[rows]) == list(range(1, frames + 1))
            assert len(set(clips.labels[rows])) == 1
    with pytest.raises(UserError, match="cannot be combined"):
        ferbench.get_dataset("ckplus", root, face_crop="none", clips=True, neutral_first=True)


def test_original_release_quirks(tmp_path):
    root = ckplus_original(tmp_path, {**ORIGINAL, "S012_004": (3, "garbage"), "S013_001": (3, 0.0)})
    rgb = root / "cohn-kanade-images" / "S005" / "001" / "S005_001_00000006.png"
    write_image(rgb, np.zeros((50, 60, 3), np.uint8))
    data = ferbench.get_dataset("ckplus", root, face_crop="none", image_size=32)
    assert len(data) == 9 and data.image_shape == (32, 32, 1)
    assert "converted 1 RGB images to grayscale" in data.notes
    assert "resized 9 images to 32x32 (from 60x50: 9)" in data.notes
    assert "1 of 6 sequences have no emotion file (unlabelled in CK+; not used)" in data.notes
    assert "skipped 2 files (emotion file without a code 1-7: Emotion/S012/004/S012_004_00000003_emotion.txt " \
           "('garbage'), Emotion/S013/001/S013_001_00000003_emotion.txt ('0.0000000e+00'))" in data.notes
    with pytest.raises(UserError, match="S012_004_00000003_emotion.txt"):
        ferbench.get_dataset("ckplus", root, face_crop="none", strict=True)
    (root / "Emotion").rename(root / "Labels")
    with pytest.raises(UserError, match="Emotion"):
        ferbench.get_dataset("ckplus", root, face_crop="none")


@pytest.mark.skipif(not (SHARED_DATA / "ckplus48").is_dir(), reason="real CK+48 not present")
def test_real_ckplus48():
    data = ferbench.get_dataset("ckplus", SHARED_DATA / "ckplus48")
    assert len(data) == 981 and data.image_shape == (48, 48, 1)
    assert len(set(data.subjects)) == 118 and len(set(data.sequences)) == 327
    assert data.class_counts() == {"happiness": 207, "surprise": 249, "sadness": 84, "anger": 135,
                                   "disgust": 177, "fear": 75, "contempt": 54}
    _, per_sequence = np.unique(data.sequences, return_counts=True)
    assert (per_sequence == 3).all() and data.notes == ()
