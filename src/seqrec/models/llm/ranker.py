"""An LLM as the second stage: LlamaRec (Yue et al. 2023) and LLMRank (Hou et al. 2024).

A retriever (any registered model, SASRec by default) proposes ``n_candidates`` items; a language
model reads the history and the candidates as text (:mod:`seqrec.models.llm.prompts`) and orders
them. Two ways to read the model:

* ``mode="verbalizer"`` (LlamaRec): one forward pass; the candidates are labelled with single
  tokens (letters) and the next-token log-probabilities of the labels, softmax-normalised over the
  candidates, are their scores.
* ``mode="generate"`` (LLMRank): the model writes a ranking, which is parsed back
  (:func:`~seqrec.models.llm.prompts.parse_ranking`); the ``r``-th named candidate scores
  ``(C - r) / C``, unnamed ones 0.

``repeats > 1`` is LLMRank's bootstrapping against position bias: the candidates are listed in
``repeats`` seeded random orders and the scores summed. The pipeline is
:class:`~seqrec.models.pipeline.TwoStage` (retriever + :class:`LLMReranker`); equal scores keep the
retriever's order, so the final list is always a permutation of the candidates and a model that
tells nothing apart defers to the retriever. Asked for more than ``n_candidates`` items, the
items after the candidates follow in the retriever's order (only the candidates are reranked).

The language model is referenced by the config (backend, model, URL), never stored: a saved
``llm-rerank`` is the retriever's state plus the config. After ``recommend``, ``model.stats``
reads what the run cost and how the model behaved (:class:`RerankStats`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Self

import numpy as np

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.base import (
    Capabilities,
    CapabilityError,
    ConfigError,
    ContractSettings,
    Explanation,
    ExplanationKind,
    Recommender,
    StateArrays,
    StateValues,
    help_field,
    prefixed,
    unprefixed,
)
from seqrec.models.llm.backends import (
    DEFAULT_LLM,
    LanguageModel,
    LexicalLM,
    LogprobsUnavailable,
    OpenAIChatLM,
    TransformersLM,
    missing_requirements,
)
from seqrec.models.llm.prompts import MAX_LETTERS, RankingPrompt, build_prompt, parse_ranking
from seqrec.models.pipeline import TwoStage
from seqrec.ranking import Exclusion

VERBALIZER_LABELS = {"llamarec": MAX_LETTERS, "llmrank": 9}
"""The most candidates a prompt style can label with single tokens (letters A-Z; digits 1-9)."""


@dataclass
class LLMRerankConfig:
    retriever: str = help_field("sasrec", "The first stage: any registered model's name.")
    retriever_config: dict[str, Any] = field(
        default_factory=dict, metadata={"help": "Config overrides of the retriever."}
    )
    n_candidates: int = help_field(20, "Candidates the retriever proposes and the LLM orders.")
    backend: Literal["transformers", "openai", "lexical"] = help_field(
        "transformers",
        "transformers: a causal LM in this process; openai: an OpenAI-compatible server; lexical: no model (title similarity).",
    )
    model: str = help_field(
        DEFAULT_LLM,
        "The LLM: a packaged name (SmolLM2-135M-Instruct), a local model folder or .gguf file, or the server's model name.",
    )
    base_url: str = help_field(
        "http://127.0.0.1:8000/v1", "The OpenAI-compatible server (backend=openai), up to /v1."
    )
    mode: Literal["verbalizer", "generate"] = help_field(
        "verbalizer",
        "verbalizer: label log-probabilities (LlamaRec); generate: write and parse a ranking (LLMRank).",
    )
    prompt: Literal["llamarec", "llmrank"] = help_field(
        "llamarec",
        "Prompt style: lettered candidates, answer one letter (llamarec); numbered list, rank them all (llmrank).",
    )
    repeats: int = help_field(
        1,
        "Shuffled listings whose scores are summed (LLMRank's bootstrapping); 1 = the retriever's order, unshuffled.",
    )
    recency_instruction: bool = help_field(
        False,
        "Name the most recent item and ask to weigh recent items more (LLMRank's recency-focused prompt).",
    )
    max_history: int = help_field(
        20, "History items written into the prompt (the most recent ones)."
    )
    item_kind: str = help_field(
        "items", "What the items are called in the prompt (movies, products, ...)."
    )
    max_new_tokens: int = help_field(160, "Longest generated answer (mode=generate).")
    threads: int = help_field(
        1, "torch threads of the in-process LLM (and of the retriever, unless its config says)."
    )
    seed: int = help_field(0, "Seed of the shuffled listings (repeats > 1).")
    eval_users: int = help_field(
        100,
        "Test users a benchmark evaluates it on (a seeded sample, the same for its retriever alone, "
        "reported beside it; 0 = every user: an LLM call per history).",
    )
    timeout_s: float = help_field(60.0, "Per-request timeout (backend=openai).")
    max_retries: int = help_field(
        3, "Retries of a failed request, with exponential backoff (backend=openai)."
    )
    concurrency: int = help_field(4, "Requests in flight at once (backend=openai).")
    cache_responses: bool = help_field(
        True,
        "Keep server responses on disk, keyed by model, prompt and parameters (backend=openai).",
    )


def check_config(config: LLMRerankConfig) -> None:
    """Values the types cannot rule out; each a :class:`ConfigError` naming the field."""
    for name in (
        "n_candidates",
        "repeats",
        "max_history",
        "max_new_tokens",
        "threads",
        "concurrency",
    ):
        if getattr(config, name) < 1:
            raise ConfigError(f"LLMRerankConfig.{name} must be >= 1, got {getattr(config, name)}")
    if config.eval_users < 0:
        raise ConfigError(f"LLMRerankConfig.eval_users must be >= 0 (0 = every user), got {config.eval_users}")
    if config.prompt == "llamarec" and config.n_candidates > MAX_LETTERS:
        raise ConfigError(
            f"LLMRerankConfig.n_candidates: the llamarec prompt letters at most {MAX_LETTERS} candidates, got {config.n_candidates}"
        )
    limit = VERBALIZER_LABELS[config.prompt]
    if config.mode == "verbalizer" and config.n_candidates > limit:
        raise ConfigError(
            f"LLMRerankConfig.n_candidates: the verbalizer needs one token per label and the {config.prompt} prompt has "
            f"{limit} such labels, got {config.n_candidates} (use prompt='llamarec' or mode='generate')"
        )


def language_model_of(config: LLMRerankConfig) -> LanguageModel:
    """The language model the config names (built here, loaded on first use)."""
    if config.backend == "transformers":
        return TransformersLM(config.model, threads=config.threads)
    if config.backend == "openai":
        return OpenAIChatLM(
            config.base_url,
            config.model,
            timeout_s=config.timeout_s,
            max_retries=config.max_retries,
            concurrency=config.concurrency,
            cache=config.cache_responses,
        )
    return LexicalLM()


@dataclass
class RerankStats:
    """What the reranker did since it was built or last reset (``reset_stats``).

    ``first_listed``: prompts whose chosen candidate (the top label, or the first one an answer
    named) was the one listed first; ``chance_first``: what an unbiased model would give (the mean
    of 1 / C). ``parse_failures``: prompts from whose answer no candidate could be read (generate),
    or for which the server reported no label's log-probability (verbalizer).
    """

    users: int = 0
    prompts: int = 0
    chosen: int = 0
    first_listed: int = 0
    chance_first_sum: float = 0.0
    parse_failures: int = 0
    invented_lines: int = 0
    duplicates: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_answers: int = 0
    seconds: float = 0.0
    mode_used: str = ""
    seconds_per_call: list[float] = field(default_factory=list)

    @property
    def position_bias(self) -> float:
        """Share of choices that fell on the first-listed candidate."""
        return self.first_listed / self.chosen if self.chosen else float("nan")

    @property
    def chance_first(self) -> float:
        return self.chance_first_sum / self.prompts if self.prompts else float("nan")

    @property
    def parse_failure_rate(self) -> float:
        return self.parse_failures / self.prompts if self.prompts else float("nan")

    def per_user(self, value: float) -> float:
        return value / self.users if self.users else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "prompts": self.prompts,
            "mode_used": self.mode_used,
            "position_bias": self.position_bias,
            "chance_first": self.chance_first,
            "parse_failure_rate": self.parse_failure_rate,
            "parse_failures": self.parse_failures,
            "invented_lines": self.invented_lines,
            "duplicates": self.duplicates,
            "prompt_tokens_per_user": self.per_user(self.prompt_tokens),
            "completion_tokens_per_user": self.per_user(self.completion_tokens),
            "seconds_per_user": self.per_user(self.seconds),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_answers": self.cached_answers,
            "seconds": self.seconds,
        }


@dataclass
class Reading:
    """One prompt and what the model answered: ``listed[j]`` is the candidate index (into the row's
    candidates) listed ``j``-th; ``scores`` [C] are in candidate order."""

    prompt: RankingPrompt
    listed: np.ndarray
    scores: np.ndarray
    answer: str
    chosen: int | None
    failed: bool
    invented: int = 0
    duplicates: int = 0


class LLMReranker(Recommender[LLMRerankConfig]):
    """The second stage: orders candidates by an LLM's reading of a prompt (see the module docstring).

    ``language_model``: a model to use instead of the one the config names (tests, a shared
    instance). ``retriever``: where :meth:`explain` gets candidates from when used alone.
    """

    name: ClassVar[str] = "llm-reranker"
    Config: ClassVar[type] = LLMRerankConfig
    era: ClassVar[int] = 3
    sequential: ClassVar[bool] = True
    capabilities: ClassVar[Capabilities] = Capabilities(
        dense_scores=False, reranker=True, needs_items=True
    )
    state_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        config: Any = None,
        *,
        language_model: LanguageModel | None = None,
        retriever: Recommender[Any] | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(config, **overrides)
        check_config(self.config)
        self._language_model = language_model
        self.retriever = retriever
        self.stats = RerankStats()
        self._fallback = False

    @property
    def language_model(self) -> LanguageModel:
        if self._language_model is None:
            self._language_model = language_model_of(self.config)
        return self._language_model

    @property
    def mode(self) -> str:
        """The mode in use: the config's, or ``generate`` once a server gave no log-probabilities."""
        return "generate" if self._fallback else self.config.mode

    def reset_stats(self) -> None:
        self.stats = RerankStats()

    def _fit(self, train: SequenceData, valid: Any) -> None:
        """Nothing to learn: the LLM is used zero-shot; ``fit`` has stored the titles (``self.items``)."""

    def _recommend(self, histories: SequenceData, k: int, exclusion: Exclusion) -> np.ndarray:
        raise CapabilityError(
            f"{self.name} only reorders candidates: use it behind a retriever (llm-rerank, TwoStage)"
        )

    # -- prompts -------------------------------------------------------------------------------
    def _titles(self, ids: Sequence[int]) -> list[str]:
        assert self.items is not None  # fit stored them (capabilities.needs_items)
        return [str(self.items.titles[int(i)]) for i in ids]

    def listings(self, candidates: np.ndarray) -> list[np.ndarray]:
        """The orders the row's candidates are listed in: as given (``repeats=1``), else ``repeats``
        permutations seeded by the config's seed, the repeat and the candidates themselves (so a
        row's listings do not depend on the rest of its batch)."""
        if self.config.repeats == 1:
            return [np.arange(len(candidates))]
        orders = []
        for repeat in range(self.config.repeats):
            rng = np.random.default_rng([self.config.seed, repeat, *(int(c) for c in candidates)])
            orders.append(rng.permutation(len(candidates)))
        return orders

    def prompt_for(self, history: Sequence[int], candidates: Sequence[int]) -> RankingPrompt:
        config = self.config
        return build_prompt(
            config.prompt,
            self._titles(list(history)[-config.max_history :]),
            self._titles(candidates),
            max_history=config.max_history,
            recency_instruction=config.recency_instruction,
            item_kind=config.item_kind,
        )

    # -- reading the model -----------------------------------------------------------------------
    def read(self, rows: Sequence[tuple[Sequence[int], np.ndarray]]) -> list[list[Reading]]:
        """For each (history, candidates) row, one :class:`Reading` per listing; the model is asked
        once for all of them (a server then sees up to ``concurrency`` requests at once)."""
        jobs = [
            (r, order, self.prompt_for(history, candidates[order]))
            for r, (history, candidates) in enumerate(rows)
            for order in self.listings(candidates)
        ]
        prompts = [prompt for _, _, prompt in jobs]
        lm = self.language_model
        readings: list[Reading]
        if self.mode == "verbalizer":
            try:
                labels = list(prompts[0].labels) if prompts else []
                logprobs = (
                    lm.next_token_logprobs([p.text for p in prompts], labels)
                    if prompts
                    else np.zeros((0, 0))
                )
                readings = [
                    self._verbalized(p, order, row) for (_, order, p), row in zip(jobs, logprobs)
                ]
            except LogprobsUnavailable:
                self._fallback = True
        if self.mode == "generate":
            answers = (
                lm.generate([p.text for p in prompts], self.config.max_new_tokens)
                if prompts
                else []
            )
            readings = [
                self._generated(p, order, answer) for (_, order, p), answer in zip(jobs, answers)
            ]
        out: list[list[Reading]] = [[] for _ in rows]
        for (r, _, _), reading in zip(jobs, readings):
            out[r].append(reading)
        return out

    @staticmethod
    def _verbalized(prompt: RankingPrompt, order: np.ndarray, logprobs: np.ndarray) -> Reading:
        """Label log-probabilities -> a softmax over the listed candidates (labels the model gave no
        finite value get 0); the chosen one is the top label (the first listed among equals)."""
        values = np.where(np.isfinite(logprobs), logprobs, -np.inf)  # NaN counts as no value
        scores = np.zeros(len(order), dtype=np.float64)
        if not np.isfinite(values).any():
            answer = "(no label among the model's reported tokens)"
            return Reading(prompt, order, scores, answer, None, True)
        probabilities = np.exp(values - values.max())
        probabilities /= probabilities.sum()
        scores[order] = probabilities
        best = int(np.argmax(values))
        top = np.argsort(-values, kind="stable")[:3]
        answer = ", ".join(
            f"{prompt.labels[j]} p={probabilities[j]:.3f}" for j in top if np.isfinite(values[j])
        )
        return Reading(prompt, order, scores, answer, best, False)

    @staticmethod
    def _generated(prompt: RankingPrompt, order: np.ndarray, answer: str) -> Reading:
        parsed = parse_ranking(answer, prompt)
        n = len(order)
        scores = np.zeros(n, dtype=np.float64)
        for rank, position in enumerate(parsed.named):
            scores[order[position]] = (n - rank) / n
        chosen = parsed.named[0] if parsed.named else None
        return Reading(
            prompt, order, scores, answer, chosen, parsed.failed, parsed.invented, parsed.duplicates
        )

    def rerank(self, histories: SequenceData, candidates: np.ndarray) -> np.ndarray:
        """Scores [B, C]: each row's readings summed over its listings (higher = better)."""
        started = time.perf_counter()
        lm = self.language_model
        before = lm.usage.copy()
        rows = [
            (histories.sequence(row).tolist(), np.asarray(candidates[row]))
            for row in range(len(histories))
        ]
        readings = self.read(rows)
        scores = np.zeros(candidates.shape, dtype=np.float64)  # [B, C]
        stats = self.stats
        for row, row_readings in enumerate(readings):
            for reading in row_readings:
                scores[row] += reading.scores
                stats.prompts += 1
                stats.chance_first_sum += 1.0 / max(1, len(reading.listed))
                stats.parse_failures += int(reading.failed)
                stats.invented_lines += reading.invented
                stats.duplicates += reading.duplicates
                if reading.chosen is not None:
                    stats.chosen += 1
                    stats.first_listed += int(reading.chosen == 0)
        elapsed = time.perf_counter() - started
        stats.users += len(histories)
        stats.prompt_tokens += lm.usage.prompt_tokens - before.prompt_tokens
        stats.completion_tokens += lm.usage.completion_tokens - before.completion_tokens
        stats.cached_answers += lm.usage.cached - before.cached
        stats.seconds += elapsed
        stats.seconds_per_call.append(elapsed)
        stats.mode_used = (
            self.mode
            if self.mode == self.config.mode
            else f"{self.mode} (the server gave no logprobs)"
        )
        return scores.astype(np.float32)

    # -- explanations ------------------------------------------------------------------------------
    def explain_candidates(
        self, history: Sequence[int], candidates: Sequence[int], item: int
    ) -> Explanation:
        """The prompt(s) the model read for ``history`` and ``candidates`` and its answer(s), and
        where ``item`` ends up."""
        self.require_fitted()
        candidate_array = np.asarray(list(candidates), dtype=np.int64)
        readings = self.read([(list(history), candidate_array)])[0]
        total = sum((reading.scores for reading in readings), np.zeros(len(candidate_array)))
        order = np.argsort(-total, kind="stable")
        ranked = candidate_array[order].tolist()
        evidence: list[dict[str, Any]] = []
        for repeat, reading in enumerate(readings):
            listed = candidate_array[reading.listed].tolist()
            evidence.append(
                {
                    "repeat": repeat,
                    "mode": self.mode,
                    "prompt": reading.prompt.text,
                    "answer": reading.answer,
                    "item_label": reading.prompt.labels[listed.index(item)]
                    if item in listed
                    else None,
                    "chosen_item": int(listed[reading.chosen])
                    if reading.chosen is not None
                    else None,
                    "parse_failed": reading.failed,
                }
            )
        where = (
            f"ranks it #{ranked.index(item) + 1} of {len(ranked)}"
            if item in ranked
            else f"was not asked about it ({len(ranked)} candidates)"
        )
        summary = f"The LLM ({self.language_model.name}, {self.mode}, {len(readings)} listing(s)) {where}."
        return Explanation(self.name, int(item), summary, ExplanationKind.LLM_ANSWER, evidence)

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        n_items = self.require_fitted()
        if self.retriever is None:
            return self.explain_candidates(history, [item], item)
        histories = SequenceData.from_lists([list(history)], n_items)
        candidates = self.retriever.recommend(histories, self.config.n_candidates)[0].tolist()
        return self.explain_candidates(history, candidates, item)


class LLMRerank(Recommender[LLMRerankConfig]):
    """Retriever + LLM reranker as one registered model (``llm-rerank``; see the module docstring).

    ``language_model``: a model object to use instead of the one the config names; ``retriever``: a
    model to use instead of building ``config.retriever`` (kept as it is by ``fit`` when already
    fitted on the same catalog).
    """

    name: ClassVar[str] = "llm-rerank"
    Config: ClassVar[type] = LLMRerankConfig
    era: ClassVar[int] = 3
    sequential: ClassVar[bool] = True
    capabilities: ClassVar[Capabilities] = Capabilities(
        dense_scores=False, reranker=True, needs_items=True
    )
    contract: ClassVar[ContractSettings] = ContractSettings(
        {"retriever": "markov", "backend": "lexical", "n_candidates": 6, "repeats": 2},
        known_answer="successor-after-exclusion",
        why="the Markov chain proposes the successor first; the lexical stand-in prefers a candidate whose title "
        "repeats a history title (the history's own items), and once those are excluded the cycle world's titles "
        "(bare ids, no shared character n-grams) tie, so the retriever's order stands",
    )
    state_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        config: Any = None,
        *,
        language_model: LanguageModel | None = None,
        retriever: Recommender[Any] | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(config, **overrides)
        check_config(self.config)
        if retriever is not None and retriever.name != self.config.retriever:
            raise ConfigError(
                f"LLMRerankConfig.retriever is {self.config.retriever!r}, the retriever given is {retriever.name!r}"
            )
        self._retriever_given = retriever is not None
        self.retriever = retriever if retriever is not None else self._build_retriever()
        self.reranker = LLMReranker(
            self.config, language_model=language_model, retriever=self.retriever
        )
        self.pipeline = TwoStage(
            self.retriever, self.reranker, n_candidates=self.config.n_candidates
        )

    def _build_retriever(self) -> Recommender[Any]:
        from seqrec.models import REGISTRY

        name = self.config.retriever
        if name not in REGISTRY or name == self.name:
            raise ConfigError(
                f"LLMRerankConfig.retriever must name another registered model, got {name!r}"
            )
        model_class = REGISTRY[name]
        values = dict(self.config.retriever_config)
        if (
            "threads" in {f.name for f in dataclasses.fields(model_class.Config)}
            and "threads" not in values
        ):
            values["threads"] = self.config.threads
        return model_class(values)

    @classmethod
    def unavailable_reason(cls, config: Mapping[str, Any] | None = None) -> str | None:
        values = dict(config or {})
        return missing_requirements(values.get("backend", "transformers"), values.get("model", DEFAULT_LLM))

    def evaluation_users(self) -> int | None:
        return self.config.eval_users or None

    def evaluation_baseline(self) -> Recommender[Any]:
        return self.retriever

    @property
    def stats(self) -> RerankStats:
        """The reranker's record since the model was built or ``reset_stats`` (:class:`RerankStats`)."""
        return self.reranker.stats

    def reset_stats(self) -> None:
        self.reranker.reset_stats()

    def _fit(self, train: SequenceData, valid: Any) -> None:
        """Fit the pipeline; a retriever given already fitted on this catalog is kept as it is (so one
        trained retriever can serve several LLM settings), and only the reranker is fitted."""
        if self._retriever_given and self.retriever.n_items == train.n_items:
            self.reranker.fit(train, valid, items=self.items, world=self.world)
            self.pipeline.items, self.pipeline.world, self.pipeline.n_items = (
                self.items,
                self.world,
                train.n_items,
            )
        else:
            self.pipeline.fit(train, valid, items=self.items, world=self.world)

    def _recommend(self, histories: SequenceData, k: int, exclusion: Exclusion) -> np.ndarray:
        n = self.config.n_candidates
        if k <= n:
            return self.pipeline.recommend(histories, k, exclusion)
        head = self.pipeline.recommend(histories, n, exclusion)  # [B, <= n], reranked
        tail = self.retriever.recommend(histories, k, exclusion)[
            :, head.shape[1] :
        ]  # the retriever's order after them
        return np.concatenate([head, tail], axis=1)

    def rerank(self, histories: SequenceData, candidates: np.ndarray) -> np.ndarray:
        return self.reranker.checked_rerank(histories, candidates)

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """The retriever's position of ``item``, the prompt(s) and the LLM's answer(s) for ``history``."""
        n_items = self.require_fitted()
        histories = SequenceData.from_lists([list(history)], n_items)
        candidates = self.retriever.recommend(histories, self.config.n_candidates)[0].tolist()
        reason = self.reranker.explain_candidates(history, candidates, item)
        if item in candidates:
            proposed = f"{self.retriever.name} proposes it as candidate #{candidates.index(item) + 1} of {len(candidates)}"
        else:
            proposed = (
                f"{self.retriever.name} does not propose it among its {len(candidates)} candidates"
            )
        evidence = [
            {
                "stage": "retriever",
                "model": self.retriever.name,
                "position": candidates.index(item) + 1 if item in candidates else None,
            }
        ]
        evidence += [{"stage": "reranker", **row} for row in reason.evidence]
        return Explanation(
            self.name,
            int(item),
            f"{proposed}; {reason.summary[:1].lower()}{reason.summary[1:]}",
            ExplanationKind.LLM_ANSWER,
            evidence,
        )

    def state(self) -> tuple[StateArrays, StateValues]:
        """The pipeline's state (the retriever's; the LLM is referenced by the config, not stored)."""
        arrays, values = super().state()
        pipeline_arrays, pipeline_values = self.pipeline.state()
        arrays.update(prefixed("pipeline", pipeline_arrays))
        values["pipeline"] = pipeline_values
        return arrays, values

    def restore(
        self,
        arrays: Mapping[str, np.ndarray],
        values: Mapping[str, Any],
        *,
        items: ItemInfo | None = None,
    ) -> Self:
        super().restore(arrays, values, items=items)
        self.pipeline.restore(unprefixed("pipeline", arrays), values["pipeline"], items=items)
        return self


__all__ = ["LLMRerank", "LLMRerankConfig", "LLMReranker", "RerankStats", "language_model_of"]
