"""Item-kNN against similarities computed by hand on a 3-user x 4-item matrix.

Users (rows) and their items:      item 1  item 2  item 3  item 4
    user 0: 1, 2, 3                   1       1       1       0
    user 1: 1, 2                      1       1       0       0
    user 2: 2, 4                      0       1       0       1

Column norms: |1| = sqrt(2), |2| = sqrt(3), |3| = 1, |4| = 1. Dot products: (1,2) = 2,
(1,3) = 1, (2,3) = 1, (2,4) = 1, (1,4) = (3,4) = 0. With shrinkage s:
    sim(1,2) = 2 / (sqrt(6) + s),  sim(1,3) = 1 / (sqrt(2) + s),
    sim(2,3) = sim(2,4) = 1 / (sqrt(3) + s).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqrec.data.types import SequenceData
from seqrec.models.base import ConfigError
from seqrec.models.item_knn import ItemKNN

TRAIN = SequenceData.from_lists([[1, 2, 3], [1, 2], [2, 4]], n_items=4)
SHRINK = 1.0
SIM_12 = 2 / (math.sqrt(6) + SHRINK)
SIM_13 = 1 / (math.sqrt(2) + SHRINK)
SIM_23 = 1 / (math.sqrt(3) + SHRINK)
SIM_24 = SIM_23


def fitted(**overrides: object) -> ItemKNN:
    return ItemKNN({"neighbours": 10, "shrink": SHRINK, **overrides}).fit(TRAIN)


def test_shrunk_cosine_matches_hand_computation() -> None:
    similarity = fitted().similarity.toarray()
    expected = np.zeros((5, 5))
    for (a, b), value in {(1, 2): SIM_12, (1, 3): SIM_13, (2, 3): SIM_23, (2, 4): SIM_24}.items():
        expected[a, b] = expected[b, a] = value
    np.testing.assert_allclose(similarity, expected, rtol=1e-6)


def test_without_shrinkage_it_is_the_plain_cosine() -> None:
    similarity = fitted(shrink=0.0).similarity.toarray()
    assert similarity[1, 2] == pytest.approx(2 / math.sqrt(6), rel=1e-6)
    assert (
        similarity[3, 4] == 0.0 and similarity[2, 2] == 0.0
    )  # no co-occurrence, no self-similarity


def test_score_sums_the_similarities_to_the_history_items() -> None:
    model = fitted()
    scores = model.checked_scores(SequenceData.from_lists([[1, 3], [3, 1, 3]], n_items=4))
    assert scores.shape == (2, 5) and scores[0, 0] == -np.inf
    assert scores[0, 2] == pytest.approx(SIM_12 + SIM_23, rel=1e-6)
    assert scores[0, 1] == pytest.approx(SIM_13, rel=1e-6)
    assert scores[0, 4] == 0.0
    np.testing.assert_array_equal(scores[0], scores[1])  # order and repeats do not matter


def test_each_item_keeps_only_its_top_neighbours() -> None:
    model = fitted(neighbours=1)
    scores = model.checked_scores(SequenceData.from_lists([[2], [3]], n_items=4))
    # Item 2's neighbours are 1 (SIM_12 ~ 0.58) > 3 = 4 (~0.37): only item 1 survives.
    assert scores[0, 1] == pytest.approx(SIM_12, rel=1e-6)
    assert scores[0, 3] == 0.0 and scores[0, 4] == 0.0
    # Item 3's neighbours are 1 (~0.41) > 2 (~0.37): only item 1 survives.
    assert scores[1, 1] == pytest.approx(SIM_13, rel=1e-6) and scores[1, 2] == 0.0


def test_row_normalisation_makes_each_items_votes_sum_to_one() -> None:
    scores = fitted(normalize=True).checked_scores(SequenceData.from_lists([[2]], n_items=4))
    total = SIM_12 + SIM_23 + SIM_24
    assert scores[0, 1] == pytest.approx(SIM_12 / total, rel=1e-6)
    assert scores[0, 1:].sum() == pytest.approx(1.0, rel=1e-6)


def test_explanation_lists_the_voting_history_items() -> None:
    explanation = fitted().explain([4, 1, 3], 2)
    assert [row["item"] for row in explanation.evidence] == [1, 3, 4]  # by similarity, then id
    assert explanation.evidence[0]["similarity"] == pytest.approx(SIM_12, rel=1e-6)
    total = sum(row["similarity"] for row in explanation.evidence)
    assert total == pytest.approx(SIM_12 + SIM_23 + SIM_24, rel=1e-6)


def test_invalid_settings_are_errors() -> None:
    with pytest.raises(ConfigError, match="neighbours"):
        ItemKNN(neighbours=0)
    with pytest.raises(ConfigError, match="shrink"):
        ItemKNN(shrink=-1.0)
