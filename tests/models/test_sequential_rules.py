"""Sequential rules: mined patterns and rules checked against a hand enumeration.

Corpus (min_support = 2, max_pattern_length = 3, max_gap = 2):

    S1 = 1 2 3    S2 = 1 5 2 3    S3 = 1 2 4    S4 = 2 3    S5 = 2 4

Patterns (every step at most 2 positions apart):

* length 1: 1 in S1 S2 S3 (3); 2 in all (5); 3 in S1 S2 S4 (3); 4 in S3 S5 (2); 5 in S2 (1, out);
* length 2: S1 {12, 13, 23}; S2 {15, 12 (1 _ 2), 52, 53, 23}; S3 {12, 14, 24}; S4 {23}; S5 {24}.
  Frequent: 12 (S1 S2 S3) = 3, 23 (S1 S2 S4) = 3, 24 (S3 S5) = 2; 13 only in S1 (in S2 the 3 is
  three positions after the 1);
* length 3: S1 {123}; S2 {152, 153, 123 (positions 0 2 3), 523}; S3 {124}. Frequent: 123 = 2.

Rules (the consequent comes right after an occurrence of the antecedent; antecedents have
length <= 2):

* after 1: 2 in S1 S3, 5 in S2  ->  1 -> 2: support 2, confidence 2/3;
* after 2: 3 in S1 S2 S4, 4 in S3 S5  ->  2 -> 3: 3/5;  2 -> 4: 2/5;
* after 1 _ 2: 3 in S1 and S2 (1 5 2 3), 4 in S3  ->  (1, 2) -> 3: 2/3;
* 3, 4, 23 and 24 end their sequences: no rules.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.base import ConfigError, NotFittedError
from seqrec.models.sequential_rules import (
    SequentialRules,
    matching_antecedents,
    mine_patterns,
    mine_patterns_reference,
    mine_rules,
    mine_rules_reference,
)

torch.set_num_threads(1)

CORPUS = [[1, 2, 3], [1, 5, 2, 3], [1, 2, 4], [2, 3], [2, 4]]
N_ITEMS = 5
SETTINGS = {"min_support": 2, "max_pattern_length": 3, "max_gap": 2, "min_confidence": 0.0}
WEIGHT = 1e-4  # the default popularity_weight
POPULARITY = np.array([0, 3, 5, 3, 2, 1]) / 5  # interactions per item / the most


def train() -> SequenceData:
    return SequenceData.from_lists(CORPUS, N_ITEMS)


def fitted(**overrides: float) -> SequentialRules:
    return SequentialRules({**SETTINGS, **overrides}).fit(train())


def scores_after(model: SequentialRules, history: list[int]) -> np.ndarray:
    return model.checked_scores(SequenceData.from_lists([history], N_ITEMS))[0]


def test_mined_patterns_match_the_hand_enumeration() -> None:
    patterns = mine_patterns(train(), min_support=2, max_length=3, max_gap=2)
    assert patterns == {
        (1,): 3,
        (2,): 5,
        (3,): 3,
        (4,): 2,
        (1, 2): 3,
        (2, 3): 3,
        (2, 4): 2,
        (1, 2, 3): 2,
    }


def test_the_gap_constraint_changes_supports() -> None:
    # Contiguous only: 1 2 is in S1 and S3 (not S2); 1 2 3 only in S1.
    contiguous = mine_patterns(train(), min_support=2, max_length=3, max_gap=1)
    assert contiguous == {(1,): 3, (2,): 5, (3,): 3, (4,): 2, (1, 2): 2, (2, 3): 3, (2, 4): 2}
    # A gap of 3 lets 1 ... 3 match in S2 as well.
    assert mine_patterns(train(), min_support=2, max_length=2, max_gap=3)[(1, 3)] == 2


def test_rules_and_confidences() -> None:
    antecedents, rules = mine_rules(train(), 2, 0.0, max_pattern_length=3, max_gap=2)
    assert antecedents == {(1,): 3, (2,): 5, (3,): 3, (4,): 2, (1, 2): 3, (2, 3): 3, (2, 4): 2}
    found = {
        (r.antecedent, r.consequent): (r.support, r.antecedent_support, r.confidence) for r in rules
    }
    assert found == {
        ((1,), 2): (2, 3, pytest.approx(2 / 3)),
        ((2,), 3): (3, 5, pytest.approx(0.6)),
        ((2,), 4): (2, 5, pytest.approx(0.4)),
        ((1, 2), 3): (2, 3, pytest.approx(2 / 3)),
    }
    confident = mine_rules(train(), 2, 0.5, max_pattern_length=3, max_gap=2)[1]
    assert {(r.antecedent, r.consequent) for r in confident} == {((1,), 2), ((2,), 3), ((1, 2), 3)}


def test_miner_matches_brute_force_on_random_sequences() -> None:
    rng = np.random.default_rng(7)
    for _ in range(30):
        corpus = [rng.integers(1, 6, size=int(n)).tolist() for n in rng.integers(0, 10, size=6)]
        data = SequenceData.from_lists(corpus, 5)
        for max_gap in (1, 2, 3):
            assert mine_patterns(data, 2, 4, max_gap) == mine_patterns_reference(
                corpus, 2, 4, max_gap
            )
            rules = mine_rules(data, 2, 0.3, 3, max_gap)[1]
            found = {(r.antecedent, r.consequent, r.support, r.antecedent_support) for r in rules}
            assert found == mine_rules_reference(corpus, 2, 0.3, 3, max_gap)


def test_matching_antecedents_end_at_the_last_item() -> None:
    # 2 is last; one step back (gap <= 2) reaches 4 (index 1) and 1 (index 0).
    assert matching_antecedents([1, 4, 2], max_gap=2, max_length=2) == {(2,), (4, 2), (1, 2)}
    assert matching_antecedents([1, 4, 4, 2], max_gap=2, max_length=2) == {(2,), (4, 2)}
    assert matching_antecedents([], max_gap=2, max_length=2) == set()


def test_score_is_the_best_fired_confidence_plus_popularity() -> None:
    scores = scores_after(fitted(), [1, 2])
    # Fired: 2 -> 3 (.6), 2 -> 4 (.4), (1, 2) -> 3 (2/3); 1 -> 2 does not (1 is not last).
    expected = WEIGHT * POPULARITY
    expected[3] += 2 / 3  # the maximum of .6 and 2/3, not their sum
    expected[4] += 0.4
    np.testing.assert_allclose(scores[1:], expected[1:], rtol=1e-6)


def test_rules_fire_only_within_the_gap_at_the_end_of_the_history() -> None:
    # 1 _ 2 at the end (gap 2): (1, 2) -> 3 fires.
    assert scores_after(fitted(), [1, 5, 2])[3] == pytest.approx(2 / 3 + WEIGHT * 0.6)
    # 1 _ _ 2: too far apart, only 2 -> 3 fires.
    assert scores_after(fitted(), [1, 5, 5, 2])[3] == pytest.approx(0.6 + WEIGHT * 0.6)
    # 2 is no longer last: nothing fires, popularity only.
    np.testing.assert_allclose(
        scores_after(fitted(), [2, 5])[1:], WEIGHT * POPULARITY[1:], rtol=1e-6
    )


def test_unfired_items_are_ranked_by_popularity_below_fired_ones() -> None:
    top = fitted().recommend(SequenceData.from_lists([[2]], N_ITEMS), k=5)[0].tolist()
    assert top == [3, 4, 2, 1, 5]  # 3 (.6) and 4 (.4) by rules, then by popularity 5, 3, 1


def test_explain_names_the_rules_that_fired() -> None:
    explanation = fitted().explain([1, 5, 2], 3)
    assert explanation.kind == "rules" and explanation.item == 3
    rows = [
        (e["antecedent"], e["item"], e["support"], e["antecedent_support"])
        for e in explanation.evidence
    ]
    assert rows == [([1, 2], 3, 2, 3), ([2], 3, 3, 5)]
    assert [e["confidence"] for e in explanation.evidence] == [
        pytest.approx(2 / 3),
        pytest.approx(0.6),
    ]
    assert "Rule [1, 2] -> 3: in 2 of the 3 training sequences" in explanation.summary
    nothing = fitted().explain([2, 5], 3)
    assert nothing.evidence == [] and "popularity" in nothing.summary


def test_shapes_and_padding_column() -> None:
    scores = fitted().checked_scores(
        SequenceData.from_lists([[], [1, 2], [5], [3, 1, 2, 4]], N_ITEMS)
    )
    assert scores.shape == (4, N_ITEMS + 1) and scores.dtype == np.float32
    assert np.all(scores[:, 0] == -np.inf)
    np.testing.assert_allclose(scores[0, 1:], WEIGHT * POPULARITY[1:], rtol=1e-6)


def test_config_errors_and_fit_guard() -> None:
    assert SequentialRules.name == "seq-rules"
    with pytest.raises(ConfigError, match="max_pattern_length"):
        SequentialRules(max_pattern_length=1)
    with pytest.raises(ConfigError, match="max_gap"):
        SequentialRules(max_gap=0)
    with pytest.raises(ConfigError, match="min_support"):
        SequentialRules(min_support=0)
    with pytest.raises(NotFittedError):
        SequentialRules().score(SequenceData.from_lists([[1]], N_ITEMS))
    with pytest.raises(ValueError, match="not in 1..5"):
        fitted().explain([1], 6)
