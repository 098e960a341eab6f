"""Decoding image files: conversions said once per kind, skips counted, --strict, log lines."""

import logging

import numpy as np
import pytest
from PIL import Image

from ferbench import UserError
from ferbench.loading import LoadReport, class_folders, load_images
from layouts import pixels, truncate, write_16bit, write_image


def test_images_come_back_in_the_given_order(tmp_path):
    paths = [write_image(tmp_path / f"{name}.png", seed=i) for i, name in enumerate("cab")]
    images, kept = load_images(paths, channels=1, size=(48, 48), report=LoadReport("t"))
    assert kept.all() and images.shape == (3, 48, 48, 1) and images.dtype == np.uint8
    for image, path in zip(images, paths):
        np.testing.assert_array_equal(image[..., 0], np.asarray(Image.open(path)))


def test_modes_are_converted_and_counted_once_per_kind(tmp_path, caplog):
    gray = pixels(1)
    paths = [write_image(tmp_path / "plain.png", gray)]
    paths += [write_image(tmp_path / f"rgba{i}.png", gray, mode="RGBA") for i in range(3)]
    paths += [write_image(tmp_path / "palette.png", gray, mode="P")]
    paths += [write_image(tmp_path / "rgb.png", np.stack([gray] * 3, -1))]
    paths += [write_16bit(tmp_path / "deep.png", gray.astype(np.uint16) * 257)]
    report = LoadReport("t")
    with caplog.at_level(logging.INFO, logger="ferbench.data"):
        images, kept = load_images(paths, channels=1, size=(48, 48), report=report)
        report.log()
    assert kept.all() and report.n_skipped == 0
    assert set(report.lines()) == {
        "converted 3 RGBA images to grayscale", "converted 1 palette images to grayscale",
        "converted 1 RGB images to grayscale", "converted 1 16-bit images to 8-bit grayscale",
    }
    for image in images:  # every conversion keeps the gray values (16-bit scaled, not clipped)
        assert np.abs(image[..., 0].astype(int) - gray).max() <= 1
    assert [r.message for r in caplog.records].count("t: converted 3 RGBA images to grayscale") == 1


def test_gray_to_rgb_when_the_data_set_has_three_channels(tmp_path):
    path = write_image(tmp_path / "g.png", pixels(2))
    report = LoadReport("t")
    images, _ = load_images([path], channels=3, size=(48, 48), report=report)
    assert images.shape == (1, 48, 48, 3) and (images[0, ..., 0] == images[0, ..., 2]).all()
    assert report.lines() == ("converted 1 grayscale images to RGB",)


def test_bad_files_are_counted_skips_naming_each_file(tmp_path, caplog):
    good = write_image(tmp_path / "good.png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    cut = truncate(write_image(tmp_path / "cut.png", seed=3))
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a png file at all")
    gone = tmp_path / "gone.png"
    report = LoadReport("t")
    with caplog.at_level(logging.WARNING, logger="ferbench.data"):
        images, kept = load_images([good, empty, cut, junk, gone], channels=1, size=(48, 48),
                                   report=report)
        report.log()
    assert kept.tolist() == [True, False, False, False, False] and len(images) == 1
    assert report.n_skipped == 4
    lines = report.lines()
    assert f"skipped 1 file (zero-byte: {empty})" in lines
    assert f"skipped 1 file (truncated: {cut})" in lines
    assert f"skipped 1 file (corrupt: not a decodable image: {junk})" in lines
    assert f"skipped 1 file (missing: {gone})" in lines
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 4


@pytest.mark.parametrize("make", [
    lambda p: p.write_bytes(b""),
    lambda p: truncate(write_image(p)),
    lambda p: p.write_bytes(b"not an image"),
])
def test_strict_turns_each_skip_into_an_error_naming_the_file(tmp_path, make):
    bad = tmp_path / "bad.png"
    make(bad)
    with pytest.raises(UserError, match=r"bad\.png.*--strict"):
        load_images([write_image(tmp_path / "ok.png"), bad], channels=1, size=(48, 48),
                    report=LoadReport("t", strict=True))


def test_wrong_size_is_resized_and_said_once(tmp_path):
    paths = [write_image(tmp_path / "a.png", size=(48, 48)),
             write_image(tmp_path / "b.png", size=(64, 64)), write_image(tmp_path / "c.png", size=(64, 64))]
    report = LoadReport("t")
    images, kept = load_images(paths, channels=1, size=(48, 48), report=report)
    assert images.shape == (3, 48, 48, 1)
    assert report.lines() == ("resized 2 images to 48x48 (from 64x64: 2)",)


def test_no_size_means_the_most_common_size(tmp_path):
    paths = [write_image(tmp_path / f"{i}.png", size=(30, 40)) for i in range(3)]
    paths.append(write_image(tmp_path / "odd.png", size=(20, 20)))
    report = LoadReport("t")
    images, _ = load_images(paths, channels=1, size=None, report=report)
    assert images.shape == (4, 30, 40, 1)
    assert report.lines() == ("resized 1 image to 40x30 (from 20x20: 1)",)


def test_unknown_class_folder_error_says_how_to_map_it(tmp_path):
    for name in ("happy", "Grumpy"):
        (tmp_path / name).mkdir()
    with pytest.raises(UserError, match=r"\['Grumpy'\].*classes=\{'Grumpy': 'CLASS'\}.*--dataset-option.*where CLASS is"):
        class_folders(tmp_path, "imagefolder")
    assert class_folders(tmp_path, "imagefolder", {"Grumpy": "anger"}) == {"Grumpy": "anger", "happy": "happiness"}
    with pytest.raises(UserError, match="not canonical"):
        class_folders(tmp_path, "imagefolder", {"Grumpy": "grumpiness"})
