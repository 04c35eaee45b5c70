"""Item text per source (shop, MovieLens, Amazon, tables) and the documents given to an encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqrec.data.cleaning import clean
from seqrec.data.errors import DataError
from seqrec.data.loaders import load_amazon, load_catalog_table, load_movielens, load_table
from seqrec.data.shop import make_shop_dataset
from seqrec.data.types import Catalog, ItemInfo, item_documents

TINY_SHOP_PURCHASES = "bdf2b7bd35acd12bbf2a158bafbd668d17877245a6c7109f8db6e8c09a4564c0"
"""``make_shop_dataset("tiny").sequences.fingerprint()`` recorded before the item descriptions
were written: describing items draws nothing from the world's random streams."""


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def text_of(catalog: Catalog | None, item: str) -> str:
    assert catalog is not None
    return str(catalog.frame.filter(catalog.frame["item"] == item)["text"][0])


# -- the documents an encoder reads ---------------------------------------------------------------
def test_documents_join_title_category_and_text_without_repeating_the_title() -> None:
    items = ItemInfo(
        np.array(["<pad>", "a", "b", "c"], dtype=object),
        np.array(["<pad>", "Toy Story (1995)", "Dune", "Mat"], dtype=object),
        np.array(["", "Animation", "unknown", "cat supplies"], dtype=object),
        np.array(["", "Toy Story (1995). Genres: Animation, Comedy", "", "A durable good, bought once."], dtype=object),
    )
    assert item_documents(items) == [
        "",
        "Toy Story (1995). Category: Animation. Genres: Animation, Comedy.",
        "Dune.",  # no text, and 'unknown' says nothing
        "Mat. Category: cat supplies. A durable good, bought once.",
    ]


def test_ids_only_items_fall_back_to_their_titles() -> None:
    documents = item_documents(ItemInfo.ids_only(3))
    assert documents == ["", "1.", "2.", "3."]


# -- the shop world -------------------------------------------------------------------------------
def test_every_shop_item_is_described_from_its_attributes_and_purchases_are_unchanged() -> None:
    dataset = make_shop_dataset("tiny")
    assert dataset.sequences.fingerprint() == TINY_SHOP_PURCHASES
    items = dataset.item_info()
    assert items.has_text and all(items.texts[1:] != "")
    by_title = dict(zip(items.titles[1:], items.texts[1:]))
    assert by_title["Clumping Cat Litter, Lavender, 25 lb"] == (
        "Clumping Cat Litter in the variant Lavender, 25 lb (one of 3 variants). "
        "A consumable, re-bought about every 30 days."
    )
    assert by_title["Honeycomb Cat Litter Mat, Large"] == (
        "Honeycomb Cat Litter Mat in the variant Large (one of 2 variants). A durable good, bought once. "
        "Step 1 of 6 of the 'new cat at home' journey."
    )
    assert len(set(item_documents(items))) == items.n_items + 1  # one distinct document per item
    assert dataset.extras["catalog"].frame["text"].to_list() == list(items.texts[1:])


# -- MovieLens, Amazon, tables ---------------------------------------------------------------------
def test_movielens_text_has_title_year_and_genres(tmp_path: Path) -> None:
    genres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
              "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
              "Romance", "Sci-Fi", "Thriller", "War", "Western"]  # fmt: skip
    flags = "|".join("1" if g in ("Drama", "Musical") else "0" for g in genres)
    write(tmp_path / "ml-100k" / "u.data", "196\t302\t3\t881250949\n")
    write(tmp_path / "ml-100k" / "u.item", f"302|Misérables, Les (1995)|01-Jan-1995||http://y|{flags}\n", encoding="latin-1")
    _, catalog = load_movielens(tmp_path / "ml-100k")
    assert text_of(catalog, "302") == "Misérables, Les (1995). Genres: Drama, Musical"


def test_amazon_text_has_title_brand_and_category_paths(tmp_path: Path) -> None:
    reviews = write(
        tmp_path / "reviews_Books_5.json",
        json.dumps({"reviewerID": "A1", "asin": "B01", "overall": 5.0, "unixReviewTime": 1400000000}) + "\n"
        + json.dumps({"reviewerID": "A1", "asin": "B02", "overall": 4.0, "unixReviewTime": 1400000100}) + "\n",
    )  # fmt: skip
    meta = write(
        tmp_path / "meta_Books.json",
        "{'asin': 'B01', 'title': 'Dune', 'brand': 'Ace', 'categories': [['Books', 'Science Fiction'], ['Books', 'Classics']], 'description': 'Spice.'}\n"
        + json.dumps({"asin": "B02", "title": "Robot", "store": "Acme", "details": {"Brand": "Ignored"}, "categories": ["Toys", "Robots"]}) + "\n",
    )  # fmt: skip
    _, catalog = load_amazon(reviews, meta)
    assert text_of(catalog, "B01") == "Dune. Brand: Ace. Categories: Books > Science Fiction; Books > Classics. Spice."
    assert text_of(catalog, "B02") == "Robot. Brand: Acme. Categories: Toys > Robots."


def test_a_catalog_table_takes_its_text_column_or_the_columns_named(tmp_path: Path) -> None:
    path = write(
        tmp_path / "catalog.csv",
        "item,title,category,text,description,brand\n"
        "1,Mat,cats,old text,Keeps litter in.,Acme\n"
        "2,Pan,baking,,Bakes.,\n",
    )
    assert text_of(load_catalog_table(path), "1") == "old text"
    named = load_catalog_table(path, text_columns=["description", "brand"])
    assert [text_of(named, "1"), text_of(named, "2")] == ["Keeps litter in. Acme", "Bakes"]
    with pytest.raises(DataError, match="no such column"):
        load_catalog_table(path, text_columns=["blurb"])


def test_an_interaction_table_can_carry_item_text(tmp_path: Path) -> None:
    path = write(
        tmp_path / "log.csv",
        "user,item,timestamp,name,blurb\nu1,1,1700000000,Mat,Keeps litter in\nu1,2,1700000100,Pan,Bakes\n",
    )
    log, catalog = load_table(path, {"user": "user", "item": "item", "timestamp": "timestamp"}, text_columns=["name", "blurb"])
    assert catalog is not None and text_of(catalog, "1") == "Mat. Keeps litter in"
    assert clean(log, catalog).item_info().texts.tolist() == ["", "Mat. Keeps litter in", "Pan. Bakes"]
    with pytest.raises(TypeError, match="list of column names"):
        load_table(path, {"user": "user", "item": "item", "timestamp": "timestamp"}, text_columns="blurb")
