"""Training losses of the shared trainer: pure functions of scores, and the loss of a batch.

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

:class:`LossFunction` applies ``config.loss`` to a batch. Sampled losses draw ``n_negatives``
items per batch (:class:`NegativeSampler`), shared by all its positions (or, with
``negatives_per_position``, ``n_negatives`` for each position), with probability proportional to
``count ** sample_alpha`` (GRU4Rec's sampling; 0 = uniform); a negative equal to a position's own
target is masked out. Negatives are not filtered against the user's history.

A network may set ``loss_temperature`` (:class:`~seqrec.models.neural.network.SequenceNetwork`;
HSTU's cosine scores use 0.05 as in its official configs): every score is divided by it before
the loss, ``s / τ`` (then logQ-corrected for the sampled softmax). At the default 1.0 nothing is
divided, so the other networks' losses are exactly what they were.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqrec.data.types import PADDING, SequenceData
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.network import SequenceNetwork


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


# -- the loss of a batch --------------------------------------------------------------------------
class NegativeSampler:
    """Draws negatives with probability ∝ ``count ** alpha`` over items seen in training."""

    def __init__(self, item_counts: np.ndarray, alpha: float) -> None:
        counts = item_counts.astype(np.float64)
        weights = np.where(counts > 0, counts**alpha, 0.0)
        weights[PADDING] = 0.0
        if weights.sum() == 0:
            raise ValueError("no items to sample negatives from: the training data is empty")
        probabilities = weights / weights.sum()
        self.probabilities = torch.from_numpy(probabilities)
        with np.errstate(divide="ignore"):
            self.log_q = torch.from_numpy(np.log(probabilities).astype(np.float32))  # [n_items + 1]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.multinomial(self.probabilities, n, replacement=True, generator=generator)  # [n]


class LossFunction:
    """``config.loss`` applied to the selected hidden states of a batch.

    ``config`` is a checked config (its ``loss`` one of :data:`~seqrec.models.neural.config.LOSSES`):
    models check theirs when they are built, the :class:`~seqrec.models.neural.trainer.Trainer`
    checks the one it is given.
    """

    def __init__(self, config: NeuralConfig, train: SequenceData) -> None:
        self.config = config
        self.real_items = torch.arange(1, train.n_items + 1)  # [n_items]
        self.sampler = None if config.loss == "softmax" else NegativeSampler(train.item_counts(), config.sample_alpha)
        self.beta = gbce_beta(config.n_negatives, train.n_items, config.gbce_t) if config.loss == "gbce" else 1.0

    def __call__(
        self, network: SequenceNetwork, hidden: Tensor, targets: Tensor, generator: torch.Generator
    ) -> Tensor:
        """Loss of ``hidden [N, D]`` predicting ``targets [N]``."""
        temperature = network.loss_temperature
        if self.sampler is None:
            # Score the real items only (columns 1..n_items): padding is never a target.
            logits = network.logits_of(hidden, self.real_items.to(hidden.device))  # [N, n_items]
            return softmax_cross_entropy(_tempered(logits, temperature), targets - 1)
        count = self.config.n_negatives
        if self.config.negatives_per_position:
            negatives = self.sampler.sample(len(targets) * count, generator).view(len(targets), count)  # [N, K]
        else:
            negatives = self.sampler.sample(count, generator)  # [K], shared by the batch
        negatives = negatives.to(hidden.device)
        positive = _tempered(network.logits_of(hidden, targets[:, None])[:, 0], temperature)  # [N]
        negative = _tempered(network.logits_of(hidden, negatives), temperature)  # [N, K]
        valid = negatives.expand(len(targets), count) != targets[:, None]  # [N, K]
        loss = self.config.loss
        if loss == "bce":
            return binary_cross_entropy(positive, negative, valid)
        if loss == "gbce":
            return gbce(positive, negative, self.beta, valid)
        if loss == "sampled_softmax":
            log_q = self.sampler.log_q.to(hidden.device)
            return sampled_softmax(positive, negative, log_q[targets], log_q[negatives], valid)
        if self.config.bpr_max_elu > 0:  # GRU4Rec's final activation before BPR-max
            positive = F.elu(positive, self.config.bpr_max_elu)
            negative = F.elu(negative, self.config.bpr_max_elu)
        return bpr_max(positive, negative, self.config.bpr_max_reg, valid)


def _tempered(scores: Tensor, temperature: float) -> Tensor:
    """``scores / temperature``; untouched at 1.0 (every network but HSTU)."""
    return scores if temperature == 1.0 else scores / temperature
