"""The walkthrough's outcome must come out of the data on the default shop world."""

from __future__ import annotations

import numpy as np

from seqrec.data.shop import make_shop_dataset
from seqrec.walkthrough.run import PersonaHistory, category_share, run_walkthrough


def test_category_share_by_hand() -> None:
    categories = np.array(["<pad>", "cat supplies", "fitness", "coffee", "fitness"])
    assert category_share([1, 2, 3, 4], categories) == {"cat supplies": 0.25, "baking": 0.0, "fitness": 0.5, "other": 0.25}


def test_titled_summary_replaces_item_ids_only() -> None:
    from seqrec.data.types import Dataset, SequenceData
    from seqrec.walkthrough.run import titled_summary

    titles = np.array(["<pad>", "Mat", "Fountain", "Gloves"], dtype=object)
    dataset = Dataset(
        "t", SequenceData.from_lists([[1]], 3), np.array(["u"]), np.array(["<pad>", "a", "b", "c"]), titles,
        np.array(["<pad>", "cat", "cat", "fitness"]),
    )
    text = "After item(s) [1, 2], item 3 came next in 30% of 141 cases (positions [1, 2]); item 9 is unknown."
    assert titled_summary(text, dataset) == (
        "After item(s) ['Mat' → 'Fountain'], 'Gloves' came next in 30% of 141 cases (positions [1, 2]); item 9 is unknown."
    )


def test_mf_sees_a_cat_owner_and_the_markov_chain_sees_a_lifter() -> None:
    dataset = make_shop_dataset("default")
    seed = dataset.extras["personas"]["blog_author"]
    persona = PersonaHistory("blog_author", list(map(int, seed.items)), list(map(int, seed.timestamps)))
    report = run_walkthrough(dataset, persona, ["als", "markov"], {"als": {"solver": "cg"}})
    als, markov = report["models"]["als"], report["models"]["markov"]
    assert als["category_share"]["cat supplies"] > 0.5, als["top10"]
    assert markov["category_share"]["fitness"] > 0.5, markov["top10"]
    # The Markov chain's reason is the transition out of her last purchase.
    evidence = markov["explanation"]["evidence"]
    assert evidence[0]["context_titles"] == ["Padded Lifting Gloves"]
