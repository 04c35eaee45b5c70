"""UniSRec: item text, adapted by a mixture of whitening experts, read by SASRec.

Hou, Y., Mu, S., Zhao, W. X., Li, Y., Ding, B. & Wen, J.-R. (2022). *Towards Universal Sequence
Representation Learning for Recommender Systems.* KDD 2022 (arXiv 2206.05941).
Official code: github.com/RUCAIBox/UniSRec (``unisrec.py``, ``props/UniSRec.yaml``), on RecBole.

The network (paper Sec. 3, official code):

* **frozen text embeddings** ``x_i``: each item's document (title, category, text:
  :func:`~seqrec.data.types.item_documents`) through a pre-trained text encoder, computed once
  before training (:mod:`seqrec.models.llm.text`, cached on disk); the paper uses BERT's [CLS],
  here ``all-MiniLM-L6-v2`` by default;
* **parametric whitening** per expert (eq. 2): ``x̃ = (x - b) W``, a learned bias and projection
  (:class:`ParametricWhitening`; dropout on ``x`` first, as the code does);
* **mixture-of-experts adaptor** (eq. 3-4): ``v = Σ_k g_k x̃^{(k)}`` with gates
  ``g = softmax(x W_gate + δ)``, where in training ``δ ~ N(0, 1) · (softplus(x W_noise) + 0.01)``
  (the code's ``noisy_top_k_gating``, which despite its name keeps all experts); both matrices
  start at zero, so every expert starts with weight ``1/K`` (:class:`MoEAdaptor`);
* the **SASRec encoder** over ``LayerNorm(v_i + p_t)`` (+ an id embedding ``e_i`` in transductive
  mode), dropout, causal self-attention blocks;
* **output item embeddings** = the adapted text embeddings ``v_i`` (inductive: text only, so any
  item with a text can be scored, also one never bought in training) or ``v_i + e_i``
  (transductive, the paper's fine-tuning "with ID"); scores are cosine similarities over a
  temperature (``τ = 0.07``), trained with the full softmax (the code's ``CE`` loss).

The paper pre-trains the encoder and adaptor on several domains, then fine-tunes on the target
domain with the encoder frozen. We train on one dataset from scratch (the adaptor and encoder
together; the text encoder stays frozen): the code's ``inductive_ft`` / ``transductive_ft``
stages without a pre-trained checkpoint. Pre-training across datasets is not implemented.

Deviations:

* the self-attention blocks are this package's SASRec blocks (:mod:`~seqrec.models.neural.sasrec`,
  the official SASRec code's) rather than RecBole's post-norm Transformer; the embedding layer
  (layer norm of the sum, then dropout) and the ``N(0, 0.02²)`` position embedding are UniSRec's;
* sentence-transformers vectors are unit-norm where BERT's [CLS] vectors (the paper's) have
  coordinates of about unit size, so the text vectors are multiplied by ``sqrt(T)`` before the
  adaptor: otherwise the ``N(0, 0.02²)`` experts start an order of magnitude below the position
  embedding and training stalls (with both scales fixed, 3 epochs of ``bench/text_cold_start.py``
  gave the inductive model cold HR@10 0.30 where they had given 0.14);
* the adaptor runs once per training step over the whole table, shared by the inputs and the
  softmax (one noise draw per item and step; the code draws one per position and one for the
  table), which is cheaper whenever the catalogue is smaller than a batch;
* every position of a training window is a target (the trainer's ``Objective.CAUSAL``), where
  RecBole takes one target per prefix;
* items without any interaction in the training data are left out of the training softmax
  (``unseen_negatives=False``): a model meant to score new items should not learn to push their
  texts down before it has seen anyone buy them. In the official code every catalogue item is a
  negative (``unseen_negatives=True``; ``bench/text_cold_start.py`` compares the two). Scoring
  always covers every item;
* transductive id embeddings start at zero (RecBole: ``N(0, 0.02²)``), so an item never bought in
  training is scored by its text alone rather than text plus noise.

Explanation: the attention of the last block's final position over the history (as SASRec).
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.data.splits import EvalSet
from seqrec.data.types import PADDING, SequenceData
from seqrec.models.base import ContractSettings, NotFittedError, help_field
from seqrec.models.llm.text import (
    NO_CACHE,
    TextEncoder,
    TextSettings,
    configured_encoder,
    item_text_embeddings,
)
from seqrec.models.neural.blocks import attention_mask
from seqrec.models.neural.recommender import AttentionRecommender
from seqrec.models.neural.sasrec import SASRec, SASRecConfig, SASRecNetwork
from seqrec.ranking import Capabilities

UniSRecMode = Literal["inductive", "transductive"]
"""``inductive``: items are their adapted text only; ``transductive``: adapted text + an id embedding."""
MODES: tuple[UniSRecMode, ...] = typing.get_args(UniSRecMode)


# -- the adaptor (paper Sec. 3.1) -----------------------------------------------------------------
class ParametricWhitening(nn.Module):
    """``(Dropout(x) - b) W`` (paper eq. 2): a learned centre ``b`` and projection ``W``, no bias."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.bias = nn.Parameter(torch.zeros(in_dim))
        self.projection = nn.Linear(in_dim, out_dim, bias=False)
        nn.init.normal_(self.projection.weight, 0.0, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        return self.projection(self.dropout(x) - self.bias)  # [..., out_dim]


class MoEAdaptor(nn.Module):
    """A softmax-gated mixture of :class:`ParametricWhitening` experts (paper eq. 3-4)."""

    def __init__(self, n_experts: int, in_dim: int, out_dim: int, dropout: float, noisy_gating: bool = True) -> None:
        super().__init__()
        if n_experts < 1:
            raise ValueError(f"n_experts must be >= 1, got {n_experts}")
        self.experts = nn.ModuleList(ParametricWhitening(in_dim, out_dim, dropout) for _ in range(n_experts))
        self.gate = nn.Parameter(torch.zeros(in_dim, n_experts))
        self.noise = nn.Parameter(torch.zeros(in_dim, n_experts))
        self.noisy_gating = noisy_gating

    def gates(self, x: Tensor) -> Tensor:
        """Expert weights ``[..., K]`` of text vectors ``x [..., T]`` (each row sums to 1); in
        training, Gaussian noise of learned scale is added to the logits first."""
        logits = x @ self.gate  # [..., K]
        if self.noisy_gating and self.training:
            scale = F.softplus(x @ self.noise) + 1e-2  # [..., K]
            logits = logits + torch.randn_like(logits) * scale
        return torch.softmax(logits, dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        experts = torch.stack([expert(x) for expert in self.experts], dim=-2)  # [..., K, D]
        return (self.gates(x).unsqueeze(-1) * experts).sum(dim=-2)  # [..., D]


# -- the network ------------------------------------------------------------------------------------
class UniSRecNetwork(SASRecNetwork):
    """SASRec's blocks over adapted text embeddings; cosine scores over a temperature.

    ``text_embeddings [n_items + 1, T]`` (row 0 = padding) is a buffer, not a parameter, and not
    part of the ``state_dict``: the recommender saves it once and rebuilds the network with it.
    """

    text_embeddings: Tensor  # [n_items + 1, T], a buffer

    def __init__(self, n_items: int, config: UniSRecConfig, text_embeddings: Tensor) -> None:
        super().__init__(n_items, config)  # position embedding, blocks, final norm (SASRec's init)
        if text_embeddings.shape[0] != n_items + 1:
            raise ValueError(f"text embeddings have {text_embeddings.shape[0]} rows, expected n_items + 1 = {n_items + 1}")
        # Unit-norm sentence vectors times sqrt(T): coordinates of RMS 1, the scale of the BERT [CLS]
        # vectors the official code adapts, so the N(0, 0.02²) experts start with a visible signal.
        text_dim = text_embeddings.shape[1]
        self.register_buffer("text_embeddings", text_embeddings.float() * math.sqrt(text_dim), persistent=False)  # [n_items + 1, T]
        self.adaptor = MoEAdaptor(config.n_experts, text_dim, config.dim, config.adaptor_dropout)
        nn.init.normal_(self.position_embedding.weight, 0.0, 0.02)  # RecBole's init, the adaptor's scale
        self.embedding_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.temperature = config.temperature
        self.unseen_negatives = config.unseen_negatives
        self.transductive = config.mode == "transductive"
        self.unseen_bias: Tensor | None = None
        self._step_table: Tensor | None = None
        if self.transductive:
            with torch.no_grad():
                self.item_embedding.weight.zero_()  # [n_items + 1, D]: a new item is its text
        else:
            del self.item_embedding  # inductive: no id embedding at all (as the official code)

    def on_fit_start(self, train: SequenceData) -> None:
        if self.unseen_negatives:
            return
        counts = torch.from_numpy(train.item_counts())  # [n_items + 1]
        bias = torch.where(counts > 0, 0.0, -math.inf).to(self.text_embeddings.device)
        self.unseen_bias = bias if bool(torch.isinf(bias[1:]).any()) else None

    def train(self, mode: bool = True) -> Self:
        self._step_table = None
        return super().train(mode)

    def item_table(self) -> Tensor:
        """``[n_items + 1, D]``: each item's adapted text (+ its id embedding), unnormalised; the
        input of the encoder and, normalised, the output table (as in the official code)."""
        table = self.adaptor(self.text_embeddings)  # [n_items + 1, D]
        return table + self.item_embedding.weight if self.transductive else table

    def _embed(self, input_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        length = input_ids.shape[1]
        positions = torch.arange(self.max_len - length, self.max_len, device=input_ids.device)  # [L]
        keep = (input_ids != PADDING).unsqueeze(-1).to(self.text_embeddings.dtype)  # [B, L, 1]
        # The adapted table, then a lookup (the softmax needs the whole table anyway). In training
        # the loss of the same step reuses it: one adaptor pass and one noise draw per step.
        table = self.item_table()  # [n_items + 1, D]
        if self.training:
            self._step_table = table
        x = table[input_ids] + self.position_embedding(positions)  # [B, L, D]
        x = self.embedding_dropout(self.embedding_norm(x)) * keep
        return x, keep, attention_mask(input_ids, causal=True)

    def _scaled(self, hidden: Tensor) -> Tensor:
        return F.normalize(hidden, dim=-1) / self.temperature  # [..., D]: cosine / tau against unit items

    def encode(self, input_ids: Tensor) -> Tensor:
        return self._scaled(super().encode(input_ids))  # [B, L, D]

    def encode_with_attention(self, input_ids: Tensor) -> tuple[Tensor, list[Tensor]]:
        hidden, weights = super().encode_with_attention(input_ids)
        return self._scaled(hidden), weights

    def item_embeddings(self) -> Tensor:
        # In training, the table of the latest encode (the loss of the same step); see _embed.
        table = self._step_table if self.training and self._step_table is not None else self.item_table()
        return F.normalize(table, dim=-1)  # [n_items + 1, D]

    def item_bias(self) -> Tensor | None:
        """In training only: ``-inf`` for items with no training interaction (not negatives of the
        softmax, see the module docstring); scoring never masks an item."""
        return self.unseen_bias if self.training else None


# -- the recommender ------------------------------------------------------------------------------
@dataclass
class UniSRecConfig(SASRecConfig, TextSettings):
    mode: Literal[UniSRecMode] = help_field(
        "transductive", "inductive (items = adapted text; scores items never bought) | transductive (+ an id embedding)."
    )
    n_experts: int = help_field(8, "Whitening experts in the MoE adaptor (official: 8).")
    adaptor_dropout: float = help_field(0.2, "Dropout on the text embeddings inside each expert (official: 0.2).")
    temperature: float = help_field(0.07, "Softmax temperature of the cosine scores (official: 0.07).")
    unseen_negatives: bool = help_field(
        False, "Items never bought in training are negatives of the training softmax (the official code: True)."
    )
    n_heads: int = help_field(2, "Attention heads per block (dim must be divisible by it; official: 2).")
    lr: float = help_field(2e-3, "AdamW learning rate.")


class UniSRec(AttentionRecommender[UniSRecConfig]):
    """UniSRec (Hou et al. 2022): text-based item representations for SASRec; see the module docstring."""

    name: ClassVar[str] = "unisrec"
    title: ClassVar[str] = "UniSRec"
    era: ClassVar[int] = 3
    Config: ClassVar[type] = UniSRecConfig
    capabilities: ClassVar[Capabilities] = Capabilities(needs_items=True, embedding_scores=True)
    """Item info, not necessarily free text: an item without text is encoded by its title and category.
    Scores are dot products (unit sequence vector over the temperature, unit item vectors), so an
    inner-product index serves them."""
    state_attributes: ClassVar[tuple[str, ...]] = ("text_embeddings",)
    contract = ContractSettings(
        {
            "max_len": 8,
            "dim": 16,
            "batch_size": 16,
            "lr": 5e-3,
            "epochs": 25,
            "threads": 1,
            "progress": False,
            "text_cache": NO_CACHE,
        },
        why="transductive: the id embeddings learn the cycles; the ids-only catalogue's texts are its ids",
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.text_embeddings: np.ndarray | None = None

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            **SASRec.search_space(trial),  # dim, n_layers, dropout, lr
            "n_experts": trial.suggest_categorical("n_experts", [1, 4, 8]),
            "temperature": trial.suggest_float("temperature", 0.03, 0.3, log=True),
        }

    def encoder(self) -> TextEncoder:
        """The configured text encoder (:func:`~seqrec.models.llm.text.configured_encoder`)."""
        return configured_encoder(self.config, self.config.device)

    def _fit(self, train: SequenceData, valid: EvalSet | None, **options: Any) -> None:
        assert self.items is not None  # fit checked capabilities.needs_items
        if self.config.threads > 0:
            torch.set_num_threads(self.config.threads)  # the text encoder runs before the trainer
        self.text_embeddings = item_text_embeddings(self.items, self.encoder())  # [n_items + 1, T]
        super()._fit(train, valid, **options)

    def build_network(self, n_items: int) -> UniSRecNetwork:
        if self.text_embeddings is None:
            raise NotFittedError(f"{self.name}: no text embeddings yet; call fit first")
        return UniSRecNetwork(n_items, self.config, torch.from_numpy(self.text_embeddings))


__all__ = ["MODES", "MoEAdaptor", "ParametricWhitening", "UniSRec", "UniSRecConfig", "UniSRecNetwork"]
