"""SASRec: self-attentive sequential recommendation.

Kang, W.-C. & McAuley, J. (2018). *Self-Attentive Sequential Recommendation.* ICDM 2018.
Official code: github.com/kang205/SASRec (TensorFlow); PyTorch port: github.com/pmixer/SASRec.pytorch.

The network (paper Sec. III, official code):

* input ``E_i · sqrt(d) + P_t``: item embedding scaled by ``sqrt(d)`` (done in the code, not the
  paper) plus a learned position embedding; dropout; padding positions zeroed;
* ``n_layers`` causal self-attention blocks (:class:`~seqrec.models.neural.blocks.SASRecBlock`:
  normalised queries, no output projection, ReLU point-wise FFN), causality so that position
  ``t`` sees only items ``<= t`` (Sec. III-B "Causality");
* a final layer norm; the score of item ``i`` after position ``t`` is ``F_t · E_i`` with the
  input embedding table shared as output (Sec. III-D, "shared item embedding").

Positions are absolute column indices of the left-padded input (as in the official code), so
the most recent item always has position ``max_len - 1``.

Deviations:

* the loss is selectable; the paper uses BCE with one sampled negative per position
  (``loss="bce", n_negatives=1, negatives_per_position=True``). The default here is the full
  softmax over the catalogue (``loss="softmax"``), which trains much faster and better on
  catalogues this size (Klenitskiy & Vasilev 2023, "Turning Dross Into Gold Loss: is BERT4Rec
  really better than SASRec?");
* the official code draws negatives outside the user's history; here they are drawn from the whole
  catalogue (an accidental hit on the target itself is masked);
* AdamW with PyTorch's default betas (the official code uses Adam with beta2 = 0.98) and early
  stopping on validation NDCG@10 instead of a fixed number of epochs.

Explanation: the attention weights of the last block for the final position (the one that
predicts the next item), averaged over heads, over the history items it reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import torch
from torch import Tensor, nn

from seqrec.data.types import PADDING
from seqrec.models.base import ContractSettings, help_field
from seqrec.models.neural.blocks import SASRecBlock, attention_mask
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.network import Objective, SequenceNetwork
from seqrec.models.neural.recommender import AttentionRecommender


class SASRecNetwork(SequenceNetwork):
    """The SASRec encoder: causal self-attention over item + position embeddings."""

    objective: ClassVar[Objective] = Objective.CAUSAL
    variable_length: ClassVar[bool] = True

    def __init__(self, n_items: int, config: SASRecConfig) -> None:
        super().__init__(n_items, config.max_len)
        dim = config.dim
        self.dim = dim
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=PADDING)
        self.position_embedding = nn.Embedding(config.max_len, dim)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(SASRecBlock(dim, config.n_heads, config.dropout) for _ in range(config.n_layers))
        self.final_norm = nn.LayerNorm(dim, eps=1e-8)
        self._init_weights()

    def _init_weights(self) -> None:
        # Glorot (Xavier) initialisation as in the official TensorFlow code; biases at zero.
        for name, parameter in self.named_parameters():
            if parameter.dim() == 2:
                nn.init.xavier_normal_(parameter)
            elif name.endswith("bias") and "norm" not in name:
                nn.init.zeros_(parameter)
        with torch.no_grad():
            self.item_embedding.weight[PADDING].zero_()

    def _embed(self, input_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        length = input_ids.shape[1]
        positions = torch.arange(self.max_len - length, self.max_len, device=input_ids.device)  # [L]
        keep = (input_ids != PADDING).unsqueeze(-1).to(self.item_embedding.weight.dtype)  # [B, L, 1]
        x = self.item_embedding(input_ids) * math.sqrt(self.dim) + self.position_embedding(positions)  # [B, L, D]
        x = self.embedding_dropout(x) * keep
        return x, keep, attention_mask(input_ids, causal=True)

    def encode(self, input_ids: Tensor) -> Tensor:
        x, keep, allowed = self._embed(input_ids)  # [B, L, D], [B, L, 1], [B, 1, L, L]
        for block in self.blocks:
            x = block(x, allowed, keep)
        return self.final_norm(x)  # [B, L, D]

    def encode_with_attention(self, input_ids: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The explicit reference path: hidden ``[B, L, D]`` and each block's weights ``[B, H, L, L]``."""
        x, keep, allowed = self._embed(input_ids)
        weights = []
        for block in self._typed_blocks():
            x, block_weights = block.forward_with_weights(x, allowed, keep)
            weights.append(block_weights)
        return self.final_norm(x), weights

    def _typed_blocks(self) -> list[SASRecBlock]:
        return [cast(SASRecBlock, block) for block in self.blocks]

    def item_embeddings(self) -> Tensor:
        return self.item_embedding.weight  # [n_items + 1, D]


@dataclass
class SASRecConfig(NeuralConfig):
    batch_size: int = help_field(64, "Training windows per mini-batch.")
    lr: float = help_field(2e-3, "AdamW learning rate (2e-3 and 4e-3 were best on ML-100K validation).")
    n_layers: int = help_field(2, "Self-attention blocks.")
    n_heads: int = help_field(1, "Attention heads per block (dim must be divisible by it).")
    dropout: float = help_field(0.2, "Dropout on embeddings, attention and feed-forward layers.")


class SASRec(AttentionRecommender[SASRecConfig]):
    """SASRec (Kang & McAuley 2018) on the shared trainer."""

    name: ClassVar[str] = "sasrec"
    title: ClassVar[str] = "SASRec"
    contract = ContractSettings(
        {"max_len": 8, "dim": 16, "batch_size": 16, "lr": 5e-3, "epochs": 25, "threads": 1, "progress": False},
    )
    Config: ClassVar[type] = SASRecConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [32, 64, 128]),
            "n_layers": trial.suggest_int("n_layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.1, 0.6),
            "lr": trial.suggest_float("lr", 5e-4, 1e-2, log=True),
        }

    def build_network(self, n_items: int) -> SASRecNetwork:
        return SASRecNetwork(n_items, self.config)
