from __future__ import annotations

import numpy as np

from seqrec.evaluation.stats import bootstrap_ci, paired_test


def test_bootstrap_ci_brackets_the_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(1)
    small = rng.binomial(1, 0.3, size=100).astype(float)
    large = rng.binomial(1, 0.3, size=10_000).astype(float)
    low_s, high_s = bootstrap_ci(small)
    low_l, high_l = bootstrap_ci(large)
    assert low_s <= small.mean() <= high_s
    assert low_l <= large.mean() <= high_l
    # Width scales like 1/sqrt(n): 100x more users -> about 10x narrower.
    assert 5 < (high_s - low_s) / (high_l - low_l) < 20


def test_constant_values_have_a_zero_width_ci() -> None:
    assert bootstrap_ci(np.full(50, 0.25)) == (0.25, 0.25)


def test_paired_test_detects_a_consistent_gain_and_not_noise() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(400)
    better = base + 0.05 + rng.normal(0, 0.01, 400)
    gain = paired_test(better, base)
    assert gain.mean_difference > 0.04
    assert gain.p_value_t < 1e-6 and gain.p_value_permutation < 0.01
    same = paired_test(base, base[rng.permutation(400)])
    assert same.p_value_permutation > 0.01


def test_identical_models_give_p_one() -> None:
    values = np.array([0.0, 1.0, 0.5])
    result = paired_test(values, values)
    assert result.mean_difference == 0.0 and result.p_value_t == 1.0
