"""The leaderboard's inference: tests and intervals at the cluster unit, repeated fold plans,
NaN folds, per-class recall and calibration."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from conftest import make_dataset, unpadded
from test_report import write_run

from ferbench import stats
from ferbench.protocols import assign_folds
from ferbench.report import build_report, collect
from ferbench.report.analysis import correctness
from ferbench.report.calibration import expected_calibration_error, reliability


def _one_subject_per_fold_wrong(dataset, plan):
    """Correctness where "a" gets everything right and "b" misses every image of one subject in
    each test part: the per-fold accuracy gap is the same in every fold."""
    missed = {dataset.subjects[plan.test_index(fold)][0] for fold in range(plan.k)}

    def correct(model, index):
        return np.ones(len(index), bool) if model == "a" else ~np.isin(dataset.subjects[index], list(missed))

    return correct


def test_clustered_errors_are_not_bold_where_only_per_image_tests_call_them(tmp_path):
    dataset = make_dataset(n_subjects=12, per_subject=6, n_classes=3)
    plan = write_run(tmp_path / "run", {"a": 1, "b": 1}, k=4, dataset=dataset,
                     correct=_one_subject_per_fold_wrong(dataset, assign_folds(dataset, "subject", 4, 0)))
    analysis = build_report([tmp_path / "run"], tmp_path / "out").analyses[0]
    assert analysis.units.unit == "subject" and analysis.units.clusters == 12 and analysis.units.largest == 6
    board = analysis.board
    right = {m: (board.entries[m].predictions.sort_values("index").eval("y_true == y_pred")).to_numpy()
             for m in "ab"}
    assert stats.mcnemar_test(right["a"], right["b"]).pvalue < 0.001  # 24 images one way, none the other
    pair = analysis.pairs["accuracy"].iloc[0]
    assert pair["nb_p_holm"] < 0.05  # the same gap in every fold
    assert pair["signflip_p"] == pytest.approx(2 / 2**4)  # 4 subjects differ: exact sign-flip
    assert math.isnan(pair["mcnemar_p"])  # no per-image McNemar where subjects hold several images
    assert analysis.best["accuracy"] is None
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert not any(line.startswith("| a |") and "**" in line.split("|")[3] for line in md.splitlines())
    assert "sign-flip over subjects p (Holm)" in md and "12 subjects (72 test images, up to 6 per subject)" in md
    # The same predictions with every image its own unit (a plan without clusters) is bold.
    bare = assign_folds(dataset, "subject", 4, 0)
    write_run(tmp_path / "bare", {"a": 1, "b": 1}, k=4, dataset=dataset, plan=bare,
              correct=_one_subject_per_fold_wrong(dataset, bare))
    assert build_report([tmp_path / "bare"], tmp_path / "bare-out").analyses[0].best["accuracy"] == "a"
    assert plan.cluster_unit == "subject"


def test_pooled_accuracy_interval_resamples_subjects_or_is_wilson(tmp_path):
    write_run(tmp_path / "run", {"m1": 0.8, "m2": 0.6}, k=5)
    analysis = build_report([tmp_path / "run"], tmp_path / "out").analyses[0]
    entry = analysis.board.entries["m1"]
    right = (entry.predictions["y_true"] == entry.predictions["y_pred"]).to_numpy()
    _, clusters = analysis.board.plan.test_clusters(entry.predictions["index"].to_numpy())
    _, low, high = stats.cluster_bootstrap(right, clusters)
    assert analysis.summary.loc["m1", ["accuracy_low", "accuracy_high"]].tolist() == pytest.approx([low[0], high[0]])
    assert analysis.interval == "cluster bootstrap over subjects"
    dataset = make_dataset(n_subjects=10, subjects=False)
    write_run(tmp_path / "images", {"m1": 0.8, "m2": 0.6}, k=5, protocol="image", dataset=dataset)
    images = build_report([tmp_path / "images"], tmp_path / "images-out").analyses[0]
    assert images.units.unit == "image" and not images.units.clustered
    n = len(images.board.entries["m1"].predictions)
    hits = int(images.summary.loc["m1", "accuracy_pooled"] * n + 0.5)
    assert images.summary.loc["m1", ["accuracy_low", "accuracy_high"]].tolist() == pytest.approx(
        list(stats.wilson_interval(hits, n)))
    assert images.pairs["accuracy"]["mcnemar_p"].notna().all()


def test_a_nan_metric_in_one_fold_still_writes_every_board(tmp_path, cli):
    write_run(tmp_path / "run", {"m1": 0.9, "m2": 0.6, "m3": 0.5}, k=5)
    record = next((tmp_path / "run").rglob("m1/**/fold-1.json"))
    data = json.loads(record.read_text())
    data["metrics"]["roc_auc_ovr"] = float("nan")  # ROC AUC is undefined when a fold lacks a class
    record.write_text(json.dumps(data))
    status, out, err = cli("report", str(tmp_path / "run"), "--out", str(tmp_path / "out"))
    assert status == 0, out + err
    outcome = build_report([tmp_path / "run"], tmp_path / "out2")
    analysis = outcome.analyses[0]
    auc = analysis.pairs["roc_auc_ovr"].set_index(["a", "b"])
    assert auc.loc[("m1", "m2"), "folds"] == 4 and auc.loc[("m2", "m3"), "folds"] == 5
    assert not math.isnan(auc.loc[("m1", "m2"), "nb_p"])
    assert analysis.ranking is not None  # ranked on accuracy, which every fold has
    assert any("roc_auc_ovr is undefined in 1 of 5 folds" in note for note in analysis.notes)
    for name in ("leaderboard.md", "leaderboard.csv", "pairwise.csv", "leaderboard.tex", "index.html"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_repeated_fold_plans_merge_into_one_board_and_nothing_else_does(tmp_path):
    dataset = make_dataset(n_subjects=10, per_subject=6, n_classes=3)
    for seed in (0, 1, 2):
        write_run(tmp_path / "run", {"m1": 0.8, "m2": 0.6}, k=4, seed=seed, dataset=dataset)
    write_run(tmp_path / "run", {"m1": 0.8, "m2": 0.6}, k=4, protocol="image", dataset=dataset)
    other = make_dataset(n_subjects=10, per_subject=6, n_classes=3, seed=5)  # same name, other images
    write_run(tmp_path / "run", {"m1": 0.8, "m2": 0.6}, k=4, seed=7, dataset=other)
    boards = {board.key: board for board in collect([tmp_path / "run"])}
    assert set(boards) == {"tiny-subject-k4-s0+1+2", "tiny-image-k4-s0", "tiny-subject-k4-s7"}
    merged = boards["tiny-subject-k4-s0+1+2"]
    assert merged.repeats == 3 and merged.seeds == [0, 1, 2] and merged.complete() == ["m1", "m2"]
    assert merged.fold_name(9) == "seed 2, fold 1"
    assert sorted(merged.entries["m1"].predictions.groupby("repeat").size()) == [60, 60, 60]

    analysis = next(a for a in build_report([tmp_path / "run"], tmp_path / "out").analyses
                    if a.board.key == merged.key)
    scores = {m: merged.entries[m].scores["accuracy"].sort_index().to_numpy() for m in ("m1", "m2")}
    direct = stats.repeated_cv_ttest((scores["m1"] - scores["m2"]).reshape(3, 4), merged.test_train_ratio())
    pair = analysis.pairs["accuracy"].iloc[0]
    assert pair["folds"] == 12 and pair["nb_p"] == pytest.approx(direct.pvalue)
    assert analysis.units.training_runs == 12 and analysis.units.repeats == 3
    repeat_means = pd.Series(scores["m1"]).groupby(np.arange(12) // 4).mean()
    assert analysis.summary.loc["m1", "accuracy_repeat_sd"] == pytest.approx(repeat_means.std(ddof=1))
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "3 fold plans (seeds 0, 1, 2)" in md and "12 training runs per model (4 folds × 3 fold plans)" in md
    assert "one seed: variation between training runs of one fold is not covered" in md  # the other boards


def test_expected_calibration_error_by_hand():
    y = np.array([0, 0, 1, 1, 2])
    proba = np.array([[0.95, 0.05, 0.0], [0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.3, 0.7, 0.0], [0.2, 0.2, 0.6]])
    # Bins of width 1/15: {0.95, 0.9} hold two right answers at mean 0.925 → gap 0.075;
    # 0.6 (wrong, class 0 for a 1) and 0.6 (right) share a bin → accuracy 0.5, gap 0.1; 0.7 right → gap 0.3.
    table = reliability(y, proba)
    assert table["count"].sum() == 5
    expected = (2 * 0.075 + 2 * 0.1 + 1 * 0.3) / 5
    assert expected_calibration_error(y, proba) == pytest.approx(expected)


def test_zero_recall_on_a_class_is_flagged(tmp_path):
    def correct(model, index):
        labels = make_dataset(n_subjects=10, per_subject=6, n_classes=3).labels[index]
        return labels != 2 if model == "blind" else np.ones(len(index), bool)

    write_run(tmp_path / "run", {"blind": 1, "sees": 1}, k=5, correct=correct)
    analysis = build_report([tmp_path / "run"], tmp_path / "out").analyses[0]
    assert analysis.recall.loc["blind"].tolist() == [1.0, 1.0, 0.0]
    assert analysis.summary.loc["blind", "min_recall"] == 0
    assert any(note.startswith("blind: 0 % recall on") for note in analysis.notes)
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "0.0 (!)" in md and "reliability diagram" in md
    assert (tmp_path / "out" / "figures").rglob("calibration-*.png")


def test_one_training_run_on_one_split_bolds_no_model(tmp_path):
    base = make_dataset(n_subjects=40, per_subject=6, n_classes=3, subjects=False)
    split = np.where(np.arange(len(base)) % 3 == 0, "test", "train")
    dataset = dataclasses.replace(base, split=split)
    plan = assign_folds(dataset, "official", 1, 0)
    clear = {"strong": 0.97, "weak": 0.4}  # McNemar on 80 test images: p far below 0.001
    write_run(tmp_path / "once", clear, protocol="official", k=1, dataset=dataset, plan=plan)
    analysis = build_report([tmp_path / "once"], tmp_path / "once-out").analyses[0]
    assert analysis.units.training_runs == 1
    assert analysis.pairs["accuracy"].iloc[0]["mcnemar_p_holm"] < 0.001
    assert analysis.best == {metric: None for metric in analysis.best}
    md = unpadded((tmp_path / "once-out" / "leaderboard.md").read_text())
    assert "No bold: one training run per model on one split." in md and "**" not in md.split("| strong |")[1].split("\n")[0]
    assert "no test of which model is best: one training run per model on one split" in md


def test_one_split_trained_under_three_seeds_is_tested_over_the_seeds(tmp_path):
    base = make_dataset(n_subjects=40, per_subject=6, n_classes=3, subjects=False)
    dataset = dataclasses.replace(base, split=np.where(np.arange(len(base)) % 3 == 0, "test", "train"))
    for seed in (0, 1, 2):  # a clear gap that varies a little from one training run to the next
        accuracy = {"strong": 0.97 - 0.02 * seed, "weak": 0.4 + 0.05 * seed}
        write_run(tmp_path / "thrice", accuracy, protocol="official", k=1, seed=seed, dataset=dataset,
                  plan=assign_folds(dataset, "official", 1, seed))
    analysis = build_report([tmp_path / "thrice"], tmp_path / "out").analyses[0]
    board = analysis.board
    assert analysis.units.training_runs == 3 and board.repeats == 3
    gaps = {model: board.entries[model].scores["accuracy"].sort_index().to_numpy() for model in ("strong", "weak")}
    pair = analysis.pairs["accuracy"].iloc[0]
    direct = st.ttest_rel(gaps["strong"], gaps["weak"])
    assert pair["ttest_p"] == pytest.approx(direct.pvalue) and pair["ttest_p"] < 0.05
    assert np.isnan(pair["nb_p"])  # no folds: the corrected t does not apply
    assert analysis.best["accuracy"] == "strong"
    assert analysis.test.startswith("sign-flip test over") and "paired t over training seeds" in analysis.test
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert "one split × 3 training seeds" in md and "paired t over seeds p (Holm)" in md
    assert "**" in md.split("| strong |")[1].split("\n")[0]
    # The same seeds with a gap that flips sign between runs: the per-image tests still separate
    # the pooled predictions, the seeds do not, and nothing is bold.
    for seed, (high, low) in enumerate([(0.9, 0.5), (0.5, 0.9), (0.92, 0.5)]):
        write_run(tmp_path / "flips", {"strong": high, "weak": low}, protocol="official", k=1, seed=seed,
                  dataset=dataset, plan=assign_folds(dataset, "official", 1, seed))
    flips = build_report([tmp_path / "flips"], tmp_path / "flips-out").analyses[0]
    assert flips.pairs["accuracy"].iloc[0]["ttest_p"] > 0.05
    assert flips.best["accuracy"] is None


def test_one_split_with_some_models_under_three_seeds_is_tested_on_the_seeds_each_pair_shares(tmp_path):
    base = make_dataset(n_subjects=40, per_subject=6, n_classes=3, subjects=False)
    dataset = dataclasses.replace(base, split=np.where(np.arange(len(base)) % 3 == 0, "test", "train"))
    for seed in (0, 1, 2):  # "weak" trained under seed 0 only
        accuracy = {"strong": 0.97 - 0.02 * seed, "mid": 0.7 + 0.05 * seed} | ({"weak": 0.4} if seed == 0 else {})
        write_run(tmp_path / "run", accuracy, protocol="official", k=1, seed=seed, dataset=dataset,
                  plan=assign_folds(dataset, "official", 1, seed))
    analysis = build_report([tmp_path / "run"], tmp_path / "out").analyses[0]
    board = analysis.board
    assert analysis.summary["fold_plans"].to_dict() == {"strong": 3, "mid": 3, "weak": 1}
    pairs = analysis.pairs["accuracy"].set_index(["a", "b"])
    scores = {m: board.entries[m].scores["accuracy"].sort_index().to_numpy() for m in ("strong", "mid")}
    assert pairs.loc[("mid", "strong"), "folds"] == 3
    assert pairs.loc[("mid", "strong"), "ttest_p"] == pytest.approx(st.ttest_rel(scores["mid"], scores["strong"]).pvalue)
    assert pairs.loc[("mid", "weak"), "folds"] == 1 and np.isnan(pairs.loc[("mid", "weak"), "ttest_p"])
    assert "paired t over the training seeds each pair shares" in analysis.test
    assert analysis.best["accuracy"] is None  # strong vs weak: one shared run, no test over training runs
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert "k = 1, one split, 3 training seeds (0, 1, 2)" in md and "No bold" not in md
    assert "some models were trained under 3 seeds" in md and "the others under one seed" in md
    assert "Models with one seed: one training run" in md


def test_models_on_more_fold_plans_than_others_are_compared_on_the_plans_all_share(tmp_path):
    dataset = make_dataset(n_subjects=10, per_subject=6, n_classes=3)
    for seed in (0, 1, 2):
        write_run(tmp_path / "run", {"m1": 0.8, "m2": 0.6}, k=4, seed=seed, dataset=dataset)
    write_run(tmp_path / "run", {"m3": 0.7}, k=4, seed=0, dataset=dataset)  # one fold plan only
    write_run(tmp_path / "run", {"m4": 0.7}, k=4, seed=1, dataset=dataset)  # not on the first plan
    analysis = build_report([tmp_path / "run"], tmp_path / "out").analyses[0]
    board = analysis.board
    assert board.repeats == 3 and board.complete() == ["m1", "m2", "m3"]
    assert board.run_repeats("m1") == [0, 1, 2] and board.run_repeats("m3") == [0]
    assert board.shared_repeats(board.complete()) == [0]
    summary = analysis.summary
    assert summary.loc["m1", "fold_plans"] == 3 and summary.loc["m3", "fold_plans"] == 1
    # Means over all of a model's folds; the tests on the first plan's four folds only.
    assert summary.loc["m1", "accuracy_mean"] == pytest.approx(board.entries["m1"].scores["accuracy"].mean())
    # Fold-level tests on the folds each pair shares (12 for m1 and m2, 4 with m3); per-image
    # tests on the first plan, which all share.
    pairs = analysis.pairs["accuracy"].set_index(["a", "b"])
    assert pairs["folds"].to_dict() == {("m1", "m2"): 12, ("m1", "m3"): 4, ("m2", "m3"): 4}
    scores = {m: board.entries[m].scores["accuracy"].sort_index().to_numpy() for m in ("m1", "m2", "m3")}
    direct = stats.corrected_ttest(scores["m1"][:4], scores["m3"], board.test_train_ratio())
    assert pairs.loc[("m1", "m3"), "nb_p"] == pytest.approx(direct.pvalue)
    both = stats.repeated_cv_ttest((scores["m1"] - scores["m2"]).reshape(3, 4), board.test_train_ratio())
    assert pairs.loc[("m1", "m2"), "nb_p"] == pytest.approx(both.pvalue)
    first = correctness(board, ["m1", "m2"], [0])
    assert pairs.loc[("m1", "m2"), "pooled_difference"] == pytest.approx(first["m1"].mean() - first["m2"].mean())
    assert analysis.units.repeats == 1 and analysis.units.most == 3
    assert "corrected (repeated) k-fold t on the folds each pair shares" in analysis.test
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert "| m1 | 12/12 |" in md and "| m3 | 4/4 |" in md
    assert "some models ran on 3 fold plans (12 training runs" in md and "fold-level tests use the folds each" in md
    assert "not compared (results missing on some folds): m4" in md


def test_protocols_are_compared_on_the_fold_plans_a_model_ran_on_under_both(tmp_path):
    dataset = make_dataset(n_subjects=10, per_subject=6, n_classes=3)
    for seed, (image, subject) in enumerate((({"m1": 0.95, "m2": 0.95}, {"m1": 0.7, "m2": 0.7}),
                                             ({"m1": 0.9, "m2": 0.3}, {"m1": 0.2}))):  # m2: one subject plan
        write_run(tmp_path / "run", image, protocol="image", k=4, seed=seed, dataset=dataset)
        write_run(tmp_path / "run", subject, protocol="subject", k=4, seed=seed, dataset=dataset)
    outcome = build_report([tmp_path / "run"], tmp_path / "out")
    (comparison,) = outcome.comparisons
    boards = {a.board.plan.protocol: a.board for a in comparison.analyses}

    def right(protocol: str, model: str, seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
        board = boards[protocol]
        predictions = board.entries[model].predictions.sort_values(["repeat", "index"])
        predictions = predictions[[board.plans[r].seed in seeds for r in predictions["repeat"]]]
        return predictions.eval("y_true == y_pred").to_numpy(), predictions["index"].to_numpy()

    table = pd.read_csv(tmp_path / "out" / "protocols.csv").set_index(["label", "protocol"])
    for model, seeds in (("m1", [0, 1]), ("m2", [0])):  # m2 ran on one subject plan: compared on it alone
        means = {p: np.mean([s for r, s in boards[p].entries[model].scores["accuracy"].items()
                             if boards[p].plans[r // 4].seed in seeds]) for p in ("image", "subject")}
        row = table.loc[(model, "image")]
        assert row["gap_points"] == pytest.approx(100 * (means["image"] - means["subject"]))
        assert row["gap_seeds"] == "+".join(map(str, seeds))
        (x, rows), (y, _) = right("image", model, seeds), right("subject", model, seeds)
        expected = stats.clustered_mcnemar(x, y, dataset.subjects[rows])  # every plan's images, one subject a cluster
        assert (row["mcnemar_b"], row["mcnemar_c"]) == (expected.b, expected.c) and len(x) == 60 * len(seeds)
        assert row["mcnemar_p"] == pytest.approx(expected.pvalue)
    mixed = boards["image"].entries["m2"].scores["accuracy"].mean() - boards["subject"].entries["m2"].scores[
        "accuracy"].mean()
    assert abs(100 * mixed - table.loc[("m2", "image"), "gap_points"]) > 20  # the mixed-plan gap, far off
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    section = md.split("protocols compared on accuracy")[1].split("\n## ")[0]
    m2 = next(line for line in section.splitlines() if line.startswith("| m2 |")).split(" | ")
    assert m2[4] == f"{table.loc[('m2', 'image'), 'gap_points']:+.1f} (seed 0)"
    m1 = next(line for line in section.splitlines() if line.startswith("| m1 |")).split(" | ")
    assert "seed" not in m1[4] and "clustered McNemar image vs subject" in section
