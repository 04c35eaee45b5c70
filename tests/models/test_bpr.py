"""BPR-MF: the LearnBPR update by hand, the fold-in, order-agnosticism and a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import ConfigError
from seqrec.models.bpr import BPRMF, BPRConfig, BPRFactors
from seqrec.models.pairwise import (
    TripleBatch,
    TripleSampler,
    bpr_step,
    fold_in_objective,
    fold_in_pairs,
    make_optimizer,
    solve_fold_in,
)
from seqrec.testing import cycle_world

torch.set_num_threads(1)

TINY = {"dim": 8, "epochs": 30, "lr": 0.05, "batch_size": 64}


@pytest.fixture(scope="module")
def model() -> BPRMF:
    return BPRMF(TINY).fit(cycle_world())


def test_one_learnbpr_sgd_step_matches_the_hand_computed_update() -> None:
    # 2 users, 3 items, d = 2; plain SGD with batch size 1 is LearnBPR (Rendle et al. 2009, fig. 4):
    # θ ← θ + α (σ(−x_uij) ∂x_uij/∂θ − λ θ) with α = 0.5 and λ = 0.1.
    config = BPRConfig(dim=2, reg=0.1, lr=0.5, optimizer="sgd", batch_size=1)
    factors = BPRFactors(n_users=2, n_items=3, config=config)
    with torch.no_grad():
        factors.user_factors.copy_(torch.tensor([[0.1, 0.2], [0.3, -0.1]]))
        factors.item_factors.copy_(torch.tensor([[0.0, 0.0], [0.5, 0.1], [-0.2, 0.4], [0.3, 0.3]]))
    # Triple (u = 0, i = 1, j = 2): x_uij = w_0 · (h_1 − h_2) = 0.1·0.7 + 0.2·(−0.3) = 0.01.
    batch = TripleBatch(*(torch.tensor([v]) for v in (0, 0, 0, 1, 2)))
    bpr_step(factors, make_optimizer(factors, config), batch)

    s = 1 / (1 + math.exp(0.01))  # σ(−x_uij) = 0.4975000208
    # w_0 += 0.5 (s (h_1 − h_2) − 0.1 w_0)
    w0 = [0.1 + 0.5 * (s * 0.7 - 0.01), 0.2 + 0.5 * (s * -0.3 - 0.02)]
    # h_1 += 0.5 (s w_0 − 0.1 h_1);  h_2 += 0.5 (−s w_0 − 0.1 h_2)
    h1 = [0.5 + 0.5 * (s * 0.1 - 0.05), 0.1 + 0.5 * (s * 0.2 - 0.01)]
    h2 = [-0.2 + 0.5 * (-s * 0.1 + 0.02), 0.4 + 0.5 * (-s * 0.2 - 0.04)]
    np.testing.assert_allclose(w0, [0.269125, 0.115375], atol=1e-6)  # the arithmetic, done by hand
    np.testing.assert_allclose(factors.user_factors.detach().numpy(), [w0, [0.3, -0.1]], atol=1e-6)
    expected_items = [[0.0, 0.0], h1, h2, [0.3, 0.3]]  # user 1, item 3 and padding untouched
    np.testing.assert_allclose(factors.item_factors.detach().numpy(), expected_items, atol=1e-6)


def test_sampled_negatives_are_never_items_the_user_bought() -> None:
    world = cycle_world()
    sampler = TripleSampler(world, min_position=0, seed=3, exclude_bought=True)
    batches = list(sampler.batches(batch_size=50))
    assert sum(len(b.rows) for b in batches) == world.n_interactions  # every interaction once
    for batch in batches:
        for row, negative in zip(batch.rows.tolist(), batch.negatives.tolist()):
            assert negative not in set(world.sequence(row).tolist())


def test_fold_in_reaches_the_optimum_of_the_per_user_objective(model: BPRMF) -> None:
    histories = SequenceData.from_lists([[1, 2, 3], [6, 7, 8, 9]], n_items=11)
    cfg = model.config
    pairs = fold_in_pairs(histories, cfg.fold_in_pairs, 0, cfg.seed)
    items = model.item_factors()
    features = items[pairs.positives] - items[pairs.negatives]
    offsets = torch.zeros(pairs.mask.shape)
    users, coefficients = solve_fold_in(features, offsets, pairs.mask, cfg.fold_in_reg, cfg.fold_in_iterations)
    weights = pairs.mask.float() / pairs.mask.sum(1, keepdim=True)
    point = users.clone().double().requires_grad_(True)
    value = fold_in_objective(point, features.double(), offsets.double(), weights.double(), cfg.fold_in_reg).sum()
    (gradient,) = torch.autograd.grad(value, point)
    assert float(gradient.abs().max()) < 1e-5  # a stationary point of a convex objective: the minimum
    # The representer identity w = Σ_s c_s f_s that the explanation relies on.
    np.testing.assert_allclose((coefficients[..., None] * features).sum(1), users, atol=1e-4)


def test_history_order_is_ignored_and_users_are_not_looked_up(model: BPRMF) -> None:
    histories = SequenceData.from_lists([[1, 2, 3], [3, 1, 2], [2, 3, 1, 1]], n_items=11, users=[0, -1, 7])
    scores = model.checked_scores(histories)
    np.testing.assert_array_equal(scores[0], scores[1])  # BPR sees a set of items
    np.testing.assert_array_equal(scores[0], scores[2])


def test_learns_the_two_groups_of_the_cycle_world(model: BPRMF) -> None:
    histories = SequenceData.from_lists([[1, 2], [4], [6, 7], [10]], n_items=11)
    top = model.recommend(histories, k=5)
    assert [set(row.tolist()) for row in top] == [{1, 2, 3, 4, 5}] * 2 + [{6, 7, 8, 9, 10}] * 2


def test_same_seed_same_scores_other_seed_other_scores() -> None:
    world = cycle_world()
    histories = SequenceData.from_lists([[1, 2, 3], [6]], n_items=11)
    epochs_seen: list[int] = []
    first_model = BPRMF(TINY, epochs=3).fit(world, progress=lambda epoch, loss: epochs_seen.append(epoch))
    assert epochs_seen == [1, 2, 3] and len(first_model.loss_history) == 3
    first = first_model.checked_scores(histories)
    again = BPRMF(TINY, epochs=3).fit(world).checked_scores(histories)
    other = BPRMF(TINY, epochs=3, seed=1).fit(world).checked_scores(histories)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first[:, 1:], other[:, 1:])


def test_explanation_lists_history_items_whose_shares_sum_to_the_score(model: BPRMF) -> None:
    history = [1, 2, 3, 2]
    explanation = model.explain(history, 4, limit=10)
    score = model.checked_scores(SequenceData.from_lists([history], n_items=11))[0, 4]
    assert {row["item"] for row in explanation.evidence} == {1, 2, 3}
    closeness = [row["closeness"] for row in explanation.evidence]
    assert closeness == sorted(closeness, reverse=True)
    assert sum(row["contribution"] for row in explanation.evidence) == pytest.approx(score, abs=1e-3)


def test_bad_config_values_are_errors_naming_the_field() -> None:
    with pytest.raises(ConfigError, match="BPRConfig.optimizer"):
        BPRMF(optimizer="adagrad")
    with pytest.raises(ConfigError, match="BPRConfig.reg"):
        BPRMF(reg=0.0)
