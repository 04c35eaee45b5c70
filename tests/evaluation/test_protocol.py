"""The chunked full-ranking protocol: chunk size never changes a result; coverage by hand."""

from __future__ import annotations

import numpy as np
import pytest

from seqrec.data.splits import EvalSet, leave_one_out
from seqrec.data.types import SequenceData
from seqrec.evaluation.metrics import evaluate_scores
from seqrec.evaluation.protocol import evaluate_model
from seqrec.models.als import ImplicitALS
from seqrec.models.popularity import Popularity
from seqrec.ranking import mask_history
from seqrec.testing import cycle_world


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_results_do_not_depend_on_chunk_size(chunk_size: int) -> None:
    split = leave_one_out(cycle_world())
    model = ImplicitALS(factors=2, iterations=4).fit(split.train)
    popularity = split.train.item_counts()
    reference = evaluate_model(model, split.test, True, popularity, chunk_size=10_000)
    chunked = evaluate_model(model, split.test, True, popularity, chunk_size=chunk_size)
    assert chunked.metrics == reference.metrics
    assert chunked.coverage == reference.coverage
    assert chunked.avg_popularity == pytest.approx(reference.avg_popularity)
    np.testing.assert_array_equal(chunked.per_user["rank"], reference.per_user["rank"])


def test_protocol_agrees_with_evaluate_scores() -> None:
    split = leave_one_out(cycle_world())
    model = ImplicitALS(factors=2, iterations=4).fit(split.train)
    result = evaluate_model(model, split.test, True, split.train.item_counts())
    scores = model.checked_scores(split.test.histories)
    exclude = [list(h) for h in split.test.histories]
    expected = evaluate_scores(scores, split.test.targets, exclude=exclude)
    for key, value in expected.items():
        assert result.metrics[key] == pytest.approx(value)


def test_coverage_and_popularity_by_hand() -> None:
    # Popularity recommends the same 10 items to everybody: coverage = 10 / n_items, and the
    # average popularity of recommendations is the mean count of those 10 items.
    train = SequenceData.from_lists([[i for i in range(1, 13) for _ in range(i)]], n_items=20)
    model = Popularity().fit(train)
    histories = SequenceData.from_lists([[1], [2]], n_items=20)
    eval_set = EvalSet(histories, np.array([12, 3]), np.array([0, 0]))
    counts = train.item_counts()
    result = evaluate_model(model, eval_set, False, counts)
    assert result.coverage == pytest.approx(10 / 20)
    assert result.avg_popularity == pytest.approx(np.mean(np.arange(3, 13)))
    # target 12 is the most popular item: rank 1; target 3 is 10th.
    assert result.per_user["rank"].tolist() == [1.0, 10.0]


def test_history_masking_excludes_rebought_targets() -> None:
    histories = SequenceData.from_lists([[2, 3]], n_items=4)
    scores = np.array([[-np.inf, 1.0, 5.0, 4.0, 0.5]], dtype=np.float32)
    mask_history(scores, histories)
    assert scores[0].tolist() == [-np.inf, 1.0, -np.inf, -np.inf, 0.5]
