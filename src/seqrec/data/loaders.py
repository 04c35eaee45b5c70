"""Loaders: raw files in, an :class:`InteractionLog` (and maybe a :class:`Catalog`) out.

Every loader returns ``(log, catalog)`` where ``log.frame`` has the columns ``user`` (str),
``item`` (str), ``timestamp`` (int64 seconds since the epoch, UTC), ``weight`` (float64; the
rating, 1.0 when the source has none) and ``row`` (int64, the record's position in the file,
which breaks timestamp ties stably later on). ``catalog`` is ``None`` when the source has no
item metadata.

Sources:

* :func:`load_table` - any CSV / TSV / delimited ``.txt`` / Parquet table, given which columns
  hold the user, item and time.
* :func:`load_movielens` - the GroupLens MovieLens releases: ML-100K (``u.data``/``u.item``),
  ML-1M and ML-10M (``ratings.dat``/``movies.dat``, ``::``-separated) and ML-20M/25M/32M
  (``ratings.csv``/``movies.csv``), told apart by the files present.
* :func:`load_atomic` - RecBole "atomic files" (``.inter`` + optional ``.item``).
* :func:`load_amazon` - Amazon review dumps in JSON lines (2014, 2018 and 2023 releases,
  optionally gzipped) plus an optional metadata file.

Bad input raises :class:`~seqrec.data.errors.DataError` naming the file, the line and the field.
Parsing is done by Polars where files can be large (ratings); the small metadata files of
MovieLens and the JSON-lines dumps are read line by line so each record keeps its line number.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import polars as pl

from seqrec.data.errors import DataError
from seqrec.data.types import Catalog, InteractionLog

LoadResult = tuple[InteractionLog, Catalog | None]

LOG_ROLES = ("user", "item", "timestamp", "weight")
"""Column roles :func:`load_table` understands for the log ..."""
CATALOG_ROLES = ("title", "category")
"""... and for an optional catalog taken from the same table."""

_LINE = "_line"  # the 1-based line number of each record, carried through parsing
_UNIT_DIVISOR = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

# The 19 genre flags of ML-100K's u.item, in file order (from the ML-100K README / u.genre).
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


# =============================================================================================
# Raw tables: a file's columns as read, plus the line number of every record
# =============================================================================================
@dataclass(frozen=True)
class _RawTable:
    """A file's records before parsing: its own column names plus ``_line``.

    ``sep`` / ``n_fields`` describe delimited text so that a missing value can be explained
    ("the line has 3 of 4 fields") by re-reading just that line.
    """

    path: Path
    frame: pl.DataFrame
    sep: str | None = None
    n_fields: int | None = None
    encoding: str = "utf-8"

    def line(self, index: int) -> int:
        return int(self.frame[_LINE][index])

    def fail(self, index: int, field: str, reason: str) -> NoReturn:
        raise DataError(self.path, reason, row=self.line(index), field=field)

    def fail_missing(self, index: int, field: str, what: str) -> NoReturn:
        self.fail(index, field, self._explain_missing(index) or f"missing {what}")

    def _explain_missing(self, index: int) -> str | None:
        """Say "the line is cut short" when a missing value is really a missing field."""
        if self.sep is None or self.n_fields is None:
            return None
        text = _read_line(self.path, self.line(index), self.encoding)
        if text is None:
            return None
        found = _count_fields(text, self.sep)
        if found < self.n_fields:
            return f"the line has {found} of {self.n_fields} fields (file cut short?)"
        return None


def _read_line(path: Path, line_number: int, encoding: str) -> str | None:
    with _open_text(path, encoding) as handle:
        for number, text in enumerate(handle, start=1):
            if number == line_number:
                return text.rstrip("\r\n")
    return None


def _count_fields(text: str, sep: str) -> int:
    if len(sep) == 1:
        return len(next(csv.reader([text], delimiter=sep), []))
    return len(text.split(sep))


def _open_text(path: Path, encoding: str) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding=encoding, errors="replace")
    return open(path, encoding=encoding, errors="replace", newline="")


def _check_not_empty(path: Path) -> None:
    if not path.exists():
        raise DataError(path, "no such file")
    if path.is_dir():
        raise DataError(path, "is a directory, expected a file")
    if path.stat().st_size == 0:
        raise DataError(path, "the file is empty")


def _read_delimited(
    path: Path,
    sep: str,
    *,
    has_header: bool,
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    quote: str | None = '"',
) -> _RawTable:
    """Read delimited text as all-string columns with line numbers; blank lines are dropped.

    ``sep`` may be ``"::"`` (MovieLens 1M/10M): the file is read with ``:`` and the empty
    columns between each pair of colons are dropped, which is exact as long as the values
    themselves hold no colon (true of ``ratings.dat``; ``movies.dat`` is read by
    :func:`_read_small_delimited`).
    """
    _check_not_empty(path)
    single_sep = sep[0]
    polars_names: list[str] | None = None
    if names is not None:
        polars_names = list(names)
        if sep == "::":  # a:b:c -> a, "", b, "", c
            polars_names = [part for name in names for part in (name, f"_gap_{name}")][:-1]
    source: Path | io.BytesIO = path
    if encoding.replace("-", "").lower() not in ("utf8", "ascii"):
        source = io.BytesIO(path.read_bytes().decode(encoding).encode("utf-8"))
    try:
        frame = pl.read_csv(
            source,
            separator=single_sep,
            has_header=has_header,
            new_columns=polars_names,
            infer_schema=False,
            quote_char=quote,
            encoding="utf8",
        )
    except pl.exceptions.NoDataError:
        raise DataError(path, "the file is empty") from None
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as error:
        _locate_unreadable_line(path, sep, has_header, names, encoding, quote)
        raise DataError(path, f"cannot read as delimited text: {_first_line(error)}") from None
    frame = frame.select([c for c in frame.columns if not c.startswith("_gap_")])
    first_data_line = 2 if has_header else 1
    frame = frame.with_row_index(_LINE, offset=first_data_line).with_columns(
        pl.col(_LINE).cast(pl.Int64)
    )
    data_columns = [c for c in frame.columns if c != _LINE]
    frame = frame.filter(~pl.all_horizontal(pl.col(data_columns).is_null()))  # blank lines
    if frame.height == 0:
        raise DataError(path, "the file has no data rows")
    return _RawTable(path, frame, sep=sep, n_fields=len(data_columns), encoding=encoding)


def _locate_unreadable_line(
    path: Path,
    sep: str,
    has_header: bool,
    names: Sequence[str] | None,
    encoding: str,
    quote: str | None,
) -> None:
    """After Polars refused a file, find the first bad line with the csv module and raise there."""
    expected = len(names) if names is not None else None
    with _open_text(path, encoding) as handle:
        if len(sep) > 1:
            rows: Iterator[list[str]] = (line.rstrip("\r\n").split(sep) for line in handle)
            reader_line = None
        else:
            reader = csv.reader(
                handle,
                delimiter=sep,
                quotechar=quote or '"',
                quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
                strict=True,
            )
            rows, reader_line = reader, reader
        line = 0
        try:
            for row in rows:
                line = reader_line.line_num if reader_line is not None else line + 1
                if not row:
                    continue
                if expected is None:
                    expected = len(row)
                elif len(row) > expected:
                    reason = f"the line has {len(row)} fields, expected {expected}"
                    raise DataError(path, reason, row=line)
        except csv.Error as error:
            raise DataError(
                path, f"malformed line ({error}; file cut short?)", row=line + 1
            ) from None


def _read_small_delimited(
    path: Path, sep: str, n_fields: int, encoding: str, fallback_encoding: str | None = None
) -> list[tuple[int, list[str]]]:
    """Split a small unquoted file (movie lists) in Python: exact line numbers, any separator.

    ``fallback_encoding`` is tried when the text is not valid ``encoding``.
    """
    _check_not_empty(path)
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as error:
        if fallback_encoding is None:
            raise DataError(path, f"not valid {encoding} text ({error.reason})") from None
        text = path.read_bytes().decode(fallback_encoding)
    records: list[tuple[int, list[str]]] = []
    # split on "\n" only: str.splitlines would also break at U+0085, a Latin-1 byte (0x85)
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) < n_fields:
            reason = f"the line has {len(fields)} of {n_fields} fields (file cut short?)"
            raise DataError(path, reason, row=number)
        records.append((number, fields))
    if not records:
        raise DataError(path, "the file has no data rows")
    return records


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


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _require(raw: _RawTable, fields: Sequence[str]) -> None:
    present = [c for c in raw.frame.columns if c != _LINE]
    for field in fields:
        if field not in raw.frame.columns:
            raise DataError(
                raw.path, f"no such column (columns: {', '.join(present)})", field=field
            )


# =============================================================================================
# Column parsing: ids, timestamps, weights (each raises at the first bad record)
# =============================================================================================
def _first_true(mask: pl.Series) -> int | None:
    hits = mask.fill_null(False).arg_true()
    return int(hits[0]) if len(hits) else None


def _parse_ids(raw: _RawTable, field: str, what: str) -> pl.Series:
    """Ids as strings; integral floats (ids that passed through pandas) lose their ``.0``."""
    column = raw.frame[field]
    if column.dtype.is_float():
        bad = _first_true(column.is_null() | column.is_nan())
        if bad is not None:
            raw.fail(bad, field, f"missing {what} (NaN)")
        integral = (column == column.floor()).all()
        return (column.cast(pl.Int64) if integral else column).cast(pl.String)
    if column.dtype.is_integer():
        bad = _first_true(column.is_null())
        if bad is not None:
            raw.fail_missing(bad, field, what)
        return column.cast(pl.String)
    text = column.cast(pl.String).str.strip_chars()
    bad = _first_true(text.is_null() | (text == ""))
    if bad is not None:
        raw.fail_missing(bad, field, what)
    bad = _first_true(text.str.to_lowercase() == "nan")
    if bad is not None:
        raw.fail(bad, field, f"missing {what} (NaN)")
    return text


def _parse_timestamps(
    raw: _RawTable, field: str, time_format: str | None = None, unit: str = "s"
) -> pl.Series:
    """Seconds since the epoch (int64) from integers, floats or date/time strings.

    Numbers are in ``unit`` (``s``, ``ms``, ``us`` or ``ns``) and floored to whole seconds.
    Strings are numbers, ISO 8601 dates/datetimes (naive ones are taken as UTC) or, with
    ``time_format``, any ``strftime`` pattern. ISO is the only default because a guess
    between ``01/02/2020`` as January or February would be silent and wrong half the time.
    """
    if unit not in _UNIT_DIVISOR:
        raise ValueError(f"timestamp unit must be one of {sorted(_UNIT_DIVISOR)}, not {unit!r}")
    divisor = _UNIT_DIVISOR[unit]
    column = raw.frame[field]
    if column.dtype in (pl.Date,) or isinstance(column.dtype, pl.Datetime):
        return _checked_seconds(raw, field, column, column.cast(pl.Datetime("us")).dt.epoch("s"))
    if column.dtype.is_integer():
        return _checked_seconds(raw, field, column, column.cast(pl.Int64) // divisor)
    if column.dtype.is_float():
        return _checked_seconds(raw, field, column, _floor_finite(column, divisor))
    text = column.cast(pl.String).str.strip_chars()
    missing = _first_true(text.is_null() | (text == ""))
    if missing is not None:
        raw.fail_missing(missing, field, "time")
    return _checked_seconds(
        raw, field, text, _seconds_from_text(raw, field, text, time_format, divisor)
    )


def _seconds_from_text(
    raw: _RawTable, field: str, text: pl.Series, time_format: str | None, divisor: int
) -> pl.Series:
    if time_format is not None:
        try:
            parsed = text.str.strptime(pl.Datetime("us"), time_format, strict=False)
        except pl.exceptions.PolarsError as error:
            raise DataError(
                raw.path, f"bad timestamp_format {time_format!r}: {_first_line(error)}", field=field
            ) from None
        return parsed.dt.epoch("s")
    first = str(text[0])
    as_int = text.cast(pl.Int64, strict=False)
    if as_int.null_count() == 0:
        return as_int // divisor
    as_float = text.cast(pl.Float64, strict=False)
    if as_float[0] is not None:  # a numeric column (perhaps with a bad value further down)
        return _floor_finite(as_float, divisor)
    if not _ISO_DATE.match(first):
        raw.fail(
            0,
            field,
            f"cannot parse {first!r} as a time (not a number or an ISO 8601 date; "
            "pass timestamp_format)",
        )
    return _seconds_from_iso(text)


_ISO_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M%z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


def _seconds_from_iso(text: pl.Series) -> pl.Series:
    """ISO 8601 dates and datetimes, with or without ``T``, seconds, fractions or an offset;
    each value may use its own form. Naive values are taken as UTC; unparsable ones are null."""
    normalised = text.str.replace("T", " ", literal=True).str.replace(r"Z$", "+00:00")
    candidates = []
    for time_format in _ISO_FORMATS:
        parsed = normalised.str.strptime(pl.Datetime("us"), time_format, strict=False)
        candidates.append(
            parsed.dt.replace_time_zone(None).dt.epoch("s")
            if "%z" in time_format
            else parsed.dt.epoch("s")
        )
    return pl.select(pl.coalesce(candidates)).to_series()


def _floor_finite(values: pl.Series, divisor: int) -> pl.Series:
    """``floor(values / divisor)`` as int64; NaN, infinities and nulls become null."""
    frame = pl.DataFrame({"v": values.cast(pl.Float64)})
    finite = pl.when(pl.col("v").is_finite()).then(pl.col("v") / divisor)
    return frame.select(finite.floor().cast(pl.Int64)).to_series()


def _checked_seconds(
    raw: _RawTable, field: str, original: pl.Series, seconds: pl.Series
) -> pl.Series:
    bad = _first_true(seconds.is_null())
    if bad is not None:
        value = original[bad]
        if value is None:
            raw.fail_missing(bad, field, "time")
        raw.fail(bad, field, f"cannot parse {str(value)!r} as a time")
    return seconds.cast(pl.Int64)


def _parse_weights(raw: _RawTable, field: str) -> pl.Series:
    column = raw.frame[field]
    if column.dtype.is_numeric():
        values = column.cast(pl.Float64)
        original = column
    else:
        original = column.cast(pl.String).str.strip_chars()
        missing = _first_true(original.is_null() | (original == ""))
        if missing is not None:
            raw.fail_missing(missing, field, "rating")
        values = original.cast(pl.Float64, strict=False)
    bad = _first_true(values.is_null() | values.is_nan())
    if bad is not None:
        value = original[bad]
        if value is None:
            raw.fail_missing(bad, field, "rating")
        raw.fail(bad, field, f"cannot parse {str(value)!r} as a number")
    return values


def _build_log(
    raw: _RawTable,
    user: str,
    item: str,
    timestamp: str,
    weight: str | None = None,
    *,
    time_format: str | None = None,
    unit: str = "s",
) -> InteractionLog:
    """Parse the four log columns (named as the file names them) into an InteractionLog."""
    _require(raw, [f for f in (user, item, timestamp, weight) if f is not None])
    n = raw.frame.height
    frame = pl.DataFrame(
        {
            "user": _parse_ids(raw, user, "user id"),
            "item": _parse_ids(raw, item, "item id"),
            "timestamp": _parse_timestamps(raw, timestamp, time_format, unit),
            "weight": _parse_weights(raw, weight)
            if weight
            else pl.Series([1.0] * n, dtype=pl.Float64),
            "row": pl.Series(range(n), dtype=pl.Int64),
        }
    )
    return InteractionLog(frame, source=str(raw.path))


def _catalog(
    items: Sequence[str],
    titles: Sequence[str | None],
    categories: Sequence[str | None],
    texts: Sequence[str | None] | None = None,
) -> Catalog:
    """A catalog frame; empty titles become the item id and empty categories ``"unknown"``."""
    texts = texts if texts is not None else [""] * len(items)
    frame = pl.DataFrame(
        {
            "item": [str(i) for i in items],
            "title": [t if t else str(i) for i, t in zip(items, titles)],
            "category": [c if c else "unknown" for c in categories],
            "text": [t or "" for t in texts],
        },
        schema={"item": pl.String, "title": pl.String, "category": pl.String, "text": pl.String},
    )
    return Catalog(frame.unique(subset="item", keep="first", maintain_order=True))


# =============================================================================================
# Generic tables
# =============================================================================================
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


# =============================================================================================
# MovieLens
# =============================================================================================
def detect_movielens(directory: str | Path) -> tuple[str, Path] | None:
    """``(variant, directory holding the files)`` or ``None`` if this is not MovieLens.

    Variants: ``"ml-100k"`` (``u.data``), ``"ml-1m"`` (``ratings.dat`` + ``users.dat``),
    ``"ml-10m"`` (``ratings.dat`` alone), ``"ml-csv"`` (``ratings.csv`` + ``movies.csv``:
    ML-20M/25M/32M and ml-latest). A directory holding one sub-directory (an unzipped
    archive) is looked into.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return None
    if (directory / "u.data").exists():
        return "ml-100k", directory
    if (directory / "ratings.dat").exists():
        return ("ml-1m" if (directory / "users.dat").exists() else "ml-10m"), directory
    if (directory / "ratings.csv").exists() and (directory / "movies.csv").exists():
        return "ml-csv", directory
    children = [p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(children) == 1:
        return detect_movielens(children[0])
    return None


def load_movielens(directory: str | Path) -> LoadResult:
    """Load a MovieLens release from its (unzipped) directory; the variant is detected."""
    detected = detect_movielens(directory)
    if detected is None:
        raise DataError(
            directory, "no MovieLens files here (expected u.data, ratings.dat or ratings.csv)"
        )
    variant, folder = detected
    if variant == "ml-100k":
        return _load_ml100k(folder)
    if variant in ("ml-1m", "ml-10m"):
        return _load_ml_dat(folder)
    return _load_ml_csv(folder)


def _load_ml100k(folder: Path) -> LoadResult:
    names = ("user id", "item id", "rating", "timestamp")
    raw = _read_delimited(folder / "u.data", "\t", has_header=False, names=names, quote=None)
    log = _build_log(raw, "user id", "item id", "timestamp", "rating")
    item_file = folder / "u.item"
    return log, (_ml100k_catalog(item_file, _ml100k_genres(folder)) if item_file.exists() else None)


def _ml100k_genres(folder: Path) -> tuple[str, ...]:
    """Genre names from ``u.genre`` (``name|index`` lines) when present, else the README's list."""
    genre_file = folder / "u.genre"
    if not genre_file.exists():
        return ML100K_GENRES
    pairs = [f for _, f in _read_small_delimited(genre_file, "|", 2, "latin-1")]
    return tuple(name for name, _ in sorted(pairs, key=lambda p: int(p[1])))


def _ml100k_catalog(path: Path, genres: Sequence[str]) -> Catalog:
    """``u.item``: id | title | release date | video date | IMDb URL | one 0/1 flag per genre."""
    n_fields = 5 + len(genres)
    items: list[str] = []
    titles: list[str | None] = []
    categories: list[str | None] = []
    texts: list[str | None] = []
    for line, fields in _read_small_delimited(path, "|", n_fields, "latin-1"):
        flags = fields[5:n_fields]
        if any(f not in ("0", "1") for f in flags):
            raise DataError(
                path,
                f"genre flags must be 0 or 1, got {'|'.join(flags)!r}",
                row=line,
                field="genres",
            )
        item_genres = [g for g, flag in zip(genres, flags) if flag == "1"]
        items.append(_checked_id(path, line, "movie id", fields[0]))
        titles.append(fields[1])
        categories.append(item_genres[0] if item_genres else "unknown")
        texts.append(_movie_text(fields[1], item_genres))
    return _catalog(items, titles, categories, texts)


def _load_ml_dat(folder: Path) -> LoadResult:
    """ML-1M / ML-10M: ``UserID::MovieID::Rating::Timestamp`` and ``MovieID::Title::Genres``.

    ML-1M's ``movies.dat`` is Latin-1; ML-10M's is read as UTF-8 and, failing that, Latin-1.
    """
    names = ("UserID", "MovieID", "Rating", "Timestamp")
    raw = _read_delimited(folder / "ratings.dat", "::", has_header=False, names=names, quote=None)
    log = _build_log(raw, "UserID", "MovieID", "Timestamp", "Rating")
    movies = folder / "movies.dat"
    if not movies.exists():
        return log, None
    records = [
        (line, f[0], "::".join(f[1:-1]), f[-1])
        for line, f in _read_small_delimited(movies, "::", 3, "utf-8", "latin-1")
    ]
    return log, _genre_list_catalog(movies, records)


def _load_ml_csv(folder: Path) -> LoadResult:
    """ML-20M/25M/32M: ``userId,movieId,rating,timestamp`` and ``movieId,title,genres`` (UTF-8)."""
    raw = _read_delimited(folder / "ratings.csv", ",", has_header=True)
    log = _build_log(raw, "userId", "movieId", "timestamp", "rating")
    movies = _read_delimited(folder / "movies.csv", ",", has_header=True)
    _require(movies, ["movieId", "title", "genres"])
    records = [
        (movies.line(i), movie, title or "", genres or "")
        for i, (movie, title, genres) in enumerate(
            movies.frame.select("movieId", "title", "genres").iter_rows()
        )
    ]
    return log, _genre_list_catalog(movies.path, records)


def _genre_list_catalog(path: Path, records: Sequence[tuple[int, str | None, str, str]]) -> Catalog:
    """Catalog from (line, id, title, "Genre1|Genre2"); the category is the first genre."""
    items: list[str] = []
    titles: list[str | None] = []
    categories: list[str | None] = []
    texts: list[str | None] = []
    for line, movie, title, genre_field in records:
        genres = [g for g in genre_field.split("|") if g and g != "(no genres listed)"]
        items.append(_checked_id(path, line, "movie id", movie))
        titles.append(title)
        categories.append(genres[0] if genres else "unknown")
        texts.append(_movie_text(title, genres))
    return _catalog(items, titles, categories, texts)


def _movie_text(title: str, genres: Sequence[str]) -> str:
    return f"{title}. Genres: {', '.join(genres)}" if genres else title


def _checked_id(path: Path, line: int, field: str, value: str | None) -> str:
    text = (value or "").strip()
    if not text or text.lower() == "nan":
        raise DataError(path, "missing id", row=line, field=field)
    return text


# =============================================================================================
# RecBole atomic files
# =============================================================================================
_ATOMIC_USER_FIELDS = ("user_id", "session_id")
_ATOMIC_CATEGORY_FIELDS = ("class", "categories", "category", "genre", "genres")


def load_atomic(path: str | Path) -> LoadResult:
    """Load RecBole atomic files: a ``.inter`` file (or a directory with exactly one) and the
    ``.item`` file beside it, if any.

    The header names each field as ``name:type`` (``user_id:token``, ``timestamp:float``, ...).
    The log needs ``user_id`` (or ``session_id``), ``item_id`` and ``timestamp``; ``rating``
    is the weight when present. In ``.item`` the title is the first field whose name contains
    ``title`` (with `` (year)`` appended when a ``release_year`` field exists, as GroupLens
    titles have it) and the category the first token of ``class``/``categories``/``genre``.
    """
    inter = _find_inter_file(Path(path))
    raw = _atomic_table(inter)
    fields = [c for c in raw.frame.columns if c != _LINE]
    user = next((f for f in _ATOMIC_USER_FIELDS if f in fields), None)
    if user is None:
        raise DataError(inter, f"no such column (columns: {', '.join(fields)})", field="user_id")
    weight = "rating" if "rating" in fields else None
    log = _build_log(raw, user, "item_id", "timestamp", weight)
    item_file = inter.with_suffix(".item")
    return log, (_atomic_catalog(item_file) if item_file.exists() else None)


def _find_inter_file(path: Path) -> Path:
    if path.is_file() or path.suffix == ".inter":
        if path.suffix != ".inter":
            raise DataError(path, "not a RecBole atomic file (expected a .inter file)")
        return path
    if not path.exists():
        raise DataError(path, "no such file or directory")
    candidates = sorted(path.glob("*.inter"))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise DataError(path, f"expected exactly one .inter file in the directory, found {found}")
    return candidates[0]


def _atomic_table(path: Path) -> _RawTable:
    """Read an atomic file and strip the ``:type`` suffixes from its header."""
    raw = _read_delimited(path, "\t", has_header=True, quote=None)
    renames = {}
    for column in raw.frame.columns:
        if column == _LINE:
            continue
        name, colon, _ = column.partition(":")
        if not colon:
            raise DataError(
                path,
                "header field lacks its ':type' suffix (not a RecBole atomic file?)",
                row=1,
                field=column,
            )
        renames[column] = name
    return _RawTable(path, raw.frame.rename(renames), raw.sep, raw.n_fields, raw.encoding)


def _atomic_catalog(path: Path) -> Catalog:
    raw = _atomic_table(path)
    _require(raw, ["item_id"])
    fields = raw.frame.columns
    items = _parse_ids(raw, "item_id", "item id").to_list()
    title_field = next((f for f in fields if "title" in f), None)
    titles: list[str | None] = (
        raw.frame[title_field].to_list() if title_field else [None] * len(items)
    )
    if title_field and "release_year" in fields:
        years = raw.frame["release_year"].to_list()
        titles = [f"{t} ({y})" if t and y else t for t, y in zip(titles, years)]
    category_field = next((f for f in _ATOMIC_CATEGORY_FIELDS if f in fields), None)
    categories: list[str | None] = [None] * len(items)
    texts: list[str | None] = [t or "" for t in titles]
    if category_field:
        tags = [(v or "").split() for v in raw.frame[category_field].to_list()]
        categories = [t[0].strip("'\",[]") if t else None for t in tags]
        texts = [_movie_text(t or "", g) for t, g in zip(titles, tags)]
    return _catalog(items, titles, categories, texts)


# =============================================================================================
# Amazon reviews (JSON lines)
# =============================================================================================
@dataclass(frozen=True)
class _AmazonSchema:
    """Field names of one Amazon release; ``time_unit`` is ``s`` (2014/2018) or ``ms`` (2023)."""

    release: str
    user: str
    item: str
    rating: str
    time: str
    time_unit: str


_AMAZON_2014_2018 = _AmazonSchema(
    "2014/2018", "reviewerID", "asin", "overall", "unixReviewTime", "s"
)
_AMAZON_2023 = _AmazonSchema("2023", "user_id", "parent_asin", "rating", "timestamp", "ms")
_AMAZON_2023_ASIN = _AmazonSchema("2023", "user_id", "asin", "rating", "timestamp", "ms")


def load_amazon(reviews_path: str | Path, meta_path: str | Path | None = None) -> LoadResult:
    """Load Amazon reviews (JSON lines, ``.gz`` allowed) and, optionally, item metadata.

    The release is told by the first record's keys: 2014 and 2018 use ``reviewerID``, ``asin``,
    ``overall`` and ``unixReviewTime`` (seconds); 2023 uses ``user_id``, ``parent_asin`` (or
    ``asin`` when absent), ``rating`` and ``timestamp`` in **milliseconds**. The metadata file
    gives ``title`` and a category (``main_category``, ``main_cat``, the first of
    ``categories`` or ``category``); 2014 metadata, written as Python literals, is read too.
    """
    reviews_path = Path(reviews_path)
    schema: _AmazonSchema | None = None
    columns: dict[str, list[str | None]] = {
        "user": [],
        "item": [],
        "rating": [],
        "time": [],
        _LINE: [],
    }
    for line, record in _json_records(reviews_path, python_literals=False):
        if schema is None:
            schema = _amazon_schema(reviews_path, line, record)
        for key, field in (
            ("user", schema.user),
            ("item", schema.item),
            ("rating", schema.rating),
            ("time", schema.time),
        ):
            if field not in record:
                raise DataError(reviews_path, "missing key", row=line, field=field)
            value = record[field]
            columns[key].append(None if value is None else str(value))
        columns[_LINE].append(str(line))
    if schema is None:
        raise DataError(reviews_path, "the file has no records")
    frame = pl.DataFrame(columns, schema={k: pl.String for k in columns})
    frame = frame.rename(
        {"user": schema.user, "item": schema.item, "rating": schema.rating, "time": schema.time}
    )
    raw = _RawTable(reviews_path, frame.with_columns(pl.col(_LINE).cast(pl.Int64)))
    log = _build_log(
        raw, schema.user, schema.item, schema.time, schema.rating, unit=schema.time_unit
    )
    catalog = None
    if meta_path is not None:
        meta_key = "parent_asin" if schema.item == "parent_asin" else "asin"
        catalog = _amazon_catalog(Path(meta_path), meta_key, set(log.frame["item"].to_list()))
    return log, catalog


def _amazon_schema(path: Path, line: int, record: Mapping[str, Any]) -> _AmazonSchema:
    if "reviewerID" in record:
        return _AMAZON_2014_2018
    if "user_id" in record:
        return _AMAZON_2023 if "parent_asin" in record else _AMAZON_2023_ASIN
    raise DataError(path, "not an Amazon review record (no reviewerID or user_id key)", row=line)


def _amazon_catalog(path: Path, key: str, wanted: set[str]) -> Catalog:
    """Metadata for the items in ``wanted`` (metadata dumps are much larger than review sets)."""
    items: list[str] = []
    titles: list[str | None] = []
    categories: list[str | None] = []
    texts: list[str | None] = []
    for line, record in _json_records(path, python_literals=True):
        if key not in record and "asin" in record:
            item = record["asin"]
        elif key in record:
            item = record[key]
        else:
            raise DataError(path, "missing key", row=line, field=key)
        if str(item) not in wanted:
            continue
        title = record.get("title")
        items.append(str(item))
        titles.append(str(title) if title else None)
        categories.append(_amazon_category(record))
        texts.append(_amazon_text(record))
    return _catalog(items, titles, categories, texts)


def _amazon_category(record: Mapping[str, Any]) -> str | None:
    for key in ("main_category", "main_cat"):
        if record.get(key):
            return str(record[key])
    for key in ("categories", "category"):
        value = record.get(key)
        while isinstance(value, list) and value:  # 2014 nests lists: [["Books", "Fiction"]]
            value = value[0]
        if isinstance(value, str) and value:
            return value
    return None


def _amazon_text(record: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for key in ("title", "description", "features", "feature"):
        value = record.get(key)
        if isinstance(value, list):
            parts.extend(str(v) for v in value if v)
        elif value:
            parts.append(str(value))
    return " ".join(parts)


def _json_records(path: Path, python_literals: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each non-blank line; truncation raises at its line."""
    _check_not_empty(path)
    line = 0
    try:
        for line, raw_line in enumerate(_binary_lines(path), start=1):
            text = raw_line.decode("utf-8")
            if text.strip():
                yield line, _decode_record(path, line, text, python_literals)
    except _CutStream as error:
        raise DataError(path, f"the gzip stream is cut short ({error})", row=line + 1) from None
    except zlib.error as error:
        raise DataError(path, f"the gzip stream is damaged ({error})", row=line + 1) from None
    except UnicodeDecodeError as error:
        raise DataError(path, f"not valid UTF-8 text ({error.reason})", row=line) from None


class _CutStream(Exception):
    """A compressed stream that ends before its end-of-stream marker."""


def _binary_lines(path: Path) -> Iterator[bytes]:
    """The file's lines (``\n`` kept), gunzipped when the name ends in ``.gz``.

    Decompression is done here, chunk by chunk, so that every complete line before a cut is
    yielded before the cut is reported (a buffered text reader would report it early).
    """
    with open(path, "rb") as handle:
        if not path.name.endswith(".gz"):
            yield from handle
            return
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = b""
        for chunk in iter(lambda: handle.read(2**20), b""):
            data = decompressor.decompress(chunk)
            while decompressor.eof and decompressor.unused_data:  # concatenated gzip members
                rest = decompressor.unused_data
                decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                data += decompressor.decompress(rest)
            *complete, pending = (pending + data).split(b"\n")
            for line in complete:
                yield line + b"\n"
        if pending:
            yield pending
        if not decompressor.eof:
            raise _CutStream("no end-of-stream marker")


def _decode_record(path: Path, line: int, text: str, python_literals: bool) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        record = _python_literal(text) if python_literals else None
        if record is None:
            # a record is cut when the error is at its very end, inside an unfinished string,
            # or on a last line that never got its newline
            cut = (
                error.pos >= len(text.rstrip())
                or error.msg.startswith("Unterminated")
                or not text.endswith("\n")
            )
            reason = "the JSON record is cut short" if cut else f"not valid JSON ({error.msg})"
            raise DataError(path, reason, row=line) from None
    if not isinstance(record, dict):
        raise DataError(path, "expected a JSON object per line", row=line)
    return record


def _python_literal(text: str) -> dict[str, Any] | None:
    """2014 metadata lines are Python dict literals (single quotes); read them safely."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
