"""A corpus of malformed inputs, each run through the ``seqrec`` command line.

One class of bad input per generator function: it writes a small file (or folder, or link) under
a temporary folder and returns the command to run on it. Every case must give exit code 2, one
``error: ...`` line on stderr that holds the expected fragments (the file's name, and the row and
field where there is one), no traceback, and leave nothing behind: no new file in ``--out``, next
to the input, or in ``--cache-dir`` (other than the finished entry of a load that succeeded
before a later step refused the data).

The table of cases (class, command, message) is printed by ``python tests/bad_inputs/test_corpus.py
--table`` and written as Markdown to ``$SEQREC_BAD_INPUT_TABLE`` by a pytest run that sets it.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from seqrec.cli import app

HEADER = "user,item,timestamp\n"
RATINGS = "user,item,rating,timestamp\n"
INTER = "user_id:token\titem_id:token\ttimestamp:float\n"
GOOD = "u1,a,1600000000\nu1,b,1600000100\nu2,a,1600000200\n"  # three plausible rows
REVIEW = {"reviewerID": "A1", "asin": "B1", "overall": 5.0, "unixReviewTime": 1400000000}


# =============================================================================================
# The table: one row per class of bad input
# =============================================================================================
@dataclass(frozen=True)
class Case:
    """A class of bad input: ``generate`` writes an example under a folder and returns the
    command's arguments; the error line must contain every fragment of ``expect``."""

    name: str
    generate: Callable[[Path], list[str]]
    expect: tuple[str, ...]
    skip: str | None = None  # why the case cannot run here (e.g. as root)


CASES: list[Case] = []


def bad(*expect: str, skip: str | None = None) -> Callable[[Callable[[Path], list[str]]], Callable[[Path], list[str]]]:
    """Register the decorated generator as a class of bad input (its name, spaced)."""

    def register(generate: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
        CASES.append(Case(generate.__name__.replace("_", " "), generate, expect, skip))
        return generate

    return register


def shown(args: list[str], folder: Path) -> str:
    """The command as a user would type it, paths relative to the example's folder."""

    def one(arg: str) -> str:
        text = arg.replace(f"{folder}{os.sep}", "")
        return f"'{text}'" if not text or re.search(r"[\s'\"|;]", text) else text

    return "seqrec " + " ".join(one(arg) for arg in args)


# ---------------------------------------------------------------------------------------------
# Commands and files
# ---------------------------------------------------------------------------------------------
def info(path: Path, *extra: str) -> list[str]:
    return ["data", "info", str(path), "--cache-dir", str(path.parent.parent / "cache"), *extra]


def export(path: Path) -> list[str]:
    root = path.parent.parent
    return ["data", "export", str(path), "--out", str(root / "out"), "--cache-dir", str(root / "cache")]


def bench(path: Path, *extra: str) -> list[str]:
    root = path.parent.parent
    return ["benchmark", "--dataset", str(path), "--models", "popularity", "--out", str(root / "out"), "--cache-dir", str(root / "cache"), *extra]  # fmt: skip


def walk(path: Path) -> list[str]:
    return ["walkthrough", "--size", "tiny", "--models", "popularity", "--history", str(path), "--out", str(path.parent.parent / "out")]  # fmt: skip


def write(folder: Path, name: str, text: str | bytes, encoding: str = "utf-8") -> Path:
    """``folder/in/name`` holding ``text``; inputs live in ``in/``, beside ``cache/`` and ``out/``."""
    path = folder / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return path


def json_lines(*records: dict[str, object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def parquet(folder: Path, name: str, frame: pl.DataFrame) -> Path:
    path = write(folder, name, b"")
    frame.write_parquet(path)
    return path


def running_as_root() -> str | None:
    return "root reads any file" if hasattr(os, "geteuid") and os.geteuid() == 0 else None


# ---------------------------------------------------------------------------------------------
# 1. Time units and implausible times
# ---------------------------------------------------------------------------------------------
@bad("future.csv", "row 3", "field 'timestamp'", "implausible time '50000000000'", "more than a day in the future", "--time-unit")
def far_future_epoch_seconds(d: Path) -> list[str]:
    return info(write(d, "future.csv", HEADER + "u1,a,1600000000\nu1,b,50000000000\n"))


@bad("negative.csv", "row 2", "field 'timestamp'", "before 1970-01-01", "--allow-any-time")
def negative_epoch(d: Path) -> list[str]:
    return info(write(d, "negative.csv", HEADER + "u1,a,-86400\nu1,b,1600000000\n"))


@bad("old.csv", "row 3", "field 'timestamp'", "implausible time '1900-01-01'", "before 1970-01-01")
def iso_date_before_1970(d: Path) -> list[str]:
    return info(write(d, "old.csv", HEADER + "u1,a,2020-01-01\nu1,b,1900-01-01\n"))


@bad("later.csv", "row 2", "field 'timestamp'", "implausible time '2999-12-31T10:00:00'")
def iso_datetime_far_in_the_future(d: Path) -> list[str]:
    return info(write(d, "later.csv", HEADER + "u1,a,2999-12-31T10:00:00\n"))


@bad("inf.csv", "row 3", "field 'timestamp'", "'inf' is not a finite time")
def infinite_timestamp(d: Path) -> list[str]:
    return info(write(d, "inf.csv", HEADER + "u1,a,1600000000\nu1,b,inf\n"))


@bad("nan.csv", "row 4", "field 'timestamp'", "'nan' is not a finite time")
def nan_timestamp(d: Path) -> list[str]:
    return info(write(d, "nan.csv", HEADER + "u1,a,1600000000\nu1,b,1600000001\nu1,c,nan\n"))


@bad("huge.csv", "row 2", "field 'timestamp'", "'1e30' is after the year 9999")
def timestamp_beyond_any_date(d: Path) -> list[str]:
    return info(write(d, "huge.csv", HEADER + "u1,a,1e30\n"))


@bad("ms.csv", "row 2", "field 'timestamp'", "after the year 9999 (read as seconds)", "--time-unit")
def milliseconds_forced_as_seconds(d: Path) -> list[str]:
    return info(write(d, "ms.csv", HEADER + "u1,a,1600000000000\nu1,b,1600000001000\n"), "--time-unit", "s")


@bad("time_unit must be one of auto, s, ms, us, ns, not 'weeks'")
def unknown_time_unit(d: Path) -> list[str]:
    return info(write(d, "ok.csv", HEADER + GOOD), "--time-unit", "weeks")


@bad("abc.csv", "row 3", "field 'timestamp'", "cannot parse 'abc' as a time")
def unparsable_timestamp(d: Path) -> list[str]:
    return info(write(d, "abc.csv", HEADER + "u1,a,1600000000\nu1,b,abc\n"))


@bad("dmy.csv", "row 2", "field 'timestamp'", "pass timestamp_format")
def non_iso_date(d: Path) -> list[str]:
    return info(write(d, "dmy.csv", HEADER + "u1,a,01/02/2020\n"))


@bad("blank.csv", "row 3", "field 'timestamp'", "missing time")
def empty_timestamp(d: Path) -> list[str]:
    return info(write(d, "blank.csv", HEADER + "u1,a,1600000000\nu1,b,\n"))


@bad("reviews_Books_5.json", "row 2", "field 'unixReviewTime'", "after the year 9999 (read as seconds)")
def amazon_2014_times_in_milliseconds(d: Path) -> list[str]:
    records = [{**REVIEW, "unixReviewTime": 1400000000}, {**REVIEW, "asin": "B2", "unixReviewTime": 1400000000000}]
    return info(write(d, "reviews_Books_5.json", json_lines(*records)))


@bad("u.data", "row 2", "field 'timestamp'", "more than a day in the future")
def movielens_time_in_the_future(d: Path) -> list[str]:
    write(d, "ml-100k/u.data", "1\t10\t5\t881250949\n1\t11\t4\t88125094900\n")
    return info(d / "in" / "ml-100k")


@bad("bench.csv", "row 2", "field 'timestamp'", "before 1970-01-01")
def benchmark_on_times_before_1970(d: Path) -> list[str]:
    return bench(write(d, "bench.csv", HEADER + "u1,a,-1\n" + GOOD))


@bad("me.csv", "row 3", "field 'timestamp'", "'inf' is not a finite time")
def history_with_an_infinite_time(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "timestamp,item\n1600000000,shop-0001\ninf,shop-0002\n"))


@bad("me.csv", "row 2", "field 'timestamp'", "implausible time '2999-01-01'")
def history_far_in_the_future(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "timestamp,item\n2999-01-01,shop-0001\n"))


# ---------------------------------------------------------------------------------------------
# 2-3. Byte-order marks and encodings
# ---------------------------------------------------------------------------------------------
@bad("bom.csv", "row 3", "field 'timestamp'", "cannot parse 'later' as a time")
def bom_then_a_bad_row_keeps_line_numbers(d: Path) -> list[str]:
    return info(write(d, "bom.csv", "\ufeff" + HEADER + "u1,a,1600000000\nu1,b,later\n"))


@bad("me.csv", "row 3", "field 'item'", "neither an item id nor an exact title")
def bom_history_with_an_unknown_item(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "\ufefftimestamp,item\n1600000000,shop-0001\n1600000001,No Such Thing\n"))


@bad("latin.csv", "row 3", "not valid UTF-8", "byte 0xe9", "--encoding", "latin-1")
def latin1_table_read_as_utf8(d: Path) -> list[str]:
    return info(write(d, "latin.csv", HEADER + "u1,a,1600000000\nu1,café,1600000001\n", "latin-1"))


@bad("wide.csv", "row 1", "not valid UTF-8", "byte 0xff", "--encoding")
def utf16_table(d: Path) -> list[str]:
    return info(write(d, "wide.csv", HEADER + GOOD, "utf-16"))


@bad("latin.inter", "row 2", "not valid UTF-8", "--encoding")
def latin1_atomic_file(d: Path) -> list[str]:
    return info(write(d, "latin.inter", INTER + "u1\tcafé\t1600000000\n", "latin-1"))


@bad("me.csv", "row 2", "not valid UTF-8", "--encoding")
def latin1_history(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "timestamp,item\n1600000000,Crème\n", "latin-1"))


@bad("r.json", "row 2", "not valid UTF-8", "byte 0xe9")
def amazon_reviews_not_utf8(d: Path) -> list[str]:
    text = json.dumps(REVIEW) + "\n" + json.dumps({**REVIEW, "asin": "é"}, ensure_ascii=False) + "\n"
    return info(write(d, "r.json", text, "latin-1"))


@bad("zipped.csv", "row 1", "not valid UTF-8", "byte 0x8b")
def compressed_bytes_named_csv(d: Path) -> list[str]:
    return info(write(d, "zipped.csv", gzip.compress((HEADER + GOOD).encode())))


@bad("unknown encoding 'klingon'", "latin-1")
def unknown_encoding_name(d: Path) -> list[str]:
    return info(write(d, "ok.csv", HEADER + GOOD), "--encoding", "klingon")


@bad("encoding applies to tables and atomic files", "MovieLens files are read in the encoding of their release")
def encoding_for_a_movielens_folder(d: Path) -> list[str]:
    write(d, "ml-100k/u.data", "1\t10\t5\t881250949\n")
    return info(d / "in" / "ml-100k", "--encoding", "latin-1")


# ---------------------------------------------------------------------------------------------
# 4. Duplicate column names
# ---------------------------------------------------------------------------------------------
@bad("twice.csv", "row 1", "field 'user'", "names this column twice (columns 1 and 3)")
def csv_header_names_a_column_twice(d: Path) -> list[str]:
    return info(write(d, "twice.csv", "user,item,user,timestamp\nu1,a,u2,1600000000\n"))


@bad("twice.tsv", "row 1", "field 'timestamp'", "names this column twice")
def tsv_header_names_a_column_twice(d: Path) -> list[str]:
    return info(write(d, "twice.tsv", "user\titem\ttimestamp\ttimestamp\nu1\ta\t1600000000\t1\n"))


@bad("twice.inter", "row 1", "field 'item_id'", "names this column twice", "'item_id:token' and 'item_id:float'")
def atomic_field_named_twice_with_two_types(d: Path) -> list[str]:
    return info(write(d, "twice.inter", "user_id:token\titem_id:token\titem_id:float\ttimestamp:float\nu\ta\t1\t1600000000\n"))


@bad("me.csv", "row 1", "field 'item'", "names this column twice")
def history_header_names_a_column_twice(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "timestamp,item,item\n1600000000,shop-0001,shop-0002\n"))


# ---------------------------------------------------------------------------------------------
# 5. RecBole atomic headers
# ---------------------------------------------------------------------------------------------
@bad("banana.inter", "row 1", "field 'user_id:banana'", "unknown field type 'banana'", "token, token_seq, float, float_seq")
def atomic_unknown_field_type(d: Path) -> list[str]:
    return info(write(d, "banana.inter", "user_id:banana\titem_id:token\ttimestamp:float\nu\ta\t1600000000\n"))


@bad("plain.inter", "row 1", "field 'user_id'", "lacks its ':type' suffix")
def atomic_header_without_types(d: Path) -> list[str]:
    return info(write(d, "plain.inter", "user_id\titem_id\ttimestamp\nu\ta\t1600000000\n"))


@bad("nouser.inter", "field 'user_id'", "no such column")
def atomic_file_without_a_user_field(d: Path) -> list[str]:
    return info(write(d, "nouser.inter", "item_id:token\ttimestamp:float\na\t1600000000\n"))


@bad("sub.item", "row 1", "field 'title'", "lacks its ':type' suffix")
def atomic_item_file_with_a_bad_header(d: Path) -> list[str]:
    write(d, "sub.item", "item_id:token\ttitle\na\tA film\n")
    return info(write(d, "sub.inter", INTER + "u\ta\t1600000000\n"))


# ---------------------------------------------------------------------------------------------
# 6. Parquet
# ---------------------------------------------------------------------------------------------
@bad("lists.parquet", "field 'user_id'", "List(String)", "nested")
def parquet_user_column_of_lists(d: Path) -> list[str]:
    frame = pl.DataFrame({"user_id": [["u1"], ["u2"]], "item_id": ["a", "b"], "timestamp": [1600000000, 1600000001]})
    return info(parquet(d, "lists.parquet", frame))


@bad("structs.parquet", "field 'item_id'", "Struct", "nested")
def parquet_item_column_of_structs(d: Path) -> list[str]:
    frame = pl.DataFrame({"user_id": ["u1", "u2"], "item_id": [{"id": 1}, {"id": 2}], "timestamp": [1600000000, 1600000001]})
    return info(parquet(d, "structs.parquet", frame))


@bad("fake.parquet", "not a readable Parquet file")
def not_really_parquet(d: Path) -> list[str]:
    return info(write(d, "fake.parquet", "PAR1 but not really"))


@bad("none.parquet", "the table has no rows")
def parquet_without_rows(d: Path) -> list[str]:
    frame = pl.DataFrame({"user_id": [], "item_id": [], "timestamp": []}, schema={"user_id": pl.String, "item_id": pl.String, "timestamp": pl.Int64})
    return info(parquet(d, "none.parquet", frame))


@bad("nan.parquet", "row 2", "field 'user_id'", "missing user id (NaN)")
def parquet_nan_user_id(d: Path) -> list[str]:
    frame = pl.DataFrame({"user_id": [1.0, float("nan")], "item_id": [1, 2], "timestamp": [1600000000, 1600000001]})
    return info(parquet(d, "nan.parquet", frame))


# ---------------------------------------------------------------------------------------------
# 7. Paths
# ---------------------------------------------------------------------------------------------
@bad("loop.csv", "symbolic link loop")
def symbolic_link_loop(d: Path) -> list[str]:
    link = d / "in" / "loop.csv"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(link.name)
    return info(link)


@bad("gone.csv", "broken symbolic link", "missing.csv")
def symbolic_link_to_nothing(d: Path) -> list[str]:
    link = d / "in" / "gone.csv"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("missing.csv")
    return info(link)


@bad("nowhere.csv", "no such file or directory", "in/nowhere.csv")
def missing_dataset_file(d: Path) -> list[str]:
    (d / "in").mkdir(parents=True, exist_ok=True)
    return info(d / "in" / "nowhere.csv")


@bad("nowhere.csv", "no such file", "in/nowhere.csv")
def missing_history_file(d: Path) -> list[str]:
    (d / "in").mkdir(parents=True, exist_ok=True)
    return walk(d / "in" / "nowhere.csv")


@bad("folder", "is a directory, expected a file")
def history_is_a_directory(d: Path) -> list[str]:
    (d / "in" / "folder").mkdir(parents=True)
    return walk(d / "in" / "folder")


@bad("me.csv", "symbolic link loop")
def history_symbolic_link_loop(d: Path) -> list[str]:
    link = d / "in" / "me.csv"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(link.name)
    return walk(link)


@bad("locked.csv", "permission denied", skip=running_as_root())
def unreadable_file(d: Path) -> list[str]:
    path = write(d, "locked.csv", HEADER + GOOD)
    path.chmod(0)
    return info(path)


@bad("empty", "no dataset files found")
def folder_without_dataset_files(d: Path) -> list[str]:
    write(d, "empty/notes.md", "nothing here")
    return info(d / "in" / "empty")


@bad("two.xlsx", "unknown format")
def unknown_file_format(d: Path) -> list[str]:
    return info(write(d, "two.xlsx", HEADER + GOOD))


# ---------------------------------------------------------------------------------------------
# 9. Nobody to evaluate
# ---------------------------------------------------------------------------------------------
@bad("no user can be evaluated", "leave-one-out needs users with at least 3 interactions")
def every_user_too_short_for_leave_one_out(d: Path) -> list[str]:
    return bench(write(d, "short.csv", HEADER + "u1,a,1600000000\nu1,b,1600000001\nu2,a,1600000002\n"))


@bad("no user can be evaluated", "temporal split's test cut-off")
def temporal_cut_with_nobody_after_it(d: Path) -> list[str]:
    same = "".join(f"u{u},{i},1600000000\n" for u in range(3) for i in "abc")
    return bench(write(d, "same.csv", HEADER + same), "--split", "temporal")


# ---------------------------------------------------------------------------------------------
# Structure: columns, rows, fields
# ---------------------------------------------------------------------------------------------
@bad("nocol.csv", "cannot tell which column holds the timestamp", "columns: user, item")
def missing_time_column(d: Path) -> list[str]:
    return info(write(d, "nocol.csv", "user,item\nu1,a\n"))


@bad("semi.csv", "cannot tell which column holds the user", "semicolon-separated", "commas")
def wrong_separator(d: Path) -> list[str]:
    return info(write(d, "semi.csv", "user;item;timestamp\nu1;a;1600000000\n"))


@bad("empty.csv", "the file is empty")
def empty_file(d: Path) -> list[str]:
    return info(write(d, "empty.csv", ""))


@bad("header.csv", "the file has no data rows")
def header_only(d: Path) -> list[str]:
    return info(write(d, "header.csv", HEADER))


@bad("blank.tsv", "the file is empty")
def only_blank_lines(d: Path) -> list[str]:
    return info(write(d, "blank.tsv", "\n\n\n"))


@bad("cut.csv", "row 4", "field 'timestamp'", "the line has 2 of 3 fields (file cut short?)")
def truncated_last_line(d: Path) -> list[str]:
    return info(write(d, "cut.csv", HEADER + "u1,a,1600000000\nu1,b,1600000001\nu2,c"))


@bad("long.csv", "row 3", "the line has 4 fields, expected 3")
def line_with_an_extra_field(d: Path) -> list[str]:
    return info(write(d, "long.csv", HEADER + "u1,a,1600000000\nu1,b,1600000001,9\n"))


@bad("quote.csv", "row 3", "cut short?")
def unterminated_quote(d: Path) -> list[str]:
    return info(write(d, "quote.csv", HEADER + 'u1,a,1600000000\n"u1,b,1600000001\n'))


@bad("nan.csv", "row 2", "field 'item'", "missing item id (NaN)")
def nan_item_id(d: Path) -> list[str]:
    return info(write(d, "nan.csv", HEADER + "u1,NaN,1600000000\n"))


@bad("noid.csv", "row 3", "field 'user'", "missing user id")
def blank_user_id(d: Path) -> list[str]:
    return info(write(d, "noid.csv", HEADER + "u1,a,1600000000\n   ,b,1600000001\n"))


@bad("rating.csv", "row 3", "field 'rating'", "cannot parse 'five' as a number")
def bad_rating(d: Path) -> list[str]:
    return info(write(d, "rating.csv", RATINGS + "u1,a,4,1600000000\nu1,b,five,1600000001\n"))


@bad("export.csv", "row 2", "field 'timestamp'", "cannot parse 'soon' as a time")
def export_of_a_bad_table(d: Path) -> list[str]:
    return export(write(d, "export.csv", HEADER + "u1,a,soon\n"))


@bad("catalog.csv", "field 'title'", "no such column (columns: item, name)")
def exported_folder_with_a_bad_catalog(d: Path) -> list[str]:
    write(d, "exported/interactions.csv", HEADER + GOOD)
    write(d, "exported/catalog.csv", "item,name\na,A\n")
    return info(d / "in" / "exported")


# ---------------------------------------------------------------------------------------------
# Amazon JSON lines and MovieLens folders
# ---------------------------------------------------------------------------------------------
@bad("cut.json", "row 2", "the JSON record is cut short")
def amazon_record_cut_short(d: Path) -> list[str]:
    return info(write(d, "cut.json", json.dumps(REVIEW) + "\n" + json.dumps(REVIEW)[:30]))


@bad("broken.json", "row 1", "not valid JSON")
def amazon_line_not_json(d: Path) -> list[str]:
    return info(write(d, "broken.json", "{'reviewerID': 'A1'} trailing\n"))


@bad("keyless.json", "row 2", "field 'overall'", "missing key")
def amazon_review_missing_a_key(d: Path) -> list[str]:
    partial = {k: v for k, v in REVIEW.items() if k != "overall"}
    return info(write(d, "keyless.json", json_lines(REVIEW, partial)))


@bad("other.jsonl", "row 1", "not an Amazon review record")
def json_lines_that_are_not_reviews(d: Path) -> list[str]:
    return info(write(d, "other.jsonl", json_lines({"name": "x"})))


@bad("cut.json.gz", "the gzip stream is cut short")
def gzip_stream_cut_short(d: Path) -> list[str]:
    whole = gzip.compress(json_lines(*[{**REVIEW, "asin": f"B{i}"} for i in range(50)]).encode())
    return info(write(d, "cut.json.gz", whole[:-4]))


@bad("u.data", "row 2", "field 'timestamp'", "the line has 3 of 4 fields")
def movielens_ratings_cut_short(d: Path) -> list[str]:
    write(d, "ml-100k/u.data", "1\t10\t5\t881250949\n1\t11\t4\n")
    return info(d / "in" / "ml-100k")


@bad("u.item", "row 1", "field 'genres'", "genre flags must be 0 or 1")
def movielens_bad_genre_flags(d: Path) -> list[str]:
    write(d, "ml-100k/u.data", "1\t10\t5\t881250949\n")
    write(d, "ml-100k/u.item", "10|Film (1995)|01-Jan-1995||http://x|" + "|".join(["2"] * 19) + "\n")
    return info(d / "in" / "ml-100k")


# ---------------------------------------------------------------------------------------------
# --history files
# ---------------------------------------------------------------------------------------------
@bad("me.csv", "field 'timestamp'", "missing column(s) 'timestamp'")
def history_without_a_time_column(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "when,item\n1600000000,shop-0001\n"))


@bad("me.csv", "the history is empty")
def history_with_no_rows(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "timestamp,item\n"))


@bad("me.csv", "row 3", "field 'item'", "neither an item id nor an exact title")
def history_naming_an_unknown_item(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "timestamp,item\n1600000000,shop-0001\n1600000001,No Such Thing\n"))


@bad("me.csv", "row 2", "field 'timestamp'", "cannot parse 'yesterday' as a time")
def history_with_a_word_for_a_time(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "timestamp,item\nyesterday,shop-0001\n"))


@bad("me.csv", "row 3", "field 'item'", "the line has 1 of 2 fields")
def history_cut_short(d: Path) -> list[str]:
    return walk(write(d, "me.csv", "timestamp,item\n1600000000,shop-0001\n1600000001"))


# =============================================================================================
# Running a case
# =============================================================================================
@dataclass(frozen=True)
class Outcome:
    command: str
    exit_code: int
    message: str  # the error line, without "error: "
    output: str  # stdout and stderr
    unexpected_files: list[str]  # new paths that a refused input must not leave


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def finished_cache_entry(folder: Path, relative: str) -> bool:
    """Whether ``relative`` lies in a complete cache entry (``cache/datasets/<key>/``, with its
    ``meta.json``): what a successful load leaves, as opposed to a staging folder."""
    parts = Path(relative).parts
    if parts[:2] != ("cache", "datasets") or len(parts) < 3:
        return len(parts) <= 2 and parts[0] == "cache"  # the cache folders themselves
    return not parts[2].startswith(".") and (folder / "cache" / "datasets" / parts[2] / "meta.json").is_file()


def run_case(case: Case, folder: Path) -> Outcome:
    args = case.generate(folder)
    before = files_under(folder)
    result = CliRunner().invoke(app, args)
    new = sorted(files_under(folder) - before)
    lines = result.stderr.strip().splitlines()
    message = lines[-1].removeprefix("error: ") if lines else ""
    unexpected = [p for p in new if not finished_cache_entry(folder, p)]
    if len(lines) != 1 or not lines[0].startswith("error: "):
        message = f"(not one error line) {result.stderr!r}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        message = f"(raised) {type(result.exception).__name__}: {result.exception}"
    return Outcome(shown(args, folder), result.exit_code, message, result.output, unexpected)


def markdown_table(rows: list[tuple[str, str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| class | command | message |", "| --- | --- | --- |"]
    lines += [f"| {cell(name)} | `{cell(command)}` | {cell(message)} |" for name, command, message in rows]
    return "\n".join(lines) + "\n"


# =============================================================================================
# The test
# =============================================================================================
RESULTS: dict[str, tuple[str, str, str]] = {}


@pytest.fixture(scope="module", autouse=True)
def write_table() -> Iterator[None]:
    """With ``SEQREC_BAD_INPUT_TABLE=PATH``, write the cases run as a Markdown table there."""
    yield
    target = os.environ.get("SEQREC_BAD_INPUT_TABLE")
    if target and RESULTS:
        Path(target).write_text(markdown_table([RESULTS[c.name] for c in CASES if c.name in RESULTS]))


def test_the_corpus_is_large_and_its_classes_distinct() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)) and len(names) >= 40


@pytest.mark.parametrize("case", CASES, ids=[case.name.replace(" ", "-") for case in CASES])
def test_bad_input_exits_2_with_a_located_message(case: Case, tmp_path: Path) -> None:
    if case.skip:
        pytest.skip(case.skip)
    outcome = run_case(case, tmp_path)
    RESULTS[case.name] = (case.name, outcome.command, outcome.message)
    assert outcome.exit_code == 2, outcome.output
    assert "Traceback" not in outcome.output
    missing = [fragment for fragment in case.expect if fragment not in outcome.message]
    assert not missing, f"{outcome.message!r} lacks {missing}"
    assert outcome.unexpected_files == [], "a refused input left files behind"


def main(argv: list[str]) -> int:
    """``--table``: run every case in a temporary folder and print the Markdown table."""
    if argv != ["--table"]:
        print("usage: python tests/bad_inputs/test_corpus.py --table", file=sys.stderr)
        return 2
    rows = []
    for case in CASES:
        if case.skip:
            rows.append((case.name, "", f"(skipped: {case.skip})"))
            continue
        with tempfile.TemporaryDirectory() as folder:
            outcome = run_case(case, Path(folder))
            rows.append((case.name, outcome.command, outcome.message))
    print(markdown_table(rows), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
