"""Models the v2 contract makes room for, each added the way a user adds one: a class and one
registry line, with the shared contract suite run on it.

* ``SuccessorList`` gives ranked lists only (no dense scores), like a generative retriever;
* ``PopularityReranker`` only rescores candidates, like an LLM ranker;
* ``TwoStage`` joins any retriever with any reranker and is itself a Recommender.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from seqrec.data.shop import make_shop_dataset
from seqrec.data.splits import leave_one_out
from seqrec.data.types import SequenceData
from seqrec.evaluation.protocol import evaluate_model
from seqrec.experiment import run_models
from seqrec.models import REGISTRY
from seqrec.models.base import (
    Capabilities,
    CapabilityError,
    ContractSettings,
    Recommender,
    help_field,
)
from seqrec.models.markov import MarkovChain
from seqrec.models.pipeline import TwoStage
from seqrec.models.popularity import Popularity
from seqrec.ranking import Exclusion
from seqrec.testing import CYCLE_HISTORIES, RecommenderContract, cycle_world


# -- a top-k-only model: its own class and one registry line --------------------------------------
@dataclass
class SuccessorListConfig:
    depth: int = help_field(0, "Unused: a field to show the config mechanics (0 = none).")


class SuccessorList(Recommender[SuccessorListConfig]):
    """The items that most often followed the last history item, then the best sellers; no scores."""

    name: ClassVar[str] = "successor-list"
    Config: ClassVar[type] = SuccessorListConfig
    sequential: ClassVar[bool] = True
    capabilities: ClassVar[Capabilities] = Capabilities(dense_scores=False)
    contract: ClassVar[ContractSettings] = ContractSettings({})

    def _fit(self, train: SequenceData, valid: Any) -> None:
        n_items = train.n_items
        self.follows = np.zeros((n_items + 1, n_items + 1), dtype=np.int64)  # [prev, next] counts
        for sequence in train:
            np.add.at(self.follows, (sequence[:-1], sequence[1:]), 1)
        self.popularity = train.item_counts()

    def _recommend(self, histories: SequenceData, k: int, exclusion: Exclusion) -> np.ndarray:
        out = []
        for row in range(len(histories)):
            last = histories.sequence(row)[-1] if histories.lengths[row] else 0
            banned = set(exclusion.row_items(histories, row).tolist())
            ids = np.arange(1, self.follows.shape[0])
            order = np.lexsort((ids, -self.popularity[ids], -self.follows[last, ids]))  # counts, then id
            out.append([int(i) for i in ids[order] if int(i) not in banned][:k])
        width = min(len(r) for r in out) if out else 0
        return np.array([r[:width] for r in out], dtype=np.int64).reshape(len(out), width)


# -- a reranker: it only rescores candidates ------------------------------------------------------
@dataclass
class PopularityRerankerConfig:
    pass


class PopularityReranker(Recommender[PopularityRerankerConfig]):
    """Scores each candidate by its training count (a stand-in for an LLM's preference)."""

    name: ClassVar[str] = "popularity-reranker"
    Config: ClassVar[type] = PopularityRerankerConfig
    capabilities: ClassVar[Capabilities] = Capabilities(dense_scores=False, reranker=True)
    contract: ClassVar[ContractSettings] = ContractSettings(known_answer="most-popular")

    def _fit(self, train: SequenceData, valid: Any) -> None:
        self.counts = train.item_counts().astype(np.float32)

    def rerank(self, histories: SequenceData, candidates: np.ndarray) -> np.ndarray:
        self.require_fitted()
        return self.counts[candidates]


@pytest.fixture
def registered() -> Any:
    REGISTRY.register(SuccessorList)  # the one registry line
    yield SuccessorList
    REGISTRY.unregister(SuccessorList.name)


class TestSuccessorListContract(RecommenderContract):
    model_class = SuccessorList


class TestPopularityRerankerContract(RecommenderContract):
    model_class = PopularityReranker


class TestTwoStageContract(RecommenderContract):
    """Popularity proposes every item, the Markov chain (a dense scorer) orders them: the pipeline
    must then give the Markov chain's known answer (the successor)."""

    model_class = TwoStage

    def make(self, config: dict[str, Any] | None = None) -> Any:
        return TwoStage(Popularity(), MarkovChain(), {"n_candidates": 11, **(config or {})})


def test_a_top_k_only_model_has_no_dense_scores_and_says_so() -> None:
    model = SuccessorList().fit(cycle_world())
    with pytest.raises(CapabilityError, match="ranked lists only"):
        model.checked_scores(CYCLE_HISTORIES)
    assert model.recommend(CYCLE_HISTORIES, 1)[:, 0].tolist() == [4, 3, 8, 9, 4]


def test_a_registered_top_k_only_model_runs_through_the_benchmark(registered: type) -> None:
    dataset = make_shop_dataset("tiny", seed=0)
    board = run_models(dataset, leave_one_out(dataset.sequences), ["successor-list", "popularity"])
    by_name = {run.name: run for run in board.runs}
    assert by_name["successor-list"].test.extra["path"] == "ranked lists"
    assert by_name["popularity"].test.extra["path"] == "dense scores"
    assert 0 < by_name["successor-list"].test.metrics["HR@10"] <= 1


def test_two_stage_over_the_whole_catalog_equals_its_reranker() -> None:
    world = cycle_world()
    split = leave_one_out(world)
    markov = MarkovChain().fit(split.train)
    pipeline = TwoStage(Popularity(), MarkovChain(), {"n_candidates": world.n_items}).fit(split.train)
    popularity = split.train.item_counts()
    dense = evaluate_model(markov, split.test, True, popularity)
    lists = evaluate_model(pipeline, split.test, True, popularity)
    assert lists.extra["path"] == "ranked lists"
    scores = markov.checked_scores(split.test.histories)
    for row, (a, b) in enumerate(zip(lists.per_user["rank"], dense.per_user["rank"])):
        tied = (scores[row] == scores[row, split.test.targets[row]]).sum() > 1
        assert a == b or tied


def test_two_stage_reranks_only_what_the_retriever_proposed() -> None:
    world = cycle_world()
    retriever = Popularity()
    pipeline = TwoStage(retriever, MarkovChain(), {"n_candidates": 3}).fit(world)
    proposed = retriever.recommend(CYCLE_HISTORIES, 3, exclude=True)
    ranked = pipeline.recommend(CYCLE_HISTORIES, 3, exclude=True)
    for row in range(len(CYCLE_HISTORIES)):
        assert set(ranked[row].tolist()) == set(proposed[row].tolist())
        assert not set(ranked[row].tolist()) & set(CYCLE_HISTORIES.sequence(row).tolist())
    first = int(pipeline.recommend(CYCLE_HISTORIES.rows(np.array([0])), 1)[0, 0])
    explanation = pipeline.explain([1, 2, 3], first)
    assert explanation.kind == "pipeline" and explanation.evidence[0]["stage"] == "retriever"


def test_a_model_that_can_neither_rerank_nor_score_cannot_be_a_second_stage() -> None:
    with pytest.raises(CapabilityError, match="second stage"):
        TwoStage(Popularity(), SuccessorList())


def test_the_registry_refuses_a_second_model_of_the_same_name(registered: type) -> None:
    with pytest.raises(ValueError, match="already registered"):
        REGISTRY.register(SuccessorList)
    assert REGISTRY["successor-list"] is SuccessorList
