"""The rules every reader applies: time units (detected or forced) and plausible times, byte-order
marks, encodings, duplicate columns, RecBole types, nested Parquet columns, paths, stale cache
staging folders and splits with nobody to evaluate."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from seqrec.data import cleaning
from seqrec.data.cleaning import STALE_STAGING_SECONDS, load_cached, remove_stale_staging
from seqrec.data.cli import data_app
from seqrec.data.datasets import load_dataset
from seqrec.data.errors import DataError
from seqrec.data.loaders import (
    detect_time_unit,
    guess_columns,
    load_amazon,
    load_atomic,
    load_movielens,
    load_table,
    load_timed_values,
)
from seqrec.data.splits import leave_one_out, make_split, temporal
from seqrec.data.types import SequenceData

COLUMNS = {"user": "user", "item": "item", "timestamp": "timestamp"}
HEADER = "user,item,timestamp\n"
BOM = "\ufeff"


def write(path: Path, text: str | bytes, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def times(path: Path, **kwargs: object) -> list[int]:
    return load_table(path, COLUMNS, **kwargs)[0].frame["timestamp"].to_list()  # type: ignore[arg-type]


def error_of(call: object, *args: object, **kwargs: object) -> DataError:
    with pytest.raises(DataError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


# ---------------------------------------------------------------------------------------------
# 1. Time units
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "unit"),
    [
        ([1_600_000_000, 1_600_000_100], "s"),
        ([1_600_000_000_000, 1_600_000_100_000], "ms"),
        ([1_600_000_000_000_000], "us"),
        ([1_600_000_000_000_000_000], "ns"),
        ([99_999_999_999], "s"),  # just below 1e11
        ([100_000_000_000], "ms"),  # 1e11 itself
        ([0.0, 0.0, 1e30], "s"),  # the median, not the largest
    ],
)
def test_detect_time_unit_by_the_median_magnitude(values: list[float], unit: str) -> None:
    assert detect_time_unit(pl.Series(values))[0] == unit


@pytest.mark.parametrize(
    "text",
    [
        "1600000000\n1600000001\n",
        "1600000000000\n1600000001999\n",
        "1600000000000000\n1600000001999999\n",
        "1600000000000000000\n1600000001999999999\n",
        "1600000000000.5\n1600000001999.0\n",  # float milliseconds
    ],
)
def test_every_unit_is_read_as_the_same_seconds(tmp_path: Path, text: str) -> None:
    rows = "".join(f"u,i{n},{value}\n" for n, value in enumerate(text.split()))
    assert times(write(tmp_path / "log.csv", HEADER + rows)) == [1_600_000_000, 1_600_000_001]


def test_a_forced_unit_wins_and_timestamp_unit_is_its_former_name(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", HEADER + "u,a,1600000000000\n")
    assert times(path) == times(path, time_unit="ms") == times(path, timestamp_unit="ms")
    assert times(path, time_unit="us") == [1_600_000]
    with pytest.raises(ValueError, match="not both"):
        times(path, time_unit="us", timestamp_unit="ms")
    with pytest.raises(ValueError, match="time_unit must be one of auto, s, ms, us, ns"):
        times(path, time_unit="weeks")


def test_implausible_times_name_the_row_and_value(tmp_path: Path) -> None:
    path = write(tmp_path / "old.csv", HEADER + "u,a,2020-09-13T12:26:40\nu,b,1900-01-01\n")
    with pytest.raises(DataError) as caught:
        times(write(tmp_path / "log.csv", HEADER + "u,a,1600000000\nu,b,-5\n"))
    assert (caught.value.row, caught.value.field) == (3, "timestamp")
    assert "implausible time '-5': 1969-12-31, before 1970-01-01" in str(caught.value)
    assert "read as seconds: median |timestamp| 8e+08 < 1e11" in str(caught.value)
    tomorrow = int(time.time()) + 2 * 86_400
    with pytest.raises(DataError, match="row 2, field 'timestamp': .*more than a day in the future"):
        times(write(tmp_path / "soon.csv", HEADER + f"u,a,{tomorrow}\n"))
    assert times(write(tmp_path / "ok.csv", HEADER + f"u,a,{int(time.time())}\n"))
    with pytest.raises(DataError, match="row 3.*implausible time '1900-01-01'"):
        times(path)
    assert times(path, allow_any_time=True) == [1_600_000_000, -2_208_988_800]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("inf", "'inf' is not a finite time"),
        ("-inf", "'-inf' is not a finite time"),
        ("nan", "'nan' is not a finite time"),
        ("1e30", "'1e30' is after the year 9999"),
        ("-1e30", "'-1e30' is before the year 1"),
    ],
)
def test_non_finite_and_undatable_times_fail_even_when_any_time_is_allowed(
    tmp_path: Path, value: str, message: str
) -> None:
    path = write(tmp_path / "log.csv", HEADER + f"u,a,1600000000\nu,b,{value}\n")
    for allow in (False, True):
        error = error_of(times, path, allow_any_time=allow)
        assert (error.row, error.field) == (3, "timestamp") and message in str(error)


def test_float_and_integer_parquet_columns_are_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pl.DataFrame({"user": ["u", "u"], "item": ["a", "b"], "timestamp": [1.6e12, float("inf")]}).write_parquet(path)
    assert str(error_of(times, path)) == "log.parquet, row 2, field 'timestamp': 'inf' is not a finite time"
    pl.DataFrame({"user": ["u"], "item": ["a"], "timestamp": [1_600_000_000_000]}).write_parquet(path)
    assert times(path) == [1_600_000_000]


def test_every_loader_checks_plausibility(tmp_path: Path) -> None:
    write(tmp_path / "ml" / "u.data", "1\t2\t3\t-100\n")
    assert error_of(load_movielens, tmp_path / "ml").row == 1
    assert load_movielens(tmp_path / "ml", allow_any_time=True)[0].frame["timestamp"].to_list() == [-100]
    inter = write(tmp_path / "x.inter", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t1600000000000\n")
    assert load_atomic(inter)[0].frame["timestamp"].to_list() == [1_600_000_000]  # detected ms
    review = {"reviewerID": "A", "asin": "B", "overall": 1.0, "unixReviewTime": 1_400_000_000_000}
    reviews = write(tmp_path / "r.json", json.dumps(review) + "\n")
    assert "after the year 9999 (read as seconds)" in str(error_of(load_amazon, reviews))
    assert load_amazon(reviews, time_unit="ms")[0].frame["timestamp"].to_list() == [1_400_000_000]


def test_data_info_reads_milliseconds_and_takes_the_options(tmp_path: Path) -> None:
    path = write(tmp_path / "ms.csv", HEADER + "u,a,1600000000000\nu,b,1600086400000\n")
    runner = CliRunner()
    result = runner.invoke(data_app, ["info", str(path), "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 0, result.stderr
    assert "2020-09-13" in result.stdout and "2020-09-14" in result.stdout
    old = write(tmp_path / "old.csv", HEADER + "u,a,1900-01-01\n")
    args = ["info", str(old), "--cache-dir", str(tmp_path / "c")]
    assert runner.invoke(data_app, args).exit_code == 2
    result = runner.invoke(data_app, [*args, "--allow-any-time"])
    assert result.exit_code == 0 and "1900-01-01" in result.stdout
    result = runner.invoke(data_app, ["info", str(path), "--cache-dir", str(tmp_path / "c"), "--time-unit", "us"])
    assert result.exit_code == 0 and "1970-01-19" in result.stdout  # forced: its own cache entry


# ---------------------------------------------------------------------------------------------
# 2-3. Byte-order marks and encodings
# ---------------------------------------------------------------------------------------------
def test_a_bom_is_dropped_by_every_reader(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "bom.csv", BOM + HEADER + "u,a,1600000000\n")
    assert guess_columns(csv_path) == COLUMNS
    assert load_dataset(csv_path, cache_dir=tmp_path / "c").n_users == 1
    tsv = write(tmp_path / "bom.tsv", BOM + "user\titem\ttimestamp\nu\ta\t1600000000\n")
    assert times(tsv) == [1_600_000_000]
    inter = write(tmp_path / "a" / "x.inter", BOM + "user_id:token\titem_id:token\ttimestamp:float\nu\ta\t1\n")
    assert load_atomic(inter)[0].frame["user"].to_list() == ["u"]
    ml = tmp_path / "ml-1m"
    write(ml / "ratings.dat", BOM + "1::10::5::978300760\n")
    write(ml / "movies.dat", BOM + "10::Amélie (2001)::Comedy\n")
    log, catalog = load_movielens(ml)
    assert log.frame["user"].to_list() == ["1"] and catalog is not None
    assert catalog.frame["item"].to_list() == ["10"]
    review = json.dumps({"reviewerID": "A", "asin": "B", "overall": 1.0, "unixReviewTime": 1_400_000_000})
    for name, data in (("r.json", (BOM + review).encode()), ("r.json.gz", gzip.compress((BOM + review).encode()))):
        assert load_amazon(write(tmp_path / name, data))[0].frame["user"].to_list() == ["A"]
    history = write(tmp_path / "me.csv", BOM + "timestamp,item\n2025-03-01,shop-0001\n")
    assert load_timed_values(history, "item") == [(2, 1_740_787_200, "shop-0001")]


def test_latin1_fails_at_its_line_then_loads_with_the_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.csv", HEADER + "u,a,1600000000\nu,café,1600000001\n", "latin-1")
    error = error_of(load_table, path, COLUMNS)
    assert error.row == 3 and "not valid UTF-8 text (byte 0xe9 at column 6" in str(error)
    assert "encoding (--encoding)" in str(error)
    log, _ = load_table(path, COLUMNS, encoding="latin-1")
    assert log.frame["item"].to_list() == ["a", "café"]
    assert load_dataset(path, cache_dir=tmp_path / "c", encoding="latin-1").n_items == 2
    result = CliRunner().invoke(
        data_app, ["info", str(path), "--cache-dir", str(tmp_path / "c"), "--encoding", "latin-1"]
    )
    assert result.exit_code == 0, result.stderr
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        load_table(path, COLUMNS, encoding="klingon")


def test_utf16_loads_with_its_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "wide.tsv", "user\titem\ttimestamp\nü\ta\t1600000000\n", "utf-16")
    assert error_of(load_table, path, COLUMNS).row == 1
    assert load_table(path, COLUMNS, encoding="utf-16")[0].frame["user"].to_list() == ["ü"]


# ---------------------------------------------------------------------------------------------
# 4-6. Headers, RecBole types, nested Parquet columns
# ---------------------------------------------------------------------------------------------
def test_a_column_named_twice_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.csv", "user,item,timestamp,item\nu,a,1600000000,b\n")
    assert str(error_of(load_table, path, COLUMNS)) == (
        "dup.csv, row 1, field 'item': the header names this column twice (columns 2 and 4)"
    )
    quoted = write(tmp_path / "q.csv", 'user,"item",timestamp,"it,em"\nu,a,1600000000,b\n')
    assert times(quoted) == [1_600_000_000]  # a quoted comma is not a second column name


def test_recbole_types(tmp_path: Path) -> None:
    header = "user_id:token\titem_id:token\ttimestamp:float\ttags:token_seq\tvec:float_seq\n"
    ok = write(tmp_path / "ok.inter", header + "u\ta\t1600000000\tx y\t1 2\n")
    assert load_atomic(ok)[0].frame["item"].to_list() == ["a"]
    bad = write(tmp_path / "bad.inter", header.replace("float\t", "banana\t", 1) + "u\ta\t1\tx\t1\n")
    error = error_of(load_atomic, bad)
    assert (error.row, error.field) == (1, "timestamp:banana")
    assert "token, token_seq, float, float_seq" in str(error)


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("user", [["u"], ["v"]]),
        ("item", [{"x": 1}, {"x": 2}]),
        ("timestamp", [[1], [2]]),
        ("weight", [[1.0], [2.0]]),
        ("title", [["t"], ["s"]]),
        ("user", [b"u", b"v"]),
    ],
)
def test_nested_or_binary_parquet_columns_are_named(
    tmp_path: Path, column: str, values: list[object]
) -> None:
    frame = {"user": ["u", "v"], "item": ["a", "b"], "timestamp": [1_600_000_000] * 2, "weight": [1.0, 2.0], "title": ["t", "s"]}
    frame[column] = values
    path = tmp_path / "log.parquet"
    pl.DataFrame(frame).write_parquet(path)
    roles = {**COLUMNS, "weight": "weight", "title": "title"}
    error = error_of(load_table, path, roles)
    assert error.field == column and "expected one plain id, number, date or string" in str(error)


# ---------------------------------------------------------------------------------------------
# 7. Paths
# ---------------------------------------------------------------------------------------------
def test_paths_say_what_is_wrong(tmp_path: Path) -> None:
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop.name)
    assert "symbolic link loop" in str(error_of(load_table, loop, COLUMNS))
    assert "symbolic link loop" in str(error_of(load_dataset, loop, cache_dir=tmp_path / "c"))
    assert "symbolic link loop" in str(error_of(load_timed_values, loop, "item"))
    dangling = tmp_path / "gone.csv"
    dangling.symlink_to("nowhere.csv")
    assert "broken symbolic link" in str(error_of(load_dataset, dangling, cache_dir=tmp_path / "c"))
    assert str(error_of(load_timed_values, tmp_path, "item")).endswith("is a directory, expected a file")
    missing = tmp_path / "sub" / "missing.csv"
    assert str(error_of(load_table, missing, COLUMNS)) == f"missing.csv: no such file ({missing})"
    under_a_file = write(tmp_path / "f.csv", HEADER) / "x.csv"
    assert "no such file" in str(error_of(load_table, under_a_file, COLUMNS))


# ---------------------------------------------------------------------------------------------
# 8. Stale staging folders in the cache
# ---------------------------------------------------------------------------------------------
def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def staging(root: Path, name: str, age: float = 0) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "users.parquet").write_bytes(b"half")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_only_abandoned_staging_folders_are_removed(tmp_path: Path) -> None:
    host, key, tag = cleaning._host(), "ab12", "0123abcd"
    dead = staging(tmp_path, f".{key}.tmp-{host}-{dead_pid()}-{tag}")
    live_old = staging(tmp_path, f".{key}.tmp-{host}-{os.getpid()}-{tag}", age=10 * STALE_STAGING_SECONDS)
    foreign_new = staging(tmp_path, f".{key}.tmp-elsewhere-{os.getpid()}-{tag}", age=60)
    foreign_old = staging(tmp_path, f".{key}.tmp-elsewhere-{os.getpid()}-{tag[::-1]}", age=2 * STALE_STAGING_SECONDS)
    legacy_old = staging(tmp_path, f".{key}.tmp-{dead_pid()}-{tag}", age=2 * STALE_STAGING_SECONDS)
    finished = staging(tmp_path, key, age=10 * STALE_STAGING_SECONDS)
    other = staging(tmp_path, ".not-ours", age=10 * STALE_STAGING_SECONDS)
    assert sorted(remove_stale_staging(tmp_path)) == sorted([dead, foreign_old, legacy_old])
    assert all(p.exists() for p in (live_old, foreign_new, finished, other))


KILLED_WRITER = """
import sys, time
from pathlib import Path
from seqrec.data import cleaning
from seqrec.data.cleaning import clean, load_cached
from seqrec.data.types import InteractionLog
import polars as pl

def slow_write(dataset, directory):
    (directory / "users.parquet").write_bytes(b"half")
    print("writing", flush=True)
    time.sleep(60)

cleaning.write_entry = slow_write
frame = pl.DataFrame({"user": ["u"], "item": ["a"], "timestamp": [1], "weight": [1.0], "row": [0]})
load_cached(["killed"], lambda: clean(InteractionLog(frame)), Path(sys.argv[1]))
"""


def test_a_write_killed_with_sigkill_is_cleaned_up_by_the_next_write(tmp_path: Path) -> None:
    from seqrec.data.cleaning import clean
    from seqrec.data.types import InteractionLog

    cache = tmp_path / "cache"
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(cache)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    writer.kill()  # SIGKILL: no finally block runs
    writer.wait()
    left = [p.name for p in (cache / "datasets").iterdir()]
    assert len(left) == 1 and left[0].startswith(".") and f"-{writer.pid}-" in left[0]
    notes: list[str] = []
    frame = pl.DataFrame({"user": ["u"], "item": ["a"], "timestamp": [1], "weight": [1.0], "row": [0]})
    load_cached(["next"], lambda: clean(InteractionLog(frame)), cache, notes.append)
    assert [p.name for p in (cache / "datasets").iterdir() if p.name.startswith(".")] == []
    assert notes == ["removed 1 staging folder(s) left by interrupted cache writes"]


# ---------------------------------------------------------------------------------------------
# 9. Nobody to evaluate
# ---------------------------------------------------------------------------------------------
def test_splits_with_nobody_to_evaluate_raise() -> None:
    short = SequenceData.from_lists([[1, 2], [3]], n_items=3, timestamps=[[1, 2], [3]])
    with pytest.raises(ValueError, match="no user can be evaluated: leave-one-out needs users with at least 3"):
        leave_one_out(short)
    same_time = SequenceData.from_lists([[1, 2, 3]] * 3, n_items=3, timestamps=[[5, 5, 5]] * 3)
    with pytest.raises(ValueError, match="no user can be evaluated: the temporal split's test cut-off is 5"):
        temporal(same_time)
    with pytest.raises(DataError, match="^ratings: no user can be evaluated"):
        make_split("loo", short, source="ratings")
    one_each = SequenceData.from_lists([[1], [2]], n_items=2, timestamps=[[1], [2]])
    with pytest.raises(ValueError, match="no user can be evaluated"):
        temporal(one_each)
    assert len(temporal(SequenceData.from_lists([[1, 2, 3]], n_items=3, timestamps=[[1, 2, 3]])).test) == 1
    assert np.array_equal(leave_one_out(same_time).test.targets, [3, 3, 3])
