"""Metric tests against values computed by hand, ties and exclusions included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqrec.evaluation import evaluate_scores
from seqrec.evaluation.metrics import pessimistic_ranks

SCORES = np.array(
    [
        [0.9, 0.5, 0.7, 0.5],  # target 1 ties with item 3: pessimistic rank 4
        [1.0, 1.0, 1.0, 1.0],  # all tied: the target ranks last (4)
        [0.1, 0.2, 0.3, 0.4],  # target 3 is the best: rank 1
    ]
)
TARGETS = np.array([1, 0, 3])


def test_pessimistic_ranks_put_ties_before_the_target() -> None:
    assert pessimistic_ranks(SCORES, TARGETS).tolist() == [4, 4, 1]


def test_constant_scores_rank_the_target_last() -> None:
    ranks = pessimistic_ranks(np.zeros((2, 100)), np.array([0, 57]))
    assert ranks.tolist() == [100, 100]


def test_evaluate_scores_by_hand() -> None:
    result = evaluate_scores(SCORES, TARGETS, ks=(1, 3, 5))
    # ranks [4, 4, 1]
    assert result["HR@1"] == pytest.approx(1 / 3)
    assert result["HR@3"] == pytest.approx(1 / 3)
    assert result["HR@5"] == pytest.approx(1.0)
    assert result["NDCG@5"] == pytest.approx((2 / math.log2(5) + 1) / 3)
    assert result["MRR@5"] == pytest.approx((0.25 + 0.25 + 1) / 3)


def test_exclusion_removes_items_before_ranking() -> None:
    # Excluding item 0 of row 0 lifts its target from rank 4 to rank 3.
    result = evaluate_scores(SCORES, TARGETS, exclude=[[0], [], []], ks=(3,))
    assert result["HR@3"] == pytest.approx(2 / 3)
    assert result["NDCG@3"] == pytest.approx((1 / math.log2(4) + 1) / 3)
    assert result["MRR@3"] == pytest.approx((1 / 3 + 1) / 3)


def test_excluded_target_is_a_miss() -> None:
    result = evaluate_scores(SCORES[2:], TARGETS[2:], exclude=[[3]], ks=(3,))
    assert result["HR@3"] == 0.0


def test_nan_scores_count_as_worst() -> None:
    scores = np.array([[np.nan, 0.2, 0.1]])
    assert pessimistic_ranks(scores, np.array([2])).tolist() == [2]


def test_bad_shapes_are_errors() -> None:
    with pytest.raises(ValueError, match="targets"):
        evaluate_scores(SCORES, np.array([0, 1]))
    with pytest.raises(ValueError, match="0..3"):
        evaluate_scores(SCORES, np.array([0, 1, 4]))


def test_ranks_and_top_k_do_not_depend_on_the_row_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from seqrec import ranking

    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, size=(37, 23)).astype(np.float32)  # many ties
    scores[rng.random(scores.shape) < 0.1] = np.nan
    scores[rng.random(scores.shape) < 0.1] = -np.inf
    targets = rng.integers(1, 23, size=37)
    whole_ranks, whole_top = ranking.pessimistic_ranks(scores, targets), ranking.top_k(scores, 5)
    widened = np.nan_to_num(scores.astype(np.float64), nan=-np.inf, neginf=-np.inf)
    expected = (widened >= widened[np.arange(37), targets][:, None]).sum(axis=1)
    assert whole_ranks.tolist() == expected.tolist()  # NaN counts as -inf, float32 as float64
    monkeypatch.setattr(ranking, "ROW_BLOCK_CELLS", 50)  # blocks of 2 rows
    assert ranking.pessimistic_ranks(scores, targets).tolist() == whole_ranks.tolist()
    assert ranking.top_k(scores, 5).tolist() == whole_top.tolist()
