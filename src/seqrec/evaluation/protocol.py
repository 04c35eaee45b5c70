"""The full-ranking protocol: rank the whole catalog for every held-out user, chunk by chunk.

Two paths, chosen by the model's declared ``capabilities.dense_scores``:

* **dense**: the model scores every item; excluded items are set to ``-inf`` and the target's
  rank is *pessimistic* (every item scoring at least as high is ranked before it);
* **ranked lists**: the model returns its top-``max(ks)`` list with excluded items already
  removed (exclusion before the cut); the target's rank is its position in the list, and a
  target missing from the list is a miss at every cut-off. Coverage and average popularity are
  computed from the first 10 entries in both paths.

The two agree exactly for a dense model whose target score is tied with no other item; with ties
the dense path stays pessimistic while a list, which cannot express ties, puts the smaller id
first (``tests/evaluation/test_list_protocol.py`` checks both statements on every dense model).

Work is done ``chunk_size`` users at a time, so memory is bounded by ``chunk_size x n_items``
whatever the catalog; every per-user quantity depends only on that user's row, so results do not
depend on the chunk size (a test checks it).

This module never imports the models: it speaks to anything shaped like a
:class:`~seqrec.models.base.Recommender` through the :class:`Rankable` protocol, so importing
``seqrec.evaluation`` does not import torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from seqrec.data.splits import EvalSet
from seqrec.data.types import SequenceData
from seqrec.evaluation.metrics import DEFAULT_KS, per_user_metrics
from seqrec.evaluation.stats import bootstrap_ci
from seqrec.ranking import (
    HISTORY,
    NOTHING,
    Capabilities,
    Exclusion,
    list_ranks,
    pessimistic_ranks,
    top_k,
)

COVERAGE_K = 10


class Rankable(Protocol):
    """What the protocol needs of a model (a :class:`~seqrec.models.base.Recommender` has it)."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def require_fitted(self) -> int: ...

    def checked_scores(self, histories: SequenceData) -> np.ndarray: ...

    def recommend(self, histories: SequenceData, k: int, exclude: Exclusion | bool | None = None) -> np.ndarray: ...


@dataclass
class EvalResult:
    """Metrics of one model on one evaluation set, with the per-user values kept."""

    model: str
    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    coverage: float
    """Share of the catalog that appears in at least one top-10 list."""
    avg_popularity: float
    """Mean training interaction count of the recommended top-10 items."""
    n_users: int
    exclude_history: bool
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def ci(self, metric: str, seed: int = 0) -> tuple[float, float]:
        """Bootstrap 95% CI of a metric's mean over users."""
        return bootstrap_ci(self.per_user[metric], seed=seed)

    def summary(self, with_ci: Sequence[str] = ("HR@10", "NDCG@10")) -> dict[str, Any]:
        """A JSON-ready dict of the means, CIs, coverage and popularity."""
        out: dict[str, Any] = {key: round(value, 6) for key, value in self.metrics.items()}
        for metric in with_ci:
            low, high = self.ci(metric)
            out[f"{metric}_ci"] = [round(low, 6), round(high, 6)]
        out["coverage@10"] = round(self.coverage, 6)
        out["avg_popularity@10"] = round(self.avg_popularity, 3)
        out["n_users"] = self.n_users
        out["exclude_history"] = self.exclude_history
        out["eval_seconds"] = round(self.seconds, 3)
        return out


SCORE_CELLS = 1 << 28
"""The most scores (users x items) one chunk of :func:`evaluate_model` holds: ``chunk_size`` is
lowered to fit it for big catalogues (results do not depend on the chunk size)."""


def evaluate_model(
    model: Rankable,
    eval_set: EvalSet,
    exclude_history: bool,
    item_popularity: np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    chunk_size: int = 1024,
    on_chunk: Callable[[int], None] | None = None,
    use_lists: bool | None = None,
) -> EvalResult:
    """Rank the whole catalog for every user of ``eval_set`` and compute the metrics.

    ``item_popularity`` [n_items + 1] is the training interaction count of each item (for the
    average popularity of recommendations). ``on_chunk(n_done_users)`` reports progress.
    ``use_lists`` forces the ranked-list path (``True``) or the dense one (``False``); by default
    the model's ``capabilities.dense_scores`` decides.
    """
    start = time.perf_counter()
    n_catalog = model.require_fitted()
    lists = (not model.capabilities.dense_scores) if use_lists is None else use_lists
    exclusion = HISTORY if exclude_history else NOTHING
    depth = max(max(ks), COVERAGE_K)
    n_users = len(eval_set)
    # A million-item catalogue: at most SCORE_CELLS scores (1 GiB of float32) per chunk.
    chunk_size = max(1, min(chunk_size, SCORE_CELLS // (n_catalog + 1)))
    ranks = np.empty(n_users, dtype=np.int64)
    recommended = np.zeros(n_catalog + 1, dtype=bool)
    popularity_sum = 0.0
    for begin in range(0, n_users, chunk_size):
        chunk = eval_set.rows(slice(begin, begin + chunk_size))
        if lists:
            ranked = model.recommend(chunk.histories, depth, exclusion)  # [B, <= depth]
            allowed = exclusion.drop(ranked, chunk.histories)  # fills of excluded items are no hits
            chunk_ranks = list_ranks(allowed, chunk.targets, missing_rank=n_catalog + 1)
            top = ranked[:, :COVERAGE_K]  # [B, <= 10]
        else:
            scores = model.checked_scores(chunk.histories)  # [B, n_items + 1]
            exclusion.apply(scores, chunk.histories)
            chunk_ranks = pessimistic_ranks(scores, chunk.targets)
            top = top_k(scores, COVERAGE_K)  # [B, 10]
        ranks[begin : begin + len(chunk)] = chunk_ranks
        recommended[top.ravel()] = True
        popularity_sum += float(item_popularity[top].sum())
        if on_chunk is not None:
            on_chunk(min(begin + chunk_size, n_users))
    per_user = per_user_metrics(ranks, ks)
    per_user["rank"] = ranks.astype(np.float64)
    means = {key: float(values.mean()) if n_users else 0.0 for key, values in per_user.items() if key != "rank"}
    return EvalResult(
        model=model.name,
        metrics=means,
        per_user=per_user,
        coverage=float(recommended[1:].sum() / max(1, n_catalog)),
        avg_popularity=popularity_sum / max(1, n_users * COVERAGE_K),
        n_users=n_users,
        exclude_history=exclude_history,
        seconds=time.perf_counter() - start,
        extra={"path": "ranked lists" if lists else "dense scores"},
    )
