"""BPR-MF: matrix factorization trained with Bayesian Personalized Ranking.

Rendle, Freudenthaler, Gantner & Schmidt-Thieme (2009), "BPR: Bayesian Personalized Ranking
from Implicit Feedback", UAI.

The score of item ``i`` for user ``u`` is the inner product of their factors (section 4.3.1)::

    x_ui = <w_u, h_i>                 x_uij = x_ui − x_uj = <w_u, h_i − h_j>

trained on BPR-Opt = Σ ln σ(x_uij) − λ‖Θ‖² over triples (u, i ∈ I_u^+, j ∉ I_u^+). LearnBPR
(figure 4) draws a triple uniformly and steps ``θ ← θ + α(σ(−x_uij) ∂x_uij/∂θ − λθ)``; here
``optimizer="sgd"`` with ``batch_size=1`` is exactly that update, and the default is mini-batch
Adam over every training interaction once per epoch (see :mod:`seqrec.models.pairwise`).

Deviations, and why:

* **User factors are folded in at scoring time.** The paper learns ``w_u`` per training user; a
  history it never saw (a held-out user, the walkthrough persona, or a training user's latest
  items) has none. ``w_u`` is learned in training as in the paper, but every history — seen user
  or not — is scored with ``w`` re-estimated from that history alone: the per-user BPR
  objective with the item factors frozen, solved exactly (convex; see
  :func:`seqrec.models.pairwise.solve_fold_in`). Scores thus depend on the history only, and
  the history is taken as a set (BPR has no order), so reordering it changes nothing.
* A single λ for user and item factors (the paper allows λ_W, λ_H+, λ_H−).

Explanation: at the fold-in optimum ``w = Σ_s c_s (h_pos_s − h_neg_s)`` over the fold-in pairs,
so ``x_ui`` splits exactly into one share per history item ``h``: the sum of
``c_s <h_h − h_neg_s, h_i>`` over the pairs whose positive is ``h``. The rows are the history items closest to the user vector (largest
``<w, h_h>``: the items the folded-in user "explains" best) with their share of the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import (
    ContractSettings,
    Explanation,
    ExplanationKind,
    Recommender,
    help_field,
)
from seqrec.models.pairwise import (
    FoldInPairs,
    PairwiseConfig,
    PairwiseModule,
    ProgressCallback,
    TripleBatch,
    TripleSampler,
    fold_in_pairs,
    normal_parameter,
    require_positive,
    seeded_generator,
    set_threads,
    shared_search_space,
    solve_fold_in,
    split_over_history,
    top_rows,
    train_pairwise,
    unique_sorted_rows,
)

SCORE_CHUNK = 128
"""Histories folded in at once (bounds the [B, S, d] fold-in features)."""


@dataclass
class BPRConfig(PairwiseConfig):
    dim: int = help_field(64, "Dimension of the user and item factors.")
    reg: float = help_field(1e-3, "L2 weight λ on the factors a triple touches.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(self, "dim", "reg")


class BPRFactors(PairwiseModule):
    """``W`` [U, d] and ``H`` [n_items + 1, d] (row 0 is padding and never sampled)."""

    def __init__(self, n_users: int, n_items: int, config: BPRConfig) -> None:
        super().__init__()
        generator = seeded_generator(config.seed)
        self.user_factors = normal_parameter((n_users, config.dim), config.init_std, generator)
        self.item_factors = normal_parameter((n_items + 1, config.dim), config.init_std, generator)
        self.reg = config.reg

    def margin(self, batch: TripleBatch) -> torch.Tensor:
        users = self.user_factors[batch.rows]  # [B, d]
        difference = self.item_factors[batch.positives] - self.item_factors[batch.negatives]  # [B, d]
        return (users * difference).sum(1)  # x_uij, [B]

    def terms(self, batch: TripleBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.margin(batch), self.penalty(batch)

    def penalty(self, batch: TripleBatch) -> torch.Tensor:
        touched = (
            self.user_factors[batch.rows].pow(2).sum(1)
            + self.item_factors[batch.positives].pow(2).sum(1)
            + self.item_factors[batch.negatives].pow(2).sum(1)
        )  # [B]
        return 0.5 * self.reg * touched.mean()


class BPRMF(Recommender):
    name = "bpr"
    contract = ContractSettings(
        {"dim": 8, "epochs": 30, "lr": 0.05, "batch_size": 64},
        known_answer="own-cycle",
    )
    Config = BPRConfig
    era = 0
    sequential = False

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return shared_search_space(trial)

    def _fit(self, train: SequenceData, valid: Any, progress: ProgressCallback | None = None) -> None:
        """LearnBPR on ``train`` (``valid`` is not used: the epochs are fixed)."""
        set_threads(self.config)
        sampler = TripleSampler(train, min_position=0, seed=self.config.seed, exclude_bought=True)
        self.factors = BPRFactors(len(train), train.n_items, self.config)
        self.loss_history = train_pairwise(self.factors, sampler, self.config, progress)
        self.n_items = train.n_items

    # -- fold-in and scoring ------------------------------------------------------------------------
    def item_factors(self) -> torch.Tensor:
        return self.factors.item_factors.detach()  # [n_items + 1, d]

    def fold_in(self, histories: SequenceData) -> tuple[torch.Tensor, FoldInPairs, torch.Tensor]:
        """User vectors [B, d] for the histories (as item sets), their pairs and coefficients."""
        cfg = self.config
        pairs = fold_in_pairs(unique_sorted_rows(histories), cfg.fold_in_pairs, 0, cfg.seed)
        items = self.item_factors()
        features = items[pairs.positives] - items[pairs.negatives]  # [B, S, d]
        offsets = torch.zeros(pairs.mask.shape)  # the margin is <w, h_i − h_j> alone
        users, coefficients = solve_fold_in(features, offsets, pairs.mask, cfg.fold_in_reg, cfg.fold_in_iterations)
        return users, pairs, coefficients

    def score(self, histories: SequenceData) -> np.ndarray:
        self.require_fitted()
        set_threads(self.config)
        items = self.item_factors()
        out = np.empty((len(histories), items.shape[0]), dtype=np.float32)
        with torch.no_grad():
            for begin in range(0, len(histories), SCORE_CHUNK):
                users, _, _ = self.fold_in(histories.rows(slice(begin, begin + SCORE_CHUNK)))
                out[begin : begin + len(users)] = (users @ items.T).numpy()  # [B, n_items + 1]
        out[:, 0] = -np.inf
        return out

    def explain(self, history: Sequence[int], item: int, limit: int = 10) -> Explanation:
        n_items = self.require_fitted()
        with torch.no_grad():
            users, pairs, coefficients = self.fold_in(SequenceData.from_lists([list(history)], n_items))
            items = self.item_factors()
            target = items[item]  # [d]
            score = float(users[0] @ target)
            pair_values = (items[pairs.positives[0]] - items[pairs.negatives[0]]) @ target  # [S]
            shares = split_over_history(pairs, coefficients, pair_values)
            closeness = {h: float(users[0] @ items[h]) for h in shares}
        rows = [
            {"item": h, "closeness": round(closeness[h], 6), "contribution": round(share, 6)}
            for h, share in shares.items()
        ]
        shown = top_rows(rows, "closeness", limit)
        shown_total = sum(row["contribution"] for row in shown)
        summary = (
            f"BPR-MF scores item {item} at {score:.3f} = <user vector, item factors>, with the user "
            f"vector folded in from {len(shares)} history items; the {len(shown)} closest to it "
            f"contribute {shown_total:.3f} of the score, the others {sum(shares.values()) - shown_total:.3f}."
        )
        return Explanation(model=self.name, item=int(item), summary=summary, kind=ExplanationKind.HISTORY_CONTRIBUTIONS, evidence=shown)
