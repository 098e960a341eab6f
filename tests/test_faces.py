"""The face step: landmark files, the crop square, detection (real and stand-in), the loaders'
face_crop option, its cache key, its counts and provenance, and the command line."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from ferbench.cli import config
from ferbench.cli.run import _run_parser
from ferbench.errors import UserError
from ferbench.factory import get_dataset
from ferbench.loading import FaceCrop, LandmarksError, cache, face_crop, read_landmarks
from ferbench.loading.faces import crop as facecrop
from ferbench.loading.faces import detect

from layouts import (
    SHARED_DATA, ckplus48, ckplus_faces, draw_face, face_points, write_16bit, write_image, write_landmarks,
)

# ---------------------------------------------------------------- landmark files


def test_landmarks_file_in_exponent_notation_is_read(tmp_path):
    points = face_points(100, 120, 40)
    path = write_landmarks(tmp_path / "S005_001_00000001_landmarks.txt", points)
    assert "e+02" in path.read_text().splitlines()[0]
    np.testing.assert_allclose(read_landmarks(path), points, rtol=1e-7)


@pytest.mark.parametrize("text, message", [
    ("   1.0e+02   2.0e+02\n" * 67, "has 67 points, expected 68"),
    ("   1.0e+02   2.0e+02\n" * 4 + "   1.0e+02   abc\n" + "   1.0e+02   2.0e+02\n" * 63, "line 5"),
    ("   1.0e+02   2.0e+02   3.0e+02\n" + "   1.0e+02   2.0e+02\n" * 67, "line 1"),
])
def test_bad_landmarks_file_names_the_line(tmp_path, text, message):
    path = tmp_path / "bad_landmarks.txt"
    path.write_text(text)
    with pytest.raises(LandmarksError, match=message):
        read_landmarks(path)


# ---------------------------------------------------------------- the crop itself


def _eye_line_degrees(pixels: np.ndarray) -> float:
    """Angle of the line through the two dark eye blobs of a crop (measured, not computed)."""
    blobs, count = ndimage.label(pixels[..., 0] < 60)
    sizes = ndimage.sum(np.ones_like(blobs), blobs, range(1, count + 1))
    two = np.argsort(sizes)[-2:] + 1
    (y1, x1), (y2, x2) = sorted(ndimage.center_of_mass(np.ones_like(blobs), blobs, two), key=lambda c: c[1])
    return math.degrees(math.atan2(y2 - y1, x2 - x1))


def test_level_face_crop_is_the_exact_square_around_the_points():
    # points filling x 100..200, y 80..180; margin 0.1 → a 120-px square from (90, 70)
    points = face_points(0, 0, 1, box=(100, 80, 200, 180))
    image = np.random.default_rng(0).integers(0, 256, (300, 400, 1), dtype=np.uint8)
    out, outcomes = facecrop.crop(image, FaceCrop("landmarks", margin=0.1), points)
    assert outcomes == ["landmarks"]
    np.testing.assert_array_equal(out, image[70:190, 90:210])


@pytest.mark.parametrize("tilt", [10.0, -10.0])
def test_tilted_face_comes_out_with_its_eye_line_level(tilt):
    points = face_points(200, 160, 60, tilt=tilt)
    image = draw_face((320, 400), points)[..., None]
    assert abs(_eye_line_degrees(image) - tilt) < 1  # the drawing really is tilted
    aligned, _ = facecrop.crop(image, FaceCrop("landmarks"), points)
    assert abs(_eye_line_degrees(aligned)) < 2
    unaligned, _ = facecrop.crop(image, FaceCrop("landmarks", align=False), points)
    assert abs(_eye_line_degrees(unaligned) - tilt) < 1


def test_square_running_off_the_image_is_moved_inside_and_shrunk_only_when_too_big():
    inside = facecrop.fit(facecrop.Square(5, 290, 100), width=400, height=300)
    assert (inside.cx, inside.cy, inside.side) == (50, 250, 100)
    shrunk = facecrop.fit(facecrop.Square(200, 150, 500), width=400, height=300)
    assert (shrunk.cx, shrunk.cy, shrunk.side) == (200, 150, 300)
    tilted = facecrop.fit(facecrop.Square(10, 10, 100, math.radians(30)), width=400, height=300)
    half = tilted.side * (math.cos(math.radians(30)) + math.sin(math.radians(30))) / 2
    assert tilted.cx == pytest.approx(half) and tilted.cy == pytest.approx(half)


# ---------------------------------------------------------------- detection, with a stand-in


class StandIn:
    """A detector that returns given boxes per image (keyed by the image's mean) and counts calls."""

    def __init__(self, boxes=None, default=()):
        self.boxes = boxes or {}
        self.default = list(default)
        self.calls = 0

    def __call__(self, gray):
        self.calls += 1
        return [detect.Box(*b) for b in self.boxes.get(int(gray.mean()), self.default)]


@pytest.fixture
def stand_in(monkeypatch):
    finder = StandIn()
    monkeypatch.setattr(detect, "find_faces", finder)
    monkeypatch.setattr(detect, "require_opencv", lambda *a: None)
    return finder


def test_detection_keeps_the_largest_face_and_counts_several(stand_in):
    image = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    stand_in.default = [(10, 10, 20, 20), (100, 50, 80, 80)]
    out, outcomes = facecrop.crop(image, FaceCrop("detect", margin=0.0))
    assert outcomes == ["detect", "several"]
    np.testing.assert_array_equal(out, image[50:130, 100:180])


def test_detection_box_off_the_image_is_clipped(stand_in):
    image = np.random.default_rng(2).integers(0, 256, (200, 300, 1), dtype=np.uint8)
    stand_in.default = [(250, 150, 80, 80)]  # runs 30 px off the right and bottom edges
    out, _ = facecrop.crop(image, FaceCrop("detect", margin=0.0))
    np.testing.assert_array_equal(out, image[120:200, 220:300])


def test_no_face_keeps_the_frame_or_skips_it_as_asked(stand_in):
    image = np.zeros((60, 80, 1), np.uint8)
    kept, outcomes = facecrop.crop(image, FaceCrop("detect"))
    assert kept is image and outcomes == ["no face"]
    skipped, outcomes = facecrop.crop(image, FaceCrop("detect", no_face="skip"))
    assert skipped is None and outcomes == ["no face"]


def _portraits(root: Path, faces: dict[str, int]) -> Path:
    """An image folder of flat portraits, each of one grey level (the stand-in's key)."""
    for name, level in faces.items():
        write_image(root / "happy" / f"{name}.png", np.full((120, 160), level, np.uint8))
    return root


def test_imagefolder_detect_counts_each_outcome_and_keeps_or_skips_faceless(tmp_path, stand_in):
    root = _portraits(tmp_path / "folder", {"a": 10, "b": 20, "c": 30, "d": 40})
    stand_in.boxes = {10: [(40, 20, 60, 60)], 20: [(40, 20, 60, 60), (0, 0, 30, 30)], 30: [(10, 10, 50, 50)]}
    dataset = get_dataset("imagefolder", root, face_crop="detect")
    assert dataset.images.shape == (4, 96, 96, 1)
    line = next(n for n in dataset.notes if n.startswith("face crop"))
    assert "detect, margin 0.15, 96x96" in line
    assert "3 cropped by detection" in line and "1 had no face found" in line
    assert "1 had several faces (the largest kept)" in line and "landmarks" not in line  # none to count
    assert dataset.face_crop["counts"]["no face"] == 1 and dataset.face_crop["method"] == "detect"

    skipping = get_dataset("imagefolder", root, face_crop="detect", no_face="skip", strict=True)
    assert len(skipping) == 3 and "d.png" not in " ".join(skipping.paths)
    assert any("dropped 1 sample (no face found" in n for n in skipping.notes)


def test_crops_are_cached_under_their_settings(tmp_path, stand_in):
    root = tmp_path / "folder"
    for seed in (1, 2):
        write_image(root / "happy" / f"{seed}.png", seed=seed, size=(120, 160))
    stand_in.default = [(40, 20, 60, 60)]
    first = get_dataset("imagefolder", root, face_crop="detect")
    assert stand_in.calls == 2
    cache.clear_memory()
    again = get_dataset("imagefolder", root, face_crop="detect")
    assert stand_in.calls == 2  # same settings: read back from the cache, not cropped again
    np.testing.assert_array_equal(first.images, again.images)
    wider = get_dataset("imagefolder", root, face_crop="detect", face_margin=0.3)
    assert stand_in.calls == 4 and wider.fingerprint != first.fingerprint
    get_dataset("imagefolder", root, face_crop="detect", image_size=64)
    assert stand_in.calls == 6
    assert get_dataset("imagefolder", root).face_crop is None


def test_grayscale_rgb_palette_and_16_bit_portraits_all_crop(tmp_path, stand_in):
    rng = np.random.default_rng(3)
    root = tmp_path / "folder"
    write_image(root / "happy" / "gray.png", rng.integers(0, 256, (120, 160), dtype=np.uint8))
    write_image(root / "happy" / "rgb.png", rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    write_image(root / "happy" / "palette.png", rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), mode="P")
    write_16bit(root / "happy" / "deep.png", rng.integers(0, 65536, (120, 160)))
    stand_in.default = [(40, 20, 60, 60)]
    for channels in (1, 3):
        dataset = get_dataset("imagefolder", root, face_crop="detect", channels=channels, image_size=32)
        assert dataset.images.shape == (4, 32, 32, channels)
        assert dataset.face_crop["counts"]["detect"] == 4


def test_detect_without_opencv_fails_at_once_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(UserError, match=r'pip install "ferbench\[face\]"'):
        face_crop("detect", "imagefolder")
    root = ckplus_faces(tmp_path / "ck", subjects=1, frames=2, without_landmarks=("S010_001_00000002",))
    with pytest.raises(UserError, match=r"falls back to detection for the 1 image.*ferbench\[face\]"):
        get_dataset("ckplus", root)


@pytest.mark.parametrize("options, message", [
    ({"face_crop": "haar"}, "face_crop must be one of none, landmarks, detect"),
    ({"face_crop": "detect", "face_margin": 2}, "face_margin must be a number from 0 to 1"),
    ({"face_crop": "detect", "no_face": "drop"}, "no_face must be 'keep'"),
    ({"face_crop": "landmarks"}, "needs landmark files"),
])
def test_bad_face_options_say_what_is_allowed(tmp_path, stand_in, options, message):
    root = _portraits(tmp_path / "folder", {"a": 10})
    with pytest.raises(UserError, match=message):
        get_dataset("imagefolder", root, **options)


# ---------------------------------------------------------------- CK+ original release


def test_ckplus_original_crops_by_landmarks_by_default(tmp_path):
    root = ckplus_faces(tmp_path / "ck", subjects=2)
    dataset = get_dataset("ckplus", root)
    assert dataset.images.shape == (12, 48, 48, 1)
    assert dataset.face_crop == {"method": "landmarks", "margin": 0.15, "align": True, "no_face": "keep",
                                 "size": [48, 48], "counts": {"landmarks": 12, "detect": 0, "fallback": 0,
                                                              "no face": 0, "several": 0}}
    # every crop is level, whatever the subject's tilt (-6° and -2° here)
    big = get_dataset("ckplus", root, image_size=96)
    assert all(abs(_eye_line_degrees(image)) < 2 for image in big.images)


def test_ckplus_landmark_crop_is_exactly_the_expected_square(tmp_path):
    root = ckplus_faces(tmp_path / "ck", subjects=1, frames=1)
    image = np.random.default_rng(4).integers(0, 256, (160, 200), dtype=np.uint8)
    for seq in ("001", "002"):
        write_image(root / "cohn-kanade-images" / "S010" / seq / f"S010_{seq}_00000001.png", image)
        write_landmarks(root / "Landmarks" / "S010" / seq / f"S010_{seq}_00000001_landmarks.txt",
                        face_points(0, 0, 1, box=(60, 30, 140, 110)))
    dataset = get_dataset("ckplus", root, face_margin=0.25, image_size=120)
    # an 80-px box plus 20 px each side: the 120-px square from (40, 10), kept at 120 px
    np.testing.assert_array_equal(dataset.images[0, ..., 0], image[10:130, 40:160])
    half = get_dataset("ckplus", root, face_margin=0.25, image_size=60)
    expected = np.asarray(Image.fromarray(image[10:130, 40:160]).resize((60, 60), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(half.images[0, ..., 0], expected)


def test_ckplus_frames_without_landmarks_fall_back_to_detection(tmp_path, stand_in):
    root = ckplus_faces(tmp_path / "ck", subjects=2, without_landmarks=("S010_001_00000004", "S011_002_00000003"))
    stand_in.default = [(60, 40, 80, 80)]
    dataset = get_dataset("ckplus", root)
    assert dataset.face_crop["counts"] == {"landmarks": 10, "detect": 2, "fallback": 2, "no face": 0, "several": 0}
    assert any("10 cropped by landmarks, 2 cropped by detection, 2 had no landmarks and fell back to detection"
               in note for note in dataset.notes)


def test_ckplus_bad_landmarks_file_is_a_counted_skip_naming_file_and_line(tmp_path):
    root = ckplus_faces(tmp_path / "ck", subjects=1)
    bad = root / "Landmarks" / "S010" / "001" / "S010_001_00000003_landmarks.txt"
    lines = bad.read_text().splitlines()
    bad.write_text("\n".join(lines[:9] + ["   nan?   1.0e+02"] + lines[10:]) + "\n")
    dataset = get_dataset("ckplus", root)
    assert len(dataset) == 5
    assert any("S010_001_00000003_landmarks.txt: line 10" in note for note in dataset.notes)
    with pytest.raises(UserError, match="S010_001_00000003_landmarks.txt: line 10"):
        get_dataset("ckplus", root, strict=True)


def test_ckplus48_is_not_cropped_and_refuses_landmarks(tmp_path):
    root = ckplus48(tmp_path / "ck48", {"anger": ["S010_001"], "happy": ["S011_001"]})
    assert get_dataset("ckplus", root).face_crop is None
    with pytest.raises(UserError, match="CK\\+48, whose faces are already cropped"):
        get_dataset("ckplus", root, face_crop="landmarks")


# ---------------------------------------------------------------- command line


def test_run_crops_by_landmarks_end_to_end(cli, tmp_path):
    root = ckplus_faces(tmp_path / "ck", subjects=4)
    out = tmp_path / "run"
    status, text, err = cli("run", "--models", "smallcnn", "--datasets", "ckplus", "--data-dir", f"ckplus={root}",
                            "--folds", "2", "--epochs", "1", "--out", out, "--allow-leaky")  # one drawn face
    assert status == 0, err
    assert "face crop (landmarks, margin 0.15, eye line levelled, 48x48" in " ".join(text.split())
    assert "24 cropped by landmarks, 0 cropped by detection" in " ".join(text.split())
    result = json.loads(next((out / "jobs").rglob("fold-0.json")).read_text())
    assert result["face_crop"]["method"] == "landmarks" and result["face_crop"]["counts"]["landmarks"] == 24


def test_leakage_prints_the_face_counts_and_face_crop_flag_applies(cli, tmp_path, stand_in):
    root = ckplus_faces(tmp_path / "ck", subjects=2)
    stand_in.default = [(60, 40, 80, 80)]
    status, text, _ = cli("leakage", "--dataset", "ckplus", "--data-dir", f"ckplus={root}", "--folds", "2",
                          "--face-crop", "detect")
    flat = " ".join(text.split())
    assert status in (0, 3) and "face crop (detect, margin 0.15, 48x48" in flat
    assert ("(detect, margin 0.15, 48x48, no face: full frame kept): 12 cropped by detection, "
            "0 had no face found") in flat


def test_face_crop_flag_on_a_set_without_a_face_step_is_refused(cli, tmp_path):
    status, _, err = cli("run", "--models", "smallcnn", "--face-crop", "detect", "--out", tmp_path / "run")
    assert status != 0 and "data set 'synthetic' has no face step" in err
    assert "ckplus, imagefolder" in err


def test_list_datasets_shows_each_default_face_crop(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per data set, every column
    status, text, _ = cli("list", "datasets", "--wide")
    cells = {row[0]: row for row in ([c.strip() for c in line.split("│")[1:]]
                                     for line in text.splitlines() if line.startswith("│ "))}
    assert status == 0 and "face crop" in text
    assert "landmarks (original), none (CK+48)" in cells["ckplus"]
    assert "none (yours to choose)" in cells["imagefolder"]
    assert "none" in cells["ferplus"] and "none" in cells["rafdb"]


# ---------------------------------------------------------------- the real Haar cascade on real faces

CK48 = SHARED_DATA / "ckplus48"


@pytest.mark.skipif(not CK48.is_dir(), reason="needs ../shared/data/ckplus48")
def test_haar_cascade_finds_real_faces_pasted_into_noise():
    pytest.importorskip("cv2")
    files = sorted(CK48.glob("*/*.png"))[::12]
    rng = np.random.default_rng(0)
    ious = []
    for path in files:
        face = np.asarray(Image.open(path).convert("L").resize((160, 160), Image.Resampling.BICUBIC))
        scene = np.clip(rng.normal(128, 40, (300, 380)), 0, 255).astype(np.uint8)
        y, x = int(rng.integers(0, 300 - 160)), int(rng.integers(0, 380 - 160))
        scene[y:y + 160, x:x + 160] = face
        found = detect.find_faces(scene)
        if not found:
            ious.append(0.0)
            continue
        box = max(found, key=lambda b: b.w * b.h)
        dx = max(0.0, min(x + 160, box.x + box.w) - max(x, box.x))
        dy = max(0.0, min(y + 160, box.y + box.h) - max(y, box.y))
        ious.append(dx * dy / (160 * 160 + box.w * box.h - dx * dy))
    assert len(ious) >= 80
    assert np.mean(np.array(ious) >= 0.5) >= 0.9
    blank = [detect.find_faces(np.clip(rng.normal(128, 40, (300, 380)), 0, 255).astype(np.uint8))
             for _ in range(20)]
    assert not any(blank)


def test_face_crop_is_a_run_config_key(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('face_crop = "detect"\n')
    assert config.file_arguments(path, _run_parser()) == ["--face-crop", "detect"]
