"""Uncertainty: bootstrap confidence intervals and paired comparisons over per-user values.

Every metric in seqrec is a mean over users, so its uncertainty comes from which users happened
to be held out. We resample users (Efron's percentile bootstrap) for a CI, and compare two
models on the *same* users with a paired test, which is far more sensitive than comparing two
independent CIs (Dror et al. 2018, "The Hitchhiker's Guide to Testing Statistical Significance
in NLP", recommend paired tests over per-example scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats


def bootstrap_ci(
    values: np.ndarray, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (one value per user)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    # Resample in blocks so memory stays bounded for large user counts.
    block = max(1, 2_000_000 // max(1, len(values)))
    for start in range(0, n_resamples, block):
        stop = min(n_resamples, start + block)
        picks = rng.integers(0, len(values), size=(stop - start, len(values)))
        means[start:stop] = values[picks].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return (float(low), float(high))


@dataclass(frozen=True)
class PairedComparison:
    """Model A minus model B on the same users."""

    mean_difference: float
    ci: tuple[float, float]
    t_statistic: float
    p_value_t: float
    p_value_permutation: float
    n_users: int

    def to_dict(self) -> dict[str, float | int | list[float]]:
        return {
            "mean_difference": self.mean_difference,
            "ci": list(self.ci),
            "t_statistic": self.t_statistic,
            "p_value_t": self.p_value_t,
            "p_value_permutation": self.p_value_permutation,
            "n_users": self.n_users,
        }


def paired_test(
    values_a: np.ndarray, values_b: np.ndarray, n_resamples: int = 2000, seed: int = 0
) -> PairedComparison:
    """Paired t-test and a sign-flip permutation test of mean(a - b) = 0.

    The permutation test flips the sign of each user's difference at random (valid under the
    null that A and B are exchangeable for every user) and needs no normality assumption; the
    p-value counts the observed statistic itself, so it is never 0.
    """
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in shape: {a.shape} vs {b.shape}")
    diff = a - b
    observed = float(diff.mean()) if len(diff) else 0.0
    if len(diff) < 2 or np.allclose(diff, diff[0]):
        p_t = 1.0 if np.allclose(diff, 0) else 0.0
        t_stat = 0.0 if np.allclose(diff, 0) else float("inf")
    else:
        result = scipy_stats.ttest_rel(a, b)
        t_stat, p_t = float(result.statistic), float(result.pvalue)
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_resamples, len(diff)))
    permuted = np.abs((signs * diff).mean(axis=1))
    p_perm = float((1 + np.sum(permuted >= abs(observed) - 1e-12)) / (n_resamples + 1))
    return PairedComparison(observed, bootstrap_ci(diff, seed=seed), t_stat, p_t, p_perm, len(diff))
