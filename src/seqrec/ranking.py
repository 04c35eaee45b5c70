"""The ranking core: masking, top-k and pessimistic ranks, written once for every model and metric.

This module sits directly above :mod:`seqrec.data` and below both :mod:`seqrec.models` and
:mod:`seqrec.evaluation` (see ``docs/architecture.md``); it imports numpy and the data types only.

Conventions
-----------
* Score matrices are ``[B, n_items + 1]``; column 0 is padding and is always ``-inf``.
* **Masking** sets an item's score to ``-inf``. Which items are masked is an :class:`Exclusion`:
  the history's own items (``HISTORY``), extra per-row items, or both.
* **Top-k** breaks equal scores towards the smaller item id; masked items come last.
* **Ranks are pessimistic**: a target's rank counts every item scoring greater than *or equal
  to* it, so a model that scores everything the same ranks the target last. A ranked list
  cannot express ties, so ranks read from a list (:func:`list_ranks`) equal the pessimistic
  ones exactly when the target's score is tied with no other item's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqrec.data.types import PADDING, SequenceData

NEG_INF = np.float32(-np.inf)


@dataclass(frozen=True)
class Capabilities:
    """What a model offers and needs, declared on its class and read by the evaluation protocol,
    the walkthrough, the CLI and the tests (never lists of model names)."""

    dense_scores: bool = True
    """``score`` gives every item a score ``[B, n_items + 1]``; ``False``: ranked lists only
    (``recommend``), as a generative retriever decodes them. The protocol then evaluates lists."""
    finite_scores: bool = True
    """Every real item gets a finite score; ``False`` where some items may score ``-inf``
    (no sequential rule reaches them)."""
    reranker: bool = False
    """Built to rescore a short candidate list (``rerank``), the second stage of a pipeline."""
    needs_items: bool = False
    """``fit`` needs the catalog's item information (``items=``)."""
    needs_item_text: bool = False
    """``fit`` needs item text (implies ``needs_items``)."""
    needs_world: bool = False
    """``fit`` needs the generator of a synthetic world (the shop world's oracles)."""
    reads_time: bool = False
    """Scores read the histories' timestamps as well as their items (HSTU's time bias); ``explain``
    then takes ``timestamps=`` too. Callers that know the times should pass them."""
    embedding_scores: bool = False
    """``score`` is a dot product: ``query_vectors(histories) @ item_vectors().T`` (a per-item
    bias folded in as one more dimension), so an inner-product index can retrieve its top-k
    (:mod:`seqrec.serving.ann`)."""


@dataclass(frozen=True)
class Exclusion:
    """Which items may not be recommended to each history row.

    ``history``: every item already in the row's history. ``items``: extra item ids per row
    (one sequence per history row), e.g. items a user has hidden.
    """

    history: bool = False
    items: Sequence[Sequence[int]] | None = None

    def __post_init__(self) -> None:
        if self.items is not None and isinstance(self.items, (str, bytes)):
            raise TypeError("Exclusion.items must be one sequence of item ids per history row")

    @staticmethod
    def of(value: Exclusion | bool | None) -> Exclusion:
        """``None``/``False`` -> nothing, ``True`` -> the history, an Exclusion as it is."""
        if isinstance(value, Exclusion):
            return value
        if value is None or value is False:
            return NOTHING
        if value is True:
            return HISTORY
        raise TypeError(f"exclude must be an Exclusion, True, False or None, got {type(value).__name__}")

    @property
    def empty(self) -> bool:
        return not self.history and self.items is None

    def apply(self, scores: np.ndarray, histories: SequenceData) -> np.ndarray:
        """Set the excluded items of each row of ``scores`` [B, n_items + 1] to ``-inf`` in place."""
        if self.history:
            mask_history(scores, histories)
        if self.items is not None:
            if len(self.items) != len(scores):
                raise ValueError(f"exclusion has {len(self.items)} rows of items, there are {len(scores)} histories")
            for row, items in enumerate(self.items):
                if len(items):
                    scores[row, np.asarray(items, dtype=np.int64)] = NEG_INF
        return scores

    def drop(self, ranked: np.ndarray, histories: SequenceData) -> np.ndarray:
        """A copy of ``ranked`` [B, K] with excluded entries replaced by padding (0).

        A dense top-k fills a list with excluded items when fewer than ``k`` others remain; they
        must not count as hits.
        """
        ranked = np.array(ranked, dtype=np.int64, copy=True)
        if self.empty or ranked.size == 0:
            return ranked
        width = histories.n_items + 1
        keys = []  # row * width + item of every excluded (row, item)
        if self.history:
            keys.append(np.repeat(np.arange(len(histories)), histories.lengths) * width + histories.items)
        if self.items is not None:
            for row, items in enumerate(self.items):
                keys.append(row * width + np.asarray(items, dtype=np.int64))
        excluded = np.isin(np.arange(len(ranked))[:, None] * width + ranked, np.concatenate(keys))
        ranked[excluded] = PADDING
        return ranked

    def row_items(self, histories: SequenceData, row: int) -> np.ndarray:
        """The excluded item ids of one row (for models that rank without a dense matrix)."""
        parts = []
        if self.history:
            parts.append(histories.sequence(row))
        if self.items is not None:
            parts.append(np.asarray(self.items[row], dtype=np.int64))
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


NOTHING = Exclusion()
HISTORY = Exclusion(history=True)


def mask_history(scores: np.ndarray, histories: SequenceData) -> np.ndarray:
    """Set every history item's score to ``-inf`` in place and return ``scores``."""
    rows = np.repeat(np.arange(len(histories)), histories.lengths)
    scores[rows, histories.items] = NEG_INF
    return scores


ROW_BLOCK_CELLS = 1 << 24
"""How many score cells (rows x items) :func:`top_k` and :func:`pessimistic_ranks` work on at once:
their temporaries (a negated copy, int64 positions, a boolean mask) then stay near 100 MB even
for a catalogue of a million items, whatever the caller's chunk of users. Results do not depend
on it."""


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Item ids [B, k] of the ``k`` best scores per row; equal scores order by smaller id.

    Uses ``argpartition`` (linear time) and sorts only the ``k`` winners. Items at ``-inf``
    (padding, masked history) come last and are only returned when fewer than ``k`` remain.
    Rows are processed in blocks of about :data:`ROW_BLOCK_CELLS` cells.
    """
    n_rows, n_cols = scores.shape
    k = min(k, n_cols - 1)
    if k <= 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    out = np.empty((n_rows, k), dtype=np.int64)
    step = max(1, ROW_BLOCK_CELLS // n_cols)
    for begin in range(0, n_rows, step):
        block = scores[begin : begin + step]
        out[begin : begin + len(block)] = _top_k_block(block, k)
    return out


def _top_k_block(scores: np.ndarray, k: int) -> np.ndarray:
    n_rows, n_cols = scores.shape
    # Break ties towards the smaller id: partition on the score, then sort (-score, id).
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # [B, k]
    threshold = np.take_along_axis(scores, candidates, axis=1).min(axis=1, keepdims=True)  # [B, 1]
    out = np.empty((n_rows, k), dtype=np.int64)
    for row in range(n_rows):
        # Items tied with the k-th score may have been cut arbitrarily: include all of them.
        pool = np.flatnonzero(scores[row] >= threshold[row, 0])
        pool = pool[pool != PADDING]
        order = np.lexsort((pool, -scores[row, pool]))
        chosen = pool[order[:k]]
        if len(chosen) < k:  # only -inf left (everything masked): fill with the smallest ids
            rest = np.setdiff1d(np.arange(1, n_cols), chosen)[: k - len(chosen)]
            chosen = np.concatenate([chosen, rest])
        out[row] = chosen
    return out


def pessimistic_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank [B] of each row's target: the number of items scoring >= the target.

    NaN scores are treated as ``-inf``. Scores are compared in their own float type (a float32
    matrix is not copied to float64: widening preserves order and equality, so the ranks are the
    same), in row blocks of about :data:`ROW_BLOCK_CELLS` cells.
    """
    scores = np.asarray(scores)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    n_rows, n_cols = scores.shape
    target_scores = scores[np.arange(n_rows), targets]  # [B]
    target_scores = np.where(np.isnan(target_scores), -np.inf, target_scores)
    ranks = np.empty(n_rows, dtype=np.int64)
    step = max(1, ROW_BLOCK_CELLS // max(1, n_cols))
    for begin in range(0, n_rows, step):
        block, target = scores[begin : begin + step], target_scores[begin : begin + step, None]
        counts = (block >= target).sum(axis=1)  # [b]; NaN compares False
        bottom = target[:, 0] == -np.inf  # a NaN counts as -inf: tied with a target at -inf
        if bottom.any():
            counts[bottom] += np.isnan(block[bottom]).sum(axis=1)
        ranks[begin : begin + len(block)] = counts
    return ranks


def list_ranks(ranked: np.ndarray, targets: np.ndarray, missing_rank: int) -> np.ndarray:
    """1-based position [B] of each row's target in a ranked list [B, K]; ``missing_rank`` where
    the target is not in the list (a miss at every cut-off up to K)."""
    ranked = np.asarray(ranked, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    found = ranked == targets[:, None]  # [B, K]
    return np.where(found.any(axis=1), found.argmax(axis=1) + 1, missing_rank).astype(np.int64)


def check_ranked(ranked: np.ndarray, n_rows: int, k: int, n_items: int, who: str) -> np.ndarray:
    """``ranked`` as int64 [n_rows, <= k] after checking it holds distinct real item ids per row."""
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.shape[0] != n_rows or ranked.shape[1] > k:
        raise ValueError(f"{who}.recommend returned shape {ranked.shape}, expected ({n_rows}, <= {k})")
    ranked = ranked.astype(np.int64)
    if ranked.size and (ranked.min() < 1 or ranked.max() > n_items):
        raise ValueError(f"{who}.recommend returned item ids outside 1..{n_items}")
    return ranked
