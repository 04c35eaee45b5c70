"""The oracle recommender: the shop generator's true next-item probabilities as scores."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from seqrec.data.shop import DAY, WORLD_START, ShopperProfile, ShopWorld, Subject, make_shop_dataset
from seqrec.data.splits import leave_one_out, temporal
from seqrec.data.types import Dataset, SequenceData
from seqrec.evaluation.metrics import pessimistic_ranks
from seqrec.models.base import CapabilityError, ConfigError, NotFittedError
from seqrec.models.oracle import OracleRecommender

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return make_shop_dataset("tiny", seed=0)


@pytest.fixture(scope="module")
def oracle(dataset: Dataset) -> OracleRecommender:
    return OracleRecommender().fit(dataset.sequences, world=dataset.extras["world"])


def test_config_is_a_dataclass_and_typos_are_errors() -> None:
    assert dataclasses.is_dataclass(OracleRecommender.Config)
    assert OracleRecommender().config.condition_on_horizon is True
    with pytest.raises(ConfigError, match="no field"):
        OracleRecommender({"condition_on_horizont": False})


def test_needs_a_world_before_fit(dataset: Dataset) -> None:
    # The world now reaches the oracle through fit (it declares capabilities.needs_world), not attach.
    with pytest.raises(CapabilityError, match="world"):
        OracleRecommender().fit(dataset.sequences)
    with pytest.raises(TypeError, match="ShopWorld"):
        OracleRecommender().fit(dataset.sequences, world=dataset)
    with pytest.raises(NotFittedError):
        OracleRecommender().score(dataset.sequences.rows(slice(0, 1)))


@pytest.mark.parametrize("split_name", ["loo", "temporal"])
def test_scores_are_the_worlds_distribution_for_split_histories(
    dataset: Dataset, oracle: OracleRecommender, split_name: str
) -> None:
    split = leave_one_out(dataset.sequences) if split_name == "loo" else temporal(dataset.sequences)
    histories = split.test.histories.rows(slice(0, 25))
    scores = oracle.checked_scores(histories)
    world = dataset.extras["world"]
    assert np.all(scores[:, 0] == -np.inf)
    np.testing.assert_allclose(scores[:, 1:].sum(axis=1), 1.0, rtol=1e-5)
    for row in range(len(histories)):
        user, n = int(histories.users[row]), int(histories.lengths[row])
        expected = world.next_item_distribution(user, n)
        np.testing.assert_allclose(scores[row, 1:], expected[1:], rtol=1e-6, atol=1e-9)
        assert scores[row, split.test.targets[row]] > 0  # the real next purchase was possible


def test_the_persona_is_recognized_by_her_history(
    dataset: Dataset, oracle: OracleRecommender
) -> None:
    persona = dataset.extras["personas"]["blog_author"]
    world = dataset.extras["world"]
    scores = oracle.checked_scores(persona.histories())
    np.testing.assert_allclose(
        scores[0, 1:], world.next_item_distribution("blog_author", 31)[1:], rtol=1e-6
    )
    assert (
        dataset.titles[oracle.recommend(persona.histories(), 1)[0, 0]]
        == "BPA-Free Shaker Bottle, 28 oz"
    )
    # before the fitness phase (28 purchases) her truth is baking and the cat's re-buys
    prefix = SequenceData.from_lists(
        [persona.items[:28].tolist()], dataset.n_items, [persona.timestamps[:28].tolist()], [-1]
    )
    np.testing.assert_allclose(
        oracle.checked_scores(prefix)[0, 1:],
        world.next_item_distribution("blog_author", 28)[1:],
        rtol=1e-6,
    )


def test_explanation_is_the_hidden_state_and_its_parts_add_up(
    dataset: Dataset, oracle: OracleRecommender
) -> None:
    persona = dataset.extras["personas"]["blog_author"]
    shaker = dataset.extras["world"].catalog.item_id("BPA-Free Shaker Bottle, 28 oz")
    explanation = oracle.explain(persona.items.tolist(), shaker)
    assert explanation.model == "oracle" and explanation.kind == "generator-state"
    assert "fitness since 2025-10-01" in explanation.summary
    assert (
        "journey 'home gym' at step 3 of 7 (Padded Lifting Gloves), next: BPA-Free Shaker Bottle"
        in explanation.summary
    )
    assert "Clumping Cat Litter, Unscented, 20 lb (due 2025-10-30)" in explanation.summary
    probability = float(oracle.checked_scores(persona.histories())[0, shaker])
    assert sum(row["contribution"] for row in explanation.evidence) == pytest.approx(
        probability, abs=1e-5
    )
    assert explanation.evidence[0]["component"] == "journey"  # the largest contribution comes first
    assert sum(row["part_probability"] for row in explanation.evidence) == pytest.approx(
        1.0, abs=1e-5
    )


def test_an_unknown_history_gets_an_inferred_state(
    dataset: Dataset, oracle: OracleRecommender
) -> None:
    catalog = dataset.extras["world"].catalog
    gun, whey = (
        catalog.item_id("Percussion Massage Gun"),
        catalog.item_id("Whey Protein Powder, Vanilla, 2 lb"),
    )
    # the generator never buys a durable good twice, so no shopper starts with two massage guns
    history = [gun, gun]
    assert dataset.extras["world"].identify(history) is None
    unknown = SequenceData.from_lists(
        [history], dataset.n_items, [[WORLD_START + 86_400, WORLD_START + 2 * 86_400]], [-1]
    )
    scores = oracle.checked_scores(unknown)
    assert scores[0, 1:].sum() == pytest.approx(1.0, rel=1e-5)
    assert int(np.argmax(scores[0])) == whey  # inferred: fitness phase, next step of "home gym"
    assert "unknown shopper" in oracle.explain(history, whey).summary


def test_the_oracle_ranks_real_next_purchases_far_above_popularity(dataset: Dataset) -> None:
    split = leave_one_out(dataset.sequences)
    oracle = OracleRecommender().fit(split.train, world=dataset.extras["world"])
    oracle_ranks = pessimistic_ranks(
        oracle.checked_scores(split.test.histories), split.test.targets
    )
    popularity = split.train.item_counts().astype(np.float64)
    popularity[0] = -np.inf
    popular_ranks = pessimistic_ranks(np.tile(popularity, (len(split.test), 1)), split.test.targets)
    # measured on this world: oracle HR@10 = 0.82, popularity HR@10 = 0.17
    assert np.mean(oracle_ranks <= 10) > np.mean(popular_ranks <= 10) + 0.4


# -- the observable oracle: due dates inferred from the purchase times ------------------------------
def _one_consumable_subject(world: ShopWorld, cycle_days: float, gap_days: float) -> tuple[Subject, int, float]:
    """A shopper who bought one consumable at ``T`` and a durable ``gap_days`` later."""

    catalog = world.catalog
    consumable = int(np.flatnonzero(catalog.cycle_days == cycle_days)[0])
    durable = int(np.flatnonzero((catalog.cycle_days == 0) & (catalog.category_of == catalog.category_of[consumable]))[0])
    start = WORLD_START + 10 * DAY
    times = np.array([start, start + int(gap_days * DAY)], dtype=np.int64)
    category = int(catalog.category_of[consumable])
    profile = ShopperProfile(
        int(start), np.array([start], dtype=np.int64), np.array([category], dtype=np.int64), np.array([1e-6])
    )
    items = np.array([consumable, durable], dtype=np.int64)
    subject = Subject("hand-made", profile, items, times, np.array([-1, -1], dtype=np.int64), float("inf"))
    return subject, consumable, float(catalog.keep_probability[consumable])


def test_due_date_posterior_matches_the_hand_computed_one(dataset: Dataset) -> None:
    from seqrec.models.oracle import posterior_due_draws

    world = dataset.extras["world"]
    cycle = float(world.catalog.cycle_days[world.catalog.cycle_days > 0][0])
    # 0.95 of a cycle later the re-buy window [0.8, 1.2] x cycle is 5/8 still open:
    # P(kept | not re-bought yet) = keep * 5/8 / (keep * 5/8 + 1 - keep).
    subject, consumable, keep = _one_consumable_subject(world, cycle, 0.95 * cycle)
    draws = posterior_due_draws(world, subject, 2, np.random.default_rng(0), 20_000)
    assert [item for item, _, _ in draws] == [consumable]
    _, kept, due = draws[0]
    expected = keep * 0.625 / (keep * 0.625 + 1 - keep)
    assert kept.mean() == pytest.approx(expected, abs=0.01)
    now, bought = subject.timestamps[1], subject.timestamps[0]
    assert due.min() >= now + 1 and due.max() <= bought + 1.2 * cycle * DAY + 1
    # Past the whole window it cannot still be on a cycle.
    late, _, _ = _one_consumable_subject(world, cycle, 1.3 * cycle)
    assert not posterior_due_draws(world, late, 2, np.random.default_rng(0), 100)[0][1].any()


def test_observable_oracle_is_a_distribution_and_batch_independent(dataset: Dataset) -> None:
    from seqrec.models.oracle import ObservableOracle

    observable = ObservableOracle({"samples": 8}).fit(dataset.sequences, world=dataset.extras["world"])
    assert observable.config.due_dates == "posterior"
    test = leave_one_out(dataset.sequences).test
    scores = observable.checked_scores(test.histories)
    assert np.allclose(scores[:, 1:].sum(axis=1), 1.0, atol=1e-4)
    alone = observable.checked_scores(test.histories.rows(slice(3, 4)))
    assert np.array_equal(alone[0], scores[3])
    # Every real next purchase stays possible once the due dates are unknown.
    assert (scores[np.arange(len(test)), test.targets] > 0).all()


def test_observable_oracle_without_consumables_is_the_oracle(dataset: Dataset, oracle: OracleRecommender) -> None:
    from seqrec.models.oracle import ObservableOracle

    world = dataset.extras["world"]
    observable = ObservableOracle({"samples": 4}).fit(dataset.sequences, world=world)
    sequences = dataset.sequences
    # Each shopper's purchases before their first consumable: nothing there to re-buy.
    before_first = np.array([int(np.argmax(world.catalog.cycle_days[s] > 0)) for s in sequences])
    keep = np.flatnonzero(before_first > 0)
    assert len(keep) > 10
    prefixes = sequences.rows(keep).truncate(before_first[keep])
    np.testing.assert_allclose(observable.checked_scores(prefixes), oracle.checked_scores(prefixes), atol=1e-6)


def test_observable_oracle_bad_settings_are_clear_errors() -> None:
    from seqrec.models.oracle import ObservableOracle

    with pytest.raises(ValueError, match="due_dates must be one of"):
        OracleRecommender({"due_dates": "guess"})
    with pytest.raises(ValueError, match="samples must be at least 1"):
        ObservableOracle({"samples": 0})
