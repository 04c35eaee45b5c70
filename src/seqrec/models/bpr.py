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

import numpy as np
import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import (
    Capabilities,
    ContractSettings,
    Explanation,
    ExplanationKind,
    help_field,
)
from seqrec.models.pairwise import (
    FoldInPairs,
    PairwiseConfig,
    PairwiseModule,
    PairwiseRecommender,
    TripleBatch,
    normal_parameter,
    require_positive,
    seeded_generator,
    set_threads,
    split_over_history,
    top_rows,
    unique_sorted_rows,
)


@dataclass
class BPRConfig(PairwiseConfig):
    reg: float = help_field(1e-3, "L2 weight λ on the factors a triple touches.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(self, "reg")


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


class BPRMF(PairwiseRecommender[BPRConfig, BPRFactors]):
    name = "bpr"
    contract = ContractSettings(
        {"dim": 8, "epochs": 30, "lr": 0.05, "batch_size": 64},
        known_answer="own-cycle",
    )
    Config = BPRConfig
    capabilities = Capabilities(embedding_scores=True)
    era = 0
    sequential = False
    min_position = 0
    exclude_bought = True

    def build_parameters(self, n_users: int, n_items: int, train_items: torch.Tensor) -> BPRFactors:
        return BPRFactors(n_users, n_items, self.config)

    # -- fold-in and scoring ------------------------------------------------------------------------
    def item_factors(self) -> torch.Tensor:
        return self.factors.item_factors.detach()  # [n_items + 1, d]

    def fold_in(self, histories: SequenceData) -> tuple[torch.Tensor, FoldInPairs, torch.Tensor]:
        """User vectors [B, d] for the histories (as item sets), their pairs and coefficients."""
        pairs = self.pairs_for(unique_sorted_rows(histories))
        items = self.item_factors()
        features = items[pairs.positives] - items[pairs.negatives]  # [B, S, d]
        offsets = torch.zeros(pairs.mask.shape)  # the margin is <w, h_i − h_j> alone
        users, coefficients = self.solve_user(features, offsets, pairs)
        return users, pairs, coefficients

    def chunk_scores(self, histories: SequenceData) -> torch.Tensor:
        users, _, _ = self.fold_in(histories)
        return users @ self.item_factors().T  # [B, n_items + 1]

    def query_vectors(self, histories: SequenceData) -> np.ndarray:
        """The folded-in user vectors [B, d]: ``score == query_vectors @ item_vectors.T``."""
        self.require_fitted()
        set_threads(self.config)
        out = np.empty((len(histories), self.config.dim), dtype=np.float32)
        with torch.no_grad():  # the chunks of score(), so that both fold in the same batches
            for begin in range(0, len(histories), self.score_chunk):
                chunk = histories.rows(slice(begin, begin + self.score_chunk))
                out[begin : begin + len(chunk)] = self.fold_in(chunk)[0].numpy()
        return out

    def item_vectors(self) -> np.ndarray:
        self.require_fitted()
        return self.item_factors().numpy().astype(np.float32)  # [n_items + 1, d]

    def explain(self, history: Sequence[int], item: int, limit: int = 10) -> Explanation:
        histories = self.one_history(history)
        with torch.no_grad():
            users, pairs, coefficients = self.fold_in(histories)
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
