"""BERT4Rec: bidirectional attention, the [mask] at inference, the cycle world, explanations."""

from __future__ import annotations

import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural.bert4rec import BERT4Rec, BERT4RecConfig, BERT4RecNetwork
from seqrec.models.neural.network import mask_token
from seqrec.testing import cycle_world

TINY = {"max_len": 8, "dim": 16, "batch_size": 16, "lr": 5e-3, "threads": 1, "progress": False}


def network() -> BERT4RecNetwork:
    torch.manual_seed(0)
    return BERT4RecNetwork(
        20, BERT4RecConfig(max_len=6, dim=8, n_layers=2, n_heads=2, dropout=0.0, attention_dropout=0.0, mask_prob=0.2)
    ).eval()


def test_every_position_sees_both_directions() -> None:
    bert = network()
    inputs = torch.tensor([[0, 3, 7, 1, 9, mask_token(20)]])
    changed = inputs.clone()
    changed[0, 3] = 15
    with torch.no_grad():
        before, after = bert.encode(inputs), bert.encode(changed)
    assert not torch.allclose(before[:, 2], after[:, 2])  # position 2 reads the later position 3
    # Padding is invisible: dropping it leaves the real positions as they were.
    torch.testing.assert_close(before[:, 1:], bert.encode(inputs[:, 1:]))


def test_scores_come_from_the_appended_mask() -> None:
    model = BERT4Rec(TINY, epochs=1).fit(cycle_world())
    bert = model.require_network()
    with torch.no_grad():
        expected = bert.logits(bert.encode(torch.tensor([[0, 0, 0, 0, 1, 2, 3, mask_token(11)]]))[:, -1])
    scores = model.score(SequenceData.from_lists([[1, 2, 3]], n_items=11))
    torch.testing.assert_close(torch.from_numpy(scores[0, 1:]), expected[0, 1:])
    assert scores.shape == (1, 12)  # the [mask] token is never scored


@pytest.fixture(scope="module")
def model() -> BERT4Rec:
    # Masked-LM training sees ~2 targets per window instead of one per position, and BERT's small
    # initialisation has a long plateau: it needs more steps than SASRec on the same world.
    settings = dict(TINY, batch_size=32, lr=3e-3, dropout=0.1, attention_dropout=0.1)
    return BERT4Rec(settings, epochs=120, mask_prob=0.3).fit(cycle_world())


def test_learns_the_deterministic_cycle(model: BERT4Rec) -> None:
    # The 12-item users give training windows of 8 and 4 items, so the histories (plus [mask]) have
    # those lengths: a bidirectional model only knows the context shapes it was trained on.
    histories = SequenceData.from_lists(
        [[1, 2, 3], [9, 10, 6], [7, 8, 9], [3, 4, 5, 1, 2, 3, 4], [6, 7, 8, 9, 10, 6, 7]], n_items=11
    )
    assert model.recommend(histories, k=1)[:, 0].tolist() == [4, 7, 10, 5, 8]


def test_explanation_is_attention_from_the_mask(model: BERT4Rec) -> None:
    history = [3, 4, 5, 1, 2]
    rows = model.explain(history, 3).evidence
    assert sorted(row["position"] for row in rows) == [0, 1, 2, 3, 4]
    # The [mask] also attends to itself, so the history's share is at most 1.
    assert 0.0 < sum(row["weight"] for row in rows) <= 1.0 + 1e-6
