"""Generic tables: CSV / TSV / delimited ``.txt`` / Parquet with a header row."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from seqrec.data.errors import DataError
from seqrec.data.loaders.common import (
    _LINE,
    LoadResult,
    _build_log,
    _catalog,
    _check_not_empty,
    _checked_encoding,
    _first_line,
    _parse_ids,
    _parse_timestamps,
    _RawTable,
    _read_delimited,
    _read_header,
    _require,
    _require_flat,
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
    timestamp_unit: str | None = None,
    *,
    time_unit: str = "auto",
    allow_any_time: bool = False,
    encoding: str = "utf-8",
    text_columns: Sequence[str] = (),
) -> LoadResult:
    """Load a CSV / TSV / ``.txt`` (with ``sep``) / Parquet table with a header row.

    ``columns`` maps our roles to the file's column names: ``user``, ``item`` and
    ``timestamp`` are required, ``weight`` is optional (1.0 when absent), and ``title`` /
    ``category`` (optional) make a catalog from the same rows (first row per item wins).
    ``text_columns`` names the columns whose values, joined, are each item's free text
    (joined by ". "); they make a catalog too.

    Timestamps: numbers or date/time strings (ISO 8601 unless ``timestamp_format``, a
    ``strftime`` pattern, says otherwise). Numbers are in ``time_unit``: ``s``, ``ms``, ``us``,
    ``ns``, or ``auto`` (the default), which picks the unit by the median absolute value (below
    1e11 seconds, below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds).
    ``timestamp_unit`` is the former name of ``time_unit``. A time before 1970-01-01 or more
    than a day in the future is an error naming its row unless ``allow_any_time``; a
    non-finite one always is.

    Text is read as ``encoding`` (a UTF-8 byte-order mark is dropped); a byte that is not
    valid in it is an error naming its line.
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
    if timestamp_unit is not None:
        if time_unit not in ("auto", timestamp_unit):
            raise ValueError("pass time_unit or its former name timestamp_unit, not both")
        time_unit = timestamp_unit
    raw = _read_table(path, sep, encoding)
    log = _build_log(
        raw,
        columns["user"],
        columns["item"],
        columns["timestamp"],
        columns.get("weight"),
        time_format=timestamp_format,
        unit=time_unit,
        allow_any_time=allow_any_time,
    )
    return log, _table_catalog(raw, log, columns, text_columns)


def _read_table(path: Path, sep: str | None, encoding: str = "utf-8") -> _RawTable:
    suffix = _check_table_format(path, sep)
    if suffix == ".parquet":
        return _read_parquet(path)
    return _read_delimited(
        path, sep or _TABLE_SEPARATORS[suffix], has_header=True, encoding=encoding
    )


def _check_table_format(path: Path, sep: str | None) -> str:
    """The lower-cased suffix of a table ``path``; a DataError for one we cannot read."""
    suffix = path.suffix.lower()
    if suffix == ".txt" and sep is None:
        raise DataError(path, "a .txt table needs sep (the field separator)")
    if suffix not in _TABLE_SEPARATORS and suffix not in (".txt", ".parquet"):
        raise DataError(
            path,
            f"unknown table format {suffix or '(no extension)'!r}; "
            "expected .csv, .tsv, .txt (with sep) or .parquet",
        )
    return suffix


def _table_catalog(
    raw: _RawTable, log: InteractionLog, columns: Mapping[str, str], text_columns: Sequence[str] = ()
) -> Catalog | None:
    if "title" not in columns and "category" not in columns and not text_columns:
        return None
    _require(raw, [columns[r] for r in CATALOG_ROLES if r in columns])
    _require_flat(raw, [columns[r] for r in CATALOG_ROLES if r in columns])
    n = raw.frame.height

    def text_column(role: str) -> list[str | None]:
        if role not in columns:
            return [None] * n
        return raw.frame[columns[role]].cast(pl.String).to_list()

    texts = _joined_texts(raw, text_columns) if text_columns else None
    return _catalog(log.frame["item"].to_list(), text_column("title"), text_column("category"), texts)


def _joined_texts(raw: _RawTable, text_columns: Sequence[str]) -> list[str]:
    """Per row, the non-empty values of ``text_columns`` joined by ``". "`` (a missing column is a
    DataError naming it; nested Parquet columns are refused)."""
    if isinstance(text_columns, str):
        raise TypeError(f"text_columns must be a list of column names, not the string {text_columns!r}")
    _require(raw, list(text_columns))
    _require_flat(raw, list(text_columns))
    values = zip(*(raw.frame[c].cast(pl.String).to_list() for c in text_columns))
    return [". ".join(v.strip().rstrip(".") for v in row if v and v.strip()) for row in values]


def load_catalog_table(
    path: str | Path, sep: str | None = None, *, text_columns: Sequence[str] | None = None
) -> Catalog:
    """A catalog from a table with ``item``, ``title`` and ``category`` columns (``text``
    optional), such as the ``catalog.csv`` that ``export_dataset`` writes.

    ``text_columns``: the columns whose values, joined, are each item's free text (e.g.
    ``["description", "brand"]``), instead of the ``text`` column."""
    path = Path(path)
    raw = _read_table(path, sep)
    _require(raw, ["item", "title", "category"])
    items = _parse_ids(raw, "item", "item id").to_list()
    frame = raw.frame.with_columns(pl.col(c).cast(pl.String) for c in raw.frame.columns)

    def column(name: str) -> list[str | None]:
        return frame[name].to_list() if name in frame.columns else [None] * len(items)

    texts = column("text") if text_columns is None else _joined_texts(raw, text_columns)
    return _catalog(items, column("title"), column("category"), texts)


def guess_columns(
    path: str | Path, sep: str | None = None, encoding: str = "utf-8"
) -> dict[str, str]:
    """Map roles to a table's column names by common spellings (``userId``, ``rating``, ...).

    Raises DataError naming the columns found when no user, item or time column is recognised
    (and the separator the header seems to use, when it is not the expected one).
    """
    path = Path(path)
    header = _table_header(path, sep, encoding)
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
                path,
                f"cannot tell which column holds the {role} (columns: {', '.join(header)})"
                + _separator_hint(path, header),
            )
    return found


def _separator_hint(path: Path, header: list[str]) -> str:
    if len(header) != 1:
        return ""
    for other, name in ((";", "semicolon"), ("\t", "tab"), (",", "comma"), ("|", "pipe")):
        if other in header[0]:
            return (
                f"; the header looks {name}-separated, but {path.suffix or 'this'} files are "
                f"read with {_SEPARATOR_NAMES.get(path.suffix.lower(), 'another separator')}"
            )
    return ""


_SEPARATOR_NAMES = {".csv": "commas", ".tsv": "tabs"}


def _table_header(path: Path, sep: str | None, encoding: str = "utf-8") -> list[str]:
    _check_not_empty(path)
    suffix = _check_table_format(path, sep)
    if suffix == ".parquet":
        try:
            return list(pl.read_parquet_schema(path))
        except (pl.exceptions.PolarsError, OSError) as error:
            raise DataError(path, f"not a readable Parquet file: {_first_line(error)}") from None
    first = _read_header(path, _checked_encoding(encoding))
    return next(csv.reader([first], delimiter=sep or _TABLE_SEPARATORS[suffix]), [])


def load_timed_values(
    path: str | Path,
    value_field: str,
    time_field: str = "timestamp",
    *,
    time_unit: str = "auto",
    allow_any_time: bool = False,
    encoding: str = "utf-8",
) -> list[tuple[int, int, str]]:
    """``(line, seconds, value)`` for each row of a comma-separated file with a header that has
    ``time_field`` and ``value_field`` columns (e.g. a shopper's history); ``[]`` when it has
    a header but no rows. Times and text follow :func:`load_table`'s rules; a missing or
    empty value is an error naming its row.
    """
    path = Path(path)
    raw = _read_delimited(path, ",", has_header=True, encoding=encoding, allow_no_rows=True)
    present = [c for c in raw.frame.columns if c != _LINE]
    missing = [f for f in (time_field, value_field) if f not in present]
    if missing:
        raise DataError(
            path,
            f"missing column(s) {', '.join(map(repr, missing))}: the file needs "
            f"{time_field!r} and {value_field!r} (columns: {', '.join(present)})",
            field=missing[0],
        )
    if raw.frame.height == 0:
        return []
    seconds = _parse_timestamps(raw, time_field, None, time_unit, allow_any_time)
    values = _parse_ids(raw, value_field, value_field)
    return list(zip(raw.frame[_LINE].to_list(), seconds.to_list(), values.to_list()))
