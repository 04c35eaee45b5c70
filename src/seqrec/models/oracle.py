"""The oracle: the shop world's true next-item distribution, used as a recommender.

Not a method from the literature but the ceiling every method is measured against. The shop
world (:mod:`seqrec.data.shop`) generates purchases from an explicit model of shoppers (interest
phases, journeys, consumables on a re-buy cycle, noise) and keeps the hidden state behind each
purchase. For a history that is the first ``n`` purchases of a generated shopper (every history
of a leave-one-out or temporal split is), the oracle replays that hidden state and scores every
item with its exact probability of being the next purchase. Ranking by these probabilities
maximizes the expected hit rate at every cut-off, so no model should beat the oracle's HR@K
beyond sampling noise.

Which shopper a history belongs to: ``histories.users[row]`` (the dense user id of the shop
Dataset, whose rows are the world's shoppers) when the history is a prefix of that shopper's
purchases; otherwise a persona whose history starts the same way (``users = -1`` for the
held-out ``blog_author``); otherwise any shopper with that prefix. A history from outside the
world gets an inferred state (one phase in the category of its last purchase, consumables on
their mean cycle), and the explanation says so.

Use: ``OracleRecommender().attach(world).fit(train)`` with ``world =
dataset.extras["world"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from seqrec.data.shop import Part, ShopWorld, Subject, dense_distribution
from seqrec.data.types import SequenceData
from seqrec.models.base import NEG_INF, Explanation, NotFittedError, Recommender, help_field


@dataclass
class OracleConfig:
    condition_on_horizon: bool = help_field(
        True,
        "condition on the next purchase falling inside the simulated year when the data has one "
        "(as every evaluation target does)",
    )


class OracleRecommender(Recommender):
    """Scores = the shop generator's true probability of each item being the next purchase."""

    name: ClassVar[str] = "oracle"
    Config: ClassVar[type] = OracleConfig
    era: ClassVar[int] = 0
    """Not a method of any era: a reference ceiling (listed with era 0 for tables)."""
    sequential: ClassVar[bool] = True

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.world: ShopWorld | None = None

    def attach(self, world: ShopWorld) -> OracleRecommender:
        """Give the oracle the world whose truth it reports; returns ``self``."""
        if not isinstance(world, ShopWorld):
            raise TypeError(
                f"oracle.attach expects a ShopWorld (dataset.extras['world']), got {type(world).__name__}"
            )
        self.world = world
        return self

    def require_world(self) -> ShopWorld:
        if self.world is None:
            raise NotFittedError("oracle: call attach(dataset.extras['world']) before fit()")
        return self.world

    def fit(self, train: SequenceData, valid: Any = None) -> OracleRecommender:
        world = self.require_world()
        if train.n_items != world.n_items:
            raise ValueError(
                f"oracle: training data has {train.n_items} items, the shop world {world.n_items}"
            )
        self.n_items = world.n_items
        return self

    # -- scoring --------------------------------------------------------------------------
    def score(self, histories: SequenceData) -> np.ndarray:
        n_items = self.require_fitted()
        out = np.empty((len(histories), n_items + 1), dtype=np.float32)  # [B, n_items + 1]
        for row in range(len(histories)):
            parts, _, _ = self._parts(
                histories.sequence(row),
                histories.sequence_timestamps(row),
                int(histories.users[row]),
            )
            out[row] = dense_distribution(parts, n_items)
        out[:, 0] = NEG_INF
        return out

    def _subject(self, items: np.ndarray, timestamps: np.ndarray, user: int) -> tuple[Subject, int]:
        world = self.require_world()
        found = world.identify(items, user)
        if found is not None:
            return found
        return world.unknown_subject(items, timestamps), len(items)

    def _parts(
        self, items: np.ndarray, timestamps: np.ndarray, user: int
    ) -> tuple[list[Part], Subject, int]:
        subject, n_history = self._subject(items, timestamps, user)
        parts = self.require_world().next_purchase_parts(
            subject, n_history, condition_on_horizon=bool(self.config.condition_on_horizon)
        )
        return parts, subject, n_history

    # -- explanation ----------------------------------------------------------------------
    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """The generator's hidden state in words, and how much each part of the next-purchase
        mixture (journey step, popular in the phase, re-buy, noise) gives ``item``."""
        n_items = self.require_fitted()
        world = self.require_world()
        items = np.asarray(list(history), dtype=np.int64)
        parts, subject, n_history = self._parts(items, np.zeros(0, dtype=np.int64), -1)
        probability = float(dense_distribution(parts, n_items)[item])
        evidence = [_part_row(world, part, item) for part in parts]
        evidence.sort(key=lambda row: -row["contribution"])
        title = world.catalog.titles[item]
        return Explanation(
            model=self.name,
            item=int(item),
            summary=(
                f"The generator buys '{title}' next with probability {probability:.3f}. "
                f"Hidden state: {world.describe(subject, n_history)}."
            ),
            kind="generator-state",
            evidence=evidence,
        )


def _part_row(world: ShopWorld, part: Part, item: int) -> dict[str, Any]:
    """One mixture part as an evidence row: its mass and the item's share inside it."""
    share = float(part.probs[part.items == item].sum())
    row: dict[str, Any] = {
        "component": part.kind,
        "phase_category": world.catalog.category_names[part.category],
        "part_probability": round(part.mass, 6),
        "item_share": round(share, 6),
        "contribution": round(part.mass * share, 6),
    }
    if part.kind in ("journey", "journey start", "re-buy"):
        row["items"] = [int(i) for i in part.items]
    return row
