"""Each training loss against a value computed by hand on a 2-position x 3-score example."""

from __future__ import annotations

import math

import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural import losses
from seqrec.models.neural.hstu import HSTU, HSTUConfig
from seqrec.models.neural.losses import LossFunction
from seqrec.models.neural.network import SequenceNetwork
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


# -- in-batch and mixed negatives (config.negatives) -----------------------------------------------
class TableNetwork(SequenceNetwork):
    """Scores ``s(h, v) = h · table[v]``: with ``table[v] = e_{v-1}`` the score is ``h[v - 1]``."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__(len(table) - 1, max_len=4)
        self.table = torch.nn.Parameter(table.clone())

    def encode(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.table[input_ids]  # [B, L, D]

    def item_embeddings(self) -> torch.Tensor:
        return self.table


# Items 1, 2, 3 with training counts 2, 1, 1: target frequencies p = (1/2, 1/4, 1/4).
FREQUENCY_TRAIN = SequenceData.from_lists([[1, 2, 1, 3]], n_items=3)
IDENTITY_TABLE = torch.cat([torch.zeros(1, 3), torch.eye(3)])  # row 0 = padding
# Three positions; targets 1, 2, 1 (item 1 repeats); scores h_i[v - 1].
BATCH_TARGETS = torch.tensor([1, 2, 1])
BATCH_HIDDEN = torch.tensor([[0.0, LN(2), 0.0], [0.0, 0.0, 0.0], [LN(3), 0.0, 0.0]])


def batch_loss(negatives: str, hidden: torch.Tensor, targets: torch.Tensor, **config: object) -> torch.Tensor:
    loss_config = SASRec(LOSS_TINY, loss="sampled_softmax", negatives=negatives, **config).config
    function = LossFunction(loss_config, FREQUENCY_TRAIN)
    if negatives == "mixed":  # fix the sampled negatives: items 3 and 1 for every row
        function.sampler.sample = lambda n, generator: torch.tensor([3, 1] * (n // 2))  # type: ignore[union-attr]
    return function(TableNetwork(IDENTITY_TABLE), hidden, targets, torch.Generator().manual_seed(0))


def test_in_batch_softmax_matches_hand_value() -> None:
    # Column j of row i is s(h_i, y_j) - log p(y_j); columns repeating row i's own target are out.
    # Row 0 (target 1): own column 0 - ln 1/2 -> 2; item 2: ln 2 - ln 1/4 -> 8; column 2 is item 1
    #   again (an accidental hit): masked. p = 2/10.
    # Row 1 (target 2): item 1 -> 2, own item 2 -> 4, item 1 -> 2: p = 4/8.
    # Row 2 (target 1): column 0 masked; item 2 -> 4; own column ln 3 + ln 2 -> 6: p = 6/10.
    expected = (LN(5) + LN(2) + LN(5 / 3)) / 3
    assert batch_loss("in_batch", BATCH_HIDDEN, BATCH_TARGETS).item() == pytest.approx(expected, rel=1e-6)


def test_a_repeated_target_is_never_its_own_negative() -> None:
    # Every position has the same target: every other column is an accidental hit, so each row's
    # softmax holds its positive alone (loss 0); unmasked, three equal columns would give ln 3.
    hidden = torch.randn(3, 3, generator=torch.Generator().manual_seed(1))
    assert batch_loss("in_batch", hidden, torch.tensor([2, 2, 2])).item() == pytest.approx(0.0, abs=1e-6)
    # In the hand case, counting the repeated item 1 as a negative would give p = 2/12 in row 0
    # (instead of 2/10) and 6/16 in row 2 (instead of 6/10).
    unmasked = (LN(6) + LN(2) + LN(16 / 6)) / 3
    assert batch_loss("in_batch", BATCH_HIDDEN, BATCH_TARGETS).item() != pytest.approx(unmasked, rel=1e-3)


def test_mixed_negatives_are_the_union_corrected_by_the_mixture() -> None:
    # N = 3 positions, K = 2 sampled negatives (items 3 and 1) with uniform q = 1/3 (sample_alpha 0).
    # Expected copies of v among a row's candidates: (N - 1) p(v) + K q(v):
    #   item 1: 2/2 + 2/3 = 5/3, items 2 and 3: 2/4 + 2/3 = 7/6. Corrected weights exp(s) / count.
    # Row 0 (target 1): own 1 / (5/3) = 3/5; item 2: 2 / (7/6) = 12/7; in-batch item 1 and
    #   sampled item 1 masked; sampled item 3: 6/7. p = (3/5) / (3/5 + 18/7) = 21/111.
    # Row 1 (target 2): in-batch items 1, 1: 3/5 each; own 6/7; sampled 3: 6/7, sampled 1: 3/5.
    #   p = (6/7) / (12/7 + 9/5) = 30/123.
    # Row 2 (target 1): in-batch item 2: 6/7; own 3 * 3/5 = 9/5; sampled 3: 6/7 (sampled 1 masked).
    #   p = (9/5) / (9/5 + 12/7) = 63/123.
    expected = (LN(111 / 21) + LN(123 / 30) + LN(123 / 63)) / 3
    loss = batch_loss("mixed", BATCH_HIDDEN, BATCH_TARGETS, n_negatives=2, sample_alpha=0.0)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    per_position = batch_loss(
        "mixed", BATCH_HIDDEN, BATCH_TARGETS, n_negatives=2, sample_alpha=0.0, negatives_per_position=True
    )
    assert per_position.item() == pytest.approx(expected, rel=1e-6)  # the same items in every row


def test_mixture_log_q_is_the_log_expected_count() -> None:
    log_p = torch.log(torch.tensor([0.0, 0.5, 0.25, 0.25]))
    log_q = torch.log(torch.tensor([0.0, 0.1, 0.0, 0.9]))
    items = torch.tensor([1, 2, 3])
    got = losses.mixture_log_q(items, 4, log_p, 10, log_q)
    expected = torch.log(torch.tensor([4 * 0.5 + 10 * 0.1, 4 * 0.25, 4 * 0.25 + 10 * 0.9]))
    assert torch.allclose(got, expected)
    with pytest.raises(ValueError, match="at least one draw"):
        losses.mixture_log_q(items, 0, log_p, 0, log_q)


@pytest.mark.parametrize("negatives", ["in_batch", "mixed"])
def test_gradients_reach_the_hidden_states_and_only_the_candidate_items(negatives: str) -> None:
    train = SequenceData.from_lists([[1, 2, 3, 4, 5, 6, 1, 2]], n_items=6)
    config = SASRec(LOSS_TINY, loss="sampled_softmax", negatives=negatives, n_negatives=3).config
    network = TableNetwork(torch.randn(7, 5, generator=torch.Generator().manual_seed(2)))
    function = LossFunction(config, train)
    if negatives == "mixed":
        assert function.sampler is not None
        function.sampler.sample = lambda n, generator: torch.tensor([6, 6, 1])  # type: ignore[method-assign]
    hidden = torch.randn(4, 5, generator=torch.Generator().manual_seed(3), requires_grad=True)
    loss = function(network, hidden, torch.tensor([1, 2, 2, 3]), torch.Generator().manual_seed(0))
    loss.backward()
    assert hidden.grad is not None and torch.isfinite(hidden.grad).all() and hidden.grad.abs().sum() > 0
    assert network.table.grad is not None
    touched = set(torch.nonzero(network.table.grad.abs().sum(dim=1)).flatten().tolist())
    assert touched == ({1, 2, 3} if negatives == "in_batch" else {1, 2, 3, 6})


# Losses of the default negatives ("sampled") computed before in-batch negatives existed.
PINNED_SAMPLED = {(False, 0.0): 1.9327373504638672, (False, 0.75): 2.2693846225738525,
                  (True, 0.0): 1.9979709386825562, (True, 0.75): 2.220731019973755}


@pytest.mark.parametrize(("per_position", "alpha"), list(PINNED_SAMPLED))
def test_default_sampled_negatives_are_unchanged(per_position: bool, alpha: float) -> None:
    train = SequenceData.from_lists([list(range(1, 31)), [1, 1, 2, 3, 5, 8, 13, 21]], n_items=30)
    overrides = {"loss": "sampled_softmax", "n_negatives": 7, "negatives_per_position": per_position,
                 "sample_alpha": alpha}
    config = SASRec({"max_len": 6, "dim": 8, "threads": 1, "progress": False}, **overrides).config
    assert config.negatives == "sampled"
    torch.manual_seed(0)
    network = SASRecNetwork(30, SASRecConfig(max_len=6, dim=8, n_layers=1, n_heads=1, dropout=0.0))
    hidden = torch.randn(12, 8, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([1, 2, 3, 1, 5, 8, 13, 21, 1, 2, 30, 7])
    loss = LossFunction(config, train)(network, hidden, targets, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(PINNED_SAMPLED[(per_position, alpha)], rel=1e-6)
    # And it is the plain sampled softmax of the sampler's draws, bit for bit.
    sampler = losses.NegativeSampler(train.item_counts(), alpha)
    generator = torch.Generator().manual_seed(0)
    negatives = sampler.sample(12 * 7, generator).view(12, 7) if per_position else sampler.sample(7, generator)
    with torch.no_grad():
        positive = network.logits_of(hidden, targets[:, None])[:, 0]
        negative = network.logits_of(hidden, negatives)
        valid = negatives.expand(12, 7) != targets[:, None]
        direct = losses.sampled_softmax(positive, negative, sampler.log_q[targets], sampler.log_q[negatives], valid)
    assert torch.equal(loss.detach(), direct)


def test_bad_negatives_values_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"negatives must be one of 'sampled', 'in_batch', 'mixed'"):
        SASRec(negatives="in-batch")
    with pytest.raises(ValueError, match=r"SASRecConfig\.negatives must be one of"):
        SASRecConfig(negatives="batch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"negatives='in_batch' needs loss='sampled_softmax'"):
        SASRec(loss="bce", negatives="in_batch")
    with pytest.raises(ValueError, match=r"negatives='mixed' needs n_negatives >= 1"):
        SASRec(loss="sampled_softmax", negatives="mixed", n_negatives=0)
    # HSTUConfig's own checks run NeuralConfig's first: the config itself refuses.
    with pytest.raises(ValueError, match=r"HSTUConfig\.negatives='mixed' needs loss"):
        HSTUConfig(loss="softmax", negatives="mixed")
    # ... and the loss of a fit checks again (a config changed after it was built).
    hstu_config = HSTUConfig(loss="sampled_softmax", negatives="mixed")
    object.__setattr__(hstu_config, "loss", "softmax")
    with pytest.raises(ValueError, match=r"HSTUConfig\.negatives='mixed' needs loss"):
        LossFunction(hstu_config, FREQUENCY_TRAIN)


@pytest.mark.parametrize(("model", "negatives"), [(SASRec, "in_batch"), (HSTU, "mixed")])
def test_networks_train_with_in_batch_negatives(model: type, negatives: str) -> None:
    sequences = [[(start + step) % 12 + 1 for step in range(8)] for start in range(12)]
    train = SequenceData.from_lists(sequences, n_items=12)
    fitted = model(
        {**LOSS_TINY, "epochs": 8, "n_layers": 1, "n_heads": 1, "dropout": 0.0},
        loss="sampled_softmax", negatives=negatives, n_negatives=4,
    ).fit(train)
    losses_seen = [record.loss for record in fitted.training.records]
    assert len(losses_seen) == 8 and all(math.isfinite(value) and value > 0 for value in losses_seen)
    assert losses_seen[-1] < losses_seen[0] - 0.1  # it learns the cyclic next item
