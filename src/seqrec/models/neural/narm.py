"""NARM: the Neural Attentive Recommendation Machine.

Li, J., Ren, P., Chen, Z., Ren, Z., Lian, T. & Ma, J. (2017). *Neural Attentive Session-based
Recommendation.* CIKM 2017. Official code: github.com/lijingsdu/sessionRec_NARM (Theano).

The network (the paper's model section, official ``NARM.py``):

* a GRU reads the session's item embeddings (embedding dropout 0.25 in the official code);
* the **global encoder** keeps the last hidden state, ``c_g = h_t``;
* the **local encoder** attends over every hidden state with the last one as the query,
  ``α_tj = vᵀ σ(A1 h_t + A2 h_j)`` and ``c_l = Σ_j α_tj h_j``;
* the session is ``c_t = [c_g; c_l]``, dropped out (0.5 in the official code);
* the **bilinear decoder** scores item ``i`` as ``S_i = embᵢᵀ B c_t`` with the input
  embedding table ``emb`` and ``B`` of shape ``[D, 2H]``.

The shared trainer scores by dot products ``hidden · embᵢ``. Because ``embᵢᵀ B c_t =
embᵢ · (B c_t)``, the bilinear decoder *is* a dot product once the session representation is
projected to ``D`` by ``B`` (a bias-free linear map from ``2H`` to ``D``): ``encode`` returns
``B c_t`` and the scores are exactly the bilinear ones, computed as ``(emb B) c_t`` without
forming ``emb B``. Objective: ``LAST`` (each prefix of a sequence predicts its next item, the
augmentation of Tan et al. 2016 that NARM trains with).

Deviations:

* σ is the logistic sigmoid of the paper; the official code uses Theano's ``hard_sigmoid``,
  a piecewise-linear speed approximation;
* the attention weights are normalised by a softmax over the session's real (non-padding)
  positions, as in the official code; the paper writes ``c_l`` with raw ``α``. Normalised
  weights also make the explanation readable (they sum to 1);
* the official code initialises weights with ``N(0, 2/fan_in)`` and orthogonal recurrent
  matrices; we keep PyTorch's uniform GRU and linear weights and draw embeddings from
  ``N(0, 0.1²)``, and train with the shared trainer's loss (full softmax by default, the
  paper's cross-entropy) and AdamW with early stopping.

Explanation: the attention weights ``α_tj`` over the history (evidence rows ``item``,
``position``, ``weight``), with the split of the score into its global (``c_g``) and local
(``c_l``) parts, which the bilinear decoder makes additive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqrec.data.types import PADDING
from seqrec.models.base import ContractSettings, Explanation, help_field
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.explanations import attention_explanation
from seqrec.models.neural.network import Objective, SequenceNetwork
from seqrec.models.neural.recommender import NeuralRecommender


def run_gru_left_padded(gru: nn.GRU, embedded: Tensor, real: Tensor) -> Tensor:
    """GRU outputs ``[B, L, H]`` of left-padded inputs, zero at padding positions.

    A GRU fed the padding first would change its state on every padding step (its biases act
    even on zero inputs), so the real items are right-aligned and packed: the GRU starts from
    ``h0 = 0`` at each session's first item, exactly as for an unpadded session.
    ``embedded`` is ``[B, L, E]`` and ``real`` ``[B, L]`` marks non-padding positions; rows
    without any item get zero outputs.
    """
    length = embedded.shape[1]
    lengths = real.sum(dim=1)  # [B]
    shift = (length - lengths)[:, None]  # [B, 1] leading padding of each row
    columns = torch.arange(length, device=embedded.device)[None, :]  # [1, L]
    to_right = (
        columns + shift
    ) % length  # [B, L]: right-aligned column c reads left column c + shift
    right_aligned = embedded.gather(1, to_right[:, :, None].expand_as(embedded))  # [B, L, E]
    packed = pack_padded_sequence(
        right_aligned, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
    )
    packed_outputs, _ = gru(packed)
    # [B, L, H], right-aligned
    outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=length)
    to_left = (columns - shift) % length  # [B, L]: column c reads right-aligned column c - shift
    restored = outputs.gather(1, to_left[:, :, None].expand(-1, -1, outputs.shape[-1]))  # [B, L, H]
    return restored * real[:, :, None].to(restored.dtype)


def masked_softmax(logits: Tensor, real: Tensor) -> Tensor:
    """Softmax over the ``real`` positions of each row ``[B, L]``; rows with none give zeros."""
    weights = torch.softmax(logits.masked_fill(~real, float("-inf")), dim=-1)  # [B, L]
    return torch.nan_to_num(weights, nan=0.0)


class NARMNetwork(SequenceNetwork):
    """GRU global encoder + attentive local encoder + bilinear decoder (Li et al. 2017)."""

    objective: ClassVar[Objective] = Objective.LAST

    def __init__(self, n_items: int, config: NARMConfig) -> None:
        super().__init__(n_items, config.max_len)
        dim, hidden_size = config.dim, config.hidden_size
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=PADDING)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.gru = nn.GRU(dim, hidden_size, batch_first=True)
        # The local encoder's attention v^T sigmoid(A1 h_t + A2 h_j).
        self.query_projection = nn.Linear(hidden_size, hidden_size, bias=False)  # A1
        self.key_projection = nn.Linear(hidden_size, hidden_size, bias=False)  # A2
        self.attention_vector = nn.Linear(hidden_size, 1, bias=False)  # v
        self.representation_dropout = nn.Dropout(config.representation_dropout)
        # B of the bilinear decoder, mapping c_t = [c_g; c_l] to D.
        self.bilinear = nn.Linear(2 * hidden_size, dim, bias=False)
        with torch.no_grad():
            self.item_embedding.weight.mul_(0.1)
            self.item_embedding.weight[PADDING].zero_()

    def session_parts(self, input_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``c_g [B, H]``, ``c_l [B, H]`` and the attention weights ``α [B, L]`` (0 at padding)."""
        real = input_ids != PADDING  # [B, L]
        embedded = self.embedding_dropout(self.item_embedding(input_ids))  # [B, L, D]
        states = run_gru_left_padded(self.gru, embedded, real)  # [B, L, H]
        last_state = states[:, -1]  # [B, H]: left padding puts the newest item last (c_g)
        energies = self.attention_vector(
            torch.sigmoid(
                self.query_projection(last_state)[:, None, :] + self.key_projection(states)
            )
        ).squeeze(-1)  # [B, L]  v^T sigmoid(A1 h_t + A2 h_j)
        weights = masked_softmax(energies, real)  # [B, L]
        local = (weights[:, :, None] * states).sum(dim=1)  # [B, H]  c_l
        return last_state, local, weights

    def encode(self, input_ids: Tensor) -> Tensor:
        global_part, local_part, _ = self.session_parts(input_ids)
        session = torch.cat([global_part, local_part], dim=-1)  # [B, 2H] c_t
        projected = self.bilinear(self.representation_dropout(session))  # [B, D] B c_t
        return projected[:, None, :]  # [B, 1, D]: emb_i · (B c_t) = emb_i^T B c_t

    def item_embeddings(self) -> Tensor:
        return self.item_embedding.weight  # [n_items + 1, D], shared by input and decoder


@dataclass
class NARMConfig(NeuralConfig):
    hidden_size: int = help_field(100, "GRU hidden size H (the paper uses 100).")
    embedding_dropout: float = help_field(
        0.25, "Dropout on the item embeddings (official code: 0.25)."
    )
    representation_dropout: float = help_field(
        0.5, "Dropout on the session representation [c_g; c_l] (official code: 0.5)."
    )


class NARM(NeuralRecommender[NARMConfig]):
    """NARM (Li et al. 2017) on the shared trainer."""

    name: ClassVar[str] = "narm"
    contract = ContractSettings(
        {"dim": 16, "hidden_size": 16, "max_len": 8, "epochs": 15, "batch_size": 64, "lr": 5e-3, "progress": False},
    )
    Config: ClassVar[type] = NARMConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [32, 64, 128]),
            "hidden_size": trial.suggest_categorical("hidden_size", [50, 100, 200]),
            "embedding_dropout": trial.suggest_float("embedding_dropout", 0.0, 0.5),
            "representation_dropout": trial.suggest_float("representation_dropout", 0.0, 0.6),
            "lr": trial.suggest_float("lr", 5e-4, 5e-3, log=True),
        }

    def build_network(self, n_items: int) -> NARMNetwork:
        return NARMNetwork(n_items, self.config)

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """Attention weights over the history, and the score split into global and local parts."""
        network, inputs = self.explain_inputs(history, item)
        assert isinstance(network, NARMNetwork)
        with torch.no_grad():
            global_part, local_part, weights = network.session_parts(inputs)
            hidden_size = global_part.shape[-1]
            decoder = network.bilinear.weight  # [D, 2H] = B
            item_vector = network.item_embedding.weight[int(item)]  # [D]
            global_score = float(item_vector @ decoder[:, :hidden_size] @ global_part[0])
            local_score = float(item_vector @ decoder[:, hidden_size:] @ local_part[0])
        shown = min(len(history), inputs.shape[1])
        tail_weights = weights[0, inputs.shape[1] - shown :].cpu().numpy().astype(np.float64)
        summary = (
            f"NARM scores item {item} at {global_score + local_score:.3f}: {global_score:.3f} "
            f"from the global encoder (the GRU's last state) and {local_score:.3f} from the "
            "attentive local encoder"
        )
        return attention_explanation(self.name, item, history, tail_weights, summary, ", which")
