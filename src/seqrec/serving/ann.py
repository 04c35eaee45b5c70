"""Top-k by inner product at catalog scale: an approximate index (faiss) and the exact reference.

A model that declares ``capabilities.embedding_scores`` scores a history by the dot product of
one query vector with every item vector (:meth:`~seqrec.models.base.Recommender.query_vectors`,
:meth:`~seqrec.models.base.Recommender.item_vectors`). Its top-k is then a maximum-inner-product
search (MIPS), which an index answers without scoring the whole catalog.

Both indexes here share one interface, built from the item vectors ``[n_items + 1, D]`` (row 0 is
padding and is never returned)::

    index.search(queries [B, D], k, exclude=None) -> item ids [B, k]
    index.search_with_scores(queries, k, exclude) -> (ids [B, k], scores [B, k])

``exclude``: one sequence of item ids per query row that may not be returned (a history). The
returned scores are ``query · item`` recomputed exactly for the returned items, and equal scores
order by the smaller id, as :func:`seqrec.ranking.top_k` orders them.

* :class:`ExactIndex`: a numpy matrix product and the shared :func:`~seqrec.ranking.top_k`, in
  chunks of queries; the reference, equal to ``model.recommend``.
* :class:`ItemIndex`: a faiss index, ``"hnsw"`` (a proximity graph, the default) or ``"ivf"``
  (an inverted file of k-means cells). Its results are *approximate*: an artifact holding one
  says ``"retrieval": "ann:faiss"`` in its manifest, and :attr:`ItemIndex.retrieval` says the same.

On a million clustered 64-d vectors (``bench/results/ann_recall.md``, one thread) HNSW's default
finds 95% of the exact top-10 at about 40 times exact search's speed; IVF reaches that recall at
about 9 times (its scan of the probed cells is memory-bound, where exact search's blocked matmul
is not; its default ``nprobe`` is more conservative: 99% at 2 times) but builds 7 times faster,
deterministically, in half the memory.

Why faiss (faiss-cpu) rather than usearch
-----------------------------------------
* **Both index kinds in one library**: HNSW, and IVF (trains in under a minute on a million
  vectors, deterministic for a fixed seed and thread count); usearch offers HNSW only.
* **Maximum inner product**: both support an inner-product metric, but graph and k-means indexes
  are built for metric distances. Here the MIPS-to-L2 reduction (Bachrach et al. 2014, "Speeding
  Up the Xbox Recommender System Using a Euclidean Transformation for Inner-Product Spaces") is
  used: item ``v -> [v, sqrt(M² - |v|²)]`` with ``M`` the largest item norm, query
  ``q -> [q, 0]``; then ``|q' - v'|² = |q|² + M² - 2 q·v``, so the nearest item in L2 is the one
  with the largest inner product, exactly. A per-item bias is already folded into ``v`` by the model.
* **Exclusion**: faiss has an id-selector filter API; a history is small next to a catalog, so
  the index fetches ``k + (most excluded items of any row)`` candidates and filters them, one
  batched call for all rows (HNSW then explores at least twice that many); a row left short (an
  IVF probe that found too few) falls back to exact search, so a row always gets ``k`` items
  when the catalog has them.
* **Threads**: ``faiss.omp_set_num_threads`` (set per search from :attr:`ItemIndex.threads`).
* **Serialisation without pickle**: ``faiss.serialize_index`` writes faiss's own binary format to
  bytes; the artifact stores them as one file listed with its size and SHA-256. The build
  settings live in the manifest (JSON).
* **Install size**: the faiss-cpu wheel is about 25 MB installed (usearch: a few MB); it has
  wheels for Linux, macOS and Windows and depends on numpy only. Optional extra ``seqrec[ann]``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol

import numpy as np

from seqrec.ranking import NEG_INF, top_k

LIBRARY = "faiss"
RETRIEVAL_EXACT = "exact"
RETRIEVAL_ANN = f"ann:{LIBRARY}"
INDEX_FILE = "index.faiss"
EXACT_CHUNK_CELLS = 32_000_000
"""Exact search scores at most this many (query, item) pairs at once (128 MB of float32)."""

MIN_SCANNED = 4_096
"""The default IVF ``nprobe`` searches cells holding at least this many items on average."""

IndexMethod = Literal["ivf", "hnsw"]
ExcludedItems = Sequence[Sequence[int] | np.ndarray]
"""Per query row, the item ids it may not get (a list or an array of ids)."""


class RetrievalIndex(Protocol):
    """What :class:`~seqrec.serving.inference.Predictor` needs of an index (both below are one)."""

    retrieval: str

    def search_with_scores(
        self, queries: np.ndarray, k: int, exclude: ExcludedItems | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


class IndexFileError(ValueError):
    """Index bytes or settings that do not describe an index of these item vectors."""


class MissingExtraError(ImportError, ValueError):
    """An optional package is not installed; the message names the extra that installs it (a
    ``ValueError`` too, so the CLI reports it as one line with exit code 2)."""


def require_faiss() -> Any:
    """The faiss module, or a :class:`MissingExtraError` naming the extra that installs it."""
    try:
        import faiss
    except ImportError as error:
        raise MissingExtraError(
            "the approximate index needs faiss-cpu: pip install 'seqrec[ann]' (or pip install faiss-cpu)"
        ) from error
    return faiss


@dataclass(frozen=True)
class IndexSettings:
    """How an :class:`ItemIndex` is built and searched (stored in the artifact's manifest).

    HNSW: ``hnsw_m`` graph neighbours per node, ``ef_construction`` and ``ef_search`` candidates
    explored while building and searching. IVF: ``nlist`` cells, by default ``sqrt(n)`` (at most
    ``n / 39``, faiss's minimum of training points per cell), ``nprobe`` of them searched, by
    default ``nlist / 8`` and enough cells for at least :data:`MIN_SCANNED` items (scanning that
    few costs nothing; a small catalog is scanned whole). ``bench/results/ann_recall.md`` has
    the recall and speed of other settings.
    """

    method: IndexMethod = "hnsw"
    nlist: int | None = None
    nprobe: int | None = None
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("ivf", "hnsw"):
            raise ValueError(f"index method must be 'ivf' or 'hnsw', got {self.method!r}")
        for name in ("nlist", "nprobe", "hnsw_m", "ef_construction", "ef_search"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"index setting {name} must be a positive integer, got {value!r}")

    def resolved(self, n_items: int) -> IndexSettings:
        """These settings with IVF's ``nlist`` and ``nprobe`` filled in for ``n_items`` items."""
        if self.method == "hnsw":
            return replace(self, nlist=None, nprobe=None)
        nlist = self.nlist or max(1, min(round(math.sqrt(n_items)), n_items // 39))
        nlist = min(nlist, n_items)
        nprobe = min(self.nprobe or max(1, math.ceil(nlist / 8), math.ceil(nlist * MIN_SCANNED / n_items)), nlist)
        return IndexSettings(self.method, nlist, nprobe, self.hnsw_m, self.ef_construction, self.ef_search, self.seed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(values: Mapping[str, Any]) -> IndexSettings:
        known = {name: values[name] for name in IndexSettings.__dataclass_fields__ if name in values}
        try:
            return IndexSettings(**known)
        except TypeError as error:
            raise IndexFileError(f"index settings {dict(values)} are not valid: {error}") from None


# -- the exact reference ----------------------------------------------------------------------------
class VectorIndex(ABC):
    """What both indexes share: the item vectors ``[n_items + 1, D]`` and the search interface."""

    retrieval: str
    vectors: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.vectors) - 1

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def search(self, queries: np.ndarray, k: int, exclude: ExcludedItems | None = None) -> np.ndarray:
        """Item ids [B, min(k, n_items)], best first; never padding, never an excluded item
        unless fewer than ``k`` others are left."""
        return self.search_with_scores(queries, k, exclude)[0]

    @abstractmethod
    def search_with_scores(
        self, queries: np.ndarray, k: int, exclude: ExcludedItems | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` and the exact scores [B, k] of the items it returns."""

    def _checked(self, queries: np.ndarray, k: int, exclude: ExcludedItems | None) -> tuple[np.ndarray, int, list[np.ndarray]]:
        """The queries as float32 [B, D], ``k`` cut to the catalog, the excluded ids per row."""
        queries = checked_queries(queries, self.dim)
        return queries, max(0, min(k, self.n_items)), excluded_rows(exclude, len(queries), self.n_items)


class ExactIndex(VectorIndex):
    """Exact top-k by inner product: ``queries @ item_vectors.T``, masked, then the shared top-k."""

    retrieval = RETRIEVAL_EXACT

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = checked_vectors(vectors)

    def search_with_scores(
        self, queries: np.ndarray, k: int, exclude: ExcludedItems | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries, k, excluded = self._checked(queries, k, exclude)
        ids = np.zeros((len(queries), k), dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        chunk = max(1, EXACT_CHUNK_CELLS // len(self.vectors))
        for start in range(0, len(queries), chunk):
            rows = slice(start, start + chunk)
            block = queries[rows] @ self.vectors.T  # [b, n_items + 1]
            block[:, 0] = NEG_INF
            for offset, items in enumerate(excluded[rows]):
                block[offset, items] = NEG_INF
            ids[rows] = top_k(block, k)
            scores[rows] = np.take_along_axis(block, ids[rows], axis=1)
        return ids, scores


# -- the approximate index ------------------------------------------------------------------------
class ItemIndex(VectorIndex):
    """An approximate inner-product index over the real items (faiss; see the module docstring).

    Build with :meth:`build`; save with :meth:`to_bytes` and :attr:`settings`, load with
    :meth:`from_bytes`. ``threads``: faiss's OpenMP threads for each search (``None``: leave
    faiss's setting as it is).
    """

    retrieval = RETRIEVAL_ANN

    def __init__(self, index: Any, vectors: np.ndarray, settings: IndexSettings, threads: int | None = None) -> None:
        self.exact = ExactIndex(vectors)
        self.vectors = self.exact.vectors
        if int(index.ntotal) != self.n_items or int(index.d) != self.dim + 1:
            raise IndexFileError(
                f"the index holds {index.ntotal} vectors of dimension {index.d}; the model has "
                f"{self.n_items} items of dimension {self.dim} (+1 for the L2 transform)"
            )
        self.index = index
        self.settings = settings
        self.threads = threads

    @classmethod
    def build(cls, item_vectors: np.ndarray, settings: IndexSettings | None = None, threads: int | None = None) -> ItemIndex:
        """An index of ``item_vectors`` [n_items + 1, D] (row 0, padding, is left out)."""
        faiss = require_faiss()
        vectors = checked_vectors(item_vectors)
        n_items = len(vectors) - 1
        if n_items < 1:
            raise ValueError("an index needs at least one item")
        chosen = (settings or IndexSettings()).resolved(n_items)
        points = l2_items(vectors[1:])  # [n_items, D + 1]
        with faiss_threads(faiss, threads):
            if chosen.method == "hnsw":
                index = faiss.IndexHNSWFlat(points.shape[1], chosen.hnsw_m, faiss.METRIC_L2)
                index.hnsw.efConstruction = chosen.ef_construction
            else:
                quantizer = faiss.IndexFlatL2(points.shape[1])
                index = faiss.IndexIVFFlat(quantizer, points.shape[1], chosen.nlist, faiss.METRIC_L2)
                index.cp.seed = chosen.seed
                index.cp.min_points_per_centroid = 1  # small catalogs: fewer than 39 points per cell is fine
                index.train(points)  # faiss's wrapper keeps the quantizer alive with the index
            index.add(points)
        return cls(index, vectors, chosen, threads)

    def to_bytes(self) -> bytes:
        """The index in faiss's binary format (no pickle)."""
        return bytes(require_faiss().serialize_index(self.index).tobytes())

    @classmethod
    def from_bytes(
        cls, data: bytes, item_vectors: np.ndarray, settings: Mapping[str, Any] | IndexSettings, threads: int | None = None
    ) -> ItemIndex:
        """The index :meth:`to_bytes` wrote, over the same item vectors; an :class:`IndexFileError`
        when the bytes are no faiss index or do not match the vectors."""
        faiss = require_faiss()
        chosen = settings if isinstance(settings, IndexSettings) else IndexSettings.from_dict(settings)
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8).copy())
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise IndexFileError(f"not a readable faiss index ({first[:200]})") from None
        return cls(index, item_vectors, chosen, threads)

    def search_with_scores(
        self, queries: np.ndarray, k: int, exclude: ExcludedItems | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries, k, excluded = self._checked(queries, k, exclude)
        if k == 0 or len(queries) == 0:
            return np.zeros((len(queries), k), dtype=np.int64), np.zeros((len(queries), k), dtype=np.float32)
        fetch = min(self.n_items, k + max((len(items) for items in excluded), default=0))
        ids = np.zeros((len(queries), k), dtype=np.int64)
        best = np.zeros((len(queries), k), dtype=np.float32)
        chunk = max(1, EXACT_CHUNK_CELLS // (fetch * (self.dim + 1)))  # bounds the gathered [b, fetch, D]
        for start in range(0, len(queries), chunk):
            rows = slice(start, start + chunk)
            ids[rows], best[rows] = self._search_chunk(queries[rows], k, fetch, excluded[rows])
        return ids, best

    def _search_chunk(self, queries: np.ndarray, k: int, fetch: int, excluded: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        candidates = self._candidates(queries, fetch)  # [b, fetch] item ids, 0 = none
        # Exact scores of the candidates, ties towards the smaller id (sorted by id, then stably by score).
        candidates = np.sort(candidates, axis=1)
        scores = np.einsum("bd,bkd->bk", queries, self.vectors[candidates])  # [b, fetch]
        invalid = (candidates == 0) | is_excluded(candidates, excluded, self.n_items)
        scores[invalid] = NEG_INF
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        ids = np.take_along_axis(candidates, order, axis=1)
        best = np.take_along_axis(scores, order, axis=1)
        short = np.flatnonzero((~invalid).sum(axis=1) < k)  # the probes found too few: exact search
        if len(short):
            ids[short], best[short] = self.exact.search_with_scores(queries[short], k, [excluded[row] for row in short])
        return ids, best

    def _candidates(self, queries: np.ndarray, fetch: int) -> np.ndarray:
        faiss = require_faiss()
        chosen = self.settings
        if chosen.method == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(chosen.ef_search, 2 * fetch))
        else:
            params = faiss.SearchParametersIVF(nprobe=chosen.nprobe)
        with faiss_threads(faiss, self.threads):
            _, labels = self.index.search(l2_queries(queries), fetch, params=params)
        return np.where(labels >= 0, labels + 1, 0).astype(np.int64)


# -- shared pieces -------------------------------------------------------------------------------
def l2_items(vectors: np.ndarray) -> np.ndarray:
    """``[v, sqrt(M² - |v|²)]`` per row: nearest in L2 to ``[q, 0]`` = largest ``q · v``."""
    norms = np.einsum("nd,nd->n", vectors.astype(np.float64), vectors.astype(np.float64))
    extra = np.sqrt(np.maximum(norms.max() - norms, 0.0))
    return np.ascontiguousarray(np.concatenate([vectors, extra[:, None]], axis=1), dtype=np.float32)


def l2_queries(queries: np.ndarray) -> np.ndarray:
    """``[q, 0]`` per row (see :func:`l2_items`)."""
    return np.ascontiguousarray(np.concatenate([queries, np.zeros((len(queries), 1), np.float32)], axis=1))


@contextmanager
def faiss_threads(faiss: Any, threads: int | None) -> Iterator[None]:
    """faiss's OpenMP threads set to ``threads`` for a block (``None``: left as they are), then restored."""
    if threads is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(threads))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def checked_vectors(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) < 1:
        raise ValueError(f"item vectors must be [n_items + 1, D], got shape {vectors.shape}")
    if not np.isfinite(vectors[1:]).all():
        raise ValueError("item vectors must be finite")
    return vectors


def checked_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f"queries must be [B, {dim}], got shape {queries.shape}")
    return queries


def excluded_rows(exclude: ExcludedItems | None, n_rows: int, n_items: int) -> list[np.ndarray]:
    """One sorted array of distinct excluded real item ids per row."""
    if exclude is None:
        return [np.zeros(0, dtype=np.int64)] * n_rows
    if len(exclude) != n_rows:
        raise ValueError(f"exclude has {len(exclude)} rows, there are {n_rows} queries")
    rows = [np.unique(np.asarray(items, dtype=np.int64)) for items in exclude]
    if any(len(row) and (row[0] < 0 or row[-1] > n_items) for row in rows):
        raise ValueError(f"excluded item ids must lie in 0..{n_items}")
    return [row[row > 0] for row in rows]


def is_excluded(candidates: np.ndarray, excluded: Sequence[np.ndarray], n_items: int) -> np.ndarray:
    """Mask [B, K]: ``candidates[b, j]`` is one of row ``b``'s excluded items."""
    if not any(len(items) for items in excluded):
        return np.zeros(candidates.shape, dtype=bool)
    width = n_items + 1
    keys = np.concatenate([row * width + items for row, items in enumerate(excluded)])
    return np.isin(np.arange(len(candidates))[:, None] * width + candidates, keys)
