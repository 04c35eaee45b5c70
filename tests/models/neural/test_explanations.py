"""The explanation helpers every neural model shares (``neural/explanations.py``)."""

from __future__ import annotations

import numpy as np

from seqrec.models.neural.explanations import attention_explanation, position_evidence


def test_position_evidence_places_tail_weights_at_their_history_positions() -> None:
    rows = position_evidence([7, 8, 9, 10], np.array([0.2, -0.5, 0.3]))  # the last three items
    assert rows == [
        {"item": 9, "position": 2, "weight": -0.5},
        {"item": 10, "position": 3, "weight": 0.3},
        {"item": 8, "position": 1, "weight": 0.2},
    ]
    assert position_evidence([1, 2], np.zeros(0)) == []


def test_attention_explanation_names_the_most_attended_item() -> None:
    explanation = attention_explanation("m", 4, [1, 2, 3], np.array([0.1, 0.7, 0.2]), "M scores item 4 at 1.000", "; it")
    assert explanation.kind == "attention" and explanation.model == "m" and explanation.item == 4
    assert explanation.summary == "M scores item 4 at 1.000; it attends most to item 2 (position 1, weight 0.70)."
    assert [row["item"] for row in explanation.evidence] == [2, 3, 1]
    empty = attention_explanation("m", 4, [], np.zeros(0), "M scores item 4 at 1.000", "; it")
    assert empty.summary == "M scores item 4 at 1.000." and empty.evidence == []
