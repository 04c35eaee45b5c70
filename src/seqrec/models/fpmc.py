"""FPMC: Factorizing Personalized Markov Chains.

Rendle, Freudenthaler & Schmidt-Thieme (2010), "Factorizing Personalized Markov Chains for
Next-Basket Recommendation", WWW.

FPMC factorizes the user × last-item × next-item transition cube pairwise (section 4, eq. 7)::

    x_u,t,i = <v_u^{U,I}, v_i^{I,U}>  +  1/|B_{t-1}| Σ_{l ∈ B_{t-1}} <v_i^{I,L}, v_l^{L,I}>

(the MF part: who the user is; the factorized Markov chain part: what came just before). The
user–last-item term ``<v_u^{U,L}, v_l^{L,U}>`` is the same for every candidate ``i`` and drops out
of the BPR ranking (section 5.1), so it is not modelled. Training is S-BPR (section 5.2): triples
(u, t, i ∈ B_t, j ∉ B_t) with LearnBPR-style updates (mini-batch Adam by default; see
:mod:`seqrec.models.pairwise`).

Sequences, not baskets: step ``t`` is one item and the "previous basket" ``B_{t-1}`` is the last
``basket`` items before it (``basket = 1``, the default, is the classic first-order chain); the
first item of a sequence has no previous basket and is not a training positive. The negative
``j ∉ B_t`` is thus any item but the one bought at ``t`` — also items the user bought at other
steps, which is what teaches the chain their order.

Deviations, and why:

* **User factors are folded in at scoring time** (the paper has one ``v_u^{U,I}`` per training
  user): for every history, ``v_u^{U,I}`` is re-estimated from that history alone by the
  per-user S-BPR objective with every item factor frozen — convex, solved exactly
  (:func:`seqrec.models.pairwise.solve_fold_in`). Held-out users and the walkthrough persona
  are scored like training users, and a training user's latest items count.
* One dimension ``dim`` for both factorizations (the paper has ``k_{U,I}`` and ``k_{I,L}``).

Explanation: the winning score split into its MF part (itself split over the history items by
the fold-in's representer identity) and its transition part (one row per basket item).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import (
    ConfigError,
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
    history_context,
    normal_parameter,
    previous_items,
    require_positive,
    seeded_generator,
    split_over_history,
    top_rows,
)


@dataclass
class FPMCConfig(PairwiseConfig):
    reg: float = help_field(1e-2, "L2 weight λ on the factors a triple touches.")
    basket: int = help_field(2, "How many previous items form the 'basket' B_{t-1} (1 = first-order chain).")
    epochs: int = help_field(15, "Passes over the training interactions.")
    fold_in_reg: float = help_field(0.01, "L2 weight λ of the fold-in's per-user objective (mean over pairs + λ/2‖w‖²).")

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(self, "reg")
        if self.basket < 1:
            raise ConfigError(f"FPMCConfig.basket must be at least 1, got {self.basket!r}")


class FPMCFactors(PairwiseModule):
    """The four factor matrices of FPMC (item row 0 is padding and never contributes)."""

    def __init__(self, n_users: int, n_items: int, train_items: torch.Tensor, config: FPMCConfig) -> None:
        super().__init__()
        generator = seeded_generator(config.seed)
        shape = (n_items + 1, config.dim)
        self.user_item = normal_parameter((n_users, config.dim), config.init_std, generator)  # v^{U,I}
        self.item_user = normal_parameter(shape, config.init_std, generator)  # v^{I,U}
        self.item_last = normal_parameter(shape, config.init_std, generator)  # v^{I,L}: next-item side
        self.last_item = normal_parameter(shape, config.init_std, generator)  # v^{L,I}: previous-item side
        self.train_items = train_items  # [N] flat training sequences
        self.reg = config.reg
        self.basket = config.basket

    def basket_vector(self, basket: torch.Tensor) -> torch.Tensor:
        """Mean of ``v_l^{L,I}`` over each basket [..., L] -> [..., d] (padding 0 ignored)."""
        present = (basket > 0).float()  # [..., L]
        total = (self.last_item[basket] * present[..., None]).sum(-2)  # [..., d]
        return total / present.sum(-1, keepdim=True).clamp(min=1.0)

    def terms(self, batch: TripleBatch) -> tuple[torch.Tensor, torch.Tensor]:
        basket = previous_items(self.train_items, batch.starts, batch.positions, self.basket)  # [B, L]
        context = self.basket_vector(basket)  # [B, d]
        users = self.user_item[batch.rows]  # [B, d]
        positive = (users * self.item_user[batch.positives]).sum(1) + (context * self.item_last[batch.positives]).sum(1)
        negative = (users * self.item_user[batch.negatives]).sum(1) + (context * self.item_last[batch.negatives]).sum(1)
        present = (basket > 0).float()
        basket_squares = (self.last_item[basket].pow(2).sum(-1) * present).sum(1) / present.sum(1).clamp(min=1.0)
        touched = (
            users.pow(2).sum(1)
            + self.item_user[batch.positives].pow(2).sum(1)
            + self.item_user[batch.negatives].pow(2).sum(1)
            + self.item_last[batch.positives].pow(2).sum(1)
            + self.item_last[batch.negatives].pow(2).sum(1)
            + basket_squares
        )  # [B]
        return positive - negative, 0.5 * self.reg * touched.mean()  # x_u,t,i − x_u,t,j  [B]


class FPMC(PairwiseRecommender[FPMCConfig, FPMCFactors]):
    name = "fpmc"
    contract = ContractSettings(
        {"dim": 8, "epochs": 30, "lr": 0.05, "batch_size": 64, "basket": 1},
    )
    Config = FPMCConfig
    era = 1
    sequential = True

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {**super().search_space(trial), "basket": trial.suggest_int("basket", 1, 3)}

    def build_parameters(self, n_users: int, n_items: int, train_items: torch.Tensor) -> FPMCFactors:
        return FPMCFactors(n_users, n_items, train_items, self.config)

    # -- fold-in and scoring ------------------------------------------------------------------------
    def fold_in(self, histories: SequenceData) -> tuple[torch.Tensor, FoldInPairs, torch.Tensor]:
        """``v_u^{U,I}`` [B, d] for each history, with its fold-in pairs and coefficients."""
        factors = self.factors
        pairs = self.pairs_for(histories)
        basket = pairs.previous(self.config.basket)  # [B*S, L]
        context = factors.basket_vector(basket).reshape(*pairs.positions.shape, -1)  # [B, S, d]
        transition_gap = (context * (factors.item_last[pairs.positives] - factors.item_last[pairs.negatives])).sum(-1)
        features = factors.item_user[pairs.positives] - factors.item_user[pairs.negatives]  # [B, S, d]
        users, coefficients = self.solve_user(features, transition_gap, pairs)
        return users, pairs, coefficients

    def score_parts(self, histories: SequenceData) -> tuple[torch.Tensor, torch.Tensor]:
        """The MF part and the transition part of every item's score, each [B, n_items + 1]."""
        factors = self.factors
        users, _, _ = self.fold_in(histories)
        context = factors.basket_vector(history_context(histories, self.config.basket))  # [B, d]
        return users @ factors.item_user.T, context @ factors.item_last.T

    def chunk_scores(self, histories: SequenceData) -> torch.Tensor:
        preference, transition = self.score_parts(histories)
        return preference + transition

    def explain(self, history: Sequence[int], item: int, limit: int = 5) -> Explanation:
        histories = self.one_history(history)
        factors, basket_size = self.factors, self.config.basket
        with torch.no_grad():
            preference, transition = self.score_parts(histories)
            _, pairs, coefficients = self.fold_in(histories)
            target = factors.item_user[item]
            pair_values = (factors.item_user[pairs.positives[0]] - factors.item_user[pairs.negatives[0]]) @ target
            shares = split_over_history(pairs, coefficients, pair_values)
            basket = [int(i) for i in history_context(histories, basket_size)[0] if i > 0]
            links = [float(factors.item_last[item] @ factors.last_item[last]) / len(basket) for last in basket]
        mf, chain = float(preference[0, item]), float(transition[0, item])
        rows: list[dict[str, Any]] = [
            {"part": "transition", "item": last, "steps_back": back + 1, "contribution": round(value, 6)}
            for back, (last, value) in enumerate(zip(basket, links))
        ]
        user_rows = [
            {"part": "user preference", "item": h, "contribution": round(share, 6)} for h, share in shares.items()
        ]
        rows += top_rows(user_rows, "contribution", limit)
        last_text = f"after item {basket[0]}" if basket else "with no previous item"
        summary = (
            f"FPMC scores item {item} at {mf + chain:.3f} {last_text}: user preference (MF part) "
            f"{mf:.3f} + transition from the last {len(basket)} item(s) {chain:.3f}."
        )
        return Explanation(model=self.name, item=int(item), summary=summary, kind=ExplanationKind.SCORE_PARTS, evidence=rows)
