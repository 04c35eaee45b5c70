"""Cleaning: k-core to a fixpoint, stable tie order, the id mapping, catalog alignment; the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqrec.data.cleaning import CleanOptions, cache_key, clean, k_core, load_cached
from seqrec.data.errors import DataError
from seqrec.data.types import Catalog, Dataset, InteractionLog


def make_log(
    records: list[tuple[str, str, int]], weights: list[float] | None = None
) -> InteractionLog:
    """A log from (user, item, timestamp) triples; ``row`` is the list position."""
    users, items, times = zip(*records)
    return InteractionLog(
        pl.DataFrame(
            {
                "user": list(users),
                "item": list(items),
                "timestamp": pl.Series(times, dtype=pl.Int64),
                "weight": weights or [1.0] * len(records),
                "row": pl.Series(range(len(records)), dtype=pl.Int64),
            }
        ),
        source="test.csv",
    )


def label_sequences(ds: Dataset) -> dict[str, list[str]]:
    """Each user's history in original labels."""
    return {
        str(ds.user_labels[u]): [str(ds.item_labels[i]) for i in ds.sequences.sequence(u)]
        for u in range(ds.n_users)
    }


# ---------------------------------------------------------------------------------------------
# k-core
# ---------------------------------------------------------------------------------------------
# u4 has one interaction -> goes; that leaves item c with one (u3) -> goes; that leaves u3 with
# one (b) -> goes. One pass only removes u4.
KCORE_RECORDS = [
    ("u1", "a", 1), ("u1", "b", 2),
    ("u2", "a", 3), ("u2", "b", 4),
    ("u3", "b", 5), ("u3", "c", 6),
    ("u4", "c", 7),
]  # fmt: skip


def test_one_k_core_pass_is_not_enough() -> None:
    frame = make_log(KCORE_RECORDS).frame
    one_pass = frame.filter((pl.len().over("user") >= 2) & (pl.len().over("item") >= 2))
    assert sorted(one_pass["user"].unique()) == ["u1", "u2", "u3"]  # u3 and c survive one pass


def test_k_core_reaches_the_fixpoint() -> None:
    kept = k_core(make_log(KCORE_RECORDS).frame, min_user=2, min_item=2)
    assert sorted(zip(kept["user"], kept["item"])) == [
        ("u1", "a"),
        ("u1", "b"),
        ("u2", "a"),
        ("u2", "b"),
    ]
    ds = clean(
        make_log(KCORE_RECORDS),
        options=CleanOptions(min_user_interactions=2, min_item_interactions=2),
    )
    assert label_sequences(ds) == {"u1": ["a", "b"], "u2": ["a", "b"]}
    assert (ds.n_users, ds.n_items) == (2, 2)


def test_k_core_removing_everything_is_an_error() -> None:
    with pytest.raises(DataError, match="test.csv: no interactions left after cleaning"):
        clean(
            make_log(KCORE_RECORDS),
            options=CleanOptions(min_user_interactions=3, min_item_interactions=3),
        )


# ---------------------------------------------------------------------------------------------
# Ordering and ids
# ---------------------------------------------------------------------------------------------
def test_ties_keep_file_order_even_if_the_frame_is_shuffled() -> None:
    log = make_log([("u", "x", 5), ("u", "y", 5), ("u", "z", 5), ("u", "w", 1)])
    shuffled = InteractionLog(log.frame.reverse(), source="test.csv")  # row column unchanged
    for source in (log, shuffled):
        ds = clean(source, options=CleanOptions())
        assert label_sequences(ds) == {"u": ["w", "x", "y", "z"]}
        assert ds.sequences.timestamps.tolist() == [1, 5, 5, 5]


def test_dense_ids_follow_first_appearance_in_time_order() -> None:
    log = make_log(
        [
            ("bob", "i9", 30),
            ("amy", "i5", 10),
            ("bob", "i5", 20),
            ("cat", "i7", 20),
            ("amy", "i9", 40),
        ]
    )
    ds = clean(log, options=CleanOptions())
    # time order: amy/i5@10, bob/i5@20 (row 2), cat/i7@20 (row 3), bob/i9@30, amy/i9@40
    assert ds.user_labels.tolist() == ["amy", "bob", "cat"]
    assert ds.item_labels.tolist() == ["<pad>", "i5", "i7", "i9"]
    assert ds.sequences.offsets.tolist() == [0, 2, 4, 5]
    assert ds.sequences.items.tolist() == [1, 3, 1, 3, 2]
    assert ds.sequences.timestamps.tolist() == [10, 40, 20, 30, 20]
    assert ds.sequences.users.tolist() == [0, 1, 2]
    assert ds.sequences.n_items == 3


def test_min_rating_and_duplicates() -> None:
    log = make_log(
        [("u", "a", 1), ("u", "a", 1), ("u", "b", 2), ("u", "a", 3), ("u", "c", 4)],
        weights=[5.0, 5.0, 1.0, 4.0, 3.5],
    )
    assert label_sequences(clean(log, options=CleanOptions(min_rating=3.5))) == {
        "u": ["a", "a", "c"]
    }
    kept_all = CleanOptions(drop_duplicates=False)
    assert label_sequences(clean(log, options=kept_all)) == {"u": ["a", "a", "b", "a", "c"]}


def test_catalog_alignment_and_unknown_items() -> None:
    log = make_log([("u", "b", 1), ("u", "a", 2), ("u", "z", 3)])
    catalog = Catalog(
        pl.DataFrame(
            {
                "item": ["a", "b", "b"],
                "title": ["Alpha", "Beta", "Dup"],
                "category": ["x", "", "y"],
                "text": ["t", "", ""],
            }
        )
    )
    ds = clean(log, catalog, CleanOptions(exclude_history=True), name="tiny")
    assert ds.item_labels.tolist() == ["<pad>", "b", "a", "z"]
    assert ds.titles.tolist() == [
        "<pad>",
        "Beta",
        "Alpha",
        "z",
    ]  # first catalog row wins; z: its id
    assert ds.categories.tolist() == ["<pad>", "unknown", "x", "unknown"]
    assert ds.extras["item_texts"].tolist() == ["", "", "t", ""]
    assert (ds.name, ds.exclude_history, ds.item_id("z")) == ("tiny", True, 3)


# ---------------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------------
class CountingBuild:
    def __init__(self, dataset: Dataset) -> None:
        self.dataset, self.calls = dataset, 0

    def __call__(self) -> Dataset:
        self.calls += 1
        return self.dataset


def small_dataset() -> Dataset:
    log = make_log([("amy", "i5", 10), ("bob", "i5", 20), ("bob", "i9", 30)])
    catalog = Catalog.from_items(["i5", "i9"])
    return clean(log, catalog, CleanOptions(exclude_history=True), name="small")


def same(a: Dataset, b: Dataset) -> bool:
    return (
        a.name == b.name
        and a.exclude_history == b.exclude_history
        and all(
            np.array_equal(getattr(a.sequences, f), getattr(b.sequences, f))
            for f in ("offsets", "items", "timestamps", "users")
        )
        and a.sequences.n_items == b.sequences.n_items
        and all(
            getattr(a, f).tolist() == getattr(b, f).tolist()
            for f in ("user_labels", "item_labels", "titles", "categories")
        )
    )


def test_cache_miss_then_hit(tmp_path: Path) -> None:
    source = tmp_path / "log.csv"
    source.write_text("x")
    build = CountingBuild(small_dataset())
    first = load_cached([source, CleanOptions()], build, tmp_path / "cache")
    second = load_cached([source, CleanOptions()], build, tmp_path / "cache")
    assert build.calls == 1
    assert same(first, build.dataset) and same(second, build.dataset)
    assert second.extras["item_texts"].tolist() == ["", "", ""]
    entries = list((tmp_path / "cache" / "datasets").iterdir())
    assert [sorted(p.name for p in e.iterdir()) for e in entries] == [
        ["interactions.parquet", "items.parquet", "meta.json", "users.parquet"]
    ]


def test_cache_key_follows_files_and_options(tmp_path: Path) -> None:
    source = tmp_path / "log.csv"
    source.write_text("x")
    base = cache_key([source, CleanOptions()])
    assert cache_key([source, CleanOptions(min_rating=4.0)]) != base
    source.write_text("y")  # same size, new content
    assert cache_key([source, CleanOptions()]) != base
    assert cache_key([str(source), CleanOptions()]) != cache_key(
        [source, CleanOptions()]
    )  # a str is a value


@pytest.mark.parametrize("damage", ["truncate_parquet", "garbage_meta", "delete_file", "flip_byte"])
def test_damaged_entry_is_rebuilt(tmp_path: Path, damage: str) -> None:
    build = CountingBuild(small_dataset())
    load_cached(["k"], build, tmp_path)
    entry = next((tmp_path / "datasets").iterdir())
    parquet = entry / "interactions.parquet"
    if damage == "truncate_parquet":
        parquet.write_bytes(parquet.read_bytes()[:20])
    elif damage == "garbage_meta":
        (entry / "meta.json").write_text("{not json")
    elif damage == "delete_file":
        (entry / "users.parquet").unlink()
    else:
        data = bytearray(parquet.read_bytes())
        data[len(data) // 2] ^= 0xFF
        parquet.write_bytes(bytes(data))
    notes: list[str] = []
    rebuilt = load_cached(["k"], build, tmp_path, report=notes.append)
    assert build.calls == 2 and same(rebuilt, build.dataset)
    assert len(notes) == 1 and "is damaged" in notes[0] and "rebuilding" in notes[0]
    assert json.loads((entry / "meta.json").read_text())["n_interactions"] == 3
    assert load_cached(["k"], build, tmp_path) is not None and build.calls == 2  # healthy again


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    def broken() -> Dataset:
        raise DataError("ratings.csv", "cannot parse 'abc' as a time", row=17, field="timestamp")

    with pytest.raises(DataError):
        load_cached(["k"], broken, tmp_path / "cache")
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
