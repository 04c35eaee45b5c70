"""Data preparation on Spark: the cleaning pipeline of :mod:`seqrec.data.cleaning` on Spark
DataFrames, for logs too large for one machine's memory (``seqrec data prepare --engine spark``).

:func:`prepare_spark` reads an interaction log, applies exactly the steps of
:func:`seqrec.data.cleaning.clean` and writes a *prepared dataset*, the Parquet layout the Polars
engine writes too:

* ``interactions/part-*.parquet``: ``user_id``, ``item``, ``timestamp`` (int64), in CSR order
  (user id ascending, then each user's history in (timestamp, file row) order) across the part
  files taken in name order;
* ``users/part-*.parquet``: ``label``, ``user_id``, ``length``, by user id;
* ``items/part-*.parquet``: ``label``, ``title``, ``category``, ``text``, by item id, row 0 the
  padding (label ``<pad>``);
* ``meta.json``, written last: counts, flags and the SHA-256 of every part file.

The steps, as in :func:`~seqrec.data.cleaning.clean`: drop weights below ``min_rating``; keep the
first (lowest file row) of identical (user, item, timestamp) rows; k-core to a fixpoint (each pass
drops the rows whose user or item is under its minimum in the current frame, until a pass drops
nothing); order by (timestamp, file row); dense ids by first appearance in that order (users
``0..U-1``, items ``1..n``). Every step is a DataFrame aggregation or join; nothing loops over
rows in Python.

**The file row.** Timestamps tie, and the file order breaks the ties, so every record carries
its position as the pair (``_metadata.file_block_start``, ``monotonically_increasing_id()``),
taken straight off the scan. A file is read as byte-range splits; each split's records come in
file order and land, contiguously and in that order, in one task, whose
``monotonically_increasing_id`` values increase record by record. Splits are ordered by their
start byte, so the pair sorts records in file order however Spark packs or orders the splits
into partitions (it sorts them by size, not by position). The pair is never turned into one
number: only its order is used. The parsed log is written once to a Parquet stage
(as is each k-core pass: short plans, compact on disk), so the ids are taken once.

**Inputs** (``kind``):

* ``"movielens"``: an ML-20M/25M/32M-style folder (``ratings.csv``: ``userId,movieId,rating,
  timestamp``, seconds), or that ``ratings.csv`` itself; ``movies.csv`` beside it, when present,
  is read by the eager loader's own code (it is small), so titles, categories and texts match.
  Unlike :func:`~seqrec.data.loaders.load_movielens`, a ``ratings.csv`` without ``movies.csv`` is
  accepted (titles are the ids, categories ``unknown``). The ``::`` releases (ML-1M/10M) and
  ML-100K are not read here.
* ``"table"``: a ``.csv``, ``.tsv`` or ``.parquet`` table whose columns
  :func:`~seqrec.data.loaders.guess_columns` recognises, as ``load_dataset`` reads it (with its
  ``title`` / ``category`` columns, first row per item, when it has them).

Timestamps: numbers only - integers, or decimals floored to seconds - in seconds for MovieLens
and, for tables, in the unit told by the median absolute value, decided exactly as
:func:`~seqrec.data.loaders.detect_time_unit` does (from counts, not an approximate quantile);
``time_unit`` forces one. Times before 1970 or more than a day ahead are an error unless
``allow_any_time``.

**Where this deviates from the Polars loaders**, knowingly:

* Not supported (a :class:`DataError` says so): date/time strings (ISO 8601, ``timestamp_format``),
  Parquet date/timestamp columns, ids in Parquet float columns that are not whole numbers,
  nested or binary columns, delimited ``.txt`` tables, encodings other than UTF-8, and quoted
  fields spanning lines in the log (the log is read line-splittable so that it parallelises).
* Bytes that are not UTF-8 are replaced (U+FFFD) by Spark's reader instead of being refused.
* Error messages name the file, the field and the line (found, only when there is an error, by
  scanning the file in Python: the first offending row in file order, like the eager checks),
  but may word a reason differently.

PySpark is an optional extra (``pip install 'seqrec[spark]'``) and needs a Java runtime (17 or
21); both are imported or looked for only when :func:`prepare_spark` runs.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from seqrec.data.cleaning import CACHE_FORMAT, PAD_LABEL, UNKNOWN_CATEGORY, CleanOptions
from seqrec.data.errors import DataError
from seqrec.data.loaders.common import (
    _ANY_TIME_HINT,
    _BANDS,
    _FIRST_SECOND,
    _FUTURE_SLACK_SECONDS,
    _LAST_SECOND,
    _TIME_HINT,
    _UNIT_DIVISOR,
    _UNIT_LIMITS,
    _UNIT_NAMES,
    _check_not_empty,
    _check_unique_header,
    _checked_time_unit,
    _read_delimited,
    _require,
)
from seqrec.data.loaders.movielens import _genre_list_catalog
from seqrec.data.loaders.table import _table_header, guess_columns
from seqrec.data.types import Catalog

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

Reporter = Callable[[str], None]

SPARK_INSTALL_HINT = "the spark engine needs PySpark: pip install 'seqrec[spark]'"
JAVA_HINT = (
    "the spark engine needs a Java runtime (17 or 21) for PySpark: install one "
    "(Debian/Ubuntu: apt-get install default-jre-headless) or set JAVA_HOME"
)
KINDS = ("movielens", "table")
"""The ``kind`` values :func:`prepare_spark` reads."""

_SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}
"""Settings of a session this module starts (``spark_conf`` overrides them)."""
_LOCAL_DRIVER_MEMORY = "4g"  # local mode runs the executors in the driver's JVM
_RUNTIME_CONF = {"spark.sql.caseSensitive": "true"}
"""Set for the run and restored after: column names are case-sensitive, as in the file."""

_KEY = ("_blk", "_pos")  # the file-row key (see the module docstring)
_INT_TEXT = r"^[+-]?[0-9]+$"
_FLOAT_TEXT = r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|(?i:inf|infinity|nan))$"
_STRIP = r"(?U)^\s+|\s+$"  # Unicode whitespace at either end, as Polars' strip_chars()
_TIME_PROBLEMS = {  # codes of the time checks, in the order the eager checks apply them
    10: "unparsable",
    11: "not finite",
    12: "undatable",
    13: "implausible",
}


class SparkUnavailableError(ImportError):
    """PySpark or the Java runtime it needs is missing."""


@dataclass(frozen=True)
class _Source:
    """What to read: the log file, its format and columns, and the catalog, if any."""

    path: Path
    format: str  # "csv" or "parquet"
    sep: str
    header: tuple[str, ...]
    columns: Mapping[str, str]  # role (user, item, timestamp, weight, title, category) -> column
    unit: str  # "s", "ms", "us", "ns" or "auto" (told by the magnitudes)
    movies: Path | None  # MovieLens' movies.csv


def prepare_spark(
    source: Path,
    out: Path,
    options: CleanOptions,
    kind: str,
    *,
    master: str = "local[*]",
    report: Reporter | None = None,
    time_unit: str = "auto",
    allow_any_time: bool = False,
    name: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
) -> Path:
    """Clean the log at ``source`` on Spark and write the prepared dataset to ``out``; return it.

    ``kind`` is ``"movielens"`` or ``"table"`` (see the module docstring for what each reads).
    The run uses the active SparkSession if there is one, else starts one on ``master`` with
    ``spark_conf`` (and stops it at the end). ``out`` must be a path the driver and executors
    share (always true in local mode). It is written in a staging folder beside it and moved
    into place with one ``os.replace``, ``meta.json`` last; an existing prepared dataset there
    is replaced, anything else there is an error. ``name`` defaults to the source's name
    without its extension (as ``load_dataset`` names a path).
    """
    say = report or (lambda message: None)
    source, out = Path(source).expanduser(), Path(out).expanduser()
    _checked_time_unit(time_unit)
    src = _resolve(source, kind, time_unit)
    _check_target(out)
    name = name or source.name.split(".")[0]
    started = time.perf_counter()
    with _session(master, spark_conf) as spark:
        say(f"spark {spark.version} on {spark.sparkContext.master}: reading {src.path}")
        staging = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        try:
            pipeline = _Pipeline(spark, src, options, allow_any_time, say)
            meta = pipeline.run(staging, name)
            _install(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    say(
        f"prepared {meta['n_interactions']} interactions of {meta['n_users']} users and "
        f"{meta['n_items']} items in {time.perf_counter() - started:.1f}s: {out}"
    )
    return out


# =============================================================================================
# Inputs
# =============================================================================================
def _resolve(source: Path, kind: str, time_unit: str) -> _Source:
    if kind == "movielens":
        return _movielens_source(source, time_unit)
    if kind == "table":
        return _table_source(source, time_unit)
    raise DataError(
        source,
        f"the spark engine prepares kinds {', '.join(map(repr, KINDS))}, not {kind!r}; "
        "prepare other sources with --engine polars",
    )


def _movielens_source(source: Path, time_unit: str) -> _Source:
    ratings = source
    if source.is_dir():
        ratings = _ratings_csv(source)
    _check_not_empty(ratings)
    _check_unique_header(ratings, ",", "utf-8", '"')
    header = tuple(_table_header(ratings, ","))
    columns = {"user": "userId", "item": "movieId", "timestamp": "timestamp", "weight": "rating"}
    _require_header(ratings, header, list(columns.values()))
    movies = ratings.with_name("movies.csv")
    return _Source(
        path=ratings,
        format="csv",
        sep=",",
        header=header,
        columns=columns,
        unit="s" if time_unit == "auto" else time_unit,
        movies=movies if movies.is_file() else None,
    )


def _ratings_csv(folder: Path) -> Path:
    """``ratings.csv`` in ``folder`` or in its only sub-folder (an unzipped archive)."""
    if (folder / "ratings.csv").is_file():
        return folder / "ratings.csv"
    if (folder / "ratings.dat").exists() or (folder / "u.data").exists():
        raise DataError(
            folder,
            "the spark engine reads the CSV MovieLens releases (ratings.csv: ML-20M/25M/32M); "
            "prepare ML-100K, ML-1M and ML-10M with --engine polars",
        )
    children = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(children) == 1:
        return _ratings_csv(children[0])
    raise DataError(folder, "no ratings.csv here (an ML-20M/25M/32M-style MovieLens folder)")


def _table_source(path: Path, time_unit: str) -> _Source:
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in (".csv", ".tsv", ".parquet"):
        raise DataError(
            path,
            "the spark engine reads .csv, .tsv or .parquet tables; "
            "prepare other files with --engine polars",
        )
    _check_not_empty(path)
    sep = "\t" if suffix == ".tsv" else ","
    if suffix != ".parquet":
        _check_unique_header(path, sep, "utf-8", '"')
    columns = guess_columns(path)  # the columns load_dataset would use
    return _Source(
        path=path,
        format="parquet" if suffix == ".parquet" else "csv",
        sep=sep,
        header=tuple(_table_header(path, sep if suffix != ".parquet" else None)),
        columns=columns,
        unit=time_unit,
        movies=None,
    )


def _require_header(path: Path, header: tuple[str, ...], fields: list[str]) -> None:
    for field in fields:
        if field not in header:
            raise DataError(path, f"no such column (columns: {', '.join(header)})", field=field)


def _movies_catalog(movies: Path) -> Catalog:
    """``movies.csv`` read and turned into a catalog by the eager loader's code."""
    raw = _read_delimited(movies, ",", has_header=True)
    _require(raw, ["movieId", "title", "genres"])
    records = [
        (raw.line(i), movie, title or "", genres or "")
        for i, (movie, title, genres) in enumerate(
            raw.frame.select("movieId", "title", "genres").iter_rows()
        )
    ]
    return _genre_list_catalog(raw.path, records)


def _check_target(out: Path) -> None:
    if out.exists() and not (out.is_dir() and (_is_prepared(out) or not any(out.iterdir()))):
        raise DataError(out, "exists and is not a prepared dataset; refusing to overwrite it")


def _is_prepared(folder: Path) -> bool:
    try:
        return json.loads((folder / "meta.json").read_text()).get("layout") == "prepared"
    except (OSError, ValueError, AttributeError):
        return False


# =============================================================================================
# The session
# =============================================================================================
@contextmanager
def _session(master: str, spark_conf: Mapping[str, str] | None) -> Iterator[SparkSession]:
    """The active session, or a new one stopped on exit; run settings restored on exit."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise SparkUnavailableError(SPARK_INSTALL_HINT) from error
    spark = SparkSession.getActiveSession()
    created = spark is None
    if spark is None:
        if not _java_found():
            raise SparkUnavailableError(JAVA_HINT)
        conf = dict(_SESSION_CONF)
        if master.startswith("local"):
            conf["spark.driver.memory"] = _LOCAL_DRIVER_MEMORY
        conf.update(spark_conf or {})
        builder = SparkSession.builder.master(master).appName("seqrec-prepare")
        for key, value in conf.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
    saved = {key: spark.conf.get(key, None) for key in _RUNTIME_CONF}
    for key, value in _RUNTIME_CONF.items():
        spark.conf.set(key, value)
    try:
        yield spark
    finally:
        for key, old in saved.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)
        spark.catalog.clearCache()
        if created:
            spark.stop()


def _java_found() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return True
    return shutil.which("java") is not None


# =============================================================================================
# The pipeline
# =============================================================================================
class _Pipeline:
    """One run on one session: the steps, and the frames it cached (released at the end)."""

    def __init__(
        self,
        spark: SparkSession,
        src: _Source,
        options: CleanOptions,
        allow_any_time: bool,
        say: Reporter,
    ) -> None:
        self.spark = spark
        self.src = src
        self.options = options
        self.allow_any_time = allow_any_time
        self.say = say
        self.cached: list[DataFrame] = []
        self.work = Path()  # the folder of the stages, inside the staging folder

    def run(self, staging: Path, name: str) -> dict[str, Any]:
        """Read, clean, number and write into ``staging``; the meta data written last."""
        catalog = _movies_catalog(self.src.movies) if self.src.movies is not None else None
        self.work = staging / "work"  # no leading "_": Spark skips such paths
        try:
            log = self.read_log()
            titles = None
            if {"title", "category"} & set(self.src.columns):
                titles = self.keep(_table_titles(log, self.src))
            frame = self.clean(log)
            users, items = self.dense_ids(frame)
            interactions = (
                frame.join(users.select("user", "user_id"), "user")
                .join(items.select("item", "item_id"), "item")
                .orderBy("user_id", "timestamp", *_KEY)  # range-partitioned: parts in order
                .select("user_id", _long("item_id", "item"), "timestamp")
            )
            _write(interactions, staging / "interactions")
            _write(
                users.coalesce(1)
                .sortWithinPartitions("user_id")  # one file: a sort without range sampling
                .select(_alias("user", "label"), "user_id", _long("length", "length")),
                staging / "users",
            )
            _write(_item_table(self.spark, items, catalog, titles, self.work), staging / "items")
        except Exception as error:
            _raise_malformed(error, self.src)
            raise
        finally:
            for cached in self.cached:
                cached.unpersist()
            shutil.rmtree(self.work, ignore_errors=True)
        return _write_meta(self.spark, staging, self.options, name, self.src.path)

    def keep(self, frame: DataFrame) -> DataFrame:
        """``frame`` cached (memory, spilling to disk) until the run ends; for the small
        frames (id sets) whose plans are short."""
        from pyspark import StorageLevel

        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self.cached.append(frame)
        return frame

    def stage(self, frame: DataFrame, name: str) -> DataFrame:
        """``frame`` written to a Parquet folder of the run and read back: computed once (the
        file-row key included), compact on disk, and a plan that starts afresh - a cache
        would keep the whole lineage, which the k-core passes multiply."""
        path = self.work / name
        frame.write.mode("overwrite").parquet(str(path))
        return self.spark.read.parquet(str(path))

    def rows(self, name: str) -> int:
        """The number of rows of a stage, from its Parquet footers (no Spark job)."""
        files = sorted((self.work / name).glob("part-*.parquet"))
        if not files:
            return 0
        return int(pl.scan_parquet(files).select(pl.len()).collect().item())

    def unstage(self, name: str) -> None:
        shutil.rmtree(self.work / name, ignore_errors=True)

    def read_log(self) -> DataFrame:
        """The parsed log: ``user``, ``item`` (str), ``timestamp`` (int64 s), ``weight``
        (float64), the file-row key, and the raw ``_title`` / ``_category`` when the table has
        them. The file is parsed once, into a stage the checks then read."""
        from pyspark.sql import functions as F

        src = self.src
        if src.format == "csv":
            scan = self.spark.read.options(
                header=True,
                sep=src.sep,
                quote='"',
                escape='"',  # RFC 4180: a quote inside quotes is doubled
                inferSchema=False,
                mode="FAILFAST",  # a line with more fields than the header is an error
                encoding="UTF-8",
            ).csv(str(src.path))
        else:
            scan = self.spark.read.parquet(str(src.path))
        roles = [_quoted(column).alias(f"_{role}") for role, column in src.columns.items()]
        raw = scan.select(
            *roles,
            F.col("_metadata.file_block_start").alias("_blk"),
            F.monotonically_increasing_id().alias("_pos"),  # on the scan, before any shuffle
            *(
                [F.coalesce(*map(_quoted, scan.columns)).isNull().alias("_blank")]
                if src.format == "csv"
                else []
            ),
        )
        if src.format == "csv":  # as in the eager reader, rows whose every field is empty go
            raw = raw.filter(~F.col("_blank")).drop("_blank")
        parser = _Parser(src, self.allow_any_time)
        log = parser.checked(self.stage(parser.typed(raw), "log"))
        return log

    def clean(self, log: DataFrame) -> DataFrame:
        """Steps 1-3 of :func:`~seqrec.data.cleaning.clean`."""
        from pyspark.sql import functions as F

        options = self.options
        frame = log
        if options.min_rating is not None:
            frame = frame.filter(F.col("weight") >= float(options.min_rating))
        if options.drop_duplicates:  # the first in file order of each (user, item, time)
            first = F.min(F.struct(*_KEY)).alias("k")
            frame = frame.groupBy("user", "item", "timestamp").agg(first)
            frame = frame.select("user", "item", "timestamp", "k._blk", "k._pos")
        frame = self.stage(frame.select("user", "item", "timestamp", *_KEY), "filtered")
        self.say(f"{self.rows('filtered')} interactions after the rating and duplicate filters")
        frame, name = self.k_core(frame, "filtered")
        if self.rows(name) == 0:
            raise DataError(self.src.path, f"no interactions left after cleaning with {options}")
        return frame

    def k_core(self, frame: DataFrame, name: str) -> tuple[DataFrame, str]:
        """Rows whose user has >= ``min_user_interactions`` and item >= ``min_item_interactions``
        rows, at a fixpoint (:func:`seqrec.data.cleaning.k_core`): a pass drops every row whose
        user or item is under its minimum in the current frame; passes repeat until one finds
        nobody under (the eager test: a pass dropped nothing). Returns the frame and its stage."""
        from pyspark.sql import functions as F

        min_user = self.options.min_user_interactions
        min_item = self.options.min_item_interactions
        if min_user <= 1 and min_item <= 1:
            return frame, name
        passes = 0
        count = self.rows(name)
        while True:
            few_users = frame.groupBy("user").count().filter(F.col("count") < min_user)
            few_items = frame.groupBy("item").count().filter(F.col("count") < min_item)
            kept = frame.join(few_users.select("user"), "user", "left_anti").join(
                few_items.select("item"), "item", "left_anti"
            )  # the counts are small next to the log: Spark broadcasts them
            kept = self.stage(kept, f"core-{passes + 1}")
            kept_count = self.rows(f"core-{passes + 1}")
            self.unstage(name)
            name, frame = f"core-{passes + 1}", kept
            if kept_count == count:
                self.say(f"k-core: a fixpoint after {passes} pass(es) that dropped rows")
                return frame, name
            passes, count = passes + 1, kept_count
            self.say(f"k-core pass {passes}: {count} interactions left")

    def dense_ids(self, frame: DataFrame) -> tuple[DataFrame, DataFrame]:
        """Users ``0..U-1`` (with their ``length``) and items ``1..n`` by first appearance in
        (timestamp, file row) order, cached. The numbering is one window over the id set (a
        single task): the id sets are small next to the log."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        first = F.min(F.struct("timestamp", *_KEY)).alias("first")
        in_order = Window.orderBy("first")  # keys are unique: a total order
        users = frame.groupBy("user").agg(first, F.count(F.lit(1)).alias("length"))
        users = users.withColumn("user_id", (F.row_number().over(in_order) - 1).cast("long"))
        items = frame.groupBy("item").agg(first)
        items = items.withColumn("item_id", F.row_number().over(in_order).cast("long"))
        return self.keep(users), self.keep(items)


def _table_titles(log: DataFrame, src: _Source) -> DataFrame:
    """``item``, ``title``, ``category`` of a table's catalog: each item's first row over the
    whole file, empty values replaced as :func:`~seqrec.data.loaders.common._catalog` does."""
    from pyspark.sql import functions as F

    def text(role: str) -> Column:
        return F.col(f"_{role}").cast("string") if role in src.columns else F.lit(None)

    first = log.groupBy("item").agg(
        F.min(F.struct(*_KEY, text("title").alias("t"), text("category").alias("c"))).alias("f")
    )
    return first.select(
        "item",
        F.when(F.coalesce(F.col("f.t"), F.lit("")) == "", F.col("item"))
        .otherwise(F.col("f.t"))
        .alias("title"),
        F.when(F.coalesce(F.col("f.c"), F.lit("")) == "", F.lit(UNKNOWN_CATEGORY))
        .otherwise(F.col("f.c"))
        .alias("category"),
    )


def _item_table(
    spark: SparkSession,
    items: DataFrame,
    catalog: Catalog | None,
    titles: DataFrame | None,
    work: Path,
) -> DataFrame:
    """``label``, ``title``, ``category``, ``text`` by item id, the padding row first, aligned
    as :func:`seqrec.data.cleaning._align_catalog` aligns a catalog: no title -> the item's
    label, no category -> ``unknown``, no text -> ``""``."""
    from pyspark.sql import functions as F

    meta = titles
    if catalog is not None and catalog.frame.height:
        path = work / "catalog.parquet"  # small; removed with the stages
        catalog.frame.select("item", "title", "category", "text").unique(
            subset="item", keep="first", maintain_order=True
        ).write_parquet(path)
        meta = spark.read.parquet(str(path))
    joined = items.select("item", "item_id")
    if meta is not None:
        joined = joined.join(meta, "item", "left")
    present = set(joined.columns)

    def given(name: str) -> Column:
        return F.coalesce(F.col(name), F.lit("")) if name in present else F.lit("")

    aligned = joined.select(
        "item_id",
        _alias("item", "label"),
        F.when(given("title") == "", F.col("item")).otherwise(given("title")).alias("title"),
        F.when(given("category") == "", F.lit(UNKNOWN_CATEGORY))
        .otherwise(given("category"))
        .alias("category"),
        given("text").alias("text"),
    )
    pad = spark.createDataFrame(
        [(0, PAD_LABEL, PAD_LABEL, PAD_LABEL, "")],
        "item_id long, label string, title string, category string, text string",
    )
    return (
        pad.unionByName(aligned)
        .coalesce(1)
        .sortWithinPartitions("item_id")  # one file: a sort without range sampling
        .select("label", "title", "category", "text")
    )


# =============================================================================================
# Output
# =============================================================================================
def _write(frame: DataFrame, folder: Path) -> None:
    """Write ``frame`` as Parquet part files into ``folder`` and drop Spark's bookkeeping files
    (``_SUCCESS``, ``.crc`` checksums): ``meta.json`` carries the checksums."""
    frame.write.mode("errorifexists").parquet(str(folder))
    for path in folder.iterdir():
        if not (path.name.startswith("part-") and path.name.endswith(".parquet")):
            path.unlink()


def _write_meta(
    spark: SparkSession, staging: Path, options: CleanOptions, name: str, source: Path
) -> dict[str, Any]:
    parts = sorted(
        path.relative_to(staging).as_posix()
        for folder in ("interactions", "users", "items")
        for path in (staging / folder).glob("part-*.parquet")
    )
    counts = pl.read_parquet(staging / "users" / "*.parquet").select(
        n_users=pl.len(), n_interactions=pl.col("length").sum()
    )
    n_items = pl.scan_parquet(staging / "items" / "*.parquet").select(pl.len()).collect().item()
    meta = {
        "layout": "prepared",
        "engine": "spark",
        "spark_version": spark.version,
        "format": CACHE_FORMAT,
        "name": name,
        "n_items": int(n_items) - 1,
        "n_users": int(counts["n_users"][0]),
        "n_interactions": int(counts["n_interactions"][0]),
        "exclude_history": options.exclude_history,
        "options": dataclasses.asdict(options),
        "source": str(source),
        "has_texts": True,  # clean() always aligns texts ("" where the catalog has none)
        "extras": {},
        "sha256": {part: _sha256(staging / part) for part in parts},
    }
    (staging / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return meta


def _install(staging: Path, out: Path) -> None:
    """Move ``staging`` to ``out``; a prepared dataset already there is swapped out first."""
    old = None
    if out.exists() and any(out.iterdir()):
        old = out.parent / f".{out.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.replace(out, old)
    try:
        os.replace(staging, out)
    except OSError:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


# =============================================================================================
# Parsing and checking the log's columns
# =============================================================================================
_Check = tuple["Column", str, str]  # (condition on a row, the role it is about, the reason)
_INTEGRAL = ("byte", "short", "integer", "long")
_FRACTIONAL = ("float", "double", "decimal")
_TEXT = ("string", "varchar", "char")
_SHOWN = {"user": "user", "item": "item", "timestamp": "_t_text", "weight": "_weight"}
"""The column whose value a message about each role quotes."""


class _Parser:
    """Typed columns from the raw ones (:meth:`typed`), then the checks on the staged result
    (:meth:`checked`), each raising at the first offending row.

    The checks run in the eager loader's order (user id, item id, timestamp, weight; within a
    column one kind of problem after the other, each at its first row in file order), so a
    file fails where :func:`~seqrec.data.loaders.common._build_log` fails it.
    """

    def __init__(self, src: _Source, allow_any_time: bool) -> None:
        self.src = src
        self.allow_any_time = allow_any_time
        self.kinds: dict[str, str] = {}
        self.float_ids: set[str] = set()

    def typed(self, raw: DataFrame) -> DataFrame:
        """``user``, ``item`` (stripped text, null when empty), ``_t_text`` (the stripped
        timestamp, null when empty), ``weight`` (null when unparsable), ``_weight`` (the
        stripped text), the file-row key and any ``_title`` / ``_category``."""

        self.kinds = {f.name[1:]: f.dataType.typeName() for f in raw.schema.fields}
        for role in self.src.columns:
            self._check_flat(role)
        weight, weight_text = self._weights()
        catalog = [f"_{r}" for r in ("title", "category") if r in self.src.columns]
        return raw.select(
            self._ids(raw, "user").alias("user"),
            self._ids(raw, "item").alias("item"),
            self._stamp_text().alias("_t_text"),
            weight.alias("weight"),
            weight_text.alias("_weight"),
            *_KEY,
            *catalog,
        )

    def checked(self, staged: DataFrame) -> DataFrame:
        """``staged`` with ``timestamp`` in seconds, once every check passed."""
        from pyspark.sql import functions as F

        stamp = F.col("_t_text")
        is_int = stamp.isNull() | (stamp.rlike(_INT_TEXT) & stamp.try_cast("long").isNotNull())
        if self.kinds["timestamp"] in _FRACTIONAL:
            is_int = F.lit(False)
        checks = [*self._id_checks("user", "user id"), *self._id_checks("item", "item id")]
        checks.append((stamp.isNull(), "timestamp", "missing time"))
        total, non_int = self._raise_first(
            staged, checks, F.count(F.lit(1)), F.sum(F.when(is_int, 0).otherwise(1))
        )
        if not total:
            raise DataError(self.src.path, "the file has no data rows")
        non_int = int(non_int or 0)
        seconds, time_checks = self._seconds(staged, non_int)
        frame = staged.withColumn("_seconds", seconds)
        self._raise_first(frame, [*time_checks, *self._weight_checks()])
        catalog = [f"_{r}" for r in ("title", "category") if r in self.src.columns]
        return frame.select(
            "user",
            "item",
            F.col("_seconds").cast("long").alias("timestamp"),
            "weight",
            *_KEY,
            *catalog,
        )

    # -- columns --------------------------------------------------------------------------
    def _check_flat(self, role: str) -> None:
        kind = self.kinds[role]
        if kind in ("array", "map", "struct", "binary", "variant"):
            raise DataError(
                self.src.path,
                f"the column holds {kind} values; expected one plain id, number or string per row",
                field=self.src.columns[role],
            )

    def _unsupported(self, role: str, what: str) -> DataError:
        return DataError(
            self.src.path,
            f"{what} are not supported by the spark engine; use --engine polars",
            field=self.src.columns[role],
        )

    def _ids(self, raw: DataFrame, role: str) -> Column:
        """Ids as stripped strings, null when missing (integral numbers in decimal)."""
        from pyspark.sql import functions as F

        column, kind = F.col(f"_{role}"), self.kinds[role]
        if kind in _INTEGRAL:
            return column.cast("string")
        if kind in ("float", "double"):
            whole = F.when(F.isnan(column), True).otherwise(column == F.floor(column))
            found = raw.agg(F.min(whole)).first()
            if found is not None and found[0] is False:
                raise self._unsupported(role, "ids in a float column that are not whole numbers")
            self.float_ids.add(role)
            return F.when(~F.isnan(column), column.try_cast("long").cast("string"))
        if kind not in _TEXT:
            raise self._unsupported(role, f"{kind} ids")
        text = F.regexp_replace(column, _STRIP, "")
        return F.when(text != "", text)

    def _id_checks(self, role: str, what: str) -> list[_Check]:
        from pyspark.sql import functions as F

        column = F.col(role)
        if role in self.float_ids:
            return [(column.isNull(), role, f"missing {what} (NaN)")]
        return [
            (column.isNull(), role, f"missing {what}"),
            (F.lower(column) == "nan", role, f"missing {what} (NaN)"),
        ]

    def _stamp_text(self) -> Column:
        """The timestamp as a stripped string, null when missing."""
        from pyspark.sql import functions as F

        column, kind = F.col("_timestamp"), self.kinds["timestamp"]
        if kind in _INTEGRAL:
            return column.cast("string")
        if kind in _FRACTIONAL:
            return column.cast("double").cast("string")
        if kind not in _TEXT:
            raise self._unsupported("timestamp", f"{kind} columns (it reads numeric timestamps)")
        stripped = F.regexp_replace(column, _STRIP, "")
        return F.when(stripped != "", stripped)

    def _weights(self) -> tuple[Column, Column]:
        """The weight (null when unparsable) and its stripped text (null when missing)."""
        from pyspark.sql import functions as F

        if "weight" not in self.src.columns:
            return F.lit(1.0), F.lit("1.0")
        column, kind = F.col("_weight"), self.kinds["weight"]
        if kind in _INTEGRAL or kind in _FRACTIONAL:
            return column.cast("double"), column.cast("string")
        if kind not in _TEXT:
            raise self._unsupported("weight", f"{kind} ratings")
        stripped = F.regexp_replace(column, _STRIP, "")
        text = F.when(stripped != "", stripped)
        return F.when(text.rlike(_FLOAT_TEXT), text.try_cast("double")), text

    def _weight_checks(self) -> list[_Check]:
        from pyspark.sql import functions as F

        if "weight" not in self.src.columns:
            return []
        values = F.col("weight")
        return [
            (F.col("_weight").isNull(), "weight", "missing rating"),
            (values.isNull() | F.isnan(values), "weight", "cannot parse {value} as a number"),
        ]

    # -- time -----------------------------------------------------------------------------
    def _seconds(self, frame: DataFrame, non_int: int) -> tuple[Column, list[_Check]]:
        """Seconds (as a double) and the time checks, as ``_parse_timestamps`` does: integers
        if every value is one, else decimals if the first value is a number."""
        from pyspark.sql import functions as F

        text = F.col("_t_text")
        if non_int:
            blk, pos, first = _first(frame, "_t_text")
            if first is None or not re.match(_FLOAT_TEXT, first):
                iso = first is not None and re.match(r"^\d{4}-\d{2}-\d{2}", first) is not None
                what = "a date" if iso else "not a number"
                raise DataError(
                    self.src.path,
                    f"cannot parse {first!r} as a time ({what}; the spark engine reads numeric "
                    "timestamps only: use --engine polars for dates and timestamp_format)",
                    row=self._line(frame, (blk, pos)),
                    field=self.src.columns["timestamp"],
                )
            numbers = F.when(text.rlike(_FLOAT_TEXT), text.try_cast("double"))
        else:
            numbers = text.cast("long")
        unit, read_as = self._unit(frame, numbers)
        divisor = _UNIT_DIVISOR[unit]
        if non_int:
            finite = ~F.isnan(numbers) & (F.abs(numbers) != math.inf)
            seconds = F.when(finite, F.floor(numbers / divisor).cast("double")).otherwise(numbers)
        else:  # floor division in integers: exact where a double would round
            whole = "CAST(`_t_text` AS BIGINT)"
            seconds = F.expr(f"({whole} - pmod({whole}, {divisor})) div {divisor}").cast("double")
        value = F.col("_seconds")
        how = f" ({read_as})"
        checks: list[_Check] = [
            (value.isNull(), "timestamp", "cannot parse {value} as a time"),
            (
                F.isnan(value) | (F.abs(value) == math.inf),
                "timestamp",
                "{value} is not a finite time",
            ),
            (
                value < _FIRST_SECOND,
                "timestamp",
                f"time {{value}} is before the year 1{how}: not a date; {_TIME_HINT}",
            ),
            (
                value > _LAST_SECOND,
                "timestamp",
                f"time {{value}} is after the year 9999{how}: not a date; {_TIME_HINT}",
            ),
        ]
        if not self.allow_any_time:
            hints = f"{_TIME_HINT} or {_ANY_TIME_HINT}"
            latest = time.time() + _FUTURE_SLACK_SECONDS
            checks += [
                (
                    value < 0,
                    "timestamp",
                    f"implausible time {{value}}: before 1970-01-01{how}; {hints}",
                ),
                (
                    value > latest,
                    "timestamp",
                    f"implausible time {{value}}: more than a day in the future{how}; {hints}",
                ),
            ]
        return seconds, checks

    def _unit(self, frame: DataFrame, numbers: Column) -> tuple[str, str]:
        """The unit of ``numbers`` and how it was chosen: forced, or the band of the median of
        the finite absolute values (:func:`~seqrec.data.loaders.detect_time_unit`), decided
        exactly from counts on either side of each band's limit (one aggregation)."""
        from pyspark.sql import functions as F

        if self.src.unit != "auto":
            return self.src.unit, f"read as {_UNIT_NAMES[self.src.unit]}"
        size = F.abs(numbers.cast("double"))
        finite = size.isNotNull() & ~F.isnan(size) & (size != math.inf)
        aggregates = [F.sum(F.when(finite, 1).otherwise(0))]
        for _, limit in _UNIT_LIMITS:
            under = finite & (size < limit)
            aggregates += [
                F.sum(F.when(under, 1).otherwise(0)),
                F.max(F.when(under, size)),
                F.min(F.when(finite & (size >= limit), size)),
            ]
        found = frame.agg(*aggregates).first()
        stats = list(found) if found is not None else [0]
        n = int(stats[0] or 0)
        unit = "ns"
        for index, (band, limit) in enumerate(_UNIT_LIMITS):
            below, low, high = stats[1 + 3 * index : 4 + 3 * index]
            if n == 0 or _median_below(n, int(below or 0), low, high, limit):
                unit = band
                break
        return unit, f"read as {_UNIT_NAMES[unit]}: median |timestamp| {_BANDS[unit]}"

    # -- failing --------------------------------------------------------------------------
    def _raise_first(self, frame: DataFrame, checks: list[_Check], *more: Column) -> list[Any]:
        """Raise for the first check (in list order) that some row fails, at its first row;
        else return the values of the aggregates ``more``, taken in the same pass."""
        from pyspark.sql import functions as F

        code = F.lit(None).cast("int")
        for index in reversed(range(len(checks))):
            code = F.when(checks[index][0], index).otherwise(code)
        shown = [F.col(c).cast("string").alias(c) for c in _SHOWN.values() if c in frame.columns]
        failure = F.struct(code.alias("code"), *_KEY, *shown)
        found = frame.agg(F.min(F.when(code.isNotNull(), failure)), *more).first()
        assert found is not None  # an aggregation without grouping returns one row
        if found[0] is not None:
            first = found[0].asDict()
            _, role, reason = checks[first["code"]]
            raise DataError(
                self.src.path,
                reason.replace("{value}", repr(str(first.get(_SHOWN[role])))),
                row=self._line(frame, (first["_blk"], first["_pos"])),
                field=self.src.columns[role],
            )
        return list(found[1:])

    def _line(self, frame: DataFrame, key: tuple[int, int]) -> int | None:
        """The 1-based line (CSV; the header is line 1) or row (Parquet) of the row at ``key``."""
        from pyspark.sql import functions as F

        blk, pos = key
        before = frame.filter(
            (F.col("_blk") < blk) | ((F.col("_blk") == blk) & (F.col("_pos") < pos))
        ).count()
        if self.src.format == "parquet":
            return before + 1
        return _csv_line(self.src.path, self.src.sep, before + 1)


def _first(frame: DataFrame, column: str) -> tuple[int, int, str | None]:
    """The file-row key and the value of ``column`` of the first row of ``frame``."""
    from pyspark.sql import functions as F

    found = frame.agg(F.min(F.struct(*_KEY, F.col(column).alias("v")))).first()
    assert found is not None and found[0] is not None  # the frame has rows (checked before)
    return int(found[0][0]), int(found[0][1]), found[0][2]


def _median_below(n: int, below: int, low: float | None, high: float | None, limit: float) -> bool:
    """Whether the median of ``n`` values (the mean of the middle two when ``n`` is even, as
    Polars takes it) is under ``limit``, given how many values are (``below``), the largest of
    those (``low``) and the smallest of the others (``high``)."""
    if n % 2:
        return below >= (n + 1) // 2
    half = n // 2
    if below != half:
        return below > half
    assert low is not None and high is not None  # both halves are non-empty here
    return (low + high) / 2 < limit


def _csv_line(path: Path, sep: str, record: int) -> int | None:
    """The line on which data record ``record`` (1-based, after the header) of a CSV starts,
    not counting the blank rows that both readers drop; ``None`` past the last record."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=sep, quotechar='"')
        seen = -1  # the header is record 0
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return None
            if any(fields):
                seen += 1
                if seen == record:
                    return start


def _raise_malformed(error: Exception, src: _Source) -> None:
    """Turn Spark's FAILFAST error for a malformed CSV line into a DataError at that line
    (found by scanning the file in Python, which only an error costs)."""
    text = str(error)
    if "MALFORMED" not in text or src.format != "csv":
        return
    expected = len(src.header)
    with open(src.path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=src.sep, quotechar='"')
        try:
            start = reader.line_num + 1
            for fields in reader:
                if len(fields) > expected:
                    reason = f"the line has {len(fields)} fields, expected {expected}"
                    raise DataError(src.path, reason, row=start) from None
                start = reader.line_num + 1
        except csv.Error as csv_error:
            reason = f"malformed line ({csv_error}; file cut short?)"
            raise DataError(src.path, reason, row=start) from None
    found = re.search(r"Malformed CSV record: (.*?)(?: SQLSTATE|\n|$)", text)
    shown = f" {found.group(1)!r}" if found else ""
    raise DataError(src.path, f"malformed line{shown} (unbalanced quotes?)") from None


# =============================================================================================
# Small column helpers
# =============================================================================================
def _quoted(name: str) -> Column:
    """A column by its name in the file, whatever characters the name holds."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _long(name: str, alias: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(name).cast("long").alias(alias)


def _alias(name: str, alias: str) -> Column:
    from pyspark.sql import functions as F

    return F.col(name).alias(alias)
