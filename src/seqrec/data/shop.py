"""The synthetic shop world: a seeded Amazon-like store, its shoppers, and the truth about them.

The running example of docs/architecture.md (cat supplies for six months, baking for three, two weeks of
lifting) should *emerge from data*, not be scripted into models. This module generates a year of
purchases from a small, explicit model of shoppers and keeps the model's hidden state, so that
the probability of every possible next purchase is known exactly (the ``oracle`` recommender).

The generative model of one shopper
-----------------------------------
* **Interest phases.** A shopper joins in the first three months of the year and has 1-4
  phases, each devoted to one category and lasting weeks to months; the last one runs to the
  end of the year. Phase ``p`` has its own rate ``lambda_p`` of *regular* purchases (a Poisson
  process: a new hobby may come with a burst of buying).
* **Consumables.** Buying a consumable (cat litter, coffee beans, whey protein...) puts it on a
  re-buy cycle with probability ``keep`` (high for pets and babies): it is bought again at a
  hidden due time ``t + cycle * U(0.8, 1.2)``, *whatever the shopper's current interest is* —
  cat litter keeps coming after the cat phase ended.
* **The next purchase** is a race between the next regular purchase (time ``s`` drawn from the
  phase rates) and the earliest due consumable (time ``d``): if ``s < d`` a regular item is
  bought at ``s``, otherwise the consumable at ``d``.
* **A regular purchase** in phase category ``c`` is a mixture:

  - ``NOISE_SHARE``: noise, any category, by global popularity;
  - when a journey of ``c`` is under way: ``CONTINUE_SHARE`` of the rest on its next steps
    (``NEXT_STEP_SHARE`` on the first step not yet owned, the rest on the one after);
  - otherwise ``START_SHARE`` of the rest on the first steps of ``c``'s journeys;
  - the remainder: popular items of ``c`` (Zipf-like, see :mod:`seqrec.data.shop_catalog`).

  Durable goods already owned and consumables on a cycle are never regular candidates.

Because regular purchases are memoryless, the hidden state after ``n`` purchases (time of the
last purchase, phase schedule, journey and step, owned items, due times) gives the next-item
distribution in closed form: ``P(regular purchase inside phase window [a, b)) = S(a) - S(b)``
with survival ``S(x) = exp(-integral_t^x lambda)``, and ``P(re-buy) = S(d)``. The generator
samples from exactly the mixture :func:`next_purchase_parts` describes; only the per-event due
times (the outcome of the keep/jitter draws) are stored, everything else is replayed.

Sizes
-----
:data:`SIZES` are built in memory with that hidden state (a :class:`ShopWorld`, the oracle's
truth). :data:`STREAMED_SIZES` (``xl``, about 10M purchases; ``xxl``, about 100M) are simulated
by the same :func:`simulate_shoppers`, in parts on worker processes, and read back from Parquet
without an oracle (:mod:`seqrec.data.shop_parts`). Shopper ``u`` is the same in every size.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from seqrec.data.shop_catalog import PRODUCT_LINES, ProductLine, ShopCatalog, build_catalog
from seqrec.data.types import Catalog, Dataset, SequenceData

DAY = 86_400
WORLD_START = 1_735_689_600
"""2025-01-01T00:00:00Z, the first second of the simulated year."""
WORLD_DAYS = 365
JOIN_WINDOW_DAYS = 90
"""Shoppers join uniformly in the first ``JOIN_WINDOW_DAYS`` days of the year."""

NOISE_SHARE = 0.10
CONTINUE_SHARE = 0.60
NEXT_STEP_SHARE = 0.80
START_SHARE = 0.35
OFF_PHASE_KEEP_PROBABILITY = 0.15
"""Keep probability of a consumable bought outside its category's phase (a one-off)."""
CYCLE_JITTER = 0.2
"""Re-buy intervals are ``cycle_days * U(1 - jitter, 1 + jitter)``."""

PHASE_COUNT_PROBABILITIES = (0.15, 0.35, 0.30, 0.20)
"""P(1), P(2), P(3), P(4) interest phases per shopper."""
MEDIAN_GAP_DAYS = 12.0
"""Median days between regular purchases (per shopper log-normal, sigma 0.45)."""

SIZES: dict[str, int] = {"tiny": 150, "small": 500, "default": 1_500, "large": 22_000}
"""Number of shoppers per world size built in memory (with the oracle's truth)."""
STREAMED_SIZES: dict[str, int] = {"xl": 220_000, "xxl": 2_200_000}
"""Number of shoppers per world size generated in parts to Parquet (about 10M and 100M
purchases; no oracle): see :mod:`seqrec.data.shop_parts`."""

PERSONA_NAME = "blog_author"


# -- hidden state ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShopperProfile:
    """The hidden, time-independent part of a shopper: when they joined and their phases."""

    join_time: int
    phase_starts: np.ndarray  # [P] int64, phase_starts[0] == join_time
    phase_categories: np.ndarray  # [P] int64 category indices
    phase_rates: np.ndarray  # [P] float64 regular purchases per second

    def phase_at(self, time: float) -> int:
        """Index of the phase active at ``time`` (the first phase before the join time)."""
        return max(0, int(np.searchsorted(self.phase_starts, time, side="right")) - 1)


@dataclass
class ShopperState:
    """What the generator knows about a shopper after some purchases."""

    time: int
    owned: np.ndarray  # [n_items + 1] bool: durables bought and consumables on a re-buy cycle
    due: dict[int, int] = field(default_factory=dict)  # consumable -> next re-buy time
    journey: int = -1  # index of the journey under way, -1 for none
    step: int = -1  # last step of that journey reached
    n_purchases: int = 0

    @staticmethod
    def start(n_items: int, join_time: int) -> ShopperState:
        return ShopperState(time=int(join_time), owned=np.zeros(n_items + 1, dtype=bool))

    def earliest_due(self) -> tuple[int, float]:
        """(item, due time) of the next consumable re-buy; (0, inf) when none is on a cycle."""
        if not self.due:
            return 0, math.inf
        due_time, item = min((d, i) for i, d in self.due.items())
        return item, float(due_time)


def apply_purchase(
    catalog: ShopCatalog,
    state: ShopperState,
    item: int,
    time: int,
    due_time: int,
    phase_category: int,
) -> None:
    """Advance ``state`` by one purchase (the transition shared by generator and oracle).

    ``due_time`` is the hidden next re-buy time the generator drew for a consumable (``-1``:
    not kept on a cycle; ignored for durable goods). Journeys move only on purchases inside
    the phase category that are not re-buys of a consumable already on a cycle.
    """
    is_rebuy = item in state.due
    if state.journey >= 0 and catalog.journey_category[state.journey] != phase_category:
        state.journey, state.step = -1, -1  # the interest moved on: that journey is abandoned
    journey, step = int(catalog.item_journey[item]), int(catalog.item_step[item])
    if not is_rebuy and journey >= 0 and catalog.journey_category[journey] == phase_category:
        if journey != state.journey:
            state.journey, state.step = journey, step
        elif step > state.step:
            state.step = step
    if catalog.cycle_days[item] > 0:
        if due_time >= 0:
            state.due[item] = int(due_time)
            state.owned[item] = True
        else:
            state.due.pop(item, None)
            state.owned[item] = False
    else:
        state.owned[item] = True
    state.time = int(time)
    state.n_purchases += 1


# -- the next-purchase mixture -----------------------------------------------------------------
@dataclass(frozen=True)
class Component:
    """One part of a regular purchase's mixture. ``items is None``: popularity over the
    unowned items of ``category`` (kind "popular") or of the whole catalog (kind "noise")."""

    kind: str
    mass: float
    items: tuple[int, ...] | None = None
    probs: tuple[float, ...] | None = None


def _continuation(catalog: ShopCatalog, state: ShopperState, category: int) -> list[int]:
    """The next (at most two) unowned steps of the journey under way in ``category``."""
    if state.journey < 0 or catalog.journey_category[state.journey] != category:
        return []
    steps = catalog.journey_items[state.journey][state.step + 1 :]
    return [int(s) for s in steps if not state.owned[s]][:2]


def _journey_starts(
    catalog: ShopCatalog, state: ShopperState, category: int
) -> tuple[list[int], list[float]]:
    """Unowned first steps of ``category``'s journeys and their normalized start weights."""
    items, weights = [], []
    for journey in np.flatnonzero(catalog.journey_category == category):
        first = int(catalog.journey_items[journey][0])
        if not state.owned[first]:
            items.append(first)
            weights.append(float(catalog.journey_start_weight[journey]))
    total = sum(weights)
    return items, [w / total for w in weights]


def regular_mixture(catalog: ShopCatalog, state: ShopperState, category: int) -> list[Component]:
    """The components of a regular purchase in phase ``category`` (masses sum to 1)."""
    rest = 1.0 - NOISE_SHARE
    components = []
    steps = _continuation(catalog, state, category)
    if steps:
        probs = (1.0,) if len(steps) == 1 else (NEXT_STEP_SHARE, 1.0 - NEXT_STEP_SHARE)
        components.append(Component("journey", rest * CONTINUE_SHARE, tuple(steps), probs))
        rest *= 1.0 - CONTINUE_SHARE
    else:
        starts, weights = _journey_starts(catalog, state, category)
        if starts:
            components.append(
                Component("journey start", rest * START_SHARE, tuple(starts), tuple(weights))
            )
            rest *= 1.0 - START_SHARE
    noise = NOISE_SHARE
    if state.owned[catalog.category_items[category]].all():
        noise += rest  # nothing left to buy in the category: the mass goes to noise
    else:
        components.append(Component("popular", rest))
    components.append(Component("noise", noise))
    return components


def materialize(
    catalog: ShopCatalog, state: ShopperState, category: int, component: Component
) -> tuple[np.ndarray, np.ndarray]:
    """(items, probabilities) of a component, the owned items removed and renormalized."""
    if component.items is not None and component.probs is not None:
        return np.array(component.items, dtype=np.int64), np.array(
            component.probs, dtype=np.float64
        )
    if component.kind == "popular":
        items = catalog.category_items[category]
        weights = catalog.popularity[items]
    else:
        items = np.arange(1, catalog.n_items + 1, dtype=np.int64)
        weights = catalog.noise_weights[1:]
    keep = ~state.owned[items]
    if not keep.any():
        raise RuntimeError(
            "shop world: every item of the catalog is owned; no purchase is possible"
        )
    return items[keep], weights[keep] / weights[keep].sum()


@dataclass(frozen=True)
class Part:
    """A component of the next purchase, with its total probability ``mass``."""

    kind: str  # "journey", "journey start", "popular", "noise" or "re-buy"
    phase: int  # index of the phase the purchase falls in
    category: int
    mass: float
    items: np.ndarray  # [k] candidate item ids
    probs: np.ndarray  # [k] probabilities within the part (sum 1)


def next_purchase_parts(
    catalog: ShopCatalog, profile: ShopperProfile, state: ShopperState, horizon: float = math.inf
) -> list[Part]:
    """The exact mixture of the next purchase after ``state`` (masses sum to 1).

    With ``horizon`` finite, the distribution is conditioned on the next purchase happening
    before it (as every evaluation target in the data does).
    """
    due_item, due_time = state.earliest_due()
    windows, survival = _regular_windows(profile, state.time, min(due_time, horizon))
    rebuy = survival if due_time < horizon else 0.0
    total = sum(mass for _, mass in windows) + rebuy
    if total <= 0.0:
        if math.isinf(horizon):
            raise RuntimeError("shop world: the next purchase has probability zero")
        return next_purchase_parts(catalog, profile, state, math.inf)
    parts = []
    for phase, mass in windows:
        category = int(profile.phase_categories[phase])
        for component in regular_mixture(catalog, state, category):
            items, probs = materialize(catalog, state, category, component)
            parts.append(
                Part(component.kind, phase, category, mass * component.mass / total, items, probs)
            )
    if rebuy > 0.0:
        phase = profile.phase_at(due_time)
        parts.append(
            Part(
                "re-buy",
                phase,
                int(profile.phase_categories[phase]),
                rebuy / total,
                np.array([due_item], dtype=np.int64),
                np.ones(1),
            )
        )
    return parts


def _regular_windows(
    profile: ShopperProfile, now: float, end: float
) -> tuple[list[tuple[int, float]], float]:
    """P(the next regular purchase falls in each phase window of [now, end)) and S(end)."""
    starts = profile.phase_starts
    phase = profile.phase_at(now)
    left, log_survival = float(now), 0.0
    windows = []
    while left < end:
        right = min(end, float(starts[phase + 1]) if phase + 1 < len(starts) else math.inf)
        if math.isinf(right):
            windows.append((phase, math.exp(log_survival)))
            return windows, 0.0
        next_log_survival = log_survival - float(profile.phase_rates[phase]) * (right - left)
        windows.append((phase, math.exp(log_survival) - math.exp(next_log_survival)))
        left, log_survival, phase = right, next_log_survival, phase + 1
    return windows, math.exp(log_survival)


def dense_distribution(parts: Sequence[Part], n_items: int) -> np.ndarray:
    """Sum the parts into one probability vector [n_items + 1] (index 0, padding, is 0)."""
    distribution = np.zeros(n_items + 1, dtype=np.float64)
    for part in parts:
        np.add.at(distribution, part.items, part.mass * part.probs)
    return distribution / distribution.sum()


# -- the generator -----------------------------------------------------------------------------
class Uniforms:
    """Buffered U(0, 1) draws from one shopper's generator (Python floats, fast to pop)."""

    def __init__(self, rng: np.random.Generator, chunk: int = 256) -> None:
        self.rng, self.chunk = rng, chunk
        self.buffer: list[float] = []

    def next(self) -> float:
        if not self.buffer:
            self.buffer = self.rng.random(self.chunk).tolist()
            self.buffer.reverse()
        return self.buffer.pop()

    def exponential(self) -> float:
        return -math.log(1.0 - self.next())


@dataclass(frozen=True)
class SamplingTables:
    """Cumulative popularity lists for rejection sampling (same law as :func:`materialize`)."""

    category_items: tuple[list[int], ...]
    category_cumulative: tuple[list[float], ...]
    noise_items: list[int]
    noise_cumulative: list[float]

    @staticmethod
    def of(catalog: ShopCatalog) -> SamplingTables:
        return SamplingTables(
            tuple(items.tolist() for items in catalog.category_items),
            tuple(
                np.cumsum(catalog.popularity[items]).tolist() for items in catalog.category_items
            ),
            list(range(1, catalog.n_items + 1)),
            np.cumsum(catalog.noise_weights[1:]).tolist(),
        )


def _draw_index(cumulative: list[float], u: float) -> int:
    return min(bisect.bisect_right(cumulative, u * cumulative[-1]), len(cumulative) - 1)


def _sample_component(
    catalog: ShopCatalog,
    tables: SamplingTables,
    state: ShopperState,
    category: int,
    component: Component,
    uniforms: Uniforms,
) -> int:
    """One item from a component. Popularity components use rejection sampling over the
    unrestricted law, which draws from exactly the renormalized law of :func:`materialize`."""
    if component.items is None:
        if component.kind == "popular":
            items, cumulative = (
                tables.category_items[category],
                tables.category_cumulative[category],
            )
        else:
            items, cumulative = tables.noise_items, tables.noise_cumulative
        for _ in range(64):
            item = items[_draw_index(cumulative, uniforms.next())]
            if not state.owned[item]:
                return item
    candidates, probs = materialize(catalog, state, category, component)
    return int(candidates[_draw_index(np.cumsum(probs).tolist(), uniforms.next())])


def _sample_regular(
    catalog: ShopCatalog,
    tables: SamplingTables,
    state: ShopperState,
    category: int,
    uniforms: Uniforms,
) -> int:
    components = regular_mixture(catalog, state, category)
    u, chosen = uniforms.next(), components[-1]
    for component in components:
        if u < component.mass:
            chosen = component
            break
        u -= component.mass
    return _sample_component(catalog, tables, state, category, chosen, uniforms)


def _regular_time(
    now: int, starts: list[int], rates: list[float], exposure: float
) -> tuple[float, int]:
    """Time and phase of the next regular purchase for a unit-exponential ``exposure``."""
    phase = max(0, bisect.bisect_right(starts, now) - 1)
    left = float(now)
    while True:
        right = float(starts[phase + 1]) if phase + 1 < len(starts) else math.inf
        capacity = rates[phase] * (right - left)
        if exposure < capacity:
            return left + exposure / rates[phase], phase
        exposure -= capacity
        left, phase = right, phase + 1


def _draw_due_time(
    catalog: ShopCatalog,
    state: ShopperState,
    item: int,
    time: int,
    phase_category: int,
    uniforms: Uniforms,
) -> int:
    """Hidden re-buy time of a consumable just bought (-1: not kept on a cycle)."""
    if catalog.cycle_days[item] <= 0:
        return -1
    in_routine = item in state.due or catalog.category_of[item] == phase_category
    keep = catalog.keep_probability[item] if in_routine else OFF_PHASE_KEEP_PROBABILITY
    if uniforms.next() >= keep:
        return -1
    stretch = 1.0 + CYCLE_JITTER * (2.0 * uniforms.next() - 1.0)
    return time + round(float(catalog.cycle_days[item]) * DAY * stretch)


def draw_next_purchase(
    catalog: ShopCatalog,
    tables: SamplingTables,
    profile: ShopperProfile,
    state: ShopperState,
    horizon: float,
    uniforms: Uniforms,
) -> tuple[int, int, int] | None:
    """Sample (item, time, phase category) of the purchase after ``state``; ``None`` when
    it would fall at or after ``horizon``. Does not change ``state``."""
    starts = profile.phase_starts.tolist()
    categories = profile.phase_categories.tolist()
    due_item, due_time = state.earliest_due()
    regular_time, phase = _regular_time(
        state.time, starts, profile.phase_rates.tolist(), uniforms.exponential()
    )
    if regular_time < due_time and regular_time < horizon:
        category = categories[phase]
        return (
            _sample_regular(catalog, tables, state, category, uniforms),
            int(regular_time),
            category,
        )
    if due_time < horizon:
        return (
            due_item,
            int(due_time),
            categories[max(0, bisect.bisect_right(starts, due_time) - 1)],
        )
    return None


def simulate_shopper(
    catalog: ShopCatalog,
    profile: ShopperProfile,
    horizon: int,
    rng: np.random.Generator,
    tables: SamplingTables | None = None,
) -> tuple[list[int], list[int], list[int]]:
    """One shopper's purchases before ``horizon``: (items, timestamps, hidden due times)."""
    tables = tables or SamplingTables.of(catalog)
    uniforms = Uniforms(rng)
    state = ShopperState.start(catalog.n_items, profile.join_time)
    items, times, dues = [], [], []
    while (
        purchase := draw_next_purchase(catalog, tables, profile, state, horizon, uniforms)
    ) is not None:
        item, time, category = purchase
        due = _draw_due_time(catalog, state, item, time, category, uniforms)
        apply_purchase(catalog, state, item, time, due, category)
        items.append(item)
        times.append(time)
        dues.append(due)
    return items, times, dues


def draw_profile(
    catalog: ShopCatalog, rng: np.random.Generator, start: int, horizon: int
) -> ShopperProfile:
    """Join time, 1-4 interest phases (distinct categories) and their purchase rates."""
    join = start + int(rng.integers(0, JOIN_WINDOW_DAYS * DAY))
    n_phases = int(rng.choice(len(PHASE_COUNT_PROBABILITIES), p=PHASE_COUNT_PROBABILITIES)) + 1
    categories = rng.choice(
        catalog.n_categories, size=n_phases, replace=False, p=catalog.category_weights
    )
    # Dirichlet shares plus a floor keep every phase at least ~3 weeks long.
    shares = (rng.dirichlet(np.full(n_phases, 2.0)) + 0.1) / (1.0 + 0.1 * n_phases)
    boundaries = join + np.floor(np.cumsum(shares[:-1]) * (horizon - join)).astype(np.int64)
    gap_days = MEDIAN_GAP_DAYS * math.exp(0.45 * rng.standard_normal())
    rates = np.exp(0.35 * rng.standard_normal(n_phases)) / (gap_days * DAY)
    return ShopperProfile(
        join_time=join,
        phase_starts=np.concatenate([[join], boundaries]).astype(np.int64),
        phase_categories=categories.astype(np.int64),
        phase_rates=rates.astype(np.float64),
    )


# -- the persona ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShopPersona:
    """A named example shopper, held out of the training data."""

    name: str
    items: np.ndarray  # [n] dense item ids, time-ordered
    timestamps: np.ndarray  # [n] int64 seconds
    titles: list[str]
    categories: list[str]
    n_items: int

    def histories(self) -> SequenceData:
        """Her whole history as a one-row SequenceData (user id -1: not in the data)."""
        return SequenceData.from_lists(
            [self.items.tolist()], self.n_items, [self.timestamps.tolist()], [-1]
        )


_CAT_LITTER = "Clumping Cat Litter, Unscented, 20 lb"
_CAT_TREATS = "Freeze-Dried Chicken Cat Treats, 3 oz"

BLOG_AUTHOR_SCRIPT: tuple[tuple[str, str], ...] = (
    # six months of cat supplies (the "new cat at home" journey, litter and treats on a cycle)
    ("2025-01-04T10:12", "Honeycomb Cat Litter Mat, Large"),
    ("2025-01-04T10:40", _CAT_LITTER),
    ("2025-01-21T19:05", "Stainless Steel Cat Water Fountain, 2 L"),
    ("2025-02-03T10:40", _CAT_LITTER),
    ("2025-02-17T21:30", "Sisal Cat Scratching Post, 32 in"),
    ("2025-03-05T10:40", _CAT_LITTER),
    ("2025-03-11T18:22", _CAT_TREATS),
    ("2025-04-04T10:40", _CAT_LITTER),
    ("2025-04-08T18:22", _CAT_TREATS),
    ("2025-04-19T12:47", "Feather Wand Cat Toy Set, 5 Pieces"),
    ("2025-05-04T10:40", _CAT_LITTER),
    ("2025-05-06T18:22", _CAT_TREATS),
    ("2025-05-27T20:15", "Airline-Approved Soft Cat Carrier"),
    ("2025-06-03T10:40", _CAT_LITTER),
    ("2025-06-03T18:22", _CAT_TREATS),
    # three months of baking (the "cake decorating" journey); the cat still eats
    ("2025-07-01T18:22", _CAT_TREATS),
    ("2025-07-03T10:40", _CAT_LITTER),
    ("2025-07-08T20:03", "Aluminum Half Sheet Pans, Set of 2"),
    ("2025-07-22T21:14", "Silicone Baking Mat, Set of 2"),
    ("2025-07-29T18:22", _CAT_TREATS),
    ("2025-08-02T10:40", _CAT_LITTER),
    ("2025-08-12T19:48", "Piping Bags and Tips Set, 24 Pieces"),
    ("2025-08-26T18:22", _CAT_TREATS),
    ("2025-08-30T11:09", "Rotating Cake Turntable, 12 in"),
    ("2025-09-01T10:40", _CAT_LITTER),
    ("2025-09-16T20:31", "Stand Mixer Bowl, Stainless Steel, 5 qt"),
    ("2025-09-23T18:22", _CAT_TREATS),
    ("2025-09-30T10:40", _CAT_LITTER),
    # the last two weeks: she started lifting (the "home gym" journey)
    ("2025-10-01T18:55", "Percussion Massage Gun"),
    ("2025-10-07T07:30", "Whey Protein Powder, Vanilla, 2 lb"),
    ("2025-10-13T19:02", "Padded Lifting Gloves"),
)
"""The running example's purchases: (UTC time, exact catalog title)."""

BLOG_AUTHOR_PHASES: tuple[tuple[str, str, float], ...] = (
    ("2025-01-01T00:00", "cat supplies", 26.0),
    ("2025-07-01T00:00", "baking", 18.0),
    ("2025-10-01T00:00", "fitness", 4.5),
)
"""Her hidden phases: (start, category, mean days between regular purchases)."""


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def _iso_day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d")


def _scripted_due_times(catalog: ShopCatalog, items: list[int], times: list[int]) -> list[int]:
    """A scripted consumable is due at its next scripted purchase, the last one a cycle later."""
    dues = []
    for position, item in enumerate(items):
        if catalog.cycle_days[item] <= 0:
            dues.append(-1)
            continue
        later = [t for i, t in zip(items[position + 1 :], times[position + 1 :]) if i == item]
        dues.append(later[0] if later else times[position] + int(catalog.cycle_days[item] * DAY))
    return dues


def build_blog_author(catalog: ShopCatalog) -> tuple[ShopPersona, ShopperProfile, np.ndarray]:
    """The persona, her hidden profile and her per-purchase due times."""
    items = [catalog.item_id(title) for _, title in BLOG_AUTHOR_SCRIPT]
    times = [_epoch(when) for when, _ in BLOG_AUTHOR_SCRIPT]
    profile = ShopperProfile(
        join_time=_epoch(BLOG_AUTHOR_PHASES[0][0]),
        phase_starts=np.array(
            [_epoch(start) for start, _, _ in BLOG_AUTHOR_PHASES], dtype=np.int64
        ),
        phase_categories=np.array(
            [catalog.category_index(c) for _, c, _ in BLOG_AUTHOR_PHASES], dtype=np.int64
        ),
        phase_rates=np.array(
            [1.0 / (gap * DAY) for _, _, gap in BLOG_AUTHOR_PHASES], dtype=np.float64
        ),
    )
    persona = ShopPersona(
        name=PERSONA_NAME,
        items=np.array(items, dtype=np.int64),
        timestamps=np.array(times, dtype=np.int64),
        titles=[str(catalog.titles[i]) for i in items],
        categories=[str(catalog.categories[i]) for i in items],
        n_items=catalog.n_items,
    )
    return persona, profile, np.array(_scripted_due_times(catalog, items, times), dtype=np.int64)


# -- the world -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    """Whose history a query is about: hidden profile, full purchases and due times."""

    name: str
    profile: ShopperProfile
    items: np.ndarray  # [n] int64
    timestamps: np.ndarray  # [n] int64
    due_times: np.ndarray  # [n] int64 re-buy time drawn at each purchase, -1 for none
    horizon: float  # the end of the observed year (inf for personas and unknown histories)
    known: bool = True  # False: profile inferred from an unknown history


@dataclass(frozen=True, eq=False)
class ShopWorld:
    """A generated shop: catalog, shoppers' purchases, and the hidden state behind them.

    Row ``u`` of ``sequences`` is shopper ``labels[u]``, the same row as in the Dataset that
    :func:`make_shop_dataset` builds. Profiles are stored flat: shopper ``u``'s phases are
    ``phase_offsets[u]:phase_offsets[u + 1]``.
    """

    catalog: ShopCatalog
    seed: int
    start: int
    horizon: int
    labels: np.ndarray  # [U] str
    sequences: SequenceData
    due_times: np.ndarray  # [N] int64 hidden re-buy time drawn at each purchase, -1 for none
    join_times: np.ndarray  # [U] int64
    phase_offsets: np.ndarray  # [U + 1] int64
    phase_starts: np.ndarray  # [P] int64
    phase_categories: np.ndarray  # [P] int64
    phase_rates: np.ndarray  # [P] float64
    personas: dict[str, ShopPersona]
    persona_profiles: dict[str, ShopperProfile]
    persona_due_times: dict[str, np.ndarray]

    @property
    def n_items(self) -> int:
        return self.catalog.n_items

    @property
    def n_shoppers(self) -> int:
        return len(self.labels)

    # -- lookup -------------------------------------------------------------------------------
    def shopper_index(self, label: str) -> int:
        hits = np.flatnonzero(self.labels == label)
        if len(hits) == 0:
            raise KeyError(
                f"no shopper {label!r} in this shop world (labels look like {self.labels[0]!r})"
            )
        return int(hits[0])

    def profile(self, shopper: int) -> ShopperProfile:
        lo, hi = self.phase_offsets[shopper], self.phase_offsets[shopper + 1]
        return ShopperProfile(
            int(self.join_times[shopper]),
            self.phase_starts[lo:hi],
            self.phase_categories[lo:hi],
            self.phase_rates[lo:hi],
        )

    def subject(self, user: str | int) -> Subject:
        """A shopper (dense index or label) or a persona (by name)."""
        if isinstance(user, str) and user in self.personas:
            persona = self.personas[user]
            return Subject(
                user,
                self.persona_profiles[user],
                persona.items,
                persona.timestamps,
                self.persona_due_times[user],
                math.inf,
            )
        index = self.shopper_index(user) if isinstance(user, str) else int(user)
        if not 0 <= index < self.n_shoppers:
            raise IndexError(f"shopper index {index} outside 0..{self.n_shoppers - 1}")
        lo, hi = self.sequences.offsets[index], self.sequences.offsets[index + 1]
        return Subject(
            str(self.labels[index]),
            self.profile(index),
            self.sequences.items[lo:hi],
            self.sequences.timestamps[lo:hi],
            self.due_times[lo:hi],
            float(self.horizon),
        )

    def identify(
        self, items: Sequence[int] | np.ndarray, user: int = -1
    ) -> tuple[Subject, int] | None:
        """The subject whose purchases start with ``items``: shopper ``user`` if it fits, else
        a persona, else the first shopper whose sequence has this prefix; ``None`` if nobody."""
        history = np.asarray(items, dtype=np.int64)
        candidates: list[str | int] = [int(user)] if 0 <= user < self.n_shoppers else []
        for candidate in [*candidates, *self.personas]:
            subject = self.subject(candidate)
            if _is_prefix(history, subject.items):
                return subject, len(history)
        if len(history) == 0:
            return None
        offsets, all_items = self.sequences.offsets, self.sequences.items
        long_enough = np.flatnonzero(self.sequences.lengths >= len(history))
        same_start = long_enough[all_items[offsets[long_enough]] == history[0]]
        for shopper in same_start:
            if _is_prefix(history, all_items[offsets[shopper] : offsets[shopper + 1]]):
                return self.subject(int(shopper)), len(history)
        return None

    def unknown_subject(
        self, items: Sequence[int] | np.ndarray, timestamps: Sequence[int] | np.ndarray
    ) -> Subject:
        """A stand-in for a history from outside the world: one phase in the category of the
        last purchase at the median rate, consumables assumed kept on their mean cycle, and
        timestamps before the world's year replaced by weekly purchases ending at its horizon."""
        history = np.asarray(items, dtype=np.int64)
        times = np.asarray(timestamps, dtype=np.int64)
        if len(history) == 0:
            raise ValueError(
                "the shop oracle needs at least one purchase to infer an unknown shopper"
            )
        if len(times) != len(history) or times.min() < self.start:
            times = self.horizon - DAY * 7 * np.arange(len(history), 0, -1, dtype=np.int64)
        category = int(self.catalog.category_of[history[-1]])
        profile = ShopperProfile(
            int(times[0]),
            np.array([times[0]], dtype=np.int64),
            np.array([category], dtype=np.int64),
            np.array([1.0 / (MEDIAN_GAP_DAYS * DAY)], dtype=np.float64),
        )
        cycles = self.catalog.cycle_days[history]
        dues = np.where(cycles > 0, times + (cycles * DAY).astype(np.int64), -1)
        return Subject("unknown shopper", profile, history, times, dues, math.inf, known=False)

    # -- the truth ----------------------------------------------------------------------------
    def replay(self, subject: Subject, n_history: int) -> ShopperState:
        """The hidden state after the subject's first ``n_history`` purchases."""
        if not 0 <= n_history <= len(subject.items):
            raise ValueError(
                f"{subject.name} has {len(subject.items)} purchases, asked for state after {n_history}"
            )
        state = ShopperState.start(self.n_items, subject.profile.join_time)
        categories = subject.profile.phase_categories
        for item, when, due in zip(
            subject.items[:n_history].tolist(),
            subject.timestamps[:n_history].tolist(),
            subject.due_times[:n_history].tolist(),
        ):
            apply_purchase(
                self.catalog,
                state,
                item,
                when,
                due,
                int(categories[subject.profile.phase_at(when)]),
            )
        return state

    def next_purchase_parts(
        self, subject: Subject, n_history: int, condition_on_horizon: bool = True
    ) -> list[Part]:
        """The exact mixture of the purchase after the first ``n_history`` ones.

        With ``condition_on_horizon``, conditioned on that purchase falling inside the
        observed year when the data has one (every evaluation target does); never after a
        shopper's last purchase, nor for personas.
        """
        state = self.replay(subject, n_history)
        conditioned = condition_on_horizon and n_history < len(subject.items)
        horizon = subject.horizon if conditioned else math.inf
        return next_purchase_parts(self.catalog, subject.profile, state, horizon)

    def next_item_distribution(self, user: str | int, n_history: int) -> np.ndarray:
        """P(next purchase = item) [n_items + 1] after ``user``'s first ``n_history`` purchases.

        ``user``: dense shopper index, shopper label, or persona name ("blog_author").
        """
        return dense_distribution(
            self.next_purchase_parts(self.subject(user), n_history), self.n_items
        )

    def distribution_after(
        self,
        profile: ShopperProfile,
        items: Sequence[int],
        timestamps: Sequence[int],
        due_times: Sequence[int] | None = None,
        horizon: float = math.inf,
    ) -> np.ndarray:
        """The next-item distribution of a hand-built shopper (default: consumables kept on
        their mean cycle)."""
        history = np.asarray(items, dtype=np.int64)
        times = np.asarray(timestamps, dtype=np.int64)
        if due_times is None:
            cycles = self.catalog.cycle_days[history]
            dues = np.where(cycles > 0, times + (cycles * DAY).astype(np.int64), -1)
        else:
            dues = np.asarray(due_times, dtype=np.int64)
        subject = Subject("hand-built shopper", profile, history, times, dues, horizon)
        state = self.replay(subject, len(history))
        return dense_distribution(
            next_purchase_parts(self.catalog, profile, state, horizon), self.n_items
        )

    def describe(self, subject: Subject, n_history: int) -> str:
        """The hidden state after ``n_history`` purchases, in words."""
        state = self.replay(subject, n_history)
        profile, catalog = subject.profile, self.catalog
        phase = profile.phase_at(state.time)
        gap_days = 1.0 / (float(profile.phase_rates[phase]) * DAY)
        category = catalog.category_names[profile.phase_categories[phase]]
        since = _iso_day(float(profile.phase_starts[phase]))
        words = [
            f"{subject.name} after {n_history} purchases ({_iso_day(state.time)}): interest phase "
            + f"{phase + 1} of {len(profile.phase_starts)}, {category} since {since} "
            + f"(a regular purchase every ~{gap_days:.1f} days)",
        ]
        if phase + 1 < len(profile.phase_starts):
            words.append(
                f"next phase {catalog.category_names[profile.phase_categories[phase + 1]]} from "
                f"{_iso_day(float(profile.phase_starts[phase + 1]))}"
            )
        words.append(self._journey_words(state, int(profile.phase_categories[phase])))
        if state.due:
            due = sorted((d, i) for i, d in state.due.items())
            words.append(
                "on a re-buy cycle: "
                + "; ".join(f"{catalog.titles[i]} (due {_iso_day(d)})" for d, i in due)
            )
        if not subject.known:
            words.append("(unknown shopper: phase and cycles inferred from the history)")
        return "; ".join(words)

    def _journey_words(self, state: ShopperState, category: int) -> str:
        if state.journey < 0 or self.catalog.journey_category[state.journey] != category:
            return "no journey under way"
        journey = self.catalog.journeys[state.journey]
        steps = _continuation(self.catalog, state, category)
        upcoming = f", next: {self.catalog.titles[steps[0]]}" if steps else ", finished"
        return (
            f"journey '{journey.name}' at step {state.step + 1} of {len(journey.steps)} "
            f"({journey.steps[state.step]}){upcoming}"
        )

    # -- the dataset --------------------------------------------------------------------------
    def to_dataset(self, name: str = "shop") -> Dataset:
        return shop_dataset(self.catalog, self.sequences, self.labels, self.seed, name, world=self)


def shop_dataset(
    catalog: ShopCatalog,
    sequences: SequenceData,
    labels: np.ndarray,
    seed: int,
    name: str = "shop",
    world: ShopWorld | None = None,
    world_unavailable: str = "",
) -> Dataset:
    """The :class:`Dataset` of shop purchases: catalog texts, the persona, and the world (the
    oracle's truth) when there is one; without it, ``world_unavailable`` says why in
    ``extras["world_unavailable"]``."""
    text = item_descriptions(catalog)
    item_labels = np.array(["<pad>"] + [f"shop-{i:04d}" for i in range(1, catalog.n_items + 1)])
    catalog_frame = pl.DataFrame(
        {
            "item": item_labels[1:].tolist(),
            "title": catalog.titles[1:].tolist(),
            "category": catalog.categories[1:].tolist(),
            "text": text[1:],
        }
    )
    if world is not None:
        personas = dict(world.personas)
    else:
        personas = {PERSONA_NAME: build_blog_author(catalog)[0]}
    extras: dict[str, Any] = {
        "personas": personas,
        "catalog": Catalog(catalog_frame),
        "seed": seed,
        "item_texts": np.array(text, dtype=object),
    }
    if world is not None:
        extras["world"] = world
    else:
        extras["world_unavailable"] = world_unavailable or "this dataset keeps no generator state"
    return Dataset(
        name=name,
        sequences=sequences,
        user_labels=labels,
        item_labels=item_labels,
        titles=catalog.titles.copy(),
        categories=catalog.categories.copy(),
        exclude_history=False,  # consumables are re-bought
        extras=extras,
    )


def item_descriptions(catalog: ShopCatalog) -> list[str]:
    """A one-line description of every item (``""`` at padding), written from the catalog's own
    attributes: product line and variant, consumable re-buy cycle or durable good, and the
    journey the item is a step of. Fixed data only (no random draw): the same in every world.

    ``"Clumping Cat Litter, Lavender, 25 lb"`` reads ``"Clumping Cat Litter in the variant
    Lavender, 25 lb (one of 3 variants). A consumable, re-bought about every 30 days."``
    """
    # Items are numbered as build_catalog numbers them: product lines in order, then variants.
    variants = [
        (line, variant, title)
        for lines in PRODUCT_LINES.values()
        for line in lines
        for variant, title in zip(line.variants or ("",), line.titles())
    ]
    texts = [""]
    for item, (line, variant, title) in enumerate(variants, start=1):
        if title != catalog.titles[item]:
            raise ValueError(f"shop catalog: item {item} is {catalog.titles[item]!r}, not {title!r}")
        texts.append(" ".join(_description_sentences(catalog, item, line, variant)))
    return texts


def _description_sentences(catalog: ShopCatalog, item: int, line: ProductLine, variant: str) -> list[str]:
    if len(line.variants) > 1:
        sentences = [f"{line.name} in the variant {variant} (one of {len(line.variants)} variants)."]
    else:
        sentences = [f"{line.name}, {variant}." if variant else f"{line.name}."]
    if catalog.cycle_days[item] > 0:
        sentences.append(f"A consumable, re-bought about every {int(catalog.cycle_days[item])} days.")
    else:
        sentences.append("A durable good, bought once.")
    journey = int(catalog.item_journey[item])
    if journey >= 0:
        name, n_steps = catalog.journeys[journey].name, len(catalog.journeys[journey].steps)
        sentences.append(f"Step {int(catalog.item_step[item]) + 1} of {n_steps} of the '{name}' journey.")
    return sentences


def _is_prefix(history: np.ndarray, items: np.ndarray) -> bool:
    return len(history) <= len(items) and bool(np.array_equal(history, items[: len(history)]))


@dataclass(frozen=True)
class ShopperBatch:
    """Shoppers ``first .. first + len(lengths) - 1`` of a world, simulated, stored flat.

    Shopper ``first + s`` owns purchases ``offsets[s]:offsets[s + 1]`` and phases
    ``phase_offsets[s]:phase_offsets[s + 1]``. A batch is the unit both the in-memory world and
    the streamed one (:mod:`seqrec.data.shop_parts`) are made of, so shopper ``u`` is the same
    shopper whichever way, and whatever the world's size.
    """

    first: int
    offsets: np.ndarray  # [S + 1] int64
    items: np.ndarray  # [N] int64
    timestamps: np.ndarray  # [N] int64
    due_times: np.ndarray  # [N] int64, -1 for none
    join_times: np.ndarray  # [S] int64
    phase_offsets: np.ndarray  # [S + 1] int64
    phase_starts: np.ndarray  # [P] int64
    phase_categories: np.ndarray  # [P] int64
    phase_rates: np.ndarray  # [P] float64

    @property
    def n_shoppers(self) -> int:
        return len(self.offsets) - 1


def simulate_shoppers(
    catalog: ShopCatalog,
    first: int,
    last: int,
    seed: int = 0,
    tables: SamplingTables | None = None,
) -> ShopperBatch:
    """Simulate shoppers ``first .. last - 1``; shopper ``u`` draws from its own stream
    ``SeedSequence([seed, u])``, so the result does not depend on which other shoppers are
    simulated, nor in which process."""
    if not 0 <= first < last:
        raise ValueError(f"shopper range needs 0 <= first < last, got first={first}, last={last}")
    tables = tables or SamplingTables.of(catalog)
    start, horizon = WORLD_START, WORLD_START + WORLD_DAYS * DAY
    items: list[int] = []
    times: list[int] = []
    dues: list[int] = []
    lengths, profiles = [], []
    for shopper in range(first, last):
        rng = np.random.default_rng([seed, shopper])
        profile = draw_profile(catalog, rng, start, horizon)
        shopper_items, shopper_times, shopper_dues = simulate_shopper(
            catalog, profile, horizon, rng, tables
        )
        items += shopper_items
        times += shopper_times
        dues += shopper_dues
        lengths.append(len(shopper_items))
        profiles.append(profile)
    return ShopperBatch(
        first=first,
        offsets=_offsets(lengths),
        items=np.array(items, dtype=np.int64),
        timestamps=np.array(times, dtype=np.int64),
        due_times=np.array(dues, dtype=np.int64),
        join_times=np.array([p.join_time for p in profiles], dtype=np.int64),
        phase_offsets=_offsets([len(p.phase_starts) for p in profiles]),
        phase_starts=np.concatenate([p.phase_starts for p in profiles]).astype(np.int64),
        phase_categories=np.concatenate([p.phase_categories for p in profiles]).astype(np.int64),
        phase_rates=np.concatenate([p.phase_rates for p in profiles]).astype(np.float64),
    )


def _offsets(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    return offsets


def shopper_labels(n_shoppers: int) -> np.ndarray:
    """``shopper_000000``, ``shopper_000001``, ... (built by Polars, not a Python loop, so that
    millions of labels are cheap)."""
    labels = pl.select(
        pl.format("shopper_{}", pl.int_range(n_shoppers, eager=False).cast(pl.String).str.zfill(6))
    ).to_series()
    return labels.to_numpy().astype(str)


def build_shop_world(n_shoppers: int, seed: int = 0) -> ShopWorld:
    """Generate ``n_shoppers`` shoppers (deterministic per seed; shopper ``u`` uses the stream
    ``SeedSequence([seed, u])``, so worlds of different sizes share their first shoppers)."""
    if n_shoppers < 1:
        raise ValueError(f"a shop world needs at least one shopper, got n_shoppers={n_shoppers}")
    catalog = build_catalog()
    batch = simulate_shoppers(catalog, 0, n_shoppers, seed)
    persona, persona_profile, persona_dues = build_blog_author(catalog)
    return ShopWorld(
        catalog=catalog,
        seed=seed,
        start=WORLD_START,
        horizon=WORLD_START + WORLD_DAYS * DAY,
        labels=shopper_labels(n_shoppers),
        sequences=SequenceData(
            batch.offsets,
            batch.items,
            batch.timestamps,
            catalog.n_items,
            np.arange(n_shoppers, dtype=np.int64),
        ),
        due_times=batch.due_times,
        join_times=batch.join_times,
        phase_offsets=batch.phase_offsets,
        phase_starts=batch.phase_starts,
        phase_categories=batch.phase_categories,
        phase_rates=batch.phase_rates,
        personas={PERSONA_NAME: persona},
        persona_profiles={PERSONA_NAME: persona_profile},
        persona_due_times={PERSONA_NAME: persona_dues},
    )


def make_shop_dataset(size: str = "default", seed: int = 0) -> Dataset:
    """The in-memory shop world of a named size as a :class:`Dataset`.

    "tiny" (150 shoppers, for tests), "small" (500), "default" (1,500), "large" (22,000, about a
    million purchases); ``extras["world"]`` is the :class:`ShopWorld` (the oracle's truth),
    ``extras["personas"]["blog_author"]`` the held-out running example. The streamed sizes
    "xl" and "xxl" are not built here but by :func:`seqrec.data.shop_parts.shop_of_size` (which
    ``load_dataset("shop:xl")`` calls): they are generated into Parquet parts and keep no oracle.
    """
    if size in STREAMED_SIZES:
        raise ValueError(
            f"shop size {size!r} is streamed from Parquet parts and has no oracle: load it with "
            f"load_dataset('shop:{size}') or seqrec.data.shop_parts.shop_of_size({size!r})"
        )
    if size not in SIZES:
        known = ", ".join([*SIZES, *STREAMED_SIZES])
        raise ValueError(f"unknown shop size {size!r}; choose from {known}")
    dataset = build_shop_world(SIZES[size], seed).to_dataset()
    dataset.extras["size"] = size
    return dataset
