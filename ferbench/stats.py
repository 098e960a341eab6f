"""Significance tests and intervals for comparing models over cross-validation folds.

Which test answers which question:

* **Do A and B differ on the same k folds of one data set?** Use :func:`corrected_ttest`,
  the corrected resampled t of Nadeau & Bengio (2003, *Machine Learning* 52). The fold
  training sets overlap, so the plain paired t (:func:`paired_ttest`) is too optimistic;
  it is reported only for comparison.
* **The same, without assuming normal differences:** :func:`wilcoxon_test` (signed ranks,
  Demšar's ``zsplit`` handling of zero differences). It is a check, not a replacement: it
  ignores the fold overlap too, and with 5 folds it can never reach p < 0.05.
* **Do A and B err on different test samples?** :func:`mcnemar_test` on pooled per-sample
  correctness (Dietterich 1998). It sees only test-set variation, not training-set
  variation, and pooled out-of-fold predictions mix k different models: an approximation.
* **Many pairs at once:** adjust each test's p-values with :func:`holm` across the pairs
  (Demšar 2006 prefers Holm to Bonferroni–Dunn). :func:`pairwise` does all of the above.
* **k models over N data sets:** :func:`friedman` (with the Iman–Davenport F) asks whether
  any model differs; :func:`nemenyi` and :func:`cliques` say which pairs do (Demšar 2006,
  *JMLR* 7). The blocks should be data sets. Folds of one data set are not independent
  blocks (their training sets overlap), so Friedman/Nemenyi over folds is indicative only.
* **How precise is a mean over folds?** :func:`summarize` gives t and bootstrap intervals;
  both are too narrow because folds are correlated.

Test images are not independent either when several come from one person or one clip (CK+
keeps three near-identical frames of every clip). The *cluster* is the unit that is: the
subject where a data set has subjects, else the clip, else the group of copies, else the image.

* **Do A and B differ, with clusters of several images?** :func:`cluster_permutation_test`, a
  paired sign-flip test on per-cluster accuracy differences, and :func:`clustered_mcnemar`
  (Durkalski et al. 2003, *Statistics in Medicine* 22). Per-image :func:`mcnemar_test` is right
  only where every cluster is one image, and then sees test-image variation only.
* **How precise is a pooled accuracy, or a difference of two?** :func:`cluster_bootstrap`
  resamples whole clusters; :func:`wilson_interval` for one split of independent images.
* **Several fold plans (repeated k-fold)?** :func:`repeated_cv_ttest`, Bouckaert & Frank's
  (2004, *PAKDD*) corrected repeated k-fold t over all r·k fold differences.
* **How likely is A practically better, equivalent or worse?** :func:`bayesian_correlated_ttest`
  (Benavoli et al. 2017, *JMLR* 18(77)) with a region of practical equivalence.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

__all__ = [
    "Friedman",
    "Nemenyi",
    "PairedTest",
    "Summary",
    "Posterior",
    "bayesian_correlated_ttest",
    "cliques",
    "cluster_bootstrap",
    "cluster_permutation_test",
    "clustered_mcnemar",
    "corrected_ttest",
    "friedman",
    "holm",
    "mcnemar_test",
    "nemenyi",
    "paired_ttest",
    "pairwise",
    "repeated_cv_ttest",
    "summarize",
    "wilcoxon_test",
    "wilson_interval",
]

NAN = float("nan")


# --------------------------------------------------------------------------- validation


def _scores(values: ArrayLike, name: str, allow_nan: bool = False) -> np.ndarray:
    """``values`` as a 1-D float array without NaN (with ``allow_nan``, NaN marks a fold where
    the metric is undefined), or a ``ValueError`` saying why not."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 1-D sequence of numbers: {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one score per fold); got shape {array.shape}.")
    if not allow_nan and np.isnan(array).any():
        where = np.flatnonzero(np.isnan(array)).tolist()
        raise ValueError(f"{name} contains NaN at positions {where}; drop or fill those folds first.")
    return array


def _paired(a: ArrayLike, b: ArrayLike, min_n: int = 2) -> np.ndarray:
    """The differences ``a - b`` of two equally long score sequences with at least ``min_n`` folds."""
    x, y = _scores(a, "a"), _scores(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must hold one score per fold for the same folds; got {x.size} and {y.size} values.")
    if x.size < min_n:
        raise ValueError(f"this test needs at least {min_n} paired folds; got {x.size}.")
    return x - y


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1 (e.g. 0.95); got {confidence}.")


# --------------------------------------------------------------------------- one model


@dataclass(frozen=True)
class Summary:
    """One metric of one model over folds: mean, sd (ddof=1) and two intervals of the mean."""

    n: int
    mean: float
    sd: float
    t_low: float
    t_high: float
    boot_low: float
    boot_high: float


def summarize(scores: ArrayLike, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0) -> Summary:
    """Mean, sd and t / bootstrap intervals of the mean of per-fold scores.

    Both intervals treat folds as independent, which they are not (training sets overlap),
    so they are too narrow. The bootstrap is BCa, falling back to percentile when BCa is
    undefined; all-equal scores give zero-width intervals; fewer than 2 folds give NaN.
    """
    _check_confidence(confidence)
    x = _scores(scores, "scores")
    n = int(x.size)
    mean = float(x.mean()) if n else NAN
    if n < 2:
        return Summary(n, mean, NAN, NAN, NAN, NAN, NAN)
    sd = float(x.std(ddof=1))
    if np.all(x == x[0]):  # exact value: summing n copies can round
        value = float(x[0])
        return Summary(n, value, 0.0, value, value, value, value)
    t_ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence)
    boot_low, boot_high = _bootstrap_mean(x, confidence, n_resamples, seed)
    return Summary(n, mean, sd, float(t_ci.low), float(t_ci.high), boot_low, boot_high)


def _bootstrap_mean(x: np.ndarray, confidence: float, n_resamples: int, seed: int) -> tuple[float, float]:
    """BCa interval of the mean, or the percentile interval where BCa warns or is NaN (tiny samples)."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ci = stats.bootstrap(
                (x,),
                np.mean,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method=method,
                random_state=seed,
            ).confidence_interval
        low, high = float(ci.low), float(ci.high)
        if not caught and not (math.isnan(low) or math.isnan(high)):
            break
    return low, high


# --------------------------------------------------------------------------- two models


@dataclass(frozen=True)
class PairedTest:
    """A two-model test: statistic, p-value and the mean difference A − B with its interval.

    ``b``/``c`` are McNemar's discordant counts (A right/B wrong, A wrong/B right), else None.
    """

    name: str
    statistic: float
    pvalue: float
    mean_difference: float
    low: float
    high: float
    df: float
    b: int | None = None
    c: int | None = None


def corrected_ttest(a: ArrayLike, b: ArrayLike, test_train_ratio: float, confidence: float = 0.95) -> PairedTest:
    """Nadeau–Bengio corrected resampled t on paired fold scores (two-sided).

    The variance is inflated by ``test_train_ratio`` (n_test/n_train, 1/(k-1) for k-fold CV)
    to allow for overlapping training sets; still approximate. All differences zero gives
    t = 0, p = 1; constant non-zero differences give t = ±inf, p = 0 (zero variance).
    """
    _check_confidence(confidence)
    if not (math.isfinite(test_train_ratio) and test_train_ratio >= 0):
        raise ValueError(
            f"test_train_ratio must be a finite number >= 0 (n_test/n_train, 1/(k-1) for k-fold CV); "
            f"got {test_train_ratio}."
        )
    d = _paired(a, b)
    # No scipy built-in for Nadeau–Bengio: the one-sample t with an inflated variance.
    j = d.size
    mean = float(d.mean())
    constant = np.all(d == d[0])  # exact zero variance; var() may leave rounding noise
    se = 0.0 if constant else math.sqrt((1 / j + test_train_ratio) * d.var(ddof=1))
    if constant:
        t, p = _zero_variance_t(mean)
    else:
        t = mean / se
        p = float(2 * stats.t.sf(abs(t), j - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, j - 1)) * se
    return PairedTest("corrected t (Nadeau-Bengio)", t, p, mean, mean - half, mean + half, float(j - 1))


def _zero_variance_t(mean: float) -> tuple[float, float]:
    """(t, two-sided p) when every fold difference is the same: 0/0 → (0, 1), x/0 → (±inf, 0)."""
    return (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)


def paired_ttest(a: ArrayLike, b: ArrayLike, confidence: float = 0.95) -> PairedTest:
    """Ordinary paired t on fold scores (``scipy.stats.ttest_rel``), for comparison only.

    Anti-conservative over CV folds: overlapping training sets make the folds correlated,
    so p is too small and the interval too narrow; prefer :func:`corrected_ttest`.
    """
    _check_confidence(confidence)
    d = _paired(a, b)
    mean = float(d.mean())
    df = float(d.size - 1)
    if np.all(d == d[0]):  # zero variance: scipy would warn and give nan for all-zero d
        t, p = _zero_variance_t(mean)
        return PairedTest("paired t (uncorrected)", t, p, mean, mean, mean, df)
    result = stats.ttest_rel(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    ci = result.confidence_interval(confidence)
    return PairedTest(
        "paired t (uncorrected)",
        float(result.statistic),
        float(result.pvalue),
        mean,
        float(ci.low),
        float(ci.high),
        df,
    )


def wilcoxon_test(a: ArrayLike, b: ArrayLike) -> PairedTest:
    """Wilcoxon signed-rank test on paired fold scores, zero differences split (Demšar's ``zsplit``).

    Non-parametric check on :func:`corrected_ttest`; it ignores the fold overlap, and 5 folds
    can never reach p < 0.05 (smallest two-sided p = 0.0625). All differences zero gives p = 1.
    """
    d = _paired(a, b)
    result = stats.wilcoxon(np.asarray(a, dtype=float), np.asarray(b, dtype=float), zero_method="zsplit")
    return PairedTest(
        "Wilcoxon signed-rank", float(result.statistic), float(result.pvalue), float(d.mean()), NAN, NAN, NAN
    )


def _correctness(values: ArrayLike, name: str) -> np.ndarray:
    """Per-sample correctness as a 1-D bool array (bools or 0/1), or a ``ValueError``."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one bool per test sample); got shape {array.shape}.")
    if array.dtype != bool:
        if not (np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()):
            raise ValueError(f"{name} must hold True/False (or 1/0) per test sample, with no NaN.")
        array = array.astype(bool)
    return array


def mcnemar_test(correct_a: ArrayLike, correct_b: ArrayLike) -> PairedTest:
    """Exact McNemar test on per-sample correctness of two models over the same test samples.

    Only discordant samples count: b = A right/B wrong, c = A wrong/B right; statistic
    min(b, c) against Binomial(b + c, 1/2). Sees test-set variation only (Dietterich 1998);
    b + c = 0 gives p = 1. ``mean_difference`` is (b - c)/n = accuracy of A minus B.
    """
    x, y = _correctness(correct_a, "correct_a"), _correctness(correct_b, "correct_b")
    if x.shape != y.shape:
        raise ValueError(
            f"correct_a and correct_b must cover the same test samples in the same order; "
            f"got {x.size} and {y.size} values."
        )
    if x.size == 0:
        raise ValueError("correct_a and correct_b are empty; pass one bool per test sample.")
    b = int(np.sum(x & ~y))
    c = int(np.sum(~x & y))
    table = np.array([[np.sum(x & y), b], [c, np.sum(~x & ~y)]])
    result = mcnemar(table, exact=True)
    return PairedTest(
        "McNemar (exact)",
        float(result.statistic),
        float(result.pvalue),
        (b - c) / x.size,
        NAN,
        NAN,
        NAN,
        b=b,
        c=c,
    )


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error), same order as given.

    NaN entries stay NaN and are left out of the family; the rest are adjusted among themselves.
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be 1-D; got shape {p.shape}.")
    finite = ~np.isnan(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise ValueError("pvalues must lie in [0, 1] (NaN allowed for tests not run).")
    adjusted = np.full(p.shape, np.nan)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method="holm")[1]
    return adjusted


# --------------------------------------------------------------------------- clusters


def _clustered(correct: ArrayLike, clusters: ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample values (1-D, or 2-D with one column per quantity) and their cluster ids as
    consecutive integers, checked to be equally long."""
    values = np.asarray(correct, dtype=float)
    ids = np.asarray(clusters)
    if values.ndim not in (1, 2) or ids.ndim != 1 or len(values) != len(ids):
        raise ValueError(f"{name} must hold one value (or one row) per test sample and clusters one id per "
                         f"test sample; got shapes {values.shape} and {ids.shape}.")
    if len(ids) == 0:
        raise ValueError(f"{name} is empty; pass one value per test sample.")
    if np.isnan(values).any():
        raise ValueError(f"{name} contains NaN; pass 0/1 correctness (or finite values) per test sample.")
    return values, np.unique(ids, return_inverse=True)[1].ravel()


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (``statsmodels`` ``proportion_confint``): for an
    accuracy on one split of independent test images. NaN for ``n = 0``."""
    _check_confidence(confidence)
    if n == 0:
        return NAN, NAN
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def _resample_weights(n_clusters: int, n_resamples: int, seed: int, chunk: int = 1000):
    """Blocks of cluster bootstrap weights: how often each cluster is drawn, one row per resample."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        drawn = rng.integers(0, n_clusters, size=(rows, n_clusters))
        flat = (drawn + n_clusters * np.arange(rows)[:, None]).ravel()
        yield np.bincount(flat, minlength=rows * n_clusters).reshape(rows, n_clusters).astype(float)


def cluster_bootstrap_distribution(values: ArrayLike, clusters: ArrayLike, n_resamples: int = 9999,
                                   seed: int = 0, repeats: ArrayLike | None = None) -> np.ndarray:
    """The cluster bootstrap distribution of the pooled mean of ``values``: each resample draws
    as many clusters as there are, with replacement, and takes the mean over all their samples
    (a ratio of sums, so large clusters weigh more, as in the pooled mean itself).

    ``values`` is 1-D (one per sample) or 2-D (samples × quantities, all resampled with the same
    clusters, so differences of columns are paired); returns resamples × quantities.

    ``repeats`` (one id per sample: the training run, e.g. the fold plan, that predicted it)
    makes it the pigeonhole bootstrap of a crossed design (Owen 2007, *Ann. Appl. Stat.* 1(2)):
    each resample also draws as many repeats as there are, with replacement and independently
    of the clusters, and weighs each (repeat, cluster) cell by the product of the two counts. Its
    interval then covers the variation between training runs as well as between test clusters
    (slightly conservatively, Owen shows, for many repeats; with few, a percentile interval over
    so few distinct repeat draws is coarse and tends to be too narrow).
    """
    x, ids = _clustered(values, clusters, "values")
    x2 = x.reshape(len(x), -1)
    n_clusters = int(ids.max()) + 1
    if repeats is None:
        sums = np.zeros((n_clusters, x2.shape[1]))
        np.add.at(sums, ids, x2)
        sizes = np.bincount(ids, minlength=n_clusters).astype(float)
        # One weight matrix times the per-cluster sums: 9,999 resamples of 3,152 clusters × 9
        # quantities take about 0.6 s here, against about 6 s for fancy-indexing each quantity.
        blocks = [(w @ sums) / (w @ sizes)[:, None] for w in _resample_weights(n_clusters, n_resamples, seed)]
        return np.concatenate(blocks)
    runs = np.asarray(repeats).ravel()
    if len(runs) != len(x2):
        raise ValueError(f"repeats must give one repeat per sample; got {len(runs)} for {len(x2)} samples.")
    run_ids = np.unique(runs, return_inverse=True)[1]
    n_runs = int(run_ids.max()) + 1
    sums = np.zeros((n_runs, n_clusters, x2.shape[1]))
    np.add.at(sums, (run_ids, ids), x2)
    sizes = np.zeros((n_runs, n_clusters))
    np.add.at(sizes, (run_ids, ids), 1.0)
    blocks = [np.einsum("br,bc,rcq->bq", v, w, sums) / np.einsum("br,bc,rc->b", v, w, sizes)[:, None]
              for w, v in zip(_resample_weights(n_clusters, n_resamples, seed),
                              _resample_weights(n_runs, n_resamples, seed + 1))]
    return np.concatenate(blocks)


def cluster_bootstrap(values: ArrayLike, clusters: ArrayLike, confidence: float = 0.95,
                      n_resamples: int = 9999, seed: int = 0, repeats: ArrayLike | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled mean of ``values`` with a percentile interval from resampling whole clusters
    (and, with ``repeats``, the training runs too: :func:`cluster_bootstrap_distribution`).

    For a model's accuracy pass its per-sample correctness; for the difference of two models
    on the same samples, ``correct_a - correct_b``. Returns ``(estimate, low, high)``, arrays
    with one entry per column of ``values`` (one entry for 1-D input). A single cluster gives
    a zero-width interval: there is nothing to resample.
    """
    _check_confidence(confidence)
    x, ids = _clustered(values, clusters, "values")
    x2 = x.reshape(len(x), -1)
    draws = cluster_bootstrap_distribution(x2, ids, n_resamples, seed, repeats)
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=0)
    return x2.mean(axis=0), low, high


def _per_cluster_difference(correct_a: ArrayLike, correct_b: ArrayLike, clusters: ArrayLike
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(correctness of A, of B, per-cluster accuracy of A minus B)."""
    x, y = _correctness(correct_a, "correct_a"), _correctness(correct_b, "correct_b")
    if x.shape != y.shape:
        raise ValueError(f"correct_a and correct_b must cover the same test samples in the same order; "
                         f"got {x.size} and {y.size} values.")
    d, ids = _clustered(x.astype(float) - y, clusters, "correct_a - correct_b")
    sizes = np.bincount(ids)
    return x, y, np.bincount(ids, weights=d) / sizes


def cluster_permutation_test(correct_a: ArrayLike, correct_b: ArrayLike, clusters: ArrayLike,
                             n_resamples: int = 9999, seed: int = 0) -> PairedTest:
    """Paired sign-flip test on per-cluster accuracy differences (two-sided).

    Under "A and B are equally accurate" each cluster's difference is as likely positive as
    negative; the statistic is their mean over clusters, and p the share of sign patterns whose
    mean is at least as far from 0. Exact (every pattern) where there are at most
    ``n_resamples`` patterns, else ``n_resamples`` random ones, counting the observed one
    ((1 + hits) / (1 + n_resamples)). Clusters where A and B agree throughout add nothing.
    ``mean_difference`` is the pooled accuracy difference over samples; ``df`` holds the number
    of clusters.
    """
    x, y, d = _per_cluster_difference(correct_a, correct_b, clusters)
    pooled = float(x.mean() - y.mean())
    informative = d[d != 0]
    m = informative.size
    observed = abs(informative.sum())
    if m == 0:
        return PairedTest("cluster sign-flip", 0.0, 1.0, pooled, NAN, NAN, float(d.size))
    tolerance = 1e-9 * max(1.0, observed)
    if 2**m <= n_resamples:
        patterns = 1 - 2 * ((np.arange(2**m)[:, None] >> np.arange(m)) & 1)
        pvalue = float(np.mean(np.abs(patterns @ informative) >= observed - tolerance))
    else:
        # By hand, not scipy.stats.permutation_test: that took 7 s for 9,456 clusters here,
        # random signs times the differences in blocks take 0.3 s.
        rng = np.random.default_rng(seed)
        hits = 0
        for start in range(0, n_resamples, 1000):
            signs = rng.integers(0, 2, size=(min(1000, n_resamples - start), m), dtype=np.int8) * 2 - 1
            hits += int(np.sum(np.abs(signs @ informative) >= observed - tolerance))
        pvalue = (1 + hits) / (1 + n_resamples)
    return PairedTest("cluster sign-flip", float(d.mean()), pvalue, pooled, NAN, NAN, float(d.size))


def clustered_mcnemar(correct_a: ArrayLike, correct_b: ArrayLike, clusters: ArrayLike) -> PairedTest:
    """McNemar's test for clustered pairs (Durkalski et al. 2003): χ² with one degree of freedom,

    ``(Σ_k (b_k − c_k))² / Σ_k (b_k − c_k)²`` over clusters k, where b_k counts the samples of
    cluster k that A gets right and B wrong, c_k the reverse. With one sample per cluster it is
    McNemar's χ² without continuity correction. No discordant sample gives χ² = 0, p = 1.
    ``b``/``c`` are the totals; ``df`` holds the number of clusters.
    """
    x, y = _correctness(correct_a, "correct_a"), _correctness(correct_b, "correct_b")
    if x.shape != y.shape:
        raise ValueError(f"correct_a and correct_b must cover the same test samples in the same order; "
                         f"got {x.size} and {y.size} values.")
    _, ids = _clustered(x, clusters, "correct_a")
    b_k = np.bincount(ids, weights=x & ~y)
    c_k = np.bincount(ids, weights=~x & y)
    b, c = int(b_k.sum()), int(c_k.sum())
    spread = float(np.sum((b_k - c_k) ** 2))
    chi2 = 0.0 if spread == 0 else (b - c) ** 2 / spread
    return PairedTest("clustered McNemar (Durkalski)", chi2, float(stats.chi2.sf(chi2, 1)),
                      (b - c) / x.size, NAN, NAN, float(b_k.size), b=b, c=c)


# --------------------------------------------------------------------------- repeated CV


def repeated_cv_ttest(differences: ArrayLike, test_train_ratio: float, confidence: float = 0.95) -> PairedTest:
    """Bouckaert & Frank's corrected repeated k-fold t on A − B fold differences (r repeats × k folds).

    t = mean / sqrt((1/(k·r) + n_test/n_train) · σ²) with σ² the variance of all k·r differences,
    on k·r − 1 degrees of freedom: the Nadeau–Bengio correction applied to every fold of every
    repeat (:func:`corrected_ttest` on the flattened differences). One repeat is Nadeau–Bengio.
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim != 2:
        raise ValueError(f"differences must be 2-D (repeats × folds); got shape {d.shape}.")
    flat = d.ravel()
    result = corrected_ttest(flat, np.zeros_like(flat), test_train_ratio, confidence)
    return PairedTest(f"corrected repeated k-fold t (Bouckaert-Frank, {d.shape[0]} × {d.shape[1]})",
                      result.statistic, result.pvalue, result.mean_difference, result.low, result.high,
                      result.df)


@dataclass(frozen=True)
class Posterior:
    """Posterior probabilities that A − B lies below −rope (B better), within ±rope, above rope (A better)."""

    b_better: float
    equivalent: float
    a_better: float
    rope: float


def bayesian_correlated_ttest(a: ArrayLike, b: ArrayLike, test_train_ratio: float,
                              rope: float = 0.01) -> Posterior:
    """Correlated Bayesian t-test (Benavoli et al. 2017) on paired fold scores.

    The posterior of the mean difference A − B is Student's t with n − 1 degrees of freedom,
    location the mean difference and scale² = (1/n + ρ/(1 − ρ)) σ², where ρ/(1 − ρ) =
    ``test_train_ratio`` (n_test/n_train; 1/(k − 1) for k-fold CV, as ``baycomp`` takes it).
    Folds of all repeats go in together. Zero variance puts all mass on the mean difference.
    """
    if not (math.isfinite(rope) and rope >= 0):
        raise ValueError(f"rope must be a number >= 0 in the metric's units (0.01 = 1 point); got {rope}.")
    if not (math.isfinite(test_train_ratio) and test_train_ratio >= 0):
        raise ValueError(f"test_train_ratio must be a finite number >= 0; got {test_train_ratio}.")
    d = _paired(a, b)
    mean, n = float(d.mean()), d.size
    if np.all(d == d[0]):
        return Posterior(float(mean < -rope), float(-rope <= mean <= rope), float(mean > rope), rope)
    scale = math.sqrt((1 / n + test_train_ratio) * d.var(ddof=1))
    below = float(stats.t.cdf(-rope, n - 1, mean, scale))
    above = float(stats.t.sf(rope, n - 1, mean, scale))
    return Posterior(below, max(0.0, 1.0 - below - above), above, rope)


# --------------------------------------------------------------------------- many models


@dataclass(frozen=True)
class Friedman:
    """Friedman test on ranks (Demšar 2006): average rank per model (1 = best), χ² and Iman–Davenport F."""

    ranks: pd.Series
    n_blocks: int
    n_models: int
    chi2: float
    chi2_pvalue: float
    f: float
    f_pvalue: float


def friedman(scores: pd.DataFrame, higher_is_better: bool = True) -> Friedman:
    """Friedman χ² and Iman–Davenport F over blocks (rows) × models (columns).

    Ties get average ranks; χ² uses Demšar's formula without tie correction, so it can
    exceed ``scipy.stats.friedmanchisquare`` when there are ties. Blocks should be data sets:
    folds of one data set are not independent, so a result over folds is indicative only.
    """
    if not isinstance(scores, pd.DataFrame):
        raise ValueError("scores must be a pandas DataFrame: rows = blocks (data sets or folds), columns = models.")
    n_blocks, n_models = scores.shape
    if n_models < 2 or n_blocks < 2:
        raise ValueError(f"friedman needs >= 2 models (columns) and >= 2 blocks (rows); got {n_models} and {n_blocks}.")
    try:
        values = scores.to_numpy(dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"scores must be numeric: {error}") from None
    bad = scores.index[np.isnan(values).any(axis=1)]
    if len(bad):
        raise ValueError(f"scores has NaN in rows {list(bad)}; drop those blocks or fill them before ranking.")
    ranks = stats.rankdata(-values if higher_is_better else values, axis=1)
    mean_ranks = pd.Series(ranks.mean(axis=0), index=scores.columns, name="rank")
    mean_ranks = mean_ranks.sort_values(kind="stable")
    chi2, chi2_p, f, f_p = _friedman_from_ranks(mean_ranks.to_numpy(), n_blocks)
    return Friedman(mean_ranks, n_blocks, n_models, chi2, chi2_p, f, f_p)


def _friedman_from_ranks(mean_ranks: np.ndarray, n_blocks: int) -> tuple[float, float, float, float]:
    """(χ², p, F_F, p) from average ranks over ``n_blocks`` blocks, by Demšar's (2006) formulas.

    By hand because scipy's ``friedmanchisquare`` needs the raw scores, applies a tie
    correction, and has no Iman–Davenport F. Perfect agreement of all blocks gives F = inf, p = 0.
    """
    k, n = mean_ranks.size, n_blocks
    chi2 = 12 * n / (k * (k + 1)) * (float(np.sum(mean_ranks**2)) - k * (k + 1) ** 2 / 4)
    chi2 = max(chi2, 0.0)  # rounding can leave a tiny negative value when all ranks are equal
    chi2_p = float(stats.chi2.sf(chi2, k - 1))
    denominator = n * (k - 1) - chi2
    if denominator <= 0:
        return chi2, chi2_p, math.inf, 0.0
    f = (n - 1) * chi2 / denominator
    return chi2, chi2_p, f, float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))


@dataclass(frozen=True)
class Nemenyi:
    """Nemenyi post-hoc test: critical difference of average ranks and pairwise p-values."""

    alpha: float
    q_alpha: float
    cd: float
    pvalues: pd.DataFrame


def nemenyi(result: Friedman, alpha: float = 0.05) -> Nemenyi:
    """Nemenyi critical difference and p-value matrix (models in rank order) after :func:`friedman`.

    Two models differ at ``alpha`` when their average ranks differ by at least ``cd``. It
    compares all pairs, so it is conservative; the blocks caveat of :func:`friedman` applies.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1 (e.g. 0.05); got {alpha}.")
    k, n = result.n_models, result.n_blocks
    se = math.sqrt(k * (k + 1) / (6 * n))
    q_alpha = float(stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    r = result.ranks.to_numpy()
    distance = np.abs(r[:, None] - r[None, :]) / se * math.sqrt(2)
    p = np.clip(stats.studentized_range.sf(distance, k, np.inf), 0.0, 1.0)
    np.fill_diagonal(p, 1.0)
    names = result.ranks.index
    return Nemenyi(alpha, q_alpha, q_alpha * se, pd.DataFrame(p, index=names, columns=names))


def cliques(ranks: pd.Series, cd: float) -> list[list[str]]:
    """Maximal groups of models (in rank order) whose average ranks differ by less than ``cd``.

    These are the bars of a Demšar critical-difference diagram: no pair inside a group
    differs significantly. Groups inside another group and single models are left out.
    """
    if not cd >= 0:
        raise ValueError(f"cd must be a number >= 0 (e.g. Nemenyi(...).cd); got {cd}.")
    ordered = ranks.sort_values(kind="stable")
    values, names = ordered.to_numpy(dtype=float), list(ordered.index)
    groups: list[list[str]] = []
    last_end = -1
    for start in range(len(values)):
        end = start
        while end + 1 < len(values) and values[end + 1] - values[start] < cd:
            end += 1
        # groups are runs whose start and end never decrease: one is contained iff its end does not pass the last
        if end > start and end > last_end:
            groups.append(names[start : end + 1])
        last_end = max(last_end, end)
    return groups


# --------------------------------------------------------------------------- all pairs

PAIRWISE_COLUMNS = [
    "a", "b", "mean_difference", "folds",
    "nb_t", "nb_p", "nb_p_holm", "nb_low", "nb_high",
    "wilcoxon_stat", "wilcoxon_p", "wilcoxon_p_holm",
    "ttest_p", "ttest_p_holm",
    "bayes_a", "bayes_rope", "bayes_b",
    "pooled_difference", "diff_low", "diff_high", "clusters",
    "signflip_p", "signflip_p_holm",
    "cmcnemar_chi2", "cmcnemar_p", "cmcnemar_p_holm",
    "mcnemar_b", "mcnemar_c", "mcnemar_p", "mcnemar_p_holm",
]  # fmt: skip

#: The tests whose p-values ``pairwise`` Holm-adjusts, each within its family of pairs.
PAIRWISE_TESTS = ("nb", "wilcoxon", "ttest", "signflip", "cmcnemar", "mcnemar")


def pairwise(
    fold_scores: pd.DataFrame,
    test_train_ratio: float | None,
    correct: pd.DataFrame | None = None,
    alpha: float = 0.05,
    confidence: float = 0.95,
    clusters: ArrayLike | None = None,
    rope: float = 0.01,
    n_resamples: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """All two-model tests for every unordered pair of models (columns), Holm-adjusted per test.

    ``fold_scores``: rows = folds (of every repeat), columns = models (one metric); a NaN fold
    (a metric undefined there) leaves that fold out of the pairs it is in, and ``folds`` says how
    many were compared. Fold-based tests (corrected t: Nadeau–Bengio, which over several repeats
    is Bouckaert–Frank; Wilcoxon; plain t; the correlated Bayesian t with ``rope``) are NaN with
    fewer than 2 folds or ``test_train_ratio`` None; ``mean_difference`` is the mean fold
    difference. With ``test_train_ratio`` None and several rows (one split, trained under
    several seeds: every row shares its training and test data), only the plain paired t runs,
    over the seeds: their differences are training randomness alone, which is what it tests.
    ``correct``: rows = pooled test samples, columns = models, correctness (bool),
    or None; with it, the pooled difference gets a cluster bootstrap interval, and where
    ``clusters`` (one id per row of ``correct``) puts several samples in a cluster the
    cluster sign-flip and clustered McNemar tests run, else the per-image McNemar test.
    Holm runs within each test's family (all pairs of this call). ``alpha`` and
    ``confidence`` are recorded in ``table.attrs`` for whoever marks significant rows.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1 (e.g. 0.05); got {alpha}.")
    _check_confidence(confidence)
    if not isinstance(fold_scores, pd.DataFrame):
        raise ValueError("fold_scores must be a pandas DataFrame: rows = folds, columns = models.")
    models = list(fold_scores.columns)
    if len(models) < 2:
        raise ValueError(f"pairwise needs >= 2 models (columns of fold_scores); got {models}.")
    values = {m: _scores(fold_scores[m], f"fold_scores[{m!r}]", allow_nan=True) for m in models}
    draws = ids = None
    if correct is not None:
        if not isinstance(correct, pd.DataFrame):
            raise ValueError("correct must be a pandas DataFrame (rows = test samples, columns = models) or None.")
        missing = [m for m in models if m not in correct.columns]
        if missing:
            raise ValueError(f"correct has no column for models {missing}; pass one column per model of fold_scores.")
        ids = np.arange(len(correct)) if clusters is None else np.asarray(clusters)
        draws = cluster_bootstrap_distribution(correct[models].to_numpy(dtype=float), ids, n_resamples, seed)
    clustered = ids is not None and len(np.unique(ids)) < len(ids)
    tail = (1 - confidence) / 2

    rows = []
    for (i, a), (j, b) in combinations(enumerate(models), 2):
        both = ~(np.isnan(values[a]) | np.isnan(values[b]))
        x, y = values[a][both], values[b][both]
        row = dict.fromkeys(PAIRWISE_COLUMNS, NAN)
        row.update(a=a, b=b, folds=int(both.sum()), mean_difference=float((x - y).mean()) if x.size else NAN)
        if x.size >= 2 and test_train_ratio is not None:
            nb = corrected_ttest(x, y, test_train_ratio, confidence)
            wx = wilcoxon_test(x, y)
            bayes = bayesian_correlated_ttest(x, y, test_train_ratio, rope)
            row.update(
                nb_t=nb.statistic,
                nb_p=nb.pvalue,
                nb_low=nb.low,
                nb_high=nb.high,
                wilcoxon_stat=wx.statistic,
                wilcoxon_p=wx.pvalue,
                ttest_p=paired_ttest(x, y, confidence).pvalue,
                bayes_a=bayes.a_better,
                bayes_rope=bayes.equivalent,
                bayes_b=bayes.b_better,
            )
        elif x.size >= 2:
            row.update(ttest_p=paired_ttest(x, y, confidence).pvalue)
        if correct is not None:
            ca, cb = correct[a].to_numpy(), correct[b].to_numpy()
            low, high = np.quantile(draws[:, i] - draws[:, j], [tail, 1 - tail])
            row.update(pooled_difference=float(ca.mean() - cb.mean()), diff_low=float(low), diff_high=float(high),
                       clusters=float(len(np.unique(ids))))
            if clustered:
                flip = cluster_permutation_test(ca, cb, ids, n_resamples, seed)
                cm = clustered_mcnemar(ca, cb, ids)
                row.update(signflip_p=flip.pvalue, cmcnemar_chi2=cm.statistic, cmcnemar_p=cm.pvalue,
                           mcnemar_b=float(cm.b), mcnemar_c=float(cm.c))
            else:
                mc = mcnemar_test(ca, cb)
                row.update(mcnemar_b=float(mc.b), mcnemar_c=float(mc.c), mcnemar_p=mc.pvalue)
        rows.append(row)

    table = pd.DataFrame(rows, columns=PAIRWISE_COLUMNS)
    for test in PAIRWISE_TESTS:
        table[f"{test}_p_holm"] = holm(table[f"{test}_p"].to_numpy())
    table.attrs.update(alpha=alpha, confidence=confidence, rope=rope)
    return table

