"""Ranking metrics as pure functions of pessimistic ranks.

Full ranking over the whole catalog. A target's rank is *pessimistic*: every other item whose
score is greater than **or equal to** the target's is placed before it, so a model that scores
all items the same ranks the target last (docs/architecture.md, evaluation rules). Excluded items are set
to ``-inf``; a target that is itself excluded (a re-purchase while history exclusion is on)
therefore lands at the bottom and counts as a miss, which is the honest outcome.

With rank ``r`` (1 = best) and a single relevant item:

* HR@K   = 1 if r <= K else 0
* NDCG@K = 1 / log2(r + 1) if r <= K else 0   (the ideal DCG of one relevant item is 1)
* MRR@K  = 1 / r if r <= K else 0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqrec.ranking import pessimistic_ranks

DEFAULT_KS = (5, 10, 20)

__all__ = ["DEFAULT_KS", "METRICS", "evaluate_scores", "hit_rate", "mrr", "ndcg", "per_user_metrics", "pessimistic_ranks"]


def hit_rate(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user HR@k [B] (floats, 0 or 1)."""
    return (ranks <= k).astype(np.float64)


def ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user NDCG@k [B] for one relevant item."""
    return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)


def mrr(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user MRR@k [B]."""
    return np.where(ranks <= k, 1.0 / ranks, 0.0)


METRICS = {"HR": hit_rate, "NDCG": ndcg, "MRR": mrr}


def per_user_metrics(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict[str, np.ndarray]:
    """``{"HR@10": [B], ...}`` for every metric and cut-off."""
    return {f"{name}@{k}": fn(ranks, k) for k in ks for name, fn in METRICS.items()}


def apply_exclusion(scores: np.ndarray, exclude: Sequence[Sequence[int]] | None) -> np.ndarray:
    """A copy of ``scores`` with each row's excluded items set to ``-inf``."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    if exclude is not None:
        if len(exclude) != len(scores):
            raise ValueError(f"exclude has {len(exclude)} rows, scores has {len(scores)}")
        for row, items in enumerate(exclude):
            if len(items):
                scores[row, np.asarray(items, dtype=np.int64)] = -np.inf
    return scores


def evaluate_scores(
    scores: np.ndarray,
    targets: np.ndarray,
    exclude: Sequence[Sequence[int]] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Mean HR/NDCG/MRR@k of a dense score matrix.

    ``scores``: float [users, items]; ``targets``: int [users], a column index per row;
    ``exclude``: per-user lists of column indices to remove before ranking (or ``None``).
    Returns ``{"HR@10": ..., "NDCG@10": ..., "MRR@10": ...}`` for every ``k`` in ``ks``.
    """
    scores = np.asarray(scores)
    targets = np.asarray(targets, dtype=np.int64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [users, items], got shape {scores.shape}")
    if targets.shape != (scores.shape[0],):
        raise ValueError(f"targets must have shape ({scores.shape[0]},), got {targets.shape}")
    if len(targets) and (targets.min() < 0 or targets.max() >= scores.shape[1]):
        raise ValueError(f"targets must lie in 0..{scores.shape[1] - 1}")
    ranks = pessimistic_ranks(apply_exclusion(scores, exclude), targets)
    return {key: float(values.mean()) if len(values) else 0.0 for key, values in per_user_metrics(ranks, ks).items()}
