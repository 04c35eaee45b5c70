"""One entry point for every dataset: ``load_dataset``; plus ``dataset_info`` and ``export_dataset``.

``load_dataset`` accepts

* a known name: ``"ml-100k"`` (and ``"ml-1m"``, ``"ml-10m"``, ``"ml-20m"``, ``"ml-25m"``, which
  have no offline fallback), fetched into the cache when missing;
* ``"shop"`` or ``"shop:SIZE"``: the synthetic shop world of the running example;
* a path: a MovieLens folder, a RecBole ``.inter`` file or folder, an Amazon reviews JSON-lines
  file (its ``meta_*`` sibling is picked up), a folder with ``interactions.csv`` (and
  ``catalog.csv``, as :func:`export_dataset` writes them), or a CSV/TSV/Parquet table whose
  columns are recognised by name (``user_id``, ``movieId``, ``rating``, ``timestamp``, ...).

* a prepared folder (:mod:`seqrec.data.prepared`, written by :func:`prepare_dataset` /
  ``seqrec data prepare``): read as it is, already cleaned, no cache.

Loaded data is cleaned (:mod:`seqrec.data.cleaning`) and cached; a second load of unchanged
files with the same options reads the cache. The CSV MovieLens releases (ML-20M/25M/32M:
``ratings.csv`` + ``movies.csv``, 20 million ratings and more) are always read and cleaned on
Polars' streaming engine (:func:`~seqrec.data.loaders.movielens.scan_movielens`,
:func:`~seqrec.data.streaming.clean_lazy`), whatever their size: the result, errors included,
is the eager path's, and one path for every size means the small test files exercise the code
that runs at 20 million rows. (A ``ratings.csv`` with ISO date strings is the one exception: it
is read eagerly.) Other formats are read eagerly.

:func:`prepare_dataset` cleans a source once into a prepared folder, with the same defaults
and options as ``load_dataset``, on Polars (``engine="polars"``: load, streaming clean, write)
or Spark (``engine="spark"``: :mod:`seqrec.data.spark_prep`, an optional extra).

How files are read (:class:`ReadOptions`, the keyword arguments of ``load_dataset``):
``time_unit`` (``auto``: the format's own unit - seconds for MovieLens and Amazon 2014/2018,
milliseconds for Amazon 2023 - and, for tables and atomic files, the unit told by the median
absolute timestamp: below 1e11 seconds, below 1e14 ms, below 1e17 us, else ns; or ``s``,
``ms``, ``us``, ``ns`` to force one), ``allow_any_time`` (keep times before 1970-01-01 or more
than a day in the future, which are otherwise an error naming the row) and ``encoding`` (of
CSV/TSV tables and atomic files; UTF-8 by default, a byte-order mark dropped).

Default cleaning: MovieLens and Amazon get the 5-core filter that SASRec (Kang & McAuley 2018,
Sec. IV-A: "we discard users and items with fewer than 5 related actions") and BERT4Rec use,
and ``exclude_history=True`` (a film is rarely re-watched; a product rarely re-reviewed). Other
files get no filtering and ``exclude_history=False`` (re-buying is normal in a shop log), unless
``options`` says otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqrec.data.cleaning import CleanOptions, clean, load_cached
from seqrec.data.errors import DataError
from seqrec.data.fetch import SOURCES, default_cache_dir, fetch
from seqrec.data.loaders import (
    LoadResult,
    check_readable,
    detect_movielens,
    guess_columns,
    load_amazon,
    load_atomic,
    load_catalog_table,
    load_movielens,
    load_table,
)
from seqrec.data.loaders.common import (
    LazyLoadResult,
    LazyLog,
    _checked_encoding,
    _checked_time_unit,
    _is_utf8,
)
from seqrec.data.loaders.movielens import scan_movielens
from seqrec.data.prepared import is_prepared, read_prepared, write_prepared
from seqrec.data.streaming import clean_lazy
from seqrec.data.types import Dataset

Reporter = Callable[[str], None]

MOVIELENS_OPTIONS = CleanOptions(
    min_user_interactions=5, min_item_interactions=5, exclude_history=True
)
AMAZON_OPTIONS = CleanOptions(
    min_user_interactions=5, min_item_interactions=5, exclude_history=True
)
GENERIC_OPTIONS = CleanOptions()

_JSON_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
_TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")


@dataclass(frozen=True)
class ReadOptions:
    """How files are read (see the module docstring); part of the cache key."""

    time_unit: str = "auto"
    allow_any_time: bool = False
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        _checked_time_unit(self.time_unit)
        _checked_encoding(self.encoding)

    def times(self) -> dict[str, Any]:
        return {"time_unit": self.time_unit, "allow_any_time": self.allow_any_time}

    def tables(self) -> dict[str, Any]:
        return {**self.times(), "encoding": self.encoding}


def load_dataset(
    name_or_path: str | Path,
    cache_dir: str | Path | None = None,
    options: CleanOptions | None = None,
    report: Reporter | None = None,
    *,
    time_unit: str = "auto",
    allow_any_time: bool = False,
    encoding: str = "utf-8",
) -> Dataset:
    """Load, clean and cache a dataset by name or path (see the module docstring)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    read = ReadOptions(time_unit, allow_any_time, encoding)
    text = str(name_or_path)
    if isinstance(name_or_path, str) and (text == "shop" or text.startswith("shop:")):
        if options is not None:
            raise ValueError("cleaning options do not apply to the synthetic shop world")
        if read != ReadOptions():
            raise ValueError("time_unit, allow_any_time and encoding do not apply to the shop")
        return _shop(text.partition(":")[2] or "default", cache, report)
    path, name, default_options = _resolve(name_or_path, cache, report)
    if path.is_dir() and is_prepared(path):
        if options is not None or read != ReadOptions():
            raise ValueError(
                f"{path} is a prepared dataset, cleaned when it was prepared: cleaning and "
                "reading options do not apply to it"
            )
        return read_prepared(path)
    return _load_path(path, cache, options, read, report, name, default_options)


def _resolve(
    name_or_path: str | Path, cache: Path, report: Reporter | None
) -> tuple[Path, str, CleanOptions | None]:
    """(the path to read, the dataset's name, default options that override the format's)."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in SOURCES:
        return fetch(text, cache, report), text, MOVIELENS_OPTIONS  # reuses an existing copy
    path = Path(name_or_path).expanduser()
    if not path.exists() and not path.is_symlink():
        known = ", ".join([*SOURCES, "shop", "shop:SIZE"])
        raise DataError(
            path,
            f"no such file or directory, and not a known dataset name ({known}); "
            f"looked for {path}",
        )
    check_readable(path, expect="any")  # a symbolic link loop, a broken link, no permission
    return path, path.name.split(".")[0], None


def _shop(size: str, cache: Path, report: Reporter | None) -> Dataset:
    from seqrec.data.shop_parts import shop_of_size  # written alongside; imported when asked for

    return shop_of_size(size, cache_dir=cache, report=report)


def _load_path(
    path: Path,
    cache: Path,
    options: CleanOptions | None,
    read: ReadOptions,
    report: Reporter | None,
    name: str,
    default_options: CleanOptions | None = None,
) -> Dataset:
    kind, loader, inputs = _detect(path, read)
    chosen = _options(kind, options, default_options, read)
    return load_cached(
        [kind, name, *inputs, chosen, read], lambda: _build(loader, chosen, name), cache, report
    )


def _options(
    kind: str, options: CleanOptions | None, default_options: CleanOptions | None, read: ReadOptions
) -> CleanOptions:
    if kind in _OWN_ENCODINGS and not _is_utf8(read.encoding):
        raise ValueError(f"encoding applies to tables and atomic files; {_OWN_ENCODINGS[kind]}")
    return options or default_options or _DEFAULT_OPTIONS[kind]


def _build(loader: Loader, options: CleanOptions, name: str) -> Dataset:
    """Load and clean: on the streaming engine when the loader gives a lazy log."""
    log, catalog = loader()
    if isinstance(log, LazyLog):
        return clean_lazy(log, catalog, options, name=name)
    return clean(log, catalog, options, name=name)


ENGINES = ("polars", "spark")
"""What ``prepare_dataset`` cleans on: Polars' streaming engine, or Spark (an optional extra)."""


def prepare_dataset(
    name_or_path: str | Path,
    out: str | Path,
    *,
    engine: str = "polars",
    options: CleanOptions | None = None,
    overrides: Mapping[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    report: Reporter | None = None,
    time_unit: str = "auto",
    allow_any_time: bool = False,
    encoding: str = "utf-8",
) -> Path:
    """Clean a source once into a prepared folder at ``out`` (:mod:`seqrec.data.prepared`).

    The source and the defaults are ``load_dataset``'s (a name is fetched first); ``options``
    replaces the defaults and ``overrides`` changes single fields of whichever applies (e.g.
    ``{"min_rating": 4.0}``). ``load_dataset(out)`` then reads the result without cleaning.
    ``engine="polars"`` loads, cleans on the streaming engine and writes ``out`` atomically;
    ``engine="spark"`` hands the MovieLens CSV folder or the table file to
    :func:`seqrec.data.spark_prep.prepare_spark`, which writes the same layout.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    text = str(name_or_path)
    if isinstance(name_or_path, str) and (text == "shop" or text.startswith("shop:")):
        raise ValueError("the synthetic shop world is generated in memory; it cannot be prepared")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    read = ReadOptions(time_unit, allow_any_time, encoding)
    path, name, default_options = _resolve(name_or_path, cache, report)
    if path.is_dir() and is_prepared(path):
        raise DataError(path, "is a prepared dataset already")
    kind, loader, _ = _detect(path, read)
    chosen = _options(kind, options, default_options, read)
    if overrides:
        chosen = dataclasses.replace(chosen, **overrides)
    if engine == "spark":
        return _prepare_on_spark(path, Path(out), chosen, kind, name, read, report)
    dataset = _build(loader, chosen, name)
    return write_prepared(dataset, out, engine="polars", options=chosen, source=str(path))


def _prepare_on_spark(
    path: Path,
    out: Path,
    options: CleanOptions,
    kind: str,
    name: str,
    read: ReadOptions,
    report: Reporter | None,
) -> Path:
    if not _is_utf8(read.encoding):
        raise ValueError("the spark engine reads UTF-8 files only; prepare others with polars")
    from seqrec.data.spark_prep import SparkUnavailableError, prepare_spark  # the optional extra

    try:
        return prepare_spark(path, out, options, kind, report=report, name=name, **read.times())
    except SparkUnavailableError as error:  # no PySpark, or no Java: a setup problem, exit 2
        raise ValueError(str(error)) from None  # its hint names the extra to install


_OWN_ENCODINGS = {
    "movielens": "MovieLens files are read in the encoding of their release (UTF-8 or Latin-1)",
    "amazon": "Amazon review dumps are UTF-8",
}
Loader = Callable[[], LoadResult | LazyLoadResult]
"""Reads a source: an in-memory log, or a lazy one for the streaming engine, and its catalog."""

_DEFAULT_OPTIONS = {
    "movielens": MOVIELENS_OPTIONS,
    "amazon": AMAZON_OPTIONS,
    "atomic": GENERIC_OPTIONS,
    "table": GENERIC_OPTIONS,
}


def _detect(path: Path, read: ReadOptions) -> tuple[str, Loader, list[Path]]:
    """(kind, a loader to call, the input paths that key the cache) for a file or folder."""
    if path.is_dir():
        return _detect_folder(path, read)
    lowered = path.name.lower()
    if lowered.endswith(".inter"):
        inputs = [path, path.with_suffix(".item")]
        return "atomic", lambda: load_atomic(path, **read.tables()), inputs
    if lowered.endswith(_JSON_SUFFIXES):
        meta = _amazon_meta_for(path)
        inputs = [path] if meta is None else [path, meta]
        return "amazon", lambda: load_amazon(path, meta, **read.times()), inputs
    if lowered.endswith(_TABLE_SUFFIXES):
        return "table", lambda: _load_guessed(path, read), [path]
    raise DataError(
        path,
        "unknown format; expected a MovieLens folder, a .inter file, Amazon JSON lines "
        "(.json/.jsonl, optionally .gz) or a .csv/.tsv/.parquet table",
    )


def _detect_folder(folder: Path, read: ReadOptions) -> tuple[str, Loader, list[Path]]:
    if detect_movielens(folder) is not None:
        return "movielens", lambda: _load_movielens(folder, read), [folder]
    if len(list(folder.glob("*.inter"))) == 1:
        return "atomic", lambda: load_atomic(folder, **read.tables()), [folder]
    interactions = folder / "interactions.csv"
    if interactions.is_file():
        inputs = [interactions, folder / "catalog.csv"]
        return "table", lambda: _load_exported(folder, read), inputs
    raise DataError(
        folder,
        "no dataset files found (expected MovieLens files, one .inter file, or interactions.csv)",
    )


def _load_movielens(folder: Path, read: ReadOptions) -> LoadResult | LazyLoadResult:
    """The CSV releases as a lazy log (module docstring); the others, and ISO dates, eagerly."""
    return scan_movielens(folder, **read.times()) or load_movielens(folder, **read.times())


def _load_guessed(path: Path, read: ReadOptions) -> LoadResult:
    """A table whose columns are recognised by name (:func:`guess_columns`)."""
    columns = guess_columns(path, encoding=read.encoding)
    return load_table(path, columns, **read.tables())


def _load_exported(folder: Path, read: ReadOptions) -> LoadResult:
    """A folder as :func:`export_dataset` writes it: interactions.csv and maybe catalog.csv."""
    log, _ = _load_guessed(folder / "interactions.csv", read)
    catalog_file = folder / "catalog.csv"
    return log, (load_catalog_table(catalog_file) if catalog_file.exists() else None)


def _amazon_meta_for(reviews: Path) -> Path | None:
    """``meta_<Category>.json(l)(.gz)`` beside ``reviews_<Category>_5.json.gz`` / ``<Category>.jsonl``."""
    stem = reviews.name
    for suffix in _JSON_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.removeprefix("reviews_").removesuffix("_5")
    for suffix in _JSON_SUFFIXES:
        candidate = reviews.with_name(f"meta_{stem}{suffix}")
        if candidate.is_file():
            return candidate
    return None


# =============================================================================================
# Info and export
# =============================================================================================
def dataset_info(ds: Dataset) -> dict[str, Any]:
    """Summary numbers: sizes, density, sequence-length percentiles and the time span (UTC)."""
    seqs = ds.sequences
    lengths = seqs.lengths.astype(np.float64)
    info: dict[str, Any] = {
        "name": ds.name,
        "users": ds.n_users,
        "items": ds.n_items,
        "interactions": seqs.n_interactions,
        "density": seqs.n_interactions / (ds.n_users * ds.n_items)
        if ds.n_users and ds.n_items
        else 0.0,
        "exclude_history": ds.exclude_history,
    }
    if len(lengths):
        info["length_min"] = int(lengths.min())
        for p in (5, 25, 50, 75, 95):
            info[f"length_p{p}"] = float(np.percentile(lengths, p))
        info["length_max"] = int(lengths.max())
        info["length_mean"] = float(lengths.mean())
    if seqs.n_interactions:
        first, last = int(seqs.timestamps.min()), int(seqs.timestamps.max())
        info["first"] = datetime.fromtimestamp(first, tz=UTC).date().isoformat()
        info["last"] = datetime.fromtimestamp(last, tz=UTC).date().isoformat()
        info["span_days"] = round((last - first) / 86_400, 2)
    return info


def export_dataset(ds: Dataset, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``interactions.csv`` (user,item,timestamp; original ids; time order) and
    ``catalog.csv`` (item,title,category) into ``out_dir``, each atomically.

    Interactions at the same second keep the dataset's order: user by dense id, then each
    user's own (time, original row) order. ``load_dataset(out_dir)`` reads the pair back.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seqs = ds.sequences
    order = np.argsort(seqs.timestamps, kind="stable")  # [N], user-major ties kept
    owners = np.repeat(np.arange(len(seqs)), seqs.lengths)  # [N] row of each interaction
    interactions = pl.DataFrame(
        {
            "user": ds.user_labels[owners[order]].tolist(),
            "item": ds.item_labels[seqs.items[order]].tolist(),
            "timestamp": seqs.timestamps[order],
        },
        schema={"user": pl.String, "item": pl.String, "timestamp": pl.Int64},
    )
    catalog = pl.DataFrame(
        {
            "item": ds.item_labels[1:].tolist(),
            "title": ds.titles[1:].tolist(),
            "category": ds.categories[1:].tolist(),
        },
        schema={"item": pl.String, "title": pl.String, "category": pl.String},
    )
    interactions_file = _write_csv_atomically(interactions, out / "interactions.csv")
    return interactions_file, _write_csv_atomically(catalog, out / "catalog.csv")


def _write_csv_atomically(frame: pl.DataFrame, path: Path) -> Path:
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        frame.write_csv(staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path
