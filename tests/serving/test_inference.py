"""The Predictor: histories as original ids or titles in, titled recommendations out."""

from __future__ import annotations

import numpy as np
import pytest

from seqrec.data.types import ItemInfo
from seqrec.models.markov import MarkovChain
from seqrec.serving.inference import Predictor, UnknownItemsError
from seqrec.testing import cycle_world


def _predictor() -> Predictor:
    world = cycle_world()
    labels = np.array(["<pad>", *[f"sku-{i}" for i in range(1, 12)]], dtype=object)
    titles = np.array(["<pad>", *[f"Item {i}" for i in range(1, 12)]], dtype=object)
    categories = np.array(["", *["a"] * 5, *["b"] * 5, "c"], dtype=object)
    items = ItemInfo(labels, titles, categories, np.full(12, "", dtype=object))
    return Predictor(MarkovChain().fit(world, items=items), items)


def test_ids_and_titles_resolve_and_unknown_items_are_reported() -> None:
    predictor = _predictor()
    (answer,) = predictor.recommend([["sku-1", "Item 2", "no such thing", "sku-3"]], k=2)
    assert answer.unknown == ["no such thing"]
    assert answer.items[0].item == "sku-4" and answer.items[0].title == "Item 4" and answer.items[0].rank == 1
    assert answer.items[0].score is not None and answer.items[0].score >= answer.items[1].score
    with pytest.raises(UnknownItemsError, match="no such thing"):
        predictor.recommend([["sku-1", "no such thing"]], strict=True)


def test_exclude_seen_and_explain_with_titles() -> None:
    predictor = _predictor()
    (seen,) = predictor.recommend([["sku-4", "sku-5", "sku-1", "sku-2", "sku-3"]], k=3, exclude_seen=True)
    assert not {r.item for r in seen.items} & {"sku-1", "sku-2", "sku-3", "sku-4", "sku-5"}
    explanation = predictor.explain(["sku-1", "sku-2", "sku-3"], "sku-4")
    assert explanation["item"] == "sku-4" and "Item" in explanation["summary_titled"]
    with pytest.raises(ValueError, match="k must be"):
        predictor.recommend([["sku-1"]], k=0)


def test_excluded_items_never_fill_a_short_list() -> None:
    predictor = _predictor()
    history = [f"sku-{i}" for i in range(1, 11)]  # 10 of the 11 items
    (answer,) = predictor.recommend([history], k=5, exclude_seen=True)
    assert [r.item for r in answer.items] == ["sku-11"]
