"""Generic tables: CSV / TSV / delimited ``.txt`` / Parquet with a header row."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import polars as pl

from seqrec.data.errors import DataError
from seqrec.data.loaders.common import (
    _LINE,
    LoadResult,
    _build_log,
    _catalog,
    _check_not_empty,
    _first_line,
    _open_text,
    _parse_ids,
    _RawTable,
    _read_delimited,
    _require,
)
from seqrec.data.types import Catalog, InteractionLog

LOG_ROLES = ("user", "item", "timestamp", "weight")
"""Column roles :func:`load_table` understands for the log ..."""
CATALOG_ROLES = ("title", "category")
"""... and for an optional catalog taken from the same table."""


def _read_parquet(path: Path) -> _RawTable:
    _check_not_empty(path)
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise DataError(path, f"not a readable Parquet file: {_first_line(error)}") from None
    if frame.height == 0:
        raise DataError(path, "the table has no rows")
    frame = frame.with_row_index(_LINE, offset=1).with_columns(pl.col(_LINE).cast(pl.Int64))
    return _RawTable(path, frame)


_TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t"}

# Column names recognised by :func:`guess_columns`, most specific first.
_COLUMN_GUESSES: dict[str, tuple[str, ...]] = {
    "user": (
        "user",
        "user_id",
        "userid",
        "userId",
        "uid",
        "reviewerID",
        "visitorid",
        "session_id",
        "session",
    ),
    "item": (
        "item",
        "item_id",
        "itemid",
        "itemId",
        "movieId",
        "movie_id",
        "asin",
        "parent_asin",
        "product_id",
        "iid",
    ),
    "timestamp": ("timestamp", "time", "ts", "datetime", "date", "event_time", "unixReviewTime"),
    "weight": ("weight", "rating", "score", "overall", "count", "value"),
    "title": ("title", "name"),
    "category": ("category", "categories", "genre", "genres", "main_category"),
}


def load_table(
    path: str | Path,
    columns: Mapping[str, str],
    sep: str | None = None,
    timestamp_format: str | None = None,
    timestamp_unit: str = "s",
) -> LoadResult:
    """Load a CSV / TSV / ``.txt`` (with ``sep``) / Parquet table with a header row.

    ``columns`` maps our roles to the file's column names: ``user``, ``item`` and
    ``timestamp`` are required, ``weight`` is optional (1.0 when absent), and ``title`` /
    ``category`` (optional) make a catalog from the same rows (first row per item wins).
    Timestamps: integers / floats in ``timestamp_unit`` or date/time strings (ISO 8601 unless
    ``timestamp_format``, a ``strftime`` pattern, says otherwise).
    """
    path = Path(path)
    unknown = sorted(set(columns) - set(LOG_ROLES) - set(CATALOG_ROLES))
    if unknown:
        raise ValueError(
            f"unknown column role(s) {unknown}; use {', '.join(LOG_ROLES + CATALOG_ROLES)}"
        )
    for role in ("user", "item", "timestamp"):
        if role not in columns:
            raise ValueError(f"columns must name the file's {role!r} column")
    raw = _read_table(path, sep)
    log = _build_log(
        raw,
        columns["user"],
        columns["item"],
        columns["timestamp"],
        columns.get("weight"),
        time_format=timestamp_format,
        unit=timestamp_unit,
    )
    return log, _table_catalog(raw, log, columns)


def _read_table(path: Path, sep: str | None) -> _RawTable:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    if suffix == ".txt" and sep is None:
        raise DataError(path, "a .txt table needs sep (the field separator)")
    if suffix not in _TABLE_SEPARATORS and suffix != ".txt":
        raise DataError(
            path,
            f"unknown table format {suffix or '(no extension)'!r}; "
            "expected .csv, .tsv, .txt (with sep) or .parquet",
        )
    return _read_delimited(path, sep or _TABLE_SEPARATORS[suffix], has_header=True)


def _table_catalog(
    raw: _RawTable, log: InteractionLog, columns: Mapping[str, str]
) -> Catalog | None:
    if "title" not in columns and "category" not in columns:
        return None
    _require(raw, [columns[r] for r in CATALOG_ROLES if r in columns])
    n = raw.frame.height

    def text_column(role: str) -> list[str | None]:
        if role not in columns:
            return [None] * n
        return raw.frame[columns[role]].cast(pl.String).to_list()

    return _catalog(log.frame["item"].to_list(), text_column("title"), text_column("category"))


def load_catalog_table(path: str | Path, sep: str | None = None) -> Catalog:
    """A catalog from a table with ``item``, ``title`` and ``category`` columns (``text``
    optional), such as the ``catalog.csv`` that ``export_dataset`` writes."""
    path = Path(path)
    raw = _read_table(path, sep)
    _require(raw, ["item", "title", "category"])
    items = _parse_ids(raw, "item", "item id").to_list()
    frame = raw.frame.with_columns(pl.col(c).cast(pl.String) for c in raw.frame.columns)

    def column(name: str) -> list[str | None]:
        return frame[name].to_list() if name in frame.columns else [None] * len(items)

    return _catalog(items, column("title"), column("category"), column("text"))


def guess_columns(path: str | Path, sep: str | None = None) -> dict[str, str]:
    """Map roles to a table's column names by common spellings (``userId``, ``rating``, ...).

    Raises DataError naming the columns found when no user, item or time column is recognised.
    """
    path = Path(path)
    header = _table_header(path, sep)
    lowered = {name.lower(): name for name in header}
    found: dict[str, str] = {}
    for role, spellings in _COLUMN_GUESSES.items():
        for spelling in spellings:
            if spelling.lower() in lowered:
                found[role] = lowered[spelling.lower()]
                break
    for role in ("user", "item", "timestamp"):
        if role not in found:
            raise DataError(
                path, f"cannot tell which column holds the {role} (columns: {', '.join(header)})"
            )
    return found


def _table_header(path: Path, sep: str | None) -> list[str]:
    _check_not_empty(path)
    if path.suffix.lower() == ".parquet":
        try:
            return list(pl.read_parquet_schema(path))
        except (pl.exceptions.PolarsError, OSError) as error:
            raise DataError(path, f"not a readable Parquet file: {_first_line(error)}") from None
    if path.suffix.lower() == ".txt" and sep is None:
        raise DataError(path, "a .txt table needs sep (the field separator)")
    if path.suffix.lower() not in _TABLE_SEPARATORS and path.suffix.lower() != ".txt":
        raise DataError(path, f"unknown table format {path.suffix or '(no extension)'!r}")
    with _open_text(path, "utf-8") as handle:
        first = handle.readline().rstrip("\r\n")
    return next(csv.reader([first], delimiter=sep or _TABLE_SEPARATORS[path.suffix.lower()]))
