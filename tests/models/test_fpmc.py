"""FPMC: a score by hand from given factors, order sensitivity and the cycle world's known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import ConfigError
from seqrec.models.fpmc import FPMC
from seqrec.models.pairwise import TripleBatch
from seqrec.testing import cycle_world

torch.set_num_threads(1)

TINY = {"dim": 8, "epochs": 30, "lr": 0.05, "batch_size": 64, "basket": 1}
HISTORIES = SequenceData.from_lists([[1, 2, 3], [4, 5, 1, 2], [6, 7], [9, 10, 6, 7, 8], [3]], n_items=11)
SUCCESSORS = [4, 3, 8, 9, 4]


@pytest.fixture(scope="module")
def model() -> FPMC:
    return FPMC(TINY).fit(cycle_world())


def hand_made_fpmc() -> FPMC:
    """4 items, d = 2, a basket of the last 2 items, factors set by hand."""
    model = FPMC(dim=2, basket=2, epochs=1).fit(SequenceData.from_lists([[1, 2, 3, 4], [2, 3, 4, 1]], n_items=4))
    factors = model.factors
    with torch.no_grad():
        factors.user_item.copy_(torch.tensor([[0.2, -0.1], [0.0, 0.3]]))  # v_u^{U,I}
        factors.item_user.copy_(torch.tensor([[0, 0], [0.1, 0.2], [0.3, -0.1], [0.0, 0.5], [0.4, 0.4]]))  # v^{I,U}
        factors.item_last.copy_(torch.tensor([[0, 0], [0.2, 0.0], [-0.1, 0.3], [0.5, 0.1], [0.3, -0.2]]))  # v^{I,L}
        factors.last_item.copy_(torch.tensor([[0, 0], [0.1, 0.1], [0.4, -0.3], [0.2, 0.6], [-0.5, 0.2]]))  # v^{L,I}
    return model


def test_training_score_of_a_triple_by_hand() -> None:
    model = hand_made_fpmc()
    # User 0 buys item 4 at position 3 of [1, 2, 3, 4]: basket B = {3, 2}; negative item 1.
    batch = TripleBatch(*(torch.tensor([v]) for v in (0, 0, 3, 4, 1)))
    margins, _ = model.factors.terms(batch)
    # x_4 = <(0.2, −0.1), (0.4, 0.4)> + (<(0.3, −0.2), (0.2, 0.6)> + <(0.3, −0.2), (0.4, −0.3)>) / 2
    #     = 0.04 + (−0.06 + 0.18) / 2 = 0.10
    # x_1 = <(0.2, −0.1), (0.1, 0.2)> + (<(0.2, 0), (0.2, 0.6)> + <(0.2, 0), (0.4, −0.3)>) / 2
    #     = 0.00 + (0.04 + 0.08) / 2 = 0.06
    assert float(margins.detach()[0]) == pytest.approx(0.10 - 0.06, abs=1e-6)


def test_score_is_the_folded_in_user_part_plus_the_hand_computed_transition() -> None:
    model = hand_made_fpmc()
    history = SequenceData.from_lists([[1, 2, 3]], n_items=4)
    scores = model.checked_scores(history)
    users, _, _ = model.fold_in(history)
    # Transition part of item 4 after basket {3, 2}: (−0.06 + 0.18) / 2 = 0.06.
    expected = float(users[0] @ torch.tensor([0.4, 0.4])) + 0.06
    assert scores[0, 4] == pytest.approx(expected, abs=1e-6)
    explanation = model.explain([1, 2, 3], 4)
    transition = [row for row in explanation.evidence if row["part"] == "transition"]
    assert [(row["item"], row["steps_back"]) for row in transition] == [(3, 1), (2, 2)]
    assert sum(row["contribution"] for row in transition) == pytest.approx(0.06, abs=1e-6)


def test_order_matters(model: FPMC) -> None:
    scores = model.checked_scores(SequenceData.from_lists([[1, 2, 3], [1, 3, 2]], n_items=11))
    assert not np.allclose(scores[0, 1:], scores[1, 1:])
    top = model.recommend(SequenceData.from_lists([[1, 2, 3], [2, 3, 1]], n_items=11), k=1)
    assert top[:, 0].tolist() == [4, 2]  # the same items, a different last one


def test_ranks_the_successor_of_the_last_item_first(model: FPMC) -> None:
    top = model.recommend(HISTORIES, k=1)[:, 0]
    assert top.tolist() == SUCCESSORS


def test_same_seed_same_scores() -> None:
    world = cycle_world()
    first = FPMC(TINY, epochs=3).fit(world).checked_scores(HISTORIES)
    again = FPMC(TINY, epochs=3).fit(world).checked_scores(HISTORIES)
    np.testing.assert_array_equal(first, again)


def test_explanation_parts_sum_to_the_score(model: FPMC) -> None:
    explanation = model.explain([6, 7], 8)
    score = model.checked_scores(SequenceData.from_lists([[6, 7]], n_items=11))[0, 8]
    assert (explanation.evidence[0]["part"], explanation.evidence[0]["item"]) == ("transition", 7)
    # With one fold-in positive (item 7), the user-preference share is the whole MF part.
    assert sum(row["contribution"] for row in explanation.evidence) == pytest.approx(score, abs=1e-3)


def test_a_single_item_history_and_a_bad_basket() -> None:
    model = FPMC(TINY, epochs=2).fit(cycle_world())
    scores = model.checked_scores(SequenceData.from_lists([[5], []], n_items=11))
    assert np.isfinite(scores[:, 1:]).all()
    np.testing.assert_array_equal(scores[1, 1:], 0.0)  # no user part, no previous item
    with pytest.raises(ConfigError, match="FPMCConfig.basket"):
        FPMC(basket=0)
