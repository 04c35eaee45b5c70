"""RecBole atomic files: a ``.inter`` file and an optional ``.item`` file beside it."""

from __future__ import annotations

from pathlib import Path

from seqrec.data.errors import DataError
from seqrec.data.loaders.common import (
    _LINE,
    LoadResult,
    _build_log,
    _catalog,
    _movie_text,
    _parse_ids,
    _RawTable,
    _read_delimited,
    _require,
)
from seqrec.data.types import Catalog

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
