"""Two-stage recommendation: a retriever proposes candidates, a reranker orders them.

The shape of LlamaRec (Yue et al. 2023) and LLMRank (Hou et al. 2024): any registered model
retrieves ``n_candidates`` items per history (its ``recommend``, with the exclusion applied there,
so excluded items never become candidates); the reranker scores those candidates
(``rerank(histories, candidates) -> [B, C]``) and the pipeline returns the best ``k`` by that score.
Equal reranker scores keep the retriever's order, so a reranker that cannot tell two candidates
apart defers to the first stage.

The pipeline is itself a :class:`~seqrec.models.base.Recommender` that gives ranked lists only
(``capabilities.dense_scores = False``): the evaluation protocol scores it from its lists, and an
item the retriever did not propose is a miss, as it would be in production.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.base import (
    Capabilities,
    CapabilityError,
    Explanation,
    ExplanationKind,
    Recommender,
    StateArrays,
    StateValues,
    help_field,
    prefixed,
    unprefixed,
)
from seqrec.ranking import Exclusion


@dataclass
class TwoStageConfig:
    n_candidates: int = help_field(20, "Candidates the retriever proposes per history for the reranker to order.")


class TwoStage(Recommender[TwoStageConfig]):
    """``retriever`` proposes, ``reranker`` orders; both are fitted by :meth:`fit`."""

    name: ClassVar[str] = "two-stage"
    Config: ClassVar[type] = TwoStageConfig
    capabilities: ClassVar[Capabilities] = Capabilities(dense_scores=False)
    state_attributes: ClassVar[tuple[str, ...]] = ()
    STAGES: ClassVar[tuple[str, str]] = ("retriever", "reranker")

    def __init__(self, retriever: Recommender[Any], reranker: Recommender[Any], config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        if self.config.n_candidates < 1:
            raise ValueError(f"two-stage: n_candidates must be >= 1, got {self.config.n_candidates}")
        if not (reranker.capabilities.reranker or reranker.capabilities.dense_scores):
            raise CapabilityError(f"{reranker.name} can neither rerank nor score items: it cannot be a second stage")
        self.retriever = retriever
        self.reranker = reranker

    def _fit(self, train: SequenceData, valid: Any) -> None:
        for stage in (self.retriever, self.reranker):
            stage.fit(train, valid, items=self.items, world=self.world)

    def state(self) -> tuple[StateArrays, StateValues]:
        """Each stage's state under its role (``retriever.<name>``, ``reranker.<name>``)."""
        arrays, values = super().state()
        for role, stage in zip(self.STAGES, (self.retriever, self.reranker)):
            stage_arrays, stage_values = stage.state()
            arrays.update(prefixed(role, stage_arrays))
            values[role] = {"model": stage.name, "state": stage_values}
        return arrays, values

    def restore(self, arrays: Mapping[str, np.ndarray], values: Mapping[str, Any], *, items: ItemInfo | None = None) -> Self:
        """Restore both stages (this pipeline must have been built with the same two models)."""
        super().restore(arrays, values, items=items)
        for role, stage in zip(self.STAGES, (self.retriever, self.reranker)):
            saved = values[role]
            if saved["model"] != stage.name:
                raise ValueError(f"{self.name}: the saved {role} is {saved['model']}, this pipeline's is {stage.name}")
            stage.restore(unprefixed(role, arrays), saved["state"], items=items)
        return self

    def _recommend(self, histories: SequenceData, k: int, exclusion: Exclusion) -> np.ndarray:
        candidates = self.retriever.recommend(histories, max(k, self.config.n_candidates), exclusion)  # [B, C]
        scores = self.reranker.checked_rerank(histories, candidates)  # [B, C]
        # A dense retriever fills its list with excluded items when fewer others remain: keep them last.
        scores[exclusion.drop(candidates, histories) == 0] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")  # equal scores keep the retriever's order
        return np.take_along_axis(candidates, order, axis=1)[:, :k]

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        n_items = self.require_fitted()
        histories = SequenceData.from_lists([list(history)], n_items)
        candidates = self.retriever.recommend(histories, self.config.n_candidates)[0].tolist()
        if item not in candidates:
            summary = f"{self.retriever.name} does not propose this item among its {len(candidates)} candidates."
            return Explanation(self.name, int(item), summary, ExplanationKind.PIPELINE)
        reason = self.reranker.explain(list(history), item)
        summary = (
            f"{self.retriever.name} proposes it as candidate #{candidates.index(item) + 1} of {len(candidates)}; "
            f"{self.reranker.name}: {reason.summary}"
        )
        evidence = [{"stage": "retriever", "model": self.retriever.name, "position": candidates.index(item) + 1}]
        evidence += [{"stage": "reranker", **row} for row in reason.evidence]
        return Explanation(self.name, int(item), summary, ExplanationKind.PIPELINE, evidence)
