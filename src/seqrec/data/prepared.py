"""The prepared-dataset folder: what ``seqrec data prepare`` writes and ``load_dataset`` reads back.

A prepared dataset is a cleaned :class:`Dataset` on disk, so that a large log is cleaned once
(by the Polars streaming engine or by Spark) and every later run reads the result directly,
without loading or cleaning the source again. ``load_dataset(<folder>)`` recognises it by its
``meta.json``. Both engines write this layout; :func:`read_prepared` accepts either.

Layout (a folder; every table is Parquet)::

    meta.json
    users.parquet         or  users/part-*.parquet
    items.parquet         or  items/part-*.parquet
    interactions.parquet  or  interactions/part-*.parquet

Each table is EITHER one file ``<table>.parquet`` OR a folder ``<table>/`` of part files named
``part-*.parquet``, read in name order (Spark writes such folders; its ``_SUCCESS`` and
``.crc`` files are ignored). Having both a file and a folder for one table is an error.

* ``users``: one row per user, in dense id order: ``label`` (string, the source's user id),
  ``user_id`` (integer, ``0..n_users-1`` ascending), ``length`` (integer, the user's number of
  interactions).
* ``items``: ``n_items + 1`` rows, row ``i`` = dense item ``i``: ``label`` (string, the source's
  item id), ``title``, ``category``, ``text`` (strings; ``text`` may be null = ``""``). Row 0
  is padding: ``label == "<pad>"``.
* ``interactions``: ``n_interactions`` rows in CSR order: ``user_id`` ascending and, within a
  user, time order (timestamp, then original file row): ``user_id`` (integer), ``item``
  (integer in ``1..n_items``), ``timestamp`` (integer, seconds since the epoch, UTC). User
  ``u``'s rows are exactly ``users.length[u]`` consecutive rows.
* ``meta.json``: an object with ``"layout": "prepared"``, ``"engine"`` (``"polars"`` or
  ``"spark"``), ``"name"``, ``"n_users"``, ``"n_items"``, ``"n_interactions"``,
  ``"exclude_history"`` (bool), ``"sha256"``: the SHA-256 hex digest of every Parquet file,
  keyed by its path relative to the folder with ``/`` (``"users.parquet"``,
  ``"interactions/part-00000-....parquet"``); optionally ``"format"`` (the version of the
  cleaning rules the data was built under, :data:`~seqrec.data.cleaning.CACHE_FORMAT`; recorded,
  not enforced: a prepared dataset stays readable), ``"has_texts"`` (default true),
  ``"options"`` (the cleaning options), ``"source"`` and ``"extras"`` (JSON values kept in
  ``Dataset.extras``); other keys are ignored. Integer columns may be any integer width (Spark writes ``int`` or
  ``bigint``); they are read as int64.

The ids, order and cleaning are those of :mod:`seqrec.data.cleaning`, so a prepared folder
holds exactly the sequences ``load_dataset(source)`` builds with the same options.

:func:`write_prepared` writes into a staging folder beside the target and renames it into
place, so a crash leaves no half-written dataset under the real name; an existing prepared
folder is replaced, any other non-empty folder is refused. :func:`read_prepared` verifies
everything it can (checksums, counts, id ranges, CSR order) and raises a :class:`DataError`
naming the file at the first mismatch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqrec.data.cleaning import (
    CACHE_FORMAT,
    PAD_LABEL,
    CleanOptions,
    _json_extras,
    _sha256,
    _strings,
    write_user_item_tables,
)
from seqrec.data.errors import DataError
from seqrec.data.types import Dataset, SequenceData

LAYOUT = "prepared"
TABLES = ("users", "items", "interactions")
_COLUMNS = {
    "users": {"label": "string", "user_id": "integer", "length": "integer"},
    "items": {"label": "string", "title": "string", "category": "string", "text": "string"},
    "interactions": {"user_id": "integer", "item": "integer", "timestamp": "integer"},
}
_REQUIRED_META = ("n_users", "n_items", "n_interactions", "exclude_history", "sha256")


def is_prepared(folder: str | Path) -> bool:
    """Whether ``folder`` has a ``meta.json`` saying ``"layout": "prepared"``."""
    meta = Path(folder) / "meta.json"
    try:
        return bool(json.loads(meta.read_text()).get("layout") == LAYOUT)
    except (OSError, ValueError, AttributeError):
        return False


# =============================================================================================
# Writing
# =============================================================================================
def write_prepared(
    dataset: Dataset,
    out: str | Path,
    *,
    engine: str = "polars",
    options: CleanOptions | None = None,
    source: str | None = None,
) -> Path:
    """Write ``dataset`` as a prepared folder at ``out`` (atomically; see the module docstring)."""

    def write(staging: Path) -> None:
        _write_tables(dataset, staging)
        meta = {
            "layout": LAYOUT,
            "format": CACHE_FORMAT,
            "engine": engine,
            "name": dataset.name,
            "n_users": dataset.n_users,
            "n_items": dataset.n_items,
            "n_interactions": dataset.sequences.n_interactions,
            "exclude_history": dataset.exclude_history,
            "options": dataclasses.asdict(options) if options is not None else None,
            "source": source,
            "extras": _json_extras(dataset.extras),
            "sha256": {f"{t}.parquet": _sha256(staging / f"{t}.parquet") for t in TABLES},
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))

    return publish(out, write)


def _write_tables(dataset: Dataset, folder: Path) -> None:
    seqs = dataset.sequences
    write_user_item_tables(dataset, folder)
    owners = np.repeat(np.arange(len(seqs), dtype=np.int64), seqs.lengths)  # [N]
    pl.DataFrame(
        {"user_id": owners, "item": seqs.items, "timestamp": seqs.timestamps},
        schema={"user_id": pl.Int64, "item": pl.Int64, "timestamp": pl.Int64},
    ).write_parquet(folder / "interactions.parquet")


def publish(out: str | Path, write: Callable[[Path], object]) -> Path:
    """Run ``write(staging)`` on a fresh staging folder beside ``out``, then move it to ``out``.

    ``out`` may be missing, an empty folder, or a prepared folder (replaced: the old one is moved
    aside first and deleted only once the new one is in place); anything else is refused with a
    :class:`DataError` before anything is written. If ``write`` raises, nothing changes.
    """
    out = Path(out)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging = out.parent / f".{out.name}.tmp-{tag}"
    old = out.parent / f".{out.name}.old-{tag}"
    staging.mkdir()
    try:
        write(staging)
        if out.exists():
            os.replace(out, old)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out


def _check_replaceable(out: Path) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise DataError(out, "exists and is not a folder; choose another --out")
    if any(out.iterdir()) and not is_prepared(out):
        raise DataError(
            out, "exists, is not empty and is not a prepared dataset; refusing to overwrite it"
        )


# =============================================================================================
# Reading
# =============================================================================================
def read_prepared(folder: str | Path) -> Dataset:
    """The :class:`Dataset` in a prepared folder, verified (see the module docstring)."""
    folder = Path(folder)
    meta = _read_meta(folder)
    files = {table: _table_files(folder, table) for table in TABLES}
    _check_checksums(folder, meta, files)
    users, items, interactions = (_read_table(folder, t, files[t]) for t in TABLES)
    sequences = _check_sequences(folder, files, users, interactions, meta)
    n_items = sequences.n_items
    where = _shown(folder, "items", files["items"])
    if items.height != n_items + 1:
        raise DataError(where, f"has {items.height} rows, expected n_items + 1 = {n_items + 1}")
    if items["label"][0] != PAD_LABEL:
        raise DataError(where, f"row 0 must be the padding item {PAD_LABEL!r}", row=1)
    for column in ("label", "title", "category"):
        missing = items[column].null_count()
        if missing:
            raise DataError(where, f"{missing} null value(s)", field=column)
    extras: dict[str, Any] = dict(meta.get("extras") or {})
    if meta.get("has_texts", True):
        extras["item_texts"] = _strings(items["text"].fill_null("").to_list())
    return Dataset(
        name=str(meta.get("name") or folder.name),
        sequences=sequences,
        user_labels=_strings(users["label"].to_list()),
        item_labels=_strings(items["label"].to_list()),
        titles=_strings(items["title"].to_list()),
        categories=_strings(items["category"].to_list()),
        exclude_history=bool(meta["exclude_history"]),
        extras=extras,
    )


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "meta.json"
    try:
        meta = json.loads(path.read_text())
    except OSError as error:
        raise DataError(path, f"cannot read the prepared dataset's metadata: {error}") from None
    except ValueError as error:
        raise DataError(path, f"not valid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("layout") != LAYOUT:
        raise DataError(path, f'not a prepared dataset (no "layout": "{LAYOUT}")')
    missing = [key for key in _REQUIRED_META if key not in meta]
    if missing:
        raise DataError(path, f"lacks {', '.join(missing)}")
    for key in ("n_users", "n_items", "n_interactions"):
        value = meta[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DataError(path, f"{key} must be a non-negative integer, not {value!r}")
    if not isinstance(meta["sha256"], dict):
        raise DataError(path, "sha256 must map each Parquet file to its digest")
    return meta


def _table_files(folder: Path, table: str) -> list[Path]:
    """The Parquet file(s) of ``table``: ``<table>.parquet`` or ``<table>/part-*.parquet``."""
    single, parts = folder / f"{table}.parquet", folder / table
    if single.exists() and parts.exists():
        raise DataError(folder, f"has both {single.name} and {table}/; keep one")
    if single.is_file():
        return [single]
    if parts.is_dir():
        found = sorted(parts.glob("part-*.parquet"), key=lambda p: p.name)
        if not found:
            raise DataError(parts, "holds no part-*.parquet files")
        return found
    raise DataError(folder, f"no {single.name} (or {table}/ of part files) here")


def _check_checksums(folder: Path, meta: dict[str, Any], files: dict[str, list[Path]]) -> None:
    listed: dict[str, Any] = dict(meta["sha256"])
    for paths in files.values():
        for path in paths:
            key = path.relative_to(folder).as_posix()
            if key not in listed:
                raise DataError(path, "is not listed in meta.json's sha256 (a stray part file?)")
            if _sha256(path) != listed.pop(key):
                raise DataError(path, "does not match its SHA-256 in meta.json (damaged?)")
    if listed:
        missing = folder / next(iter(listed))
        raise DataError(missing, "is listed in meta.json but missing")


def _shown(folder: Path, table: str, paths: list[Path]) -> Path:
    """The path to name in errors about ``table``: its file, or its folder of parts."""
    return paths[0] if len(paths) == 1 and paths[0].parent == folder else folder / table


def _read_table(folder: Path, table: str, paths: list[Path]) -> pl.DataFrame:
    where = _shown(folder, table, paths)
    try:
        frame = pl.read_parquet(paths)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise DataError(where, f"cannot read as Parquet: {error}") from None
    selected = []
    for column, kind in _COLUMNS[table].items():
        if column not in frame.columns:
            raise DataError(
                where, f"no such column (columns: {', '.join(frame.columns)})", field=column
            )
        dtype = frame.schema[column]
        fits = dtype.is_integer() if kind == "integer" else dtype == pl.String
        if not fits:
            raise DataError(where, f"holds {dtype} values, expected {kind}s", field=column)
        selected.append(pl.col(column).cast(pl.Int64) if kind == "integer" else pl.col(column))
    return frame.select(selected)


def _check_sequences(
    folder: Path,
    files: dict[str, list[Path]],
    users: pl.DataFrame,
    interactions: pl.DataFrame,
    meta: dict[str, Any],
) -> SequenceData:
    """Counts, user ids ``0..U-1``, CSR order and item range; the :class:`SequenceData`."""
    n_users, n_items, n_interactions = (
        int(meta[key]) for key in ("n_users", "n_items", "n_interactions")
    )
    users_at = _shown(folder, "users", files["users"])
    inter_at = _shown(folder, "interactions", files["interactions"])
    if users.height != n_users:
        raise DataError(users_at, f"has {users.height} rows, meta.json says n_users = {n_users}")
    user_ids = users["user_id"].to_numpy()
    wrong = np.flatnonzero(user_ids != np.arange(n_users))
    if len(wrong):
        row = int(wrong[0])
        raise DataError(
            users_at,
            f"user_id must be 0..{n_users - 1} in order; found {user_ids[row]}",
            row=row + 1,
            field="user_id",
        )
    lengths = users["length"].to_numpy()
    if users["length"].null_count() or (len(lengths) and lengths.min() < 0):
        raise DataError(users_at, "lengths must be non-negative integers", field="length")
    if int(lengths.sum()) != n_interactions or interactions.height != n_interactions:
        raise DataError(
            inter_at,
            f"has {interactions.height} rows and the users' lengths sum to "
            f"{int(lengths.sum())}; meta.json says n_interactions = {n_interactions}",
        )
    if interactions.null_count().row(0) != (0, 0, 0):
        raise DataError(inter_at, "holds null values")
    owners = interactions["user_id"].to_numpy()
    expected = np.repeat(np.arange(n_users, dtype=np.int64), lengths)
    wrong = np.flatnonzero(owners != expected)
    if len(wrong):
        raise DataError(
            inter_at,
            "rows are not in CSR order (user_id ascending, each user's rows together, "
            "as many as users.length says)",
            row=int(wrong[0]) + 1,
            field="user_id",
        )
    items = interactions["item"].to_numpy()
    timestamps = interactions["timestamp"].to_numpy()
    bad_item = np.flatnonzero((items < 1) | (items > n_items))
    if len(bad_item):
        row = int(bad_item[0])
        raise DataError(
            inter_at, f"item {items[row]} outside 1..{n_items}", row=row + 1, field="item"
        )
    going_back = np.flatnonzero((np.diff(timestamps) < 0) & (owners[1:] == owners[:-1]))
    if len(going_back):
        row = int(going_back[0]) + 2
        raise DataError(inter_at, "a user's rows go back in time", row=row, field="timestamp")
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return SequenceData(offsets, items, timestamps, n_items, np.arange(n_users, dtype=np.int64))
