"""The packaged catalog data file ``shop_catalog.json`` and its schema check."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from seqrec.data import shop_catalog
from seqrec.data.shop_catalog import (
    CATALOG_FILE,
    CatalogSchemaError,
    Journey,
    ProductLine,
    build_catalog,
    load_catalog_data,
    parse_catalog_data,
)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    text = resources.files("seqrec.data").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def test_packaged_file_loads() -> None:
    data = load_catalog_data()
    assert len(data.product_lines) == 12
    assert data.product_lines["cat supplies"][3] == ProductLine(
        "Freeze-Dried Chicken Cat Treats", ("3 oz", "6 oz"), 28
    )
    assert data.journeys[0].name == "new cat at home"
    assert data.product_lines == shop_catalog.PRODUCT_LINES
    assert data.journeys == shop_catalog.JOURNEYS
    assert data.category_weights == shop_catalog.CATEGORY_WEIGHTS
    assert data.keep_probability == shop_catalog.KEEP_PROBABILITY
    assert build_catalog().n_items == sum(
        len(line.titles()) for lines in data.product_lines.values() for line in lines
    )


def test_valid_copy_parses_to_the_same_data(raw: dict[str, Any]) -> None:
    assert parse_catalog_data(copy.deepcopy(raw)) == load_catalog_data()


def test_minimal_catalog() -> None:
    data = parse_catalog_data(
        {
            "categories": {"tea": [{"name": "Kettle"}, {"name": "Green Tea", "cycle_days": 30}]},
            "category_weights": {"tea": 1},
            "keep_probability": {},
            "journeys": [{"name": "brew", "category": "tea", "steps": ["Kettle", "Green Tea"]}],
        }
    )
    assert data.product_lines == {"tea": (ProductLine("Kettle"), ProductLine("Green Tea", (), 30))}
    assert data.category_weights == {"tea": 1.0}
    assert data.journeys == (Journey("brew", "tea", ("Kettle", "Green Tea")),)


def _baking(data: dict[str, Any], index: int) -> dict[str, Any]:
    return data["categories"]["baking"][index]


def _set(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        _baking(data, 3)[key] = value

    return edit


def _journey_step(value: object) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["journeys"][0]["steps"][2] = value

    return edit


BAD_EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "cycle_days not an integer": (
        _set("cycle_days", "x"),
        (
            """shop_catalog.json: categories["baking"][3]: 'cycle_days' must be a positive """
            """integer, got "x\""""
        ),
    ),
    "cycle_days zero": (
        _set("cycle_days", 0),
        """categories["baking"][3]: 'cycle_days' must be a positive integer, got 0""",
    ),
    "cycle_days a bool": (
        _set("cycle_days", True),
        """categories["baking"][3]: 'cycle_days' must be a positive integer, got true""",
    ),
    "cycle_days a float": (
        _set("cycle_days", 30.0),
        """categories["baking"][3]: 'cycle_days' must be a positive integer, got 30.0""",
    ),
    "unknown key in a line": (
        _set("cycle", 30),
        """categories["baking"][3]: unknown key "cycle" (expected 'name', 'variants', """,
    ),
    "missing name": (
        lambda d: _baking(d, 3).pop("name"),
        """categories["baking"][3]: missing key 'name'""",
    ),
    "empty name": (
        _set("name", ""),
        """categories["baking"][3]: 'name' must be a non-empty string, got \"\"""",
    ),
    "name not a string": (
        _set("name", 7),
        """categories["baking"][3]: 'name' must be a non-empty string, got 7""",
    ),
    "variants not a list": (
        _set("variants", "12 in"),
        """categories["baking"][3]: 'variants' must be a list of strings, got "12 in\"""",
    ),
    "variant not a string": (
        _set("variants", ["12 in", 14]),
        """categories["baking"][3].variants[1]: a variant must be a non-empty string, got 14""",
    ),
    "line not an object": (
        lambda d: d["categories"]["baking"].__setitem__(3, "Rotating Cake Turntable"),
        """categories["baking"][3]: must be a product line object, got "Rotating Cake""",
    ),
    "duplicate title in another line": (
        lambda d: d["categories"]["baking"].__setitem__(
            3, {"name": "Silicone Baking Mat", "variants": ["Set of 2"]}
        ),
        (
            """categories["baking"][3]: duplicate title "Silicone Baking Mat, Set of 2" """
            """(first at categories["baking"][1])"""
        ),
    ),
    "duplicate title across categories": (
        lambda d: d["categories"]["cycling"].append({"name": "Digital Kitchen Scale"}),
        """duplicate title "Digital Kitchen Scale" (first at categories["baking"][10])""",
    ),
    "duplicate variant": (
        _set("variants", ["12 in", "12 in"]),
        (
            """categories["baking"][3]: duplicate title "Rotating Cake Turntable, 12 in" """
            """(first at categories["baking"][3])"""
        ),
    ),
    "empty category": (
        lambda d: d["categories"].__setitem__("tea", []),
        """categories["tea"]: must be a non-empty list of product lines, got []""",
    ),
    "unknown top-level key": (
        lambda d: d.__setitem__("categorys", {}),
        """shop_catalog.json: unknown key "categorys" (expected 'categories', """,
    ),
    "missing top-level key": (
        lambda d: d.pop("journeys"),
        """shop_catalog.json: missing key 'journeys'""",
    ),
    "weight of an unknown category": (
        lambda d: d["category_weights"].__setitem__("tea", 1.0),
        """category_weights: unknown category "tea\"""",
    ),
    "category without a weight": (
        lambda d: d["category_weights"].pop("baking"),
        """category_weights: missing category "baking\"""",
    ),
    "weight not positive": (
        lambda d: d["category_weights"].__setitem__("baking", -1.0),
        """category_weights["baking"]: must be a positive number, got -1.0""",
    ),
    "weight a string": (
        lambda d: d["category_weights"].__setitem__("baking", "1.0"),
        """category_weights["baking"]: must be a positive number, got "1.0\"""",
    ),
    "keep probability above one": (
        lambda d: d["keep_probability"].__setitem__("baby", 1.5),
        """keep_probability["baby"]: must be a number in [0, 1], got 1.5""",
    ),
    "keep probability of an unknown category": (
        lambda d: d["keep_probability"].__setitem__("tea", 0.5),
        """keep_probability: unknown category "tea\"""",
    ),
    "journey step names no title": (
        _journey_step("Sisal Cat Scratching Post, 40 in"),
        (
            """journeys[0] ("new cat at home").steps[2]: unknown title """
            """"Sisal Cat Scratching Post, 40 in\""""
        ),
    ),
    "journey step not a string": (
        _journey_step(3),
        """journeys[0] ("new cat at home").steps[2]: a step must be a non-empty string, got 3""",
    ),
    "journey step in another category": (
        _journey_step("Digital Kitchen Scale"),
        (
            """journeys[0] ("new cat at home").steps[2]: title "Digital Kitchen Scale" is in """
            """category "baking", not "cat supplies\""""
        ),
    ),
    "item in two journeys": (
        lambda d: d["journeys"][1]["steps"].append("Cat Nail Clippers"),
        (
            """journeys[2] ("cat grooming").steps[1]: title "Cat Nail Clippers" is in two """
            """journeys (also journeys[1] ("cat comfort").steps[4])"""
        ),
    ),
    "journey of an unknown category": (
        lambda d: d["journeys"][0].__setitem__("category", "cats"),
        """journeys[0] ("new cat at home"): unknown category "cats\"""",
    ),
    "journey without a name": (
        lambda d: d["journeys"][4].pop("name"),
        """journeys[4]: missing key 'name'""",
    ),
    "journey with an unknown key": (
        lambda d: d["journeys"][4].__setitem__("stpes", []),
        """journeys[4]: unknown key "stpes\"""",
    ),
    "journey with no steps": (
        lambda d: d["journeys"][4].__setitem__("steps", []),
        """'steps' must be a non-empty list of titles, got []""",
    ),
    "duplicate journey name": (
        lambda d: d["journeys"][4].__setitem__("name", "new cat at home"),
        """journeys[4]: duplicate journey name "new cat at home" (first at journeys[0])""",
    ),
    "journeys not a list": (
        lambda d: d.__setitem__("journeys", {}),
        """shop_catalog.json: journeys: must be a list of journeys, got {}""",
    ),
}


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_schema_check_names_the_bad_entry(raw: dict[str, Any], case: str) -> None:
    edit, message = BAD_EDITS[case]
    data = copy.deepcopy(raw)
    edit(data)
    with pytest.raises(CatalogSchemaError) as info:
        parse_catalog_data(data)
    assert message in str(info.value)
    assert str(info.value).startswith("shop_catalog.json: ")
    assert isinstance(info.value, ValueError)


def test_source_name_is_reported() -> None:
    with pytest.raises(CatalogSchemaError, match=r"^my.json: must be the catalog, got \[\]$"):
        parse_catalog_data([], source="my.json")


def test_the_ordering_of_the_file_is_the_catalog_order(raw: dict[str, Any]) -> None:
    catalog = build_catalog()
    assert catalog.category_names == tuple(raw["categories"])
    first = raw["categories"]["cat supplies"][0]
    assert catalog.titles[1] == f"{first['name']}, {first['variants'][0]}"
    assert [j.name for j in catalog.journeys] == [j["name"] for j in raw["journeys"]]


def test_duplicate_keys_in_the_file_are_rejected() -> None:
    text = '{"categories": {"tea": [{"name": "Kettle"}], "tea": [{"name": "Cup"}]}}'
    with pytest.raises(CatalogSchemaError, match='duplicate key "tea"'):
        json.loads(text, object_pairs_hook=shop_catalog._no_duplicate_keys)
