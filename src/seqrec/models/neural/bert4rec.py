"""BERT4Rec: a bidirectional transformer trained to fill in masked items.

Sun, F., Liu, J., Wu, J., Pei, C., Lin, X., Ou, W. & Jiang, P. (2019). *BERT4Rec: Sequential
Recommendation with Bidirectional Encoder Representations from Transformer.* CIKM 2019.
Official code: github.com/FeiSun/BERT4Rec (TensorFlow, derived from Google's BERT).
Training settings after Petrov, A. & Macdonald, C. (2022). *A Systematic Review and
Replicability Study of BERT4Rec for Sequential Recommendation.* RecSys 2022, which found that the
original results need far longer training than most re-implementations give (they train until
validation NDCG stops improving, with a long patience) and trains with the full softmax.

The network (paper Sec. 3; official ``bert_config_ml-1m_64.json``: 2 layers, 2 heads, hidden 64,
FFN 256, GELU, dropout 0.2 on hidden states and attention, mask probability 0.2):

* input ``LayerNorm(E_i + P_t)`` then dropout (BERT's embedding layer), with an extra ``[mask]``
  token (id ``n_items + 1``);
* ``n_layers`` post-norm bidirectional transformer blocks (:class:`~seqrec.models.neural.blocks.BertBlock`,
  paper eq. 4-6);
* the output layer of eq. 7: ``GELU(h W + b)``, layer norm, then the dot product with the shared
  item embedding plus a per-item output bias.

Training (Sec. 3.6, the Cloze task): a random ``round(mask_prob · n)`` (at least one) of each
window's ``n`` items are replaced by ``[mask]`` and predicted; at inference ``[mask]`` is appended
after the history and its hidden state scores the next item.

Deviations:

* the masked positions are always replaced by ``[mask]`` (the paper's description; BERT's 80/10/10
  replacement is not used) and are re-drawn every epoch instead of being generated once with a
  ``dupe_factor``; the paper's extra samples that mask only the last item are not generated;
* inputs are left-padded and positions are counted from the right, so the ``[mask]`` at inference
  always has the last position (the official code pads on the right); the model is the same up to
  a permutation of the learned position embeddings;
* AdamW with a constant learning rate instead of BERT's warm-up and linear decay;
* dense layers start Glorot-uniform (as in SASRec's code) instead of BERT's N(0, 0.02²): with the
  small initialisation the attention starts uniform and the loss sits on a long plateau (the
  model first learns a bag-of-items predictor) before it uses positions — on the tiny test world
  the plateau took ~4x more steps. Embeddings keep BERT's N(0, 0.02²).

Explanation: the last block's attention from the appended ``[mask]`` position to the history
items, averaged over heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from seqrec.data.types import PADDING
from seqrec.models.base import ContractSettings, help_field
from seqrec.models.neural.blocks import BertBlock, attention_mask
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.network import Objective, SequenceNetwork
from seqrec.models.neural.recommender import AttentionRecommender

INIT_STD = 0.02
"""BERT's ``initializer_range``: embeddings start from N(0, 0.02²)."""


class BERT4RecNetwork(SequenceNetwork):
    """Bidirectional transformer encoder with a masked-item prediction head."""

    objective: ClassVar[Objective] = Objective.MASKED
    variable_length: ClassVar[bool] = True

    def __init__(self, n_items: int, config: BERT4RecConfig) -> None:
        super().__init__(n_items, config.max_len)
        if not 0.0 < config.mask_prob < 1.0:
            raise ValueError(f"mask_prob must lie in (0, 1), got {config.mask_prob}")
        self.mask_prob = config.mask_prob
        dim = config.dim
        self.item_embedding = nn.Embedding(n_items + 2, dim, padding_idx=PADDING)  # + [mask]
        self.position_embedding = nn.Embedding(config.max_len, dim)
        self.embedding_norm = nn.LayerNorm(dim, eps=1e-12)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            BertBlock(dim, config.n_heads, 4 * dim, config.dropout, config.attention_dropout)
            for _ in range(config.n_layers)
        )
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim, eps=1e-12))  # eq. 7
        self.output_bias = nn.Parameter(torch.zeros(n_items + 1))
        self._init_weights()

    def _init_weights(self) -> None:
        # Embeddings as BERT (truncated N(0, 0.02²)); dense layers Glorot-uniform (a deviation, see
        # the module docstring): with BERT's 0.02 the attention starts uniform and training sits on
        # a long plateau before it learns to use positions.
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.trunc_normal_(module.weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.item_embedding.weight[PADDING].zero_()

    def _embed(self, input_ids: Tensor) -> tuple[Tensor, Tensor]:
        length = input_ids.shape[1]
        positions = torch.arange(self.max_len - length, self.max_len, device=input_ids.device)  # [L]
        x = self.item_embedding(input_ids) + self.position_embedding(positions)  # [B, L, D]
        x = self.embedding_dropout(self.embedding_norm(x))
        return x, attention_mask(input_ids, causal=False)

    def encode(self, input_ids: Tensor) -> Tensor:
        x, allowed = self._embed(input_ids)  # [B, L, D], [B, 1, L, L]
        for block in self.blocks:
            x = block(x, allowed)
        return self.head(x)  # [B, L, D]

    def encode_with_attention(self, input_ids: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The explicit reference path: hidden ``[B, L, D]`` and each block's weights ``[B, H, L, L]``."""
        x, allowed = self._embed(input_ids)
        weights = []
        for block in self._typed_blocks():
            x, block_weights = block.forward_with_weights(x, allowed)
            weights.append(block_weights)
        return self.head(x), weights

    def _typed_blocks(self) -> list[BertBlock]:
        return [cast(BertBlock, block) for block in self.blocks]

    def item_embeddings(self) -> Tensor:
        return self.item_embedding.weight[: self.n_items + 1]  # [n_items + 1, D], without [mask]

    def item_bias(self) -> Tensor:
        return self.output_bias  # [n_items + 1]


@dataclass
class BERT4RecConfig(NeuralConfig):
    max_len: int = help_field(200, "Longest history the network reads, [mask] included.")
    batch_size: int = help_field(64, "Training windows per mini-batch.")
    lr: float = help_field(2e-3, "AdamW learning rate.")
    n_layers: int = help_field(2, "Transformer blocks.")
    n_heads: int = help_field(2, "Attention heads per block.")
    dropout: float = help_field(0.2, "Dropout on embeddings and hidden states (official: 0.2).")
    attention_dropout: float = help_field(0.2, "Dropout on attention weights (official: 0.2).")
    mask_prob: float = help_field(0.2, "Share of each window's items masked for training (official: 0.2).")
    patience: int = help_field(
        20, "Epochs without validation gain before stopping (long: BERT4Rec converges slowly)."
    )


class BERT4Rec(AttentionRecommender[BERT4RecConfig]):
    """BERT4Rec (Sun et al. 2019) with the training of Petrov & Macdonald (2022)."""

    name: ClassVar[str] = "bert4rec"
    title: ClassVar[str] = "BERT4Rec"
    attention_focus: ClassVar[str] = "; filling the [mask] after the history it"
    contract = ContractSettings(
        {"max_len": 8, "dim": 16, "batch_size": 32, "lr": 3e-3, "epochs": 120, "mask_prob": 0.3, "dropout": 0.1, "attention_dropout": 0.1, "threads": 1, "progress": False},
    )
    Config: ClassVar[type] = BERT4RecConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [64, 128]),
            "mask_prob": trial.suggest_float("mask_prob", 0.1, 0.5),
            "dropout": trial.suggest_float("dropout", 0.1, 0.5),
            "lr": trial.suggest_float("lr", 5e-4, 5e-3, log=True),
        }

    def build_network(self, n_items: int) -> BERT4RecNetwork:
        return BERT4RecNetwork(n_items, self.config)
