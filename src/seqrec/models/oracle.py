"""The oracle: the shop world's true next-item distribution, used as a recommender.

Not a method from the literature but the ceiling every method is measured against. The shop
world (:mod:`seqrec.data.shop`) generates purchases from an explicit model of shoppers (interest
phases, journeys, consumables on a re-buy cycle, noise) and keeps the hidden state behind each
purchase. For a history that is the first ``n`` purchases of a generated shopper (every history
of a leave-one-out or temporal split is), the oracle replays that hidden state and scores every
item with its exact probability of being the next purchase. Ranking by these probabilities
maximizes the expected hit rate at every cut-off, so no model should beat the oracle's HR@K
beyond sampling noise.

Which shopper a history belongs to: ``histories.users[row]`` (the dense user id of the shop
Dataset, whose rows are the world's shoppers) when the history is a prefix of that shopper's
purchases; otherwise a persona whose history starts the same way (``users = -1`` for the
held-out ``blog_author``); otherwise any shopper with that prefix. A history from outside the
world gets an inferred state (one phase in the category of its last purchase, consumables on
their mean cycle), and the explanation says so.

Use: ``OracleRecommender().fit(train, world=dataset.extras["world"])`` (the class declares
``capabilities.needs_world``, so the experiment code passes the world of a shop dataset and
refuses the oracle on any other dataset).

**The observable oracle** (``oracle-observable``, or ``due_dates="posterior"``). The oracle knows
the exact due date the generator drew for every consumable re-buy; no model can, as the data
only shows when things were bought. This variant replaces those due dates by their posterior
given the purchase times (kept on a cycle with the generator's keep probability, due uniformly in
``t + cycle * [0.8, 1.2]`` but not before the last observed purchase, since it has not been
re-bought yet) and averages the next-item distribution over ``samples`` draws. Interest phases
and journeys stay exact, so it is still an optimistic ceiling for models that see the log: on
the default world it reaches about 86% of the exact oracle's NDCG@10
(``bench/results/neural_shop.md``).
"""

from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from seqrec.data.shop import (
    CYCLE_JITTER,
    DAY,
    OFF_PHASE_KEEP_PROBABILITY,
    Part,
    ShopperState,
    ShopWorld,
    Subject,
    dense_distribution,
    next_purchase_parts,
)
from seqrec.data.types import SequenceData
from seqrec.models.base import (
    Capabilities,
    ConfigError,
    ContractSettings,
    Explanation,
    ExplanationKind,
    NotFittedError,
    Recommender,
    help_field,
)


@dataclass
class OracleConfig:
    condition_on_horizon: bool = help_field(
        True,
        "condition on the next purchase falling inside the simulated year when the data has one "
        "(as every evaluation target does)",
    )
    due_dates: Literal["exact", "posterior"] = help_field(
        "exact",
        "exact: the generator's hidden re-buy due dates; posterior: only what the purchase times "
        "show (due dates drawn from their posterior, the distribution averaged over the draws)",
    )
    samples: int = help_field(32, "due_dates=posterior: draws of the due dates per history")
    seed: int = help_field(0, "due_dates=posterior: seed of the draws (each history has its own stream)")

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError(f"{type(self).__name__}.samples must be at least 1, got {self.samples}")


class OracleRecommender(Recommender[OracleConfig]):
    """Scores = the shop generator's true probability of each item being the next purchase."""

    name: ClassVar[str] = "oracle"
    Config: ClassVar[type] = OracleConfig
    era: ClassVar[int] = 0
    """Not a method of any era: a reference ceiling (listed with era 0 for tables)."""
    sequential: ClassVar[bool] = True
    capabilities: ClassVar[Capabilities] = Capabilities(needs_world=True)
    unsaveable_reason: ClassVar[str] = (
        "an oracle learns nothing: it scores with the shop world's generator (its hidden shopper "
        "states and catalog), a reference for evaluation rather than a deployable model; fit it "
        "on the world (seqrec.data.shop.make_shop_dataset) where it is needed"
    )
    contract: ClassVar[ContractSettings] = ContractSettings(
        {"samples": 4},
        known_answer="hand-checked",
        world="shop",
        why="its scores are the generator's distribution, checked against hand-computed values in tests/models/test_oracle.py",
    )

    def require_world(self) -> ShopWorld:
        if not isinstance(self.world, ShopWorld):
            raise NotFittedError(f"{self.name}: call fit(train, world=dataset.extras['world']) before scoring")
        return self.world

    def _fit(self, train: SequenceData, valid: Any) -> None:
        if not isinstance(self.world, ShopWorld):
            raise TypeError(f"{self.name}.fit: world must be a ShopWorld (dataset.extras['world']), got {type(self.world).__name__}")
        world = self.world
        if train.n_items != world.n_items:
            raise ValueError(
                f"oracle: training data has {train.n_items} items, the shop world {world.n_items}"
            )

    # -- scoring --------------------------------------------------------------------------
    def _score(self, histories: SequenceData) -> np.ndarray:
        n_items = self.require_fitted()
        out = np.empty((len(histories), n_items + 1), dtype=np.float32)  # [B, n_items + 1]
        for row in range(len(histories)):
            subject, n_history = self._subject(
                histories.sequence(row), histories.sequence_timestamps(row), int(histories.users[row])
            )
            out[row] = self._distribution(subject, n_history)
        return out

    def _distribution(self, subject: Subject, n_history: int) -> np.ndarray:
        """``[n_items + 1]`` next-item probabilities, exact or averaged over due-date draws."""
        world = self.require_world()
        if self.config.due_dates == "exact":
            return dense_distribution(self._parts_of(subject, n_history), world.n_items)
        conditioned = self.config.condition_on_horizon and n_history < len(subject.items)
        horizon = subject.horizon if conditioned else math.inf
        state = world.replay(subject, n_history)
        # One stream per (seed, shopper, prefix): a history scores the same in any batch.
        rng = np.random.default_rng([self.config.seed, zlib.crc32(subject.name.encode()), n_history])
        draws = posterior_due_draws(world, subject, n_history, rng, self.config.samples)
        total = np.zeros(world.n_items + 1)
        for sample in range(self.config.samples):
            sampled = with_dues(state, draws, sample)
            total += dense_distribution(next_purchase_parts(world.catalog, subject.profile, sampled, horizon), world.n_items)
        return total / self.config.samples

    def _subject(self, items: np.ndarray, timestamps: np.ndarray, user: int) -> tuple[Subject, int]:
        world = self.require_world()
        found = world.identify(items, user)
        if found is not None:
            return found
        return world.unknown_subject(items, timestamps), len(items)

    def _parts(
        self, items: np.ndarray, timestamps: np.ndarray, user: int
    ) -> tuple[list[Part], Subject, int]:
        subject, n_history = self._subject(items, timestamps, user)
        return self._parts_of(subject, n_history), subject, n_history

    def _parts_of(self, subject: Subject, n_history: int) -> list[Part]:
        return self.require_world().next_purchase_parts(
            subject, n_history, condition_on_horizon=bool(self.config.condition_on_horizon)
        )

    # -- explanation ----------------------------------------------------------------------
    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """The generator's hidden state in words, and how much each part of the next-purchase
        mixture (journey step, popular in the phase, re-buy, noise) gives ``item``."""
        n_items = self.require_fitted()
        world = self.require_world()
        items = np.asarray(list(history), dtype=np.int64)
        parts, subject, n_history = self._parts(items, np.zeros(0, dtype=np.int64), -1)
        probability = float(dense_distribution(parts, n_items)[item])
        evidence = [_part_row(world, part, item) for part in parts]
        evidence.sort(key=lambda row: -row["contribution"])
        title = world.catalog.titles[item]
        if self.config.due_dates == "posterior":
            inferred = float(self._distribution(subject, n_history)[item])
            opening = (
                f"With the re-buy due dates inferred from the purchase times ({self.config.samples} draws), "
                f"the generator buys '{title}' next with probability {inferred:.3f} "
                f"(knowing the hidden due dates: {probability:.3f}). "
            )
        else:
            opening = f"The generator buys '{title}' next with probability {probability:.3f}. "
        return Explanation(
            model=self.name,
            item=int(item),
            summary=opening + f"Hidden state: {world.describe(subject, n_history)}.",
            kind=ExplanationKind.GENERATOR_STATE,
            evidence=evidence,
        )


def _part_row(world: ShopWorld, part: Part, item: int) -> dict[str, Any]:
    """One mixture part as an evidence row: its mass and the item's share inside it."""
    share = float(part.probs[part.items == item].sum())
    row: dict[str, Any] = {
        "component": part.kind,
        "phase_category": world.catalog.category_names[part.category],
        "part_probability": round(part.mass, 6),
        "item_share": round(share, 6),
        "contribution": round(part.mass * share, 6),
    }
    if part.kind in ("journey", "journey start", "re-buy"):
        row["items"] = [int(i) for i in part.items]
    return row


@dataclass
class ObservableOracleConfig(OracleConfig):
    due_dates: Literal["exact", "posterior"] = help_field(
        "posterior",
        "posterior: re-buy due dates inferred from the purchase times (the default here); exact: "
        "the hidden ones, as the oracle",
    )


class ObservableOracle(OracleRecommender):
    """The oracle without the hidden re-buy due dates: what the purchase times allow."""

    name: ClassVar[str] = "oracle-observable"
    Config: ClassVar[type] = ObservableOracleConfig


# -- the due dates' posterior given the purchase times ---------------------------------------------
def posterior_due_draws(
    world: ShopWorld, subject: Subject, n_history: int, rng: np.random.Generator, n_samples: int
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """For each consumable's last purchase: ``(item, kept [S] bool, due [S] int)`` drawn from the
    posterior given the observed purchase times (kept with the generator's keep probability, due
    in ``t + cycle * U(0.8, 1.2)``, conditioned on no re-buy up to the last purchase)."""
    catalog = world.catalog
    items = subject.items[:n_history]
    times = subject.timestamps[:n_history]
    dues = subject.due_times[:n_history]
    now = float(times[-1]) if n_history else float(subject.profile.join_time)
    last_purchase: dict[int, int] = {}
    for position, item in enumerate(items.tolist()):
        if catalog.cycle_days[item] > 0:
            last_purchase[item] = position
    draws = []
    for item, position in last_purchase.items():
        bought = float(times[position])
        cycle = float(catalog.cycle_days[item]) * DAY
        earlier = np.flatnonzero(items[:position] == item)
        # A purchase exactly at the previous purchase's due time is a re-buy: the generator puts
        # re-buys at the due time, so the timestamps show it.
        rebuy = len(earlier) > 0 and int(dues[earlier[-1]]) == int(bought)
        phase_category = int(subject.profile.phase_categories[subject.profile.phase_at(bought)])
        in_routine = rebuy or int(catalog.category_of[item]) == phase_category
        keep = float(catalog.keep_probability[item]) if in_routine else OFF_PHASE_KEEP_PROBABILITY
        low, high = bought + cycle * (1 - CYCLE_JITTER), bought + cycle * (1 + CYCLE_JITTER)
        still_possible = min(1.0, max(0.0, (high - max(low, now)) / (high - low)))
        evidence = keep * still_possible  # P(kept and not due before now)
        kept_probability = evidence / (evidence + 1.0 - keep) if evidence > 0 else 0.0
        first = max(low, now + 1)
        kept = rng.random(n_samples) < kept_probability
        due = np.round(rng.uniform(first, max(first, high), n_samples)).astype(np.int64)
        draws.append((item, kept, due))
    return draws


def with_dues(state: ShopperState, draws: list[tuple[int, np.ndarray, np.ndarray]], sample: int) -> ShopperState:
    """A copy of ``state`` whose consumables are on a cycle as sample ``sample`` of ``draws`` says."""
    out = copy.copy(state)
    out.due, out.owned = dict(state.due), state.owned.copy()
    for item, kept, due in draws:
        if kept[sample]:
            out.due[item], out.owned[item] = int(due[sample]), True
        else:
            out.due.pop(item, None)
            out.owned[item] = False
    return out
