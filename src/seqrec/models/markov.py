"""Markov chains of order 1 and order k over item sequences, with interpolated absolute discounting.

The oldest sequential recommender: predict the next item from the last ``k`` items alone
(Zimdars, Chickering & Meek 2001, "Using temporal data for making recommendations", UAI; Shani,
Heckerman & Brafman 2005, "An MDP-based recommender system", JMLR, use the same k-gram counts).
Counts of ``(context of the last k items -> next item)`` are sparse, so the estimate must be
smoothed: we use **interpolated absolute discounting** (Ney, Essen & Kneser 1994, "On
structuring probabilistic dependences in stochastic language modelling", Computer Speech &
Language 8(1); in the interpolated form written out by Chen & Goodman 1998, "An empirical study
of smoothing techniques for language modeling", TR-10-98, eq. 14 with the weight of eq. 15):

    P_m(i | ctx_m) = max(c(ctx_m, i) - d, 0) / c(ctx_m)
                     + d * N1+(ctx_m) / c(ctx_m) * P_{m-1}(i | ctx_{m-1})        (m = k .. 1)

    P_0(i)         = max(c(i) - d, 0) / N  +  d * N1+ / N * 1 / n_items          (popularity)

where ``ctx_m`` is the last ``m`` history items, ``ctx_{m-1} = ctx_m[1:]`` (drop the oldest),
``c(ctx_m, i)`` counts how often ``ctx_m`` was immediately followed by ``i`` in training,
``c(ctx_m) = sum_i c(ctx_m, i)`` (occurrences *followed by something*; an occurrence at the end
of a sequence predicts nothing), ``N1+(ctx_m) = |{i : c(ctx_m, i) > 0}|``, ``c(i)`` counts every
interaction with ``i``, ``N`` all interactions and ``N1+`` the distinct items seen. With
``0 < d <= 1`` each level is a proper distribution over items ``1..n_items`` (the discounted mass
``d * N1+ / c`` is exactly what the back-off weight hands down), so the final scores are
probabilities that sum to one. A context never seen in training (``c(ctx_m) = 0``) backs off
entirely: ``P_m = P_{m-1}`` (the convention of NLTK's ``InterpolatedLanguageModel``). A history
shorter than ``m`` has no order-``m`` context and is treated the same way.

Deviations, and why:

* Lower orders use raw counts, not Kneser-Ney continuation counts: with items, "how many
  distinct items precede ``i``" says little more than popularity, and raw counts keep the
  explanation readable ("41% of the time, ``i`` came next").
* The discount ``d`` is one number for all orders (default 0.75, tunable), not Ney's per-order
  estimate ``n1 / (n1 + 2 n2)``; ``seqrec tune`` can search it.

Storage: the order-``m`` contexts form a trie. Order 0 has one row (the empty context). An
order-``m`` context ``(a, *rest)`` is keyed by ``a * n_rows[m-1] + row_{m-1}(rest)``; every
suffix of a context that was followed by something was itself followed by something, so the
suffix always has a row. Keys are kept sorted and looked up with ``np.searchsorted``; counts live
in one CSR matrix per order. Order 1 is therefore one sparse row lookup per history, and a
1M-interaction log costs O(k * 1M) integers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.base import (
    ConfigError,
    ContractSettings,
    Explanation,
    ExplanationKind,
    Recommender,
    StateArrays,
    StateValues,
    help_field,
    pack_state,
    prefixed,
    unpack_state,
    unprefixed,
)

SCORE_BATCH = 512
"""Histories scored per dense block (bounds memory at SCORE_BATCH * (n_items + 1) floats)."""


@dataclass
class MarkovChainConfig:
    order: int = help_field(1, "number of most recent items the next item is conditioned on (k)")
    discount: float = help_field(0.75, "absolute discount d in (0, 1] subtracted from every count")

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.order < 1:
            raise ConfigError(f"{owner}.order must be >= 1, got {self.order}")
        if not 0.0 < self.discount <= 1.0:
            raise ConfigError(f"{owner}.discount must lie in (0, 1], got {self.discount}")


@dataclass
class MarkovChainKConfig(MarkovChainConfig):
    order: int = help_field(3, "number of most recent items the next item is conditioned on (k)")


@dataclass
class _Level:
    """The counts of one order ``m >= 1`` (rows = contexts seen followed by something)."""

    keys: np.ndarray  # [R] int64, sorted: first_item * n_rows[m-1] + row of the suffix
    contexts: np.ndarray  # [R, m] int64, the context items, oldest first
    counts: sp.csr_matrix  # [R + 1, n_items + 1] c(ctx, i); the extra last row is "unseen" (empty)
    discounted: sp.csr_matrix  # [R + 1, n_items + 1] max(c - d, 0) / c(ctx)
    totals: np.ndarray  # [R + 1] c(ctx) (0 for the unseen row)
    distinct: np.ndarray  # [R + 1] N1+(ctx)
    backoff: np.ndarray  # [R + 1] d * N1+(ctx) / c(ctx); 1.0 for the unseen row

    @property
    def unseen_row(self) -> int:
        return len(self.keys)


class MarkovChain(Recommender[MarkovChainConfig]):
    """Order-k Markov chain with interpolated absolute discounting (order 1 by default)."""

    name: ClassVar[str] = "markov"
    contract = ContractSettings({})
    Config: ClassVar[type] = MarkovChainConfig
    era: ClassVar[int] = 1
    sequential: ClassVar[bool] = True
    state_attributes: ClassVar[tuple[str, ...]] = ("_unigram_counts",)
    """Saved with the counts of every order (``order{m}.keys``, ``.contexts``, ``.counts`` as CSR);
    the smoothed probabilities are recomputed from them on restore (the same arithmetic)."""

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {"discount": trial.suggest_float("discount", 0.1, 1.0)}

    # -- fit ------------------------------------------------------------------------------
    def _fit(self, train: SequenceData, valid: Any) -> None:
        order, discount = int(self.config.order), float(self.config.discount)
        self._unigram_counts = train.item_counts()  # [n_items + 1]
        self._unigram = _unigram_distribution(self._unigram_counts, discount, train.n_items)  # [n_items + 1]
        self._levels: list[_Level] = []
        # Before every position sits the empty (order-0) context, row 0.
        suffix_rows = np.zeros(train.n_interactions, dtype=np.int64)  # [N]
        n_suffix_rows = 1
        for m in range(1, order + 1):
            level, suffix_rows = _count_level(train, m, discount, suffix_rows, n_suffix_rows)
            self._levels.append(level)
            n_suffix_rows = len(level.keys)

    # -- state ----------------------------------------------------------------------------
    def state(self) -> tuple[StateArrays, StateValues]:
        arrays, values = super().state()
        for m, level in enumerate(self._levels, start=1):
            parts, _ = pack_state({"keys": level.keys, "contexts": level.contexts, "counts": level.counts}, self.name)
            arrays.update(prefixed(f"order{m}", parts))
        return arrays, values

    def restore(self, arrays: Mapping[str, np.ndarray], values: Mapping[str, Any], *, items: ItemInfo | None = None) -> Self:
        super().restore(arrays, values, items=items)
        discount = float(self.config.discount)
        self._unigram = _unigram_distribution(self._unigram_counts, discount, self.require_fitted())
        self._levels = []
        for m in range(1, int(self.config.order) + 1):
            parts = unpack_state(unprefixed(f"order{m}", arrays), {}, ("keys", "contexts", "counts"), f"{self.name} order {m}")
            self._levels.append(_make_level(parts["keys"], parts["counts"], discount, parts["contexts"]))
        return self

    # -- score ----------------------------------------------------------------------------
    def _score(self, histories: SequenceData) -> np.ndarray:
        n_items = self.require_fitted()
        out = np.empty((len(histories), n_items + 1), dtype=np.float32)  # [B, n_items + 1]
        for start in range(0, len(histories), SCORE_BATCH):
            block = histories.rows(slice(start, start + SCORE_BATCH))
            out[start : start + len(block)] = self._score_block(block)
        return out

    def _score_block(self, histories: SequenceData) -> np.ndarray:
        rows_per_order = self._context_rows(histories)  # order m -> [B] row (or the unseen row)
        probs = np.tile(self._unigram, (len(histories), 1))  # [B, n_items + 1], P_0
        for level, rows in zip(self._levels, rows_per_order):
            # P_m = discounted counts + backoff weight * P_{m-1}  (Chen & Goodman 1998, eq. 14)
            probs *= level.backoff[rows][:, None]
            probs += level.discounted[rows].toarray()
        return probs

    def _context_rows(self, histories: SequenceData) -> list[np.ndarray]:
        """For each order m = 1..k, the row [B] of every history's last-m-items context."""
        order = len(self._levels)
        tails = histories.padded(order)  # [B, k], most recent item last, 0 where too short
        suffix_rows = np.zeros(len(histories), dtype=np.int64)  # order 0: the one empty context
        suffix_seen = np.ones(len(histories), dtype=bool)
        n_suffix_rows = 1
        rows_per_order = []
        for m, level in enumerate(self._levels, start=1):
            first_items = tails[:, order - m]  # [B] the oldest item of the order-m context
            keys = first_items * n_suffix_rows + suffix_rows
            rows, found = _lookup(level.keys, keys)
            seen = suffix_seen & found & (first_items != 0)
            rows = np.where(seen, rows, level.unseen_row)
            rows_per_order.append(rows)
            suffix_rows, suffix_seen, n_suffix_rows = rows, seen, len(level.keys)
        return rows_per_order

    # -- explain --------------------------------------------------------------------------
    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """The transition probabilities used, one evidence row per order (highest first)."""
        n_items = self.require_fitted()
        if not 1 <= int(item) <= n_items:
            raise ValueError(f"{self.name}.explain: item {item} is not in 1..{n_items}")
        history_data = SequenceData.from_lists([list(history)], n_items)
        rows = [int(r[0]) for r in self._context_rows(history_data)]
        levels = self._level_terms(rows, int(item))  # order 0 first
        _attach_weights(levels)
        final = levels[-1]["probability"]
        return Explanation(
            model=self.name,
            item=int(item),
            summary=_markov_summary(levels, int(item), final),
            kind=ExplanationKind.TRANSITIONS,
            evidence=list(reversed(levels)),
        )

    def _level_terms(self, rows: list[int], item: int) -> list[dict[str, Any]]:
        """P_m(item | ctx_m) and its parts for m = 0..k, recomputed from the stored counts."""
        total = int(self._unigram_counts.sum())
        terms = [
            {
                "order": 0,
                "context": [],
                "seen": total > 0,
                "context_count": total,
                "item": item,
                "item_count": int(self._unigram_counts[item]),
                "distinct_next": int(np.count_nonzero(self._unigram_counts)),
                "probability": float(self._unigram[item]),
                "backoff_weight": float(
                    _unigram_backoff(self._unigram_counts, self.config.discount)
                ),
            }
        ]
        lower = float(self._unigram[item])
        for m, (level, row) in enumerate(zip(self._levels, rows), start=1):
            seen = row != level.unseen_row
            probability = float(level.discounted[row, item]) + float(level.backoff[row]) * lower
            terms.append(
                {
                    "order": m,
                    "context": [int(i) for i in level.contexts[row]] if seen else [],
                    "seen": bool(seen),
                    "context_count": int(level.totals[row]),
                    "item": item,
                    "item_count": int(level.counts[row, item]),
                    "distinct_next": int(level.distinct[row]),
                    "probability": probability,
                    "backoff_weight": float(level.backoff[row]),
                }
            )
            lower = probability
        return terms

    def transition_probability(self, history: Sequence[int], item: int) -> float:
        """P(item | history) from the fitted model (one history, one item)."""
        n_items = self.require_fitted()
        scores = self.score(SequenceData.from_lists([list(history)], n_items))
        return float(scores[0, item])


class MarkovChainK(MarkovChain):
    """The same chain with a longer context by default (order 3)."""

    name: ClassVar[str] = "markov-k"
    Config: ClassVar[type] = MarkovChainKConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "order": trial.suggest_int("order", 2, 5),
            "discount": trial.suggest_float("discount", 0.1, 1.0),
        }


# -- counting ---------------------------------------------------------------------------------
def _unigram_backoff(counts: np.ndarray, discount: float) -> float:
    """d * N1+ / N, the weight of the uniform distribution at order 0 (1 when nothing was seen)."""
    total = counts.sum()
    return 1.0 if total == 0 else discount * np.count_nonzero(counts) / total


def _unigram_distribution(item_counts: np.ndarray, discount: float, n_items: int) -> np.ndarray:
    """P_0 [n_items + 1] from the training counts of every item: discounted popularity
    interpolated with the uniform distribution."""
    counts = item_counts.astype(np.float64)  # [n_items + 1], index 0 is 0
    total = counts.sum()
    discounted = np.maximum(counts - discount, 0.0) / total if total > 0 else np.zeros_like(counts)
    probs = discounted + _unigram_backoff(counts, discount) / n_items
    probs[0] = 0.0
    return probs


def _count_level(
    train: SequenceData, m: int, discount: float, suffix_rows: np.ndarray, n_suffix_rows: int
) -> tuple[_Level, np.ndarray]:
    """Counts of order ``m`` and, per training position, the row of the context ending before it.

    ``suffix_rows[p]`` is the order-(m-1) row of the context just before position ``p`` (valid
    where that context exists); the order-m context before ``p`` adds the item at ``p - m``.
    """
    n_items = train.n_items
    starts = np.repeat(train.offsets[:-1], train.lengths)  # [N] first position of each row
    positions = np.arange(train.n_interactions)
    has_context = positions - starts >= m  # [N]
    targets = positions[has_context]
    first_items = train.items[targets - m]  # [T] oldest item of the context
    keys = first_items * n_suffix_rows + suffix_rows[targets]  # [T]
    unique_keys, context_of = np.unique(keys, return_inverse=True)  # [R], [T]
    n_rows = len(unique_keys)
    counts = sp.csr_matrix(
        (np.ones(len(targets)), (context_of, train.items[targets])), shape=(n_rows + 1, n_items + 1)
    )
    counts.sum_duplicates()
    level = _make_level(
        unique_keys, counts, discount, _context_items(train, targets, context_of, m, n_rows)
    )
    rows_here = np.zeros(train.n_interactions, dtype=np.int64)
    rows_here[targets] = context_of
    return level, rows_here


def _context_items(
    train: SequenceData, targets: np.ndarray, context_of: np.ndarray, m: int, n_rows: int
) -> np.ndarray:
    """The m items of each context row [R, m], oldest first (for explanations)."""
    contexts = np.zeros((n_rows, m), dtype=np.int64)
    for offset in range(m):
        contexts[context_of, offset] = train.items[targets - m + offset]
    return contexts


def _make_level(
    keys: np.ndarray, counts: sp.csr_matrix, discount: float, contexts: np.ndarray
) -> _Level:
    totals = np.asarray(counts.sum(axis=1)).ravel()  # [R + 1]
    distinct = np.diff(counts.indptr)  # [R + 1]
    safe_totals = np.where(totals > 0, totals, 1.0)
    discounted = counts.copy()
    row_of_entry = np.repeat(np.arange(counts.shape[0]), distinct)
    discounted.data = np.maximum(counts.data - discount, 0.0) / safe_totals[row_of_entry]
    backoff = np.where(totals > 0, discount * distinct / safe_totals, 1.0)
    return _Level(keys, contexts, counts, discounted, totals, distinct, backoff)


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each key in ``sorted_keys`` and whether it is there."""
    index = np.searchsorted(sorted_keys, keys)
    inside = index < len(sorted_keys)
    found = np.zeros(len(keys), dtype=bool)
    found[inside] = sorted_keys[index[inside]] == keys[inside]
    return np.minimum(index, max(len(sorted_keys) - 1, 0)), found


# -- explanations -------------------------------------------------------------------------------
def _attach_weights(levels: list[dict[str, Any]]) -> None:
    """``weight`` = product of the back-off weights above a level: its share of the final P."""
    weight = 1.0
    for level in reversed(levels):
        level["weight"] = weight
        weight *= level["backoff_weight"]


def _markov_summary(levels: list[dict[str, Any]], item: int, final: float) -> str:
    """Cite the longest seen context followed by ``item`` (and a longer one that was not)."""
    seen = [lv for lv in levels if lv["order"] > 0 and lv["seen"]]
    followed = [lv for lv in seen if lv["item_count"] > 0]
    if not followed:
        where = (
            f"the last item(s) {seen[-1]['context']} were never followed by it"
            if seen
            else ("the last item(s) never preceded anything in training")
        )
        return (
            f"No transition to item {item} was seen: {where}, so its probability comes from "
            f"popularity ({levels[0]['item_count']} of {levels[0]['context_count']} interactions); "
            f"P = {final:.1%}."
        )
    top = followed[-1]
    text = (
        f"After item(s) {top['context']}, item {item} came next in "
        f"{top['item_count'] / top['context_count']:.0%} of {top['context_count']} cases "
        f"({top['item_count']} times)"
    )
    if seen[-1] is not top:
        longest = seen[-1]
        text += (
            f", but never after the longer {longest['context']} ({longest['context_count']} cases)"
        )
    return f"{text}; smoothed P = {final:.1%}."


# -- the slow, obviously-correct reference -----------------------------------------------------
def markov_probability_reference(
    sequences: Sequence[Sequence[int]],
    n_items: int,
    order: int,
    discount: float,
    history: Sequence[int],
    item: int,
) -> float:
    """P_k(item | history) straight from the formula in the module docstring, counting afresh.

    Quadratic and pure Python: for tests against the fast path only.
    """
    history = list(history)
    unigram = Counter(i for seq in sequences for i in seq)
    total = sum(unigram.values())
    if total == 0:
        probability = 1.0 / n_items
    else:
        probability = (
            max(unigram[item] - discount, 0) / total + discount * len(unigram) / total / n_items
        )
    for m in range(1, order + 1):
        if len(history) < m:
            continue
        context = tuple(history[-m:])
        followers: Counter[int] = Counter(
            seq[t]
            for seq in sequences
            for t in range(m, len(seq))
            if tuple(seq[t - m : t]) == context
        )
        context_total = sum(followers.values())
        if context_total == 0:
            continue
        discounted = max(followers[item] - discount, 0) / context_total
        probability = discounted + discount * len(followers) / context_total * probability
    return probability
