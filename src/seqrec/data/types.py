"""The data types every part of seqrec speaks.

Raw logs come in as an :class:`InteractionLog` (string ids, integer timestamps) and a
:class:`Catalog`. Cleaning maps both onto dense integer ids (``0`` is padding, items are
``1..n_items``) and produces a :class:`Dataset`: one time-ordered sequence per user, stored
ragged (CSR-style) so that a million interactions cost three flat arrays, not a million lists.

:class:`SequenceData` is what models see, both for training (``fit``) and for scoring
(``score``/``recommend``: the histories to complete).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

PADDING = 0
"""Item id 0 is reserved for padding; real items are 1..n_items."""

# Column names of a raw interaction log and a raw catalog.
LOG_COLUMNS = ("user", "item", "timestamp", "weight")
CATALOG_COLUMNS = ("item", "title", "category", "text")


@dataclass(frozen=True)
class InteractionLog:
    """A raw interaction log.

    ``frame`` has columns ``user`` (str), ``item`` (str), ``timestamp`` (int64, seconds),
    ``weight`` (float64; rating or purchase count, 1.0 when the source has none) and ``row``
    (int64, the original row order, used to break timestamp ties stably).
    """

    frame: pl.DataFrame
    source: str = "<memory>"

    def __post_init__(self) -> None:
        missing = [c for c in (*LOG_COLUMNS, "row") if c not in self.frame.columns]
        if missing:
            raise ValueError(f"{self.source}: interaction log lacks column(s) {missing}")

    def __len__(self) -> int:
        return self.frame.height


@dataclass(frozen=True)
class Catalog:
    """Item metadata: ``item`` (str), ``title`` (str), ``category`` (str), ``text`` (str)."""

    frame: pl.DataFrame

    @staticmethod
    def from_items(items: Sequence[str]) -> Catalog:
        """A catalog that knows only ids (title = id, category = "unknown")."""
        ids = [str(i) for i in items]
        return Catalog(
            pl.DataFrame(
                {"item": ids, "title": ids, "category": ["unknown"] * len(ids), "text": [""] * len(ids)}
            )
        )


@dataclass(frozen=True)
class SequenceData:
    """Ragged, time-ordered item sequences: user ``u`` owns ``items[offsets[u]:offsets[u+1]]``.

    Used for training data and for histories to score alike. ``users`` holds the dense user id
    of each row (``-1`` for a history that belongs to nobody in the data, e.g. a persona).
    """

    offsets: np.ndarray  # [U + 1] int64
    items: np.ndarray  # [N] int64 in 1..n_items
    timestamps: np.ndarray  # [N] int64 seconds
    n_items: int
    users: np.ndarray  # [U] int64

    def __post_init__(self) -> None:
        if self.offsets.ndim != 1 or self.offsets[0] != 0 or self.offsets[-1] != len(self.items):
            raise ValueError("offsets must start at 0 and end at len(items)")
        if len(self.timestamps) != len(self.items):
            raise ValueError("timestamps and items differ in length")
        if len(self.users) != len(self.offsets) - 1:
            raise ValueError("users must have one entry per sequence")
        if len(self.items) and (self.items.min() < 1 or self.items.max() > self.n_items):
            raise ValueError(f"item ids must lie in 1..{self.n_items}")

    # -- construction -------------------------------------------------------------------
    @staticmethod
    def from_lists(
        sequences: Sequence[Sequence[int]],
        n_items: int,
        timestamps: Sequence[Sequence[int]] | None = None,
        users: Sequence[int] | None = None,
    ) -> SequenceData:
        """Build from Python lists (tests, personas, ``--history`` files)."""
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        items = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=int(offsets[-1]))
        if timestamps is None:
            times = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths]) if len(lengths) else np.zeros(0, np.int64)
        else:
            times = np.fromiter((t for s in timestamps for t in s), dtype=np.int64, count=int(offsets[-1]))
        user_ids = np.arange(len(sequences), dtype=np.int64) if users is None else np.asarray(users, dtype=np.int64)
        return SequenceData(offsets, items, times.astype(np.int64), n_items, user_ids)

    # -- access ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_interactions(self) -> int:
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, row: int) -> np.ndarray:
        return self.items[self.offsets[row] : self.offsets[row + 1]]

    def sequence_timestamps(self, row: int) -> np.ndarray:
        return self.timestamps[self.offsets[row] : self.offsets[row + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for row in range(len(self)):
            yield self.sequence(row)

    def rows(self, index: np.ndarray | slice) -> SequenceData:
        """The sub-collection of the given rows (a slice or an integer array)."""
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        index = np.asarray(index, dtype=np.int64)
        starts, ends = self.offsets[index], self.offsets[index + 1]
        lengths = ends - starts
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        take = _ranges(starts, lengths)
        return SequenceData(offsets, self.items[take], self.timestamps[take], self.n_items, self.users[index])

    def truncate(self, keep: np.ndarray) -> SequenceData:
        """Keep the first ``keep[u]`` interactions of each row (prefixes)."""
        keep = np.minimum(np.asarray(keep, dtype=np.int64), self.lengths)
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(keep, out=offsets[1:])
        take = _ranges(self.offsets[:-1], keep)
        return SequenceData(offsets, self.items[take], self.timestamps[take], self.n_items, self.users.copy())

    def padded(self, max_len: int, left: bool = True) -> np.ndarray:
        """The last ``max_len`` items of each row in a dense [U, max_len] array, 0-padded.

        Left padding (the default) puts the most recent item in the last column.
        """
        out = np.zeros((len(self), max_len), dtype=np.int64)  # [U, L]
        for row in range(len(self)):
            seq = self.sequence(row)[-max_len:]
            if left:
                out[row, max_len - len(seq) :] = seq
            else:
                out[row, : len(seq)] = seq
        return out

    def fingerprint(self) -> str:
        """A SHA-256 of the sequences (offsets, items, timestamps, catalog size): the same data gives
        the same string, any change gives another. Checkpoints and artifacts record it so that one
        made on other data is refused."""
        import hashlib

        digest = hashlib.sha256(f"n_items={self.n_items};".encode())
        for array in (self.offsets, self.items, self.timestamps):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        return digest.hexdigest()

    def item_counts(self) -> np.ndarray:
        """Interactions per item id, [n_items + 1] (index 0, padding, is 0)."""
        return np.bincount(self.items, minlength=self.n_items + 1).astype(np.int64)

    def user_item_matrix(self):  # -> scipy.sparse.csr_matrix
        """Sparse [U, n_items + 1] counts of each item in each row."""
        import scipy.sparse as sp

        rows = np.repeat(np.arange(len(self)), self.lengths)
        data = np.ones(len(self.items), dtype=np.float64)
        matrix = sp.csr_matrix((data, (rows, self.items)), shape=(len(self), self.n_items + 1))
        matrix.sum_duplicates()
        return matrix


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + n)`` for each (s, n) without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    row_of = np.repeat(np.arange(len(lengths)), lengths)
    first = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=first[1:])
    return starts[row_of] + (np.arange(total) - first[row_of])


@dataclass(frozen=True)
class ItemInfo:
    """Side information of every item, aligned to dense ids (index 0 = padding), as ``fit`` gets it.

    ``labels``: original ids; ``titles``, ``categories``, ``texts``: strings (``""`` where the
    catalog has none); ``attributes``: further per-item columns by name (each ``[n_items + 1]``).
    """

    labels: np.ndarray  # [n_items + 1] str
    titles: np.ndarray  # [n_items + 1] str
    categories: np.ndarray  # [n_items + 1] str
    texts: np.ndarray  # [n_items + 1] str
    attributes: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        columns = {"titles": self.titles, "categories": self.categories, "texts": self.texts, **self.attributes}
        for name, column in columns.items():
            if len(column) != len(self.labels):
                raise ValueError(f"ItemInfo.{name} has {len(column)} rows, labels {len(self.labels)}")

    @property
    def n_items(self) -> int:
        return len(self.labels) - 1

    @property
    def has_text(self) -> bool:
        """Whether any item has free text (beyond its title)."""
        return bool(np.any(self.texts[1:] != ""))

    @staticmethod
    def ids_only(n_items: int) -> ItemInfo:
        """Item info that knows nothing but the ids ``1..n_items`` (tests, synthetic worlds)."""
        labels = np.array(["<pad>", *map(str, range(1, n_items + 1))], dtype=object)
        return ItemInfo(labels, labels.copy(), np.array(["", *["unknown"] * n_items], dtype=object), np.full(n_items + 1, "", dtype=object))


NO_CATEGORY = frozenset({"", "unknown", "<pad>"})
"""Category values that say nothing about an item (left out of its document)."""


def item_documents(items: ItemInfo) -> list[str]:
    """One document per item for a text encoder, ``[n_items + 1]`` strings (``""`` at padding):
    ``"<title>. Category: <category>. <text>"``.

    A category that says nothing (``"unknown"``, empty) is left out, and so is the title at the
    start of a text that already begins with it (MovieLens and Amazon texts do). An item without
    text is its title and category, so ids-only item info still gives one distinct document per
    item (its id).
    """
    documents = [""]
    for title, category, text in zip(items.titles[1:], items.categories[1:], items.texts[1:]):
        title, category, text = str(title).strip(), str(category).strip(), str(text).strip()
        if title and text.startswith(title):
            text = text[len(title) :].lstrip(" .,;:-")
        parts = [title] if title else []
        if category not in NO_CATEGORY:
            parts.append(f"Category: {category}")
        if text:
            parts.append(text)
        documents.append(". ".join(part.rstrip(".") for part in parts) + ("." if parts else ""))
    return documents


@dataclass(frozen=True)
class Dataset:
    """A cleaned dataset with dense ids.

    ``sequences`` holds every user's full, time-ordered history (row ``u`` = user ``u``).
    ``item_labels[i]`` is the original id of item ``i`` (index 0 is ``"<pad>"``);
    ``titles``/``categories`` are aligned the same way.
    """

    name: str
    sequences: SequenceData
    user_labels: np.ndarray  # [U] str, original user ids
    item_labels: np.ndarray  # [n_items + 1] str
    titles: np.ndarray  # [n_items + 1] str
    categories: np.ndarray  # [n_items + 1] str
    exclude_history: bool = True
    """Whether items already in a user's history are removed from recommendations."""
    extras: dict = field(default_factory=dict)
    """Source-specific additions (the shop world puts its generator and personas here)."""

    @property
    def n_items(self) -> int:
        return self.sequences.n_items

    @property
    def n_users(self) -> int:
        return len(self.sequences)

    def item_info(self) -> ItemInfo:
        """The catalog's side information for ``fit`` (titles, categories, free text, attributes)."""
        texts = self.extras.get("item_texts")
        if texts is None:
            texts = np.full(len(self.item_labels), "", dtype=object)
        attributes = dict(self.extras.get("item_attributes", {}))
        return ItemInfo(self.item_labels, self.titles, self.categories, np.asarray(texts, dtype=object), attributes)

    def item_id(self, label: str) -> int:
        """Dense id of an original item id; raises KeyError naming the id."""
        lookup = self.extras.get("_item_lookup")
        if lookup is None:
            lookup = {str(label): i for i, label in enumerate(self.item_labels)}
            self.extras["_item_lookup"] = lookup
        if label not in lookup or lookup[label] == PADDING:
            raise KeyError(f"unknown item id {label!r} in dataset {self.name!r}")
        return int(lookup[label])
