"""What every loader shares: the raw table, the parsing of ids / timestamps / weights, the
log and catalog builders and the :class:`~seqrec.data.errors.DataError` helpers.

The source modules (:mod:`.table`, :mod:`.movielens`, :mod:`.atomic`, :mod:`.amazon`) build on
this one; it imports none of them.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

import polars as pl

from seqrec.data.errors import DataError
from seqrec.data.types import Catalog, InteractionLog

LoadResult = tuple[InteractionLog, Catalog | None]


_LINE = "_line"  # the 1-based line number of each record, carried through parsing
_UNIT_DIVISOR = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


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


def _movie_text(title: str, genres: Sequence[str]) -> str:
    return f"{title}. Genres: {', '.join(genres)}" if genres else title
