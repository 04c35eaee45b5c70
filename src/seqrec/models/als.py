"""Matrix-factorization collaborative filtering: implicit ALS.

Hu, Koren & Volinsky (2008), "Collaborative Filtering for Implicit Feedback Datasets", ICDM.

Preferences ``p_ui = 1`` if user ``u`` bought item ``i`` (else 0), with confidence
``c_ui = 1 + alpha * r_ui`` where ``r_ui`` counts the purchases (paper eq. 2, the linear form;
``confidence="log"`` gives eq. 6, ``1 + alpha * log(1 + r_ui / epsilon)``). Alternating least
squares solves each side in closed form (paper eq. 4 and 5)::

    p_u = (QᵀC_uQ + λI)⁻¹ QᵀC_u r_u        (r_u: the 0/1 preference vector of u)

``QᵀC_uQ`` is computed as ``QᵀQ + Qᵀ(C_u − I)Q`` (the paper's speed-up): ``C_u − I`` is non-zero
only on ``u``'s items, so one user costs ``O(n_u d² + d³)`` instead of ``O(n_items d²)``. This is
an *exact* solve, not an approximation; :func:`solve_dense_reference` keeps the literal
``O(n_items d²)`` formula beside it and the tests check the two agree.

Scoring folds any history in with the same closed form on the learned item factors, so held-out
users and the walkthrough persona are scored exactly as a training user would be. The order of
the history is ignored: this is the order-agnostic baseline. The score is the dot product of the
folded-in user factors (``query_vectors``) with the item factors (``item_vectors``), so an
inner-product index can retrieve it (``capabilities.embedding_scores``).

Explanation (paper section 5): the score decomposes over the history,
``ŷ_ui = Σ_j s_ij c_uj`` with ``s_ij = q_iᵀ W_u q_j`` and ``W_u = (QᵀC_uQ + λI)⁻¹``, so each history
item's contribution to a recommendation is exact and sums to the score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from seqrec.data.types import SequenceData
from seqrec.models.base import (
    Capabilities,
    ContractSettings,
    Explanation,
    ExplanationKind,
    Recommender,
    help_field,
)


@dataclass
class ALSConfig:
    factors: int = help_field(64, "Dimension d of the user and item factors.")
    regularization: float = help_field(1.0, "L2 weight λ on the factors.")
    alpha: float = help_field(2.0, "Confidence slope: c_ui = 1 + alpha * r_ui.")
    confidence: Literal["linear", "log"] = help_field("linear", "'linear' (c = 1 + alpha r) or 'log' (c = 1 + alpha log(1 + r/eps)).")
    epsilon: float = help_field(1.0, "Scale epsilon of the log confidence.")
    iterations: int = help_field(15, "Number of alternating sweeps (users then items).")
    seed: int = help_field(0, "Seed of the random initial factors.")
    solver: Literal["exact", "cg"] = help_field("exact", "'exact' (closed form, reference) or 'cg' (the implicit library, fast).")
    threads: int = help_field(1, "Threads for the 'cg' solver.")


class ImplicitALS(Recommender[ALSConfig]):
    name = "als"
    contract = ContractSettings(
        {"factors": 2, "iterations": 8, "regularization": 1.0},
        known_answer="own-cycle",
    )
    Config = ALSConfig
    capabilities = Capabilities(embedding_scores=True)
    era = 0
    sequential = False
    state_attributes = ("item_factors",)

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "factors": trial.suggest_categorical("factors", [32, 64, 128]),
            "regularization": trial.suggest_float("regularization", 1e-2, 100.0, log=True),
            "alpha": trial.suggest_float("alpha", 0.1, 50.0, log=True),
            "iterations": trial.suggest_int("iterations", 5, 25),
        }

    # -- fit ------------------------------------------------------------------------------
    def _fit(self, train: SequenceData, valid: Any, on_iteration: Callable[[int], None] | None = None) -> None:
        cfg = self.config
        counts = train.user_item_matrix().tocsr()  # [U, n_items + 1]
        confidence = self._confidence(counts)  # same sparsity, values c_ui - 1
        if cfg.solver == "cg":
            from seqrec.models.als_fast import fit_cg

            self.item_factors = fit_cg(confidence, cfg)
        else:
            self.item_factors = self._fit_exact(confidence, on_iteration)

    def _confidence(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """The sparse matrix of ``c_ui - 1`` (zero where the user never bought the item)."""
        cfg = self.config
        out = counts.astype(np.float64).copy()
        if cfg.confidence == "linear":
            out.data = cfg.alpha * out.data
        else:  # "log"
            out.data = cfg.alpha * np.log1p(out.data / cfg.epsilon)
        return out

    def _fit_exact(self, confidence: sp.csr_matrix, on_iteration: Callable[[int], None] | None) -> np.ndarray:
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        n_users, n_cols = confidence.shape
        users = rng.normal(0, 0.01, size=(n_users, cfg.factors))  # [U, d]
        items = rng.normal(0, 0.01, size=(n_cols, cfg.factors))  # [n_items + 1, d]
        by_item = confidence.T.tocsr()
        for iteration in range(cfg.iterations):
            users = solve_all(items, confidence, cfg.regularization)
            items = solve_all(users, by_item, cfg.regularization)
            items[0] = 0.0  # padding never scores
            if on_iteration is not None:
                on_iteration(iteration + 1)
        return items

    # -- score -------------------------------------------------------------------------------
    def fold_in(self, histories: SequenceData) -> np.ndarray:
        """User factors [B, d] for arbitrary histories, by the closed form on the item factors."""
        counts = histories.user_item_matrix().tocsr()
        return solve_all(self.item_factors, self._confidence(counts), self.config.regularization)

    def _score(self, histories: SequenceData) -> np.ndarray:
        self.require_fitted()
        return (self.fold_in(histories) @ self.item_factors.T).astype(np.float32)  # [B, n_items + 1]

    def query_vectors(self, histories: SequenceData) -> np.ndarray:
        self.require_fitted()
        return self.fold_in(histories).astype(np.float32)  # [B, d]: the folded-in user factors

    def item_vectors(self) -> np.ndarray:
        self.require_fitted()
        return np.asarray(self.item_factors, dtype=np.float32)  # [n_items + 1, d]

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        self.require_fitted()
        factors = self.item_factors
        distinct, counts = np.unique(np.asarray(history, dtype=np.int64), return_counts=True)
        conf = 1.0 + self._confidence(sp.csr_matrix(counts[None, :].astype(np.float64))).toarray()[0]
        gram = factors.T @ factors
        w_u = np.linalg.inv(_system(gram, factors[distinct], conf - 1.0, self.config.regularization))
        # Hu et al. eq. 7: ŷ_ui = Σ_j (q_iᵀ W_u q_j) c_uj over the history items j.
        contributions = (factors[item] @ w_u @ factors[distinct].T) * conf  # [n_distinct]
        order = np.argsort(-contributions)
        total = float(contributions.sum())
        evidence = [
            {
                "item": int(distinct[j]),
                "times_bought": int(counts[j]),
                "contribution": float(contributions[j]),
                "share": float(contributions[j] / total) if total else 0.0,
            }
            for j in order[:10]
        ]
        top = evidence[0] if evidence else None
        summary = (
            f"Score {total:.3f} = sum over your history of similarity x confidence; "
            f"the largest part ({top['share']:.0%}) comes from item {top['item']}."
            if top
            else "Empty history: the user vector is zero."
        )
        return Explanation(self.name, int(item), summary, kind=ExplanationKind.HISTORY_CONTRIBUTIONS, evidence=evidence)


# -- the closed form, written once ------------------------------------------------------------------
def _system(gram: np.ndarray, factors_h: np.ndarray, extra_conf: np.ndarray, reg: float) -> np.ndarray:
    """``QᵀQ + Qᵀ(C_u − I)Q + λI`` from the rows ``factors_h`` of the user's items."""
    d = gram.shape[0]
    return gram + (factors_h * extra_conf[:, None]).T @ factors_h + reg * np.eye(d)


def solve_all(fixed: np.ndarray, extra_conf: sp.csr_matrix, reg: float, batch_cells: int = 4_000_000) -> np.ndarray:
    """Solve every row of ``extra_conf`` (values ``c - 1``) against the fixed factors.

    Row ``u``: ``x_u = (FᵀF + Fᵀ(C_u − I)F + λI)⁻¹ FᵀC_u p_u`` (Hu et al. eq. 4).
    Rows are solved in batches of similar length: each batch gathers its rows' factors into a
    zero-padded [B, n, d] array (padding rows carry zero confidence, so they add nothing) and
    calls one batched ``np.linalg.solve`` on the [B, d, d] systems. ``batch_cells`` bounds
    ``B * max(n, d) * d``, the larger of the two arrays, with ``n`` the longest row of the batch
    (one row alone may exceed it). Each row is solved on its own, so the batching does not change
    the numbers.
    """
    d = fixed.shape[1]
    gram = fixed.T @ fixed + reg * np.eye(d)  # [d, d]
    out = np.zeros((extra_conf.shape[0], d))
    lengths = np.diff(extra_conf.indptr)
    rows = np.flatnonzero(lengths)
    rows = rows[np.argsort(lengths[rows], kind="stable")]  # similar lengths share a batch
    widths = lengths[rows]  # [R] ascending
    most = max(1, batch_cells // (d * d))  # no batch is larger: max(n, d) >= d
    start = 0
    while start < len(rows):
        # Cells of the batch rows[start : start + b] for b = 1, 2, ...: non-decreasing in b.
        ahead = widths[start : start + most]  # [<= most]
        cells = np.arange(1, len(ahead) + 1) * np.maximum(ahead, d) * d
        batch = max(1, int(np.searchsorted(cells, batch_cells, side="right")))
        chunk = rows[start : start + batch]
        out[chunk] = _solve_batch(fixed, gram, extra_conf, chunk)
        start += len(chunk)
    return out


def _solve_batch(fixed: np.ndarray, gram: np.ndarray, extra_conf: sp.csr_matrix, chunk: np.ndarray) -> np.ndarray:
    """Closed-form solutions [B, d] of the rows in ``chunk`` (see :func:`solve_all`)."""
    indptr, indices, data = extra_conf.indptr, extra_conf.indices, extra_conf.data
    lengths = indptr[chunk + 1] - indptr[chunk]
    width = int(lengths.max())
    cols = np.zeros((len(chunk), width), dtype=np.int64)  # [B, n]
    extra = np.zeros((len(chunk), width))  # [B, n] c - 1, zero on padding
    observed = np.zeros((len(chunk), width))  # [B, n] p_u = 1 on the row's items
    for b, row in enumerate(chunk):
        n = lengths[b]
        cols[b, :n] = indices[indptr[row] : indptr[row] + n]
        extra[b, :n] = data[indptr[row] : indptr[row] + n]
        observed[b, :n] = 1.0
    factors_h = fixed[cols]  # [B, n, d]
    system = gram + np.einsum("bnd,bn,bne->bde", factors_h, extra, factors_h, optimize=True)  # [B, d, d]
    rhs = np.einsum("bn,bnd->bd", (1.0 + extra) * observed, factors_h)  # FᵀC_u p_u, [B, d]
    return np.linalg.solve(system, rhs[..., None])[..., 0]


def solve_dense_reference(fixed: np.ndarray, confidence_row: np.ndarray, preference_row: np.ndarray, reg: float) -> np.ndarray:
    """The literal formula ``(FᵀC_uF + λI)⁻¹ FᵀC_u p_u`` with a dense diagonal C_u (slow, for tests)."""
    c_u = np.diag(confidence_row)
    a = fixed.T @ c_u @ fixed + reg * np.eye(fixed.shape[1])
    return np.linalg.solve(a, fixed.T @ c_u @ preference_row)
