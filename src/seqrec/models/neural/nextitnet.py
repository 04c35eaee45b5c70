"""NextItNet: a convolutional generative network for next-item recommendation.

Yuan, F., Karatzoglou, A., Arapakis, I., Jose, J. M. & He, X. (2019). *A Simple Convolutional
Generative Network for Next Item Recommendation.* WSDM 2019. Official code:
github.com/fajieyuan/nextitnet (TensorFlow; its residual block is reused verbatim in the
authors' later repositories, which we read).

The network (the paper's model section, official ``nextitnet_residual_block``):

* item embeddings ``[B, T, D]`` (the "dilated channels" are the embedding size);
* a stack of residual blocks (the paper's block with layer normalisation)
  ``x + ReLU(LN(conv₂(ReLU(LN(conv₁(x))))))`` where ``conv₁`` has dilation ``d`` and ``conv₂``
  dilation ``2d``, both 1-D **causal** convolutions of width ``kernel_size`` (padded on the left
  only, the paper's masking of the future), so that position ``t`` sees items ``<= t`` only;
* the official configuration ``dilations = [1, 4, 1, 4]`` with width 3 gives the dilation
  sequence 1, 2, 4, 8, 1, 2, 4, 8 (the paper's "{1, 2, 4, 8} x 2") and a receptive field of
  ``1 + (width - 1) * Σ 3d = 61`` items;
* every position predicts the next item through a softmax layer with its own output
  embeddings and bias (the official ``softmax_w``/``softmax_b``), trained on all positions at
  once: ``Objective.CAUSAL``, the paper's "generative" training of every subsequence.

Deviations:

* padding positions are zeroed after every convolution, so a history's hidden states do not
  depend on how much left padding its batch needed (the official code embeds a pad token and
  lets it flow through the convolutions like an item);
* the shared trainer's loss (full softmax by default, the paper's), AdamW with early stopping;
* weights are drawn from ``N(0, 0.02²)`` (the official code's truncated normal, untruncated).

Explanation: gradient x input attribution of the item's score to each history position (the
dot product of the score's gradient with respect to the position's embedding and the
embedding itself), over the receptive field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.data.types import PADDING
from seqrec.models.base import ContractSettings, Explanation, ExplanationKind, help_field
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.explanations import position_evidence
from seqrec.models.neural.network import Objective, SequenceNetwork
from seqrec.models.neural.recommender import NeuralRecommender


def causal_conv(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """``conv`` over time of ``x [B, T, D]``, left-padded: output ``t`` reads inputs ``<= t``."""
    reach = (conv.kernel_size[0] - 1) * conv.dilation[0]
    return conv(F.pad(x.transpose(1, 2), (reach, 0))).transpose(1, 2)  # [B, T, D]


class ResidualBlock(nn.Module):
    """Two causal convolutions (dilations ``d``, ``2d``) with LayerNorm + ReLU, and a residual."""

    def __init__(self, dim: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.first = nn.Conv1d(dim, dim, kernel_size, dilation=dilation)
        self.first_norm = nn.LayerNorm(dim, eps=1e-8)
        self.second = nn.Conv1d(dim, dim, kernel_size, dilation=2 * dilation)
        self.second_norm = nn.LayerNorm(dim, eps=1e-8)

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:
        """``x [B, T, D]``, ``keep [B, T, 1]`` (0 at padding)."""
        inner = F.relu(self.first_norm(causal_conv(self.first, x))) * keep  # [B, T, D]
        inner = F.relu(self.second_norm(causal_conv(self.second, inner))) * keep  # [B, T, D]
        return x + inner

    @property
    def reach(self) -> int:
        """How many earlier positions this block lets a position read."""
        return sum(
            (conv.kernel_size[0] - 1) * conv.dilation[0] for conv in (self.first, self.second)
        )


class NextItNetNetwork(SequenceNetwork):
    """Stacked dilated causal residual convolutions (Yuan et al. 2019)."""

    objective: ClassVar[Objective] = Objective.CAUSAL

    def __init__(self, n_items: int, config: NextItNetConfig) -> None:
        super().__init__(n_items, config.max_len)
        dim, kernel_size, dilations = config.dim, config.kernel_size, tuple(config.dilations)
        if kernel_size < 2 or not dilations or min(dilations) < 1:
            raise ValueError(
                "NextItNet needs kernel_size >= 2 and positive dilations, "
                f"got {kernel_size}, {dilations}"
            )
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=PADDING)
        blocks = [ResidualBlock(dim, kernel_size, d) for d in dilations]
        self.receptive_field = 1 + sum(block.reach for block in blocks)
        """How many items (the current one included) the output at ``t`` can read."""
        self.blocks = nn.ModuleList(blocks)
        self.output_embedding = nn.Embedding(n_items + 1, dim)
        self.output_bias = nn.Parameter(torch.zeros(n_items + 1))
        self._init_weights()

    def _init_weights(self) -> None:
        with torch.no_grad():
            for name, parameter in self.named_parameters():
                if name.endswith("weight") and "norm" not in name:
                    parameter.normal_(0.0, 0.02)
                elif name.endswith("bias") and "norm" not in name:
                    parameter.zero_()
            self.item_embedding.weight[PADDING].zero_()

    def encode(self, input_ids: Tensor) -> Tensor:
        return self.encode_embedded(self.item_embedding(input_ids), input_ids)

    def encode_embedded(self, embedded: Tensor, input_ids: Tensor) -> Tensor:
        """Hidden states ``[B, T, D]`` from given input embeddings (explanations use the gradient)."""
        keep = (input_ids != PADDING).unsqueeze(-1).to(embedded.dtype)  # [B, T, 1]
        x = embedded * keep
        for block in self.blocks:
            x = block(x, keep)
        return x

    def item_embeddings(self) -> Tensor:
        return self.output_embedding.weight  # [n_items + 1, D]

    def item_bias(self) -> Tensor:
        return self.output_bias  # [n_items + 1]


@dataclass
class NextItNetConfig(NeuralConfig):
    kernel_size: int = help_field(3, "Width of every dilated convolution (official code: 3).")
    dilations: tuple[int, ...] = help_field(
        (1, 4, 1, 4),
        "One residual block per entry d, with dilations d and 2d (official: 1, 4, 1, 4).",
    )


class NextItNet(NeuralRecommender[NextItNetConfig]):
    """NextItNet (Yuan et al. 2019) on the shared trainer."""

    name: ClassVar[str] = "nextitnet"
    contract = ContractSettings(
        {"dim": 16, "max_len": 8, "dilations": (1, 2), "epochs": 15, "batch_size": 32, "lr": 1e-2, "progress": False},
    )
    Config: ClassVar[type] = NextItNetConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        blocks = trial.suggest_int("blocks", 1, 3)
        return {
            "dim": trial.suggest_categorical("dim", [32, 64, 128]),
            "kernel_size": trial.suggest_int("kernel_size", 2, 4),
            "dilations": (1, 4) * blocks,
            "lr": trial.suggest_float("lr", 5e-4, 5e-3, log=True),
        }

    def build_network(self, n_items: int) -> NextItNetNetwork:
        return NextItNetNetwork(n_items, self.config)

    def attributions(self, history: Sequence[int], item: int) -> tuple[float, np.ndarray]:
        """The score of ``item`` and the gradient x input attribution of each history item read."""
        network, inputs = self.explain_inputs(history, item)
        assert isinstance(network, NextItNetNetwork)
        embedded = network.item_embedding(inputs).detach().requires_grad_(True)  # [1, T, D]
        hidden = network.encode_embedded(embedded, inputs)[:, -1]  # [1, D]
        score = network.logits_of(hidden, torch.tensor([int(item)], device=inputs.device))[0, 0]
        (gradient,) = torch.autograd.grad(score, embedded)
        attribution = (gradient * embedded.detach()).sum(dim=-1)[0]  # [T]
        shown = min(len(history), inputs.shape[1])
        return float(score.detach()), attribution[inputs.shape[1] - shown :].cpu().numpy().astype(
            np.float64
        )

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """Which history positions pushed the item's score up or down (gradient x input)."""
        score, tail = self.attributions(history, item)
        evidence = position_evidence(history, tail)
        network = self.require_network()
        assert isinstance(network, NextItNetNetwork)
        summary = (
            f"NextItNet scores item {item} at {score:.3f}, reading at most the last "
            f"{min(network.receptive_field, self.config.max_len)} items through its dilated "
            "convolutions"
        )
        if evidence:
            top = evidence[0]
            summary += (
                f"; the largest attribution is item {top['item']} (position {top['position']}, "
                f"{top['weight']:+.3f})"
            )
        return Explanation(
            model=self.name,
            item=int(item),
            summary=summary + ".",
            kind=ExplanationKind.ATTRIBUTION,
            evidence=evidence,
        )
