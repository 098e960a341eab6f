"""Cluster-level tests and intervals, repeated CV and the Bayesian test against independent answers:
brute-force enumeration, hand arithmetic, statsmodels and baycomp."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from ferbench import stats

# Four clusters of 1, 2, 3 and 2 test images; per-image correctness of one model.
CLUSTERS = np.array([0, 1, 1, 2, 2, 2, 3, 3])
CORRECT = np.array([1, 1, 0, 1, 1, 1, 0, 0], dtype=float)


def _exact_bootstrap(values: np.ndarray, clusters: np.ndarray) -> dict[float, float]:
    """Every ordered draw of as many clusters as there are, each equally likely: {pooled mean: probability}."""
    ids = np.unique(clusters)
    sums = {c: values[clusters == c].sum() for c in ids}
    sizes = {c: (clusters == c).sum() for c in ids}
    law: dict[float, float] = {}
    draws = list(itertools.product(ids, repeat=len(ids)))
    for draw in draws:
        mean = round(sum(sums[c] for c in draw) / sum(sizes[c] for c in draw), 12)
        law[mean] = law.get(mean, 0.0) + 1 / len(draws)
    return law


def test_cluster_bootstrap_matches_enumeration():
    law = _exact_bootstrap(CORRECT, CLUSTERS)
    draws = stats.cluster_bootstrap_distribution(CORRECT, CLUSTERS, n_resamples=100_000, seed=3)[:, 0]
    assert set(np.round(draws, 12)) <= set(law)
    cumulative = 0.0
    for atom in sorted(law):
        cumulative += law[atom]
        assert np.mean(draws <= atom + 1e-12) == pytest.approx(cumulative, abs=0.006)


def test_cluster_bootstrap_interval_and_paired_columns():
    estimate, low, high = stats.cluster_bootstrap(CORRECT, CLUSTERS, n_resamples=20_000)
    assert estimate[0] == pytest.approx(5 / 8)
    law = _exact_bootstrap(CORRECT, CLUSTERS)
    atoms = np.array(sorted(law))
    cdf = np.cumsum([law[a] for a in atoms])
    assert low[0] == pytest.approx(atoms[np.searchsorted(cdf, 0.025)], abs=0.02)
    assert high[0] == pytest.approx(atoms[np.searchsorted(cdf, 0.975)], abs=0.02)
    # Two columns resampled with the same clusters: the difference of a model with itself is 0.
    both = np.column_stack([CORRECT, CORRECT])
    draws = stats.cluster_bootstrap_distribution(both, CLUSTERS, n_resamples=500)
    assert np.array_equal(draws[:, 0], draws[:, 1])


def test_cluster_bootstrap_is_wider_than_image_bootstrap_for_clustered_errors():
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(40), 3)
    correct = np.repeat(rng.random(40) < 0.7, 3).astype(float)  # a clip is right or wrong as a whole
    _, low_c, high_c = stats.cluster_bootstrap(correct, clusters)
    _, low_i, high_i = stats.cluster_bootstrap(correct, np.arange(120))
    assert (high_c - low_c)[0] > 1.4 * (high_i - low_i)[0]


def _brute_sign_flip(a: np.ndarray, b: np.ndarray, clusters: np.ndarray) -> float:
    d = np.array([(a[clusters == c].astype(float) - b[clusters == c]).mean() for c in np.unique(clusters)])
    observed = abs(d.sum())
    hits = [abs(np.dot(signs, d)) >= observed - 1e-12 for signs in itertools.product((1, -1), repeat=len(d))]
    return float(np.mean(hits))


def test_sign_flip_exact_matches_enumeration():
    rng = np.random.default_rng(1)
    clusters = rng.integers(0, 10, 60)
    a, b = rng.random(60) < 0.8, rng.random(60) < 0.6
    result = stats.cluster_permutation_test(a, b, clusters)
    assert result.pvalue == pytest.approx(_brute_sign_flip(a, b, clusters))
    assert result.mean_difference == pytest.approx(a.mean() - b.mean())
    assert result.df == len(np.unique(clusters))


def test_sign_flip_monte_carlo_close_to_enumeration():
    rng = np.random.default_rng(2)
    clusters = np.repeat(np.arange(16), 4)
    a, b = rng.random(64) < 0.75, rng.random(64) < 0.65
    exact = _brute_sign_flip(a, b, clusters)
    sampled = stats.cluster_permutation_test(a, b, clusters, n_resamples=20_000, seed=0).pvalue
    assert sampled == pytest.approx(exact, abs=0.012)
    assert stats.cluster_permutation_test(a, a, clusters).pvalue == 1.0


def test_sign_flip_at_the_cluster_unit_is_less_sure_than_per_image_mcnemar():
    # 30 clips of 3 near-identical frames: A gets 8 more clips right than B.
    clusters = np.repeat(np.arange(30), 3)
    a = np.repeat(np.r_[np.ones(20), np.zeros(10)], 3).astype(bool)
    b = np.repeat(np.r_[np.ones(12), np.zeros(18)], 3).astype(bool)
    per_image = stats.mcnemar_test(a, b).pvalue
    per_clip = stats.cluster_permutation_test(a, b, clusters).pvalue
    assert per_image < 0.001 < 0.005 < per_clip


def test_clustered_mcnemar_worked_example():
    # Clusters with (b_k, c_k) = (2, 0), (1, 1), (0, 1), (3, 0): Σb − Σc = 4, Σ(b_k − c_k)² = 14.
    a = np.array([1, 1, 0, 1, 1, 0, 1, 1, 1, 1], dtype=bool)
    b = np.array([0, 0, 1, 0, 1, 1, 0, 0, 0, 1], dtype=bool)
    clusters = np.array([0, 0, 1, 1, 1, 2, 3, 3, 3, 3])
    result = stats.clustered_mcnemar(a, b, clusters)
    assert (result.b, result.c) == (6, 2)
    assert result.statistic == pytest.approx(16 / 14)
    assert result.pvalue == pytest.approx(math.erfc(math.sqrt(16 / 14 / 2)))  # χ²(1) tail in closed form


def test_clustered_mcnemar_with_single_images_is_mcnemar_chi2():
    rng = np.random.default_rng(4)
    a, b = rng.random(200) < 0.7, rng.random(200) < 0.6
    table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
    reference = mcnemar(table, exact=False, correction=False)
    result = stats.clustered_mcnemar(a, b, np.arange(200))
    assert result.statistic == pytest.approx(reference.statistic)
    assert result.pvalue == pytest.approx(reference.pvalue)
    assert stats.clustered_mcnemar(a, a, np.arange(200)).pvalue == 1.0


def test_wilson_interval_by_hand():
    k, n, z = 87, 100, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert stats.wilson_interval(k, n) == pytest.approx((centre - half, centre + half))
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))


def test_repeated_cv_ttest_by_hand():
    d = np.array([[0.02, 0.01, 0.03], [0.00, 0.02, 0.04]])  # 2 repeats × 3 folds
    mean = 0.12 / 6
    variance = sum((x - mean) ** 2 for x in d.ravel()) / 5
    t = mean / math.sqrt((1 / 6 + 0.5) * variance)
    result = stats.repeated_cv_ttest(d, test_train_ratio=0.5)
    assert result.statistic == pytest.approx(t)
    assert result.df == 5
    assert result.pvalue == pytest.approx(2 * (1 - stats.stats.t.cdf(t, 5)))
    with pytest.raises(ValueError, match="repeats × folds"):
        stats.repeated_cv_ttest(d.ravel(), 0.5)


def test_bayesian_correlated_ttest_agrees_with_baycomp():
    baycomp = pytest.importorskip("baycomp")
    rng = np.random.default_rng(5)
    a = 0.85 + 0.02 * rng.standard_normal(30)  # 3 repeats × 10 folds
    b = a - 0.012 + 0.015 * rng.standard_normal(30)
    ours = stats.bayesian_correlated_ttest(a, b, test_train_ratio=1 / 9, rope=0.01)
    # baycomp takes the difference second minus first: its "left" is A better.
    left, rope, right = baycomp.CorrelatedTTest.probs(a, b, rope=0.01, runs=3)
    assert (ours.a_better, ours.equivalent, ours.b_better) == pytest.approx((left, rope, right))
    assert ours.a_better + ours.equivalent + ours.b_better == pytest.approx(1)


def test_bayesian_correlated_ttest_zero_variance():
    same = stats.bayesian_correlated_ttest([0.9, 0.8], [0.88, 0.78], test_train_ratio=1.0, rope=0.01)
    assert (same.b_better, same.equivalent, same.a_better) == (0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="rope"):
        stats.bayesian_correlated_ttest([0.9, 0.8], [0.8, 0.7], 1.0, rope=-1)


def _crossed(rng: np.random.Generator, runs: int, clusters: int = 118, per: int = 8, run_sd: float = 0.5,
             cluster_sd: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correctness of ``runs`` training runs on the same test clusters: each run and each cluster
    shifts the log-odds of being right (from 88 %)."""
    logit = np.log(0.88 / 0.12) + rng.normal(0, run_sd, (runs, 1)) + rng.normal(0, cluster_sd, (1, clusters))
    right = rng.random((runs, clusters, per)) < 1 / (1 + np.exp(-logit))[..., None]
    return (right.ravel().astype(float), np.tile(np.repeat(np.arange(clusters), per), runs),
            np.repeat(np.arange(runs), clusters * per))


def test_resampling_repeats_changes_nothing_when_every_run_predicts_alike():
    right, clusters, _ = _crossed(np.random.default_rng(0), runs=1)
    copies = np.tile(right, 3)
    once = stats.cluster_bootstrap(right, clusters[: len(right)], n_resamples=499)
    thrice = stats.cluster_bootstrap(copies, np.tile(clusters[: len(right)], 3), n_resamples=499,
                                     repeats=np.repeat([0, 1, 2], len(right)))
    np.testing.assert_allclose(np.concatenate(thrice), np.concatenate(once))


def test_resampling_repeats_covers_the_variation_between_training_runs():
    """Ten training runs whose accuracy varies from run to run (0.5 on the log-odds): the 95 %
    interval over clusters alone covers the expected accuracy far too rarely; resampling the
    runs too (the pigeonhole bootstrap) brings it near its nominal level. Measured with 200 data
    sets of 118 clusters × 8 images: 71 % against 92 % (10 runs), 50 % against 79 % (3 runs);
    here 37 and 56 of 60."""
    rng = np.random.default_rng(3)
    population = np.log(0.88 / 0.12) + rng.normal(0, 0.5, (3000, 1)) + rng.normal(0, 1.0, (1, 3000))
    expected = float((1 / (1 + np.exp(-population))).mean())
    covered = {"clusters": 0, "runs and clusters": 0}
    for _ in range(60):
        right, clusters, runs = _crossed(rng, runs=10)
        _, low, high = stats.cluster_bootstrap(right, clusters, n_resamples=499)
        covered["clusters"] += bool(low[0] <= expected <= high[0])
        _, low, high = stats.cluster_bootstrap(right, clusters, n_resamples=499, repeats=runs)
        covered["runs and clusters"] += bool(low[0] <= expected <= high[0])
    assert covered["runs and clusters"] >= 0.85 * 60 and covered["clusters"] <= 0.8 * 60, covered
