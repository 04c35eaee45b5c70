"""Fossil: eq. 6 by hand (FISM part without the target, order-2 chain), order, known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import ConfigError
from seqrec.models.fossil import Fossil, earlier_occurrences
from seqrec.models.pairwise import TripleBatch
from seqrec.testing import cycle_world

torch.set_num_threads(1)

TINY = {"dim": 8, "order": 1, "epochs": 40, "lr": 0.05, "batch_size": 64}
HISTORIES = SequenceData.from_lists([[1, 2, 3], [4, 5, 1, 2], [6, 7], [9, 10, 6, 7, 8], [3]], n_items=11)
SUCCESSORS = [4, 3, 8, 9, 4]


@pytest.fixture(scope="module")
def model() -> Fossil:
    return Fossil(TINY).fit(cycle_world())


def hand_made_fossil(fold_in: bool = False) -> Fossil:
    """4 items, d = 2, L = 2, α = 0.5, parameters set by hand."""
    world = SequenceData.from_lists([[1, 2, 3, 4], [2, 3, 4, 1]], n_items=4)
    model = Fossil(dim=2, order=2, alpha=0.5, fold_in=fold_in, epochs=1).fit(world)
    params = model.factors
    with torch.no_grad():
        params.history_factors.copy_(torch.tensor([[0, 0], [0.1, 0.3], [0.2, -0.1], [0.4, 0.2], [-0.3, 0.1]]))  # P
        params.target_factors.copy_(torch.tensor([[0, 0], [0.5, 0.1], [0.2, 0.2], [-0.1, 0.4], [0.3, 0.6]]))  # Q
        params.item_bias.copy_(torch.tensor([0.0, 0.1, -0.2, 0.05, 0.3]))  # β
        params.chain_weights.copy_(torch.tensor([0.8, 0.4]))  # η_1, η_2
        params.user_chain_weights.copy_(torch.tensor([[0.1, -0.2], [0.0, 0.0]]))  # η^u
    return model


def test_score_by_hand_with_the_target_left_out_of_the_similarity_sum() -> None:
    model = hand_made_fossil()
    scores = model.checked_scores(SequenceData.from_lists([[1, 2, 3]], n_items=4))
    # Chain: 0.8 P_3 + 0.4 P_2 = (0.40, 0.12); η^u = 0 without fold-in.
    # Item 4: β_4 + <3^-½ (P_1 + P_2 + P_3), Q_4> + <chain, Q_4>
    #       = 0.3 + (0.7·0.3 + 0.4·0.6)/√3 + (0.40·0.3 + 0.12·0.6)
    assert scores[0, 4] == pytest.approx(0.3 + 0.45 / math.sqrt(3) + 0.192, abs=1e-6)
    # Item 2 is in the history: FISM sums over H \ {2} = {1, 3}, |H \ {2}| = 2.
    #       = −0.2 + <(0.5, 0.5)/√2, (0.2, 0.2)> + (0.40·0.2 + 0.12·0.2)
    assert scores[0, 2] == pytest.approx(-0.2 + 0.2 / math.sqrt(2) + 0.104, abs=1e-6)


def test_training_margin_of_a_triple_by_hand() -> None:
    model = hand_made_fossil()
    # User 0 buys 4 after [1, 2, 3]; the negative, item 1, is in that history (S-BPR only needs
    # j ≠ i), so its similarity sum runs over H ∖ {1} = {2, 3}: P_2 + P_3 = (0.6, 0.1).
    # Weights η + η^u = (0.9, 0.2): chain = 0.9 P_3 + 0.2 P_2 = (0.40, 0.16).
    batch = TripleBatch(*(torch.tensor([v]) for v in (0, 0, 3, 4, 1)))
    margins, _ = model.factors.terms(batch)
    x_4 = 0.3 + 0.45 / math.sqrt(3) + (0.40 * 0.3 + 0.16 * 0.6)
    x_1 = 0.1 + (0.6 * 0.5 + 0.1 * 0.1) / math.sqrt(2) + (0.40 * 0.5 + 0.16 * 0.1)
    assert float(margins.detach()[0]) == pytest.approx(x_4 - x_1, abs=1e-6)


def test_earlier_occurrences_count_repeats_within_a_sequence() -> None:
    sequences = SequenceData.from_lists([[1, 2, 1, 1], [3, 3, 1]], n_items=3)
    assert earlier_occurrences(sequences).tolist() == [0, 0, 1, 2, 0, 1, 0]


def test_explanation_parts_sum_exactly_to_the_score() -> None:
    model = hand_made_fossil()
    for item in (4, 2):
        explanation = model.explain([1, 2, 3], item)
        score = model.checked_scores(SequenceData.from_lists([[1, 2, 3]], n_items=4))[0, item]
        assert sum(row["contribution"] for row in explanation.evidence) == pytest.approx(score, abs=1e-5)
    similarity_items = {row["item"] for row in explanation.evidence if row["part"] == "long-term similarity"}
    assert similarity_items == {1, 3}  # item 2 explains itself through nothing but the chain and its bias


def test_fold_in_gives_personal_chain_weights() -> None:
    history = SequenceData.from_lists([[1, 2, 3, 1, 2]], n_items=4)  # item 4 is the negative
    frozen = hand_made_fossil(fold_in=False).checked_scores(history)
    folded = hand_made_fossil(fold_in=True)
    weights = folded.personal_weights(history)
    assert weights.shape == (1, 2) and float(weights.abs().sum()) > 0
    assert not np.allclose(folded.checked_scores(history)[0, 1:], frozen[0, 1:])


def test_order_matters(model: Fossil) -> None:
    scores = model.checked_scores(SequenceData.from_lists([[1, 2, 3], [1, 3, 2]], n_items=11))
    assert not np.allclose(scores[0, 1:], scores[1, 1:])


def test_ranks_the_successor_of_the_last_item_first(model: Fossil) -> None:
    assert model.recommend(HISTORIES, k=1)[:, 0].tolist() == SUCCESSORS


def test_same_seed_same_scores() -> None:
    world = cycle_world()
    first = Fossil(TINY, epochs=3).fit(world).checked_scores(HISTORIES)
    again = Fossil(TINY, epochs=3).fit(world).checked_scores(HISTORIES)
    np.testing.assert_array_equal(first, again)


def test_bad_config_values_are_errors_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="FossilConfig.alpha"):
        Fossil(alpha=1.5)
    with pytest.raises(ConfigError, match="FossilConfig.order"):
        Fossil(order=0)
