"""Metrics from sketches agree with the same metrics computed exactly on the raw values (scipy),
within the bounds docs/checks.md states; p-values hold their level under no change."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, false_discovery_control, ks_2samp, norm, ttest_ind

from stream_guard.core.judging import checks
from stream_guard.core.profiles.profile import CategoricalProfile, NumericProfile


def numeric(values: np.ndarray) -> NumericProfile:
    profile = NumericProfile()
    profile.sketch.update(values)
    profile.total, profile.total_sq = float(values.sum()), float(values @ values)
    return profile


def categorical(counts: dict[str, int]) -> CategoricalProfile:
    profile = CategoricalProfile()
    for value, n in counts.items():
        profile.sketch.update(value, n)
        assert profile.distinct is not None
        profile.distinct.update(value)
    return profile


def exact_shares(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    edges = np.concatenate(([-np.inf], edges, [np.inf]))
    return (np.histogram(reference, edges)[0] / len(reference), np.histogram(current, edges)[0] / len(current))


def exact_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    ranks = checks.wasserstein_ranks()
    return float(np.mean(np.abs(np.quantile(reference, ranks) - np.quantile(current, ranks))) / reference.std())


Sampler = Callable[[np.random.Generator, int, float], np.ndarray]
DISTRIBUTIONS: dict[str, Sampler] = {
    "normal": lambda rng, n, shift: rng.normal(shift, 1, n),
    "lognormal": lambda rng, n, shift: rng.lognormal(shift, 1, n),
    "uniform": lambda rng, n, shift: rng.uniform(shift, 1 + shift, n),
    "bimodal": lambda rng, n, shift: np.where(rng.random(n) < 0.5, rng.normal(-2 + shift, 0.5, n),
                                              rng.normal(2 + shift, 0.5, n)),
}
CASES = [(name, size, shift) for name in DISTRIBUTIONS for size in (1_000, 20_000, 200_000) for shift in (0.0, 0.5)]


@pytest.mark.parametrize(("distribution", "size", "shift"), CASES)
def test_numeric_metrics_from_sketches_match_the_exact_values(distribution: str, size: int, shift: float) -> None:
    rng = np.random.default_rng(size + int(shift * 10))
    reference, current = DISTRIBUTIONS[distribution](rng, 50_000, 0.0), DISTRIBUTIONS[distribution](rng, size, shift)
    ref, cur = numeric(reference), numeric(current)
    expected, actual = exact_shares(reference, current)

    assert abs(checks.numeric_drift("ks", ref, cur).value - ks_2samp(reference, current).statistic) <= 0.02
    exact_psi = checks.psi(expected, actual)
    # KLL's compaction is random and cannot be seeded: these bounds are about 1.2x the largest error
    # in 2,100 runs of the hardest cases (bimodal, 20,000 values, shifted: PSI 25.7%, JS 0.050,
    # Hellinger 0.043), so that the test does not fail by chance
    assert abs(checks.numeric_drift("psi", ref, cur).value - exact_psi) <= max(0.3 * exact_psi, 0.025)
    assert abs(checks.numeric_drift("jensen_shannon", ref, cur).value
               - jensenshannon(expected, actual, base=2)) <= 0.06
    assert abs(checks.numeric_drift("hellinger", ref, cur).value - checks.hellinger(expected, actual)) <= 0.05
    exact_w = exact_wasserstein(reference, current)
    assert abs(checks.wasserstein(ref, cur).value - exact_w) <= max(0.15 * exact_w, 0.05)
    # mean and sd come from exact counters, not from the sketch
    assert checks.mean_shift(ref, cur).value == pytest.approx(abs(current.mean() - reference.mean()) / reference.std())
    assert checks.std_shift(ref, cur).value == pytest.approx(abs(current.std() - reference.std()) / reference.std())


def test_a_half_sd_shift_is_large_on_every_numeric_metric() -> None:
    rng = np.random.default_rng(5)
    ref, cur = numeric(rng.normal(0, 1, 20_000)), numeric(rng.normal(0.5, 1, 2_000))
    values = {m: checks.numeric_drift(m, ref, cur).value for m in ("psi", "ks", "jensen_shannon", "hellinger",
                                                                   "wasserstein")}
    assert values["psi"] > 0.2 and values["ks"] > 0.17 and values["wasserstein"] > 0.4
    assert values["jensen_shannon"] > 0.15 and values["hellinger"] > 0.15
    assert checks.mean_shift(ref, cur).value == pytest.approx(0.5, abs=0.05)


def test_mean_shift_p_value_is_welchs() -> None:
    rng = np.random.default_rng(8)
    reference, current = rng.normal(0, 1, 5_000), rng.normal(0.05, 1.3, 1_000)
    p_value = checks.mean_shift(numeric(reference), numeric(current)).p_value
    assert p_value == pytest.approx(ttest_ind(reference, current, equal_var=False).pvalue, rel=0.02)


@pytest.mark.parametrize("metric", ["ks", "psi", "jensen_shannon", "hellinger"])
@pytest.mark.parametrize("size", [300, 20_000])
def test_p_values_under_no_change_reject_no_more_than_docs_say(metric: str, size: int) -> None:
    p_values = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        p_values.append(checks.numeric_drift(metric, numeric(rng.normal(0, 1, 5_000)),
                                             numeric(rng.normal(0, 1, size))).p_value)
    rejected = np.mean(np.array(p_values) < 0.01)
    # KS is conservative (sketch error subtracted); the binned tests are approximate: at most 5x nominal
    assert rejected <= (0.01 if metric == "ks" else 0.05)


def test_ks_p_value_rejects_a_real_shift_even_after_subtracting_sketch_error() -> None:
    rng = np.random.default_rng(1)
    measure = checks.kolmogorov_smirnov(numeric(rng.normal(0, 1, 100_000)), numeric(rng.normal(0.2, 1, 100_000)))
    assert measure.p_value is not None and measure.p_value < 1e-10
    assert "rank error" in measure.detail


def test_categorical_metrics_equal_scipy_while_counts_are_exact() -> None:
    ref = {"US": 400, "GB": 150, "DE": 150, "FR": 300}
    cur = {"US": 300, "GB": 150, "DE": 150, "XK": 400}
    labels = sorted(set(ref) | set(cur))
    ref_counts, cur_counts = [ref.get(v, 0) for v in labels], [cur.get(v, 0) for v in labels]
    profiles = categorical(ref), categorical(cur)

    js = checks.categorical_drift("jensen_shannon", *profiles).value
    assert js == pytest.approx(jensenshannon(ref_counts, cur_counts, base=2), abs=1e-9)
    chi2, p_value, _, _ = chi2_contingency([ref_counts, cur_counts], correction=False)
    measure = checks.categorical_drift("chi_square", *profiles)
    assert measure.value == pytest.approx(np.sqrt(chi2 / 2000), rel=1e-9)
    assert measure.p_value == pytest.approx(p_value, rel=1e-6)
    assert checks.categorical_drift("linf", *profiles).value == pytest.approx(0.4)
    assert checks.unseen_share(*profiles).value == pytest.approx(0.4)
    assert checks.unseen_share(*profiles).detail == "new values: 'XK'"


def test_unseen_share_is_not_computed_against_a_reference_its_sketch_cannot_hold() -> None:
    crowded = categorical({f"user{i}": 1 for i in range(5_000)})
    assert crowded.saturated
    measure = checks.unseen_share(crowded, categorical({"a": 10}))
    assert measure.value is None and "more distinct values" in measure.detail


def test_distinct_counts_come_from_hll_within_its_error() -> None:
    profile = categorical({f"id{i}": 1 for i in range(20_000)})
    assert profile.distinct_count() == pytest.approx(20_000, rel=0.05)
    assert checks.cardinality([5_000.0, 5_000.0], profile.distinct_count()).value == pytest.approx(4.0, rel=0.05)


def test_rate_rise_is_the_absolute_or_relative_change_with_a_one_sided_test() -> None:
    measure = checks.rate_rise(60, 1_000, 40, 1_000)
    assert measure.value == pytest.approx(0.02)
    pooled = 0.05
    z = 0.02 / np.sqrt(pooled * (1 - pooled) * 2 / 1_000)
    assert measure.p_value == pytest.approx(norm.sf(z), rel=1e-9)
    assert checks.rate_rise(60, 1_000, 40, 1_000, relative=True).value == pytest.approx(0.5)
    assert checks.rate_rise(30, 100, 0, 1_000, relative=True).value == pytest.approx(30.0)  # base floored at 1%


def test_volume_is_a_fold_change_both_ways() -> None:
    assert checks.volume([1_000, 1_200, 800], 500).value == pytest.approx(2.0)
    assert checks.volume([1_000], 3_000).value == pytest.approx(3.0)
    assert checks.volume([], 10).value is None


def test_benjamini_hochberg_matches_scipy() -> None:
    p_values = list(np.random.default_rng(2).uniform(0, 0.2, 30)) + [1e-6, 0.9]
    ours = checks.adjust_p_values(p_values, "benjamini_hochberg")
    assert ours == pytest.approx(list(false_discovery_control(p_values, method="bh")), rel=1e-9)


def test_benjamini_hochberg_keeps_tiny_p_values_tiny_never_zero() -> None:
    # at thousands of events a shift's p-value is 1e-200 or so: adjusted, it is larger, never 0
    p_values = [0.0, 8.853e-204, 3e-15, 0.5]
    ours = checks.adjust_p_values(p_values, "benjamini_hochberg")
    assert ours == pytest.approx(list(false_discovery_control(p_values, method="bh")), rel=1e-9)
    assert ours[1] == pytest.approx(8.853e-204 * 4 / 2, rel=1e-9) and ours[2] == pytest.approx(3e-15 * 4 / 3)


def test_a_shift_over_sums_that_overflowed_is_not_computed_and_says_why() -> None:
    reference, current = numeric(np.array([1.0, 2.0, 3.0])), numeric(np.array([2.0, 3.0, 4.0]))
    reference.total_sq = float("inf")        # as stored before extreme values were kept out of the sums
    for check in (checks.mean_shift, checks.std_shift, checks.wasserstein):
        measure = check(reference, current)
        assert measure.value is None and "sums of the values overflowed" in measure.detail
