"""ferbench.stats against published and hand-checked answers (REFERENCES.md §3 fixtures A–D)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from ferbench import stats

# Demšar (2006) Table 6: AUC, 14 data sets × 4 variants of C4.5.
MODELS = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]
TABLE6 = pd.DataFrame(
    [
        [0.763, 0.768, 0.771, 0.798], [0.599, 0.591, 0.590, 0.569], [0.954, 0.971, 0.968, 0.967],
        [0.628, 0.661, 0.654, 0.657], [0.882, 0.888, 0.886, 0.898], [0.936, 0.931, 0.916, 0.931],
        [0.661, 0.668, 0.609, 0.685], [0.583, 0.583, 0.563, 0.625], [0.775, 0.838, 0.866, 0.875],
        [1.000, 1.000, 1.000, 1.000], [0.940, 0.962, 0.965, 0.962], [0.619, 0.666, 0.614, 0.669],
        [0.972, 0.981, 0.975, 0.975], [0.957, 0.978, 0.946, 0.970],
    ],
    columns=MODELS,
)  # fmt: skip

# Fixture C: per-fold differences of a 10-fold CV.
D = np.array([0.01, 0.02, 0, 0.03, 0.01, 0.02, 0.01, 0, 0.02, 0.01])


def _pair_from(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = np.linspace(0.70, 0.79, d.size)
    return b + d, b


def _correct_from(table: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample correctness of A and B laid out from a 2×2 table [[both, A only], [B only, neither]]."""
    (both, a_only), (b_only, neither) = table
    a = [True] * both + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return np.array(a), np.array(b)


# --------------------------------------------------------------------------- A. Friedman / Nemenyi


def test_friedman_on_printed_table6_uses_ranks_recomputed_from_printed_values():
    # The paper ranks row "voting" 2 and 3 although it prints 0.975 twice; from the printed
    # values the ties share 2.5, giving 2.929 / 1.929 instead of the published 2.893 / 1.964.
    result = stats.friedman(TABLE6)
    assert result.n_blocks == 14 and result.n_models == 4
    assert list(result.ranks.index) == ["C4.5+m+cf", "C4.5+m", "C4.5+cf", "C4.5"]
    assert result.ranks["C4.5"] == pytest.approx(3.143, abs=1e-3)
    assert result.ranks["C4.5+m"] == pytest.approx(2.000, abs=1e-3)
    assert result.ranks["C4.5+cf"] == pytest.approx(2.929, abs=1e-3)
    assert result.ranks["C4.5+m+cf"] == pytest.approx(1.929, abs=1e-3)
    assert result.chi2 == pytest.approx(9.8571, abs=1e-4)
    assert result.f == pytest.approx(3.9867, abs=1e-4)
    assert result.f_pvalue == pytest.approx(0.01435, abs=1e-5)


def test_friedman_formulas_with_published_ranks():
    chi2, chi2_p, f, f_p = stats._friedman_from_ranks(np.array([3.143, 2.000, 2.893, 1.964]), 14)
    assert chi2 == pytest.approx(9.2836, abs=1e-4)
    assert chi2_p == pytest.approx(0.0257, abs=1e-4)
    assert f == pytest.approx(3.6889, abs=1e-4)
    assert f_p == pytest.approx(0.0198, abs=1e-4)


def test_friedman_chi2_matches_scipy_without_ties():
    scores = pd.DataFrame(np.random.default_rng(1).random((12, 5)), columns=list("ABCDE"))
    expected = st.friedmanchisquare(*scores.to_numpy().T)
    result = stats.friedman(scores)
    assert result.chi2 == pytest.approx(expected.statistic)
    assert result.chi2_pvalue == pytest.approx(expected.pvalue)


def test_friedman_lower_is_better_reverses_ranks():
    scores = pd.DataFrame({"x": [0.1, 0.2, 0.3], "y": [0.4, 0.5, 0.6]})
    assert stats.friedman(scores).ranks.to_dict() == {"y": 1.0, "x": 2.0}
    assert stats.friedman(scores, higher_is_better=False).ranks.to_dict() == {"x": 1.0, "y": 2.0}


def test_friedman_perfect_agreement_and_all_ties():
    agree = stats.friedman(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0.0, 1.0, 2.0]}))
    assert agree.f == math.inf and agree.f_pvalue == 0.0
    tied = stats.friedman(pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]}))
    assert tied.chi2 == 0.0 and tied.chi2_pvalue == 1.0 and tied.f_pvalue == 1.0


def test_friedman_rejects_nan_row_and_too_few_models_or_blocks():
    bad = TABLE6.copy()
    bad.index = [f"ds{i}" for i in range(14)]
    bad.loc["ds3", "C4.5+cf"] = np.nan
    with pytest.raises(ValueError, match="ds3"):
        stats.friedman(bad)
    with pytest.raises(ValueError, match="2 models"):
        stats.friedman(TABLE6[["C4.5"]])
    with pytest.raises(ValueError, match="2 blocks"):
        stats.friedman(TABLE6.iloc[:1])


def test_nemenyi_critical_differences_table6():
    result = stats.friedman(TABLE6)
    assert stats.nemenyi(result, 0.05).cd == pytest.approx(1.25, abs=5e-3)
    assert stats.nemenyi(result, 0.10).cd == pytest.approx(1.12, abs=5e-3)


def test_nemenyi_pvalues_table6():
    p = stats.nemenyi(stats.friedman(TABLE6)).pvalues
    expected = {
        ("C4.5", "C4.5+m"): 0.0887, ("C4.5", "C4.5+cf"): 0.9717, ("C4.5", "C4.5+m+cf"): 0.0617,
        ("C4.5+m", "C4.5+cf"): 0.2267, ("C4.5+m", "C4.5+m+cf"): 0.9989, ("C4.5+cf", "C4.5+m+cf"): 0.1701,
    }  # fmt: skip
    for (i, j), value in expected.items():
        assert p.loc[i, j] == pytest.approx(value, abs=1e-3)
        assert p.loc[j, i] == p.loc[i, j]
    assert np.all(np.diag(p.to_numpy()) == 1.0)


@pytest.mark.parametrize(
    ("alpha", "table"),
    [
        (0.05, [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]),
        (0.10, [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920]),
    ],
)
def test_nemenyi_q_alpha_matches_demsar_table5a(alpha, table):
    rng = np.random.default_rng(0)
    for k, q in zip(range(2, 11), table):
        result = stats.friedman(pd.DataFrame(rng.random((5, k))))
        assert stats.nemenyi(result, alpha).q_alpha == pytest.approx(q, abs=2e-3)


def test_cliques_hand_worked():
    ranks = pd.Series({"C": 2.2, "A": 1.0, "D": 3.5, "B": 1.5})
    # sorted A 1.0, B 1.5, C 2.2, D 3.5; gaps from A: 0.5, 1.2, 2.5; from B: 0.7, 2.0; C→D 1.3
    assert stats.cliques(ranks, 1.25) == [["A", "B", "C"]]
    assert stats.cliques(ranks, 1.0) == [["A", "B"], ["B", "C"]]
    assert stats.cliques(ranks, 0.4) == []
    assert stats.cliques(ranks, 3.0) == [["A", "B", "C", "D"]]


def test_cliques_table6():
    result = stats.friedman(TABLE6)
    assert stats.cliques(result.ranks, stats.nemenyi(result, 0.05).cd) == [["C4.5+m+cf", "C4.5+m", "C4.5+cf", "C4.5"]]
    assert stats.cliques(result.ranks, stats.nemenyi(result, 0.10).cd) == [
        ["C4.5+m+cf", "C4.5+m", "C4.5+cf"],
        ["C4.5+cf", "C4.5"],
    ]


# --------------------------------------------------------------------------- B. Wilcoxon


def test_wilcoxon_demsar_table2():
    result = stats.wilcoxon_test(TABLE6["C4.5+m"], TABLE6["C4.5"])
    assert result.name == "Wilcoxon signed-rank"
    assert result.statistic == pytest.approx(12.0)
    assert result.pvalue == pytest.approx(0.01097, abs=1e-5)
    assert math.isnan(result.low) and math.isnan(result.high) and math.isnan(result.df)


def test_wilcoxon_degenerate_and_five_fold_floor():
    assert stats.wilcoxon_test([0.8, 0.7, 0.9], [0.8, 0.7, 0.9]).pvalue == 1.0
    # 5 folds all in favour of A: the smallest two-sided p is 2/2**5
    assert stats.wilcoxon_test([0.9, 0.8, 0.7, 0.6, 0.5], [0.5, 0.4, 0.3, 0.2, 0.1]).pvalue == pytest.approx(0.0625)


# --------------------------------------------------------------------------- C. t-tests


def test_corrected_ttest_fixture_c():
    a, b = _pair_from(D)
    result = stats.corrected_ttest(a, b, 1 / 9)
    assert result.name == "corrected t (Nadeau-Bengio)"
    assert result.statistic == pytest.approx(2.9824, abs=1e-4)
    assert result.pvalue == pytest.approx(0.0154, abs=1e-4)
    assert result.df == 9
    assert result.mean_difference == pytest.approx(D.mean())
    # independent route: the uncorrected one-sample t, rescaled by the variance inflation
    plain = st.ttest_1samp(D, 0.0)
    t = plain.statistic * math.sqrt((1 / 10) / (1 / 10 + 1 / 9))
    assert result.statistic == pytest.approx(t)
    assert result.pvalue == pytest.approx(2 * st.t.sf(t, 9))
    # the interval is the plain one widened by the same factor
    ci = plain.confidence_interval(0.95)
    widen = math.sqrt((1 / 10 + 1 / 9) / (1 / 10))
    assert result.low == pytest.approx(D.mean() - (D.mean() - ci.low) * widen)
    assert result.high == pytest.approx(D.mean() + (ci.high - D.mean()) * widen)


def test_corrected_ttest_with_zero_ratio_is_paired_ttest():
    a, b = _pair_from(D)
    nb, plain = stats.corrected_ttest(a, b, 0.0), stats.paired_ttest(a, b)
    assert nb.statistic == pytest.approx(plain.statistic)
    assert nb.pvalue == pytest.approx(plain.pvalue)
    assert (nb.low, nb.high) == pytest.approx((plain.low, plain.high))


def test_paired_ttest_fixture_c():
    a, b = _pair_from(D)
    result = stats.paired_ttest(a, b, confidence=0.9)
    assert result.name == "paired t (uncorrected)"
    assert result.statistic == pytest.approx(4.3333, abs=1e-4)
    assert result.pvalue == pytest.approx(0.00190, abs=1e-5)
    ci = st.ttest_1samp(D, 0.0).confidence_interval(0.9)
    assert (result.low, result.high) == pytest.approx((ci.low, ci.high))


@pytest.mark.parametrize("test", [stats.paired_ttest, lambda a, b: stats.corrected_ttest(a, b, 0.25)])
def test_ttests_with_zero_variance(test):
    same = test([0.8, 0.7, 0.9], [0.8, 0.7, 0.9])
    assert (same.statistic, same.pvalue, same.low, same.high) == (0.0, 1.0, 0.0, 0.0)
    shifted = test([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])
    assert (shifted.statistic, shifted.pvalue) == (math.inf, 0.0)
    assert shifted.low == shifted.high == 0.25


# --------------------------------------------------------------------------- D. McNemar


def test_mcnemar_fixture_d():
    a, b = _correct_from([[50, 10], [3, 37]])
    result = stats.mcnemar_test(a, b)
    assert result.name == "McNemar (exact)"
    assert (result.b, result.c) == (10, 3)
    assert result.statistic == 3
    assert result.pvalue == pytest.approx(0.092285, abs=1e-6)
    assert result.pvalue == pytest.approx(st.binomtest(3, 13).pvalue)
    assert result.mean_difference == pytest.approx(a.mean() - b.mean())
    assert result.mean_difference == pytest.approx(0.07)
    moved = stats.mcnemar_test(*_correct_from([[5, 10], [3, 200]]))
    assert moved.pvalue == pytest.approx(result.pvalue)


def test_mcnemar_no_discordant_samples_and_integer_input():
    assert stats.mcnemar_test([True, False, True], [True, False, True]).pvalue == 1.0
    assert stats.mcnemar_test([1, 0, 1], [0, 0, 1]).b == 1


# --------------------------------------------------------------------------- Holm


def test_holm_demsar_example():
    raw = 2 * st.norm.sf([2.416, 2.342, 0.512])
    assert stats.holm(raw) == pytest.approx([0.0471, 0.0471, 0.6084], abs=2e-3)


def test_holm_leaves_nan_out_of_the_family():
    raw = 2 * st.norm.sf([2.416, 2.342, 0.512])
    adjusted = stats.holm([np.nan, *raw, np.nan])
    assert np.isnan(adjusted[[0, 4]]).all()
    assert adjusted[1:4] == pytest.approx(stats.holm(raw))
    assert np.isnan(stats.holm([np.nan, np.nan])).all()
    assert stats.holm([]).size == 0


# --------------------------------------------------------------------------- summarize

SAMPLE = [0.81, 0.79, 0.84, 0.80, 0.83, 0.78]


def test_summarize_t_interval_and_sd():
    result = stats.summarize(SAMPLE, confidence=0.9)
    ci = st.ttest_1samp(SAMPLE, 0.0).confidence_interval(0.9)
    assert result.n == 6
    assert result.mean == pytest.approx(np.mean(SAMPLE))
    assert result.sd == pytest.approx(np.std(SAMPLE, ddof=1))
    assert (result.t_low, result.t_high) == pytest.approx((ci.low, ci.high))


def test_summarize_bootstrap_brackets_mean_and_is_reproducible():
    first = stats.summarize(SAMPLE, n_resamples=2000, seed=3)
    assert first.boot_low < first.mean < first.boot_high
    assert min(SAMPLE) <= first.boot_low and first.boot_high <= max(SAMPLE)
    assert stats.summarize(SAMPLE, n_resamples=2000, seed=3) == first
    tiny = stats.summarize([0.8, 0.9])
    assert 0.8 <= tiny.boot_low <= tiny.boot_high <= 0.9


def test_summarize_degenerate():
    equal = stats.summarize([0.7, 0.7, 0.7, 0.7])
    assert (equal.mean, equal.sd) == (0.7, 0.0)
    assert equal.t_low == equal.t_high == equal.boot_low == equal.boot_high == 0.7
    one = stats.summarize([0.7])
    assert one.n == 1 and one.mean == 0.7
    assert all(math.isnan(v) for v in (one.sd, one.t_low, one.t_high, one.boot_low, one.boot_high))


# --------------------------------------------------------------------------- pairwise


@pytest.fixture
def folds() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    base = rng.normal(0.75, 0.02, size=(10, 1))
    return pd.DataFrame(base + rng.normal([0.02, 0.0, -0.01], 0.01, size=(10, 3)), columns=list("ABC"))


@pytest.fixture
def correct() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    return pd.DataFrame(rng.random((300, 3)) < [0.8, 0.75, 0.7], columns=list("ABC"))


def test_pairwise_rows_match_direct_calls(folds, correct):
    table = stats.pairwise(folds, 1 / 9, correct)
    assert list(table.columns) == stats.PAIRWISE_COLUMNS
    assert list(zip(table.a, table.b)) == [("A", "B"), ("A", "C"), ("B", "C")]
    row = table.iloc[0]
    nb = stats.corrected_ttest(folds.A, folds.B, 1 / 9)
    wx = stats.wilcoxon_test(folds.A, folds.B)
    mc = stats.mcnemar_test(correct.A, correct.B)
    assert row.mean_difference == pytest.approx(nb.mean_difference)
    assert (row.nb_t, row.nb_p, row.nb_low, row.nb_high) == pytest.approx((nb.statistic, nb.pvalue, nb.low, nb.high))
    assert (row.wilcoxon_stat, row.wilcoxon_p) == pytest.approx((wx.statistic, wx.pvalue))
    assert row.ttest_p == pytest.approx(stats.paired_ttest(folds.A, folds.B).pvalue)
    assert (row.mcnemar_b, row.mcnemar_c, row.mcnemar_p) == pytest.approx((mc.b, mc.c, mc.pvalue))
    for test in ("nb", "wilcoxon", "ttest", "mcnemar"):
        assert (table[f"{test}_p_holm"] >= table[f"{test}_p"]).all()
        assert table[f"{test}_p_holm"].to_numpy() == pytest.approx(stats.holm(table[f"{test}_p"]))
    assert table.attrs == {"alpha": 0.05, "confidence": 0.95, "rope": 0.01}


def test_pairwise_missing_inputs_give_nan_columns(folds, correct):
    fold_columns = ["nb_t", "nb_p", "nb_p_holm", "nb_low", "nb_high", "wilcoxon_stat",
                    "wilcoxon_p", "wilcoxon_p_holm", "ttest_p", "ttest_p_holm"]  # fmt: skip
    mcnemar_columns = ["mcnemar_b", "mcnemar_c", "mcnemar_p", "mcnemar_p_holm"]
    no_correct = stats.pairwise(folds, 1 / 9)
    assert no_correct[mcnemar_columns].isna().all().all()
    assert no_correct[fold_columns].notna().all().all()
    one_fold = stats.pairwise(folds.iloc[:1], 1 / 9, correct)
    assert one_fold[fold_columns].isna().all().all()
    assert one_fold[mcnemar_columns].notna().all().all()
    assert one_fold.mean_difference.iloc[0] == pytest.approx(folds.A.iloc[0] - folds.B.iloc[0])
    no_ratio = stats.pairwise(folds, None)  # one split under several seeds: the paired t over them only
    assert no_ratio[fold_columns[:-2]].isna().all().all()
    assert no_ratio["ttest_p"].tolist() == pytest.approx(
        [st.ttest_rel(folds[a], folds[b]).pvalue for a, b in no_ratio[["a", "b"]].itertuples(index=False)])


# --------------------------------------------------------------------------- bad input


def test_bad_input_raises_useful_errors(folds, correct):
    with pytest.raises(ValueError, match="got 3 and 2 values"):
        stats.corrected_ttest([0.1, 0.2, 0.3], [0.1, 0.2], 0.25)
    with pytest.raises(ValueError, match="at least 2 paired folds"):
        stats.paired_ttest([0.1], [0.2])
    with pytest.raises(ValueError, match="NaN at positions \\[1\\]"):
        stats.wilcoxon_test([0.1, np.nan, 0.3], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="test_train_ratio"):
        stats.corrected_ttest([0.1, 0.2], [0.2, 0.1], -1.0)
    with pytest.raises(ValueError, match="same test samples"):
        stats.mcnemar_test([True, False], [True])
    with pytest.raises(ValueError, match="True/False"):
        stats.mcnemar_test([0.5, 1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        stats.summarize([0.1, np.nan])
    with pytest.raises(ValueError, match="no column for models \\['C'\\]"):
        stats.pairwise(folds, 1 / 9, correct[["A", "B"]])
    with pytest.raises(ValueError, match="confidence"):
        stats.paired_ttest([0.1, 0.2], [0.2, 0.1], confidence=95)
