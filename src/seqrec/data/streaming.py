"""Cleaning on Polars' streaming engine: :func:`clean_lazy`, the twin of :func:`cleaning.clean`.

:func:`seqrec.data.cleaning.clean` holds the whole log in memory as strings and sorts, filters
and maps it eagerly; for MovieLens-20M (20 million ratings) that is several copies of a
multi-gigabyte frame. :func:`clean_lazy` runs the same steps (the module docstring of
:mod:`seqrec.data.cleaning` defines them) on a :class:`LazyLog` with
``collect(engine="streaming")``, and returns exactly the same :class:`Dataset` - same
sequences, labels, titles and order - which ``tests/data/test_streaming.py`` checks against
``clean`` on random logs.

How it stays small:

1. The string ids are replaced by integer codes at once (one streamed ``unique`` per column, a
   join against it), so everything after works on four narrow columns: user code, item code,
   timestamp, row (24 bytes a row instead of two strings and a float).
2. ``min_rating`` and ``drop_duplicates`` (a streamed ``group_by`` keeping the smallest row of
   each (user, item, timestamp): the first, as ``clean`` keeps it) run in the same pass that
   reads the file, which is the only one that sees the text.
3. The k-core fixpoint needs one collect per pass: each pass counts users and items of the
   current narrow frame, and when some are under their minimum, drops them (anti-joins) from
   both at once, as ``cleaning.k_core`` does; it stops at the first pass that finds none.
4. Dense ids come from each user's (item's) first position in (timestamp, row) order, and the
   CSR arrays from one sort by (user id, timestamp, row): the stable sort by user of the
   time-ordered log that ``clean`` does, since rows are unique.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from seqrec.data.cleaning import CleanOptions, cleaned_dataset
from seqrec.data.errors import DataError
from seqrec.data.loaders.common import LazyLog
from seqrec.data.types import Catalog, Dataset, InteractionLog, SequenceData

_NARROW = ("u", "i", "timestamp", "row")  # user code, item code, seconds, original row


def lazy_log(log: InteractionLog) -> LazyLog:
    """An in-memory log as a :class:`LazyLog` (to compare the two cleaners on the same data)."""
    return LazyLog(log.frame.lazy(), log.source)


def clean_lazy(
    log: LazyLog,
    catalog: Catalog | None = None,
    options: CleanOptions | None = None,
    name: str | None = None,
) -> Dataset:
    """``clean(log, catalog, options, name)`` computed on the streaming engine (module docstring)."""
    options = options or CleanOptions()
    frame = log.frame.select("user", "item", "timestamp", "weight", "row")
    if options.min_rating is not None:
        frame = frame.filter(pl.col("weight") >= options.min_rating)
    user_codes, item_codes = pl.collect_all(
        [_codes(frame, "user"), _codes(frame, "item")], engine="streaming"
    )
    narrow = (
        frame.join(user_codes.lazy(), left_on="user", right_on="label")
        .rename({"code": "u"})
        .join(item_codes.lazy(), left_on="item", right_on="label")
        .rename({"code": "i"})
        .select(_NARROW)
    )
    if options.drop_duplicates:  # keep the first (smallest row) of each (user, item, timestamp)
        narrow = narrow.group_by("u", "i", "timestamp").agg(pl.col("row").min())
    kept = k_core_lazy(
        narrow.collect(engine="streaming"),
        options.min_user_interactions,
        options.min_item_interactions,
    )
    if kept.height == 0:
        raise DataError(log.source, f"no interactions left after cleaning with {options}")
    user_ids, item_ids = _dense_ids(kept)
    sequences = _sequences(kept, user_ids, item_ids)
    user_labels = _labels_in_id_order(user_ids, user_codes, "u")
    item_labels = _labels_in_id_order(item_ids, item_codes, "i")
    return cleaned_dataset(name or log.source, sequences, user_labels, item_labels, catalog, options)


def _codes(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """``label`` (each distinct value of ``column``) and an arbitrary integer ``code``."""
    return frame.select(pl.col(column).unique().alias("label")).with_row_index("code")


def k_core_lazy(frame: pl.DataFrame, min_user: int, min_item: int) -> pl.DataFrame:
    """``cleaning.k_core`` on the narrow frame (``u``, ``i``, ...), one streamed pass at a time.

    Each pass finds the users with fewer than ``min_user`` rows and the items with fewer than
    ``min_item`` rows *in the current frame* and drops the rows of both; it repeats until a
    pass finds none. Only the (small) lists of users and items to drop are collected besides
    the frame itself.
    """
    if min_user <= 1 and min_item <= 1:
        return frame
    while True:
        current = frame.lazy()
        few_users = _under(current, "u", min_user)
        few_items = _under(current, "i", min_item)
        drop_users, drop_items = pl.collect_all([few_users, few_items], engine="streaming")
        if drop_users.height == 0 and drop_items.height == 0:
            return frame
        frame = (
            current.join(drop_users.lazy(), on="u", how="anti")
            .join(drop_items.lazy(), on="i", how="anti")
            .collect(engine="streaming")
        )


def _under(frame: pl.LazyFrame, column: str, minimum: int) -> pl.LazyFrame:
    counts = frame.group_by(column).agg(pl.len().alias("n"))
    return counts.filter(pl.col("n") < minimum).select(column)


def _dense_ids(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``u`` -> ``uid`` 0..U-1, ``i`` -> ``iid`` 1..n) by first appearance in (timestamp, row)
    order: each code's first position in that order, ranked."""
    ordered = frame.lazy().sort("timestamp", "row").with_row_index("position")

    def by_first_position(code: str, dense: str, offset: int) -> pl.LazyFrame:
        first = ordered.group_by(code).agg(pl.col("position").min()).sort("position")
        return first.with_row_index(dense, offset=offset).select(code, dense)

    users, items = pl.collect_all(
        [by_first_position("u", "uid", 0), by_first_position("i", "iid", 1)], engine="streaming"
    )
    return users, items


def _sequences(frame: pl.DataFrame, user_ids: pl.DataFrame, item_ids: pl.DataFrame) -> SequenceData:
    """CSR sequences: row ``u`` = dense user ``u``; within a row, (timestamp, row) order."""
    csr = (
        frame.lazy()
        .join(user_ids.lazy(), on="u")
        .join(item_ids.lazy(), on="i")
        .sort("uid", "timestamp", "row")
        .select("uid", "iid", "timestamp")
        .collect(engine="streaming")
    )
    n_users = user_ids.height
    lengths = np.bincount(csr["uid"].to_numpy(), minlength=n_users).astype(np.int64)  # [U]
    offsets = np.zeros(n_users + 1, dtype=np.int64)  # [U + 1]
    np.cumsum(lengths, out=offsets[1:])
    return SequenceData(
        offsets=offsets,
        items=csr["iid"].to_numpy().astype(np.int64),  # [N]
        timestamps=csr["timestamp"].to_numpy().astype(np.int64),  # [N]
        n_items=item_ids.height,
        users=np.arange(n_users, dtype=np.int64),
    )


def _labels_in_id_order(dense: pl.DataFrame, codes: pl.DataFrame, code: str) -> pl.Series:
    """The original labels of ``dense`` (code -> dense id, in dense-id order)."""
    named = dense.join(codes.rename({"code": code}), on=code, how="left", maintain_order="left")
    return named["label"]
