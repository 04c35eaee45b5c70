"""Fossil: FISM-style item similarity fused with a personalized high-order Markov chain.

He & McAuley (2016), "Fusing Similarity Models with Markov Chains for Sparse Sequential
Recommendation", ICDM.

The score of item ``i`` for user ``u`` at step ``t`` (paper eq. 6, with ``P`` the history-side
and ``Q`` the target-side item factors)::

    x_u,t,i = β_i + < |H_t|^(−α) Σ_{h ∈ H_t} P_h  +  Σ_{k=1..L} (η_k + η_k^u) P_{S_{t−k}} ,  Q_i >

The first sum is FISM's long-term preference (Kabbur et al. 2013): the user is the normalised
sum of the items she bought, ``α`` in [0, 1] sets how much a long history counts. The second is
an order-``L`` Markov chain over the last ``L`` items with global weights ``η`` and personal
offsets ``η^u`` (eq. 5): one weight per step back, shared by the items. Training maximises
S-BPR (eq. 8) over triples (u, t, i = S_t, j ≠ i) — mini-batch Adam by default (see
:mod:`seqrec.models.pairwise`).

Deviations, and why:

* ``H_t`` is the user's history *before* step ``t`` (the official code and the paper sum over
  all of ``I_u^+`` except the target, which lets training use the future of the sequence);
  training then matches scoring, which only ever sees the past. As in FISM, a candidate's own
  occurrences are left out of the sum that scores it (``H_t ∖ {i}``).
* **Personal weights are folded in at scoring time.** ``η^u`` is learned per training user as in
  the paper; every history is scored with ``η^u`` re-estimated from that history alone (the
  per-user S-BPR objective with everything else frozen: an ``L``-dimensional convex problem,
  :func:`seqrec.models.pairwise.solve_fold_in`). ``fold_in=False`` uses ``η^u = 0`` (the
  population's chain, the paper's prior) instead.
* Regularization touches, per triple: ``Q_i``, ``Q_j``, ``β_i``, ``β_j``, ``η^u`` and the mean
  squared norm of the ``P`` rows in the history; the global ``η`` is left free.

Explanation: the score is a sum of exact parts — the item bias, one long-term share per history
item ``|H|^(−α) <P_h, Q_i>``, and one Markov share per recent item ``(η_k + η_k^u) <P_l, Q_i>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from seqrec.data.types import SequenceData
from seqrec.models.base import (
    ConfigError,
    ContractSettings,
    Explanation,
    ExplanationKind,
    help_field,
)
from seqrec.models.pairwise import (
    PairwiseConfig,
    PairwiseModule,
    PairwiseRecommender,
    TripleBatch,
    flat_ranges,
    history_context,
    normal_parameter,
    previous_items,
    require_positive,
    seeded_generator,
    top_rows,
)


@dataclass
class FossilConfig(PairwiseConfig):
    reg: float = help_field(1e-3, "L2 weight λ on the parameters a triple touches.")
    order: int = help_field(2, "Markov chain order L: how many recent items get their own weight.")
    alpha: float = help_field(0.5, "FISM normalisation |H|^-alpha of the long-term sum (0 = sum, 1 = mean).")
    fold_in: bool = help_field(True, "Re-estimate the personal chain weights η^u from each history (False: η^u = 0).")
    epochs: int = help_field(15, "Passes over the training interactions.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(self, "reg")
        if self.order < 1:
            raise ConfigError(f"FossilConfig.order must be at least 1, got {self.order!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"FossilConfig.alpha must lie in [0, 1], got {self.alpha!r}")


class FossilParameters(PairwiseModule):
    """``P``, ``Q`` [n_items + 1, d], ``β`` [n_items + 1], ``η`` [L] and ``η^u`` [U, L]."""

    def __init__(self, n_users: int, n_items: int, train_items: torch.Tensor, config: FossilConfig) -> None:
        super().__init__()
        generator = seeded_generator(config.seed)
        self.history_factors = normal_parameter((n_items + 1, config.dim), config.init_std, generator)  # P
        self.target_factors = normal_parameter((n_items + 1, config.dim), config.init_std, generator)  # Q
        self.item_bias = torch.nn.Parameter(torch.zeros(n_items + 1))  # β
        self.chain_weights = torch.nn.Parameter(torch.zeros(config.order))  # η
        self.user_chain_weights = torch.nn.Parameter(torch.zeros(n_users, config.order))  # η^u
        self.train_items = train_items  # [N] flat training sequences
        self.reg, self.alpha, self.order = config.reg, config.alpha, config.order

    def history_factor_rows(self, items: torch.Tensor) -> torch.Tensor:
        """``P`` rows of ``items`` with padding (0) mapped to the zero vector: [..., d]."""
        return self.history_factors[items] * (items > 0).float()[..., None]

    def long_term(self, starts: torch.Tensor, lengths: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``|H|^(−α) Σ_{h∈H} P_h`` for the histories ``items[start : start + length]`` [B, d]."""
        index, bag_starts = flat_ranges(starts, lengths)
        total = F.embedding_bag(items[index], self.history_factors, bag_starts, mode="sum")  # [B, d]
        return normalised(total, lengths, self.alpha)

    def chain(self, recent: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``Σ_k w_k P_{S_{t−k}}`` for recent items [B, L] and weights [B, L] -> [B, d]."""
        return (weights[..., None] * self.history_factor_rows(recent)).sum(1)

    def terms(self, batch: TripleBatch) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = batch.positions - batch.starts  # |H_t| = t
        index, bag_starts = flat_ranges(batch.starts, lengths)
        prefix_items = self.train_items[index]  # [sum t] the histories, one after the other
        total = F.embedding_bag(prefix_items, self.history_factors, bag_starts, mode="sum")  # Σ_{h∈H_t} P_h [B, d]
        long_term = normalised(total, lengths, self.alpha)
        recent = previous_items(self.train_items, batch.starts, batch.positions, self.order)  # [B, L]
        user_weights = self.user_chain_weights[batch.rows]  # [B, L]
        chain = self.chain(recent, self.chain_weights[None, :] + user_weights)  # [B, d]
        owner = torch.repeat_interleave(torch.arange(len(lengths)), lengths)  # [sum t]
        positive = self.candidate_scores(batch.positives, total, lengths, chain, prefix_items, owner)
        negative = self.candidate_scores(batch.negatives, total, lengths, chain, prefix_items, owner)
        # The P rows of a long history are many: their penalty is that of the sum they form.
        touched = (
            self.target_factors[batch.positives].pow(2).sum(1)
            + self.target_factors[batch.negatives].pow(2).sum(1)
            + self.item_bias[batch.positives].pow(2)
            + self.item_bias[batch.negatives].pow(2)
            + user_weights.pow(2).sum(1)
            + self.history_factor_rows(recent).pow(2).sum((1, 2))
            + long_term.pow(2).sum(1)
        )  # [B]
        return positive - negative, 0.5 * self.reg * touched.mean()

    def candidate_scores(
        self,
        candidates: torch.Tensor,
        total: torch.Tensor,
        lengths: torch.Tensor,
        chain: torch.Tensor,
        prefix_items: torch.Tensor,
        owner: torch.Tensor,
    ) -> torch.Tensor:
        """Eq. 6 for one candidate per row [B], its own occurrences left out of the FISM sum."""
        own = torch.zeros(len(candidates)).index_add_(0, owner, (prefix_items == candidates[owner]).float())  # [B]
        own_total = total - own[:, None] * self.history_factors[candidates]  # Σ_{h∈H_t ∖ {i}} P_h
        context = normalised(own_total, lengths - own.long(), self.alpha) + chain  # [B, d]
        return self.item_bias[candidates] + (context * self.target_factors[candidates]).sum(1)


def normalised(total: torch.Tensor, lengths: torch.Tensor, alpha: float) -> torch.Tensor:
    """``|H|^(−α) · total`` [B, d]; an empty history gives the zero vector."""
    return total * lengths.clamp(min=1).to(total.dtype).pow(-alpha)[:, None]


def gather_or_zero(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[index]``, or zeros when ``values`` is empty (every pair is masked then)."""
    return values[index] if len(values) else torch.zeros_like(index)


def earlier_occurrences(sequences: SequenceData) -> torch.Tensor:
    """For each interaction [N], how often its item occurred earlier in the same sequence."""
    row_of = np.repeat(np.arange(len(sequences)), sequences.lengths)
    order = np.lexsort((np.arange(len(row_of)), sequences.items, row_of))  # by row, item, position
    key = row_of[order] * (sequences.n_items + 1) + sequences.items[order]
    group_start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    rank = np.arange(len(order)) - np.repeat(group_start, np.diff(np.r_[group_start, len(order)]))
    out = np.empty(len(order), dtype=np.int64)
    out[order] = rank
    return torch.from_numpy(out)


class Fossil(PairwiseRecommender[FossilConfig, FossilParameters]):
    name = "fossil"
    contract = ContractSettings({"dim": 8, "order": 1, "epochs": 40, "lr": 0.05, "batch_size": 64})
    Config = FossilConfig
    era = 1
    sequential = True
    score_chunk = 256

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            **super().search_space(trial),
            "order": trial.suggest_int("order", 1, 3),
            "alpha": trial.suggest_float("alpha", 0.0, 1.0),
        }

    def build_parameters(self, n_users: int, n_items: int, train_items: torch.Tensor) -> FossilParameters:
        return FossilParameters(n_users, n_items, train_items, self.config)

    # -- fold-in and scoring ------------------------------------------------------------------------
    def personal_weights(self, histories: SequenceData) -> torch.Tensor:
        """``η^u`` [B, L] for each history: folded in, or zero with ``fold_in=False``."""
        cfg, params = self.config, self.factors
        if not cfg.fold_in:
            return torch.zeros(len(histories), cfg.order)
        pairs = self.pairs_for(histories)
        n_rows, n_pairs = pairs.positions.shape
        items, starts = pairs.history_items, pairs.starts.reshape(-1)  # [N], [B*S]
        positions = pairs.positions.reshape(-1)  # [B*S]
        positives, negatives = pairs.positives.reshape(-1), pairs.negatives.reshape(-1)
        # The long-term sums at each pair's step, from prefix sums of P over the flat histories
        # (float64, so that a row's sums do not depend on the rows before it in the chunk).
        prefix = torch.cat([torch.zeros(1, cfg.dim), params.history_factor_rows(items)]).double().cumsum(0)
        lengths = positions - starts
        total = (prefix[positions] - prefix[starts]).float()  # [B*S, d]
        repeats = gather_or_zero(earlier_occurrences(histories), positions)  # earlier copies of the positive
        own_total = total - repeats.float()[:, None] * params.history_factors[positives]  # FISM's H ∖ {i}
        positive_long = normalised(own_total, lengths - repeats, cfg.alpha)
        negative_long = normalised(total, lengths, cfg.alpha)  # negatives are never in the history
        recent = pairs.previous(cfg.order)  # [B*S, L]
        global_chain = params.chain(recent, params.chain_weights.expand(len(recent), -1))  # [B*S, d]
        q_positive, q_negative = params.target_factors[positives], params.target_factors[negatives]
        offsets = (
            params.item_bias[positives] + ((positive_long + global_chain) * q_positive).sum(1)
            - params.item_bias[negatives] - ((negative_long + global_chain) * q_negative).sum(1)
        )  # the margin without η^u  [B*S]
        recent_gap = (params.history_factor_rows(recent) * (q_positive - q_negative)[:, None, :]).sum(-1)  # [B*S, L]
        features = recent_gap.reshape(n_rows, n_pairs, cfg.order)
        weights, _ = self.solve_user(features, offsets.reshape(n_rows, n_pairs), pairs)
        return weights  # [B, L]

    def chunk_scores(self, histories: SequenceData) -> torch.Tensor:
        """Eq. 6 for every item [B, n_items + 1], a history item's own factor left out of its sum."""
        params, alpha = self.factors, self.config.alpha
        items = torch.from_numpy(histories.items.astype(np.int64))
        offsets = torch.from_numpy(histories.offsets.astype(np.int64))
        lengths = offsets[1:] - offsets[:-1]
        index, bag_starts = flat_ranges(offsets[:-1], lengths)
        total = F.embedding_bag(items[index], params.history_factors, bag_starts, mode="sum")  # [B, d]
        weights = params.chain_weights[None, :] + self.personal_weights(histories)  # [B, L]
        chain = params.chain(history_context(histories, self.config.order), weights)  # [B, d]
        scores = params.item_bias[None, :] + (normalised(total, lengths, alpha) + chain) @ params.target_factors.T
        # FISM's H ∖ {i}: rescore each distinct history item without its own occurrences.
        rows, seen, counts = distinct_history_items(histories)
        own_total = total[rows] - counts.float()[:, None] * params.history_factors[seen]  # [K, d]
        own_long = normalised(own_total, lengths[rows] - counts, alpha)
        scores[rows, seen] = params.item_bias[seen] + ((own_long + chain[rows]) * params.target_factors[seen]).sum(1)
        return scores

    def explain(self, history: Sequence[int], item: int, limit: int = 5) -> Explanation:
        histories = self.one_history(history)
        params, order = self.factors, self.config.order
        with torch.no_grad():
            target = params.target_factors[item]  # Q_i
            others = [int(h) for h in history if h != item]  # FISM's H ∖ {i}
            scale = max(len(others), 1) ** -self.config.alpha
            similarity: dict[int, float] = {}
            for h in others:
                similarity[h] = similarity.get(h, 0.0) + scale * float(params.history_factors[h] @ target)
            recent = [int(i) for i in history_context(histories, order)[0]]
            weights = (params.chain_weights + self.personal_weights(histories)[0]).tolist()
            links = [float(params.history_factors[last] @ target) if last else 0.0 for last in recent]
            bias = float(params.item_bias[item])
            total = float(self.chunk_scores(histories)[0, item])
        chain_rows = [
            {"part": "markov chain", "item": last, "steps_back": k + 1, "weight": round(weights[k], 6),
             "contribution": round(weights[k] * links[k], 6)}
            for k, last in enumerate(recent) if last > 0
        ]  # fmt: skip
        long_rows = [{"part": "long-term similarity", "item": h, "contribution": round(v, 6)} for h, v in similarity.items()]
        shown = top_rows(long_rows, "contribution", limit)
        rows = [{"part": "item bias", "contribution": round(bias, 6)}, *chain_rows, *shown]
        if len(long_rows) > len(shown):
            rest = sum(similarity.values()) - sum(row["contribution"] for row in shown)
            rows.append({"part": "long-term similarity, other history items", "contribution": round(rest, 6)})
        chain = sum(row["contribution"] for row in chain_rows)
        summary = (
            f"Fossil scores item {item} at {total:.3f}: bias {bias:.3f} + long-term similarity to "
            f"{len(others)} history items {sum(similarity.values()):.3f} + order-{order} Markov chain {chain:.3f}."
        )
        return Explanation(model=self.name, item=int(item), summary=summary, kind=ExplanationKind.SCORE_PARTS, evidence=rows)


def distinct_history_items(histories: SequenceData) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row, item, count) of every distinct item of every history, as three int64 [K] tensors."""
    width = histories.n_items + 1
    row_of = np.repeat(np.arange(len(histories), dtype=np.int64), histories.lengths)
    keys, counts = np.unique(row_of * width + histories.items, return_counts=True)
    return torch.from_numpy(keys // width), torch.from_numpy(keys % width), torch.from_numpy(counts.astype(np.int64))
