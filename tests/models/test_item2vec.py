"""Item2Vec: the training data by hand, a known answer on a toy corpus, determinism, scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import ConfigError
from seqrec.models.item2vec import Item2Vec, keep_probabilities, recency_weights, skipgram_pairs

torch.set_num_threads(1)

# Two "categories" that never meet: items 1-4 co-occur in even rows, items 5-8 in odd rows.
_rng = np.random.default_rng(0)
TOY = SequenceData.from_lists(
    [
        [int(i) for i in _rng.permutation([1, 2, 3, 4] if row % 2 == 0 else [5, 6, 7, 8])]
        for row in range(40)
    ],
    n_items=8,
)
TOY_SETTINGS = {"dim": 8, "window": 2, "subsample": 0.0, "epochs": 20, "batch_size": 64, "lr": 0.05}


@pytest.fixture(scope="module")
def toy_model() -> Item2Vec:
    return Item2Vec(TOY_SETTINGS).fit(TOY)


def test_keep_probability_by_hand() -> None:
    # Frequencies 0.01 and 0.99 with t = 0.01: keep min(1, sqrt(t/f) + t/f).
    keep = keep_probabilities(np.array([0, 1, 99]), threshold=0.01)
    assert keep[1] == 1.0
    assert keep[2] == pytest.approx(np.sqrt(0.01 / 0.99) + 0.01 / 0.99)
    np.testing.assert_array_equal(keep_probabilities(np.array([0, 5]), threshold=0.0), [1.0, 1.0])


def test_skipgram_pairs_stay_inside_a_sequence_and_window() -> None:
    items, rows = np.array([1, 2, 3, 4, 5]), np.array([0, 0, 0, 1, 1])
    centres, contexts = skipgram_pairs(items, rows, window=1)
    assert sorted(zip(centres.tolist(), contexts.tolist())) == [
        (1, 2),
        (2, 1),
        (2, 3),
        (3, 2),
        (4, 5),
        (5, 4),
    ]
    centres, contexts = skipgram_pairs(items, rows, window=2)
    assert (1, 3) in set(zip(centres.tolist(), contexts.tolist())) and len(centres) == 8


def test_recency_weights_decay_geometrically_towards_the_past() -> None:
    np.testing.assert_allclose(recency_weights(3, 0.5), [0.25, 0.5, 1.0])
    np.testing.assert_allclose(recency_weights(2, 1.0), [1.0, 1.0])


def test_items_that_share_windows_are_more_similar(toy_model: Item2Vec) -> None:
    vectors = toy_model.input_vectors[1:]  # [8, D] unit rows
    cosine = vectors @ vectors.T
    same = np.equal.outer(np.arange(8) < 4, np.arange(8) < 4) & ~np.eye(8, dtype=bool)
    different = ~np.equal.outer(np.arange(8) < 4, np.arange(8) < 4)
    assert cosine[same].min() > cosine[different].max()


def test_same_seed_same_embeddings_other_seed_other_embeddings(toy_model: Item2Vec) -> None:
    again = Item2Vec(TOY_SETTINGS).fit(TOY)
    np.testing.assert_array_equal(again.input_vectors, toy_model.input_vectors)
    np.testing.assert_array_equal(again.output_vectors, toy_model.output_vectors)
    other = Item2Vec({**TOY_SETTINGS, "seed": 1}).fit(TOY)
    assert not np.allclose(other.input_vectors, toy_model.input_vectors)


@pytest.mark.parametrize("space", ["input", "output"])
def test_score_is_the_cosine_to_the_recency_weighted_user_vector(space: str) -> None:
    settings = {**TOY_SETTINGS, "n_recent": 2, "recency_decay": 0.5, "score_with": space}
    model = Item2Vec(settings).fit(TOY)
    scores = model.checked_scores(SequenceData.from_lists([[7, 1, 2]], n_items=8))
    assert scores.shape == (1, 9) and scores[0, 0] == -np.inf
    user = 0.5 * model.input_vectors[1] + 1.0 * model.input_vectors[2]  # item 7 is beyond n_recent
    candidates = model.input_vectors if space == "input" else model.output_vectors
    expected = candidates[1:] @ (user / np.linalg.norm(user))
    np.testing.assert_allclose(scores[0, 1:], expected, rtol=1e-5, atol=1e-6)


def test_the_latest_items_decide(toy_model: Item2Vec) -> None:
    scores = toy_model.checked_scores(SequenceData.from_lists([[1, 2, 5], [5, 2, 1]], n_items=8))
    # Ending in category B (item 5) pulls B's items up; ending in A (item 1) pulls them down.
    assert scores[0, 6:].mean() > scores[1, 6:].mean()
    assert scores[1, 3:5].mean() > scores[0, 3:5].mean()


def test_explanation_contributions_sum_to_the_score(toy_model: Item2Vec) -> None:
    history = [1, 2, 5]
    explanation = toy_model.explain(history, 6)
    score = toy_model.checked_scores(SequenceData.from_lists([history], n_items=8))[0, 6]
    assert [row["item"] for row in explanation.evidence] == [5, 2, 1]  # newest first
    assert sum(row["contribution"] for row in explanation.evidence) == pytest.approx(
        float(score), abs=1e-5
    )


def test_items_never_seen_in_training_score_lowest() -> None:
    train = SequenceData.from_lists([[1, 2, 1, 2]], n_items=3)
    model = Item2Vec(dim=4, window=1, subsample=0.0, epochs=1).fit(train)
    scores = model.checked_scores(SequenceData.from_lists([[1]], n_items=3))
    assert scores[0, 3] == -1.0 and scores[0, 3] < scores[0, 2]


def test_fit_leaves_the_global_thread_count_alone() -> None:
    before = torch.get_num_threads()
    Item2Vec(dim=4, window=1, epochs=1, threads=2).fit(SequenceData.from_lists([[1, 2]], n_items=2))
    assert torch.get_num_threads() == before


def test_invalid_settings_are_errors() -> None:
    with pytest.raises(ConfigError, match="score_with"):
        Item2Vec(score_with="both")
    with pytest.raises(ConfigError, match="recency_decay"):
        Item2Vec(recency_decay=0.0)
