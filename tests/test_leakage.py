"""Leakage checks: group overlap, planted exact and near duplicates, fitted statistics, the
``official`` protocol, the ``ferbench leakage`` command and the refusal of leaky runs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import ferbench
from ferbench.leakage import LeakageReport, audit
from ferbench.leakage.planted import KINDS, plant_copies
from ferbench.protocols import HELD_OUT, PURGED, FoldPlan, assign_folds, inner_split
from ferbench.similarity import DuplicateSearch, Pairs, components, near_pairs
from ferbench_datasets.synthetic_faces import generate_faces
from layouts import SHARED_DATA, pixels

from conftest import make_dataset, unpadded


@pytest.fixture(scope="module")
def synthetic():
    return ferbench.get_dataset("synthetic")


def _statuses(report: LeakageReport) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}


def test_image_protocol_leaks_sequences_and_near_duplicates_subject_protocol_is_clean(synthetic):
    leaky = audit(synthetic, assign_folds(synthetic, "image", 10, 0))
    assert leaky.leaky and leaky.protocol_leaky
    for name in ("subject overlap", "sequence overlap", "near duplicates"):
        check = leaky.check(name)
        assert check.status == "leak" and all(n > 0 for n in check.per_fold), name
        assert check.examples and {"fold", "test", "train"} <= set(check.examples[0])
    assert leaky.check("near duplicates").examples[0]["score"] >= DuplicateSearch().threshold
    clean = audit(synthetic, assign_folds(synthetic, "subject", 10, 0))
    assert not clean.leaky
    assert {n: s for n, s in _statuses(clean).items() if s == "leak"} == {}
    assert clean.check("near duplicates").details["pairs_within_training"] > 0  # counted, not leaks


def _same_class_faces() -> np.ndarray:
    """One happy face of each of the synthetic set's 20 subjects: unrelated faces of one class."""
    faces = generate_faces(subjects=20, frames=1, image_size=48, neutral=False, seed=0)
    happy = np.array(faces["labels"]) == "happiness"
    return faces["images"][happy][..., 0]


def test_planted_copies_of_every_kind_are_found_and_unrelated_faces_are_not():
    originals = _same_class_faces()
    copies, kinds, sources = plant_copies(originals, seed=1)
    stack = np.concatenate([originals, copies])[..., None]
    pairs = near_pairs(stack)
    unrelated = (pairs.first < len(originals)) & (pairs.second < len(originals))
    assert not unrelated.any(), "faces of different subjects flagged as near duplicates"
    group = components(len(stack), pairs)
    found = group[sources] == group[len(originals):]
    for kind in KINDS:
        assert found[kinds == kind].mean() >= 0.9, (kind, found[kinds == kind].mean())
    mirror_of_first = (pairs.first == 0) & (pairs.second == len(originals) * (1 + list(KINDS).index("mirror")))
    assert mirror_of_first.sum() == 1 and pairs.flipped[mirror_of_first].all()


def test_audit_counts_planted_copies_across_folds_and_label_conflicts():
    originals = _same_class_faces()[:10]
    copies, kinds, sources = plant_copies(originals[:4], seed=2)
    keep = np.isin(kinds, ["exact", "jpeg q70", "shift 2px", "mirror"])
    images = np.concatenate([originals, copies[keep]])[..., None]
    n = len(images)
    labels = np.zeros(n, np.int64)
    labels[len(originals)] = 1  # the exact copy of image 0 carries another label
    data = ferbench.Dataset(name="planted", classes=("happiness", "anger"), images=images,
                            labels=labels, paths=[f"f{i}.png" for i in range(n)],
                            subjects=[f"S{i}" for i in range(n)])
    fold = np.r_[np.zeros(len(originals)), np.ones(n - len(originals))].astype(np.int64)
    plan = FoldPlan("planted", data.fingerprint, "subject", 2, 0, "subject", "manual", fold)
    report = audit(data, plan)
    assert _statuses(report) == {"subject overlap": "pass", "sequence overlap": "not checked",
                                 "exact duplicates": "leak", "near duplicates": "leak",
                                 "suspected copies": "pass", "selection on copies of test images": "not checked",
                                 "label consistency": "warn", "fitted on test": "pass"}
    exact, near = report.check("exact duplicates"), report.check("near duplicates")
    assert exact.per_fold == [4, 4]  # each of 4 originals has its exact copy on the other side
    assert near.per_fold[0] == 0  # originals linked by exact copies are counted once, there
    assert near.per_fold[1] >= 11  # the 12 JPEG, shifted and mirrored copies
    assert report.check("label consistency").examples[0]["labels"] == ["happiness", "anger"]
    again = LeakageReport.from_dict(json.loads(report.to_json()))
    assert again.to_json() == report.to_json()


def test_fitted_on_test_flags_statistics_a_loader_fits_on_everything():
    data = make_dataset(n_subjects=6)
    plan = assign_folds(data, "subject", 3)
    report = audit(data, plan, fitted_on_all=("mean image subtracted at load time",))
    check = report.check("fitted on test")
    assert check.status == "leak" and check.leaks == len(data) and report.leaky
    assert audit(data, plan).check("fitted on test").status == "pass"


def _split_dataset(splits: list[str]) -> ferbench.Dataset:
    n = len(splits)
    return ferbench.Dataset(name="split", classes=("happiness", "anger"),
                            images=np.stack([pixels(i) for i in range(n)])[..., None],
                            labels=np.arange(n) % 2, paths=[f"{i}.png" for i in range(n)], split=splits)


def test_official_protocol_uses_the_data_sets_own_split():
    data = _split_dataset(["Training"] * 6 + ["PublicTest"] * 2 + ["PrivateTest"] * 3)
    plan = assign_folds(data, "official", k=10, seed=4)
    assert plan.k == 1 and not plan.leaky and plan.key == "split-official-k1-s4"
    assert plan.train_index(0).tolist() == list(range(6))
    assert plan.test_index(0).tolist() == [8, 9, 10]
    assert plan.held_out_index().tolist() == [6, 7] and (plan.test_fold[6:8] == HELD_OUT).all()
    with pytest.raises(ferbench.UserError, match="no official split.*--protocol subject"):
        assign_folds(make_dataset(), "official")
    with pytest.raises(ferbench.UserError, match=r"split name\(s\) \['holdout'\] have no known role"):
        assign_folds(_split_dataset(["train", "holdout"] * 2), "official")
    with pytest.raises(ferbench.UserError, match="no test split"):
        assign_folds(_split_dataset(["train", "valid"] * 2), "official")
    no_groups = _split_dataset(["train", "test"] * 3)
    with pytest.raises(ferbench.UserError, match="--protocol official"):
        assign_folds(no_groups, "subject", 2)


def test_official_purged_drops_training_and_validation_copies_and_keeps_the_test_split_whole():
    faces = _same_class_faces()[:12]
    copies, kinds, sources = plant_copies(faces[9:11], seed=3)
    jpeg, shifted = copies[(kinds == "jpeg q70") & (sources == 0)], copies[(kinds == "shift 2px") & (sources == 1)]
    # rows 0-6 train (row 2 is a JPEG of test row 9), 7-8 valid (row 8 is a shifted test row 10),
    # 9-11 test; rows 12-13 are training images that copy row 0, a training image.
    images = np.concatenate([faces[:2], jpeg, faces[3:8], shifted, faces[9:12], faces[:1], faces[:1]])
    data = ferbench.Dataset(name="copies", classes=("happiness", "anger"), images=images[..., None],
                            labels=np.arange(len(images)) % 2, paths=[f"{i}.png" for i in range(len(images))],
                            split=["train"] * 7 + ["valid"] * 2 + ["test"] * 3 + ["train"] * 2)
    official = assign_folds(data, "official")
    report = audit(data, official)
    assert report.check("near duplicates").leaked == [9]  # the JPEG in training
    selected = report.check("selection on copies of test images")  # the shifted copy in validation
    assert selected.status == "warn" and selected.leaked == [10] and "--selection last" in selected.description
    best = audit(data, official, selection="best")
    assert best.check("selection on copies of test images").status == "leak"
    assert "selection on copies of test images: 1 test images in 1/1 folds" in best.summary(warnings=False)
    assert best.check("selection on copies of test images").examples[0]["validation"] == "8.png"
    plan = assign_folds(data, "official-purged", k=10, seed=1)
    assert plan.key == "copies-official-purged-k1-s1" and plan.official and plan.design == "official split"
    assert np.flatnonzero(plan.test_fold == PURGED).tolist() == [2, 8]
    assert plan.test_index(0).tolist() == official.test_index(0).tolist() == [9, 10, 11]
    assert plan.train_index(0).tolist() == [0, 1, 3, 4, 5, 6, 12, 13]
    assert plan.held_out_index().tolist() == [7]
    assert inner_split(data, plan, 0, 0.1, seed=0).validation.tolist() == [7]
    assert "minus 2 training or validation images that copy a test image" in plan.splitter
    report = audit(data, plan, selection="best")
    assert not report.leaky and report.check("near duplicates").status == "pass"
    assert report.check("selection on copies of test images").status == "pass"
    assert not report.check("near duplicates").examples  # the purged copies are not shown as leaks
    assert report.check("exact duplicates").details["pairs_within_training"] >= 1
    strict = assign_folds(data, "official-purged", search=DuplicateSearch(threshold=0.999))
    assert (strict.test_fold == PURGED).sum() < 2  # the threshold is the purge's, and the plan says so
    assert "threshold 0.999" in strict.splitter


def test_dedup_keeps_every_copy_in_its_sources_fold_and_the_audit_then_passes():
    faces = _same_class_faces()
    copies, kinds, sources = plant_copies(faces[:5], seed=4)
    images = np.concatenate([faces, copies])[..., None]
    labels = np.concatenate([np.arange(len(faces)) % 2, sources % 2])
    data = ferbench.Dataset(name="nosubjects", classes=("happiness", "anger"), images=images, labels=labels,
                            paths=[f"{i}.png" for i in range(len(images))])
    with pytest.raises(ferbench.UserError, match="--protocol dedup"):
        assign_folds(data, "subject", 5)
    assert audit(data, assign_folds(data, "image", 5, 0)).check("near duplicates").status == "leak"
    plan = assign_folds(data, "dedup", 5, 0)
    source_fold = plan.test_fold[sources]
    assert (plan.test_fold[len(faces):] == source_fold).all()  # each copy is tested with its original
    assert plan.grouped_by == "copy group" and "chains of exact or near copies (threshold" in plan.splitter
    report = audit(data, plan)
    assert not report.leaky and report.check("near duplicates").status == "pass"
    assert report.check("exact duplicates").status == "pass"
    inner = inner_split(data, plan, 2, 0.1, seed=0)
    assert sorted(inner.validation) == sorted(plan.test_index(3)) and "fold 3's test part" in inner.source
    assert not set(inner.fit) & set(inner.validation) and not set(inner.fit) & set(plan.test_index(2))
    assert set(inner.fit) | set(inner.validation) == set(plan.train_index(2))


def test_dedup_on_a_data_set_with_subjects_still_reports_their_overlap(synthetic):
    report = audit(synthetic, assign_folds(synthetic, "dedup", 5, 0))
    assert report.leaky and not report.protocol_leaky
    assert report.check("near duplicates").status == "pass"
    assert report.check("subject overlap").status == "leak"


def _fer2013(root, duplicate: bool):
    root.mkdir(parents=True, exist_ok=True)
    usages = ["Training"] * 20 + ["PublicTest"] * 4 + ["PrivateTest"] * 6
    rows = [f"{i % 7},{' '.join(map(str, pixels(100 + i).ravel()))},{u}" for i, u in enumerate(usages)]
    if duplicate:  # a training image again in the test split
        rows.append(f"0,{' '.join(map(str, pixels(100).ravel()))},PrivateTest")
    (root / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    return root


def test_official_run_trains_one_fold_and_refuses_a_duplicate_across_the_split(cli, tmp_path):
    common = ("run", "--models", "smallcnn", "--datasets", "fer2013", "--protocol", "official",
              "--epochs", "1")
    clean = _fer2013(tmp_path / "clean", duplicate=False)
    status, out, err = cli(*common, "--data-dir", f"fer2013={clean}", "--out", tmp_path / "a")
    assert status == 0, out + err
    jobs = ferbench.load_jobs(tmp_path / "a")
    assert len(jobs) == 1 and jobs["n_test"].item() == 6 and jobs["n_train"].item() == 20
    assert not jobs["leaky"].any() and "--folds 10 is not used" in " ".join(out.split())
    dirty = _fer2013(tmp_path / "dirty", duplicate=True)
    status, _, err = cli(*common, "--data-dir", f"fer2013={dirty}", "--out", tmp_path / "b")
    assert status == 2 and "check 'exact duplicates' found 1 test images in 1/1 folds" in " ".join(err.split())
    status, _, _ = cli(*common, "--data-dir", f"fer2013={dirty}", "--out", tmp_path / "b", "--allow-leaky")
    assert status == 0 and ferbench.load_jobs(tmp_path / "b")["leaky"].all()
    purged = [arg if arg != "official" else "official-purged" for arg in common]
    status, out, err = cli(*purged, "--data-dir", f"fer2013={dirty}", "--out", tmp_path / "b")
    assert status == 0, out + err
    jobs = ferbench.load_jobs(tmp_path / "b")
    clean_job = jobs[jobs["protocol"] == "official-purged"]
    assert len(clean_job) == 1 and not clean_job["leaky"].any()
    assert clean_job["n_train"].item() == 19 and clean_job["n_test"].item() == 7
    status, out, err = cli("report", tmp_path / "b", "--out", tmp_path / "board")
    assert status == 0, out + err
    md = unpadded((tmp_path / "board" / "leaderboard.md").read_text())
    assert ("| model | epochs | official (official split, LEAKY) | official-purged (official split) "
            "| official − official-purged (points) | McNemar official vs official-purged: b/c, p (Holm) |") in md
    row = next(line for line in md.split("\n## ")[1].splitlines() if line.startswith("| smallcnn |"))
    assert "±" not in row and row.count("|") == 7  # one split: the value alone, the gap, the paired test
    assert re.search(r"\| \d+/\d+, (<|&lt;)?[01]\.\d{3} \|$", row), row  # the same 7 test images, paired


def test_official_selection_on_copies_of_test_images_is_refused_marked_and_named_on_the_board(cli, tmp_path):
    root = tmp_path / "fer"
    _fer2013(root, duplicate=False)
    rows = (root / "fer2013.csv").read_text().splitlines()
    copy = rows[25].rsplit(",", 1)[0]  # the first PrivateTest row's label and pixels ...
    (root / "fer2013.csv").write_text("\n".join(rows + [copy + ",PublicTest"]) + "\n")  # ... again in PublicTest
    common = ("run", "--models", "smallcnn", "--datasets", "fer2013", "--protocol", "official", "--epochs", "1",
              "--data-dir", f"fer2013={root}")
    status, out, err = cli(*common, "--out", tmp_path / "last")
    assert status == 0, out + err  # --selection last never looks at the validation split
    assert not ferbench.load_jobs(tmp_path / "last")["leaky"].any()
    assert "selection on copies of test images: 1 test images" in " ".join(out.split())  # a warning
    best = (*common, "--selection", "best", "--out", tmp_path / "best")
    status, _, err = cli(*best)
    assert status == 2 and "check 'selection on copies of test images' found 1 test images in 1/1 folds" in " ".join(
        err.split()) and "official-purged" in err
    assert cli(*best, "--allow-leaky")[0] == 0 and ferbench.load_jobs(tmp_path / "best")["leaky"].all()
    status, out, err = cli("report", tmp_path / "best", "--out", tmp_path / "board")
    board = " ".join((tmp_path / "board" / "leaderboard.md").read_text().split())
    assert status == 0 and "LEAKY**: selection on copies of test images: 1 test images in 1/1 folds" in board
    purged = [a if a != "official" else "official-purged" for a in best]
    status, out, err = cli(*purged[:-1], tmp_path / "purged")
    assert status == 0, out + err
    assert not ferbench.load_jobs(tmp_path / "purged")["leaky"].any()


def test_leakage_command_exit_status_and_json(cli, tmp_path):
    status, out, _ = cli("leakage", "--dataset", "synthetic", "--protocol", "image", "--folds", "5",
                         "--json", tmp_path / "image.json")
    assert status == 3 and "LEAKY" in out and "sequence overlap" in out
    report = json.loads((tmp_path / "image.json").read_text())
    assert {"dataset", "protocol", "folds", "leaky", "checks"} <= set(report)
    assert report["leaky"] and report["folds"] == 5
    assert {"name", "leaks", "examples"} <= set(report["checks"][0])
    status, out, _ = cli("leakage", "--dataset", "synthetic", "--folds", "5")
    assert status == 0 and "no leak found" in out
    assert "folds synthetic-subject-k5-s0: StratifiedGroupKFold(" in " ".join(out.split())
    status, _, err = cli("leakage", "--dataset", "synthetic", "--duplicate-threshold", "2")
    assert status == 2 and "threshold" in err


@pytest.mark.skipif(not (SHARED_DATA / "ckplus48").is_dir(), reason="needs ../shared/data/ckplus48")
def test_ckplus48_image_protocol_overlaps_sequences_in_every_fold(cli, tmp_path):
    data_dir = f"ckplus={SHARED_DATA / 'ckplus48'}"
    status, _, _ = cli("leakage", "--dataset", "ckplus", "--data-dir", data_dir, "--protocol", "image",
                       "--folds", "10", "--json", tmp_path / "image.json")
    report = json.loads((tmp_path / "image.json").read_text())
    sequences = next(c for c in report["checks"] if c["name"] == "sequence overlap")
    assert status == 3 and len(sequences["per_fold"]) == 10 and all(n > 0 for n in sequences["per_fold"])
    status, _, _ = cli("leakage", "--dataset", "ckplus", "--data-dir", data_dir, "--protocol", "subject",
                       "--folds", "10", "--json", tmp_path / "subject.json")
    report = json.loads((tmp_path / "subject.json").read_text())
    assert status == 0 and not report["leaky"]
    assert all(c["leaks"] == 0 for c in report["checks"] if c["kind"] == "leak")


def test_a_resumed_run_reuses_its_leakage_report(tmp_path, monkeypatch):
    common = dict(models="smallcnn", folds=3, out=tmp_path / "run", overrides={"epochs": 1})
    ferbench.run_benchmark(**common)

    def no_second_audit(*args, **kwargs):
        raise AssertionError("the stored report of the same plan and search should be reused")

    monkeypatch.setattr("ferbench.run.plan.audit", no_second_audit)
    assert ferbench.run_benchmark(**common).ran == 0
    with pytest.raises(AssertionError, match="reused"):  # another threshold is another audit
        ferbench.run_benchmark(**common, search=DuplicateSearch(threshold=0.97))
    with pytest.raises(AssertionError, match="reused"):  # --force redoes the audit too
        ferbench.run_benchmark(**common, force=True)


def _people(n: int = 8) -> ferbench.Dataset:
    """``n`` unrelated faces, two per subject (S0: rows 0, 1; S1: rows 2, 3; ...), two classes."""
    faces = _same_class_faces()[:n]
    return ferbench.Dataset(name="people", classes=("happiness", "anger"), images=faces[..., None],
                            labels=np.arange(n) % 2, paths=[f"p{i}.png" for i in range(n)],
                            subjects=[f"S{i // 2}" for i in range(n)])


def _given(pairs: list[tuple[int, int, float]]) -> tuple[Pairs, Pairs]:
    """Exact pairs (score 1) and near pairs as if the search had found them."""
    first, second, score = (np.array(column) for column in zip(*pairs))
    near = Pairs(first.astype(np.int64), second.astype(np.int64), score.astype(np.float32),
                 np.zeros(len(first), bool))
    exact = np.flatnonzero(score == 1.0)
    return (Pairs(near.first[exact], near.second[exact], near.score[exact], near.flipped[exact]),
            Pairs(*(getattr(near, f)[score < 1.0] for f in ("first", "second", "score", "flipped"))))


def test_look_alikes_across_subjects_are_suspected_copies_that_block_only_when_strict():
    data = _people()
    plan = FoldPlan("people", data.fingerprint, "subject", 2, 0, "subject", "manual",
                    np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    # rows 0 and 4 look alike (0.95); row 2 has a near copy in row 6 (0.995); 1-3 are one person
    copies = _given([(0, 4, 0.95), (2, 6, 0.995), (1, 3, 0.95)])
    report = audit(data, plan, copies=copies)
    suspected = report.check("suspected copies")
    assert suspected.status == "warn" and suspected.leaked == [0, 4] and suspected.examples[0]["score"] == 0.95
    assert report.check("near duplicates").leaked == [2, 6] and report.check("near duplicates").status == "leak"
    assert "suspected copies: 2 test images in 2/2 folds" in report.summary()
    assert "suspected copies" not in " ".join(report.summary(warnings=False))
    strict = audit(data, plan, copies=copies, strict_copies=True)
    assert strict.check("near duplicates").leaked == [0, 2, 4, 6] and strict.check("suspected copies").leaks == 0
    assert strict.settings["block_threshold"] == DuplicateSearch().threshold
    image = assign_folds(data, "image", 2, 0)  # subjects not kept apart: every near pair is a copy
    unapart = audit(data, image, copies=copies)
    assert unapart.check("suspected copies").status == "not checked"
    only_look_alikes = audit(data, plan, copies=_given([(0, 4, 0.95)]))
    assert not only_look_alikes.leaky  # the look-alike set no longer blocks a subject-independent run


def test_label_consistency_leaves_out_near_pairs_within_one_subject():
    data = _people()  # labels alternate, so each pair below joins two labels
    copies = _given([(0, 1, 0.97), (2, 3, 1.0), (1, 4, 0.97)])
    check = audit(data, assign_folds(data, "subject", 2, 0), copies=copies).check("label consistency")
    # (0, 1): one subject, near: two expressions of one person, not counted; (2, 3): exact, counted;
    # (1, 4): near across subjects, counted
    assert check.leaks == 2 and check.details["same_subject_near_pairs_not_checked"] == 1
    assert {(e["first"], e["second"]) for e in check.examples} == {("p2.png", "p3.png"), ("p1.png", "p4.png")}


def test_pairs_csv_lists_every_pair_with_its_kind_and_defuses_formulas(tmp_path):
    from ferbench.cli.leakage import write_pairs
    from ferbench.leakage.duplicates import pair_rows

    people = _people()
    data = ferbench.Dataset(name="people", classes=people.classes, images=people.images, labels=people.labels,
                            paths=["=HYPERLINK(1)", *people.paths[1:]], subjects=people.subjects)
    plan = FoldPlan("people", data.fingerprint, "subject", 2, 0, "subject", "manual",
                    np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    exact, near = _given([(0, 4, 1.0), (2, 3, 0.97)])
    near = Pairs(near.first, near.second, near.score, np.array([True]))
    write_pairs(tmp_path / "pairs.csv", pair_rows(data, plan, exact, near))
    lines = (tmp_path / "pairs.csv").read_text().splitlines()
    assert lines[0] == "first,second,score,kind,crosses_fold,first_label,second_label,same_subject"
    assert lines[1] == "'=HYPERLINK(1),p4.png,1.0,exact,True,happiness,happiness,False"
    assert lines[2] == "p2.png,p3.png,0.97,mirrored,False,happiness,anger,True"


def test_leakage_command_writes_all_pairs_and_takes_the_strict_and_selection_flags(cli, tmp_path):
    args = ("leakage", "--dataset", "synthetic", "--folds", "3", "--selection", "best")
    status, out, _ = cli(*args, "--pairs", tmp_path / "pairs.csv")
    rows = [line.split(",") for line in (tmp_path / "pairs.csv").read_text().splitlines()]
    assert rows[0][:5] == ["first", "second", "score", "kind", "crosses_fold"]
    assert f"wrote {len(rows) - 1} copy pair(s)" in " ".join(out.split())
    # The drawn set holds look-alikes of different subjects just above the threshold: pairs across
    # subjects are the only ones that cross a fold, suspected copies that do not block the run ...
    across = [row for row in rows[1:] if row[-1] == "False"]
    assert len(rows) > 1 and all(row[4] == "False" for row in rows[1:] if row[-1] == "True")
    assert all(row[4] == "True" and float(row[2]) < 0.96 for row in across)
    assert status == 0
    # ... until --strict-copies makes each of them a leak
    strict, _, _ = cli(*args, "--strict-copies")
    assert strict == (3 if across else 0)
