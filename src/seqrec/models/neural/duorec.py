"""DuoRec: contrastive learning against representation degeneration.

Qiu, R., Huang, Z., Yin, H. & Wang, Z. (2022). *Contrastive Learning for Representation
Degeneration Problem in Sequential Recommendation.* WSDM 2022 (arXiv 2110.05730). Official code:
github.com/RuihongQiu/DuoRec (``recbole/model/sequential_recommender/duorec.py``, the
``same_target_index`` of its dataset and the ``duorec_aug`` of its sequential data loader).

Item embeddings trained with next-item prediction alone collapse into a narrow cone
(representation degeneration); DuoRec adds a contrastive regulariser on sequence representations
(the paper's method section):

* **unsupervised augmentation**: the *model-level* dropout augmentation: encoding
  the same sequence in training mode gives a view ``h'`` perturbed only by dropout masks;
* **supervised positive sampling**: another training sequence *with the same
  target item* is a semantic positive; its dropout view is ``h'_s``;
* ``L = L_rec + λ L_Reg`` with ``L_Reg`` the InfoNCE between ``h'`` and ``h'_s`` over the batch
  (the official ``contrast="us_x"`` that ``duorec.sh`` runs), λ = 0.1, τ = 1, dot
  product similarity, negatives the other ``2(N - 1)`` views of the batch.

The encoder is the RecBole SASRec shared with CL4SRec (:mod:`seqrec.models.neural.cl4srec`).

Same-target index: :class:`SameTargetIndex`, built in ``on_fit_start`` from the training
sequences: every prefix of every training sequence (at least one item), grouped by the item that
follows it, stored as (start, end) offsets into the flat item array. A batch row's positive is a
uniform draw from its target's group other than the row itself (the official code removes the
row from the group and falls back to the row itself when nothing else is left). Positives are the
last ``max_len`` items of the drawn prefix, the same window the trainer would feed.

Deviations:

* ``h'`` is the hidden state of the trainer's own forward pass (the trainer encodes in training
  mode, so it is already a dropout view of the sequence); the official code runs a second
  forward pass for it. Same distribution, one pass fewer per step;
* a batch row's target is the last target of its training window (the window's final position
  is the representation contrasted); the recommendation loss still covers every position;
* "other than the row itself" is decided by content: if the draw equals the row's own input
  window, the next prefix of the group is taken instead.

Explanation: the attention weights of the last block for the final position, averaged over heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from seqrec.data.types import PADDING, SequenceData
from seqrec.models.base import ContractSettings
from seqrec.models.neural.batching import left_padded
from seqrec.models.neural.cl4srec import (
    ContrastiveConfig,
    ContrastiveNetwork,
    ContrastiveRecommender,
    check_contrastive_config,
    info_nce,
)
from seqrec.models.neural.network import TrainingBatch


class SameTargetIndex:
    """Every training prefix grouped by its next item: ``group(y)`` = prefixes followed by ``y``."""

    def __init__(self, train: SequenceData) -> None:
        starts = train.offsets[:-1]
        owner = np.repeat(np.arange(len(train)), train.lengths)  # [N] sequence of each interaction
        positions = np.arange(train.n_interactions)  # [N] flat index of each interaction
        has_prefix = positions > starts[owner]  # the first item of a sequence follows nothing
        targets = train.items[has_prefix]  # [P] the item that follows each prefix
        order = np.argsort(targets, kind="stable")
        counts = np.bincount(targets, minlength=train.n_items + 1)  # [n_items + 1]
        # Prefix p (grouped by target) is items[prefix_starts[p] : prefix_ends[p]].
        self.items = torch.from_numpy(train.items.astype(np.int64))  # [N]
        self.prefix_starts = torch.from_numpy(starts[owner][has_prefix][order].astype(np.int64))
        self.prefix_ends = torch.from_numpy(positions[has_prefix][order].astype(np.int64))
        # Group y is prefixes group_starts[y] .. group_starts[y] + group_sizes[y] - 1.
        self.group_sizes = torch.from_numpy(counts.astype(np.int64))  # [n_items + 1]
        self.group_starts = torch.from_numpy((np.cumsum(counts) - counts).astype(np.int64))

    def group(self, target: int) -> list[list[int]]:
        """The prefixes (as item lists) followed by ``target``: for tests and inspection."""
        first, size = int(self.group_starts[target]), int(self.group_sizes[target])
        return [
            self.items[int(self.prefix_starts[p]) : int(self.prefix_ends[p])].tolist()
            for p in range(first, first + size)
        ]

    def sample(self, targets: Tensor, own_inputs: Tensor, generator: torch.Generator) -> Tensor:
        """One same-target positive ``[B, L]`` per row (left-padded like ``own_inputs [B, L]``).

        A row whose target is padding or never a target in training, or whose group holds only
        the row itself, gets its own input back.
        """
        if len(self.prefix_ends) == 0:  # no training sequence has two items
            return own_inputs
        device, length = own_inputs.device, own_inputs.shape[1]
        targets, own = targets.cpu(), own_inputs.cpu()
        sizes = self.group_sizes[targets]  # [B]
        draws = torch.rand(targets.shape, generator=generator, dtype=torch.float64)  # [B]
        pick = torch.minimum((draws * sizes).long(), (sizes - 1).clamp(min=0))  # [B] in the group
        positives = self._prefixes(targets, pick, length)  # [B, L]
        is_own = (positives == own).all(dim=1) & (sizes > 1)  # [B]
        if bool(is_own.any()):
            others = self._prefixes(targets, (pick + 1) % sizes.clamp(min=1), length)  # [B, L]
            positives = torch.where(is_own[:, None], others, positives)
        no_group = (sizes == 0) | (targets == PADDING)  # [B]
        return torch.where(no_group[:, None], own, positives).to(device)

    def _prefixes(self, targets: Tensor, pick: Tensor, length: int) -> Tensor:
        """Prefix number ``pick`` of each target's group, as left-padded windows ``[B, length]``."""
        chosen = (self.group_starts[targets] + pick).clamp(max=len(self.prefix_ends) - 1)  # [B]
        return left_padded(self.items, self.prefix_starts[chosen], self.prefix_ends[chosen], length)


class DuoRecNetwork(ContrastiveNetwork):
    """The shared encoder plus DuoRec's contrastive regulariser (``extra_loss``)."""

    def __init__(self, n_items: int, config: DuoRecConfig) -> None:
        super().__init__(n_items, config, with_mask_token=False)
        self.same_target: SameTargetIndex | None = None

    def on_fit_start(self, train: SequenceData) -> None:
        self.same_target = SameTargetIndex(train)

    def extra_loss(self, batch: TrainingBatch, hidden: Tensor) -> Tensor | None:
        if self.contrast_weight == 0:
            return None
        if self.same_target is None:
            raise RuntimeError("DuoRecNetwork.extra_loss: on_fit_start(train) must build the index")
        targets = batch.target_ids[:, -1]  # [B]: what each window's final position predicts
        positives = self.same_target.sample(targets, batch.input_ids, batch.generator)  # [B, L]
        dropout_view = hidden[:, -1]  # h' [B, D]: the trainer's forward pass runs with dropout
        semantic_view = self.encode(positives)[:, -1]  # h'_s [B, D]
        return self.contrast_weight * info_nce(
            dropout_view, semantic_view, self.temperature, self.similarity
        )


@dataclass
class DuoRecConfig(ContrastiveConfig):
    """DuoRec's settings are the shared encoder and contrastive ones (``contrast_weight`` = λ)."""


class DuoRec(ContrastiveRecommender[DuoRecConfig]):
    """DuoRec (Qiu et al. 2022) on the shared trainer."""

    name: ClassVar[str] = "duorec"
    contract = ContractSettings(
        {"dim": 16, "max_len": 8, "n_heads": 1, "inner_size": 32, "dropout": 0.1, "attention_dropout": 0.1, "batch_size": 32, "lr": 1e-2, "progress": False, "epochs": 15},
    )
    Config: ClassVar[type] = DuoRecConfig

    def build_network(self, n_items: int) -> DuoRecNetwork:
        check_contrastive_config(self.config)
        return DuoRecNetwork(n_items, self.config)
