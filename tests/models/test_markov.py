"""Markov chains: interpolated absolute discounting checked against hand-computed values.

Corpus A (n_items = 5, discount d = 0.5): [1, 2, 3], [1, 2, 4], [2, 3, 1].

* Unigram counts 1:3, 2:3, 3:2, 4:1, 5:0; N = 9, N1+ = 4. Uniform share d * N1+ / N / 5 = 0.4 / 9,
  so P_0(i) = (c(i) - 0.5) / 9 + 0.4 / 9 = (c(i) - 0.1) / 9 for seen items, 0.4 / 9 for item 5.
* Order 1, context (2): followed by 3 twice and 4 once: c = 3, N1+ = 2, back-off 0.5 * 2 / 3 = 1/3.
  P_1(3 | 2) = 1.5 / 3 + (1/3) * 1.9 / 9 = 15.4 / 27;  P_1(4 | 2) = 0.5 / 3 + (1/3) * 0.9 / 9 = 0.2.
* Order 2, context (1, 2): followed by 3 once and 4 once: c = 2, N1+ = 2, back-off 0.5.
  P_2(3 | 1, 2) = 0.5 / 2 + 0.5 * 15.4 / 27 = 0.25 + 7.7 / 27.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import ConfigError, NotFittedError
from seqrec.models.markov import MarkovChain, MarkovChainK, markov_probability_reference

torch.set_num_threads(1)

CORPUS_A = [[1, 2, 3], [1, 2, 4], [2, 3, 1]]
N_ITEMS_A = 5


def fit(order: int, corpus: list[list[int]] = CORPUS_A, n_items: int = N_ITEMS_A) -> MarkovChain:
    return MarkovChainK(order=order, discount=0.5).fit(SequenceData.from_lists(corpus, n_items))


def scores_after(model: MarkovChain, history: list[int]) -> np.ndarray:
    return model.checked_scores(SequenceData.from_lists([history], model.require_fitted()))[0]


P0 = np.array([0.0, 2.9 / 9, 2.9 / 9, 1.9 / 9, 0.9 / 9, 0.4 / 9])


def test_unigram_level_is_discounted_popularity() -> None:
    np.testing.assert_allclose(scores_after(fit(1), [])[1:], P0[1:], rtol=1e-6)


def test_order_one_transition_probabilities_by_hand() -> None:
    scores = scores_after(fit(1), [2])
    expected = P0 / 3  # every item gets the back-off share (1/3) * P_0 ...
    expected[3] += 1.5 / 3  # ... plus its discounted count after item 2
    expected[4] += 0.5 / 3
    np.testing.assert_allclose(scores[1:], expected[1:], rtol=1e-6)
    assert scores[3] == pytest.approx(15.4 / 27, rel=1e-6)
    assert scores[4] == pytest.approx(0.2, rel=1e-6)
    assert scores[1:].sum() == pytest.approx(1.0, rel=1e-6)


def test_order_two_interpolates_down_to_order_one() -> None:
    scores = scores_after(fit(2), [1, 2])
    assert scores[3] == pytest.approx(0.25 + 7.7 / 27, rel=1e-6)
    assert scores[4] == pytest.approx(0.25 + 0.5 * 0.2, rel=1e-6)
    assert scores[1:].sum() == pytest.approx(1.0, rel=1e-6)


def test_unseen_context_backs_off_entirely() -> None:
    order_one, order_two = fit(1), fit(2)
    # (4, 2) never occurred: order 2 equals order 1 after item 2.
    np.testing.assert_allclose(
        scores_after(order_two, [4, 2]), scores_after(order_one, [2]), rtol=1e-6
    )
    # Item 4 was never followed by anything and item 5 never seen: straight to popularity.
    np.testing.assert_allclose(scores_after(order_one, [4])[1:], P0[1:], rtol=1e-6)
    np.testing.assert_allclose(scores_after(order_two, [5])[1:], P0[1:], rtol=1e-6)


def test_order_k_uses_the_longer_context_when_seen() -> None:
    # After 2 comes 3 twice and 5 once; but after (4, 2) it was 5.
    corpus = [[1, 2, 3], [1, 2, 3], [4, 2, 5]]
    order_one, order_two = fit(1, corpus), fit(2, corpus)
    # All 5 items seen, so P_0(i) = c(i) / 9;  P_1(3 | 2) = 15.5 / 27, P_1(5 | 2) = 5.5 / 27.
    assert scores_after(order_one, [4, 2])[3] == pytest.approx(15.5 / 27, rel=1e-6)
    after_4_2 = scores_after(order_two, [4, 2])
    assert after_4_2[5] == pytest.approx(0.5 + 0.5 * 5.5 / 27, rel=1e-6)
    assert after_4_2[3] == pytest.approx(0.5 * 15.5 / 27, rel=1e-6)
    assert order_one.recommend(SequenceData.from_lists([[4, 2]], 5), k=1)[0, 0] == 3
    assert order_two.recommend(SequenceData.from_lists([[4, 2]], 5), k=1)[0, 0] == 5


def test_history_shorter_than_the_order_uses_what_it_has() -> None:
    np.testing.assert_allclose(scores_after(fit(3), [2]), scores_after(fit(1), [2]), rtol=1e-6)


def test_batch_scores_match_the_slow_reference() -> None:
    rng = np.random.default_rng(3)
    corpus = [rng.integers(1, 7, size=int(n)).tolist() for n in rng.integers(2, 12, size=8)]
    histories = [[], [1], [2, 3], [4, 4, 5], corpus[0][:5], corpus[1], [6, 6, 6, 6]]
    model = MarkovChainK(order=3, discount=0.6).fit(SequenceData.from_lists(corpus, 6))
    scores = model.checked_scores(SequenceData.from_lists(histories, 6))
    for row, history in enumerate(histories):
        reference = [
            markov_probability_reference(corpus, 6, 3, 0.6, history, i) for i in range(1, 7)
        ]
        np.testing.assert_allclose(scores[row, 1:], reference, rtol=1e-5)
        assert scores[row, 1:].sum() == pytest.approx(1.0, rel=1e-5)


def test_shapes_and_padding_column() -> None:
    model = fit(2)
    histories = SequenceData.from_lists([[], [1, 2], [5], [3, 1, 2, 4]], N_ITEMS_A)
    scores = model.checked_scores(histories)
    assert scores.shape == (4, N_ITEMS_A + 1) and scores.dtype == np.float32
    assert np.all(scores[:, 0] == -np.inf)
    assert np.all(scores[:, 1:] > 0)


def test_explain_lists_the_transitions_used() -> None:
    explanation = fit(2).explain([1, 2], 3)
    assert explanation.kind == "transitions" and explanation.item == 3
    order_two, order_one, order_zero = explanation.evidence
    assert order_two["context"] == [1, 2] and order_two["item"] == 3
    assert (order_two["context_count"], order_two["item_count"]) == (2, 1)
    assert order_two["probability"] == pytest.approx(0.25 + 7.7 / 27)
    assert (order_two["backoff_weight"], order_two["weight"]) == (pytest.approx(0.5), 1.0)
    assert order_one["context"] == [2] and (
        order_one["context_count"],
        order_one["item_count"],
    ) == (3, 2)
    assert order_one["probability"] == pytest.approx(15.4 / 27)
    assert order_one["weight"] == pytest.approx(0.5)
    assert order_zero["context"] == [] and order_zero["probability"] == pytest.approx(1.9 / 9)
    assert order_zero["weight"] == pytest.approx(0.5 / 3)
    assert "After item(s) [1, 2], item 3 came next in 50% of 2 cases" in explanation.summary


def test_explain_of_an_unseen_context_says_it_backed_off() -> None:
    explanation = fit(1).explain([5], 1)
    assert not explanation.evidence[0]["seen"]
    assert explanation.evidence[-1]["probability"] == pytest.approx(2.9 / 9)
    assert "popularity" in explanation.summary


def test_names_defaults_and_config_errors() -> None:
    assert (MarkovChain.name, MarkovChainK.name) == ("markov", "markov-k")
    assert MarkovChain().config.order == 1 and MarkovChainK().config.order == 3
    with pytest.raises(ConfigError, match="order"):
        MarkovChain(order=0)
    with pytest.raises(ConfigError, match="discount"):
        MarkovChainK(discount=0.0)
    with pytest.raises(NotFittedError):
        MarkovChain().score(SequenceData.from_lists([[1]], 5))
    with pytest.raises(ValueError, match="not in 1..5"):
        fit(1).explain([1], 6)
