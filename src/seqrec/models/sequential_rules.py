"""Sequential rules from frequent sequential patterns, mined PrefixSpan-style with a gap constraint.

Mining follows PrefixSpan (Pei, Han, Mortazavi-Asl, Pinto, Chen, Dayal & Hsu 2001, "PrefixSpan:
Mining sequential patterns efficiently by prefix-projected pattern growth", ICDE): start from the
frequent single items and grow every frequent prefix ``alpha`` by the items that are frequent in
its *projected database* (the parts of the sequences that follow an occurrence of ``alpha``),
depth-first. Sequences here hold one item per event, so the only extension is the
sequence-extension ``alpha + (x,)``.

Support and the gap constraint
    ``support(P)`` = the number of training sequences that contain an *occurrence* of ``P``:
    positions ``j_1 < ... < j_m`` with ``s[j_l] = P[l]`` and ``j_{l+1} - j_l <= max_gap``
    (``max_gap = 1``: contiguous, the "frequent navigational paths" of Mobasher et al. 2002).
    The gap keeps mining tractable on long histories (ML-100K averages 106 items per user): a
    position starts at most ``max_gap ** (m - 1)`` occurrences of a length-``m`` pattern,
    whatever the history length. Because a gap constraint breaks PrefixSpan's "the first
    occurrence suffices" projection, the projected database keeps *every* end position of the
    prefix in each sequence, as in the gap-constrained generalisation of pattern growth
    (Antunes & Oliveira 2003, "Generalization of pattern-growth methods for sequential pattern
    mining with gap constraints", MLDM). Support is anti-monotone under prefix growth, so the
    search prunes exactly as PrefixSpan does.

Rules (deviation: the consequent is the *next* item)
    The antecedents are the frequent gap-constrained patterns ``A`` of length
    ``1 .. max_pattern_length - 1``. A rule ``A -> c`` is the pattern ``A + (c,)`` whose last
    step is contiguous: ``c`` comes *right after* an occurrence of ``A``. Its support is the
    number of sequences with such an occurrence and
    ``confidence = support(A + (c,)) / support(A)``; rules below ``min_support`` or
    ``min_confidence`` are dropped. Why not let the consequent sit up to ``max_gap`` after
    ``A``, as a plain pattern would? Then the rule says "c comes soon", not "c comes next":
    on a strict cycle 1 -> 2 -> 3 -> 4 the rules 1 -> 3 and 2 -> 3 fire after [1, 2, 3] with the
    same confidence as 3 -> 4, and the model recommends what the user just bought. The gap
    still pays off inside the antecedent, which tolerates unrelated items in between
    (massage gun, cat litter, whey protein still matches [massage gun, whey protein]).
    Mobasher, Dai, Luo & Nakagawa 2002 ("Using sequential and non-sequential patterns in
    predictive Web usage mining tasks", ICDM) found contiguous patterns the better next-item
    predictors; with ``max_gap = 1`` this model mines exactly those.

Matching (which rules fire for a history ``h``)
    ``A -> c`` fires when ``A`` occurs in ``h`` under the gap constraint *ending at the last
    item of h*, i.e. exactly when ``h + [c]`` contains an occurrence of the rule's pattern that
    ends at the appended ``c``. The window is implied: an antecedent of length ``m`` reaches
    back at most ``(m - 1) * max_gap + 1`` items.

Scores
    ``score(i) = max confidence of the fired rules whose consequent is i``
    ``           + popularity_weight * count(i) / max_j count(j)``.
    The maximum, as in Mobasher et al. 2002: the rules that fire for one history are nested
    (``(a, b) -> c`` and ``(b,) -> c`` describe the same sequences), so a sum would count the
    same evidence several times and favour items merely for having many overlapping rules. The
    popularity term ranks the items no rule names: evaluation ties are pessimistic, so an
    all-zero tail would rank every such target last, below any honest fallback. With
    ``popularity_weight`` (default 1e-4) below ``min_confidence``, every fired item outranks
    every unfired one; among fired items it only reorders confidences closer than 1e-4.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.base import (
    Capabilities,
    ConfigError,
    ContractSettings,
    Explanation,
    ExplanationKind,
    Recommender,
    StateArrays,
    StateValues,
    help_field,
    ragged_arrays,
    ragged_rows,
)

Pattern = tuple[int, ...]


@dataclass
class SequentialRulesConfig:
    min_support: int = help_field(
        5, "a pattern must occur in at least this many training sequences"
    )
    min_confidence: float = help_field(0.02, "rules with confidence below this are dropped")
    max_pattern_length: int = help_field(3, "longest rule pattern (antecedent length + 1), >= 2")
    max_gap: int = help_field(
        3, "antecedent items lie at most this many positions apart (1 = contiguous)"
    )
    popularity_weight: float = help_field(
        1e-4, "weight of normalised popularity, ranks unnamed items"
    )

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.min_support < 1:
            raise ConfigError(f"{owner}.min_support must be >= 1, got {self.min_support}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(
                f"{owner}.min_confidence must lie in [0, 1], got {self.min_confidence}"
            )
        if self.max_pattern_length < 2:
            raise ConfigError(
                f"{owner}.max_pattern_length must be >= 2, got {self.max_pattern_length}"
            )
        if self.max_gap < 1:
            raise ConfigError(f"{owner}.max_gap must be >= 1, got {self.max_gap}")
        if not 0.0 <= self.popularity_weight < 0.01:
            raise ConfigError(
                f"{owner}.popularity_weight must lie in [0, 0.01), got {self.popularity_weight}"
            )


@dataclass(frozen=True)
class Rule:
    antecedent: Pattern
    consequent: int
    support: int  # sequences where the consequent comes right after an occurrence of the antecedent
    antecedent_support: int
    confidence: float


# -- mining ------------------------------------------------------------------------------------
class _Positions:
    """Per global position of the flat training items: its sequence and where that sequence ends."""

    def __init__(self, train: SequenceData) -> None:
        self.items = train.items  # [N]
        self.sequence_of = np.repeat(np.arange(len(train), dtype=np.int64), train.lengths)  # [N]
        self.sequence_end = train.offsets[1:][self.sequence_of]  # [N] one past the last position


def _frequent_patterns(
    index: _Positions, min_support: int, max_length: int, max_gap: int
) -> Iterator[tuple[Pattern, int, np.ndarray]]:
    """Depth-first PrefixSpan: (pattern, support, end positions of its occurrences) for every
    frequent gap-constrained pattern of length <= ``max_length``, each prefix before its growths."""
    singles = _frequent_items(index, min_support)
    stack: list[tuple[Pattern, int, np.ndarray]] = [((i,), s, e) for i, s, e in reversed(singles)]
    while stack:
        pattern, support, ends = stack.pop()
        yield pattern, support, ends
        if len(pattern) < max_length:
            grown = _frequent_extensions(ends, index, min_support, max_gap)
            stack.extend(reversed([(pattern + (item,), s, e) for item, s, e in grown]))


def _frequent_items(index: _Positions, min_support: int) -> list[tuple[int, int, np.ndarray]]:
    """(item, support, its positions [E]) for each item in at least ``min_support`` sequences."""
    return _group_by_item(np.arange(len(index.items)), index, min_support)


def _frequent_extensions(
    ends: np.ndarray, index: _Positions, min_support: int, max_step: int
) -> list[tuple[int, int, np.ndarray]]:
    """The projected database of a prefix: the items 1..``max_step`` positions after any of its
    occurrence ends [E]. Returns (item, support, end positions of the extended pattern) for the
    frequent ones."""
    steps = np.arange(1, max_step + 1)  # [G]
    candidates = ends[:, None] + steps[None, :]  # [E, G]
    inside = candidates < index.sequence_end[ends][:, None]  # stay inside the same sequence
    return _group_by_item(np.unique(candidates[inside]), index, min_support)


def _group_by_item(
    positions: np.ndarray, index: _Positions, min_support: int
) -> list[tuple[int, int, np.ndarray]]:
    """Group distinct sorted positions [C] by item; keep items in >= ``min_support`` sequences."""
    if len(positions) == 0:
        return []
    items = index.items[positions]
    order = np.lexsort((positions, items))  # by item, then position (hence by sequence)
    positions, items = positions[order], items[order]
    sequences = index.sequence_of[positions]
    new_item = np.r_[True, items[1:] != items[:-1]]
    new_pair = new_item | np.r_[True, sequences[1:] != sequences[:-1]]
    starts = np.flatnonzero(new_item)
    support = np.add.reduceat(new_pair.astype(np.int64), starts)  # distinct sequences per item
    bounds = np.r_[starts, len(positions)]
    return [
        (int(items[start]), int(support[group]), positions[start : bounds[group + 1]])
        for group, start in enumerate(starts)
        if support[group] >= min_support
    ]


def mine_patterns(
    train: SequenceData, min_support: int, max_length: int, max_gap: int
) -> dict[Pattern, int]:
    """Every gap-constrained sequential pattern with support >= ``min_support``, and its support."""
    index = _Positions(train)
    return {p: s for p, s, _ in _frequent_patterns(index, min_support, max_length, max_gap)}


def mine_rules(
    train: SequenceData,
    min_support: int,
    min_confidence: float,
    max_pattern_length: int,
    max_gap: int,
) -> tuple[dict[Pattern, int], list[Rule]]:
    """The antecedents (frequent patterns up to ``max_pattern_length - 1``, with supports) and the
    rules ``A -> c`` where ``c`` comes right after ``A`` (see "Rules" above)."""
    index = _Positions(train)
    antecedents: dict[Pattern, int] = {}
    rules: list[Rule] = []
    for pattern, support, ends in _frequent_patterns(
        index, min_support, max_pattern_length - 1, max_gap
    ):
        antecedents[pattern] = support
        for item, rule_support, _ in _frequent_extensions(ends, index, min_support, max_step=1):
            confidence = rule_support / support
            if confidence >= min_confidence:
                rules.append(Rule(pattern, item, rule_support, support, confidence))
    return antecedents, rules


def matching_antecedents(
    history: Sequence[int],
    max_gap: int,
    max_length: int,
    known_suffixes: set[Pattern] | None = None,
) -> set[Pattern]:
    """Every pattern of length <= ``max_length`` that occurs in ``history`` under the gap
    constraint and ends at its last item (see "Matching").

    Built backwards from the last item; ``known_suffixes`` (the suffixes of all antecedents)
    prunes branches no rule can complete.
    """
    if len(history) == 0:
        return set()
    found: set[Pattern] = set()
    stack: list[tuple[Pattern, int]] = [((int(history[-1]),), len(history) - 1)]
    while stack:
        suffix, first = stack.pop()
        if known_suffixes is not None and suffix not in known_suffixes:
            continue
        found.add(suffix)
        if len(suffix) < max_length:
            for before in range(max(0, first - max_gap), first):
                stack.append(((int(history[before]), *suffix), before))
    return found


# -- the model ---------------------------------------------------------------------------------
class SequentialRules(Recommender[SequentialRulesConfig]):
    """Recommend the consequents of mined sequential rules whose antecedent ends the history."""

    name: ClassVar[str] = "seq-rules"
    contract = ContractSettings({})
    capabilities = Capabilities(finite_scores=False)  # items no rule reaches score -inf
    Config: ClassVar[type] = SequentialRulesConfig
    era: ClassVar[int] = 1
    sequential: ClassVar[bool] = True
    state_attributes: ClassVar[tuple[str, ...]] = ("_popularity",)
    """Saved with the antecedents (``antecedents.items`` flat with ``.offsets``, ``.support``) and
    the rules (``rules.antecedent_items``/``.antecedent_offsets``, ``.consequent``, ``.support``,
    ``.antecedent_support``, ``.confidence``), in mining order; the indexes are rebuilt on restore."""

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "min_support": trial.suggest_int("min_support", 2, 20, log=True),
            "min_confidence": trial.suggest_float("min_confidence", 0.005, 0.2, log=True),
            "max_gap": trial.suggest_int("max_gap", 1, 5),
            "max_pattern_length": trial.suggest_int("max_pattern_length", 2, 4),
        }

    def _fit(self, train: SequenceData, valid: Any) -> None:
        config = self.config
        self.antecedents, self.rules = mine_rules(
            train,
            config.min_support,
            config.min_confidence,
            config.max_pattern_length,
            config.max_gap,
        )
        self._index_rules()
        counts = train.item_counts().astype(np.float64)  # [n_items + 1]
        self._popularity = counts / counts.max() if counts.max() > 0 else counts

    def state(self) -> tuple[StateArrays, StateValues]:
        arrays, values = super().state()
        patterns, pattern_offsets = ragged_arrays(list(self.antecedents))
        antecedents, antecedent_offsets = ragged_arrays([rule.antecedent for rule in self.rules])
        arrays.update(
            {
                "antecedents.items": patterns,
                "antecedents.offsets": pattern_offsets,
                "antecedents.support": np.array(list(self.antecedents.values()), dtype=np.int64),
                "rules.antecedent_items": antecedents,
                "rules.antecedent_offsets": antecedent_offsets,
                "rules.consequent": np.array([rule.consequent for rule in self.rules], dtype=np.int64),
                "rules.support": np.array([rule.support for rule in self.rules], dtype=np.int64),
                "rules.antecedent_support": np.array([rule.antecedent_support for rule in self.rules], dtype=np.int64),
                "rules.confidence": np.array([rule.confidence for rule in self.rules], dtype=np.float64),
            }
        )
        return arrays, values

    def restore(self, arrays: Mapping[str, np.ndarray], values: Mapping[str, Any], *, items: ItemInfo | None = None) -> Self:
        super().restore(arrays, values, items=items)
        patterns = ragged_rows(arrays["antecedents.items"], arrays["antecedents.offsets"])
        self.antecedents = dict(zip(patterns, arrays["antecedents.support"].tolist()))
        columns = (
            ragged_rows(arrays["rules.antecedent_items"], arrays["rules.antecedent_offsets"]),
            arrays["rules.consequent"].tolist(),
            arrays["rules.support"].tolist(),
            arrays["rules.antecedent_support"].tolist(),
            arrays["rules.confidence"].tolist(),
        )
        self.rules = [Rule(*row) for row in zip(*columns)]
        self._index_rules()
        return self

    def _index_rules(self) -> None:
        """Rules grouped by antecedent: consequents [R_a] and confidences [R_a] per antecedent."""
        grouped: dict[Pattern, list[Rule]] = defaultdict(list)
        for rule in self.rules:
            grouped[rule.antecedent].append(rule)
        self._rules_by_antecedent = dict(grouped)
        self._consequents = {
            a: (
                np.array([r.consequent for r in rs], dtype=np.int64),
                np.array([r.confidence for r in rs]),
            )
            for a, rs in grouped.items()
        }
        self._antecedent_suffixes = {a[start:] for a in grouped for start in range(len(a))}

    def fired_antecedents(self, history: Sequence[int]) -> list[Pattern]:
        """The antecedents of the rules that fire after ``history`` (sorted)."""
        self.require_fitted()
        candidates = matching_antecedents(
            history,
            self.config.max_gap,
            self.config.max_pattern_length - 1,
            self._antecedent_suffixes,
        )
        return sorted(a for a in candidates if a in self._consequents)

    def _score(self, histories: SequenceData) -> np.ndarray:
        n_items = self.require_fitted()
        best = np.zeros((len(histories), n_items + 1), dtype=np.float64)  # [B, n_items + 1]
        for row, history in enumerate(histories):
            for antecedent in self.fired_antecedents(history.tolist()):
                consequents, confidences = self._consequents[antecedent]  # [R_a], [R_a]
                best[row, consequents] = np.maximum(best[row, consequents], confidences)
        scores = (best + self.config.popularity_weight * self._popularity[None, :]).astype(
            np.float32
        )
        return scores

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """The rules that fired for ``item`` after ``history``, most confident first."""
        n_items = self.require_fitted()
        if not 1 <= int(item) <= n_items:
            raise ValueError(f"{self.name}.explain: item {item} is not in 1..{n_items}")
        fired = [
            rule
            for antecedent in self.fired_antecedents([int(i) for i in history])
            for rule in self._rules_by_antecedent[antecedent]
            if rule.consequent == int(item)
        ]
        fired.sort(key=lambda r: (-r.confidence, -r.support, r.antecedent))
        evidence = [
            {
                "antecedent": list(rule.antecedent),
                "item": rule.consequent,
                "support": rule.support,
                "antecedent_support": rule.antecedent_support,
                "confidence": rule.confidence,
            }
            for rule in fired
        ]
        return Explanation(self.name, int(item), self._summary(fired, int(item)), ExplanationKind.RULES, evidence)

    def _summary(self, fired: list[Rule], item: int) -> str:
        if not fired:
            fallback = self.config.popularity_weight * self._popularity[item]
            return (
                f"No mined rule predicts item {item} after this history; it is ranked by "
                f"popularity only (score {fallback:.2g})."
            )
        best = fired[0]
        more = f" ({len(fired) - 1} more rule(s) fired)" if len(fired) > 1 else ""
        return (
            f"Rule {list(best.antecedent)} -> {item}: in {best.support} of the "
            f"{best.antecedent_support} training sequences with {list(best.antecedent)}, item "
            f"{item} came right after it (confidence {best.confidence:.0%}){more}."
        )


# -- the slow, obviously-correct references ----------------------------------------------------
def _occurrences(
    seq: Sequence[int], max_length: int, max_gap: int
) -> Iterator[tuple[Pattern, int]]:
    """Every gap-constrained occurrence in ``seq``: (pattern, position of its last item)."""
    partial: list[tuple[Pattern, int]] = [((seq[j],), j) for j in range(len(seq))]
    while partial:
        pattern, last = partial.pop()
        yield pattern, last
        if len(pattern) < max_length:
            for nxt in range(last + 1, min(len(seq), last + max_gap + 1)):
                partial.append(((*pattern, seq[nxt]), nxt))


def mine_patterns_reference(
    sequences: Sequence[Sequence[int]], min_support: int, max_length: int, max_gap: int
) -> dict[Pattern, int]:
    """Brute force: list every occurrence in every sequence, count sequences per pattern."""
    counts: dict[Pattern, int] = defaultdict(int)
    for seq in sequences:
        for pattern in {p for p, _ in _occurrences(seq, max_length, max_gap)}:
            counts[pattern] += 1
    return {p: c for p, c in counts.items() if c >= min_support}


def mine_rules_reference(
    sequences: Sequence[Sequence[int]],
    min_support: int,
    min_confidence: float,
    max_pattern_length: int,
    max_gap: int,
) -> set[tuple[Pattern, int, int, int]]:
    """Brute force: (antecedent, consequent, support, antecedent support) of every rule."""
    antecedents = mine_patterns_reference(sequences, min_support, max_pattern_length - 1, max_gap)
    counts: dict[tuple[Pattern, int], int] = defaultdict(int)
    for seq in sequences:
        followed = {
            (p, seq[last + 1])
            for p, last in _occurrences(seq, max_pattern_length - 1, max_gap)
            if last + 1 < len(seq)
        }
        for key in followed:
            counts[key] += 1
    return {
        (a, c, n, antecedents[a])
        for (a, c), n in counts.items()
        if a in antecedents and n >= min_support and n / antecedents[a] >= min_confidence
    }
