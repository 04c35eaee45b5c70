"""HSTU: the Hierarchical Sequential Transduction Unit, the first network here that reads time.

Zhai, J. et al. (2024). *Actions Speak Louder than Words: Trillion-Parameter Sequential
Transducers for Generative Recommendations.* ICML 2024 (arXiv:2402.17152).
Official code: github.com/meta-recsys/generative-recommenders,
``generative_recommenders/research/modeling/sequential/hstu.py`` (the plain-PyTorch model of the
paper's Sec. 4.1.1 experiments) with ``configs/ml-1m/hstu-sampled-softmax-n128-final.gin``.

The network (paper eq. 1-3, official code)
-------------------------------------------
* input ``E_i · sqrt(d) + P_t`` (item embedding scaled by ``sqrt(d)`` plus a learned absolute
  position embedding), dropout, padding positions zeroed — the code's
  ``LearnablePositionalEmbeddingInputFeaturesPreprocessor``. Item embeddings start from a normal
  truncated at two standard deviations (std 0.02), positions from Xavier-normal (the code's
  ``reset_params`` overwrites their own truncated-normal start);
* ``n_layers`` HSTU blocks, each (eq. 1-3)::

      U, V, Q, K = split(SiLU(LayerNorm(x) · W_uvqk))                     # one projection
      A(x)V(x)   = (SiLU(Q Kᵀ + rab(p, t)) / n) · V   (causal mask)       # pointwise attention
      x'         = W_o · Dropout(U ⊙ LayerNorm(A(x)V(x))) + x             # gated, residual

  with layer norms without learned scale (``F.layer_norm``, eps 1e-6), ``W_uvqk`` drawn from
  N(0, 0.02²), ``W_o`` Xavier-uniform; heads share one relative bias; the attention-output norm
  runs over all heads together (the code's ``_norm_attn_output``);
* the relative attention bias of every block: a learned bias per relative position ``i - j`` plus
  a learned bias per time bucket ``floor(ln(max(|Δt|, 1)) / 0.301)`` clamped to ``[0, 128]``
  (129 weights, all from N(0, 0.02²)); ``Δt`` is the gap between the query's *next* timestamp and
  the key's timestamp (:func:`query_timestamps`);
* the output is L2-normalised, and so are the item embeddings it is scored against (the code's
  ``L2NormEmbeddingPostprocessor`` with ``item_l2_norm=True``): scores are cosines. The input
  embedding is *not* normalised (the code multiplies the raw table by ``sqrt(d)``).
* loss (official): sampled softmax over 128 uniform negatives per position, temperature 0.05,
  accidental hits masked — ``SampledSoftmaxLoss`` with the ``LocalNegativesSampler`` of the ML-1M
  configs (``loss="sampled_softmax"`` here). The temperature divides the cosines in the loss only
  (rankings do not depend on it).

The attention's division by ``n``
---------------------------------
The code divides ``SiLU(QKᵀ + rab)`` by ``n``, the *padded* sequence length (its input is padded to
``max_sequence_len + max_output_len``), not by the number of items a row really has: a constant.
``attention_norm="max_len"`` (the default) does that with ``n = max_len`` here; the constant never
depends on a batch, so dropping leading padding columns stays exact. ``attention_norm="visible"``
divides instead by the number of items query ``t`` may see (real keys ``<= t``), a causal mean.

Time: what the network is told
------------------------------
The official bias reads, for query ``i``, ``ts[i + 1] - ts[j]``: the time of the item *to be
predicted* minus the time of key ``j``, with the last column's missing "next" timestamp filled by
duplicating that column's own (``ext_timestamps = cat([ts, ts[:, N-1:N]])``). In the official data
pipeline (``features.movielens_seq_features_from_row``) the target's timestamp is scattered into the
padded sequence right after the history, so the official model *is* told the target's time, in
training and in evaluation. Here it never is: the evaluation protocol gives histories, not the time
of the next purchase (the observable oracle, ``models/oracle.py``, likewise knows only the last
purchase time). At scoring the last position's "next" timestamp is therefore the last history
timestamp duplicated (the official fill for the last column), and, to train under the same
condition, a training window carries only its inputs' timestamps: positions ``t < L - 1`` see the
true time of the item they predict (``ts[t + 1]``, as in the code), the last column sees its own.
``time_reference="current"`` uses ``ts[i] - ts[j]`` at every position instead (nothing about the
time to come, the same in training and scoring).

Deviations from the official code, and why
------------------------------------------
* the default loss is the full softmax over the catalogue (same temperature 0.05) with lr 3e-3:
  on ML-100K validation (seed 0, the first version of ``bench/hstu_ml100k.py``: 200 items,
  patience 4) it gave NDCG@10 0.0935 against 0.0899 for the official sampled softmax at lr 3e-3
  and 0.0852 at the official lr 1e-3, and its epochs cost a third to a half as much on a CPU;
  with 50 items and patience 10 the official setting came out a little ahead (0.0966 vs 0.0949),
  but only the full softmax takes label smoothing, which with overlapping windows, a warm-up and
  dropout 0.3 reached 0.1273, 0.1325 with SASRec's moving average of the weights
  (``ema_decay=0.99``) and 0.1356 with temperature 0.1 as well (``bench/results/hstu_ml100k.md``);
  ``loss="sampled_softmax", lr=1e-3`` is the official setting;
* the target's timestamp is not given (above): the protocol does not know it;
* positions (the absolute embedding) are counted from the most recent item, as SASRec here does
  (the code counts from the oldest item of a right-padded window): then leading padding columns
  can be dropped exactly (``variable_length``), which is much faster; the relative-position table
  holds the ``max_len`` causal distances (the code's ``2n - 1`` weights include the ``n - 1``
  future ones that the causal mask always hides);
* ``max_len`` defaults to 50 as for the other networks here (the ML-1M configs use 200; CPU time);
* negatives are drawn uniformly from the items seen in training (the code: all item ids) through
  the shared sampler; with uniform sampling its logQ correction is a constant and changes nothing;
  accidental hits are masked with ``-inf`` (the code: ``-5e4``);
* AdamW with PyTorch's default betas (the code: ``betas=(0.9, 0.98)``), early stopping on
  validation NDCG@10 (the trainer) instead of a fixed 101 epochs;
* no attention dropout: the code accepts ``attn_dropout_rate`` but its ``rel_bias`` attention never
  applies it; one ``dropout`` for the input embedding and the block output (both 0.2 in the code);
* no jagged tensors, Triton kernels or KV cache: explicit masks on dense, left-padded batches.

Options beyond the paper (off by default; the defaults are the official network)
---------------------------------------------------------------------------------
* ``time_key_rank`` R > 0 adds a key-dependent time term to the bias: ``a_j · G[bucket_ij]`` with
  ``a_j = W_a LayerNorm(x_j)`` (R numbers per key, from the block's normalised input) and ``G`` a
  learned R-vector per bucket. The official bias is one scalar per bucket shared by every item, so
  it cannot make a consumable's weight peak at *its own* cycle (litter due after 30 days, coffee
  after 7); this term can. On the shop world (``bench/results/hstu_shop.md``, 3 seeds), with batch
  16 and gaps from the current item's time, it lifts HSTU from 0.313 to 0.346 NDCG@10 (SASRec
  0.329) and on re-buy targets from 0.474 to 0.513, far from what the times allow (a hand-written
  rule that reads them reaches 0.849 there).
* ``repeat_rank`` R > 0 adds a repeat term to the output (ours; a copy path in the spirit of
  RepeatNet, Ren et al. 2019, but read off the clock): ``hidden_i = norm(x_i) + sum_j w_ij Ê_j``
  over the *latest* purchase ``j <= i`` of each item in the history, with ``Ê_j`` that item's own
  normalised output embedding and ``w_ij = r_item(j) · P[bucket_ij]`` (a learned R-vector per item
  and per time bucket, ``P`` starting at zero, so training starts from the plain network). Since
  scores are dot products with the normalised item table, the term adds about ``w_ij`` to the score
  of the item bought at ``j`` (plus ``w_ij`` times its cosine to every other item): a per-item
  curve over the time since its last purchase, which can rise when a consumable comes due and fall
  right after it was bought — what the attention's bias, mixed into a normalised hidden state,
  learns only weakly here (``bench/results/hstu_shop_attention.md``). It reads the same time
  buckets as the attention (``time_reference``). On the shop world (``bench/results/hstu_shop.md``,
  3 seeds; with the keyed bias above, batch 16, gaps from the current item's time) it lifts re-buy
  NDCG@10 from 0.513 to 0.724 (the observable oracle: 0.789; SASRec 0.470) and all targets from
  0.346 to 0.415; with every gap in one bucket (no clock) re-buys stay at 0.483. The explanation adds each row's
  ``repeat_weight`` and, for an item in the history, the weight of its latest purchase.
* ``time_bucket_width`` / ``n_time_buckets``: the bucket formula's divisor (official 0.301, a
  factor 1.35 per bucket, so a ±20% re-buy window spans about 1.4 buckets at a 30-day cycle) and
  the largest bucket (official 128).
* ``encode_with_attention(..., request_times=...)``: the last column's query time (with
  ``time_reference="next"``), for callers that know when the next item is asked for; the
  recommender's scoring does not pass it (the protocol gives histories only).

Explanation: the pointwise attention of the last block's final query (averaged over heads) over
the history, with each item's time gap to the last purchase (``seconds_before_last``). Pointwise
weights are not a distribution: they do not sum to one and may be slightly negative (SiLU).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.data.types import PADDING
from seqrec.models.base import ConfigError, ContractSettings, Explanation, help_field
from seqrec.models.neural.config import LossName, NeuralConfig
from seqrec.models.neural.explanations import attention_explanation
from seqrec.models.neural.network import Objective, SequenceNetwork
from seqrec.models.neural.recommender import NeuralRecommender
from seqrec.ranking import Capabilities

TIME_BUCKETS = 128
"""The official ``num_buckets``: buckets ``0..128`` (129 learned weights)."""
BUCKET_WIDTH = 0.301
"""The official divisor of ``ln |Δt|`` (about ``log10(2)``; so ~3.3 buckets per factor e)."""
NORM_EPS = 1e-6
"""Epsilon of the block layer norms and of the L2 normalisations (the code's ``epsilon``/``eps``)."""

AttentionNorm = Literal["max_len", "visible"]
TimeReference = Literal["next", "current"]
RelativeBias = Literal["time_and_position", "position"]


# -- time buckets and the relative attention bias ------------------------------------------------
def time_buckets(gaps: Tensor, width: float = BUCKET_WIDTH, count: int = TIME_BUCKETS) -> Tensor:
    """``floor(ln(max(|Δt|, 1)) / width)`` clamped to ``[0, count]`` (int64), for gaps in seconds
    (official: width 0.301, count 128).

    Computed in float64 so that a gap on a bucket boundary lands where the formula puts it.
    """
    seconds = gaps.abs().clamp(min=1).to(torch.float64)
    return torch.floor(torch.log(seconds) / width).long().clamp(0, count)


def query_timestamps(
    timestamps: Tensor, reference: TimeReference, request_times: Tensor | None = None
) -> Tensor:
    """The time each query position measures gaps from ``[B, L]``.

    ``"next"`` (official): the timestamp of the following column; the last column's is
    ``request_times [B]`` when given (the time the next item is asked for: the official pipeline
    passes the target's timestamp there), else its own timestamp duplicated. ``"current"``: the
    query's own timestamp (``request_times`` is not read).
    """
    if reference == "current":
        return timestamps
    last = timestamps[:, -1:] if request_times is None else request_times.to(timestamps)[:, None]
    return torch.cat([timestamps[:, 1:], last], dim=1)  # [B, L]


def relative_time_buckets(
    timestamps: Tensor,
    reference: TimeReference,
    request_times: Tensor | None = None,
    width: float = BUCKET_WIDTH,
    count: int = TIME_BUCKETS,
) -> Tensor:
    """Bucket ``[B, L, L]`` of ``query_time[b, i] - timestamps[b, j]`` (computed once per forward,
    shared by the blocks)."""
    queries = query_timestamps(timestamps, reference, request_times)  # [B, L]
    return time_buckets(queries[:, :, None] - timestamps[:, None, :], width, count)


class RelativeAttentionBias(nn.Module):
    """``rab(p, t)[b, i, j]``: a learned weight per causal distance ``i - j`` plus, with time, a
    learned weight per time bucket (:func:`relative_time_buckets`) and, with ``key_rank`` R > 0
    (an extension, not in the paper), a key-dependent time term ``a_j · G[bucket_ij]``: ``a_j =
    W_a LayerNorm(x_j)`` (R numbers per key) and ``G`` a learned R-vector per bucket."""

    def __init__(
        self,
        max_len: int,
        with_time: bool,
        dim: int = 0,
        key_rank: int = 0,
        n_buckets: int = TIME_BUCKETS,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.position_weight = nn.Parameter(torch.empty(max_len).normal_(mean=0.0, std=0.02))
        self.time_weight = (
            nn.Parameter(torch.empty(n_buckets + 1).normal_(mean=0.0, std=0.02))
            if with_time
            else None
        )
        keyed = with_time and key_rank > 0
        self.time_key = nn.Linear(dim, key_rank, bias=False) if keyed else None
        self.time_profile = (
            nn.Parameter(torch.empty(n_buckets + 1, key_rank).normal_(mean=0.0, std=0.02))
            if keyed
            else None
        )

    def forward(self, length: int, buckets: Tensor | None, keys: Tensor | None = None) -> Tensor:
        """Bias ``[B, L, L]`` (``[1, L, L]`` without time) for buckets ``[B, L, L]``; ``keys``
        ``[B, L, D]`` (the block's normalised input) feeds the key-dependent term. Entries above
        the diagonal are masked by the attention."""
        steps = torch.arange(length, device=self.position_weight.device)
        distance = (steps[:, None] - steps[None, :]).clamp(0, self.max_len - 1)  # [L, L], i - j
        bias = self.position_weight[distance][None]  # [1, L, L]
        if self.time_weight is None or buckets is None:
            return bias
        bias = bias + self.time_weight[buckets]  # [B, L, L]
        if self.time_key is None or self.time_profile is None or keys is None:
            return bias
        return bias + self.key_time_term(buckets, keys)

    def key_time_term(self, buckets: Tensor, keys: Tensor) -> Tensor:
        """The key-dependent time term ``a_j · G[bucket_ij]`` ``[B, L, L]`` (needs ``key_rank`` > 0)."""
        assert self.time_key is not None and self.time_profile is not None
        per_key = self.time_key(keys)  # [B, L, R]: a_j
        profile = self.time_profile[buckets]  # [B, L, L, R]: G[bucket_ij]
        return (profile * per_key[:, None, :, :]).sum(dim=-1)  # [B, L, L]


# -- pointwise attention: the fast batched path and the explicit reference ------------------------
def attention_allowed(input_ids: Tensor) -> Tensor:
    """Boolean ``[B, L, L]``: query ``i`` may read key ``j`` when ``j <= i`` and ``j`` is an item.

    Unlike a softmax, pointwise attention needs no key per row, so padding queries read nothing.
    """
    length = input_ids.shape[1]
    past = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()  # [L, L]
    return (input_ids != PADDING)[:, None, :] & past  # [B, L, L]


def attention_scale(allowed: Tensor, norm: AttentionNorm, max_len: int) -> Tensor:
    """``mask / n`` ``[B, L, L]`` (float): 0 where a key is hidden, else one over the padded length
    ``max_len`` (official) or over the number of keys the query may read (``visible``)."""
    mask = allowed.to(torch.float32)
    if norm == "max_len":
        return mask / float(max_len)
    return mask / allowed.sum(dim=-1, keepdim=True).clamp(min=1).to(torch.float32)


def pointwise_attention(
    q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: Tensor
) -> tuple[Tensor, Tensor]:
    """``(SiLU(Q Kᵀ + rab) ⊙ mask / n) · V`` for all heads at once (paper eq. 2).

    ``q``/``k`` ``[B, H, L, Dqk]``, ``v`` ``[B, H, L, Dv]``, ``bias`` ``[B or 1, L, L]``, ``scale``
    ``[B, L, L]`` (:func:`attention_scale`). Returns the output ``[B, H, L, Dv]`` and the weights
    ``[B, H, L, L]``.
    """
    logits = q @ k.transpose(-1, -2) + bias[:, None]  # [B, H, L, L]
    weights = F.silu(logits) * scale[:, None]  # [B, H, L, L]
    return weights @ v, weights


def reference_pointwise_attention(
    q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: Tensor
) -> tuple[Tensor, Tensor]:
    """The same attention written out one query and one key at a time (slow; tests only).

    ``out[b, h, i] = sum over keys j with scale[b, i, j] > 0 of
    SiLU(q[b, h, i] · k[b, h, j] + bias[b, i, j]) * scale[b, i, j] * v[b, h, j]``.
    """
    batch, heads, length, _ = q.shape
    bias = bias.expand(batch, length, length)
    out = torch.zeros(batch, heads, length, v.shape[-1], dtype=v.dtype)
    weights = torch.zeros(batch, heads, length, length, dtype=v.dtype)
    for b in range(batch):
        for h in range(heads):
            for i in range(length):
                for j in range(length):
                    if float(scale[b, i, j]) == 0.0:
                        continue  # a padding key or a key in the future
                    logit = float(torch.dot(q[b, h, i], k[b, h, j])) + float(bias[b, i, j])
                    silu = logit / (1.0 + math.exp(-logit))  # SiLU(x) = x sigmoid(x)
                    weights[b, h, i, j] = silu * float(scale[b, i, j])
                    out[b, h, i] += weights[b, h, i, j] * v[b, h, j]
    return out, weights


def latest_purchases(input_ids: Tensor) -> Tensor:
    """Boolean ``[B, L, L]``: key ``j`` is, for query ``i``, the latest purchase of its item that the
    query may see — ``j <= i``, ``j`` is an item, and the same item does not come again in ``(j, i]``."""
    length = input_ids.shape[1]
    same = input_ids[:, :, None] == input_ids[:, None, :]  # [B, j, j']
    after = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).triu(diagonal=1)  # j' > j
    again = torch.cumsum((same & after).to(torch.int32), dim=-1)  # [B, j, i]: repeats of item j in (j, i]
    return attention_allowed(input_ids) & (again.transpose(1, 2) == 0)  # [B, i, j]


class RepeatTerm(nn.Module):
    """The repeat term of ``repeat_rank`` (an extension, see the module docstring): per query ``i``
    and latest purchase ``j``, the weight ``w_ij = r_item(j) · P[bucket_ij]`` of that item's own
    output embedding."""

    def __init__(self, n_items: int, rank: int, n_buckets: int) -> None:
        super().__init__()
        self.item_rank = nn.Embedding(n_items + 1, rank, padding_idx=PADDING)
        nn.init.normal_(self.item_rank.weight, mean=0.0, std=0.02)
        with torch.no_grad():
            self.item_rank.weight[PADDING].zero_()
        self.profile = nn.Parameter(torch.zeros(n_buckets + 1, rank))  # P: 0 = no repeat term yet

    def weights(self, input_ids: Tensor, buckets: Tensor) -> Tensor:
        """``w_ij`` ``[B, L, L]``, zero except at each query's latest purchases."""
        per_item = self.item_rank(input_ids)  # [B, L, R]: r_item(j)
        curve = (self.profile[buckets] * per_item[:, None, :, :]).sum(dim=-1)  # [B, L, L]
        return curve * latest_purchases(input_ids).to(curve.dtype)


class HSTUBlock(nn.Module):
    """One HSTU layer (paper eq. 1-3; the code's ``SequentialTransductionUnitJagged``)."""

    def __init__(self, config: HSTUConfig) -> None:
        super().__init__()
        self.dim = config.dim
        self.n_heads = config.n_heads
        self.attention_dim = config.head_attention_dim
        self.linear_dim = config.head_linear_dim
        self.dropout = config.dropout
        width = 2 * self.n_heads * (self.linear_dim + self.attention_dim)
        # [D, 2H(Dv + Dqk)]: U, V, Q, K in one matrix, N(0, 0.02^2) as in the code.
        self.uvqk = nn.Parameter(torch.empty(self.dim, width).normal_(mean=0.0, std=0.02))
        self.output = nn.Linear(self.n_heads * self.linear_dim, self.dim)
        nn.init.xavier_uniform_(self.output.weight)
        self.relative_bias = RelativeAttentionBias(
            config.max_len,
            config.relative_bias == "time_and_position",
            config.dim,
            config.time_key_rank,
            config.n_time_buckets,
        )

    def _heads(self, x: Tensor, head_dim: int) -> Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, head_dim).transpose(1, 2)  # [B, H, L, Dh]

    def forward(
        self, x: Tensor, buckets: Tensor | None, scale: Tensor, reference: bool = False
    ) -> tuple[Tensor, Tensor]:
        """``x [B, L, D]``, time ``buckets [B, L, L]`` (or ``None``), ``scale [B, L, L]`` → new ``x``
        and the attention weights ``[B, H, L, L]`` (``reference``: the explicit loop path)."""
        normed = F.layer_norm(x, (self.dim,), eps=NORM_EPS)  # [B, L, D]
        projected = F.silu(normed @ self.uvqk)  # eq. 1
        linear, attention = self.n_heads * self.linear_dim, self.n_heads * self.attention_dim
        u, v, q, k = torch.split(projected, [linear, linear, attention, attention], dim=-1)
        bias = self.relative_bias(x.shape[1], buckets, normed)  # [B or 1, L, L]
        attend = reference_pointwise_attention if reference else pointwise_attention
        attended, weights = attend(
            self._heads(q, self.attention_dim),
            self._heads(k, self.attention_dim),
            self._heads(v, self.linear_dim),
            bias,
            scale,
        )  # eq. 2: [B, H, L, Dv], [B, H, L, L]
        merged = attended.transpose(1, 2).reshape(x.shape[0], x.shape[1], linear)  # [B, L, H·Dv]
        gated = u * F.layer_norm(merged, (linear,), eps=NORM_EPS)  # eq. 3
        return self.output(F.dropout(gated, self.dropout, self.training)) + x, weights


def l2_normalised(x: Tensor) -> Tensor:
    """``x / max(||x||, eps)`` along the last axis (the code's L2 postprocessor and item norm)."""
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp(min=NORM_EPS)


class HSTUNetwork(SequenceNetwork):
    """The HSTU encoder: item + position embeddings, HSTU blocks, L2-normalised output."""

    objective: ClassVar[Objective] = Objective.CAUSAL
    variable_length: ClassVar[bool] = True
    uses_time: ClassVar[bool] = True

    def __init__(self, n_items: int, config: HSTUConfig) -> None:
        super().__init__(n_items, config.max_len)
        self.dim = config.dim
        self.loss_temperature = config.temperature
        self.attention_norm: AttentionNorm = config.attention_norm
        self.time_reference: TimeReference = config.time_reference
        self.with_time = config.relative_bias == "time_and_position"
        self.bucket_width, self.n_buckets = config.time_bucket_width, config.n_time_buckets
        self.item_embedding = nn.Embedding(n_items + 1, config.dim, padding_idx=PADDING)
        self.position_embedding = nn.Embedding(config.max_len, config.dim)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(HSTUBlock(config) for _ in range(config.n_layers))
        self.repeat = (
            RepeatTerm(n_items, config.repeat_rank, config.n_time_buckets) if config.repeat_rank else None
        )
        with torch.no_grad():
            nn.init.trunc_normal_(self.item_embedding.weight, mean=0.0, std=0.02, a=-0.04, b=0.04)
            self.item_embedding.weight[PADDING].zero_()
            nn.init.xavier_normal_(self.position_embedding.weight)

    def _embed(self, input_ids: Tensor) -> Tensor:
        length = input_ids.shape[1]
        positions = torch.arange(
            self.max_len - length, self.max_len, device=input_ids.device
        )  # [L], from the right
        keep = (
            (input_ids != PADDING).unsqueeze(-1).to(self.item_embedding.weight.dtype)
        )  # [B, L, 1]
        x = self.item_embedding(input_ids) * math.sqrt(self.dim) + self.position_embedding(
            positions
        )  # [B, L, D]
        return self.embedding_dropout(x) * keep

    def encode(self, input_ids: Tensor) -> Tensor:
        raise TypeError(
            "HSTU reads timestamps: call encode_timed(input_ids, timestamps) or encode_inputs"
        )

    def encode_timed(self, input_ids: Tensor, timestamps: Tensor) -> Tensor:
        return self.encode_with_attention(input_ids, timestamps)[0]

    def encode_with_attention(
        self,
        input_ids: Tensor,
        timestamps: Tensor,
        reference: bool = False,
        request_times: Tensor | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """Hidden states ``[B, L, D]`` (L2-normalised, plus the repeat term with ``repeat_rank``) and
        each block's weights ``[B, H, L, L]``;
        ``reference`` runs the explicit loop attention (slow, for tests); ``request_times [B]``:
        the last column's query time (:func:`query_timestamps`)."""
        x = self._embed(input_ids)  # [B, L, D]
        scale = attention_scale(attention_allowed(input_ids), self.attention_norm, self.max_len)
        buckets = self.time_buckets(timestamps, request_times) if self.with_time else None
        weights = []
        for block in self.blocks:
            x, block_weights = block(x, buckets, scale, reference)
            weights.append(block_weights)
        hidden = l2_normalised(x)
        if self.repeat is not None and buckets is not None:
            bought = l2_normalised(self.item_embedding(input_ids))  # [B, L, D]: Ê of each purchase
            hidden = hidden + self.repeat.weights(input_ids, buckets) @ bought  # [B, L, D]
        return hidden, weights

    def time_buckets(self, timestamps: Tensor, request_times: Tensor | None = None) -> Tensor:
        """The network's time bucket ``[B, L, L]`` of every query/key pair
        (:func:`relative_time_buckets` with its ``time_reference`` and bucket settings)."""
        return relative_time_buckets(
            timestamps, self.time_reference, request_times, self.bucket_width, self.n_buckets
        )

    def item_embeddings(self) -> Tensor:
        return l2_normalised(self.item_embedding.weight)  # [n_items + 1, D], row 0 stays 0

    def item_embeddings_of(self, item_ids: Tensor) -> Tensor:
        return l2_normalised(self.item_embedding(item_ids))  # the chosen rows only


@dataclass
class HSTUConfig(NeuralConfig):
    dim: int = help_field(50, "Embedding / hidden size D (official ML-1M configs: 50).")
    lr: float = help_field(
        3e-3, "AdamW learning rate (official: 1e-3; 3e-3 was better on ML-100K validation)."
    )
    n_layers: int = help_field(2, "HSTU blocks (official ML-1M: 2).")
    n_heads: int = help_field(1, "Attention heads per block (official ML-1M: 1).")
    attention_dim: int = help_field(
        0, "Query/key size per head, dqk (0 = dim // n_heads; official: 50)."
    )
    linear_dim: int = help_field(
        0, "Value/gate size per head, dv (0 = dim // n_heads; official: 50)."
    )
    dropout: float = help_field(
        0.2, "Dropout on the input embeddings and on each block's gated output (official: 0.2)."
    )
    loss: Literal[LossName] = help_field(
        "softmax",
        "Loss: softmax over the whole catalogue (best on ML-100K validation) or the official "
        "sampled_softmax (128 uniform negatives per position); both divide by temperature.",
    )
    n_negatives: int = help_field(128, "Sampled negatives (official: 128 per position).")
    negatives_per_position: bool = help_field(
        True, "Draw n_negatives for every position (official: yes)."
    )
    temperature: float = help_field(
        0.05, "The loss divides the cosine scores by this (official: 0.05)."
    )
    attention_norm: Literal[AttentionNorm] = help_field(
        "max_len",
        "Divide SiLU(QK + rab) by max_len, the padded length (official), or by the keys each query sees (visible).",
    )
    relative_bias: Literal[RelativeBias] = help_field(
        "time_and_position",
        "Relative attention bias: time_and_position (official) or position only.",
    )
    time_reference: Literal[TimeReference] = help_field(
        "next",
        "Time gaps from the next item's timestamp (official; the last position's is its own) or the current one's.",
    )
    time_bucket_width: float = help_field(
        BUCKET_WIDTH, "Time buckets are floor(ln |Δt| / width) (official 0.301: x1.35 per bucket)."
    )
    n_time_buckets: int = help_field(
        TIME_BUCKETS, "Largest time bucket (gaps beyond it share it; official 128)."
    )
    time_key_rank: int = help_field(
        0,
        "Extension (not in the paper): R > 0 adds a key-dependent time bias a_j · G[bucket] of rank R, "
        "so each item's weight can depend on its own time gap (0 = the official bias).",
    )
    repeat_rank: int = help_field(
        0,
        "Extension (not in the paper): R > 0 adds each history item's own embedding to the output, "
        "weighted by a rank-R curve over the time since its latest purchase (0 = the official network).",
    )

    def __post_init__(self) -> None:
        super().__post_init__()  # the shared checks (negatives vs loss)
        for name in ("dim", "n_layers", "n_heads", "max_len"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"HSTUConfig.{name} must be at least 1, got {getattr(self, name)}"
                )
        for name in ("attention_dim", "linear_dim", "time_key_rank", "repeat_rank"):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"HSTUConfig.{name} must be >= 0, got {getattr(self, name)}"
                )
        for name in ("time_key_rank", "repeat_rank"):
            if getattr(self, name) and self.relative_bias != "time_and_position":
                raise ConfigError(
                    f"HSTUConfig.{name} needs relative_bias='time_and_position' (it reads the time buckets)"
                )
        if (self.attention_dim == 0 or self.linear_dim == 0) and self.dim % self.n_heads:
            raise ConfigError(
                f"HSTUConfig.dim {self.dim} is not divisible by n_heads {self.n_heads}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"HSTUConfig.dropout must lie in [0, 1), got {self.dropout}")
        if not math.isfinite(self.time_bucket_width) or self.time_bucket_width <= 0:
            raise ConfigError(
                f"HSTUConfig.time_bucket_width must be positive, got {self.time_bucket_width}"
            )
        if self.n_time_buckets < 1:
            raise ConfigError(
                f"HSTUConfig.n_time_buckets must be at least 1, got {self.n_time_buckets}"
            )
        if not math.isfinite(self.temperature) or self.temperature <= 0:
            raise ConfigError(f"HSTUConfig.temperature must be positive, got {self.temperature}")

    @property
    def head_attention_dim(self) -> int:
        return self.attention_dim or self.dim // self.n_heads

    @property
    def head_linear_dim(self) -> int:
        return self.linear_dim or self.dim // self.n_heads


class HSTU(NeuralRecommender[HSTUConfig]):
    """HSTU (Zhai et al. 2024) on the shared trainer, reading the histories' timestamps."""

    name: ClassVar[str] = "hstu"
    era: ClassVar[int] = 3
    capabilities: ClassVar[Capabilities] = Capabilities(embedding_scores=True, reads_time=True)
    contract = ContractSettings(
        {
            "max_len": 8,
            "dim": 16,
            "batch_size": 16,
            "lr": 5e-3,
            "epochs": 25,
            "threads": 1,
            "progress": False,
        },
    )
    Config: ClassVar[type] = HSTUConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [32, 50, 64, 128]),
            "n_layers": trial.suggest_int("n_layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.1, 0.6),
            "lr": trial.suggest_float("lr", 5e-4, 1e-2, log=True),
        }

    def build_network(self, n_items: int) -> HSTUNetwork:
        return HSTUNetwork(n_items, self.config)

    def attention_over_history(
        self, history: Sequence[int], timestamps: Sequence[int] | None = None
    ) -> tuple[np.ndarray, Tensor]:
        """The last block's final-query weights over the history's tail (averaged over heads),
        and the network's hidden state there ``[1, D]``."""
        network, inputs, times = self.timed_history_input(history, timestamps)
        assert isinstance(network, HSTUNetwork)
        with torch.no_grad():
            hidden, weights = network.encode_with_attention(inputs, times)
        final_query = weights[-1][0, :, -1, :].mean(dim=0)  # [L]
        shown = min(len(history), inputs.shape[1])
        tail = final_query[inputs.shape[1] - shown :].cpu().numpy().astype(np.float64)
        return tail, hidden[:, -1]

    def explain(
        self, history: Sequence[int], item: int, timestamps: Sequence[int] | None = None
    ) -> Explanation:
        """Attention of the final query over the history, with each item's gap to the last purchase.

        ``timestamps`` (seconds, aligned with ``history``); without them the items are taken to be
        one second apart, as ``SequenceData.from_lists`` does.
        """
        self.check_item(item)
        tail, hidden = self.attention_over_history(history, timestamps)
        network = self.require_network()
        with torch.no_grad():
            score = float(network.logits(hidden)[0, int(item)])
        times = list(timestamps) if timestamps is not None else list(range(len(history)))
        summary = f"HSTU scores item {item} at {score:.3f}"
        repeat = self.repeat_weights(history, timestamps)
        offset = len(history) - (0 if repeat is None else len(repeat))  # where the network's tail starts
        shown = list(history)[offset:]
        if repeat is not None and int(item) in shown:
            latest = len(shown) - 1 - shown[::-1].index(int(item))  # in the tail
            gap = int(times[-1]) - int(times[offset + latest])
            summary += (
                f" (its repeat term adds {repeat[latest]:+.3f} for its "
                f"purchase {gap / 86_400:.1f} days before the last)"
            )
        explanation = attention_explanation(
            self.name, item, history, tail, summary, "; predicting the next item it", timestamps=times
        )
        if repeat is not None:
            for row in explanation.evidence:
                row["repeat_weight"] = float(repeat[row["position"] - offset]) + 0.0  # no -0.0
        return explanation

    def repeat_weights(
        self, history: Sequence[int], timestamps: Sequence[int] | None = None
    ) -> np.ndarray | None:
        """With ``repeat_rank``: the repeat term's weight ``w`` of each position of the history's
        tail for the final query (0 except at each item's latest purchase); ``None`` without it."""
        network, inputs, times = self.timed_history_input(history, timestamps)
        assert isinstance(network, HSTUNetwork)
        if network.repeat is None:
            return None
        with torch.no_grad():
            weights = network.repeat.weights(inputs, network.time_buckets(times))[0, -1]  # [L]
        shown = min(len(history), inputs.shape[1])
        return weights[inputs.shape[1] - shown :].cpu().numpy().astype(np.float64)
