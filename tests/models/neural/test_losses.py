"""Each training loss against a value computed by hand on a 2-position x 3-score example."""

from __future__ import annotations

import math

import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural import losses
from seqrec.models.neural.losses import LossFunction
from seqrec.models.neural.sasrec import SASRec, SASRecConfig, SASRecNetwork

LN = math.log


def test_softmax_cross_entropy_matches_hand_value() -> None:
    # Row 1: equal logits, so p(target) = 1/3. Row 2: logits log(1, 2, 5), so p = (1, 2, 5) / 8.
    logits = torch.tensor([[0.0, 0.0, 0.0], [LN(1), LN(2), LN(5)]])
    targets = torch.tensor([0, 2])
    expected = (LN(3) + LN(8 / 5)) / 2
    assert losses.softmax_cross_entropy(logits, targets).item() == pytest.approx(expected, rel=1e-6)


# Scores of one positive and two negatives per position (2 x 3).
POSITIVE = torch.tensor([0.0, LN(3)])
NEGATIVE = torch.tensor([[0.0, 0.0], [LN(3), -LN(3)]])


def test_binary_cross_entropy_matches_hand_value() -> None:
    # -log σ(0) = log 2; -log(1 - σ(0)) = log 2.  -log σ(ln 3) = log(4/3); -log(1 - σ(ln 3)) = log 4.
    row1 = 3 * LN(2)
    row2 = LN(4 / 3) + LN(4) + LN(4 / 3)
    assert losses.binary_cross_entropy(POSITIVE, NEGATIVE).item() == pytest.approx((row1 + row2) / 2, rel=1e-6)


def test_binary_cross_entropy_ignores_masked_negatives() -> None:
    valid = torch.tensor([[True, False], [False, True]])
    row1 = 2 * LN(2)
    row2 = LN(4 / 3) + LN(4 / 3)
    assert losses.binary_cross_entropy(POSITIVE, NEGATIVE, valid).item() == pytest.approx((row1 + row2) / 2, rel=1e-6)


def test_gbce_beta_follows_the_gsasrec_formula() -> None:
    # alpha = 2 / (5 - 1) = 0.5; beta = alpha * (t * (1 - 1/alpha) + 1/alpha) = 0.5 * (0.5 * -1 + 2) = 0.75.
    assert losses.gbce_beta(n_negatives=2, n_items=5, t=0.5) == pytest.approx(0.75)
    assert losses.gbce_beta(n_negatives=2, n_items=5, t=0.0) == pytest.approx(1.0)  # plain BCE
    assert losses.gbce_beta(n_negatives=2, n_items=5, t=1.0) == pytest.approx(0.5)  # beta = alpha
    with pytest.raises(ValueError, match="gbce_t"):
        losses.gbce_beta(2, 5, 1.5)


def test_gbce_matches_hand_value() -> None:
    beta = 0.75
    row1 = beta * LN(2) + 2 * LN(2)
    row2 = beta * LN(4 / 3) + LN(4) + LN(4 / 3)
    assert losses.gbce(POSITIVE, NEGATIVE, beta).item() == pytest.approx((row1 + row2) / 2, rel=1e-6)


def test_sampled_softmax_applies_the_logq_correction() -> None:
    positive = torch.tensor([LN(2), 0.0])
    negative = torch.tensor([[0.0, LN(3)], [0.0, 0.0]])
    log_q_positive = torch.tensor([LN(1 / 2), LN(1 / 2)])
    log_q_negative = torch.tensor([LN(1 / 4), LN(1 / 4)])  # shared by both rows: [K]
    # Row 1 corrected: ln 4, ln 4, ln 12 -> p = 4 / 20. Row 2: ln 2, ln 4, ln 4 -> p = 2 / 10.
    expected = (LN(5) + LN(5)) / 2
    loss = losses.sampled_softmax(positive, negative, log_q_positive, log_q_negative)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # Without correction, row 1 is softmax(ln 2, 0, ln 3) -> p = 2/6; row 2: p = 1/3.
    plain = losses.sampled_softmax(positive, negative, torch.zeros(2), torch.zeros(2))
    assert plain.item() == pytest.approx(LN(3), rel=1e-6)


def test_bpr_max_matches_hand_value() -> None:
    positive = torch.tensor([0.0, LN(3)])
    negative = torch.tensor([[0.0, 0.0], [0.0, LN(3)]])
    reg = 0.5
    # Row 1: weights (1/2, 1/2), σ(0) = 1/2 -> -log(1/2); scores 0 so no penalty.
    row1 = LN(2)
    # Row 2: weights softmax(0, ln 3) = (1/4, 3/4); σ(ln 3) = 3/4, σ(0) = 1/2
    #   -> -log(1/4 * 3/4 + 3/4 * 1/2) = -log(9/16); penalty 0.5 * 3/4 * (ln 3)^2.
    row2 = -LN(9 / 16) + reg * 0.75 * LN(3) ** 2
    assert losses.bpr_max(positive, negative, reg).item() == pytest.approx((row1 + row2) / 2, rel=1e-6)


def test_bpr_max_row_without_valid_negatives_contributes_nothing() -> None:
    valid = torch.tensor([[False, False], [True, True]])
    # Row 2: weights softmax(ln 3, -ln 3) = (0.9, 0.1); σ(0) = 0.5, σ(2 ln 3) = 0.9
    #   -> -log(0.9 * 0.5 + 0.1 * 0.9) = -log(0.54); penalty 1.0 * (0.9 + 0.1) * (ln 3)^2.
    row2 = -LN(0.54) + LN(3) ** 2
    assert losses.bpr_max(POSITIVE, NEGATIVE, 1.0, valid).item() == pytest.approx(row2 / 2, rel=1e-6)


# -- LossFunction: config.loss on a batch ----------------------------------------------------------
LOSS_TINY = {"max_len": 6, "dim": 16, "batch_size": 16, "lr": 5e-3, "threads": 1, "progress": False, "exclude_history": False}


class RecordingNetwork(SASRecNetwork):
    """Records the candidate ids the loss asks scores for."""

    asked: list[torch.Tensor]

    def logits_of(self, hidden: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        self.asked.append(item_ids)
        return super().logits_of(hidden, item_ids)


@pytest.mark.parametrize("per_position", [False, True])
def test_negatives_are_shared_by_the_batch_or_drawn_per_position(per_position: bool) -> None:
    train = SequenceData.from_lists([list(range(1, 31))], n_items=30)
    config = SASRec(LOSS_TINY, loss="bce", n_negatives=5, negatives_per_position=per_position).config
    network = RecordingNetwork(30, SASRecConfig(max_len=6, dim=8, n_layers=1, n_heads=1, dropout=0.0))
    network.asked = []
    hidden, targets = torch.randn(40, 8), torch.arange(1, 41) % 30 + 1
    LossFunction(config, train)(network, hidden, targets, torch.Generator().manual_seed(0))
    negatives = network.asked[1]  # [0] is the positives
    if per_position:
        assert negatives.shape == (40, 5) and len({tuple(row.tolist()) for row in negatives}) > 1
    else:
        assert negatives.shape == (5,)
