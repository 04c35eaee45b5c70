"""Cleaning: a raw :class:`InteractionLog` becomes a :class:`Dataset` with dense ids; and the cache.

The steps, in order (:func:`clean`):

1. ``min_rating``: drop interactions whose weight (rating) is below it.
2. ``drop_duplicates``: keep the first of interactions with the same (user, item, timestamp):
   a double-logged click, not a re-purchase (a re-purchase has a later timestamp).
3. k-core: drop users with fewer than ``min_user_interactions`` and items with fewer than
   ``min_item_interactions`` interactions, **repeated until nothing changes** - dropping a
   user can push an item below its minimum and the other way round, so one pass is not enough.
   The result is the unique largest sub-log meeting both minimums.
4. Order: every interaction is sorted by (timestamp, original row), stably, because timestamps
   tie often (MovieLens records several ratings in the same second) and the file order is the
   only honest tie-breaker.
5. Dense ids in that order: users get ``0..U-1`` and items ``1..n_items`` (``0`` is padding) by
   their first appearance in the time-sorted log, so id order is "who/what showed up first" and
   does not depend on how the source spelled its ids.

:func:`load_cached` stores a built Dataset as Parquet files plus a small JSON under a key made
from the input files and options; see its docstring for the guarantees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqrec.data.errors import DataError
from seqrec.data.types import PADDING, Catalog, Dataset, InteractionLog, SequenceData

PAD_LABEL = "<pad>"
UNKNOWN_CATEGORY = "unknown"


@dataclass(frozen=True)
class CleanOptions:
    """How a raw log is filtered before it becomes sequences."""

    min_rating: float | None = None
    """Drop interactions with a weight (rating) below this; ``None`` keeps all."""
    drop_duplicates: bool = True
    """Keep only the first of identical (user, item, timestamp) interactions."""
    min_user_interactions: int = 1
    """k-core: users need at least this many interactions (iterated to a fixpoint with items)."""
    min_item_interactions: int = 1
    """k-core: items need at least this many interactions."""
    exclude_history: bool = False
    """Whether recommendations for a user leave out items already in their history."""

    def __post_init__(self) -> None:
        if self.min_user_interactions < 1 or self.min_item_interactions < 1:
            raise ValueError("min_user_interactions and min_item_interactions must be >= 1")


def clean(
    log: InteractionLog,
    catalog: Catalog | None = None,
    options: CleanOptions | None = None,
    name: str | None = None,
) -> Dataset:
    """Filter ``log`` per ``options``, map ids densely and build the :class:`Dataset`.

    Items absent from ``catalog`` get their original id as title and ``"unknown"`` as category.
    ``extras["item_texts"]`` holds the catalog's free text aligned to item ids (``""`` if none).
    """
    options = options or CleanOptions()
    frame = _filter(log.frame, options)
    if frame.height == 0:
        raise DataError(log.source, f"no interactions left after cleaning with {options}")
    frame = frame.sort(["timestamp", "row"])  # a total order: rows are unique
    user_labels = frame["user"].unique(maintain_order=True)
    item_labels = frame["item"].unique(maintain_order=True)
    frame = frame.with_columns(
        pl.col("user")
        .replace_strict(user_labels, range(len(user_labels)), return_dtype=pl.Int64)
        .alias("uid"),
        pl.col("item")
        .replace_strict(item_labels, range(1, len(item_labels) + 1), return_dtype=pl.Int64)
        .alias("iid"),
    )
    sequences = _sequences(frame, n_users=len(user_labels), n_items=len(item_labels))
    return cleaned_dataset(name or log.source, sequences, user_labels, item_labels, catalog, options)


def cleaned_dataset(
    name: str,
    sequences: SequenceData,
    user_labels: pl.Series,
    item_labels: pl.Series,
    catalog: Catalog | None,
    options: CleanOptions,
) -> Dataset:
    """The :class:`Dataset` of cleaned CSR ``sequences`` whose dense ids ``0..U-1`` and
    ``1..n_items`` are the positions of ``user_labels`` / ``item_labels`` (the eager and the
    streaming cleaner both end here)."""
    titles, categories, texts = _align_catalog(item_labels, catalog)
    return Dataset(
        name=name,
        sequences=sequences,
        user_labels=_strings(user_labels.to_list()),
        item_labels=_strings([PAD_LABEL, *item_labels.to_list()]),
        titles=titles,
        categories=categories,
        exclude_history=options.exclude_history,
        extras={"item_texts": texts},
    )


def _filter(frame: pl.DataFrame, options: CleanOptions) -> pl.DataFrame:
    if options.min_rating is not None:
        frame = frame.filter(pl.col("weight") >= options.min_rating)
    if options.drop_duplicates:
        frame = frame.sort("row").unique(
            subset=["user", "item", "timestamp"], keep="first", maintain_order=True
        )
    return k_core(frame, options.min_user_interactions, options.min_item_interactions)


def k_core(frame: pl.DataFrame, min_user: int, min_item: int) -> pl.DataFrame:
    """Rows of ``frame`` whose user has >= ``min_user`` and item >= ``min_item`` rows, at a fixpoint.

    Each pass drops every row whose user or item is under its minimum *in the current frame*;
    passes repeat until one drops nothing.
    """
    if min_user <= 1 and min_item <= 1:
        return frame
    while True:
        kept = frame.filter(
            (pl.len().over("user") >= min_user) & (pl.len().over("item") >= min_item)
        )
        if kept.height == frame.height:
            return kept
        frame = kept


def _sequences(frame: pl.DataFrame, n_users: int, n_items: int) -> SequenceData:
    """CSR sequences: row ``u`` = dense user ``u``; within a row, (timestamp, row) order.

    ``frame`` is already in (timestamp, row) order, so a stable sort by user keeps it.
    """
    user_ids = frame["uid"].to_numpy()  # [N]
    by_user = np.argsort(user_ids, kind="stable")  # [N]
    lengths = np.bincount(user_ids, minlength=n_users).astype(np.int64)  # [U]
    offsets = np.zeros(n_users + 1, dtype=np.int64)  # [U + 1]
    np.cumsum(lengths, out=offsets[1:])
    return SequenceData(
        offsets=offsets,
        items=frame["iid"].to_numpy().astype(np.int64)[by_user],  # [N]
        timestamps=frame["timestamp"].to_numpy().astype(np.int64)[by_user],  # [N]
        n_items=n_items,
        users=np.arange(n_users, dtype=np.int64),
    )


def _align_catalog(
    item_labels: pl.Series, catalog: Catalog | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Titles, categories and texts indexed by dense item id (index 0 = padding)."""
    ids = pl.DataFrame({"item": item_labels})
    if catalog is None:
        joined = ids.with_columns(
            pl.lit(None, pl.String).alias("title"),
            pl.lit(None, pl.String).alias("category"),
            pl.lit(None, pl.String).alias("text"),
        )
    else:
        meta = catalog.frame.select(
            pl.col("item").cast(pl.String),
            *[
                pl.col(c).cast(pl.String)
                if c in catalog.frame.columns
                else pl.lit(None, pl.String).alias(c)
                for c in ("title", "category", "text")
            ],
        ).unique(subset="item", keep="first", maintain_order=True)
        joined = ids.join(meta, on="item", how="left", maintain_order="left")
    joined = joined.with_columns(
        pl.when(pl.col("title").fill_null("") == "")
        .then(pl.col("item"))
        .otherwise(pl.col("title"))
        .alias("title"),
        pl.when(pl.col("category").fill_null("") == "")
        .then(pl.lit(UNKNOWN_CATEGORY))
        .otherwise(pl.col("category"))
        .alias("category"),
        pl.col("text").fill_null(""),
    )
    return (
        _strings([PAD_LABEL, *joined["title"].to_list()]),
        _strings([PAD_LABEL, *joined["category"].to_list()]),
        _strings(["", *joined["text"].to_list()]),
    )


def _strings(values: Sequence[str]) -> np.ndarray:
    """A 1-D object array of Python str (fixed-width '<U' would pad every title to the longest)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


# =============================================================================================
# Cache
# =============================================================================================
CACHE_FORMAT = 3
"""Bumped whenever the stored layout or the cleaning rules change, so old entries are ignored.
2: numeric timestamps of tables and atomic files are read in a unit told by their magnitude.
3: Amazon item texts carry the brand and the category paths."""
_CONTENT_HASH_LIMIT = 8 * 2**20  # files up to 8 MiB are keyed by content, larger by size + mtime
_FILES = ("users.parquet", "items.parquet", "interactions.parquet")


class CacheCorruptError(Exception):
    """A cache entry that cannot be trusted (missing file, bad checksum, inconsistent data)."""


def cache_key(key_inputs: Sequence[object]) -> str:
    """A hex digest of the inputs: a :class:`Path` contributes its files' (relative path, size,
    content hash for files up to 8 MiB or mtime beyond); a dataclass (e.g. CleanOptions) its
    fields; anything else its ``repr``. Plain strings are values, not paths."""
    digest = hashlib.sha256(f"seqrec-cache-{CACHE_FORMAT}".encode())
    for value in key_inputs:
        digest.update(_describe_key_input(value).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def _describe_key_input(value: object) -> str:
    if isinstance(value, Path):
        return _describe_path(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = json.dumps(dataclasses.asdict(value), sort_keys=True, default=str)
        return f"{type(value).__name__}{fields}"
    return repr(value)


def _describe_path(path: Path) -> str:
    path = path.resolve()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return (
            f"dir:{path}[" + ";".join(_describe_file(p, p.relative_to(path)) for p in files) + "]"
        )
    if path.is_file():
        return _describe_file(path, path)
    return f"missing:{path}"


def _describe_file(path: Path, shown: Path) -> str:
    stat = path.stat()
    if stat.st_size <= _CONTENT_HASH_LIMIT:
        return f"{shown}:{stat.st_size}:sha256={_sha256(path)}"
    return f"{shown}:{stat.st_size}:mtime={stat.st_mtime_ns}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_cached(
    key_inputs: Sequence[object],
    build_fn: Callable[[], Dataset],
    cache_dir: str | Path,
    report: Callable[[str], None] | None = None,
) -> Dataset:
    """The Dataset for ``key_inputs`` from ``cache_dir``, building (and storing) it on a miss.

    * An entry is a directory ``<cache_dir>/datasets/<key>/`` of Parquet files plus
      ``meta.json`` (names, flags, and the SHA-256 of each Parquet file). It is written in a
      temporary sibling directory and moved into place with one ``os.replace``, so a crash
      never leaves a half-written entry under the real name.
    * A damaged entry (missing file, checksum mismatch, unreadable or inconsistent data) is
      reported, deleted and rebuilt, never trusted.
    * If ``build_fn`` raises, nothing is written. If the cache cannot be written (read-only
      disk) the built dataset is returned anyway, with a report.
    * A write first removes the staging folders that writers killed mid-write (``kill -9``,
      a power cut) left behind; see :func:`remove_stale_staging` for which ones.
    * Hit and miss return the same thing: what the entry holds. ``extras`` keeps
      ``item_texts`` and JSON-serialisable values; other extras are dropped.
    """
    say = report or (lambda message: None)
    root = Path(cache_dir) / "datasets"
    entry = root / cache_key(key_inputs)
    if entry.exists():
        try:
            return read_entry(entry)
        except CacheCorruptError as error:
            say(f"cache entry {entry.name} is damaged ({error}); rebuilding it")
            shutil.rmtree(entry, ignore_errors=True)
    dataset = build_fn()
    try:
        removed = remove_stale_staging(root)
        if removed:
            say(f"removed {len(removed)} staging folder(s) left by interrupted cache writes")
        _write_entry_atomically(dataset, entry)
    except OSError as error:
        say(f"could not write the cache entry {entry} ({error}); continuing without the cache")
        return dataset
    try:
        return read_entry(entry)
    except CacheCorruptError as error:  # the disk returned something else than was written
        say(f"cache entry {entry.name} failed to read back ({error}); continuing without it")
        return dataset


STALE_STAGING_SECONDS = 3600
"""Age after which a staging folder whose writer cannot be checked (another host's, or one named
before names carried the host) counts as abandoned: no cache write takes an hour."""
_STAGING_NAME = re.compile(
    r"^\.(?P<key>[0-9a-f]+)\.tmp-(?:(?P<host>.+)-)?(?P<pid>\d+)-(?P<tag>[0-9a-f]{8})$"
)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _staging_name(entry: Path) -> str:
    """``.<key>.tmp-<host>-<pid>-<random>``: who is writing it, so a later run can tell whether
    the writer is still alive."""
    return f".{entry.name}.tmp-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def remove_stale_staging(root: Path, now: float | None = None) -> list[Path]:
    """Remove the staging folders under ``root`` that no live writer owns; return them.

    A staging folder (:func:`_staging_name`) is removed when it was made on this host by a
    process that is no longer running, or - when its writer cannot be checked (another host's
    folder in a shared cache, an old-style name without the host, a system without a way to
    probe a PID) - when it is older than :data:`STALE_STAGING_SECONDS`. A folder of a running
    process on this host is never removed, however old (if its PID was reused, it goes once
    that process ends). Finished entries and other files are never touched.
    """
    now = time.time() if now is None else now
    removed = []
    try:
        children = list(root.iterdir())
    except OSError:  # no cache yet, or not readable
        return []
    for path in children:
        match = _STAGING_NAME.match(path.name)
        if match is None or not path.is_dir() or path.is_symlink():
            continue
        running = _pid_running(int(match["pid"])) if match["host"] == _host() else None
        try:
            old = now - path.stat().st_mtime > STALE_STAGING_SECONDS
        except OSError:
            continue
        if running is False or (running is None and old):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _pid_running(pid: int) -> bool | None:
    """Whether a process ``pid`` runs on this host; ``None`` where that cannot be probed."""
    if os.name != "posix":  # on Windows, signal 0 is CTRL_C_EVENT: no probing there
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def _write_entry_atomically(dataset: Dataset, entry: Path) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = entry.parent / _staging_name(entry)
    try:
        staging.mkdir()
        write_entry(dataset, staging)
        try:
            os.replace(staging, entry)
        except OSError:
            if not (entry / "meta.json").exists():  # not a concurrent writer's finished entry
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_entry(dataset: Dataset, directory: Path) -> None:
    """Write ``dataset`` into ``directory``: three Parquet files, then ``meta.json`` last."""
    seqs = dataset.sequences
    write_user_item_tables(dataset, directory)
    texts = dataset.extras.get("item_texts")
    pl.DataFrame({"item": seqs.items, "timestamp": seqs.timestamps}).write_parquet(
        directory / "interactions.parquet"
    )
    meta = {
        "format": CACHE_FORMAT,
        "name": dataset.name,
        "n_items": seqs.n_items,
        "n_users": len(seqs),
        "n_interactions": seqs.n_interactions,
        "exclude_history": dataset.exclude_history,
        "has_texts": texts is not None,
        "extras": _json_extras(dataset.extras),
        "sha256": {name: _sha256(directory / name) for name in _FILES},
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))


def write_user_item_tables(dataset: Dataset, directory: Path) -> None:
    """``users.parquet`` (label, user_id, length) and ``items.parquet`` (label, title, category,
    text; row 0 = padding) of ``dataset``: the tables a cache entry and a prepared folder share."""
    seqs = dataset.sequences
    pl.DataFrame(
        {"label": dataset.user_labels.tolist(), "user_id": seqs.users, "length": seqs.lengths},
        schema={"label": pl.String, "user_id": pl.Int64, "length": pl.Int64},
    ).write_parquet(directory / "users.parquet")
    texts = dataset.extras.get("item_texts")
    pl.DataFrame(
        {
            "label": dataset.item_labels.tolist(),
            "title": dataset.titles.tolist(),
            "category": dataset.categories.tolist(),
            "text": list(texts) if texts is not None else [""] * len(dataset.item_labels),
        },
        schema={"label": pl.String, "title": pl.String, "category": pl.String, "text": pl.String},
    ).write_parquet(directory / "items.parquet")


def _json_extras(extras: dict[str, Any]) -> dict[str, Any]:
    kept = {}
    for key, value in extras.items():
        if key.startswith("_") or key == "item_texts":
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[key] = value
    return kept


def read_entry(directory: Path) -> Dataset:
    """Read and verify an entry; any doubt raises :class:`CacheCorruptError`."""
    try:
        meta = json.loads((directory / "meta.json").read_text())
        if meta.get("format") != CACHE_FORMAT:
            raise CacheCorruptError(f"format {meta.get('format')} != {CACHE_FORMAT}")
        for name in _FILES:
            if _sha256(directory / name) != meta["sha256"][name]:
                raise CacheCorruptError(f"{name} does not match its checksum")
        return _dataset_from_entry(directory, meta)
    except CacheCorruptError:
        raise
    except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError) as error:
        raise CacheCorruptError(f"{type(error).__name__}: {error}") from error


def _dataset_from_entry(directory: Path, meta: dict[str, Any]) -> Dataset:
    users = pl.read_parquet(directory / "users.parquet")
    items = pl.read_parquet(directory / "items.parquet")
    interactions = pl.read_parquet(directory / "interactions.parquet")
    lengths = users["length"].to_numpy().astype(np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    sequences = SequenceData(  # validates offsets, id range and lengths
        offsets=offsets,
        items=interactions["item"].to_numpy().astype(np.int64),
        timestamps=interactions["timestamp"].to_numpy().astype(np.int64),
        n_items=int(meta["n_items"]),
        users=users["user_id"].to_numpy().astype(np.int64),
    )
    if items.height != sequences.n_items + 1 or items["label"][PADDING] != PAD_LABEL:
        raise CacheCorruptError("item table does not match n_items")
    extras: dict[str, Any] = dict(meta.get("extras", {}))
    if meta.get("has_texts"):
        extras["item_texts"] = _strings(items["text"].to_list())
    return Dataset(
        name=str(meta["name"]),
        sequences=sequences,
        user_labels=_strings(users["label"].to_list()),
        item_labels=_strings(items["label"].to_list()),
        titles=_strings(items["title"].to_list()),
        categories=_strings(items["category"].to_list()),
        exclude_history=bool(meta["exclude_history"]),
        extras=extras,
    )
