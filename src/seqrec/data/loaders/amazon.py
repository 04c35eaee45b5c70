"""Amazon reviews (JSON lines, 2014 / 2018 / 2023 releases, ``.gz`` allowed) and metadata."""

from __future__ import annotations

import ast
import json
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from seqrec.data.errors import DataError
from seqrec.data.loaders.common import (
    _LINE,
    LoadResult,
    _build_log,
    _catalog,
    _check_not_empty,
    _RawTable,
)
from seqrec.data.types import Catalog


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


def load_amazon(
    reviews_path: str | Path,
    meta_path: str | Path | None = None,
    *,
    time_unit: str = "auto",
    allow_any_time: bool = False,
) -> LoadResult:
    """Load Amazon reviews (JSON lines, ``.gz`` allowed) and, optionally, item metadata.

    The release is told by the first record's keys: 2014 and 2018 use ``reviewerID``, ``asin``,
    ``overall`` and ``unixReviewTime`` (seconds); 2023 uses ``user_id``, ``parent_asin`` (or
    ``asin`` when absent), ``rating`` and ``timestamp`` in **milliseconds**. The metadata file
    gives ``title`` and a category (``main_category``, ``main_cat``, the first of
    ``categories`` or ``category``) and the item text (title, brand, category paths, description,
    features); 2014 metadata, written as Python literals, is read too. ``time_unit`` other than
    ``auto`` overrides the release's unit; a time before 1970 or in the future is an error unless
    ``allow_any_time``. A UTF-8 byte-order mark is dropped.
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
        raw,
        schema.user,
        schema.item,
        schema.time,
        schema.rating,
        unit=schema.time_unit if time_unit == "auto" else time_unit,
        allow_any_time=allow_any_time,
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
    """Title, brand, category paths, description and features, as UniSRec's item text (title,
    categories, brand; Hou et al. 2022) plus the free text: ``"Dune. Brand: Ace. Categories:
    Books > Science Fiction. ..."``."""
    title = str(record.get("title") or "").strip()
    parts: list[str] = [title if title.endswith(".") else f"{title}."] if title else []
    brand = _amazon_brand(record)
    if brand:
        parts.append(f"Brand: {brand}.")
    paths = _amazon_category_paths(record)
    if paths:
        parts.append(f"Categories: {'; '.join(paths)}.")
    for key in ("description", "features", "feature"):
        value = record.get(key)
        if isinstance(value, list):
            parts.extend(str(v) for v in value if v)
        elif value:
            parts.append(str(value))
    return " ".join(parts)


def _amazon_brand(record: Mapping[str, Any]) -> str:
    """``brand`` (2014/2018), else ``store`` or ``details["Brand"]`` (2023); ``""`` when none."""
    details = record.get("details")
    for value in (record.get("brand"), record.get("store"), details.get("Brand") if isinstance(details, dict) else None):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _amazon_category_paths(record: Mapping[str, Any]) -> list[str]:
    """Category paths as ``"A > B > C"``: 2014 nests several (``[["Books", "Fiction"]]``), 2018
    and 2023 give one flat list (``category`` / ``categories``)."""
    paths: list[str] = []
    for key in ("categories", "category"):
        value = record.get(key)
        if not isinstance(value, list) or not value:
            continue
        nested = value if all(isinstance(v, list) for v in value) else [value]
        for path in nested:
            joined = " > ".join(str(v) for v in path if isinstance(v, str) and v)
            if joined and joined not in paths:
                paths.append(joined)
    return paths


def _json_records(path: Path, python_literals: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each non-blank line; truncation raises at its line."""
    _check_not_empty(path)
    line = 0
    try:
        for line, raw_line in enumerate(_binary_lines(path), start=1):
            text = raw_line.decode("utf-8-sig" if line == 1 else "utf-8")
            if text.strip():
                yield line, _decode_record(path, line, text, python_literals)
    except _CutStream as error:
        raise DataError(path, f"the gzip stream is cut short ({error})", row=line + 1) from None
    except zlib.error as error:
        raise DataError(path, f"the gzip stream is damaged ({error})", row=line + 1) from None
    except UnicodeDecodeError as error:
        raise DataError(
            path,
            f"not valid UTF-8 text (byte 0x{error.object[error.start : error.start + 1].hex()} "
            f"at column {error.start + 1}: {error.reason}); Amazon review dumps are UTF-8",
            row=line,
        ) from None


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
