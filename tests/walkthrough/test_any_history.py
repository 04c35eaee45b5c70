"""The category shares follow the history at hand: its own categories in order, plus "other"."""

from __future__ import annotations

import numpy as np

from seqrec.data.shop import make_shop_dataset
from seqrec.walkthrough.history import load_persona
from seqrec.walkthrough.html import render_html
from seqrec.walkthrough.run import (
    PersonaHistory,
    category_share,
    history_categories,
    run_walkthrough,
)

PHASES = ["photography", "skincare", "cycling"]


def test_history_categories_are_in_order_of_first_purchase() -> None:
    categories = np.array(["<pad>", "photography", "skincare", "cycling", "coffee"])
    assert history_categories([1, 1, 2, 1, 3, 2], categories) == ("photography", "skincare", "cycling")
    shares = category_share([1, 2, 4, 4], categories, ("photography", "skincare", "cycling"))
    assert shares == {"photography": 0.25, "skincare": 0.25, "cycling": 0.0, "other": 0.5}


def test_the_built_in_persona_keeps_her_three_phases() -> None:
    dataset = make_shop_dataset("tiny")
    persona = load_persona(dataset)
    assert persona.name == "blog_author"
    assert history_categories(persona.items, dataset.categories) == ("cat supplies", "baking", "fitness")


def test_a_photography_skincare_cycling_shopper_gets_her_own_shares() -> None:
    dataset = make_shop_dataset("tiny")
    items = [int(i) for phase in PHASES for i in np.flatnonzero(dataset.categories == phase)[:3]]
    persona = PersonaHistory("switcher", items, [86_400 * day for day in range(len(items))])
    report = run_walkthrough(dataset, persona, ["popularity", "markov"])
    assert report["persona"]["categories"] == [*PHASES, "other"]
    for model in report["models"].values():
        assert list(model["category_share"]) == [*PHASES, "other"]
        assert abs(sum(model["category_share"].values()) - 1) < 1e-3
    # The Markov chain follows her last phase: some of its top-10 is cycling, so not "100% other".
    assert report["models"]["markov"]["category_share"]["other"] < 1
    html = render_html(report)
    bars = html[html.index('aria-label="category shares"') :]
    bars = bars[: bars.index("</svg>")]
    legend = [bars.index(f'font-size="12">{name}</text>') for name in [*PHASES, "other"]]
    assert legend == sorted(legend)
    assert not any(f">{name}</text>" in bars for name in ("cat supplies", "baking", "fitness"))
