"""TransRec: eq. 2 by hand, the unit ball, the fold-in's expansion, order and a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.pairwise import TripleBatch
from seqrec.models.transrec import TransRec

torch.set_num_threads(1)

TINY = {"dim": 8, "epochs": 40, "lr": 0.05, "batch_size": 64, "reg": 0.1}


def path_world(n_users: int = 40, n_items: int = 10, length: int = 5, seed: int = 0) -> SequenceData:
    """Users walk part of the path 1 -> 2 -> ... -> 10 (no wrap-around).

    A translation can carry every point to the next one (γ_k = k δ, t = δ). A strict cycle it
    cannot: γ_k + t ≈ γ_(k+1) around a cycle sums to t ≈ 0, so no world of cycles is used here.
    """
    rng = np.random.default_rng(seed)
    starts = rng.integers(1, n_items - length + 2, size=n_users)
    return SequenceData.from_lists([list(range(s, s + length)) for s in starts], n_items=n_items)


@pytest.fixture(scope="module")
def model() -> TransRec:
    return TransRec(TINY).fit(path_world())


def hand_made_transrec(fold_in: bool = False) -> TransRec:
    """4 items, d = 2, parameters set by hand (points inside the unit ball)."""
    world = SequenceData.from_lists([[2, 1, 4, 3], [1, 2, 3, 4]], n_items=4)
    model = TransRec(dim=2, fold_in=fold_in, epochs=1).fit(world)
    params = model.factors
    with torch.no_grad():
        params.points.copy_(torch.tensor([[0, 0], [0.1, 0.2], [0.5, -0.3], [-0.4, 0.4], [0.6, 0.6]]))  # γ
        params.item_bias.copy_(torch.tensor([0.0, 0.1, 0.2, -0.1, 0.05]))  # β
        params.translation.copy_(torch.tensor([0.3, 0.1]))  # t
        params.user_translation.copy_(torch.tensor([[0.1, -0.2], [0.0, 0.0]]))  # t_u
    return model


def test_score_by_hand() -> None:
    scores = hand_made_transrec().checked_scores(SequenceData.from_lists([[2, 1]], n_items=4))
    # Landing point γ_1 + t (+ t_u = 0 for a history) = (0.4, 0.3); x_j = β_j − ‖(0.4, 0.3) − γ_j‖².
    expected = [0.1 - (0.3**2 + 0.1**2), 0.2 - (0.1**2 + 0.6**2), -0.1 - (0.8**2 + 0.1**2), 0.05 - (0.2**2 + 0.3**2)]
    np.testing.assert_allclose(scores[0, 1:], expected, atol=1e-6)
    np.testing.assert_allclose(expected, [0.0, -0.17, -0.75, -0.08], atol=1e-12)  # the arithmetic by hand


def test_training_margin_of_a_triple_by_hand() -> None:
    model = hand_made_transrec()
    # User 0 buys 4 after 1 (position 2 of [2, 1, 4, 3]); negative 3. Landing γ_1 + t + t_u = (0.5, 0.1).
    batch = TripleBatch(*(torch.tensor([v]) for v in (0, 0, 2, 4, 3)))
    margins, _ = model.factors.terms(batch)
    x_4 = 0.05 - (0.1**2 + 0.5**2)  # −0.21
    x_3 = -0.1 - (0.9**2 + 0.3**2)  # −1.00
    assert float(margins.detach()[0]) == pytest.approx(x_4 - x_3, abs=1e-6)


def test_fold_in_margins_are_linear_in_the_user_translation() -> None:
    model = hand_made_transrec(fold_in=True)
    histories = SequenceData.from_lists([[2, 1, 2], [1, 3]], n_items=4)
    pairs, features, offsets = model.fold_in_terms(histories)
    params = model.factors
    translation = torch.tensor([[0.2, -0.5], [-0.3, 0.1]])  # any t_u
    with torch.no_grad():
        items = torch.from_numpy(histories.items)
        landing = params.points[items[(pairs.positions - 1).clamp(min=0)]] + params.translation + translation[:, None, :]
        direct = (
            params.item_bias[pairs.positives] - (landing - params.points[pairs.positives]).pow(2).sum(-1)
            - params.item_bias[pairs.negatives] + (landing - params.points[pairs.negatives]).pow(2).sum(-1)
        )  # fmt: skip
        linear = (features * translation[:, None, :]).sum(-1) + offsets
    assert bool(pairs.mask.any())
    np.testing.assert_allclose(linear[pairs.mask], direct[pairs.mask], atol=1e-6)


def test_points_stay_in_the_unit_ball(model: TransRec) -> None:
    norms = model.factors.points.detach().norm(dim=1)
    assert float(norms.max()) <= 1.0 + 1e-5


def test_ranks_the_successor_of_the_last_item_first(model: TransRec) -> None:
    histories = SequenceData.from_lists([[1, 2], [3, 4, 5], [6], [7, 8], [2, 3, 4, 5, 6, 7, 8, 9]], n_items=10)
    top = model.recommend(histories, k=1, exclude=True)[:, 0]
    assert top.tolist() == [3, 6, 7, 9, 10]


def test_order_matters(model: TransRec) -> None:
    scores = model.checked_scores(SequenceData.from_lists([[3, 4], [4, 3]], n_items=10))
    assert not np.allclose(scores[0, 1:], scores[1, 1:])


def test_same_seed_same_scores() -> None:
    world, histories = path_world(), SequenceData.from_lists([[1, 2], [5]], n_items=10)
    first = TransRec(TINY, epochs=3, fold_in=True).fit(world).checked_scores(histories)
    again = TransRec(TINY, epochs=3, fold_in=True).fit(world).checked_scores(histories)
    np.testing.assert_array_equal(first, again)


def test_explanation_and_empty_history() -> None:
    model = hand_made_transrec()
    explanation = model.explain([2, 1], 4)
    assert explanation.evidence[0] == {"part": "previous item", "item": 1}
    near = [row["item"] for row in explanation.evidence if row["part"] == "near the landing point"]
    assert near[:2] == [1, 4]  # squared distances 0.10 and 0.13 from (0.4, 0.3)
    scores = model.checked_scores(SequenceData.from_lists([[]], n_items=4))
    np.testing.assert_allclose(scores[0, 1:], [0.1, 0.2, -0.1, 0.05], atol=1e-7)  # biases alone
