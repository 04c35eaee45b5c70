"""The LLM reranker (llm-rerank) with deterministic stand-in language models.

Each fake reads the prompt it is given (``parse_listing``), so the tests check what the ranker
does with an answer: how scores are formed, that ties keep the retriever's order, that the result
is always a permutation of the candidates, that shuffled repeats undo a bias towards the first
listed candidate, what is counted, and how it falls back when a server gives no logprobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.base import ConfigError, ExplanationKind
from seqrec.models.llm.backends import LanguageModel, LexicalLM, LogprobsUnavailable
from seqrec.models.llm.prompts import parse_listing
from seqrec.models.llm.ranker import LLMRerank
from seqrec.models.markov import MarkovChain
from seqrec.testing import cycle_world

N_ITEMS = 11


def titled_items(n_items: int = N_ITEMS) -> ItemInfo:
    info = ItemInfo.ids_only(n_items)
    titles = np.array(["<pad>", *(f"Film number {i}" for i in range(1, n_items + 1))], dtype=object)
    return ItemInfo(info.labels, titles, info.categories, info.texts)


class ScriptedLM(LanguageModel):
    """Label log-probabilities from ``logprobs(labels, titles)``; answers from ``answer(labels, titles)``."""

    def __init__(
        self,
        logprobs: Callable[[list[str], list[str]], Sequence[float]] | None = None,
        answer: Callable[[list[str], list[str]], str] | None = None,
    ) -> None:
        super().__init__()
        self.logprobs = logprobs
        self.answer = answer
        self.prompts: list[str] = []

    @property
    def name(self) -> str:
        return "scripted"

    def next_token_logprobs(self, prompts: Sequence[str], tokens: Sequence[str]) -> np.ndarray:
        assert self.logprobs is not None
        out = []
        for prompt in prompts:
            self.prompts.append(prompt)
            _, labels, titles = parse_listing(prompt)
            assert labels == list(tokens)
            out.append(np.asarray(self.logprobs(labels, titles), dtype=np.float64))
            self.usage.add(100, 1)
        return np.array(out)

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
        assert self.answer is not None
        answers = []
        for prompt in prompts:
            self.prompts.append(prompt)
            _, labels, titles = parse_listing(prompt)
            answers.append(self.answer(labels, titles))
            self.usage.add(100, 10)
        return answers


def favourite(title: str, strength: float = 5.0) -> Callable[[list[str], list[str]], list[float]]:
    """Logprobs that put most of the mass on the candidate titled ``title``."""
    return lambda labels, titles: [strength if t == title else 0.0 for t in titles]


def fitted(lm: LanguageModel, **config: object) -> tuple[LLMRerank, MarkovChain, SequenceData]:
    train = cycle_world()
    values = {"retriever": "markov", "n_candidates": 5, **config}
    model = LLMRerank(values, language_model=lm).fit(train, items=titled_items())
    histories = SequenceData.from_lists([[1, 2, 3], [6, 7], [4, 5, 1], [9, 10]], N_ITEMS)
    return model, model.retriever, histories  # type: ignore[return-value]


# -- verbalizer -----------------------------------------------------------------------------------
def test_the_verbalizer_puts_the_most_probable_label_first() -> None:
    model, retriever, histories = fitted(ScriptedLM(favourite("Film number 2")))
    candidates = retriever.recommend(histories, 5)
    top = model.recommend(histories, 5)
    for row in range(len(histories)):
        if 2 in candidates[row]:
            assert top[row, 0] == 2
            rest = [i for i in candidates[row] if i != 2]
            assert top[row, 1:].tolist() == rest  # the others tie: the retriever's order
        else:
            assert top[row].tolist() == candidates[row].tolist()


def test_equal_label_probabilities_keep_the_retriever_order() -> None:
    model, retriever, histories = fitted(ScriptedLM(lambda labels, titles: [-1.0] * len(labels)))
    np.testing.assert_array_equal(model.recommend(histories, 5), retriever.recommend(histories, 5))


def test_labels_without_a_value_rank_after_the_others() -> None:
    # Only the last-listed candidate has a (finite) value, as when a server reports few top tokens.
    model, retriever, histories = fitted(
        ScriptedLM(lambda labels, titles: [-np.inf] * (len(labels) - 1) + [-3.0])
    )
    candidates = retriever.recommend(histories, 5)
    top = model.recommend(histories, 5)
    assert top[:, 0].tolist() == candidates[:, -1].tolist()
    assert top[:, 1:].tolist() == candidates[:, :-1].tolist()
    assert model.stats.parse_failures == 0


def test_the_reranked_list_is_always_a_permutation_of_the_candidates() -> None:
    rng = np.random.default_rng(0)
    train = cycle_world()
    items = titled_items()
    for case in range(150):
        mode = str(rng.choice(["verbalizer", "generate"]))
        style = str(rng.choice(["llamarec", "llmrank"]))
        n_candidates = int(rng.integers(1, 10))

        def logprobs(labels: list[str], titles: list[str]) -> list[float]:
            values = rng.normal(size=len(labels)) * rng.choice([0.0, 1.0, 100.0])
            values[rng.random(len(labels)) < 0.3] = rng.choice([-np.inf, np.nan])
            return values.tolist()

        def answer(labels: list[str], titles: list[str]) -> str:
            parts = [*labels, *titles, "Titanic (1997)", "[99]", "(Q)", "", "blah"]
            return "\n".join(str(rng.choice(parts)) for _ in range(int(rng.integers(0, 12))))

        lm = ScriptedLM(logprobs, answer)
        model = LLMRerank(
            {
                "retriever": "markov",
                "n_candidates": n_candidates,
                "mode": mode,
                "prompt": style,
                "repeats": int(rng.integers(1, 4)),
                "seed": case,
            },
            language_model=lm,
        ).fit(train, items=items)
        lengths = rng.integers(1, 6, size=3)
        histories = SequenceData.from_lists(
            [rng.integers(1, N_ITEMS + 1, size=n).tolist() for n in lengths], N_ITEMS
        )
        exclude = bool(rng.integers(0, 2))
        candidates = model.retriever.recommend(histories, n_candidates, exclude=exclude)
        ranked = model.recommend(histories, n_candidates, exclude=exclude)
        assert ranked.shape == candidates.shape, case
        for row in range(len(histories)):
            assert sorted(ranked[row].tolist()) == sorted(candidates[row].tolist()), (case, row)
        scores = model.rerank(histories, candidates)
        assert scores.shape == candidates.shape and np.isfinite(scores).all()


# -- position bias and shuffled repeats ---------------------------------------------------------------
def first_biased(target: str) -> Callable[[list[str], list[str]], list[float]]:
    """A model that likes ``target`` but likes whatever is listed first a little more."""

    def logprobs(labels: list[str], titles: list[str]) -> list[float]:
        values = [np.log(0.05)] * len(labels)
        if titles[0] == target:
            values[0] = np.log(0.75)
        else:
            values[0] = np.log(0.4)
            if target in titles:
                values[titles.index(target)] = np.log(0.35)
        return values

    return logprobs


def test_shuffled_repeats_undo_a_bias_towards_the_first_listed_candidate() -> None:
    histories = SequenceData.from_lists([[1, 2, 3]], N_ITEMS)
    once, retriever, _ = fitted(ScriptedLM(first_biased("Film number 3")), repeats=1)
    candidates = retriever.recommend(histories, 5)[0].tolist()
    assert candidates[0] != 3 and 3 in candidates
    assert once.recommend(histories, 1)[0, 0] == candidates[0]  # the bias wins without shuffling
    assert once.stats.position_bias == 1.0
    shuffled, _, _ = fitted(ScriptedLM(first_biased("Film number 3")), repeats=8)
    assert shuffled.recommend(histories, 1)[0, 0] == 3
    assert shuffled.stats.prompts == 8
    assert shuffled.stats.position_bias == 1.0  # the model still always picks the first listed


def test_listings_are_seeded_permutations_independent_of_the_batch() -> None:
    model, _, _ = fitted(LexicalLM(), repeats=4, seed=3)
    candidates = np.array([4, 8, 1, 9, 2])
    orders = model.reranker.listings(candidates)
    assert len(orders) == 4
    assert all(sorted(order.tolist()) == list(range(5)) for order in orders)
    assert len({tuple(order) for order in orders}) > 1
    again = model.reranker.listings(candidates.copy())
    assert all((a == b).all() for a, b in zip(orders, again))
    single, _, _ = fitted(LexicalLM(), repeats=1)
    assert single.reranker.listings(candidates)[0].tolist() == [0, 1, 2, 3, 4]
    histories = SequenceData.from_lists([[1, 2], [6, 7], [3]], N_ITEMS)
    batch = model.recommend(histories, 5)
    for row in range(len(histories)):
        np.testing.assert_array_equal(
            model.recommend(histories.rows(np.array([row])), 5)[0], batch[row]
        )


# -- generate and parse -----------------------------------------------------------------------------
def test_generate_mode_ranks_named_candidates_first_and_the_rest_in_retriever_order() -> None:
    answer = "Sure! Here you go:\n[3]\n[1]\nTitanic (1997)\n[3]"
    model, retriever, histories = fitted(
        ScriptedLM(answer=lambda labels, titles: answer), mode="generate", prompt="llmrank"
    )
    candidates = retriever.recommend(histories, 5)
    top = model.recommend(histories, 5)
    for row in range(len(histories)):
        c = candidates[row].tolist()
        assert top[row].tolist() == [c[2], c[0], c[1], c[3], c[4]]
    stats = model.stats
    assert stats.prompts == 4 and stats.parse_failures == 0
    assert stats.invented_lines == 2 * 4 and stats.duplicates == 4
    assert stats.position_bias == 0.0  # the first named candidate was listed third


def test_answers_naming_nothing_count_as_parse_failures_and_keep_the_retriever_order() -> None:
    model, retriever, histories = fitted(
        ScriptedLM(answer=lambda labels, titles: "I am not sure."), mode="generate"
    )
    np.testing.assert_array_equal(model.recommend(histories, 5), retriever.recommend(histories, 5))
    assert model.stats.parse_failure_rate == 1.0
    assert np.isnan(model.stats.position_bias)


def test_titles_in_the_answer_are_matched_back_to_candidates() -> None:
    model, retriever, histories = fitted(
        ScriptedLM(answer=lambda labels, titles: f"1. {titles[-1]}\n2. {titles[-2]}"),
        mode="generate",
        prompt="llmrank",
    )
    candidates = retriever.recommend(histories, 5)
    top = model.recommend(histories, 2)
    np.testing.assert_array_equal(top, candidates[:, [4, 3]])


def test_a_server_without_logprobs_falls_back_to_generating() -> None:
    class NoLogprobs(ScriptedLM):
        def next_token_logprobs(self, prompts: Sequence[str], tokens: Sequence[str]) -> np.ndarray:
            raise LogprobsUnavailable("no logprobs here")

    model, retriever, histories = fitted(
        NoLogprobs(answer=lambda labels, titles: f"({labels[1]})"), mode="verbalizer"
    )
    candidates = retriever.recommend(histories, 5)
    assert model.recommend(histories, 1)[:, 0].tolist() == candidates[:, 1].tolist()
    assert model.reranker.mode == "generate"
    assert model.stats.mode_used.startswith("generate")


# -- what is recorded ---------------------------------------------------------------------------------
def test_stats_count_prompts_tokens_and_time_per_user() -> None:
    model, _, histories = fitted(ScriptedLM(favourite("Film number 4")), repeats=3)
    model.recommend(histories, 5)
    stats = model.stats
    assert stats.users == 4 and stats.prompts == 12
    assert stats.prompt_tokens == 1200 and stats.completion_tokens == 12
    assert stats.to_dict()["prompt_tokens_per_user"] == 300
    assert stats.seconds > 0 and stats.chance_first == pytest.approx(0.2)
    model.reset_stats()
    assert model.stats.prompts == 0


def test_the_prompt_carries_the_recent_history_and_the_recency_instruction() -> None:
    lm = ScriptedLM(favourite("Film number 4"))
    model, _, _ = fitted(lm, max_history=2, recency_instruction=True, item_kind="films")
    model.recommend(SequenceData.from_lists([[1, 2, 3]], N_ITEMS), 3)
    history, _, _ = parse_listing(lm.prompts[0])
    assert history == ["Film number 2", "Film number 3"]
    assert 'most recent of them is "Film number 3"' in lm.prompts[0] and "films" in lm.prompts[0]


def test_explain_gives_the_prompt_and_the_answer() -> None:
    model, _, _ = fitted(ScriptedLM(favourite("Film number 4")), repeats=2)
    explanation = model.explain([1, 2, 3], 4)
    assert explanation.kind == ExplanationKind.LLM_ANSWER
    assert "ranks it #1" in explanation.summary
    rows = [row for row in explanation.evidence if row["stage"] == "reranker"]
    assert len(rows) == 2
    assert all(
        "(1) Film number 1" in row["prompt"] and row["answer"] and row["chosen_item"] == 4
        for row in rows
    )
    outside = model.explain([1, 2, 3], 11)
    assert "does not propose it" in outside.summary
    assert any("prompt" in row for row in outside.evidence)


def test_more_items_than_candidates_follow_in_the_retriever_order() -> None:
    model, retriever, histories = fitted(ScriptedLM(favourite("Film number 9")), n_candidates=3)
    full = model.recommend(histories, 8)
    head = model.recommend(histories, 3)
    np.testing.assert_array_equal(full[:, :3], head)
    np.testing.assert_array_equal(full[:, 3:], retriever.recommend(histories, 8)[:, 3:])


def test_the_state_is_the_retriever_and_no_language_model() -> None:
    model, _, _ = fitted(LexicalLM())
    arrays, values = model.state()
    assert arrays and all(name.startswith("pipeline.retriever.") for name in arrays)
    assert values["pipeline"]["retriever"]["model"] == "markov"
    assert values["pipeline"]["reranker"]["model"] == "llm-reranker"


def test_a_fitted_retriever_given_to_the_model_is_kept() -> None:
    train = cycle_world()
    retriever = MarkovChain().fit(train)
    before = retriever.recommend(SequenceData.from_lists([[1]], N_ITEMS), 3)
    retriever.mark = "kept"  # type: ignore[attr-defined]
    model = LLMRerank(
        {"retriever": "markov", "n_candidates": 4}, retriever=retriever, language_model=LexicalLM()
    )
    model.fit(train, items=titled_items())
    assert model.retriever is retriever and retriever.mark == "kept"  # type: ignore[attr-defined]
    np.testing.assert_array_equal(
        retriever.recommend(SequenceData.from_lists([[1]], N_ITEMS), 3), before
    )
    with pytest.raises(ConfigError, match="retriever given is 'markov'"):
        LLMRerank({"retriever": "sasrec"}, retriever=retriever)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"mode": "verbalizer", "prompt": "llmrank", "n_candidates": 20}, "one token per label"),
        ({"prompt": "llamarec", "n_candidates": 27, "mode": "generate"}, "at most 26"),
        ({"repeats": 0}, "repeats must be >= 1"),
        ({"retriever": "no-such-model"}, "another registered model"),
        ({"retriever": "llm-rerank"}, "another registered model"),
        ({"backend": "vllm"}, "backend"),
    ],
)
def test_bad_configs_are_errors_naming_the_field(config: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LLMRerank(config)


def test_the_lexical_stand_in_prefers_titles_like_the_recent_history() -> None:
    items = titled_items()
    titles = np.array(
        [
            "<pad>",
            "Star Wars",
            "Star Trek",
            "Cooking Basics",
            "Baking Bread",
            "Star Dust",
            "Pasta Sauce",
            "x",
            "y",
            "z",
            "w",
            "v",
        ],
        dtype=object,
    )
    items = ItemInfo(items.labels, titles, items.categories, items.texts)
    model = LLMRerank(
        {
            "retriever": "popularity",
            "n_candidates": 6,
            "backend": "lexical",
            "mode": "generate",
            "prompt": "llmrank",
        }
    )
    model.fit(cycle_world(), items=items)
    reason = model.reranker.explain_candidates([1, 2], [3, 4, 6, 5], 5)
    assert "ranks it #1" in reason.summary  # "Star Dust" after "Star Wars", "Star Trek"
    assert reason.evidence[0]["answer"].splitlines()[0] == "4"  # listed fourth, named first
