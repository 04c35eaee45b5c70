"""One entry point for every dataset: ``load_dataset``; plus ``dataset_info`` and ``export_dataset``.

``load_dataset`` accepts

* a known name: ``"ml-100k"`` (and ``"ml-1m"``, ``"ml-10m"``, ``"ml-20m"``, ``"ml-25m"``, which
  have no offline fallback), fetched into the cache when missing;
* ``"shop"`` or ``"shop:SIZE"``: the synthetic shop world of the running example;
* a path: a MovieLens folder, a RecBole ``.inter`` file or folder, an Amazon reviews JSON-lines
  file (its ``meta_*`` sibling is picked up), a folder with ``interactions.csv`` (and
  ``catalog.csv``, as :func:`export_dataset` writes them), or a CSV/TSV/Parquet table whose
  columns are recognised by name (``user_id``, ``movieId``, ``rating``, ``timestamp``, ...).

Loaded data is cleaned (:mod:`seqrec.data.cleaning`) and cached; a second load of unchanged
files with the same options reads the cache.

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

import os
import uuid
from collections.abc import Callable
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
from seqrec.data.loaders.common import _checked_encoding, _checked_time_unit, _is_utf8
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
        return _shop(text.partition(":")[2] or "default")
    if isinstance(name_or_path, str) and text in SOURCES:
        folder = fetch(text, cache, report)  # reuses an existing copy
        return _load_path(
            folder, cache, options, read, report, name=text, default_options=MOVIELENS_OPTIONS
        )
    path = Path(name_or_path).expanduser()
    if not path.exists() and not path.is_symlink():
        known = ", ".join([*SOURCES, "shop", "shop:SIZE"])
        raise DataError(
            path,
            f"no such file or directory, and not a known dataset name ({known}); "
            f"looked for {path}",
        )
    check_readable(path, expect="any")  # a symbolic link loop, a broken link, no permission
    return _load_path(path, cache, options, read, report, name=path.name.split(".")[0])


def _shop(size: str) -> Dataset:
    from seqrec.data.shop import make_shop_dataset  # written alongside; imported when asked for

    return make_shop_dataset(size=size)


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
    chosen = options or default_options or _DEFAULT_OPTIONS[kind]
    if kind in _OWN_ENCODINGS and not _is_utf8(read.encoding):
        raise ValueError(f"encoding applies to tables and atomic files; {_OWN_ENCODINGS[kind]}")

    def build() -> Dataset:
        log, catalog = loader()
        return clean(log, catalog, chosen, name=name)

    return load_cached([kind, name, *inputs, chosen, read], build, cache, report)


_OWN_ENCODINGS = {
    "movielens": "MovieLens files are read in the encoding of their release (UTF-8 or Latin-1)",
    "amazon": "Amazon review dumps are UTF-8",
}
_DEFAULT_OPTIONS = {
    "movielens": MOVIELENS_OPTIONS,
    "amazon": AMAZON_OPTIONS,
    "atomic": GENERIC_OPTIONS,
    "table": GENERIC_OPTIONS,
}


def _detect(
    path: Path, read: ReadOptions
) -> tuple[str, Callable[[], LoadResult], list[Path]]:
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


def _detect_folder(
    folder: Path, read: ReadOptions
) -> tuple[str, Callable[[], LoadResult], list[Path]]:
    if detect_movielens(folder) is not None:
        return "movielens", lambda: load_movielens(folder, **read.times()), [folder]
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
