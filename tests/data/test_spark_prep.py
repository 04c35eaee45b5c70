"""The Spark engine (:mod:`seqrec.data.spark_prep`) yields exactly what the Polars path yields.

Each case writes a small file, prepares it with :func:`prepare_spark` in Spark local mode and
compares the written layout with ``clean(eager loader(file))``: user and item labels per id,
lengths, item sequences, timestamps, titles, categories and texts. The session reads files in
2 KiB splits and does not merge shuffle partitions, so the file-row order is rebuilt across
several input partitions and the output spans several part files, as on a large log.

Skipped (with the reason) where PySpark or a Java runtime is missing; CI installs both.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqrec.data.cleaning import CleanOptions, clean
from seqrec.data.errors import DataError
from seqrec.data.loaders import guess_columns, load_movielens, load_table
from seqrec.data.types import Dataset

pytest.importorskip("pyspark", reason="the spark engine needs PySpark (pip install pyspark)")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip(
        "the spark engine needs a Java runtime (apt: default-jre-headless)", allow_module_level=True
    )

from seqrec.data.spark_prep import prepare_spark

T0 = 1_200_000_000  # seconds; 2008


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("seqrec-test-spark-prep")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.files.maxPartitionBytes", "2048")  # several splits per small file
        .config("spark.sql.adaptive.coalescePartitions.enabled", "false")  # several parts
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def make_records(seed: int = 7) -> list[tuple[str, str, float, int]]:
    """(user, item, rating, time) rows with duplicates, timestamp ties, low ratings and a
    k-core that needs several passes."""
    rng = random.Random(seed)
    rows: list[tuple[str, str, float, int]] = []
    for _ in range(360):
        user = f"{rng.randint(1, 40)}"
        item = f"{rng.randint(1, 60) ** 2}"  # spread-out ids: order is not the ids' order
        rows.append(
            (user, item, rng.choice([0.5, 1.0, 2.5, 3.0, 4.0, 5.0]), T0 + rng.randint(0, 40))
        )
    for index in rng.sample(range(len(rows)), 40):  # the same (user, item, time) again
        user, item, _, when = rows[index]
        rows.insert(rng.randint(0, len(rows)), (user, item, rng.choice([1.0, 4.0]), when))
    # A chain the k-core peels one link per pass: item 9001 has 2 rows (dropped in pass 1),
    # which leaves user 901 with 2 (dropped in pass 2), which leaves item 9002 with 2, ...
    chain = [
        ("901", "9001"),
        ("902", "9001"),
        ("901", "9002"),
        ("901", "9003"),
        ("903", "9002"),
        ("904", "9002"),
        ("903", "9004"),
        ("903", "9005"),
        ("902", "9006"),
        ("902", "9007"),
    ]
    for user, item in chain:
        rows.append((user, item, 4.0, T0 + 20))
    for user in ("904", "902"):
        rows.append((user, "1", 5.0, T0 + 21))
        rows.append((user, "4", 5.0, T0 + 22))
    return rows


def write_ratings(path: Path, rows: list[tuple[str, str, float, int]]) -> Path:
    lines = ["userId,movieId,rating,timestamp"]
    for number, (user, item, rating, when) in enumerate(rows):
        shown_user = f" {user}" if number % 50 == 3 else user  # ids are stripped
        lines.append(f"{shown_user},{item},{rating},{when}")
        if number == 100:
            lines.append("")  # a blank line: dropped by both readers
    path.write_text("\n".join(lines) + "\n")
    return path


def write_movies(path: Path, items: list[str]) -> Path:
    lines = ["movieId,title,genres"]
    genres = ["Action|Comedy", "Drama", "(no genres listed)", "Sci-Fi|Action"]
    for number, item in enumerate(sorted(set(items), key=int)):
        if number % 7 == 5:
            continue  # rated but not listed: title = id, category unknown
        title = f'"Movie, {item} (2001)"' if number % 3 else f"Film {item}"
        lines.append(f"{item},{title},{genres[number % 4]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def read_parts(folder: Path) -> pl.DataFrame:
    parts = sorted(folder.glob("part-*.parquet"))
    assert parts, f"no part files in {folder}"
    return pl.concat([pl.read_parquet(p) for p in parts])


def assert_same(out: Path, expected: Dataset, options: CleanOptions) -> None:
    """The prepared layout at ``out`` holds exactly ``expected``."""
    seqs = expected.sequences
    users = read_parts(out / "users")
    items = read_parts(out / "items")
    inter = read_parts(out / "interactions")
    assert users.columns == ["label", "user_id", "length"]
    assert users["label"].to_list() == expected.user_labels.tolist()
    assert users["user_id"].to_list() == list(range(len(seqs)))
    assert users["length"].to_list() == seqs.lengths.tolist()
    assert items.columns == ["label", "title", "category", "text"]
    assert items["label"].to_list() == expected.item_labels.tolist()
    assert items["title"].to_list() == expected.titles.tolist()
    assert items["category"].to_list() == expected.categories.tolist()
    assert items["text"].to_list() == list(expected.extras["item_texts"])
    assert inter.columns == ["user_id", "item", "timestamp"]
    assert inter.schema == {"user_id": pl.Int64, "item": pl.Int64, "timestamp": pl.Int64}
    assert inter["user_id"].to_list() == np.repeat(np.arange(len(seqs)), seqs.lengths).tolist()
    assert inter["item"].to_list() == seqs.items.tolist()
    assert inter["timestamp"].to_list() == seqs.timestamps.tolist()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["layout"] == "prepared" and meta["engine"] == "spark"
    assert (meta["n_items"], meta["n_users"], meta["n_interactions"]) == (
        seqs.n_items,
        len(seqs),
        seqs.n_interactions,
    )
    assert meta["exclude_history"] == options.exclude_history
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted([*meta["sha256"], "meta.json"])  # no .crc, _SUCCESS or leftovers
    for part, digest in meta["sha256"].items():
        assert hashlib.sha256((out / part).read_bytes()).hexdigest() == digest
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]  # staging removed
    try:
        from seqrec.data.prepared import read_prepared
    except ImportError:  # the shared reader is not in this tree: the checks above suffice
        return
    back = read_prepared(out)  # verifies checksums, counts and CSR order itself
    assert back.user_labels.tolist() == expected.user_labels.tolist()
    assert back.item_labels.tolist() == expected.item_labels.tolist()
    assert back.titles.tolist() == expected.titles.tolist()
    assert back.categories.tolist() == expected.categories.tolist()
    assert list(back.extras["item_texts"]) == list(expected.extras["item_texts"])
    assert np.array_equal(back.sequences.offsets, seqs.offsets)
    assert np.array_equal(back.sequences.items, seqs.items)
    assert np.array_equal(back.sequences.timestamps, seqs.timestamps)
    assert back.exclude_history == expected.exclude_history


OPTIONS = CleanOptions(
    min_rating=2.0, min_user_interactions=3, min_item_interactions=3, exclude_history=True
)


def test_movielens_matches_the_polars_path(spark, tmp_path: Path) -> None:
    rows = make_records()
    folder = tmp_path / "ml-mini"
    folder.mkdir()
    ratings = write_ratings(folder / "ratings.csv", rows)
    write_movies(folder / "movies.csv", [item for _, item, _, _ in rows])
    assert spark.read.csv(str(ratings)).rdd.getNumPartitions() > 1  # the row order is rebuilt
    log, catalog = load_movielens(folder)
    expected = clean(log, catalog, OPTIONS, name="ml-mini")
    messages: list[str] = []
    out = prepare_spark(folder, tmp_path / "out", OPTIONS, "movielens", report=messages.append)
    assert_same(out, expected, OPTIONS)
    assert any(m.startswith("k-core pass 2:") for m in messages), messages  # a fixpoint matters
    assert len(list((out / "interactions").glob("part-*.parquet"))) > 1  # order across parts
    assert json.loads((out / "meta.json").read_text())["name"] == "ml-mini"
    # Preparing again replaces the prepared dataset; no options: no filter, duplicates dropped.
    plain = CleanOptions()
    prepare_spark(ratings, out, plain, "movielens")
    assert_same(out, clean(log, catalog, plain), plain)


def test_table_with_titles_and_milliseconds(spark, tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = make_records(seed=11)
    lines = ["user_id,item_id,timestamp,title,category"]
    for user, item, _, when in rows:  # no rating column: every weight is 1.0
        title = rng.choice(["", f"Thing {item}", f'"A, {item}"'])
        category = rng.choice(["", "toys", "books"])
        lines.append(f"u{user},{item},{when * 1000 + rng.randint(0, 999)},{title},{category}")
    table = tmp_path / "shop.csv"
    table.write_text("\n".join(lines) + "\n")
    options = CleanOptions(min_user_interactions=2, min_item_interactions=2)
    log, catalog = load_table(table, guess_columns(table))
    expected = clean(log, catalog, options)
    out = prepare_spark(table, tmp_path / "shop", options, "table")
    assert_same(out, expected, options)


def test_parquet_table(spark, tmp_path: Path) -> None:
    rows = make_records(seed=5)
    table = tmp_path / "log.parquet"
    pl.DataFrame(
        {
            "user": [int(u) for u, _, _, _ in rows],
            "item": [i for _, i, _, _ in rows],
            "rating": [r for _, _, r, _ in rows],
            "timestamp": [t for _, _, _, t in rows],
        }
    ).write_parquet(table, row_group_size=64)
    log, catalog = load_table(table, guess_columns(table))
    expected = clean(log, catalog, OPTIONS)
    out = prepare_spark(table, tmp_path / "pq", OPTIONS, "table")
    assert_same(out, expected, OPTIONS)


def test_missing_column_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,timestamp\n1,2,1200000000\n")
    with pytest.raises(DataError, match=r"ratings\.csv, field 'rating': no such column") as error:
        prepare_spark(folder, tmp_path / "out", OPTIONS, "movielens")
    assert error.value.path == folder / "ratings.csv"
    assert not (tmp_path / "out").exists()


def test_bad_value_names_file_line_and_field(spark, tmp_path: Path) -> None:
    rows = make_records()[:200]
    ratings = write_ratings(tmp_path / "ratings.csv", rows)
    lines = ratings.read_text().splitlines()
    lines[150] = lines[150].rsplit(",", 2)[0] + ",abc," + lines[150].rsplit(",", 1)[1]
    lines[170] = lines[170].rsplit(",", 1)[0] + ",soon"  # later in the check order than ids
    ratings.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as error:
        prepare_spark(ratings, tmp_path / "out", OPTIONS, "movielens")
    # The eager loader checks times before ratings: it fails at line 171 ('soon'), not 151.
    with pytest.raises(DataError) as eager:
        load_table(
            ratings,
            {"user": "userId", "item": "movieId", "timestamp": "timestamp", "weight": "rating"},
            time_unit="s",
        )
    assert (error.value.row, error.value.field) == (eager.value.row, eager.value.field)
    assert (error.value.row, error.value.field) == (171, "timestamp")
    assert error.value.path == ratings and "'soon'" in str(error.value)
    assert not (tmp_path / "out").exists()


def test_unknown_kind_and_occupied_target(tmp_path: Path) -> None:
    source = tmp_path / "log.inter"
    source.write_text("user_id:token\titem_id:token\ttimestamp:float\n")
    with pytest.raises(DataError, match="--engine polars"):
        prepare_spark(source, tmp_path / "out", OPTIONS, "atomic")
    table = tmp_path / "t.csv"
    table.write_text("user,item,timestamp\n1,2,1200000000\n")
    occupied = tmp_path / "notes"
    occupied.mkdir()
    (occupied / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="refusing to overwrite"):
        prepare_spark(table, occupied, OPTIONS, "table")
    assert (occupied / "mine.txt").read_text() == "keep me"
