"""The fer2013 loader: fer2013.csv with bad lines, and the train/ test/ folder layout."""

import numpy as np
import pytest

import ferbench
from ferbench import UserError
from layouts import pixels, write_image


def _row(emotion, usage, seed=0, values=None):
    values = pixels(seed).ravel().tolist() if values is None else values
    return f"{emotion},{' '.join(map(str, values))},{usage}"


def make_csv(root):
    root.mkdir(parents=True, exist_ok=True)
    lines = ["emotion,pixels,Usage",
             _row(0, "Training", 1), _row(3, "Training", 2), _row(6, "PublicTest", 3),
             _row(5, "PrivateTest", 4),
             _row(9, "Training"),                        # line 6: emotion out of range
             _row(2, "Training", values=[1, 2, 3]),      # line 7: too few pixels
             _row(2, "Training", values=[300] * 2304),   # line 8: a value over 255
             _row(1, "Validation"),                      # line 9: unknown Usage
             "4,1 2 3",                                  # line 10: two fields
             "", _row(1, "PrivateTest", 5)]
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    return root


def test_csv_layout_with_bad_lines_counted(tmp_path):
    data = ferbench.get_dataset("fer2013", make_csv(tmp_path))
    assert data.classes == ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear")
    assert [data.classes[i] for i in data.labels] == ["anger", "happiness", "neutral", "surprise", "disgust"]
    assert data.split.tolist() == ["Training", "Training", "PublicTest", "PrivateTest", "PrivateTest"]
    np.testing.assert_array_equal(data.images[1, ..., 0], pixels(2))
    assert data.subjects is None
    assert data.notes == (
        "skipped 1 item (bad line (emotion '9' is not 0-6): fer2013.csv, line 6)",
        "skipped 2 items (bad line (pixels are not 2304 values 0-255): fer2013.csv, line 7, fer2013.csv, line 8)",
        "skipped 1 item (bad line (Usage 'Validation' is not one of Training, PublicTest, PrivateTest): "
        "fer2013.csv, line 9)",
        "skipped 1 item (bad line (2 fields, not 3): fer2013.csv, line 10)",
    )
    again = ferbench.get_dataset("fer2013", tmp_path / "fer2013.csv")  # the cached parse
    assert again.fingerprint == data.fingerprint and again.notes == data.notes
    with pytest.raises(UserError, match=r"fer2013\.csv, line 6.*--strict"):
        ferbench.get_dataset("fer2013", tmp_path, strict=True)


def test_csv_with_another_header_is_an_error(tmp_path):
    (tmp_path / "fer2013.csv").write_text("label,image\n0,1 2 3\n")
    with pytest.raises(UserError, match="emotion,pixels,Usage"):
        ferbench.get_dataset("fer2013", tmp_path)


def test_folder_layout(tmp_path):
    for part, counts in (("train", {"angry": 2, "happy": 3, "sad": 1}), ("test", {"angry": 1, "happy": 1})):
        for folder, n in counts.items():
            for i in range(n):
                write_image(tmp_path / part / folder / f"im{i}.jpg", seed=i)
    data = ferbench.get_dataset("fer2013", tmp_path)
    assert len(data) == 8 and data.image_shape == (48, 48, 1)
    assert data.class_counts() == {"neutral": 0, "happiness": 4, "surprise": 0, "sadness": 1,
                                   "anger": 3, "disgust": 0, "fear": 0}
    assert (data.split == "train").sum() == 6 and (data.split == "test").sum() == 2
    assert "test/angry/im0.jpg" in data.paths


def test_folder_layout_errors(tmp_path):
    with pytest.raises(UserError, match="neither fer2013.csv nor train"):
        ferbench.get_dataset("fer2013", tmp_path)
    write_image(tmp_path / "train" / "contempt" / "a.jpg")
    with pytest.raises(UserError, match="does not have"):
        ferbench.get_dataset("fer2013", tmp_path)
    (tmp_path / "train" / "contempt" / "a.jpg").unlink()
    (tmp_path / "train" / "contempt").rmdir()
    (tmp_path / "train" / "happy").mkdir()
    with pytest.raises(UserError, match="happy has no images"):
        ferbench.get_dataset("fer2013", tmp_path)


def test_folder_layout_reads_the_usage_prefix_so_official_validates_on_public_test(tmp_path):
    # the Kaggle folder export: train/<class>/Training_<id>.jpg, test/<class>/{Public,Private}Test_<id>.jpg
    files = {"train": [("angry", "Training_10118481"), ("happy", "Training_2"), ("happy", "Training_3"),
                       ("sad", "Training_4")],
             "test": [("angry", "PublicTest_88305110"), ("happy", "PublicTest_5"),
                      ("happy", "PrivateTest_13472479"), ("sad", "PrivateTest_6"), ("angry", "PrivateTest_7")]}
    for seed, (part, folder, stem) in enumerate((p, f, s) for p, names in files.items() for f, s in names):
        write_image(tmp_path / part / folder / f"{stem}.jpg", seed=seed)
    data = ferbench.get_dataset("fer2013", tmp_path)
    assert sorted(set(data.split)) == ["PrivateTest", "PublicTest", "train"]
    assert any("2 PublicTest, 3 PrivateTest" in note for note in data.notes)
    plan = ferbench.assign_folds(data, "official")
    assert len(plan.test_index(0)) == 3 and all("/PrivateTest_" in p for p in data.paths[plan.test_index(0)])
    assert len(plan.held_out_index()) == 2 and all("/PublicTest_" in p for p in data.paths[plan.held_out_index()])
    assert len(plan.train_index(0)) == 4
