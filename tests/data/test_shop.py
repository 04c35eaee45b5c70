"""The synthetic shop world: catalog, determinism, the persona, the generator's truth, the story."""

from __future__ import annotations

import math
import time
from collections import Counter

import numpy as np
import pytest

from seqrec.data import shop
from seqrec.data.shop import (
    CONTINUE_SHARE,
    DAY,
    NEXT_STEP_SHARE,
    NOISE_SHARE,
    WORLD_START,
    SamplingTables,
    ShopperProfile,
    ShopWorld,
    Uniforms,
    build_shop_world,
    dense_distribution,
    draw_next_purchase,
    make_shop_dataset,
    next_purchase_parts,
)
from seqrec.data.shop_catalog import ShopCatalog, build_catalog


@pytest.fixture(scope="module")
def catalog() -> ShopCatalog:
    return build_catalog()


@pytest.fixture(scope="module")
def tiny() -> ShopWorld:
    return build_shop_world(shop.SIZES["tiny"], seed=0)


@pytest.fixture(scope="module")
def small() -> ShopWorld:
    return build_shop_world(shop.SIZES["small"], seed=0)


def one_phase(
    catalog: ShopCatalog, category: str, gap_days: float, start: int = WORLD_START
) -> ShopperProfile:
    return ShopperProfile(
        start,
        np.array([start], dtype=np.int64),
        np.array([catalog.category_index(category)], dtype=np.int64),
        np.array([1.0 / (gap_days * DAY)]),
    )


# -- catalog -------------------------------------------------------------------------------------
def test_catalog_has_500_items_in_12_categories_with_distinct_titles(catalog: ShopCatalog) -> None:
    assert catalog.n_items >= 500
    assert catalog.n_categories >= 10
    assert {"cat supplies", "baking", "fitness"} <= set(catalog.category_names)
    assert min(len(items) for items in catalog.category_items) >= 36  # dozens per category
    assert len(set(catalog.titles.tolist())) == catalog.n_items + 1
    assert catalog.titles[0] == "<pad>" and catalog.category_of[0] == -1


def test_consumables_have_a_cycle_and_durables_none(catalog: ShopCatalog) -> None:
    assert catalog.cycle_days[catalog.item_id("Clumping Cat Litter, Unscented, 20 lb")] == 30
    assert catalog.cycle_days[catalog.item_id("Whey Protein Powder, Vanilla, 2 lb")] == 30
    assert catalog.cycle_days[catalog.item_id("Percussion Massage Gun")] == 0
    assert catalog.keep_probability[catalog.item_id("Percussion Massage Gun")] == 0
    for items in catalog.category_items:  # every category sells something to re-buy
        assert (catalog.cycle_days[items] > 0).any()


def test_every_category_has_journeys_and_the_story_chains_exist(catalog: ShopCatalog) -> None:
    per_category = Counter(journey.category for journey in catalog.journeys)
    assert set(per_category) == set(catalog.category_names)
    assert min(per_category.values()) >= 3
    home_gym = catalog.journey_items[[j.name for j in catalog.journeys].index("home gym")]
    assert catalog.titles[home_gym[:4]].tolist() == [
        "Percussion Massage Gun",
        "Whey Protein Powder, Vanilla, 2 lb",
        "Padded Lifting Gloves",
        "BPA-Free Shaker Bottle, 28 oz",
    ]


def test_popularity_is_zipf_inside_each_category(catalog: ShopCatalog) -> None:
    for items in catalog.category_items:
        weights = np.sort(catalog.popularity[items])[::-1]
        assert weights.sum() == pytest.approx(1.0)
        # w(rank r) = w(rank 1) / r with exponent 1: the 1st is twice the 2nd, 10x the 10th
        assert weights[0] / weights[1] == pytest.approx(2.0)
        assert weights[0] / weights[9] == pytest.approx(10.0)


# -- generation ------------------------------------------------------------------------------------
def test_same_seed_gives_identical_arrays_and_another_seed_does_not() -> None:
    first, again, other = (make_shop_dataset("tiny", seed=s) for s in (0, 0, 1))
    for name in ("offsets", "items", "timestamps", "users"):
        np.testing.assert_array_equal(
            getattr(first.sequences, name), getattr(again.sequences, name)
        )
    np.testing.assert_array_equal(first.extras["world"].due_times, again.extras["world"].due_times)
    np.testing.assert_array_equal(
        first.extras["world"].phase_starts, again.extras["world"].phase_starts
    )
    assert not np.array_equal(first.sequences.items[:200], other.sequences.items[:200])


def test_tiny_dataset_shape_ids_and_speed() -> None:
    began = time.perf_counter()
    dataset = make_shop_dataset("tiny")
    elapsed = time.perf_counter() - began
    assert elapsed < 2.0  # ~0.1 s measured; loose because the test machine is shared
    assert dataset.name == "shop" and dataset.exclude_history is False
    assert dataset.n_users == 150 and 3_000 < dataset.sequences.n_interactions < 12_000
    world = dataset.extras["world"]
    assert dataset.user_labels[7] == "shopper_000007" and world.shopper_index("shopper_000007") == 7
    assert dataset.titles[1:].tolist() == world.catalog.titles[1:].tolist()
    assert dataset.extras["catalog"].frame.height == dataset.n_items
    for row in range(dataset.n_users):  # time-ordered, inside the simulated year
        stamps = dataset.sequences.sequence_timestamps(row)
        assert np.all(np.diff(stamps) >= 0)
        assert stamps[0] >= WORLD_START and stamps[-1] < world.horizon


def test_unknown_size_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown shop size 'huge'"):
        make_shop_dataset("huge")


def test_consumables_are_rebought_after_the_interest_moved_on(small: ShopWorld) -> None:
    catalog, sequences = small.catalog, small.sequences
    rebuys_after_phase = 0
    litter_after_cat_phase = 0
    cat = catalog.category_index("cat supplies")
    for shopper in range(small.n_shoppers):
        profile = small.profile(shopper)
        items = sequences.sequence(shopper)
        stamps = sequences.sequence_timestamps(shopper)
        seen: set[int] = set()
        for item, when in zip(items.tolist(), stamps.tolist()):
            phase_category = int(profile.phase_categories[profile.phase_at(when)])
            off_phase = catalog.category_of[item] != phase_category
            if item in seen and catalog.cycle_days[item] > 0 and off_phase:
                rebuys_after_phase += 1
                if catalog.category_of[item] == cat and "Cat Litter," in str(catalog.titles[item]):
                    litter_after_cat_phase += 1
            seen.add(item)
    assert rebuys_after_phase > 0.05 * sequences.n_interactions
    assert litter_after_cat_phase > 20


def test_purchase_counts_are_heavy_tailed(small: ShopWorld) -> None:
    counts = small.sequences.item_counts()
    for items in small.catalog.category_items:
        ranked = np.sort(counts[items])[::-1]
        assert ranked[0] >= 3 * np.median(ranked)
    ranked = np.sort(counts[1:])[::-1]
    assert ranked[: len(ranked) // 10].sum() > 0.3 * ranked.sum()  # top 10% of items: > 30%


# -- the persona -----------------------------------------------------------------------------------
def test_persona_history_is_the_running_example(tiny: ShopWorld) -> None:
    persona = tiny.personas["blog_author"]
    assert persona.titles[-3:] == [
        "Percussion Massage Gun",
        "Whey Protein Powder, Vanilla, 2 lb",
        "Padded Lifting Gloves",
    ]
    firsts = [
        t for i, t in enumerate(persona.titles) if t not in persona.titles[:i]
    ]  # first purchases, in order
    assert firsts == [
        "Honeycomb Cat Litter Mat, Large",
        "Clumping Cat Litter, Unscented, 20 lb",
        "Stainless Steel Cat Water Fountain, 2 L",
        "Sisal Cat Scratching Post, 32 in",
        "Freeze-Dried Chicken Cat Treats, 3 oz",
        "Feather Wand Cat Toy Set, 5 Pieces",
        "Airline-Approved Soft Cat Carrier",
        "Aluminum Half Sheet Pans, Set of 2",
        "Silicone Baking Mat, Set of 2",
        "Piping Bags and Tips Set, 24 Pieces",
        "Rotating Cake Turntable, 12 in",
        "Stand Mixer Bowl, Stainless Steel, 5 qt",
        "Percussion Massage Gun",
        "Whey Protein Powder, Vanilla, 2 lb",
        "Padded Lifting Gloves",
    ]
    assert persona.titles == tiny.catalog.titles[persona.items].tolist()
    assert persona.categories == tiny.catalog.categories[persona.items].tolist()
    days = (persona.timestamps - WORLD_START) / DAY
    assert np.all(np.diff(persona.timestamps) > 0)
    categories = np.array(persona.categories)
    # six months of cat supplies, then three of baking, then the last two weeks of lifting
    assert days[categories == "baking"].min() >= 181 and days[categories == "baking"].max() < 273
    assert np.all(categories[days < 181] == "cat supplies")
    assert np.all(categories[-3:] == "fitness") and days[-1] - days[-3] <= 14
    assert Counter(persona.categories) == {"cat supplies": 23, "baking": 5, "fitness": 3}


def test_persona_is_held_out_of_the_training_sequences() -> None:
    dataset = make_shop_dataset("tiny")
    persona = dataset.extras["personas"]["blog_author"]
    assert "blog_author" not in dataset.user_labels.tolist()
    for row in dataset.sequences:
        assert not np.array_equal(row, persona.items)
    assert persona.histories().users.tolist() == [-1]


# -- the truth ---------------------------------------------------------------------------------------
def test_hand_built_journey_state_puts_most_mass_on_the_next_step(
    tiny: ShopWorld, catalog: ShopCatalog
) -> None:
    gun, whey, gloves = (
        catalog.item_id(t)
        for t in (
            "Percussion Massage Gun",
            "Whey Protein Powder, Vanilla, 2 lb",
            "Padded Lifting Gloves",
        )
    )
    profile = one_phase(catalog, "fitness", gap_days=5.0)
    # whey bought but not kept on a cycle (due -1): only the massage gun is owned
    dist = tiny.distribution_after(
        profile, [gun, whey], [WORLD_START + DAY, WORLD_START + 2 * DAY], [-1, -1]
    )
    assert dist.sum() == pytest.approx(1.0) and dist[0] == 0
    assert int(np.argmax(dist)) == gloves
    fitness = catalog.category_items[catalog.category_index("fitness")]
    unowned_fitness = fitness[fitness != gun]
    popular_share = catalog.popularity[gloves] / catalog.popularity[unowned_fitness].sum()
    noise_share = catalog.noise_weights[gloves] / (1.0 - catalog.noise_weights[gun])
    expected = (
        (1 - NOISE_SHARE) * CONTINUE_SHARE * NEXT_STEP_SHARE  # the next journey step
        + (1 - NOISE_SHARE) * (1 - CONTINUE_SHARE) * popular_share  # popular in the phase
        + NOISE_SHARE * noise_share  # noise
    )
    assert dist[gloves] == pytest.approx(expected, rel=1e-9)


def test_rebuy_probability_is_the_chance_no_regular_purchase_comes_first(
    tiny: ShopWorld, catalog: ShopCatalog
) -> None:
    litter = catalog.item_id("Clumping Cat Litter, Unscented, 20 lb")
    profile = one_phase(catalog, "baking", gap_days=10.0)
    bought, due = WORLD_START + DAY, WORLD_START + 31 * DAY
    dist = tiny.distribution_after(profile, [litter], [bought], [due])
    # regular purchases arrive at rate 1/10 days; litter is due in 30 days: P = exp(-30/10)
    assert dist[litter] == pytest.approx(math.exp(-3.0), rel=1e-9)
    # conditioned on the next purchase coming before day 20, the litter cannot be it
    conditioned = tiny.distribution_after(
        profile, [litter], [bought], [due], horizon=WORLD_START + 20 * DAY
    )
    assert conditioned[litter] == 0.0 and conditioned.sum() == pytest.approx(1.0)


def test_phase_windows_split_the_regular_purchase_by_survival(
    tiny: ShopWorld, catalog: ShopCatalog
) -> None:
    cat, fitness = catalog.category_index("cat supplies"), catalog.category_index("fitness")
    profile = ShopperProfile(
        WORLD_START,
        np.array([WORLD_START, WORLD_START + 6 * DAY], dtype=np.int64),
        np.array([cat, fitness], dtype=np.int64),
        np.array([1.0 / (4 * DAY), 1.0 / (2 * DAY)]),
    )
    mat = catalog.item_id("Honeycomb Cat Litter Mat, Large")
    dist = tiny.distribution_after(profile, [mat], [WORLD_START + 2 * DAY])
    in_fitness_window = math.exp(-4.0 / 4.0)  # no regular purchase in the 4 cat days left
    fitness_items = catalog.category_items[fitness]
    noise_fitness = catalog.noise_weights[fitness_items].sum() / (1.0 - catalog.noise_weights[mat])
    expected = in_fitness_window * (1 - NOISE_SHARE) + NOISE_SHARE * noise_fitness
    assert dist[fitness_items].sum() == pytest.approx(expected, rel=1e-9)


def test_generator_samples_exactly_the_oracle_mixture(
    tiny: ShopWorld, catalog: ShopCatalog
) -> None:
    """The fast sampler (rejection sampling, race of clocks) against the closed form."""
    cat, fitness = catalog.category_index("cat supplies"), catalog.category_index("fitness")
    profile = ShopperProfile(
        WORLD_START,
        np.array([WORLD_START, WORLD_START + 10 * DAY], dtype=np.int64),
        np.array([cat, fitness], dtype=np.int64),
        np.array([1.0 / (8 * DAY), 1.0 / (4 * DAY)]),
    )
    titles = [
        "Honeycomb Cat Litter Mat, Large",
        "Clumping Cat Litter, Unscented, 20 lb",
        "Stainless Steel Cat Water Fountain, 2 L",
    ]
    items = [catalog.item_id(t) for t in titles]
    times = [WORLD_START + DAY, WORLD_START + 2 * DAY, WORLD_START + 3 * DAY]
    dues = [-1, WORLD_START + 12 * DAY, -1]
    subject = shop.Subject(
        "test", profile, np.array(items), np.array(times), np.array(dues), math.inf
    )
    state = tiny.replay(subject, 3)
    exact = dense_distribution(next_purchase_parts(catalog, profile, state), catalog.n_items)
    tables, uniforms = SamplingTables.of(catalog), Uniforms(np.random.default_rng(7))
    draws = 20_000
    counts = np.zeros(catalog.n_items + 1)
    for _ in range(draws):
        purchase = draw_next_purchase(catalog, tables, profile, state, math.inf, uniforms)
        assert purchase is not None
        counts[purchase[0]] += 1
    total_variation = 0.5 * np.abs(counts / draws - exact).sum()
    assert total_variation < 0.05  # sampling noise over ~500 items at 20k draws is ~0.03
    for item in (
        items[1],
        catalog.item_id("Sisal Cat Scratching Post, 32 in"),
    ):  # re-buy, journey step
        assert counts[item] / draws == pytest.approx(exact[item], abs=0.015)


def test_every_real_next_purchase_has_positive_oracle_probability(tiny: ShopWorld) -> None:
    for shopper in range(0, tiny.n_shoppers, 10):
        items = tiny.sequences.sequence(shopper)
        for n in range(len(items)):
            dist = tiny.next_item_distribution(shopper, n)
            assert dist.sum() == pytest.approx(1.0)
            assert dist[items[n]] > 0


def test_persona_truth_after_her_last_purchase(tiny: ShopWorld, catalog: ShopCatalog) -> None:
    dist = tiny.next_item_distribution("blog_author", 31)
    assert catalog.titles[int(np.argmax(dist))] == "BPA-Free Shaker Bottle, 28 oz"
    fitness = catalog.category_items[catalog.category_index("fitness")]
    assert dist[fitness].sum() > 0.5
    words = tiny.describe(tiny.subject("blog_author"), 31)
    assert "fitness since 2025-10-01" in words and "journey 'home gym' at step 3 of 7" in words
    assert "Freeze-Dried Chicken Cat Treats, 3 oz (due 2025-10-21)" in words


# -- the story emerges from the data -----------------------------------------------------------------
def test_after_lifting_gloves_shoppers_mostly_buy_fitness(small: ShopWorld) -> None:
    catalog, sequences = small.catalog, small.sequences
    gloves = catalog.item_id(small.personas["blog_author"].titles[-1])
    followers = []
    for row in sequences:
        at = np.flatnonzero(row[:-1] == gloves)
        followers += row[at + 1].tolist()
    assert len(followers) >= 20
    categories = Counter(catalog.categories[followers].tolist())
    assert categories["fitness"] > 0.5 * len(followers)
    assert (
        catalog.titles[Counter(followers).most_common(1)[0][0]] == "BPA-Free Shaker Bottle, 28 oz"
    )


def test_cat_supplies_dominate_the_persona_history(small: ShopWorld) -> None:
    categories = Counter(small.personas["blog_author"].categories)
    assert categories.most_common(1)[0][0] == "cat supplies"
    assert categories["cat supplies"] > categories["baking"] + categories["fitness"]
