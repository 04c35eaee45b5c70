"""Transformer pieces shared by the attention networks (SASRec, BERT4Rec, their descendants).

* :func:`attention_mask` — which key each query may attend to (padding, causality).
* :class:`MultiHeadSelfAttention` — scaled dot-product attention (Vaswani et al. 2017, eq. 1)
  with a fast path (``F.scaled_dot_product_attention``) and a slow, explicit reference path that
  also returns the attention weights (used for explanations and to test the fast path).
* :class:`SASRecBlock` — the block of the official SASRec code (Kang & McAuley 2018): layer norm
  on the queries only, residual from the normalised queries, then norm + point-wise FFN (ReLU).
* :class:`BertBlock` — the post-norm BERT block (Devlin et al. 2019) BERT4Rec uses:
  ``LN(x + Dropout(Attn(x)))`` then ``LN(x + Dropout(FFN(x)))`` with a GELU FFN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.data.types import PADDING


def attention_mask(input_ids: Tensor, causal: bool) -> Tensor:
    """Boolean ``[B, 1, L, L]`` mask, ``True`` where query ``i`` may attend to key ``j``.

    Padding keys are hidden; with ``causal`` so is every key after the query (the future).
    Every position may attend to itself so that a padding query (whose output is discarded)
    never has an empty row, which would make the softmax NaN.
    """
    length = input_ids.shape[1]
    real_keys = (input_ids != PADDING)[:, None, None, :]  # [B, 1, 1, L]
    allowed = real_keys.expand(-1, 1, length, -1)  # [B, 1, L, L]
    if causal:
        past = torch.ones(length, length, dtype=torch.bool, device=input_ids.device).tril()  # [L, L]
        allowed = allowed & past
    itself = torch.eye(length, dtype=torch.bool, device=input_ids.device)  # [L, L]
    return allowed | itself


class MultiHeadSelfAttention(nn.Module):
    """Multi-head scaled dot-product attention, ``softmax(Q Kᵀ / sqrt(d_head)) V``.

    Queries and keys may come from different inputs (SASRec normalises only the queries).
    ``output_projection`` adds the final linear map of Vaswani et al.; the official SASRec
    code has none, BERT has one.
    """

    def __init__(self, dim: int, n_heads: int, dropout: float, output_projection: bool) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim {dim} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.dropout = dropout
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.output: nn.Module = nn.Linear(dim, dim) if output_projection else nn.Identity()

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, length, dim = x.shape
        return x.view(batch, length, self.n_heads, dim // self.n_heads).transpose(1, 2)  # [B, H, L, Dh]

    def _merge_heads(self, x: Tensor) -> Tensor:
        batch, heads, length, head_dim = x.shape
        return x.transpose(1, 2).reshape(batch, length, heads * head_dim)  # [B, L, D]

    def forward(self, queries: Tensor, keys: Tensor, allowed: Tensor) -> Tensor:
        """Attention output ``[B, L, D]`` (fast path)."""
        q = self._split_heads(self.query(queries))  # [B, H, L, Dh]
        k = self._split_heads(self.key(keys))  # [B, H, L, Dh]
        v = self._split_heads(self.value(keys))  # [B, H, L, Dh]
        dropout = self.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout)
        return self.output(self._merge_heads(attended))

    def forward_with_weights(self, queries: Tensor, keys: Tensor, allowed: Tensor) -> tuple[Tensor, Tensor]:
        """The explicit reference path: output ``[B, L, D]`` and weights ``[B, H, L, L]``."""
        q = self._split_heads(self.query(queries))  # [B, H, L, Dh]
        k = self._split_heads(self.key(keys))  # [B, H, L, Dh]
        v = self._split_heads(self.value(keys))  # [B, H, L, Dh]
        logits = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # [B, H, L, L]
        weights = torch.softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)  # [B, H, L, L]
        dropped = F.dropout(weights, self.dropout, self.training)
        return self.output(self._merge_heads(dropped @ v)), weights


class PointWiseFeedForward(nn.Module):
    """``Dropout(W2 · Dropout'(act(W1 x)))``: the same two-layer MLP at every position.

    SASRec drops out after the activation too (``inner_dropout``); BERT only after ``W2``.
    """

    def __init__(
        self, dim: int, hidden_dim: int, dropout: float, activation: nn.Module, inner_dropout: float
    ) -> None:
        super().__init__()
        self.inner = nn.Linear(dim, hidden_dim)
        self.outer = nn.Linear(hidden_dim, dim)
        self.activation = activation
        self.inner_dropout = nn.Dropout(inner_dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.outer(self.inner_dropout(self.activation(self.inner(x)))))


class SASRecBlock(nn.Module):
    """One self-attention block as in the official SASRec code (kang205/SASRec).

    The paper writes ``x + Dropout(g(LayerNorm(x)))`` for each sub-layer; the released code
    normalises only the attention *queries*, adds the attention output to those normalised
    queries, then normalises again before the feed-forward layer (with its own residual).
    We follow the code, which produced the published numbers.
    """

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.query_norm = nn.LayerNorm(dim, eps=1e-8)
        # Dropout acts on the attention weights only (the official code drops no attention output).
        self.attention = MultiHeadSelfAttention(dim, n_heads, dropout, output_projection=False)
        self.feed_forward_norm = nn.LayerNorm(dim, eps=1e-8)
        self.feed_forward = PointWiseFeedForward(dim, dim, dropout, nn.ReLU(), inner_dropout=dropout)

    def forward(self, x: Tensor, allowed: Tensor, keep: Tensor) -> Tensor:
        """``x [B, L, D]``, ``allowed [B, 1, L, L]``, ``keep [B, L, 1]`` (0 at padding)."""
        queries = self.query_norm(x)
        x = queries + self.attention(queries, x, allowed)
        return self._feed_forward(x, keep)

    def forward_with_weights(self, x: Tensor, allowed: Tensor, keep: Tensor) -> tuple[Tensor, Tensor]:
        """As :meth:`forward`, through the explicit attention path; also returns ``[B, H, L, L]`` weights."""
        queries = self.query_norm(x)
        attended, weights = self.attention.forward_with_weights(queries, x, allowed)
        x = queries + attended
        return self._feed_forward(x, keep), weights

    def _feed_forward(self, x: Tensor, keep: Tensor) -> Tensor:
        x = self.feed_forward_norm(x)
        return (x + self.feed_forward(x)) * keep  # padding positions stay zero


class BertBlock(nn.Module):
    """A post-norm transformer encoder block (BERT; BERT4Rec, Sun et al. 2019, eq. 4-6)."""

    def __init__(self, dim: int, n_heads: int, hidden_dim: int, dropout: float, attention_dropout: float) -> None:
        super().__init__()
        self.attention = MultiHeadSelfAttention(dim, n_heads, attention_dropout, output_projection=True)
        self.attention_dropout = nn.Dropout(dropout)
        self.attention_norm = nn.LayerNorm(dim, eps=1e-12)
        self.feed_forward = PointWiseFeedForward(dim, hidden_dim, dropout, nn.GELU(), inner_dropout=0.0)
        self.feed_forward_norm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """``x [B, L, D]``, ``allowed [B, 1, L, L]``."""
        x = self.attention_norm(x + self.attention_dropout(self.attention(x, x, allowed)))
        return self.feed_forward_norm(x + self.feed_forward(x))

    def forward_with_weights(self, x: Tensor, allowed: Tensor) -> tuple[Tensor, Tensor]:
        """As :meth:`forward` through the explicit path; also returns ``[B, H, L, L]`` weights."""
        attended, weights = self.attention.forward_with_weights(x, x, allowed)
        x = self.attention_norm(x + self.attention_dropout(attended))
        return self.feed_forward_norm(x + self.feed_forward(x)), weights
