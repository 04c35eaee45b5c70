"""The fast path of implicit ALS: the ``implicit`` library's conjugate-gradient solver.

Takács, Pilászy & Tikk (2011), "Applications of the conjugate gradient method for implicit
feedback collaborative filtering", RecSys: a few CG steps warm-started from the previous
sweep's factors replace the exact ``d x d`` solve. The exact closed form in ``als.py`` stays as
the reference; ``tests/models/test_als.py`` checks that CG run to ``d`` steps reproduces it.

``implicit`` treats the matrix it is given as the confidence ``c_ui`` itself (its solver adds
``(c - 1) q qᵀ`` to ``QᵀQ`` and ``c q`` to the right-hand side), so we hand it ``1 + (c_ui - 1)``
with its own ``alpha`` left at 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def _require_implicit() -> Any:
    try:
        import implicit.cpu.als as implicit_als
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("als.solver='cg' needs the 'implicit' package: pip install 'seqrec[fast]'") from error
    return implicit_als


def as_implicit_confidence(extra_conf: sp.csr_matrix) -> sp.csr_matrix:
    """``c_ui`` on the observed entries, from the matrix of ``c_ui - 1``."""
    out = extra_conf.astype(np.float32).copy()
    out.data = out.data + 1.0
    return out.tocsr()


def fit_cg(extra_conf: sp.csr_matrix, config: Any) -> np.ndarray:
    """Item factors [n_items + 1, d] learned by implicit's CG-based ALS."""
    implicit_als = _require_implicit()
    model = implicit_als.AlternatingLeastSquares(
        factors=config.factors,
        regularization=config.regularization,
        alpha=1.0,
        iterations=config.iterations,
        use_cg=True,
        calculate_training_loss=False,
        num_threads=config.threads,
        random_state=config.seed,
        dtype=np.float64,
    )
    model.fit(as_implicit_confidence(extra_conf), show_progress=False)
    items = np.array(model.item_factors, dtype=np.float64)
    items[0] = 0.0
    return items


def solve_cg(fixed: np.ndarray, extra_conf: sp.csr_matrix, reg: float, cg_steps: int) -> np.ndarray:
    """One half-sweep with implicit's CG solver from zero factors (used to test against the exact one)."""
    _require_implicit()
    from implicit.cpu import _als

    out = np.zeros((extra_conf.shape[0], fixed.shape[1]), dtype=np.float64)
    confidence = as_implicit_confidence(extra_conf).astype(np.float64)
    _als.least_squares_cg(confidence, out, np.ascontiguousarray(fixed, dtype=np.float64), reg, 1, cg_steps)
    return out
