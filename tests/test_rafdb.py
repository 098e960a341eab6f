"""The rafdb loader: label file lines, aligned/original images, missing images."""

import numpy as np
import pytest

import ferbench
from ferbench import UserError
from layouts import SHARED_DATA, copy_many, jpeg_bytes

LABELS = "train_00001.jpg 4\ntrain_00002.jpg 7\ntrain 3\ntest_0001.jpg 1\ntest_0002.jpg 6"  # no final newline


def make_rafdb(root, text=LABELS, aligned=True, missing=()):
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text(text)
    folder = root / "Image" / ("aligned" if aligned else "original")
    folder.mkdir(parents=True)
    source = root / "source.jpg"
    source.write_bytes(jpeg_bytes())
    stems = [line.split()[0][:-4] for line in text.splitlines() if line.split()[0].endswith(".jpg")]
    copy_many(source, [folder / (f"{s}_aligned.jpg" if aligned else f"{s}.jpg")
                       for s in stems if s not in missing])
    return root


def test_aligned_images_and_labels(tmp_path):
    data = ferbench.get_dataset("rafdb", make_rafdb(tmp_path))
    assert data.classes == ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear")
    assert data.image_shape == (100, 100, 3) and data.subjects is None
    assert [data.classes[i] for i in data.labels] == ["happiness", "neutral", "surprise", "anger"]
    assert data.split.tolist() == ["train", "train", "test", "test"]
    assert data.paths[0] == "Image/aligned/train_00001_aligned.jpg"
    assert data.notes == ("skipped 1 item (bad line (expected '<train|test>_<number>.jpg <label 1-7>'): "
                          "EmoLabel/list_patition_label.txt, line 3: 'train 3')",)
    with pytest.raises(UserError, match=r"line 3.*--strict"):
        ferbench.get_dataset("rafdb", tmp_path, strict=True)


def test_missing_images_are_counted_and_all_missing_is_an_error(tmp_path):
    data = ferbench.get_dataset("rafdb", make_rafdb(tmp_path / "a", missing={"test_0002"}))
    assert len(data) == 3
    assert "skipped 1 file (missing: Image/aligned/test_0002_aligned.jpg)" in data.notes
    with pytest.raises(UserError, match="none of the 4 image files"):
        ferbench.get_dataset("rafdb", make_rafdb(tmp_path / "b", missing={"train_00001", "train_00002",
                                                                        "test_0001", "test_0002"}))
    with pytest.raises(UserError, match="Image/original.*not found"):
        ferbench.get_dataset("rafdb", tmp_path / "a", aligned=False)
    with pytest.raises(UserError, match="list_patition_label.txt not found"):
        ferbench.get_dataset("rafdb", tmp_path / "a" / "Image")


def test_original_images(tmp_path):
    data = ferbench.get_dataset("rafdb", make_rafdb(tmp_path, aligned=False), aligned=False, image_size=64)
    assert data.image_shape == (64, 64, 3) and data.paths[0] == "Image/original/train_00001.jpg"


@pytest.mark.skipif(not (SHARED_DATA / "rafdb" / "raf-basic").is_dir(), reason="real RAF-DB labels not present")
def test_real_label_file_with_generated_images(tmp_path):
    text = (SHARED_DATA / "rafdb" / "raf-basic" / "EmoLabel" / "list_patition_label.txt").read_text()
    root = make_rafdb(tmp_path / "raf-basic", text=text)
    data = ferbench.get_dataset("rafdb", tmp_path)  # the parent of raf-basic/ works too
    assert len(data) == 15339 and data.notes == ()
    counts = {s: np.bincount(data.labels[data.split == s], minlength=7).tolist() for s in ("train", "test")}
    # classes: neutral, happiness, surprise, sadness, anger, disgust, fear (README's table)
    assert counts == {"train": [2524, 4772, 1290, 1982, 705, 717, 281],
                      "test": [680, 1185, 329, 478, 162, 160, 74]}
    assert root.is_dir()
