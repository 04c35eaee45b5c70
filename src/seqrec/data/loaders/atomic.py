"""RecBole atomic files: a ``.inter`` file and an optional ``.item`` file beside it."""

from __future__ import annotations

from pathlib import Path

from seqrec.data.errors import DataError
from seqrec.data.loaders.common import (
    _LINE,
    LoadResult,
    _build_log,
    _catalog,
    _check_unique_names,
    _movie_text,
    _parse_ids,
    _RawTable,
    _read_delimited,
    _require,
    check_readable,
)
from seqrec.data.types import Catalog

_ATOMIC_USER_FIELDS = ("user_id", "session_id")
_ATOMIC_CATEGORY_FIELDS = ("class", "categories", "category", "genre", "genres")
ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")
"""The field types a RecBole atomic header may give (``name:type``)."""


def load_atomic(
    path: str | Path,
    *,
    time_unit: str = "auto",
    allow_any_time: bool = False,
    encoding: str = "utf-8",
) -> LoadResult:
    """Load RecBole atomic files: a ``.inter`` file (or a directory with exactly one) and the
    ``.item`` file beside it, if any.

    The header names each field as ``name:type`` (``user_id:token``, ``timestamp:float``, ...).
    The log needs ``user_id`` (or ``session_id``), ``item_id`` and ``timestamp``; ``rating``
    is the weight when present. In ``.item`` the title is the first field whose name contains
    ``title`` (with `` (year)`` appended when a ``release_year`` field exists, as GroupLens
    titles have it) and the category the first token of ``class``/``categories``/``genre``.
    Each type must be one of RecBole's four (:data:`ATOMIC_TYPES`); a field named twice is an
    error. ``time_unit``, ``allow_any_time`` and ``encoding`` are as in
    :func:`~seqrec.data.loaders.table.load_table` (RecBole timestamps are usually seconds).
    """
    inter = _find_inter_file(Path(path))
    raw = _atomic_table(inter, encoding)
    fields = [c for c in raw.frame.columns if c != _LINE]
    user = next((f for f in _ATOMIC_USER_FIELDS if f in fields), None)
    if user is None:
        raise DataError(inter, f"no such column (columns: {', '.join(fields)})", field="user_id")
    weight = "rating" if "rating" in fields else None
    log = _build_log(
        raw, user, "item_id", "timestamp", weight, unit=time_unit, allow_any_time=allow_any_time
    )
    item_file = inter.with_suffix(".item")
    return log, (_atomic_catalog(item_file, encoding) if item_file.exists() else None)


def _find_inter_file(path: Path) -> Path:
    if path.is_file() or path.suffix == ".inter":
        if path.suffix != ".inter":
            raise DataError(path, "not a RecBole atomic file (expected a .inter file)")
        return path
    check_readable(path, expect="folder")
    candidates = sorted(path.glob("*.inter"))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise DataError(path, f"expected exactly one .inter file in the directory, found {found}")
    return candidates[0]


def _atomic_table(path: Path, encoding: str = "utf-8") -> _RawTable:
    """Read an atomic file, check the ``:type`` of each header field and strip it."""
    raw = _read_delimited(path, "\t", has_header=True, quote=None, encoding=encoding)
    renames = {}
    for column in raw.frame.columns:
        if column == _LINE:
            continue
        name, colon, kind = column.partition(":")
        if not colon:
            raise DataError(
                path,
                "header field lacks its ':type' suffix (not a RecBole atomic file?)",
                row=1,
                field=column,
            )
        if kind not in ATOMIC_TYPES:
            raise DataError(
                path,
                f"unknown field type {kind!r}; RecBole's types are {', '.join(ATOMIC_TYPES)}",
                row=1,
                field=column,
            )
        renames[column] = name
    _check_unique_names(path, list(renames.values()), list(renames))
    return _RawTable(path, raw.frame.rename(renames), raw.sep, raw.n_fields, raw.encoding)


def _atomic_catalog(path: Path, encoding: str = "utf-8") -> Catalog:
    raw = _atomic_table(path, encoding)
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
