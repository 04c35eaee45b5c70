"""NARM: attention over real positions only, the bilinear decoder, and the cycle world."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.splits import leave_one_out
from seqrec.data.types import SequenceData
from seqrec.models.neural.narm import (
    NARM,
    NARMConfig,
    NARMNetwork,
    masked_softmax,
    run_gru_left_padded,
)
from seqrec.testing import cycle_world

torch.set_num_threads(1)

TINY = {
    "dim": 16,
    "hidden_size": 16,
    "max_len": 8,
    "epochs": 15,
    "batch_size": 64,
    "lr": 5e-3,
    "progress": False,
}
# Every three-item walk through either cycle of the world, and the item that follows it.
WALKS = [[base + (start + step) % 5 for step in range(3)] for base in (1, 6) for start in range(5)]
SUCCESSORS = [base + (start + 3) % 5 for base in (1, 6) for start in range(5)]


def network() -> NARMNetwork:
    torch.manual_seed(0)
    return NARMNetwork(
        11,
        NARMConfig(max_len=8, dim=6, hidden_size=5, embedding_dropout=0.0, representation_dropout=0.0),
    ).eval()


@pytest.fixture(scope="module")
def fitted() -> NARM:
    world = cycle_world()
    # Cycle-world successors are always in the history, so validation must not exclude it.
    model = NARM(TINY, exclude_history=False)
    model.fit(world, leave_one_out(world).valid)
    return model


def test_attention_weights_sum_to_one_over_real_positions_and_ignore_padding() -> None:
    net = network()
    short = torch.tensor([[0, 0, 0, 0, 4, 2, 9, 2]])
    longer = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 2, 9, 2]])  # more padding
    with torch.no_grad():
        _, _, weights = net.session_parts(short)
        _, _, weights_longer = net.session_parts(longer)
        hidden, hidden_longer = net.encode(short), net.encode(longer)
    assert weights[0, :4].abs().max() == 0  # padding positions get no attention
    assert float(weights[0].sum()) == pytest.approx(1.0, abs=1e-6)
    assert (weights[0, 4:] > 0).all()
    torch.testing.assert_close(weights_longer[0, -4:], weights[0, -4:])
    torch.testing.assert_close(hidden_longer, hidden)


def test_masked_softmax_of_a_row_without_items_is_zero() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    real = torch.tensor([[False, True, True], [False, False, False]])
    weights = masked_softmax(logits, real)
    e = float(np.exp(1.0))
    torch.testing.assert_close(weights[0], torch.tensor([0.0, 1 / (1 + e), e / (1 + e)]))
    assert weights[1].abs().max() == 0


def test_left_padded_gru_equals_the_gru_on_the_unpadded_session() -> None:
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, batch_first=True)
    embedded = torch.randn(2, 5, 3)
    real = torch.tensor([[False, False, True, True, True], [True, True, True, True, True]])
    outputs = run_gru_left_padded(gru, embedded, real)
    with torch.no_grad():
        alone, _ = gru(embedded[0:1, 2:])  # the first session without its padding
        whole, _ = gru(embedded[1:2])
    torch.testing.assert_close(outputs[0, 2:], alone[0])
    assert outputs[0, :2].abs().max() == 0
    torch.testing.assert_close(outputs[1], whole[0])


def test_scores_are_the_bilinear_decoder_of_the_paper() -> None:
    net = network()
    inputs = torch.tensor([[0, 0, 0, 3, 1, 4, 1, 5]])
    with torch.no_grad():
        global_part, local_part, _ = net.session_parts(inputs)
        session = torch.cat([global_part, local_part], dim=-1)[0]  # c_t = [c_g; c_l]
        bilinear = net.bilinear.weight  # B [D, 2H]
        # S_i = emb_i^T B c_t
        expected = torch.stack(
            [net.item_embedding.weight[i] @ bilinear @ session for i in range(12)]
        )
        scores = net.logits(net.encode(inputs)[:, -1])[0]
    torch.testing.assert_close(scores, expected)


def test_learns_the_cycle_world_with_validation(fitted: NARM) -> None:
    assert fitted.training is not None
    assert fitted.training.records[0].metrics  # validated every epoch
    assert fitted.training.best_metric > 0.9  # validation NDCG@10: the successor ranks first
    top1 = fitted.recommend(SequenceData.from_lists(WALKS, n_items=11), k=1)[:, 0]
    assert (top1 == np.array(SUCCESSORS)).mean() >= 0.8, top1


def test_explanation_is_the_attention_over_the_history(fitted: NARM) -> None:
    explanation = fitted.explain([9, 1, 2, 3], 4)
    assert explanation.kind == "attention"
    assert sorted(row["position"] for row in explanation.evidence) == [0, 1, 2, 3]
    assert {row["position"]: row["item"] for row in explanation.evidence} == {
        0: 9,
        1: 1,
        2: 2,
        3: 3,
    }
    assert sum(row["weight"] for row in explanation.evidence) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="not in 1..11"):
        fitted.explain([1, 2], 12)
