"""TransRec: users as translations between consecutive items.

He, Kang & McAuley (2017), "Translation-based Recommendation", RecSys.

Items are points ``γ_i`` of a "transition space"; a user is a translation vector
``T_u = t + t_u`` (a global translation ``t`` plus a personal offset ``t_u``, eq. 1) that carries the
previous item to the next one: ``γ_i + T_u ≈ γ_j``. The score of ``j`` after ``i`` (eq. 2)::

    x_u,i,j = β_j − d(γ_i + t + t_u, γ_j)

with ``d`` the squared L2 distance and ``β_j`` an item bias. Points are kept in the unit ball
(``γ ← γ / max(1, ‖γ‖)`` after each update: the paper's subspace Ψ, which guards against the curse
of dimensionality). Training is S-BPR (eq. 3) over triples (u, previous item i, next item j,
any other item j'), mini-batch Adam by default (see :mod:`seqrec.models.pairwise`).

Deviations, and why:

* The paper's cold-start rule is ``t_u = 0`` for a user it has not seen (section 3.2:
  ``t`` models the population). ``fold_in=True`` instead re-estimates ``t_u`` from each history
  with everything else frozen (``‖t_u‖²`` cancels in ``x_ij − x_ij'``, so the per-user S-BPR
  objective is a convex logistic regression in ``t_u``; see
  :func:`seqrec.models.pairwise.solve_fold_in`). Scores depend on the history only, for training
  users too.
* L2 regularization touches ``t_u``, ``β_j`` and ``β_j'`` per triple; ``t`` is left free and the
  points are bounded by the unit ball instead of a penalty.
* A history with no previous item scores every item by ``β_j`` alone.

Explanation: the previous item, where the translation lands (the item bias, the squared distance
from the landing point to the candidate, and the nearest items to that point).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import ContractSettings, Explanation, ExplanationKind, help_field
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
)


@dataclass
class TransRecConfig(PairwiseConfig):
    reg: float = help_field(1e-2, "L2 weight λ on t_u and the item biases a triple touches.")
    fold_in: bool = help_field(True, "Re-estimate t_u from each history (False: the paper's t_u = 0 for unseen users).")

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(self, "reg")


def project_to_unit_ball(points: torch.Tensor) -> torch.Tensor:
    """``γ / max(1, ‖γ‖)`` row by row: points outside the unit ball move onto its surface."""
    return points / points.norm(dim=-1, keepdim=True).clamp(min=1.0)


def squared_distances(centers: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``‖c_b − γ_j‖²`` for centers [B, d] and points [n, d] -> [B, n], via the expanded square."""
    return (centers * centers).sum(1, keepdim=True) - 2 * centers @ points.T + (points * points).sum(1)[None, :]


class TransRecParameters(PairwiseModule):
    """``γ`` [n_items + 1, d] in the unit ball, ``β`` [n_items + 1], ``t`` [d], ``t_u`` [U, d]."""

    def __init__(self, n_users: int, n_items: int, train_items: torch.Tensor, config: TransRecConfig) -> None:
        super().__init__()
        generator = seeded_generator(config.seed)
        self.points = normal_parameter((n_items + 1, config.dim), config.init_std, generator)  # γ
        with torch.no_grad():
            self.points.copy_(project_to_unit_ball(self.points))
        self.item_bias = torch.nn.Parameter(torch.zeros(n_items + 1))  # β
        self.translation = torch.nn.Parameter(torch.zeros(config.dim))  # t
        self.user_translation = torch.nn.Parameter(torch.zeros(n_users, config.dim))  # t_u
        self.train_items = train_items  # [N] flat training sequences
        self.reg = config.reg

    def terms(self, batch: TripleBatch) -> tuple[torch.Tensor, torch.Tensor]:
        previous = previous_items(self.train_items, batch.starts, batch.positions, 1)[:, 0]  # [B]
        user_translation = self.user_translation[batch.rows]  # [B, d]
        landing = self.points[previous] + self.translation + user_translation  # γ_i + t + t_u  [B, d]
        positive = self.item_bias[batch.positives] - (landing - self.points[batch.positives]).pow(2).sum(1)
        negative = self.item_bias[batch.negatives] - (landing - self.points[batch.negatives]).pow(2).sum(1)
        touched = (
            user_translation.pow(2).sum(1) + self.item_bias[batch.positives].pow(2) + self.item_bias[batch.negatives].pow(2)
        )  # [B]
        return positive - negative, 0.5 * self.reg * touched.mean()

    def after_step(self, batch: TripleBatch) -> None:
        with torch.no_grad():
            self.points.copy_(project_to_unit_ball(self.points))


class TransRec(PairwiseRecommender[TransRecConfig, TransRecParameters]):
    name = "transrec"
    contract = ContractSettings(
        {"dim": 8, "epochs": 40, "lr": 0.05, "batch_size": 64, "reg": 0.1},
        known_answer="successor-after-exclusion",
        why="one translation per user cannot carry a strict cycle (summing 'successor beats predecessor' around it is a contradiction), so it ranks the last item itself first",
    )
    Config = TransRecConfig
    era = 1
    sequential = True
    score_chunk = 256

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {**super().search_space(trial), "fold_in": trial.suggest_categorical("fold_in", [False, True])}

    def build_parameters(self, n_users: int, n_items: int, train_items: torch.Tensor) -> TransRecParameters:
        return TransRecParameters(n_users, n_items, train_items, self.config)

    # -- fold-in and scoring ------------------------------------------------------------------------
    def user_translations(self, histories: SequenceData) -> torch.Tensor:
        """``t_u`` [B, d] for each history: folded in, or zero (the paper's cold start)."""
        cfg = self.config
        if not cfg.fold_in:
            return torch.zeros(len(histories), cfg.dim)
        pairs, features, offsets = self.fold_in_terms(histories)
        translations, _ = self.solve_user(features, offsets, pairs)
        return translations

    def fold_in_terms(self, histories: SequenceData) -> tuple[FoldInPairs, torch.Tensor, torch.Tensor]:
        """The fold-in pairs of each history and their margins as ``features · t_u + offsets``."""
        params = self.factors
        pairs = self.pairs_for(histories)
        previous = pairs.previous(1)  # [B*S, 1]
        base = params.points[previous[:, 0]].reshape(*pairs.positions.shape, -1) + params.translation  # γ_i + t
        to_positive = base - params.points[pairs.positives]  # a  [B, S, d]
        to_negative = base - params.points[pairs.negatives]  # b  [B, S, d]
        # x_ij − x_ij' = β_j − β_j' − ‖a + t_u‖² + ‖b + t_u‖² = [β_j − β_j' + ‖b‖² − ‖a‖²] + 2(b − a)·t_u
        offsets = (
            params.item_bias[pairs.positives] - params.item_bias[pairs.negatives]
            + to_negative.pow(2).sum(-1) - to_positive.pow(2).sum(-1)
        )  # fmt: skip
        return pairs, 2 * (to_negative - to_positive), offsets

    def landing_points(self, histories: SequenceData) -> tuple[torch.Tensor, torch.Tensor]:
        """``γ_last + t + t_u`` [B, d] and whether the history has a last item [B]."""
        params = self.factors
        last = history_context(histories, 1)[:, 0]  # [B]
        landing = params.points[last] + params.translation + self.user_translations(histories)
        return landing, last > 0

    def chunk_scores(self, histories: SequenceData) -> torch.Tensor:
        params = self.factors
        landing, has_last = self.landing_points(histories)
        distances = squared_distances(landing, params.points) * has_last.float()[:, None]  # [B, n + 1]
        return params.item_bias[None, :] - distances

    def explain(self, history: Sequence[int], item: int, limit: int = 5) -> Explanation:
        histories = self.one_history(history)
        params = self.factors
        with torch.no_grad():
            landing, has_last = self.landing_points(histories)
            bias = float(params.item_bias[item])
            if not bool(has_last[0]):
                summary = f"TransRec has no previous item to translate: item {item} scores its bias {bias:.3f}."
                evidence = [{"part": "item bias", "contribution": round(bias, 6)}]
                return Explanation(model=self.name, item=int(item), summary=summary, kind=ExplanationKind.TRANSLATION, evidence=evidence)
            distances = squared_distances(landing, params.points)[0]  # [n_items + 1]
            distances[0] = float("inf")
            nearest = torch.argsort(distances, stable=True)[:limit].tolist()
            offset_norm = float(self.user_translations(histories)[0].norm())
        last, distance = int(history[-1]), float(distances[item])
        rows: list[dict[str, Any]] = [
            {"part": "previous item", "item": last},
            {"part": "item bias", "contribution": round(bias, 6)},
            {"part": "squared distance from the landing point", "contribution": round(-distance, 6)},
        ]
        rows += [{"part": "near the landing point", "item": i, "squared_distance": round(float(distances[i]), 6)} for i in nearest]
        summary = (
            f"TransRec translates item {last} by t + t_u (‖t_u‖ = {offset_norm:.3f}); item {item} lies at squared "
            f"distance {distance:.3f} from where it lands and has bias {bias:.3f}: score {bias - distance:.3f}."
        )
        return Explanation(model=self.name, item=int(item), summary=summary, kind=ExplanationKind.TRANSLATION, evidence=rows)
