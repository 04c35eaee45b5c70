"""Item-kNN: "people who bought this also bought", from item-item cosine similarity.

Sarwar, Karypis, Konstan & Riedl (2001), "Item-based collaborative filtering recommendation
algorithms" (WWW), and Deshpande & Karypis (2004), "Item-based top-N recommendation
algorithms" (ACM TOIS 22(1)).

1. Items are the columns of the binary user-item matrix ``R`` [U, n_items + 1] (a repeated
   purchase counts once: Deshpande & Karypis work with binary baskets).
2. Similarity is the cosine of two columns, shrunk towards zero when the columns are short
   (the shrinkage of Koren's neighbourhood models, asked for here so that two items seen
   together once by one user are not "perfectly similar")::

       sim(a, b) = (r_a . r_b) / (|r_a| |r_b| + shrink)

   The diagonal is zero: an item does not recommend itself.
3. Each item keeps only its ``neighbours`` most similar items (Deshpande & Karypis, section
   3.1: the model is the sparse matrix ``M`` of the k largest similarities per row).
   Optionally each row of ``M`` is scaled to sum to one (their section 3.1.1 "normalization"),
   which stops items with many strong neighbours from dominating.
4. A history ``U`` scores item ``i`` by ``sum_{j in U} M[j, i]`` (their section 3.1, the
   candidate set is the union of the neighbourhoods of the basket items).

Everything stays sparse (scipy); ML-100K fits in well under a second. The model ignores order
(``sequential = False``): a history is a set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from seqrec.data.types import SequenceData
from seqrec.models.base import (
    ConfigError,
    ContractSettings,
    Explanation,
    ExplanationKind,
    Recommender,
    help_field,
)


@dataclass
class ItemKNNConfig:
    neighbours: int = help_field(50, "Most similar items kept per item (k of Deshpande & Karypis).")
    shrink: float = help_field(10.0, "Shrinkage added to the cosine denominator |a||b| + shrink.")
    normalize: bool = help_field(False, "Scale each item's kept similarities to sum to 1.")

    def __post_init__(self) -> None:
        if self.neighbours < 1:
            raise ConfigError(f"ItemKNNConfig.neighbours must be >= 1, got {self.neighbours}")
        if self.shrink < 0:
            raise ConfigError(f"ItemKNNConfig.shrink must be >= 0, got {self.shrink}")


def binary_item_columns(train: SequenceData) -> sp.csc_matrix:
    """The binary user-item matrix [U, n_items + 1] in column (item) order."""
    matrix = train.user_item_matrix()
    matrix.data[:] = 1.0
    return matrix.tocsc()


def shrunk_cosine(columns: sp.csc_matrix, shrink: float) -> sp.csr_matrix:
    """Item-item similarity [n_items + 1, n_items + 1]: dot / (|a||b| + shrink), zero diagonal."""
    dots = (columns.T @ columns).tocoo()  # [I, I], only co-occurring pairs are stored
    norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0)).ravel())  # [I]
    keep = dots.row != dots.col
    rows, cols = dots.row[keep], dots.col[keep]
    values = dots.data[keep] / (norms[rows] * norms[cols] + shrink)
    size = columns.shape[1]
    return sp.csr_matrix((values, (rows, cols)), shape=(size, size))


def keep_top_per_row(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row; ties keep the smaller column id."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    rows, cols, values = [], [], []
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        row_cols, row_values = matrix.indices[start:end], matrix.data[start:end]
        if len(row_cols) > k:
            chosen = np.lexsort((row_cols, -row_values))[:k]
            row_cols, row_values = row_cols[chosen], row_values[chosen]
        rows.append(np.full(len(row_cols), row, dtype=np.int64))
        cols.append(row_cols)
        values.append(row_values)
    return sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=matrix.shape
    )


def normalize_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its sum (rows that sum to zero stay zero)."""
    sums = np.asarray(matrix.sum(axis=1)).ravel()  # [I]
    inverse = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sp.csr_matrix(sp.diags(inverse) @ matrix)


def history_indicator(histories: SequenceData) -> sp.csr_matrix:
    """Binary [B, n_items + 1]: which items each history contains (order and repeats ignored)."""
    indicator = histories.user_item_matrix()
    indicator.data[:] = 1.0
    return indicator


class ItemKNN(Recommender[ItemKNNConfig]):
    """Item-based top-N recommendation with shrunk cosine similarity."""

    name = "item-knn"
    contract = ContractSettings({}, known_answer="own-cycle")
    Config = ItemKNNConfig
    era = 0
    sequential = False
    state_attributes = ("similarity",)

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "neighbours": trial.suggest_categorical("neighbours", [20, 50, 100, 200, 400]),
            "shrink": trial.suggest_categorical("shrink", [0.0, 10.0, 50.0, 100.0]),
            "normalize": trial.suggest_categorical("normalize", [False, True]),
        }

    def _fit(self, train: SequenceData, valid: Any) -> None:
        similarity = shrunk_cosine(binary_item_columns(train), self.config.shrink)
        neighbourhoods = keep_top_per_row(similarity, self.config.neighbours)
        if self.config.normalize:
            neighbourhoods = normalize_rows(neighbourhoods)
        self.similarity = neighbourhoods.astype(np.float32)  # [I, I], row j = j's neighbours

    def _score(self, histories: SequenceData) -> np.ndarray:
        self.require_fitted()
        # score(u, i) = sum_{j in history(u)} M[j, i]  (Deshpande & Karypis, section 3.1)
        scores = history_indicator(histories) @ self.similarity  # [B, I] sparse
        return np.asarray(scores.toarray(), dtype=np.float32)

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        self.require_fitted()
        voters = sorted({int(j) for j in history})
        row_of_item = self.similarity[:, int(item)].toarray().ravel()  # [I]: M[j, item] for all j
        evidence = [
            {"item": j, "similarity": float(row_of_item[j])}
            for j in voters
            if row_of_item[j] != 0.0
        ]
        evidence.sort(key=lambda row: (-row["similarity"], row["item"]))
        total = sum(row["similarity"] for row in evidence)
        summary = (
            f"{len(evidence)} of your {len(voters)} items list this one among their "
            f"{self.config.neighbours} nearest neighbours; their similarities sum to {total:.3g}."
            if evidence
            else "None of your items has this one among its nearest neighbours."
        )
        return Explanation(
            model=self.name,
            item=int(item),
            summary=summary,
            kind=ExplanationKind.SIMILAR_ITEMS,
            evidence=evidence,
        )
