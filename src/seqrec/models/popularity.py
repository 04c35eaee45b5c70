"""Popularity: recommend what most people bought.

The baseline every table needs. It ignores the history entirely (apart from the shared
history masking), so any model that cannot beat it has learned nothing personal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqrec.data.types import SequenceData
from seqrec.models.base import (
    ContractSettings,
    Explanation,
    ExplanationKind,
    Recommender,
    help_field,
)


@dataclass
class PopularityConfig:
    recent_days: float = help_field(
        0.0, "Count only interactions in the last N days of the training data (0 = all time)."
    )


class Popularity(Recommender[PopularityConfig]):
    name = "popularity"
    contract = ContractSettings({}, known_answer="most-popular")
    Config = PopularityConfig
    era = 0
    sequential = False
    state_attributes = ("counts",)

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {"recent_days": trial.suggest_categorical("recent_days", [0.0, 30.0, 90.0, 365.0])}

    def _fit(self, train: SequenceData, valid: Any) -> None:
        items = train.items
        if self.config.recent_days > 0 and len(items):
            horizon = train.timestamps.max() - self.config.recent_days * 86_400
            items = items[train.timestamps >= horizon]
        self.counts = np.bincount(items, minlength=train.n_items + 1).astype(np.float32)  # [n_items + 1]

    def _score(self, histories: SequenceData) -> np.ndarray:
        self.require_fitted()
        return np.broadcast_to(self.counts, (len(histories), len(self.counts))).copy()

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        self.require_fitted()
        count = int(self.counts[item])
        rank = int((self.counts[1:] > count).sum()) + 1
        window = "all time" if self.config.recent_days <= 0 else f"the last {self.config.recent_days:g} days"
        return Explanation(
            model=self.name,
            item=int(item),
            summary=f"Bought {count} times in {window}: the #{rank} best seller. Your history plays no part.",
            kind=ExplanationKind.POPULARITY,
            evidence=[{"item": int(item), "count": count, "rank": rank}],
        )
