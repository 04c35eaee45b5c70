"""Recommend for histories nobody trained on: items in, titled recommendations out.

A :class:`Predictor` holds a fitted model and the catalog it was trained with (``ItemInfo``: the
original item ids, titles, categories). It accepts histories written the way a user has them —
original item ids or exact titles — resolves them to dense ids, reports what it could not resolve
(skipped with a warning, or an error when ``strict``), and returns each recommendation with its
original id, title, category and, for dense scorers, its score. The CLI's ``seqrec recommend``,
the HTTP server and the Python API (``seqrec.load(DIR).recommend(...)``) all go through it.

With an ``index`` (:mod:`seqrec.serving.ann`: an artifact saved with ``ann=True``), a model with
``capabilities.embedding_scores`` recommends by searching the index with its query vectors
instead of scoring the whole catalog; :attr:`Predictor.retrieval` then says ``"ann:faiss"``: the
lists are approximate (the scores of the items returned are exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.base import Recommender
from seqrec.models.titles import titled_evidence, titled_summary
from seqrec.ranking import Exclusion
from seqrec.serving.ann import RETRIEVAL_EXACT, RetrievalIndex


class UnknownItemsError(ValueError):
    """A history names items the model's catalog does not have (with ``strict``)."""


@dataclass(frozen=True)
class Resolved:
    """A history resolved to dense ids, with the tokens that matched no item."""

    items: list[int]
    unknown: list[str]


@dataclass(frozen=True)
class Recommendation:
    item: str
    """The item's original id."""
    title: str
    category: str
    rank: int
    score: float | None = None
    """The model's score (dense scorers); ``None`` for models that give ranked lists only."""

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "title": self.title, "category": self.category, "rank": self.rank, "score": self.score}


@dataclass(frozen=True)
class RecommendationList:
    items: list[Recommendation]
    unknown: list[str] = field(default_factory=list)
    """History entries that matched no item and were skipped."""

    def to_dict(self) -> dict[str, Any]:
        return {"items": [r.to_dict() for r in self.items], "unknown": list(self.unknown)}


class Predictor:
    """A fitted model and its catalog, answering for any history; ``index``: retrieve the top-k
    from it with the model's query vectors (the model must declare ``embedding_scores``)."""

    def __init__(
        self,
        model: Recommender[Any],
        items: ItemInfo,
        manifest: dict[str, Any] | None = None,
        index: RetrievalIndex | None = None,
    ) -> None:
        n_items = model.require_fitted()
        if items.n_items != n_items:
            raise ValueError(f"{model.name} was fitted on {n_items} items, the item info has {items.n_items}")
        if index is not None and not model.capabilities.embedding_scores:
            raise ValueError(f"{model.name} does not score by item vectors (capabilities.embedding_scores): it cannot use an index")
        self.model = model
        self.items = items
        self.manifest = dict(manifest or {})
        self.index = index
        self._by_label = {str(label): i for i, label in enumerate(items.labels) if i > 0}
        self._by_title: dict[str, int] = {}
        for i, title in enumerate(items.titles):
            if i > 0:
                self._by_title.setdefault(str(title), i)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def retrieval(self) -> str:
        """``"exact"``, or ``"ann:<library>"`` when the lists come from an approximate index."""
        return self.index.retrieval if self.index is not None else RETRIEVAL_EXACT

    def resolve(self, history: Sequence[str | int], strict: bool = False) -> Resolved:
        """Dense ids of ``history`` (original ids first, then exact titles); unknown entries are
        returned in ``unknown``, or raise :class:`UnknownItemsError` when ``strict``."""
        items, unknown = [], []
        for token in history:
            text = str(token)
            item = self._by_label.get(text, self._by_title.get(text))
            if item is None:
                unknown.append(text)
            else:
                items.append(item)
        if strict and unknown:
            shown = ", ".join(repr(u) for u in unknown[:5]) + (" …" if len(unknown) > 5 else "")
            raise UnknownItemsError(f"{len(unknown)} unknown item(s) in the history: {shown} (not an item id or exact title)")
        return Resolved(items, unknown)

    def recommend(
        self,
        histories: Sequence[Sequence[str | int]],
        k: int = 10,
        exclude_seen: bool = False,
        timestamps: Sequence[Sequence[int]] | None = None,
        strict: bool = False,
    ) -> list[RecommendationList]:
        """Top-``k`` for each history (item ids or titles, oldest first); ``timestamps`` (seconds)
        matter to time-aware models, and default to one second apart."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        resolved = [self.resolve(history, strict) for history in histories]
        times = None
        if timestamps is not None:
            if len(timestamps) != len(histories):
                raise ValueError(f"{len(timestamps)} timestamp lists for {len(histories)} histories")
            times = [_known_times(h, t, self) for h, t in zip(histories, timestamps)]
        data = SequenceData.from_lists([r.items for r in resolved], self.items.n_items, times, users=[-1] * len(resolved))
        exclusion = Exclusion.of(exclude_seen)
        ids, scores = self._top_k(data, k, exclusion)
        # When fewer than k items are left after the exclusion, a dense top-k fills the list with
        # excluded ones: a user asked for them to be left out, so they are dropped here.
        allowed = exclusion.drop(ids, data) != 0
        return [
            RecommendationList(
                [
                    self._entry(int(item), rank + 1, None if scores is None else float(scores[row, rank]))
                    for rank, item in enumerate(ids[row])
                    if allowed[row, rank]
                ],
                resolved[row].unknown,
            )
            for row in range(len(resolved))
        ]

    def _top_k(self, data: SequenceData, k: int, exclusion: Exclusion) -> tuple[np.ndarray, np.ndarray | None]:
        """Ids [B, k] and scores (``None`` for ranked lists): from the index when there is one."""
        if self.index is None:
            return self.model.recommend_with_scores(data, k, exclude=exclusion)
        exclude = None if exclusion.empty else [exclusion.row_items(data, row) for row in range(len(data))]
        return self.index.search_with_scores(self.model.checked_query_vectors(data), k, exclude)

    def explain(self, history: Sequence[str | int], item: str | int) -> dict[str, Any]:
        """The model's explanation of ``item`` after ``history``, with titles."""
        target = self.resolve([item], strict=True).items[0]
        explanation = self.model.explain(self.resolve(history).items, target).to_dict()
        explanation["evidence"] = titled_evidence(explanation["evidence"][:8], self.items)
        explanation["summary_titled"] = titled_summary(explanation["summary"], self.items)
        explanation["item"] = str(self.items.labels[target])
        return explanation

    def _entry(self, item: int, rank: int, score: float | None) -> Recommendation:
        return Recommendation(
            str(self.items.labels[item]), str(self.items.titles[item]), str(self.items.categories[item]), rank, score
        )


def _known_times(history: Sequence[str | int], times: Sequence[int], predictor: Predictor) -> list[int]:
    """The timestamps of the history entries that resolve (unknown ones are skipped with them)."""
    if len(times) != len(history):
        raise ValueError(f"a history of {len(history)} items has {len(times)} timestamps")
    return [int(t) for token, t in zip(history, times) if predictor.resolve([token]).items]

