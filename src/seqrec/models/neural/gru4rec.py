"""GRU4Rec: a recurrent network over the sequence of items.

Hidasi, B., Karatzoglou, A., Baltrunas, L. & Tikk, D. (2016). *Session-based Recommendations with
Recurrent Neural Networks.* ICLR 2016.
Hidasi, B. & Karatzoglou, A. (2018). *Recurrent Neural Networks with Top-k Gains for
Session-based Recommendations.* CIKM 2018 (BPR-max loss, additional negative samples,
popularity-based sampling with exponent alpha).
Official code: github.com/hidasib/GRU4Rec (Theano) and hidasib/GRU4Rec_PyTorch_Official.

The network, as in the official code:

* the input item's embedding (with ``constrained_embedding`` the input embedding *is* the output
  embedding ``Wy``, the best setting of the official parameter files) with dropout
  (``dropout_embed``);
* ``n_layers`` GRU layers (Cho et al. 2014) with dropout on their outputs (``dropout_hidden``);
* the score of item ``i`` is ``h_t · Wy_i + By_i`` (output embedding and bias).

Option not in the official code, ``output_dense`` (off by default): a linear layer between the
GRU's output and the scoring, ``(W h_t + b) · Wy_i + By_i``, as RecBole's GRU4Rec has. The GRU's
output is a tanh, bounded in ``[-1, 1]`` per unit, so without the layer a confident score needs
large item embeddings, which with ``constrained_embedding`` are also the GRU's inputs; the
layer lets the score's scale and the input scale differ.

Option ``output_bias`` (on by default, as in the official code): ``False`` drops ``By``, so the
score is ``h_t · Wy_i`` alone, as in RecBole's GRU4Rec.

Deviations:

* training: the official code uses *session-parallel mini-batches* and carries the hidden state
  across steps, back-propagating one step at a time. Here every training window is one padded row
  and the GRU is unrolled over it (full back-propagation through time over ``max_len`` steps),
  with targets at every position (the shared trainer's causal objective). The set of (history,
  next item) pairs seen per epoch is the same.
* negatives: the official code uses the other sessions' targets in the mini-batch plus
  ``n_sample`` items drawn with probability ∝ ``count ** sample_alpha``. Here only the drawn
  items are used (``n_negatives``, ``sample_alpha``); in-batch targets are themselves a
  popularity-proportional sample, which ``sample_alpha = 1`` reproduces.
* optimizer: AdamW instead of the official Adagrad with momentum.

Explanation: gradient × input — for each history position, the dot product of the input
embedding with the gradient of the item's score with respect to it (Simonyan et al. 2014;
Shrikumar et al. 2017), i.e. a first-order estimate of how much that purchase adds to the score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqrec.data.types import PADDING
from seqrec.models.base import ContractSettings, Explanation, ExplanationKind, help_field
from seqrec.models.neural.config import LossName, NeuralConfig
from seqrec.models.neural.explanations import position_evidence
from seqrec.models.neural.network import Objective, SequenceNetwork
from seqrec.models.neural.recommender import NeuralRecommender


def _glorot_uniform_(tensor: Tensor, fan_in: int, fan_out: int) -> None:
    """``U(-s, s)`` with ``s = sqrt(6 / (fan_in + fan_out))`` (the official init_parameter_matrix)."""
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    nn.init.uniform_(tensor, -bound, bound)


class GRU4RecNetwork(SequenceNetwork):
    """Item embedding -> stacked GRU -> dot product with output item embeddings plus bias."""

    objective: ClassVar[Objective] = Objective.CAUSAL
    variable_length: ClassVar[bool] = True

    def __init__(self, n_items: int, config: GRU4RecConfig) -> None:
        super().__init__(n_items, config.max_len)
        dim, n_layers = config.dim, config.n_layers
        self.output_embedding = nn.Embedding(n_items + 1, dim)  # Wy [n_items + 1, D]
        self.output_bias = nn.Parameter(torch.zeros(n_items + 1)) if config.output_bias else None  # By [n_items + 1]
        self.input_embedding: nn.Embedding | None = None
        input_dim = dim
        if not config.constrained_embedding:
            input_dim = config.embedding_dim or dim
            self.input_embedding = nn.Embedding(n_items + 1, input_dim, padding_idx=PADDING)
        self.embedding_dropout = nn.Dropout(config.dropout_embed)
        self.gru = nn.GRU(
            input_dim, dim, num_layers=n_layers, batch_first=True, dropout=config.dropout_hidden if n_layers > 1 else 0.0
        )
        self.hidden_dropout = nn.Dropout(config.dropout_hidden)
        self.output_dense = nn.Linear(dim, dim) if config.output_dense else None
        self._init_weights(input_dim, dim)

    def _init_weights(self, input_dim: int, dim: int) -> None:
        _glorot_uniform_(self.output_embedding.weight, self.n_items, dim)
        if self.input_embedding is not None:
            _glorot_uniform_(self.input_embedding.weight, self.n_items, input_dim)
        for name, parameter in self.gru.named_parameters():
            if name.startswith("weight"):
                fan_in = parameter.shape[1]
                for gate in parameter.detach().chunk(3, dim=0):  # reset, update, new: one matrix each
                    _glorot_uniform_(gate, fan_in, dim)
            else:
                nn.init.zeros_(parameter)
        if self.output_dense is not None:
            _glorot_uniform_(self.output_dense.weight, dim, dim)
            nn.init.zeros_(self.output_dense.bias)
        with torch.no_grad():
            self.output_embedding.weight[PADDING].zero_()
            if self.input_embedding is not None:
                self.input_embedding.weight[PADDING].zero_()

    def embed(self, input_ids: Tensor) -> Tensor:
        """Input embeddings ``[B, L, E]`` (zeros at padding)."""
        table = self.output_embedding if self.input_embedding is None else self.input_embedding
        keep = (input_ids != PADDING).unsqueeze(-1).to(table.weight.dtype)  # [B, L, 1]
        return table(input_ids) * keep

    def encode(self, input_ids: Tensor) -> Tensor:
        return self.encode_embedded(self.embed(input_ids), input_ids)

    def encode_embedded(self, embedded: Tensor, input_ids: Tensor) -> Tensor:
        """Run the GRU over given input embeddings ``[B, L, E]``; returns ``[B, L, D]``.

        Rows are left-padded; the GRU must start at each row's first real item (not run over
        padding), so rows are shifted to right padding, packed, and shifted back.
        """
        length = input_ids.shape[1]
        lengths = (input_ids != PADDING).sum(dim=1)  # [B]
        steps = torch.arange(length, device=input_ids.device)[None, :]  # [1, L]
        pad = (length - lengths)[:, None]  # [B, 1]
        to_right = (steps + pad).clamp(max=length - 1)  # right-aligned column t reads left column t + pad
        x = self.embedding_dropout(embedded)
        right = x.gather(1, to_right[..., None].expand(-1, -1, x.shape[-1]))  # [B, L, E]
        packed = pack_padded_sequence(right, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        outputs, _ = self.gru(packed)
        right_out, _ = pad_packed_sequence(outputs, batch_first=True, total_length=length)  # [B, L, D]
        from_right = (steps - pad).clamp(min=0)  # left column s reads right column s - pad
        left_out = right_out.gather(1, from_right[..., None].expand(-1, -1, right_out.shape[-1]))
        real = (steps >= pad).unsqueeze(-1).to(left_out.dtype)  # [B, L, 1]
        hidden = self.hidden_dropout(left_out * real)  # zeros at padding
        if self.output_dense is not None:
            hidden = self.output_dense(hidden) * real
        return hidden

    def item_embeddings(self) -> Tensor:
        return self.output_embedding.weight  # [n_items + 1, D]

    def item_bias(self) -> Tensor | None:
        return self.output_bias  # [n_items + 1], or None without output_bias


@dataclass
class GRU4RecConfig(NeuralConfig):
    dim: int = help_field(128, "GRU hidden size (and item embedding size).")
    batch_size: int = help_field(64, "Training windows per mini-batch.")
    lr: float = help_field(2e-3, "AdamW learning rate.")
    n_layers: int = help_field(1, "Stacked GRU layers.")
    dropout_embed: float = help_field(0.2, "Dropout on the input item embeddings.")
    dropout_hidden: float = help_field(0.2, "Dropout on the GRU outputs.")
    constrained_embedding: bool = help_field(True, "Share the input embedding with the output embedding Wy.")
    embedding_dim: int = help_field(0, "Input embedding size without constrained_embedding (0 = dim).")
    output_dense: bool = help_field(
        False, "A linear layer from the GRU output to the scoring space (RecBole's GRU4Rec; not in the official code)."
    )
    output_bias: bool = help_field(
        True, "A learned per-item bias By added to every score (the official code; RecBole's GRU4Rec has none)."
    )
    loss: Literal[LossName] = help_field("bpr_max", "Loss (see NeuralConfig); GRU4Rec's own are bpr_max and softmax.")
    n_negatives: int = help_field(1024, "Negatives per batch for the sampled losses (official n_sample: 2048).")
    sample_alpha: float = help_field(0.5, "Negative sampling exponent alpha (0 uniform, 1 popularity).")
    bpr_max_reg: float = help_field(1.0, "BPR-max regularisation (official bpreg).")
    bpr_max_elu: float = help_field(0.5, "ELU alpha on scores inside BPR-max (official elu_param).")


class GRU4Rec(NeuralRecommender[GRU4RecConfig]):
    """GRU4Rec (Hidasi et al. 2016; Hidasi & Karatzoglou 2018) on the shared trainer."""

    name: ClassVar[str] = "gru4rec"
    contract = ContractSettings(
        {"max_len": 8, "dim": 16, "batch_size": 16, "lr": 1e-2, "epochs": 30, "n_negatives": 8, "threads": 1, "progress": False},
    )
    Config: ClassVar[type] = GRU4RecConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [64, 128, 256]),
            "dropout_embed": trial.suggest_float("dropout_embed", 0.0, 0.5),
            "dropout_hidden": trial.suggest_float("dropout_hidden", 0.0, 0.5),
            "lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True),
            "sample_alpha": trial.suggest_float("sample_alpha", 0.0, 1.0),
            "bpr_max_reg": trial.suggest_float("bpr_max_reg", 0.0, 2.0),
        }

    def build_network(self, n_items: int) -> GRU4RecNetwork:
        return GRU4RecNetwork(n_items, self.config)

    def gradient_times_input(self, history: Sequence[int], item: int) -> np.ndarray:
        """Per-position ``∂score(item)/∂x_t · x_t`` ``[min(len(history), max_len)]`` for the history's tail."""
        network, inputs = self.history_input(history)
        assert isinstance(network, GRU4RecNetwork)
        embedded = network.embed(inputs).detach().requires_grad_(True)  # [1, L, E]
        with torch.enable_grad():
            hidden = network.encode_embedded(embedded, inputs)[:, -1]  # [1, D]
            score = network.logits(hidden)[0, item]
            (gradient,) = torch.autograd.grad(score, embedded)
        contributions = (gradient * embedded).sum(dim=-1)[0]  # [L]
        shown = min(len(history), inputs.shape[1])
        return contributions[inputs.shape[1] - shown :].detach().cpu().numpy()

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        score = self.score_of(history, item)
        evidence = position_evidence(history, self.gradient_times_input(history, item))
        summary = f"GRU4Rec scores item {item} at {score:.3f}"
        if evidence:
            top = evidence[0]
            summary += (
                f"; by gradient x input, item {top['item']} (position {top['position']}) "
                f"moves the score most ({top['weight']:+.2f})"
            )
        return Explanation(
            model=self.name, item=int(item), summary=summary + ".", kind=ExplanationKind.GRADIENT_X_INPUT, evidence=evidence
        )
