"""Training losses of the shared trainer, as pure functions of scores.

Every function returns the **mean over training positions** (``N`` rows) of a per-position
loss. Sampled losses take the positive score of each position (``positive [N]``) and the scores
of ``K`` sampled negatives (``negative [N, K]``) with an optional mask ``valid [N, K]`` that is
``False`` where a sampled negative happens to be the position's own target (an "accidental
hit"), which must not be pushed down.

* :func:`softmax_cross_entropy`: full softmax over the whole catalogue,
  ``-log(exp(s_y) / sum_j exp(s_j))``.
* :func:`binary_cross_entropy`: SASRec's loss (Kang & McAuley 2018, eq. 5) generalised to K
  negatives: ``-log σ(s+) - Σ_k log(1 - σ(s_k))``.
* :func:`gbce`: gSASRec's generalised BCE (Petrov & Macdonald 2023, "gSASRec: Reducing
  Overconfidence in Sequential Recommendation Trained with Negative Sampling", eq. 8-10):
  ``-log σ(s+)^β - Σ_k log(1 - σ(s_k))`` with ``β = α (t (1 - 1/α) + 1/α)`` and sampling rate
  ``α = K / (|I| - 1)``. ``t = 0`` gives plain BCE (β = 1), ``t = 1`` gives β = α.
* :func:`sampled_softmax`: softmax over the positive and the sampled negatives with the logQ
  correction (Bengio & Senécal 2008; Yi et al. 2019, "Sampling-Bias-Corrected Neural Modeling"):
  each score is reduced by ``log q(i)``, the log probability that the sampler proposes item ``i``,
  so that popular items, sampled more often, are not over-penalised.
* :func:`bpr_max`: Hidasi & Karatzoglou 2018 ("Recurrent Neural Networks with Top-k Gains for
  Session-based Recommendations", eq. 9-10): ``-log Σ_j s_j σ(r+ - r_j) + λ Σ_j s_j r_j²`` with
  ``s_j`` the softmax of the negative scores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def softmax_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean full-softmax cross-entropy of ``logits [N, C]`` against column ids ``targets [N]``."""
    return F.cross_entropy(logits, targets)


def binary_cross_entropy(positive: Tensor, negative: Tensor, valid: Tensor | None = None) -> Tensor:
    """Mean over positions of ``-log σ(s+) - Σ_k log(1 - σ(s_k))`` (``softplus(-x) = -log σ(x)``)."""
    return gbce(positive, negative, beta=1.0, valid=valid)


def gbce_beta(n_negatives: int, n_items: int, t: float) -> float:
    """gSASRec's calibration exponent β (Petrov & Macdonald 2023, eq. 10).

    ``α = n_negatives / (n_items - 1)`` is the sampling rate; β interpolates between 1
    (``t = 0``, plain BCE) and α (``t = 1``, fully calibrated).
    """
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"gbce_t must lie in [0, 1], got {t}")
    if n_items < 2:
        raise ValueError(f"gBCE needs at least 2 items, got {n_items}")
    alpha = min(1.0, n_negatives / (n_items - 1))
    return alpha * (t * (1.0 - 1.0 / alpha) + 1.0 / alpha)


def gbce(positive: Tensor, negative: Tensor, beta: float, valid: Tensor | None = None) -> Tensor:
    """Mean over positions of ``-β log σ(s+) - Σ_k log(1 - σ(s_k))`` (gSASRec eq. 9)."""
    positive_term = beta * F.softplus(-positive)  # [N]
    negative_terms = F.softplus(negative)  # [N, K]
    if valid is not None:
        negative_terms = negative_terms * valid
    return (positive_term + negative_terms.sum(dim=1)).mean()


def sampled_softmax(
    positive: Tensor,
    negative: Tensor,
    log_q_positive: Tensor,
    log_q_negative: Tensor,
    valid: Tensor | None = None,
) -> Tensor:
    """Mean cross-entropy of the positive against K sampled negatives, logQ-corrected.

    ``log_q_positive [N]`` and ``log_q_negative [N, K]`` (or ``[K]``) are the log sampling
    probabilities of the items; pass zeros for no correction.
    """
    corrected_positive = positive - log_q_positive  # [N]
    corrected_negative = negative - log_q_negative  # [N, K]
    if valid is not None:
        corrected_negative = corrected_negative.masked_fill(~valid, float("-inf"))
    logits = torch.cat([corrected_positive[:, None], corrected_negative], dim=1)  # [N, 1 + K]
    return -torch.log_softmax(logits, dim=1)[:, 0].mean()


def bpr_max(positive: Tensor, negative: Tensor, regularization: float, valid: Tensor | None = None) -> Tensor:
    """Mean BPR-max loss (Hidasi & Karatzoglou 2018, eq. 9-10).

    ``s_j = softmax(r_j)`` over the (valid) negatives weighs each negative by how hard it is;
    the second term regularises the scores of the negatives that dominate.
    """
    if valid is not None:
        masked = negative.masked_fill(~valid, float("-inf"))
        # A row whose negatives are all accidental hits has no weights at all (0, not NaN).
        negative_weights = torch.softmax(masked, dim=1).nan_to_num(0.0)  # [N, K]
    else:
        negative_weights = torch.softmax(negative, dim=1)  # [N, K]
    pairwise = torch.sigmoid(positive[:, None] - negative)  # [N, K]
    ranking = -torch.log((negative_weights * pairwise).sum(dim=1) + 1e-24)  # [N]
    if valid is not None:  # a position without any valid negative has nothing to rank against
        ranking = torch.where(valid.any(dim=1), ranking, torch.zeros_like(ranking))
    score_penalty = regularization * (negative_weights * negative.pow(2)).sum(dim=1)  # [N]
    return (ranking + score_penalty).mean()
