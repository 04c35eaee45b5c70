"""Implicit ALS: the fast closed form equals the literal formula; CG equals the exact solve."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from seqrec.data.types import SequenceData
from seqrec.models import als
from seqrec.models.als import ImplicitALS, solve_all, solve_dense_reference


def test_gram_trick_equals_the_dense_formula() -> None:
    rng = np.random.default_rng(0)
    item_factors = rng.normal(size=(8, 3))
    counts = np.array([[0, 2, 0, 1, 0, 0, 3, 0], [0, 0, 1, 0, 0, 0, 0, 0]], dtype=float)
    alpha, reg = 4.0, 0.5
    extra = sp.csr_matrix(alpha * counts)  # c - 1
    fast = solve_all(item_factors, extra, reg)
    for row in range(2):
        dense = solve_dense_reference(item_factors, 1 + alpha * counts[row], (counts[row] > 0).astype(float), reg)
        np.testing.assert_allclose(fast[row], dense, rtol=1e-10, atol=1e-12)


def test_one_user_solve_by_hand() -> None:
    # d = 1, item factors q = [0, 1, 2]; user bought item 1 twice; alpha = 1, lambda = 1.
    # c = [1, 3, 1]; p = [0, 1, 0]; QᵀCQ = 0 + 3*1 + 1*4 = 7; QᵀCp = 3*1 = 3; x = 3 / (7 + 1).
    q = np.array([[0.0], [1.0], [2.0]])
    x = solve_all(q, sp.csr_matrix(np.array([[0.0, 2.0, 0.0]])), reg=1.0)
    assert x[0, 0] == pytest.approx(3 / 8)


def test_cg_fast_path_equals_exact_solve() -> None:
    pytest.importorskip("implicit", reason="the fast path is the optional 'implicit' extra")
    from seqrec.models.als_fast import solve_cg

    rng = np.random.default_rng(1)
    fixed = rng.normal(size=(30, 6))
    extra = sp.random(12, 30, density=0.2, random_state=2, format="csr") * 5
    exact = solve_all(fixed, extra, reg=0.3)
    # CG on a d x d SPD system is exact after d steps (up to rounding).
    cg = solve_cg(fixed, extra, reg=0.3, cg_steps=6)
    np.testing.assert_allclose(cg, exact, rtol=1e-5, atol=1e-7)


def block_world() -> SequenceData:
    """Users buy within one of two blocks of items; the catalog is 1..8."""
    rng = np.random.default_rng(0)
    seqs = []
    for user in range(40):
        block = [1, 2, 3, 4] if user % 2 == 0 else [5, 6, 7, 8]
        seqs.append(list(rng.choice(block, size=6)))
    return SequenceData.from_lists(seqs, n_items=8)


@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_als_recommends_within_the_block(solver: str) -> None:
    model = ImplicitALS(factors=2, regularization=1.0, alpha=5.0, iterations=10, solver=solver).fit(block_world())
    top = model.recommend(SequenceData.from_lists([[1, 2], [7]], n_items=8), k=2, exclude=True)
    assert set(top[0]) == {3, 4}
    assert set(top[1]) <= {5, 6, 8}


def test_explanation_contributions_sum_to_the_score() -> None:
    model = ImplicitALS(factors=4, iterations=5).fit(block_world())
    history = [1, 2, 2, 7]
    explanation = model.explain(history, 3)
    score = model.score(SequenceData.from_lists([history], n_items=8))[0, 3]
    assert sum(row["contribution"] for row in explanation.evidence) == pytest.approx(float(score), rel=1e-4, abs=1e-6)
    assert explanation.evidence[0]["item"] in (1, 2)


def ragged_rows(seed: int, n_cols: int = 40) -> sp.csr_matrix:
    """Rows of 1..12 items, some empty, and one long row at the tail of the lengths."""
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([rng.integers(0, 13, size=60), [n_cols]])
    rows = np.repeat(np.arange(len(lengths)), lengths)
    cols = np.concatenate([rng.choice(n_cols, size=n, replace=False) for n in lengths])
    values = rng.integers(1, 4, size=len(rows)) * 1.5
    return sp.csr_matrix((values, (rows, cols)), shape=(len(lengths), n_cols))


def test_the_batch_budget_does_not_change_the_solution() -> None:
    rng = np.random.default_rng(3)
    fixed = rng.normal(size=(40, 8))
    extra = ragged_rows(4)
    budgets = [1, 64, 700, 5_000, 4_000_000, 10**12]
    solutions = [solve_all(fixed, extra, 0.7, batch_cells=cells) for cells in budgets]
    for solution in solutions[1:]:
        np.testing.assert_array_equal(solution, solutions[0])  # bit for bit
    assert not solutions[0][np.diff(extra.indptr) == 0].any()  # empty rows stay zero


def test_batches_bound_the_systems_and_the_padded_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    d, cells = 8, 700
    fixed = np.random.default_rng(5).normal(size=(40, d))
    extra = ragged_rows(6)
    solve_batch = als._solve_batch
    seen: list[np.ndarray] = []

    def recording(fixed: np.ndarray, gram: np.ndarray, conf: sp.csr_matrix, chunk: np.ndarray) -> Any:
        seen.append(chunk.copy())
        return solve_batch(fixed, gram, conf, chunk)

    monkeypatch.setattr(als, "_solve_batch", recording)
    solve_all(fixed, extra, 0.7, batch_cells=cells)
    lengths = np.diff(extra.indptr)
    for chunk in seen:
        width = int(lengths[chunk].max())
        # [B, d, d] systems and the [B, n, d] padded factors both stay within the budget.
        assert len(chunk) == 1 or len(chunk) * max(width, d) * d <= cells
    assert len(seen) > 1 and max(len(chunk) for chunk in seen) > 1
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.flatnonzero(lengths))


def test_fitted_factors_do_not_depend_on_the_batch_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {"factors": 4, "iterations": 3, "alpha": 3.0}
    wide = ImplicitALS(**settings).fit(block_world()).item_factors
    monkeypatch.setattr(als, "solve_all", functools.partial(als.solve_all, batch_cells=16))
    narrow = ImplicitALS(**settings).fit(block_world()).item_factors
    np.testing.assert_array_equal(narrow, wide)
