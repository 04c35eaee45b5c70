"""The prepared-dataset folder (write, read, verify, part folders) and ``seqrec data prepare`` /
``seqrec data make-movielens`` end to end through the CLI."""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqrec.data.cleaning import _sha256
from seqrec.data.cli import data_app
from seqrec.data.datasets import MOVIELENS_OPTIONS, load_dataset
from seqrec.data.errors import DataError
from seqrec.data.prepared import is_prepared, publish, read_prepared, write_prepared
from seqrec.data.synthetic_movielens import generate
from seqrec.data.types import Dataset


def assert_same(a: Dataset, b: Dataset) -> None:
    for field in ("offsets", "items", "timestamps", "users"):
        assert np.array_equal(getattr(a.sequences, field), getattr(b.sequences, field)), field
    assert a.n_items == b.n_items
    for field in ("user_labels", "item_labels", "titles", "categories"):
        assert getattr(a, field).tolist() == getattr(b, field).tolist(), field
    assert a.extras["item_texts"].tolist() == b.extras["item_texts"].tolist()
    assert (a.name, a.exclude_history) == (b.name, b.exclude_history)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("src") / "ml-synthetic"
    generate(folder, rows=20_000, seed=1)
    return folder


@pytest.fixture(scope="module")
def dataset(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return load_dataset(source, cache_dir=tmp_path_factory.mktemp("cache"))


def rewrite_checksums(folder: Path) -> None:
    """Make meta.json list the Parquet files now there (to test checks beyond the checksums)."""
    meta = json.loads((folder / "meta.json").read_text())
    files = sorted(p for p in folder.rglob("*.parquet"))
    meta["sha256"] = {p.relative_to(folder).as_posix(): _sha256(p) for p in files}
    (folder / "meta.json").write_text(json.dumps(meta))


def as_parts(folder: Path, table: str, n_parts: int) -> None:
    """Replace ``<table>.parquet`` by ``<table>/part-*.parquet`` as Spark writes it."""
    frame = pl.read_parquet(folder / f"{table}.parquet")
    (folder / f"{table}.parquet").unlink()
    (folder / table).mkdir()
    bounds = np.linspace(0, frame.height, n_parts + 1).astype(int)
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        frame[start:end].write_parquet(folder / table / f"part-{index:05d}-c0ffee.snappy.parquet")
    (folder / table / "_SUCCESS").write_text("")
    (folder / table / ".part-00000-c0ffee.snappy.parquet.crc").write_text("x")


def test_write_then_read_gives_the_dataset(dataset: Dataset, tmp_path: Path) -> None:
    assert dataset.n_users == 138  # 20,000 ratings at ML-20M's ~144 per user
    out = write_prepared(dataset, tmp_path / "prepared", options=MOVIELENS_OPTIONS)
    assert is_prepared(out)
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["layout"], meta["engine"], meta["n_users"]) == ("prepared", "polars", 138)
    assert meta["n_interactions"] == dataset.sequences.n_interactions
    assert_same(read_prepared(out), dataset)
    interactions = pl.read_parquet(out / "interactions.parquet")
    assert interactions.columns == ["user_id", "item", "timestamp"]
    assert interactions["user_id"].is_sorted()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]  # no staging left


def test_part_folders_read_in_name_order(dataset: Dataset, tmp_path: Path) -> None:
    out = write_prepared(dataset, tmp_path / "prepared")
    as_parts(out, "interactions", 3)
    as_parts(out, "users", 2)
    rewrite_checksums(out)
    assert_same(read_prepared(out), dataset)
    assert_same(load_dataset(out, cache_dir=tmp_path / "cache"), dataset)  # read directly
    assert not (tmp_path / "cache").exists()


def damage_checksum(out: Path) -> str:
    frame = pl.read_parquet(out / "users.parquet")
    frame.with_columns(pl.col("label") + "x").write_parquet(out / "users.parquet")
    return "users.parquet: does not match its SHA-256 in meta.json"


def damage_order(out: Path) -> str:
    frame = pl.read_parquet(out / "interactions.parquet")
    frame.reverse().write_parquet(out / "interactions.parquet")
    rewrite_checksums(out)
    return "interactions.parquet, row 1, field 'user_id': rows are not in CSR order"


def damage_count(out: Path) -> str:
    meta = json.loads((out / "meta.json").read_text())
    meta["n_users"] += 1
    (out / "meta.json").write_text(json.dumps(meta))
    return "users.parquet: has 138 rows, meta.json says n_users = 139"


def damage_stray_part(out: Path) -> str:
    as_parts(out, "items", 2)
    rewrite_checksums(out)
    pl.read_parquet(out / "items" / "part-00001-c0ffee.snappy.parquet").write_parquet(
        out / "items" / "part-00002-extra.parquet"
    )
    return "part-00002-extra.parquet: is not listed in meta.json's sha256 (a stray part file?)"


def damage_missing_part(out: Path) -> str:
    as_parts(out, "items", 2)
    rewrite_checksums(out)
    (out / "items" / "part-00001-c0ffee.snappy.parquet").unlink()
    return "part-00001-c0ffee.snappy.parquet: is listed in meta.json but missing"


def damage_time_order(out: Path) -> str:
    frame = pl.read_parquet(out / "interactions.parquet")
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(0)
        .otherwise(pl.col("timestamp"))
        .alias("timestamp")
    ).write_parquet(out / "interactions.parquet")
    rewrite_checksums(out)
    return "interactions.parquet, row 2, field 'timestamp': a user's rows go back in time"


def damage_item_range(out: Path) -> str:
    meta = json.loads((out / "meta.json").read_text())
    items = pl.read_parquet(out / "items.parquet")
    items[:-1].write_parquet(out / "items.parquet")
    meta["n_items"] -= 1
    (out / "meta.json").write_text(json.dumps(meta))
    rewrite_checksums(out)
    return f"outside 1..{meta['n_items']}"


def damage_both_forms(out: Path) -> str:
    (out / "users").mkdir()
    return "prepared: has both users.parquet and users/; keep one"


DAMAGES = [
    damage_checksum,
    damage_order,
    damage_count,
    damage_stray_part,
    damage_missing_part,
    damage_time_order,
    damage_item_range,
    damage_both_forms,
]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_damage_is_a_data_error_naming_the_file(
    dataset: Dataset, tmp_path: Path, damage: object
) -> None:
    out = write_prepared(dataset, tmp_path / "prepared")
    expected = damage(out)  # type: ignore[operator]
    with pytest.raises(DataError) as caught:
        read_prepared(out)
    assert expected in str(caught.value)


def test_publish_refuses_a_foreign_folder_and_cleans_up(tmp_path: Path, dataset: Dataset) -> None:
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("keep me")
    with pytest.raises(DataError, match="refusing to overwrite"):
        write_prepared(dataset, foreign)
    assert (foreign / "todo.txt").read_text() == "keep me"

    def fail(staging: Path) -> None:
        (staging / "users.parquet").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        publish(tmp_path / "new", fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]  # nothing half-written


def test_an_existing_prepared_folder_is_replaced(tmp_path: Path, dataset: Dataset) -> None:
    out = write_prepared(dataset, tmp_path / "prepared")
    smaller = dataclasses.replace(dataset, name="again", exclude_history=False)
    write_prepared(smaller, out)
    assert (read_prepared(out).name, read_prepared(out).exclude_history) == ("again", False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]


def test_options_do_not_apply_to_a_prepared_folder(tmp_path: Path, dataset: Dataset) -> None:
    out = write_prepared(dataset, tmp_path / "prepared")
    with pytest.raises(ValueError, match="prepared dataset"):
        load_dataset(out, options=MOVIELENS_OPTIONS, cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------------------------------------
# The CLI
# ---------------------------------------------------------------------------------------------
def test_cli_make_movielens_then_prepare(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(
        data_app,
        ["make-movielens", "--rows", "20000", "--seed", "1", "--out", str(tmp_path / "ml")],
    )
    assert made.exit_code == 0, made.output
    assert made.stdout.strip() == str(tmp_path / "ml")
    out = tmp_path / "prepared"
    args = ["prepare", str(tmp_path / "ml"), "--out", str(out), "--min-rating", "4"]
    result = runner.invoke(data_app, [*args, "--min-item-interactions", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    options = dataclasses.replace(MOVIELENS_OPTIONS, min_rating=4.0, min_item_interactions=3)
    expected = load_dataset(tmp_path / "ml", options=options, cache_dir=tmp_path / "cache")
    prepared = load_dataset(out, cache_dir=tmp_path / "cache")
    assert_same(prepared, expected)
    assert prepared.sequences.n_interactions < 20_000  # the options did filter
    assert json.loads((out / "meta.json").read_text())["options"]["min_rating"] == 4.0


def test_cli_prepare_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3,100\n1,3,x,100\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n2,A (1990),Drama\n")
    result = CliRunner().invoke(data_app, ["prepare", str(folder), "--out", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert (
        result.stderr == "error: ratings.csv, row 3, field 'rating': cannot parse 'x' as a number\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml"]


def test_cli_prepare_on_spark_without_pyspark_says_what_to_install(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # import pyspark (and any of its modules collected earlier, e.g. by test_spark_prep) now fails
    for module in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")] or ["pyspark"]:
        monkeypatch.setitem(sys.modules, module, None)
    result = CliRunner().invoke(
        data_app, ["prepare", str(source), "--out", str(tmp_path / "p"), "--engine", "spark"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "pip install 'seqrec[spark]'" in result.stderr
    assert not (tmp_path / "p").exists()
