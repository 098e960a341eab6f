"""The ferplus loader: the FER+ majority rule, soft labels, every quirk of the real files.

The majority rule is FER+'s own (``_process_data``): counts <= 1 set to 0, the top column
kept when it has more than half of the remaining votes (first column on a tie), samples whose
label is unknown, NF or undecided dropped. fer2013new.csv is the label file unless
``votes="label.csv"``.
"""

import numpy as np
import pytest

import ferbench
from ferbench import UserError
from ferbench_datasets.ferplus import majority_labels
from layouts import SHARED_DATA, write_image

HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
ROWS = [  # (Usage, name, votes); each name's PNG is written unless listed in NO_PNG
    ("Training", "fer0000000.png", "6,2,0,0,0,0,0,0,2,0"),    # neutral
    ("Training", "fer0000001.png", "5,5,0,0,0,0,0,0,0,0"),    # tie at 50%: no majority
    ("Training", "", "10,0,0,0,0,0,0,0,0,0"),                 # empty name
    ("Training", "fer0000003.png", "0,4,1,1,1,1,1,1,0,0"),    # single votes removed: happiness
    ("Training", "fer0000004.png", "0,0,0,0,0,0,0,0,8,2"),    # unknown
    ("Training", "fer0000005.png", "0,0,9,0,0,0,0,0,0,0"),    # 9 votes: surprise
    ("Training", "fer0000006.png", "0,0,0,7,3,0,0,0,0,0"),    # sadness, on two identical rows
    ("Training", "fer0000006.png", "0,0,0,7,3,0,0,0,0,0"),
    ("Training", "fer0000008.png", "0,0,0,0,10,0,0,0,0,0"),   # anger, but its PNG is missing
    ("Training", "fer0000009.png", "x,0,0,0,10,0,0,0,0,0"),   # bad line (line 11)
    ("PublicTest", "fer0000010.png", "0,0,0,0,0,8,0,2,0,0"),  # disgust
    ("PublicTest", "fer0000011.png", "0,0,0,0,0,0,0,0,0,10"),  # NF
    ("PrivateTest", "fer0000012.png", "5,0,0,1,1,0,0,0,3,0"),  # name on two rows, votes differ:
    ("PrivateTest", "fer0000013.png", "0,0,0,0,0,0,3,7,0,0"),  # contempt
    ("PrivateTest", "fer0000012.png", "0,0,0,0,0,0,0,0,0,10"),  # the last row (NF) is used
    ("PrivateTest", "", "0,0,0,0,0,0,0,0,0,10"),
]
NO_PNG = {"fer0000008.png"}
FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}


def make_ferplus(root, rows=ROWS, label_csv=True):
    root.mkdir(parents=True, exist_ok=True)
    (root / "fer2013new.csv").write_text("\n".join([HEADER] + [",".join(r) for r in rows]) + "\n")
    for i, (usage, name, _) in enumerate(rows):
        if name and name not in NO_PNG:
            write_image(root / "data" / FOLDERS[usage] / name, seed=i)
    write_image(root / "data" / "FER2013Test" / "fer0000099.png")  # a PNG without a row
    if label_csv:
        (root / "data" / "FER2013Train" / "label.csv").write_text(
            'fer0000000.png,"(0, 0, 48, 48)",7,1,0,0,0,0,0,0,2,0\n'   # differs from fer2013new.csv
            'fer0000003.png,"(0, 0, 48, 48)",0,4,1,1,1,1,1,1,0,0\n')
        (root / "data" / "FER2013Test" / "label.csv").write_text(
            'fer0000012.png,"(0, 0, 48, 48)",5,0,0,1,1,0,0,0,3,0\n')  # the first row's votes
    return root


def test_majority_rule():
    votes = np.array([
        [6, 2, 0, 0, 0, 0, 0, 0, 2, 0],   # 6 of 10
        [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],   # exactly half: undecided
        [0, 4, 1, 1, 1, 1, 1, 1, 0, 0],   # 4 of 4 once the single votes go
        [3, 3, 2, 0, 0, 0, 0, 0, 1, 1],   # 3 of 8: undecided
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],   # nothing left: undecided
        [0, 0, 0, 0, 0, 0, 0, 0, 3, 7],   # NF
    ])
    assert majority_labels(votes).tolist() == [0, -1, 1, -1, -1, 9]


def test_majority_labels_and_every_quirk(tmp_path):
    data = ferbench.get_dataset("ferplus", make_ferplus(tmp_path))
    assert data.classes == ferbench.EMOTIONS and data.image_shape == (48, 48, 1)
    assert data.subjects is None and data.soft_labels is None
    got = sorted(zip(data.paths, data.split, (data.classes[i] for i in data.labels)))
    assert got == [
        ("data/FER2013Test/fer0000013.png", "Test", "contempt"),
        ("data/FER2013Train/fer0000000.png", "Train", "neutral"),
        ("data/FER2013Train/fer0000003.png", "Train", "happiness"),
        ("data/FER2013Train/fer0000005.png", "Train", "surprise"),
        ("data/FER2013Train/fer0000006.png", "Train", "sadness"),
        ("data/FER2013Valid/fer0000010.png", "Valid", "disgust"),
    ]
    assert set(data.notes) == {
        "skipped 1 item (bad line (Usage not Training/PublicTest/PrivateTest, or a vote that is not a "
        "count): fer2013new.csv, line 11)",
        "skipped 1 file (missing: data/FER2013Train/fer0000008.png)",
        "dropped 1 sample (no majority: the top class has half of the votes or fewer, after removing "
        "classes with one vote; Train 1, Valid 0, Test 0)",
        "dropped 1 sample (majority 'unknown'; Train 1, Valid 0, Test 0)",
        "dropped 2 samples (majority 'NF' (not a face); Train 0, Valid 1, Test 1)",
        "dropped 2 rows with an empty Image name (no face: PrivateTest 1, Training 1)",
        "2 image names are on several rows (fer0000006.png, fer0000012.png); the last row is used, "
        "as its pixels are the ones in the PNG (votes differ for fer0000012.png)",
        "1 rows do not have 10 votes (fer0000005.png (9 votes)); kept, the rules use vote fractions",
        "label.csv disagrees with fer2013new.csv on the votes of 2 images (Train 1, Test 1); "
        "fer2013new.csv is used",
        "1 PNGs in FER2013Train have no row in fer2013new.csv (fer0000009.png); not used",
        "1 PNGs in FER2013Test have no row in fer2013new.csv (fer0000099.png); not used",
    }


def test_soft_labels(tmp_path):
    data = ferbench.get_dataset("ferplus", make_ferplus(tmp_path), labels="soft")
    assert len(data) == 7 and data.soft_labels.dtype == np.float32
    np.testing.assert_allclose(data.soft_labels.sum(1), 1, atol=1e-6)
    row = {p.split("/")[-1]: i for i, p in enumerate(data.paths)}
    np.testing.assert_allclose(data.soft_labels[row["fer0000000.png"]], [0.75, 0.25, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(data.soft_labels[row["fer0000003.png"]], [0, .4, .1, .1, .1, .1, .1, .1])
    assert data.labels[row["fer0000001.png"]] == 0  # no majority: argmax of the votes, first on a tie
    assert data.labels[row["fer0000003.png"]] == 1  # the majority label where there is one
    assert "dropped 3 samples (no emotion votes (only unknown / NF))" in data.notes
    assert "1 samples have no FER+ majority label; their label is the argmax of their emotion votes" in data.notes
    assert data.subset(np.array([0, 1])).soft_labels.shape == (2, 8)
    majority = ferbench.get_dataset("ferplus", tmp_path)
    assert data.fingerprint != majority.fingerprint


def test_votes_from_label_csv(tmp_path):
    root = make_ferplus(tmp_path)
    for usage, folder in FOLDERS.items():
        names = [r for r in ROWS if r[0] == usage and r[1] and r[1] not in NO_PNG and "x" not in r[2]]
        (root / "data" / folder / "label.csv").write_text("".join(
            f'{name},"(0, 0, 48, 48)",{votes}\n' for _, name, votes in dict(
                ((n, (u, n, v)) for u, n, v in names[::-1])).values()))
    data = ferbench.get_dataset("ferplus", root, votes="label.csv")
    test = data.split == "Test"
    assert sorted(data.paths[test]) == ["data/FER2013Test/fer0000012.png", "data/FER2013Test/fer0000013.png"]
    assert data.classes[data.labels[list(data.paths).index("data/FER2013Test/fer0000012.png")]] == "neutral"


def test_bad_input(tmp_path):
    root = make_ferplus(tmp_path / "a")
    with pytest.raises(UserError, match=r"fer2013new\.csv, line 11.*--strict"):
        ferbench.get_dataset("ferplus", root, strict=True)
    with pytest.raises(UserError, match="labels must be"):
        ferbench.get_dataset("ferplus", root, labels="probability")
    (root / "fer2013new.csv").write_text("name,votes\nfer0.png,3\n")
    with pytest.raises(UserError, match="expected .*'Usage', 'Image name'"):
        ferbench.get_dataset("ferplus", root)
    (root / "fer2013new.csv").unlink()
    with pytest.raises(UserError, match="fer2013new.csv not found"):
        ferbench.get_dataset("ferplus", root)
    root = make_ferplus(tmp_path / "b")
    (root / "data" / "FER2013Valid").rename(root / "data" / "valid")
    with pytest.raises(UserError, match="FER2013Valid.*not found"):
        ferbench.get_dataset("ferplus", root)


@pytest.fixture(scope="module")
def real_ferplus():
    root = SHARED_DATA / "ferplus"
    if not (root / "fer2013new.csv").is_file():
        pytest.skip("real FER+ not present")
    return {votes: ferbench.get_dataset("ferplus", root, votes=votes) for votes in ("fer2013new", "label.csv")}


def _per_split(data):
    return {s: np.bincount(data.labels[data.split == s], minlength=8).tolist() for s in ("Train", "Valid", "Test")}


def test_real_ferplus_majority_counts(real_ferplus):
    """FER+ rule on fer2013new.csv (the documented file); on label.csv it gives the published
    3,137-image test set (REFERENCES §1). Class order: neutral, happiness, surprise, sadness,
    anger, disgust, fear, contempt."""
    assert _per_split(real_ferplus["fer2013new"]) == {
        "Train": [8739, 7287, 3149, 3013, 2099, 119, 532, 119],   # 25,057
        "Valid": [1182, 865, 415, 351, 287, 24, 62, 13],          # 3,199
        "Test": [1089, 893, 396, 384, 273, 18, 83, 16],           # 3,152
    }
    assert _per_split(real_ferplus["label.csv"]) == {
        "Train": [8733, 7284, 3136, 3022, 2098, 116, 536, 120],   # 25,045
        "Valid": [1180, 862, 411, 348, 289, 25, 60, 16],          # 3,191
        "Test": [1083, 892, 394, 382, 269, 16, 86, 15],           # 3,137
    }
    notes = real_ferplus["fer2013new"].notes
    assert "dropped 173 rows with an empty Image name (no face: PrivateTest 15, PublicTest 10, Training 148)" in notes
    assert any(n.startswith("4 image names are on several rows") for n in notes)
    assert "1 rows do not have 10 votes (fer0010406.png (9 votes)); kept, the rules use vote fractions" in notes
    assert not any(n.startswith("skipped") for n in notes)


def test_real_ferplus_soft_labels():
    root = SHARED_DATA / "ferplus"
    if not (root / "fer2013new.csv").is_file():
        pytest.skip("real FER+ not present")
    data = ferbench.get_dataset("ferplus", root, labels="soft")
    assert len(data) == 35710 - 3 and data.soft_labels.shape == (35707, 8)


def test_dataset_checks_soft_labels_and_keeps_old_fingerprints():
    images = np.zeros((2, 4, 4, 1), np.uint8)
    plain = ferbench.Dataset(name="t", classes=("neutral", "anger"), images=images, labels=[0, 1],
                             paths=["a", "b"], notes=("a note",))
    same = ferbench.Dataset(name="t", classes=("neutral", "anger"), images=images, labels=[0, 1],
                            paths=["a", "b"])
    assert plain.fingerprint == same.fingerprint  # notes do not change it
    for bad in ([[1, 0]], [[0.5, 0.4], [1, 0]], [[-1, 2], [1, 0]], [[np.nan, 1], [1, 0]]):
        with pytest.raises(ValueError, match="soft_labels"):
            ferbench.Dataset(name="t", classes=("neutral", "anger"), images=images, labels=[0, 1],
                             paths=["a", "b"], soft_labels=bad)
