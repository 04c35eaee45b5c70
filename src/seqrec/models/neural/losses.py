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

Where the sampled softmax takes its negatives (``config.negatives``; nothing ever builds an
``[N, n_items]`` score matrix, so a catalogue of millions of items trains in the memory of the
``[n_items, D]`` embedding table):

* ``"sampled"`` (default): the ``n_negatives`` sampled items above, corrected by
  ``log q(i)`` of the sampler. This path is exactly what it was before the other two existed.
* ``"in_batch"``: the targets of the batch's other positions are the negatives (Yi et al. 2019,
  "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations", RecSys,
  Sec. 3-4: batch softmax with ``s^c(x_i, y_j) = s(x_i, y_j) - log p_j``). A batch of ``N``
  positions gives an ``[N, N]`` score matrix; row ``i`` keeps its own target (the diagonal) as
  the positive, and every other column whose target is the same item as ``y_i`` (an accidental
  hit: a repeated target) is masked, not pushed down. ``p_j`` is the probability that item
  ``y_j`` is a batch target, estimated as its unigram probability in the training interactions
  (``count / total``). Deviations: Yi et al. estimate ``p_j`` by streaming frequency estimation
  over the batches seen so far; we use the static count of the training data, the same quantity
  in expectation (the first item of a sequence, never a causal target, is counted too). Repeated
  items stay repeated columns, as the with-replacement sampled softmax of ``"sampled"``; the
  constant ``log N`` of the expected count ``N p_j`` cancels in the softmax and is left out.
  ``n_negatives``, ``negatives_per_position`` and ``sample_alpha`` are not used.
* ``"mixed"``: mixed negative sampling (Yang et al. 2020, "Mixed Negative Sampling for Learning
  Two-tower Neural Networks in Recommendations", WWW companion): the in-batch negatives plus
  ``n_negatives`` items from the sampler (``sample_alpha = 0``: uniform over the catalogue, the
  paper's index sampling; shared or per position as above). The candidate multiset of a row is
  then ``N - 1`` draws from the unigram ``p`` and ``K`` draws from the sampler's ``q``, so every
  candidate ``v`` (and the positive) is corrected by the log of its expected count,
  ``log((N - 1) p(v) + K q(v))``, which makes ``Σ_candidates exp(s_v) / E[count_v]`` an unbiased
  estimate of the full partition function. Yang et al. correct the logits by the mixed
  candidate distribution; writing it as expected counts is ours, and is what keeps the relative
  weight of the two sources right when ``N`` and ``K`` differ. Accidental hits are masked in
  both parts.

Memory of the in-batch part is ``O(N^2)`` for ``N`` target positions per batch (``B·L`` for the
causal networks) against ``O(N · n_items)`` for the full softmax.

A network may set ``loss_temperature`` (:class:`~seqrec.models.neural.network.SequenceNetwork`;
HSTU's cosine scores use 0.05 as in its official configs): every score is divided by it before
the loss, ``s / τ`` (then logQ-corrected for the sampled softmax). At the default 1.0 nothing is
divided, so the other networks' losses are exactly what they were.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from seqrec.data.types import PADDING, SequenceData
from seqrec.models.neural.config import NeuralConfig, check_negatives, check_recipe
from seqrec.models.neural.network import SequenceNetwork


def softmax_cross_entropy(logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Mean full-softmax cross-entropy of ``logits [N, C]`` against column ids ``targets [N]``,
    with ``label_smoothing`` of the target's mass spread evenly over all ``C`` columns."""
    return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)


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
    checks the one it is given; ``config.negatives`` is checked here again
    (:func:`~seqrec.models.neural.config.check_negatives`, a ``ValueError`` naming the field).
    With ``negatives`` ``"in_batch"`` or ``"mixed"`` the targets passed in are the batch's
    negatives too (see the module docstring).
    """

    def __init__(self, config: NeuralConfig, train: SequenceData) -> None:
        check_negatives(config)  # also for configs whose __post_init__ skips NeuralConfig's
        check_recipe(config)
        self.config = config
        self.real_items = torch.arange(1, train.n_items + 1)  # [n_items]
        counts = train.item_counts()
        uses_sampler = config.loss != "softmax" and config.negatives != "in_batch"
        self.sampler = NegativeSampler(counts, config.sample_alpha) if uses_sampler else None
        self.beta = gbce_beta(config.n_negatives, train.n_items, config.gbce_t) if config.loss == "gbce" else 1.0
        # log p(i): how often item i is a batch target, estimated by its training frequency.
        self.target_log_q = None if config.negatives == "sampled" else target_log_frequencies(counts)

    def __call__(
        self, network: SequenceNetwork, hidden: Tensor, targets: Tensor, generator: torch.Generator
    ) -> Tensor:
        """Loss of ``hidden [N, D]`` predicting ``targets [N]``."""
        temperature = network.loss_temperature
        if self.target_log_q is not None:
            return self._in_batch(network, hidden, targets, generator)
        if self.sampler is None:
            # Score the real items only (columns 1..n_items): padding is never a target.
            logits = network.logits_of(hidden, self.real_items.to(hidden.device))  # [N, n_items]
            return softmax_cross_entropy(_tempered(logits, temperature), targets - 1, self.config.label_smoothing)
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


    def _in_batch(
        self, network: SequenceNetwork, hidden: Tensor, targets: Tensor, generator: torch.Generator
    ) -> Tensor:
        """The sampled softmax with in-batch (``"in_batch"``) or mixed (``"mixed"``) negatives."""
        assert self.target_log_q is not None
        temperature = network.loss_temperature
        n = len(targets)
        target_log_q = self.target_log_q.to(hidden.device)
        batch_valid = targets[None, :] != targets[:, None]  # [N, N]: the diagonal and repeats out
        if self.sampler is None:  # "in_batch": logQ = log p(y_j)
            batch_scores = _tempered(network.logits_of(hidden, targets), temperature)  # [N, N]
            positive = batch_scores.diagonal()  # [N]: s(h_i, y_i)
            log_q_batch = target_log_q[targets]  # [N]
            return sampled_softmax(positive, batch_scores, log_q_batch, log_q_batch, batch_valid)
        count = self.config.n_negatives  # "mixed": add K sampled negatives
        if self.config.negatives_per_position:
            sampled = self.sampler.sample(n * count, generator).view(n, count).to(hidden.device)  # [N, K]
            batch_scores = _tempered(network.logits_of(hidden, targets), temperature)  # [N, N]
            sampled_scores = _tempered(network.logits_of(hidden, sampled), temperature)  # [N, K]
            negative = torch.cat([batch_scores, sampled_scores], dim=1)  # [N, N + K]
        else:
            # One matmul over the batch's targets and the shared [K] set: no [N, K, D] gather,
            # and a network whose item table is computed (HSTU's normalised one) computes it once.
            sampled = self.sampler.sample(count, generator).to(hidden.device)  # [K]
            negative = _tempered(network.logits_of(hidden, torch.cat([targets, sampled])), temperature)
            batch_scores = negative[:, :n]  # [N, N]; negative is [N, N + K]
            sampled = sampled.expand(n, count)  # [N, K]
        positive = batch_scores.diagonal()  # [N]: s(h_i, y_i)
        sampler_log_q = self.sampler.log_q.to(hidden.device)

        def log_q(items: Tensor) -> Tensor:
            """log E[count of the item among a row's candidates] = log((N-1) p + K q)."""
            return mixture_log_q(items, n - 1, target_log_q, count, sampler_log_q)

        log_q_batch = log_q(targets)  # [N]
        log_q_negative = torch.cat([log_q_batch.expand(n, n), log_q(sampled)], dim=1)  # [N, N + K]
        valid = torch.cat([batch_valid, sampled != targets[:, None]], dim=1)  # [N, N + K]
        return sampled_softmax(positive, negative, log_q_batch, log_q_negative, valid)


def target_log_frequencies(item_counts: np.ndarray) -> Tensor:
    """``log p(i)`` [n_items + 1] (float32): each item's share of the training interactions, the
    estimate of how often it is a batch target (Yi et al. 2019's ``p_j``); ``-inf`` for items never
    seen, and for padding."""
    return NegativeSampler(item_counts, alpha=1.0).log_q


def mixture_log_q(
    items: Tensor, n_batch: int, batch_log_q: Tensor, n_sampled: int, sampled_log_q: Tensor
) -> Tensor:
    """``log(n_batch · p(i) + n_sampled · q(i))`` for every id of ``items`` (any shape): the log
    expected number of copies of item ``i`` among ``n_batch`` draws from ``p`` and ``n_sampled``
    draws from ``q``, given as the log tables ``batch_log_q`` and ``sampled_log_q`` [n_items + 1]."""
    terms = []
    if n_batch > 0:
        terms.append(batch_log_q[items] + math.log(n_batch))
    if n_sampled > 0:
        terms.append(sampled_log_q[items] + math.log(n_sampled))
    if not terms:
        raise ValueError("mixture_log_q needs at least one draw (n_batch + n_sampled >= 1)")
    return terms[0] if len(terms) == 1 else torch.logaddexp(terms[0], terms[1])


def _tempered(scores: Tensor, temperature: float) -> Tensor:
    """``scores / temperature``; untouched at 1.0 (every network but HSTU)."""
    return scores if temperature == 1.0 else scores / temperature
