"""The catalog of the synthetic shop: twelve categories, ~540 items, consumables and journeys.

Everything here is fixed data (it does not depend on the world's seed), so item ids, titles
and journeys are the same in every shop world. The literal data (product lines, category
weights, keep probabilities, journeys) lives in the packaged file ``shop_catalog.json``, read
and schema-checked at import by :func:`load_catalog_data`. :func:`build_catalog` turns it into
flat arrays indexed by dense item id (``0`` is padding, items are ``1..n_items``).

* A :class:`ProductLine` is a product with one or more variants; each variant is one item
  titled ``"<name>, <variant>"`` (e.g. ``"Silicone Baking Mat, Set of 2"``). Lines with a
  ``cycle_days`` are consumables that shoppers re-buy about every that many days.
* A :class:`Journey` is an ordered chain of items inside one category: buying one step makes
  the next steps likely (massage gun -> whey protein -> lifting gloves -> shaker bottle ...).
  Journeys of a category are disjoint, so every item belongs to at most one journey.
* Popularity inside a category is Zipf-like: the item of popularity rank ``r`` (0-based) has
  weight ``1 / (r + 1) ** ZIPF_EXPONENT``; ranks are a fixed permutation of the category.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import NoReturn

import numpy as np

ZIPF_EXPONENT = 1.0
"""Exponent of the within-category popularity law (1.0 = classic Zipf)."""

CATALOG_SEED = 20250101
"""Seed of the fixed popularity ranks; the catalog is the same for every world seed."""


@dataclass(frozen=True)
class ProductLine:
    """A product sold in one or more variants; ``cycle_days`` marks a consumable."""

    name: str
    variants: tuple[str, ...] = ()
    cycle_days: int | None = None

    def titles(self) -> list[str]:
        if not self.variants:
            return [self.name]
        return [f"{self.name}, {variant}" for variant in self.variants]


@dataclass(frozen=True)
class Journey:
    """An ordered chain of item titles inside one category."""

    name: str
    category: str
    steps: tuple[str, ...]


CATALOG_FILE = "shop_catalog.json"
"""The packaged data file (next to this module) holding all literal catalog data."""


class CatalogSchemaError(ValueError):
    """The catalog data file is malformed; the message names the file and the bad entry."""


@dataclass(frozen=True)
class CatalogData:
    """The literal catalog data, parsed and validated (see :func:`parse_catalog_data`)."""

    product_lines: dict[str, tuple[ProductLine, ...]]
    category_weights: dict[str, float]
    keep_probability: dict[str, float]
    journeys: tuple[Journey, ...]


_TOP_KEYS = ("categories", "category_weights", "keep_probability", "journeys")
_LINE_KEYS = ("name", "variants", "cycle_days")
_JOURNEY_KEYS = ("name", "category", "note", "steps")


def load_catalog_data() -> CatalogData:
    """Read and validate the packaged :data:`CATALOG_FILE` (via :mod:`importlib.resources`)."""
    text = resources.files("seqrec.data").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise CatalogSchemaError(f"{CATALOG_FILE}: not valid JSON: {exc}") from exc
    return parse_catalog_data(data)


def parse_catalog_data(data: object, source: str = CATALOG_FILE) -> CatalogData:
    """Validate decoded catalog data (a dict as :func:`json.load` returns it) and build it.

    The expected layout::

        {"categories": {"<category>": [{"name": str, "variants": [str, ...],
                                        "cycle_days": int}, ...], ...},
         "category_weights": {"<category>": number > 0, ...},   # every category
         "keep_probability": {"<category>": number in [0, 1], ...},  # optional per category
         "journeys": [{"name": str, "category": str, "note": str,
                       "steps": [title, ...]}, ...]}

    ``variants``, ``cycle_days`` and ``note`` are optional. Raises :class:`CatalogSchemaError`
    naming ``source`` and the bad entry, e.g. ``categories["baking"][3]: 'cycle_days' must be
    a positive integer, got "x"``.
    """
    top = _object(data, source, "", "the catalog")
    _check_keys(top, _TOP_KEYS, _TOP_KEYS, source, "")
    product_lines, title_at = _parse_categories(top["categories"], source)
    categories = tuple(product_lines)
    return CatalogData(
        product_lines=product_lines,
        category_weights=_parse_category_numbers(
            top["category_weights"], categories, source, "category_weights", required=True
        ),
        keep_probability=_parse_category_numbers(
            top["keep_probability"], categories, source, "keep_probability", required=False
        ),
        journeys=_parse_journeys(top["journeys"], categories, title_at, source),
    )


def _parse_categories(
    value: object, source: str
) -> tuple[dict[str, tuple[ProductLine, ...]], dict[str, tuple[str, str]]]:
    """Product lines per category, and per title: (its category, the path of its line)."""
    categories = _object(value, source, "categories", "an object of categories")
    if not categories:
        _fail(source, "categories", "must name at least one category")
    product_lines: dict[str, tuple[ProductLine, ...]] = {}
    title_at: dict[str, tuple[str, str]] = {}
    for category, entries in categories.items():
        where = f"categories[{_show(category)}]"
        if not isinstance(category, str) or not category:
            _fail(source, where, "category names must be non-empty strings")
        if not isinstance(entries, list) or not entries:
            _fail(source, where, f"must be a non-empty list of product lines, got {_show(entries)}")
        lines = []
        for index, entry in enumerate(entries):
            line = _parse_line(entry, source, f"{where}[{index}]")
            for title in line.titles():
                if title in title_at:
                    _fail(
                        source,
                        f"{where}[{index}]",
                        f"duplicate title {_show(title)} (first at {title_at[title][1]})",
                    )
                title_at[title] = (category, f"{where}[{index}]")
            lines.append(line)
        product_lines[category] = tuple(lines)
    return product_lines, title_at


def _parse_line(value: object, source: str, where: str) -> ProductLine:
    entry = _object(value, source, where, "a product line object")
    _check_keys(entry, _LINE_KEYS, ("name",), source, where)
    name = _string(entry["name"], source, where, "'name'")
    variants_value = entry.get("variants", [])
    if not isinstance(variants_value, list):
        _fail(source, where, f"'variants' must be a list of strings, got {_show(variants_value)}")
    variants = tuple(
        _string(variant, source, f"{where}.variants[{i}]", "a variant")
        for i, variant in enumerate(variants_value)
    )
    cycle = entry.get("cycle_days")
    if cycle is not None and (isinstance(cycle, bool) or not isinstance(cycle, int) or cycle <= 0):
        _fail(source, where, f"'cycle_days' must be a positive integer, got {_show(cycle)}")
    return ProductLine(name, variants, cycle)


def _parse_category_numbers(
    value: object, categories: tuple[str, ...], source: str, key: str, *, required: bool
) -> dict[str, float]:
    """``category_weights`` (every category, > 0) or ``keep_probability`` (some, in [0, 1])."""
    numbers = _object(value, source, key, "an object of numbers per category")
    for category in numbers:
        if category not in categories:
            _fail(source, key, f"unknown category {_show(category)}")
    if required:
        for category in categories:
            if category not in numbers:
                _fail(source, key, f"missing category {_show(category)}")
    parsed: dict[str, float] = {}
    for category, number in numbers.items():
        where = f"{key}[{_show(category)}]"
        if isinstance(number, bool) or not isinstance(number, int | float):
            number = math.nan
        if required and not (math.isfinite(number) and number > 0):
            _fail(source, where, f"must be a positive number, got {_show(numbers[category])}")
        if not required and not 0.0 <= number <= 1.0:
            _fail(source, where, f"must be a number in [0, 1], got {_show(numbers[category])}")
        parsed[category] = float(number)
    return parsed


def _parse_journeys(
    value: object,
    categories: tuple[str, ...],
    title_at: dict[str, tuple[str, str]],
    source: str,
) -> tuple[Journey, ...]:
    if not isinstance(value, list):
        _fail(source, "journeys", f"must be a list of journeys, got {_show(value)}")
    journeys: list[Journey] = []
    name_at: dict[str, str] = {}
    step_at: dict[str, str] = {}
    for index, item in enumerate(value):
        where = f"journeys[{index}]"
        entry = _object(item, source, where, "a journey object")
        _check_keys(entry, _JOURNEY_KEYS, ("name", "category", "steps"), source, where)
        name = _string(entry["name"], source, where, "'name'")
        if name in name_at:
            _fail(source, where, f"duplicate journey name {_show(name)} (first at {name_at[name]})")
        name_at[name] = where
        where = f"{where} ({_show(name)})"
        if "note" in entry:
            _string(entry["note"], source, where, "'note'")
        category = _string(entry["category"], source, where, "'category'")
        if category not in categories:
            _fail(source, where, f"unknown category {_show(category)}")
        steps = entry["steps"]
        if not isinstance(steps, list) or not steps:
            _fail(source, where, f"'steps' must be a non-empty list of titles, got {_show(steps)}")
        for step, title in enumerate(steps):
            at = f"{where}.steps[{step}]"
            _string(title, source, at, "a step")
            if title not in title_at:
                _fail(source, at, f"unknown title {_show(title)}")
            if title_at[title][0] != category:
                _fail(
                    source,
                    at,
                    f"title {_show(title)} is in category {_show(title_at[title][0])}, "
                    f"not {_show(category)}",
                )
            if title in step_at:
                _fail(
                    source, at, f"title {_show(title)} is in two journeys (also {step_at[title]})"
                )
            step_at[title] = at
        journeys.append(Journey(name, category, tuple(steps)))
    return tuple(journeys)


def _object(value: object, source: str, where: str, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        _fail(source, where, f"must be {what}, got {_show(value)}")
    return value


def _string(value: object, source: str, where: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        _fail(source, where, f"{what} must be a non-empty string, got {_show(value)}")
    return value


def _check_keys(
    entry: dict[str, object],
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    source: str,
    where: str,
) -> None:
    for key in entry:
        if key not in allowed:
            expected = ", ".join(repr(k) for k in allowed)
            _fail(source, where, f"unknown key {_show(key)} (expected {expected})")
    for key in required:
        if key not in entry:
            _fail(source, where, f"missing key {key!r}")


def _fail(source: str, where: str, reason: str) -> NoReturn:
    raise CatalogSchemaError(f"{source}: {where}: {reason}" if where else f"{source}: {reason}")


def _show(value: object) -> str:
    """A value as it would look in the JSON file (shortened), for error messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise CatalogSchemaError(f"{CATALOG_FILE}: duplicate key {_show(key)} in an object")
        result[key] = value
    return result


_DATA = load_catalog_data()

PRODUCT_LINES: dict[str, tuple[ProductLine, ...]] = _DATA.product_lines
"""Category -> its product lines, in catalog order (loaded from :data:`CATALOG_FILE`)."""

JOURNEYS: tuple[Journey, ...] = _DATA.journeys
"""All journeys, in catalog order (loaded from :data:`CATALOG_FILE`)."""

CATEGORY_WEIGHTS: dict[str, float] = _DATA.category_weights
"""How often a category is chosen for an interest phase or a noise purchase (relative)."""

KEEP_PROBABILITY: dict[str, float] = _DATA.keep_probability
"""Chance that a shopper keeps a consumable of this category on its re-buy cycle after a
purchase (pets and babies keep eating whatever the shopper's hobbies are)."""

DEFAULT_KEEP_PROBABILITY = 0.5
"""Keep probability of consumables in categories not listed in :data:`KEEP_PROBABILITY`."""

JOURNEY_START_DECAY = 0.5
"""The ``k``-th journey of a category (0-based) is started with weight ``1 / (1 + decay * k)``."""


@dataclass(frozen=True)
class ShopCatalog:
    """The catalog as arrays indexed by dense item id (index 0 is padding)."""

    titles: np.ndarray  # [n_items + 1] str
    categories: np.ndarray  # [n_items + 1] str
    category_names: tuple[str, ...]
    category_of: np.ndarray  # [n_items + 1] int64, -1 at padding
    cycle_days: np.ndarray  # [n_items + 1] float64, 0 for durable goods
    keep_probability: np.ndarray  # [n_items + 1] float64, 0 for durable goods
    popularity: np.ndarray  # [n_items + 1] float64, Zipf weight, sums to 1 inside each category
    noise_weights: np.ndarray  # [n_items + 1] float64, category weight x popularity, sums to 1
    category_items: tuple[np.ndarray, ...]  # per category: its item ids [n_c]
    category_weights: np.ndarray  # [n_categories] float64, sums to 1
    journeys: tuple[Journey, ...]
    journey_items: tuple[np.ndarray, ...]  # per journey: item ids in step order
    journey_category: np.ndarray  # [n_journeys] int64
    journey_start_weight: np.ndarray  # [n_journeys] float64
    item_journey: np.ndarray  # [n_items + 1] int64, -1 when the item is in no journey
    item_step: np.ndarray  # [n_items + 1] int64, its 0-based step in that journey

    @property
    def n_items(self) -> int:
        return len(self.titles) - 1

    @property
    def n_categories(self) -> int:
        return len(self.category_names)

    def is_consumable(self, item: int) -> bool:
        return bool(self.cycle_days[item] > 0)

    def item_id(self, title: str) -> int:
        """Dense id of an exact title; raises KeyError naming the title."""
        hits = np.flatnonzero(self.titles == title)
        if len(hits) == 0 or hits[0] == 0:
            raise KeyError(f"no item titled {title!r} in the shop catalog")
        return int(hits[0])

    def category_index(self, name: str) -> int:
        if name not in self.category_names:
            raise KeyError(
                f"unknown shop category {name!r}; categories: {', '.join(self.category_names)}"
            )
        return self.category_names.index(name)

    def journeys_of(self, category: int) -> list[int]:
        """Indices of the journeys of one category, in start-weight order."""
        return [int(j) for j in np.flatnonzero(self.journey_category == category)]


@lru_cache(maxsize=1)
def build_catalog() -> ShopCatalog:
    """Flatten :data:`PRODUCT_LINES` and :data:`JOURNEYS` into a :class:`ShopCatalog`."""
    titles, categories, cycles = ["<pad>"], ["<pad>"], [0.0]
    for category, lines in PRODUCT_LINES.items():
        for line in lines:
            for title in line.titles():
                titles.append(title)
                categories.append(category)
                cycles.append(float(line.cycle_days or 0))
    _check_unique(titles)
    category_names = tuple(PRODUCT_LINES)
    category_of = np.array([-1] + [category_names.index(c) for c in categories[1:]], dtype=np.int64)
    cycle_days = np.array(cycles, dtype=np.float64)
    keep = np.array(
        [0.0] + [KEEP_PROBABILITY.get(c, DEFAULT_KEEP_PROBABILITY) for c in categories[1:]],
        dtype=np.float64,
    )
    keep[cycle_days == 0] = 0.0
    category_items = tuple(
        np.flatnonzero(category_of == c).astype(np.int64) for c in range(len(category_names))
    )
    weights = np.array([CATEGORY_WEIGHTS[c] for c in category_names], dtype=np.float64)
    title_index = {title: i for i, title in enumerate(titles)}
    journey_items, item_journey, item_step = _journey_arrays(title_index, len(titles))
    journey_category = np.array(
        [category_names.index(j.category) for j in JOURNEYS], dtype=np.int64
    )
    popularity = _zipf_popularity(category_items, len(titles))
    noise_weights = np.zeros(len(titles), dtype=np.float64)
    noise_weights[1:] = (weights / weights.sum())[category_of[1:]] * popularity[1:]
    return ShopCatalog(
        titles=np.array(titles),
        categories=np.array(categories),
        category_names=category_names,
        category_of=category_of,
        cycle_days=cycle_days,
        keep_probability=keep,
        popularity=popularity,
        noise_weights=noise_weights / noise_weights.sum(),
        category_items=category_items,
        category_weights=weights / weights.sum(),
        journeys=JOURNEYS,
        journey_items=journey_items,
        journey_category=journey_category,
        journey_start_weight=_journey_start_weights(journey_category),
        item_journey=item_journey,
        item_step=item_step,
    )


def _check_unique(titles: list[str]) -> None:
    seen: set[str] = set()
    for title in titles:
        if title in seen:
            raise ValueError(f"shop catalog: duplicate title {title!r}")
        seen.add(title)


def _journey_arrays(
    title_index: dict[str, int], n_rows: int
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    item_journey = np.full(n_rows, -1, dtype=np.int64)
    item_step = np.full(n_rows, -1, dtype=np.int64)
    journey_items = []
    for j, journey in enumerate(JOURNEYS):
        ids = []
        for step, title in enumerate(journey.steps):
            if title not in title_index:
                raise ValueError(
                    f"shop catalog: journey {journey.name!r} names unknown item {title!r}"
                )
            item = title_index[title]
            if item_journey[item] >= 0:
                raise ValueError(f"shop catalog: item {title!r} is in two journeys")
            item_journey[item], item_step[item] = j, step
            ids.append(item)
        journey_items.append(np.array(ids, dtype=np.int64))
    return tuple(journey_items), item_journey, item_step


def _zipf_popularity(category_items: tuple[np.ndarray, ...], n_rows: int) -> np.ndarray:
    """Zipf weights ``1 / (rank + 1) ** s`` over a fixed random ranking of each category."""
    rng = np.random.default_rng(CATALOG_SEED)
    popularity = np.zeros(n_rows, dtype=np.float64)
    for items in category_items:
        ranks = rng.permutation(len(items))
        weights = 1.0 / (ranks + 1.0) ** ZIPF_EXPONENT
        popularity[items] = weights / weights.sum()
    return popularity


def _journey_start_weights(journey_category: np.ndarray) -> np.ndarray:
    weights = np.zeros(len(journey_category), dtype=np.float64)
    for category in np.unique(journey_category):
        members = np.flatnonzero(journey_category == category)
        weights[members] = 1.0 / (1.0 + JOURNEY_START_DECAY * np.arange(len(members)))
    return weights
