"""The contract suite and tiny worlds with known answers, for seqrec's own tests and for anyone
adding a model (as implicit's test mixin and LensKit's ``ScorerTests`` do).

Use it for your own model by subclassing :class:`RecommenderContract` in a pytest file::

    from seqrec.testing import RecommenderContract

    class TestMyModel(RecommenderContract):
        model_class = MyModel          # declares contract = ContractSettings(...) beside itself

Every test reads what the model declared (``capabilities``, ``contract``) and nothing else: a
model that gives ranked lists only is held to the list checks, a dense scorer also to the score
checks, a reranker to the rerank checks. The suite needs no pytest import to load; pytest runs
its ``test_*`` methods.

Every model is also saved as an artifact and loaded back: a registered model in a fresh Python
process (``seqrec.load``, as a user would), one the registry does not know (a test's own class)
into a fresh instance from :meth:`RecommenderContract.make`; a model that refuses to be saved (an
oracle, ``unsaveable_reason``) must say so with a ``CapabilityError``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from seqrec.data.splits import EvalSet, leave_one_out
from seqrec.data.types import ItemInfo, SequenceData

if TYPE_CHECKING:
    from seqrec.models.base import Recommender


def cycle_world(n_users: int = 60, length: int = 12, seed: int = 0) -> SequenceData:
    """Two disjoint 'categories' of 5 items, each walked as a strict cycle.

    Users in group A walk 1 -> 2 -> 3 -> 4 -> 5 -> 1 ...; group B walks 6 -> ... -> 10 -> 6.
    Each user starts at a random point of the cycle. Item 11 is bought once, by user 0, so the
    catalog has a cold item. Known answers: after ... 3 in group A the next item is 4 (sequential
    models); a group-A history's neighbours are group-A items (order-agnostic models); the most
    popular items are the ones most often visited.
    """
    rng = np.random.default_rng(seed)
    sequences: list[list[int]] = []
    for user in range(n_users):
        base = 1 if user % 2 == 0 else 6
        start = int(rng.integers(0, 5))
        sequences.append([base + (start + step) % 5 for step in range(length)])
    sequences[0] = sequences[0] + [11]
    times = [[1_000 * u + 10 * t for t in range(len(s))] for u, s in enumerate(sequences)]
    return SequenceData.from_lists(sequences, n_items=11, timestamps=times)


CYCLE_HISTORIES = SequenceData.from_lists([[1, 2, 3], [4, 5, 1, 2], [6, 7], [9, 10, 6, 7, 8], [3]], n_items=11)
"""Histories of the cycle world and, in :data:`CYCLE_SUCCESSORS`, the item that follows each."""
CYCLE_SUCCESSORS = [4, 3, 8, 9, 4]
GROUP_A = frozenset({1, 2, 3, 4, 5})


@dataclass
class ContractWorld:
    """What the suite fits a model on and asks it about."""

    train: SequenceData
    items: ItemInfo
    world: Any
    histories: SequenceData
    evaluation: EvalSet


def contract_world(kind: str) -> ContractWorld:
    """The cycle world, or the tiny shop world for models that need a world's generator."""
    if kind == "cycle":
        train = cycle_world()
        return ContractWorld(train, ItemInfo.ids_only(train.n_items), None, CYCLE_HISTORIES, leave_one_out(train).test)
    if kind == "shop":
        from seqrec.data.shop import make_shop_dataset

        dataset = make_shop_dataset("tiny", seed=0)
        split = leave_one_out(dataset.sequences)
        histories = split.test.histories.rows(np.arange(5))
        return ContractWorld(split.train, dataset.item_info(), dataset.extras["world"], histories, split.test.rows(slice(0, 60)))
    raise ValueError(f"unknown contract world {kind!r}; choose cycle or shop")


ANSWER_K = 5
"""Recommendations per history compared after an artifact round trip."""

FRESH_PROCESS = """
import sys
import numpy as np
import seqrec
from seqrec.data.types import SequenceData
from seqrec.testing import model_answers

folder, questions, answers, threads = sys.argv[1:]
with np.load(questions, allow_pickle=False) as saved:
    histories = SequenceData(saved["offsets"], saved["items"], saved["timestamps"], int(saved["n_items"]), saved["users"])
model = seqrec.load(folder).model
if "torch" in sys.modules and int(threads) > 0:
    sys.modules["torch"].set_num_threads(int(threads))
np.savez(answers, **model_answers(model, histories))
"""
"""What the fresh process runs: load the artifact, answer the histories, save the answers."""


def model_answers(model: Any, histories: SequenceData) -> dict[str, np.ndarray]:
    """What an artifact round trip must keep: ``recommend`` (with and without the history
    excluded) and, for dense scorers, ``checked_scores``."""
    answers = {
        "recommend": model.recommend(histories, ANSWER_K),
        "recommend_excluding_history": model.recommend(histories, ANSWER_K, exclude=True),
    }
    if model.capabilities.dense_scores:
        answers["scores"] = model.checked_scores(histories)
    return answers


def answers_in_fresh_process(folder: Path, histories: SequenceData) -> dict[str, np.ndarray]:
    """:func:`model_answers` of the artifact in ``folder``, loaded by ``seqrec.load`` in a new
    Python process (with this process's torch thread count, so that sums run in the same order)."""
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else 0
    questions, answers = folder.parent / "questions.npz", folder.parent / "answers.npz"
    np.savez(questions, offsets=histories.offsets, items=histories.items, timestamps=histories.timestamps, n_items=histories.n_items, users=histories.users)
    command = [sys.executable, "-c", FRESH_PROCESS, str(folder), str(questions), str(answers), str(threads)]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"loading {folder} in a fresh process failed:\n{result.stderr[-3000:]}")
    with np.load(answers, allow_pickle=False) as saved:
        return {name: saved[name] for name in saved.files}


def expect_error(error: type[BaseException], call: Callable[[], object], match: str = "") -> None:
    """Fail unless ``call()`` raises ``error`` whose message contains ``match``."""
    try:
        call()
    except error as raised:
        if match and match not in str(raised):
            raise AssertionError(f"{error.__name__} raised, but {match!r} is not in {str(raised)!r}") from raised
        return
    raise AssertionError(f"expected {error.__name__}, nothing was raised")


class RecommenderContract:
    """The shared contract every model passes; subclass it with ``model_class`` set.

    A subclass may override :meth:`make` (to build the model another way) and the class
    attributes ``batch_rtol``/``batch_atol`` (how closely a batch must match rows scored alone).
    """

    model_class: ClassVar[type[Recommender[Any]]]
    batch_rtol: ClassVar[float] = 1e-4
    batch_atol: ClassVar[float] = 1e-5
    _cache: ClassVar[dict[type, tuple[Any, ContractWorld]]] = {}
    _worlds: ClassVar[dict[str, ContractWorld]] = {}

    # -- building blocks ------------------------------------------------------------------------
    def make(self, config: dict[str, Any] | None = None) -> Any:
        """A fresh, unfitted model with its tiny contract settings (updated by ``config``)."""
        return self.model_class({**self.model_class.contract.config, **(config or {})})

    def world(self) -> ContractWorld:
        kind = self.model_class.contract.world
        if kind not in RecommenderContract._worlds:
            RecommenderContract._worlds[kind] = contract_world(kind)
        return RecommenderContract._worlds[kind]

    def fit_new(self) -> Any:
        world = self.world()
        return self.make().fit(world.train, items=world.items, world=world.world)

    def fitted(self) -> Any:
        """One fitted model shared by the read-only tests of this class."""
        key = type(self)
        if key not in RecommenderContract._cache:
            RecommenderContract._cache[key] = (self.fit_new(), self.world())
        return RecommenderContract._cache[key][0]

    @property
    def dense(self) -> bool:
        return bool(self.model_class.capabilities.dense_scores)

    # -- every model ----------------------------------------------------------------------------
    def test_every_method_fails_clearly_before_fit(self) -> None:
        from seqrec.models.base import NotFittedError

        model, histories = self.make(), self.world().histories
        expect_error(NotFittedError, lambda: model.recommend(histories, k=3))
        expect_error(NotFittedError, lambda: model.explain([1, 2, 3], 4))
        if self.dense or self.model_class.capabilities.reranker:
            expect_error(NotFittedError, lambda: model.checked_rerank(histories, np.ones((len(histories), 2), dtype=np.int64)))
        if self.dense:
            expect_error(NotFittedError, lambda: model.checked_scores(histories))

    def test_misspelt_config_field_is_an_error(self) -> None:
        from seqrec.models.base import ConfigError

        expect_error(ConfigError, lambda: self.make({"definitely_not_a_field": 1}), match="no field")

    def test_a_value_outside_a_literal_choice_is_an_error(self) -> None:
        import typing

        hints = typing.get_type_hints(self.model_class.Config)
        for field_name, hint in hints.items():
            if typing.get_origin(hint) is typing.Literal:
                self._expect_config_error({field_name: "not-a-choice"}, field_name)

    def _expect_config_error(self, values: dict[str, Any], match: str) -> None:
        from seqrec.models.base import ConfigError

        expect_error(ConfigError, lambda: self.make(values), match=match)

    def test_fit_returns_self_and_is_deterministic(self) -> None:
        world = self.world()
        first = self.make()
        assert first.fit(world.train, items=world.items, world=world.world) is first
        second = self.fit_new()
        np.testing.assert_array_equal(first.recommend(world.histories, 5), second.recommend(world.histories, 5))
        if self.dense:
            np.testing.assert_allclose(
                first.checked_scores(world.histories), second.checked_scores(world.histories), rtol=1e-5, atol=1e-6
            )

    def test_recommend_returns_distinct_real_items_without_excluded_ones(self) -> None:
        from seqrec.ranking import Exclusion

        model, histories = self.fitted(), self.world().histories
        n_items = histories.n_items
        top = model.recommend(histories, k=4, exclude=True)
        assert top.shape == (len(histories), 4)
        for row, items in enumerate(top):
            assert len(set(items.tolist())) == 4
            assert all(1 <= i <= n_items for i in items)
            assert not set(items.tolist()) & set(histories.sequence(row).tolist())
        # Extra excluded items are removed before the cut, so the list is still k long.
        banned = [list(map(int, row[:2])) for row in model.recommend(histories, k=2)]
        again = model.recommend(histories, k=4, exclude=Exclusion(items=banned))
        assert again.shape == (len(histories), 4)
        for row, items in enumerate(again):
            assert not set(items.tolist()) & set(banned[row])

    def test_explain_returns_an_explanation(self) -> None:
        from seqrec.models.base import Explanation, ExplanationKind

        model, histories = self.fitted(), self.world().histories
        history = histories.sequence(0).tolist()
        item = int(model.recommend(histories.rows(np.array([0])), 1)[0, 0])
        explanation = model.explain(history, item)
        assert isinstance(explanation, Explanation)
        assert explanation.item == item and explanation.summary
        assert isinstance(explanation.kind, ExplanationKind)
        assert isinstance(explanation.to_dict(), dict)

    def test_known_answer(self) -> None:
        model = self.fitted()
        answer = self.model_class.contract.known_answer
        if answer == "hand-checked":
            return  # the model's own tests check hand-computed values (declared in its contract)
        histories, successors = CYCLE_HISTORIES, np.array(CYCLE_SUCCESSORS)
        if answer == "most-popular":
            counts = self.world().train.item_counts()
            best = set(np.argsort(-counts[1:], kind="stable")[:3] + 1)
            assert set(model.recommend(histories, k=3)[0].tolist()) == best
        elif answer == "successor-after-exclusion":
            top1 = model.recommend(histories.rows(np.arange(3)), k=1, exclude=True)[:, 0]
            assert top1.tolist() == CYCLE_SUCCESSORS[:3], f"top-1 {top1} vs {CYCLE_SUCCESSORS[:3]}"
        elif answer == "successor":
            top1 = model.recommend(histories, k=1)[:, 0]
            assert (top1 == successors).mean() >= 0.8, f"top-1 {top1} vs {CYCLE_SUCCESSORS}"
        elif answer == "own-cycle":
            for row, items in enumerate(model.recommend(histories, k=3)):
                history_in_a = histories.sequence(row)[0] in GROUP_A
                assert all((i in GROUP_A) == history_in_a for i in items), f"row {row}: {items}"
        else:
            raise AssertionError(f"unknown known answer {answer!r}")

    def test_evaluation_from_lists_matches_the_dense_path_without_ties(self) -> None:
        from seqrec.evaluation.protocol import evaluate_model

        model, world = self.fitted(), self.world()
        popularity = world.train.item_counts()
        lists = evaluate_model(model, world.evaluation, True, popularity, use_lists=True)
        if not self.dense:
            assert lists.extra["path"] == "ranked lists"
            return
        dense = evaluate_model(model, world.evaluation, True, popularity)
        scores = model.checked_scores(world.evaluation.histories)
        targets = world.evaluation.targets
        for row, (list_rank, dense_rank) in enumerate(zip(lists.per_user["rank"], dense.per_user["rank"])):
            target_score = scores[row, targets[row]]
            n_tied = int((scores[row] == target_score).sum())  # the target and the items tied with it
            tied = n_tied > 1
            excluded = targets[row] in set(world.evaluation.histories.sequence(row).tolist())
            if excluded:  # both paths put an excluded target last: a miss at every cut-off
                assert list_rank == dense_rank == scores.shape[1], f"row {row}: excluded target ranked {list_rank}, {dense_rank}"
            elif tied:  # pessimistic in the dense path; a list puts it somewhere among its ties
                first = dense_rank - n_tied + 1
                assert first <= list_rank <= dense_rank or (list_rank > 20 and dense_rank > 20), (
                    f"row {row}: list rank {list_rank} outside the tie [{first}, {dense_rank}]"
                )
            elif dense_rank <= 20:
                assert list_rank == dense_rank, f"row {row}: list rank {list_rank} != dense rank {dense_rank}"
            else:
                assert list_rank > 20, f"row {row}: a miss in the dense path must be a miss in the list"
        assert lists.coverage == dense.coverage and lists.avg_popularity == dense.avg_popularity

    def test_an_artifact_gives_the_same_answers_after_loading(self) -> None:
        from seqrec.models import REGISTRY
        from seqrec.models.artifact_format import load_model, save_artifact
        from seqrec.models.base import CapabilityError

        model, world = self.fitted(), self.world()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "artifact"

            def save() -> None:
                save_artifact(
                    model,
                    folder,
                    world.items,
                    dataset_name=f"contract-{self.model_class.contract.world}",
                    fingerprint=world.train.fingerprint(),
                    training={"contract": True},
                )

            if self.model_class.unsaveable_reason:
                expect_error(CapabilityError, save, match="cannot be saved")
                assert not folder.exists(), "a model that refuses to be saved left a folder behind"
                return
            save()
            expected = model_answers(model, world.histories)
            if REGISTRY.get(self.model_class.name) is self.model_class:
                found = answers_in_fresh_process(folder, world.histories)
            else:  # the registry cannot build it: restore into a fresh instance
                found = model_answers(load_model(folder, model=self.make())[0], world.histories)
        assert set(found) == set(expected)
        for name in ("recommend", "recommend_excluding_history"):
            np.testing.assert_array_equal(found[name], expected[name], err_msg=f"{name} changed after loading the artifact")
        if "scores" in expected:
            np.testing.assert_allclose(found["scores"], expected["scores"], rtol=1e-6, atol=1e-6, err_msg="scores changed after loading")

    # -- dense scorers ---------------------------------------------------------------------------
    def test_scores_shape_padding_and_batch_independence(self) -> None:
        if not self.dense:
            return
        model, histories = self.fitted(), self.world().histories
        scores = model.checked_scores(histories)
        assert scores.shape == (len(histories), histories.n_items + 1)
        assert np.all(scores[:, 0] == -np.inf)
        if self.model_class.capabilities.finite_scores:
            assert np.isfinite(scores[:, 1:]).all()
        for row in range(len(histories)):
            alone = model.checked_scores(histories.rows(np.array([row])))
            np.testing.assert_allclose(alone[0], scores[row], rtol=self.batch_rtol, atol=self.batch_atol)

    def test_equal_scores_rank_the_smaller_id_first(self) -> None:
        if not self.dense:
            return
        model, histories = self.fitted(), self.world().histories
        scores = model.checked_scores(histories)
        ranked = model.recommend(histories, k=histories.n_items)
        for row in range(len(histories)):
            for a, b in zip(ranked[row][:-1], ranked[row][1:]):
                assert scores[row, a] > scores[row, b] or (scores[row, a] == scores[row, b] and a < b)

    def test_rerank_scores_the_candidates(self) -> None:
        model, histories = self.fitted(), self.world().histories
        candidates = model.recommend(histories, k=4)
        if not (self.dense or self.model_class.capabilities.reranker):
            from seqrec.models.base import CapabilityError

            expect_error(CapabilityError, lambda: model.checked_rerank(histories, candidates))
            return
        scores = model.checked_rerank(histories, candidates)
        assert scores.shape == candidates.shape
        if self.dense and not self.model_class.capabilities.reranker:
            dense = model.checked_scores(histories)
            np.testing.assert_allclose(scores, np.take_along_axis(dense, candidates, axis=1))
