"""What every loader shares: the raw table, the parsing of ids / timestamps / weights, the
log and catalog builders and the :class:`~seqrec.data.errors.DataError` helpers.

The source modules (:mod:`.table`, :mod:`.movielens`, :mod:`.atomic`, :mod:`.amazon`) build on
this one; it imports none of them.
"""

from __future__ import annotations

import codecs
import csv
import errno
import gzip
import io
import os
import re
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

import polars as pl

from seqrec.data.errors import DataError
from seqrec.data.types import Catalog, InteractionLog

LoadResult = tuple[InteractionLog, Catalog | None]


_LINE = "_line"  # the 1-based line number of each record, carried through parsing
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

# Numeric timestamps: the unit, forced or detected (see :func:`detect_time_unit`).
TIME_UNITS = ("auto", "s", "ms", "us", "ns")
"""Values of ``time_unit``: ``auto`` (the format's own unit, else detected) or a unit to force."""
_UNIT_DIVISOR = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_UNIT_LIMITS = (("s", 1e11), ("ms", 1e14), ("us", 1e17))  # median |value| below: this unit
_BANDS = {"s": "< 1e11", "ms": "in [1e11, 1e14)", "us": "in [1e14, 1e17)", "ns": ">= 1e17"}
TIME_UNIT_RULE = "< 1e11 s, < 1e14 ms, < 1e17 us, else ns"
"""How ``time_unit="auto"`` picks the unit of a numeric timestamp column."""
# A time is plausible from the epoch to a day from now (clock skew); any time must fit a date.
_FUTURE_SLACK_SECONDS = 86_400
_FIRST_SECOND = -62_135_596_800  # 0001-01-01T00:00:00Z, the first second Python dates hold
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z, the last
_TIME_HINT = "force the unit with time_unit (--time-unit s, ms, us or ns)"
_ANY_TIME_HINT = "keep such times with allow_any_time=True (--allow-any-time)"


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


def _open_text(path: Path, encoding: str, errors: str = "replace") -> IO[str]:
    """Text, undecodable bytes replaced by default (for re-reading a line to explain it); a
    UTF-8 BOM is dropped."""
    encoding = _bom_aware(encoding)
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding=encoding, errors=errors, newline="")
    return open(path, encoding=encoding, errors=errors, newline="")


def _read_header(path: Path, encoding: str) -> str:
    """The first line (the header) of a text file, checked: text in ``encoding`` and not blank."""
    try:
        with _open_text(path, encoding, errors="strict") as handle:
            first = handle.readline()
            if not first.strip():
                if not any(line.strip() for line in handle):
                    raise DataError(path, "the file is empty (only blank lines)")
                raise DataError(path, "the header line is blank", row=1)
    except UnicodeDecodeError:
        _check_decodable(path, encoding)  # raises at the first undecodable line
        raise
    return first.rstrip("\r\n")


def _bom_aware(encoding: str) -> str:
    """``utf-8-sig`` for UTF-8, so that a byte-order mark at the start of a file is dropped."""
    return "utf-8-sig" if _is_utf8(encoding) else encoding


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig", "ascii")


def _checked_encoding(encoding: str) -> str:
    """``encoding`` if Python knows it; a ValueError listing common ones otherwise."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(
            f"unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252, utf-16)"
        ) from None
    return encoding


def _decode(path: Path, data: bytes, encoding: str, hint: bool = True) -> str:
    """``data`` as text, without a leading BOM; a DataError at the first undecodable line."""
    try:
        return data.decode(_bom_aware(encoding)).removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise _undecodable(path, data, error, encoding, hint) from None


def _undecodable(
    path: Path, data: bytes, error: UnicodeDecodeError, encoding: str, hint: bool = True
) -> DataError:
    """Where ``error`` is in ``data``: its line, the byte and its column, and what to try."""
    line = data.count(b"\n", 0, error.start) + 1
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    byte = data[error.start : error.start + 1].hex()
    name = "UTF-8" if _is_utf8(encoding) else encoding
    reason = f"not valid {name} text (byte 0x{byte} at column {column}: {error.reason})"
    if hint:
        reason += (
            "; if the file is in another encoding, pass it as encoding (--encoding), e.g. "
            "'latin-1' or 'cp1252', or save the file as UTF-8"
        )
    return DataError(path, reason, row=line)


def _check_decodable(path: Path, encoding: str) -> None:
    """Raise at the first line that is not ``encoding`` text (the file is read whole)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        _decode(path, handle.read(), encoding)


def check_readable(path: Path, expect: str = "file") -> os.stat_result:
    """``path``'s status if it can be read as a ``file``, a ``folder`` or ``any``; a DataError
    otherwise.

    Tells apart what ``Path.exists`` lumps together as "missing": a symbolic link loop, a link
    to nothing, a missing parent folder, no permission.
    """
    try:
        info = path.stat()
    except OSError as error:
        raise DataError(path, _path_problem(path, error)) from None
    if expect == "file" and stat.S_ISDIR(info.st_mode):
        raise DataError(path, "is a directory, expected a file")
    if expect == "folder" and not stat.S_ISDIR(info.st_mode):
        raise DataError(path, "is a file, expected a directory")
    if not os.access(path, os.R_OK):
        raise DataError(path, "permission denied (the file cannot be read)")
    return info


def _path_problem(path: Path, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return f"symbolic link loop ({path} leads back to itself)"
    if error.errno == errno.ENOENT and path.is_symlink():
        return f"broken symbolic link ({path} points to {os.readlink(path)}, which does not exist)"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"no such file ({path})"
    if error.errno == errno.EACCES:
        return f"permission denied ({path})"
    return f"cannot read {path}: {error.strerror or error}"


def _check_not_empty(path: Path) -> None:
    if check_readable(path).st_size == 0:
        raise DataError(path, "the file is empty")


def _read_delimited(
    path: Path,
    sep: str,
    *,
    has_header: bool,
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    quote: str | None = '"',
    allow_no_rows: bool = False,
) -> _RawTable:
    """Read delimited text as all-string columns with line numbers; blank lines are dropped.

    ``sep`` may be ``"::"`` (MovieLens 1M/10M): the file is read with ``:`` and the empty
    columns between each pair of colons are dropped, which is exact as long as the values
    themselves hold no colon (true of ``ratings.dat``; ``movies.dat`` is read by
    :func:`_read_small_delimited`). A UTF-8 byte-order mark is dropped; text that is not
    ``encoding`` is an error at its line; a header naming a column twice is an error.
    """
    _check_not_empty(path)
    encoding = _checked_encoding(encoding)
    single_sep = sep[0]
    polars_names: list[str] | None = None
    if names is not None:
        polars_names = list(names)
        if sep == "::":  # a:b:c -> a, "", b, "", c
            polars_names = [part for name in names for part in (name, f"_gap_{name}")][:-1]
    source: Path | io.BytesIO = path
    if not _is_utf8(encoding):
        source = io.BytesIO(_decode(path, path.read_bytes(), encoding).encode("utf-8"))
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
        _check_decodable(path, encoding)
        _locate_unreadable_line(path, sep, has_header, names, encoding, quote)
        raise DataError(path, f"cannot read as delimited text: {_first_line(error)}") from None
    if has_header:
        _check_unique_header(path, sep, encoding, quote)
    frame = frame.select([c for c in frame.columns if not c.startswith("_gap_")])
    first_data_line = 2 if has_header else 1
    frame = frame.with_row_index(_LINE, offset=first_data_line).with_columns(
        pl.col(_LINE).cast(pl.Int64)
    )
    data_columns = [c for c in frame.columns if c != _LINE]
    frame = frame.filter(~pl.all_horizontal(pl.col(data_columns).is_null()))  # blank lines
    if frame.height == 0 and not allow_no_rows:
        raise DataError(path, "the file has no data rows")
    return _RawTable(path, frame, sep=sep, n_fields=len(data_columns), encoding=encoding)


def _check_unique_header(path: Path, sep: str, encoding: str, quote: str | None) -> None:
    """A header that names a column twice is an error (Polars would rename the second)."""
    header = _read_header(path, encoding)
    if len(sep) > 1:
        fields = header.split(sep)
    else:
        reader = csv.reader(
            [header],
            delimiter=sep,
            quotechar=quote or '"',
            quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        )
        fields = next(reader, [])
    _check_unique_names(path, fields, fields)


def _check_unique_names(path: Path, names: Sequence[str], spelled: Sequence[str]) -> None:
    """Raise at the first name that repeats an earlier one; ``spelled`` is how the header
    writes each name (e.g. with its RecBole ``:type``), shown when that differs."""
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name not in seen:
            seen[name] = index
            continue
        first, second = spelled[seen[name]], spelled[index]
        how = "" if first == second else f" ({first!r} and {second!r})"
        where = f"columns {seen[name] + 1} and {index + 1}{how}"
        raise DataError(path, f"the header names this column twice ({where})", row=1, field=name)


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


def _checked_time_unit(unit: str) -> str:
    if unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {', '.join(TIME_UNITS)}, not {unit!r}")
    return unit


def detect_time_unit(numbers: pl.Series) -> tuple[str, float]:
    """``(unit, median)``: the unit of numeric epoch timestamps, told by the median absolute
    value (:data:`TIME_UNIT_RULE`): below 1e11 seconds (1e11 s is the year 5138), below 1e14
    milliseconds, below 1e17 microseconds, else nanoseconds. Today's epoch is about 1.7e9 s,
    1.7e12 ms, 1.7e15 us or 1.7e18 ns, so the bands leave three orders of magnitude each way;
    a millisecond log from before March 1973 would be taken as seconds (force ``time_unit``).
    """
    magnitudes = numbers.cast(pl.Float64).abs()
    median = magnitudes.filter(magnitudes.is_finite()).median()
    value = float(median) if isinstance(median, (int, float)) else 0.0
    unit = next((u for u, limit in _UNIT_LIMITS if value < limit), "ns")
    return unit, value


def _parse_timestamps(
    raw: _RawTable,
    field: str,
    time_format: str | None = None,
    unit: str = "auto",
    allow_any_time: bool = False,
) -> pl.Series:
    """Seconds since the epoch (int64) from integers, floats or date/time strings.

    Numbers are in ``unit`` (``s``, ``ms``, ``us`` or ``ns``; ``auto``: :func:`detect_time_unit`)
    and floored to whole seconds. Strings are numbers, ISO 8601 dates/datetimes (naive ones are
    taken as UTC) or, with ``time_format``, any ``strftime`` pattern. ISO is the only default
    because a guess between ``01/02/2020`` as January or February would be silent and wrong
    half the time. Every time must be finite and, unless ``allow_any_time``, plausible: from
    1970-01-01 to a day from now (:func:`_checked_seconds`).
    """
    _checked_time_unit(unit)
    original = raw.frame[field]
    read_as: str | None = None  # how numbers became seconds, for the messages
    if original.dtype == pl.Date or isinstance(original.dtype, pl.Datetime):
        seconds = original.cast(pl.Datetime("us")).dt.epoch("s")
    elif original.dtype.is_numeric():
        seconds, read_as = _seconds_from_numbers(original, unit)
    else:
        original = original.cast(pl.String).str.strip_chars()
        missing = _first_true(original.is_null() | (original == ""))
        if missing is not None:
            raw.fail_missing(missing, field, "time")
        seconds, read_as = _seconds_from_text(raw, field, original, time_format, unit)
    return _checked_seconds(raw, field, original, seconds, allow_any_time, read_as)


def _seconds_from_text(
    raw: _RawTable, field: str, text: pl.Series, time_format: str | None, unit: str
) -> tuple[pl.Series, str | None]:
    if time_format is not None:
        return _seconds_from_format(raw, field, text, time_format), None
    numbers = _numbers_from_text(text)
    if numbers is not None:
        return _seconds_from_numbers(numbers, unit)
    if not _ISO_DATE.match(str(text[0])):
        raw.fail(
            0,
            field,
            f"cannot parse {str(text[0])!r} as a time (not a number or an ISO 8601 date; "
            "pass timestamp_format)",
        )
    return _seconds_from_iso(text), None


def _seconds_from_numbers(numbers: pl.Series, unit: str) -> tuple[pl.Series, str]:
    """Floored seconds (int64, or float64 with NaN / infinities kept for the checks) from epoch
    numbers in ``unit`` (``auto``: :func:`detect_time_unit`), and how they were read."""
    if unit == "auto":
        unit, median = detect_time_unit(numbers)
        read_as = f"read as {_UNIT_NAMES[unit]}: median |timestamp| {median:.3g} {_BANDS[unit]}"
    else:
        read_as = f"read as {_UNIT_NAMES[unit]}"
    divisor = _UNIT_DIVISOR[unit]
    if numbers.dtype.is_integer():
        return numbers.cast(pl.Int64) // divisor, read_as
    return (numbers.cast(pl.Float64) / divisor).floor(), read_as


def _numbers_from_text(text: pl.Series) -> pl.Series | None:
    """Int64 if every value is an integer, Float64 if the first is a number (later bad values
    are null), ``None`` if the column does not hold numbers."""
    as_int = text.cast(pl.Int64, strict=False)
    if as_int.null_count() == 0:
        return as_int
    as_float = text.cast(pl.Float64, strict=False)
    return as_float if as_float[0] is not None else None


def _seconds_from_format(
    raw: _RawTable, field: str, text: pl.Series, time_format: str
) -> pl.Series:
    try:
        parsed = text.str.strptime(pl.Datetime("us"), time_format, strict=False)
    except pl.exceptions.PolarsError as error:
        raise DataError(
            raw.path, f"bad timestamp_format {time_format!r}: {_first_line(error)}", field=field
        ) from None
    return parsed.dt.epoch("s")


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


def _checked_seconds(
    raw: _RawTable,
    field: str,
    original: pl.Series,
    seconds: pl.Series,
    allow_any_time: bool = False,
    read_as: str | None = None,
) -> pl.Series:
    """``seconds`` as int64 once every value is a finite, datable and (unless
    ``allow_any_time``) plausible time: from 1970-01-01 to now + 1 day. The first bad row
    raises; ``read_as`` (how numbers were converted) goes into the message."""
    values = seconds.cast(pl.Float64)
    unparsable = values.is_null()
    not_finite = ~values.is_finite()
    undatable = (values < _FIRST_SECOND) | (values > _LAST_SECOND)
    bad_mask = unparsable | not_finite | undatable
    latest = time.time() + _FUTURE_SLACK_SECONDS
    if not allow_any_time:
        bad_mask = bad_mask | (values < 0) | (values > latest)
    bad = _first_true(bad_mask)
    if bad is None:
        return seconds.cast(pl.Int64)
    value, shown = original[bad], repr(str(original[bad]))
    if unparsable[bad]:
        if value is None:
            raw.fail_missing(bad, field, "time")
        raw.fail(bad, field, f"cannot parse {shown} as a time")
    if not_finite[bad]:
        raw.fail(bad, field, f"{shown} is not a finite time")
    moment = float(values[bad])
    how = f" ({read_as})" if read_as else ""
    if undatable[bad]:
        when = "before the year 1" if moment < 0 else "after the year 9999"
        hint = f"; {_TIME_HINT}" if read_as else ""
        raw.fail(bad, field, f"time {shown} is {when}{how}: not a date{hint}")
    date = time.strftime("%Y-%m-%d", time.gmtime(moment))
    limit = "before 1970-01-01" if moment < 0 else "more than a day in the future"
    hints = " or ".join([*([_TIME_HINT] if read_as else []), _ANY_TIME_HINT])
    raw.fail(bad, field, f"implausible time {shown}: {date}, {limit}{how}; {hints}")


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
    unit: str = "auto",
    allow_any_time: bool = False,
) -> InteractionLog:
    """Parse the four log columns (named as the file names them) into an InteractionLog."""
    fields = [f for f in (user, item, timestamp, weight) if f is not None]
    _require(raw, fields)
    _require_flat(raw, fields)
    n = raw.frame.height
    frame = pl.DataFrame(
        {
            "user": _parse_ids(raw, user, "user id"),
            "item": _parse_ids(raw, item, "item id"),
            "timestamp": _parse_timestamps(raw, timestamp, time_format, unit, allow_any_time),
            "weight": _parse_weights(raw, weight)
            if weight
            else pl.Series([1.0] * n, dtype=pl.Float64),
            "row": pl.Series(range(n), dtype=pl.Int64),
        }
    )
    return InteractionLog(frame, source=str(raw.path))


def _require_flat(raw: _RawTable, fields: Sequence[str]) -> None:
    """Columns of plain values: a list, struct, binary or object column (Parquet) is an error."""
    for field in fields:
        dtype = raw.frame.schema[field]
        if dtype.is_nested() or dtype in (pl.Binary, pl.Object):
            kind = "a nested type" if dtype.is_nested() else "not text or numbers"
            raise DataError(
                raw.path,
                f"the column holds {dtype} values ({kind}); expected one plain id, number, "
                "date or string per row",
                field=field,
            )


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


# =============================================================================================
# Lazy reading: the same checks as the eager parsers, as expressions over a streamed scan
# =============================================================================================
@dataclass(frozen=True)
class LazyLog:
    """An interaction log that is not in memory yet: a Polars :class:`~polars.LazyFrame` with the
    columns of :class:`InteractionLog` (``user``, ``item`` str; ``timestamp`` int64 seconds;
    ``weight`` float64; ``row`` int64), already validated, for the streaming engine to run."""

    frame: pl.LazyFrame
    source: str


LazyLoadResult = tuple[LazyLog, Catalog | None]


@dataclass(frozen=True)
class _LazyTable:
    """A delimited file as a scan: all-string columns plus ``_line``, blank lines dropped."""

    path: Path
    frame: pl.LazyFrame
    columns: tuple[str, ...]
    sep: str
    encoding: str = "utf-8"

    def collect(self, query: pl.LazyFrame) -> pl.DataFrame:
        """Run ``query`` (built on :attr:`frame`) on the streaming engine; a file Polars cannot
        parse is reported as :func:`_read_delimited` reports it (the first bad line)."""
        try:
            return query.collect(engine="streaming")
        except (pl.exceptions.PolarsError, UnicodeDecodeError) as error:
            _check_decodable(self.path, self.encoding)
            _locate_unreadable_line(self.path, self.sep, True, None, self.encoding, '"')
            reason = f"cannot read as delimited text: {_first_line(error)}"
            raise DataError(self.path, reason) from None

    def rows_at(self, lines: Sequence[int]) -> _RawTable:
        """The records at the given file lines, as the eager parsers' raw table."""
        frame = self.collect(self.frame.filter(pl.col(_LINE).is_in(list(lines))).sort(_LINE))
        return _RawTable(self.path, frame, sep=self.sep, n_fields=len(self.columns))


def _scan_delimited(path: Path, sep: str) -> _LazyTable:
    """:func:`_read_delimited` (UTF-8, a header line, ``"`` quotes) as a lazy scan.

    The checks that need no data pass run now (empty file, repeated header names); parse errors
    surface when the scan is collected (:meth:`_LazyTable.collect`).
    """
    _check_not_empty(path)
    scan = pl.scan_csv(path, separator=sep, has_header=True, infer_schema=False, quote_char='"')
    try:
        columns = tuple(scan.collect_schema().names())
    except pl.exceptions.NoDataError:
        raise DataError(path, "the file is empty") from None
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as error:
        _check_decodable(path, "utf-8")
        raise DataError(path, f"cannot read as delimited text: {_first_line(error)}") from None
    _check_unique_header(path, sep, "utf-8", '"')
    frame = scan.with_row_index(_LINE, offset=2).with_columns(pl.col(_LINE).cast(pl.Int64))
    frame = frame.filter(~pl.all_horizontal(pl.col(list(columns)).is_null()))  # blank lines
    return _LazyTable(path, frame, columns, sep)


def _lazy_text(field: str) -> pl.Expr:
    return pl.col(field).str.strip_chars()


def _lazy_seconds(field: str, unit: str) -> tuple[pl.Expr, pl.Expr]:
    """(seconds as float64 for the checks, seconds as int64) of a text column of epoch numbers in
    ``unit``: integers exactly (``//``), other numbers floored, as :func:`_seconds_from_numbers`."""
    divisor = _UNIT_DIVISOR[unit]
    as_int = _lazy_text(field).cast(pl.Int64, strict=False) // divisor
    as_float = (_lazy_text(field).cast(pl.Float64, strict=False) / divisor).floor()
    checked = pl.coalesce(as_int.cast(pl.Float64), as_float)
    return checked, pl.coalesce(as_int, as_float.cast(pl.Int64, strict=False))


def _lazy_number(field: str) -> pl.Expr:
    return _lazy_text(field).cast(pl.Float64, strict=False)


def _lazy_missing(field: str) -> pl.Expr:
    text = _lazy_text(field)
    return text.is_null() | (text == "")


def _lazy_bad_time(field: str, unit: str, allow_any_time: bool) -> pl.Expr:
    values, _ = _lazy_seconds(field, unit)
    bad = values.is_null() | ~values.is_finite()
    bad = bad | (values < _FIRST_SECOND) | (values > _LAST_SECOND)
    if not allow_any_time:
        bad = bad | (values < 0) | (values > time.time() + _FUTURE_SLACK_SECONDS)
    return bad


def _lazy_checks(
    user: str, item: str, timestamp: str, weight: str, unit: str, allow_any_time: bool
) -> list[tuple[str, pl.Expr]]:
    """(field, bad-record flag) in the order the eager parsers check: each column whole, in the
    order user, item, time, rating, and within a column missing values before unparsable ones."""
    return [
        (user, _lazy_missing(user)),
        (user, _lazy_text(user).str.to_lowercase() == "nan"),
        (item, _lazy_missing(item)),
        (item, _lazy_text(item).str.to_lowercase() == "nan"),
        (timestamp, _lazy_missing(timestamp)),
        (timestamp, _lazy_bad_time(timestamp, unit, allow_any_time)),
        (weight, _lazy_missing(weight)),
        (weight, _lazy_number(weight).is_null() | _lazy_number(weight).is_nan()),
    ]


def _scan_log(
    table: _LazyTable,
    user: str,
    item: str,
    timestamp: str,
    weight: str,
    *,
    unit: str,
    allow_any_time: bool = False,
) -> LazyLog | None:
    """The lazy twin of :func:`_build_log` for a text table whose times are epoch numbers.

    One streaming pass finds, for each field, the first record the eager parsers would refuse;
    the first field (in the eager order: user, item, time, rating) with such a record is then
    parsed eagerly on just that record and the first one, so the error (row, field, wording)
    is exactly the eager loader's. Returns ``None`` when the times are not numbers at all (ISO
    dates): the eager loader reads those.
    """
    fields = (user, item, timestamp, weight)
    for field in fields:
        if field not in table.columns:
            columns = ", ".join(table.columns)
            raise DataError(table.path, f"no such column (columns: {columns})", field=field)
    _checked_time_unit(unit)
    checks = _lazy_checks(user, item, timestamp, weight, unit, allow_any_time)
    summary = table.collect(
        table.frame.select(
            pl.len().alias("_rows"),
            pl.col(_LINE).min().alias("_first"),
            *[
                pl.col(_LINE).filter(flag).min().alias(f"_{n}")
                for n, (_, flag) in enumerate(checks)
            ],
        )
    ).row(0)
    if summary[0] == 0:
        raise DataError(table.path, "the file has no data rows")
    for (field, _), line in zip(checks, summary[2:], strict=True):
        if line is None:
            continue
        raw = table.rows_at(sorted({int(summary[1]), int(line)}))
        _build_log(raw, user, item, timestamp, weight, unit=unit, allow_any_time=allow_any_time)
        if field == timestamp:  # the eager parser took the column as dates: not ours to read
            return None
        raise DataError(table.path, "cannot parse this value", row=int(line), field=field)
    _, seconds = _lazy_seconds(timestamp, unit)
    frame = table.frame.select(
        _lazy_text(user).alias("user"),
        _lazy_text(item).alias("item"),
        seconds.alias("timestamp"),
        _lazy_text(weight).cast(pl.Float64).alias("weight"),
    ).with_row_index("row")
    return LazyLog(frame.with_columns(pl.col("row").cast(pl.Int64)), source=str(table.path))
