"""The interface every neural network implements, and the adapter that makes it a Recommender.

One trainer (:mod:`seqrec.models.neural.trainer`) fits every era-2 network. A network is a
:class:`SequenceNetwork`: an ``nn.Module`` that turns a left-padded batch of item ids into one
hidden vector per position and owns a table of output item embeddings. Scores are dot products
of the two (plus an optional per-item bias), so every loss and every evaluation is written once,
in the trainer, not once per model.

Writing a new network means:

1. subclass :class:`SequenceNetwork`, set ``objective`` and implement ``encode`` and
   ``item_embeddings`` (optionally ``item_bias``, ``extra_loss``, ``on_fit_start``); set
   ``variable_length = True`` when leading padding columns may be dropped (much faster);
2. subclass :class:`NeuralConfig` (a dataclass) with the network's own hyper-parameters;
3. subclass :class:`NeuralRecommender`, set ``name``/``Config`` and implement
   ``build_network(n_items)`` (and ``explain``; :func:`position_evidence` turns per-position
   weights into evidence rows).

Conventions shared with the trainer
-----------------------------------
* Item ids are ``1..n_items``; ``0`` is padding. A masked-LM network also reserves
  ``n_items + 1`` (:func:`mask_token`) in its *input* table; ``item_embeddings()`` never includes it.
* Input batches are **left-padded**: the most recent item sits in the last column.
* ``encode(input_ids)`` returns ``hidden[b, t]``, the representation from which the item that
  follows position ``t`` is predicted (or, for ``Objective.MASKED``, the item hidden behind the
  mask at ``t``). Scoring a history always reads ``hidden[:, -1]``.

Objectives (how the trainer builds targets from a training window; see ``trainer.py``):

* ``Objective.CAUSAL``: all positions. A window of ``max_len + 1`` items gives inputs
  ``window[:-1]`` and targets ``window[1:]``; every non-padding position is a training example,
  in one forward pass (no prefix expansion). The network must never look at the future: ``hidden[:, t]``
  may depend only on ``input_ids[:, :t + 1]`` (SASRec, GRU4Rec, Caser-style causal models, NextItNet).
* ``Objective.MASKED``: cloze / masked-LM (BERT4Rec). A window of ``max_len`` items; a random
  fraction is replaced by :func:`mask_token` and only those positions are targets. At inference
  the mask token is appended after the history.
* ``Objective.LAST``: last position only (session models such as NARM and SR-GNN, whose
  representation summarises the whole input). Every prefix of every training sequence is an example
  (the data augmentation of Tan et al. 2016 that these papers use); only ``hidden[:, -1]`` is read,
  so ``encode`` may return ``[B, 1, D]``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from seqrec.data.splits import EvalSet
from seqrec.data.types import SequenceData
from seqrec.models.base import NEG_INF, Recommender, help_field

if TYPE_CHECKING:
    from seqrec.models.neural.trainer import EpochRecord, TrainingResult


class Objective(str, Enum):
    """Which positions of a training window carry a target (see the module docstring)."""

    CAUSAL = "causal"
    MASKED = "masked"
    LAST = "last"


def mask_token(n_items: int) -> int:
    """The id of the [mask] input token of masked-LM networks: one past the last item."""
    return n_items + 1


@dataclass
class TrainingBatch:
    """One mini-batch as the trainer hands it to a network's hooks.

    ``input_ids`` and ``target_ids`` are aligned: ``target_ids[b, t]`` is the item that
    ``hidden[b, t]`` must predict, ``0`` where position ``t`` carries no target.
    ``generator`` is the trainer's seeded random generator; hooks that sample (augmentations,
    extra negatives) must draw from it so that runs stay reproducible and resumable.
    """

    input_ids: Tensor  # [B, L] int64, left-padded
    target_ids: Tensor  # [B, L] int64, 0 = no target
    generator: torch.Generator


class SequenceNetwork(nn.Module, ABC):
    """Base class of the networks the trainer fits.

    Subclasses set ``objective`` and implement :meth:`encode` and :meth:`item_embeddings`.
    The constructor of a subclass takes whatever it needs (``n_items``, ``max_len``, its
    config); the trainer only calls the methods below.
    """

    objective: ClassVar[Objective] = Objective.CAUSAL
    mask_prob: float = 0.2
    """``Objective.MASKED`` only: the share of each window's items hidden behind the mask."""
    variable_length: ClassVar[bool] = False
    """``True`` if ``encode`` gives the same hidden states at the real positions when leading
    all-padding columns are dropped (padding is ignored, positions are counted from the right).
    The trainer then groups windows of similar length into batches and drops those columns,
    which is exact and much faster. Leave ``False`` for networks that need exactly ``max_len``
    columns (e.g. a convolution over the whole window)."""

    def __init__(self, n_items: int, max_len: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.max_len = max_len

    @abstractmethod
    def encode(self, input_ids: Tensor) -> Tensor:
        """Hidden states ``[B, L, D]`` (``[B, 1, D]`` allowed for ``Objective.LAST``) of left-padded ``input_ids`` ``[B, L]``."""

    @abstractmethod
    def item_embeddings(self) -> Tensor:
        """Output item embeddings ``[n_items + 1, D]`` (row 0 = padding, never a target)."""

    def item_bias(self) -> Tensor | None:
        """Optional output bias ``[n_items + 1]`` added to every score (BERT4Rec has one)."""
        return None

    def extra_loss(self, batch: TrainingBatch, hidden: Tensor) -> Tensor | None:
        """An auxiliary loss added to the main one (contrastive models); ``None`` = nothing.

        ``hidden`` is ``encode(batch.input_ids)`` from the same step (``[B, L, D]``), so a
        hook can reuse it instead of encoding the original view again.
        """
        return None

    def on_fit_start(self, train: SequenceData) -> None:
        """Called once before the first epoch with the training sequences (build indexes here)."""

    # -- scoring, written once -------------------------------------------------------------
    def logits(self, hidden: Tensor) -> Tensor:
        """Scores ``[..., n_items + 1]`` of every item for hidden states ``[..., D]``."""
        scores = hidden @ self.item_embeddings().T  # [..., n_items + 1]
        bias = self.item_bias()
        return scores if bias is None else scores + bias

    def logits_of(self, hidden: Tensor, item_ids: Tensor) -> Tensor:
        """Scores of chosen items: ``hidden [N, D]`` with ``item_ids [N, K]`` gives ``[N, K]``.

        ``item_ids`` may also be ``[K]`` (one shared set of candidates), giving ``[N, K]``.
        """
        table = self.item_embeddings()
        chosen = table[item_ids]  # [N, K, D] or [K, D]
        if item_ids.dim() == 1:
            scores = hidden @ chosen.T  # [N, K]
        else:
            scores = torch.einsum("nd,nkd->nk", hidden, chosen)  # [N, K]
        bias = self.item_bias()
        return scores if bias is None else scores + bias[item_ids]


LOSSES = ("softmax", "bce", "sampled_softmax", "gbce", "bpr_max")
"""Loss names the trainer understands (``losses.py`` documents each)."""


@dataclass
class NeuralConfig:
    """Training settings shared by every neural model; model configs subclass this."""

    max_len: int = help_field(50, "Longest history the network reads (older items are cut).")
    dim: int = help_field(64, "Embedding / hidden size D.")
    epochs: int = help_field(200, "Maximum training epochs (early stopping usually ends sooner).")
    batch_size: int = help_field(128, "Training windows per mini-batch.")
    lr: float = help_field(1e-3, "Adam learning rate.")
    weight_decay: float = help_field(0.0, "AdamW decoupled weight decay.")
    loss: str = help_field(
        "softmax", "Loss: softmax | bce | sampled_softmax | gbce | bpr_max (see neural/losses.py)."
    )
    n_negatives: int = help_field(256, "Sampled negatives per batch for the sampled losses.")
    negatives_per_position: bool = help_field(
        False, "Draw n_negatives for every position (SASRec's BCE: 1 each) instead of one set per batch."
    )
    sample_alpha: float = help_field(
        0.0, "Negatives are drawn with probability ~ count**alpha (0 = uniform, 1 = popularity)."
    )
    gbce_t: float = help_field(0.75, "gBCE calibration t in [0, 1] (Petrov & Macdonald 2023).")
    bpr_max_reg: float = help_field(1.0, "BPR-max score regularisation lambda (Hidasi & Karatzoglou 2018).")
    bpr_max_elu: float = help_field(
        0.0, "ELU(alpha) applied to scores inside BPR-max, as GRU4Rec's elu_param (0 = none)."
    )
    windows: str = help_field(
        "sliding",
        "Training windows: 'last' (the last max_len+1 items per user) or 'sliding' "
        "(also every earlier non-overlapping stretch).",
    )
    max_batches_per_epoch: int = help_field(
        0,
        "Train on at most this many (randomly chosen) batches per epoch (0 = all); bounds the epoch "
        "time of last-position models, whose examples are every prefix.",
    )
    patience: int = help_field(10, "Stop after this many epochs without a better validation NDCG@10.")
    exclude_history: bool = help_field(True, "Remove history items before ranking in validation.")
    seed: int = help_field(0, "Random seed (weights, batches, negatives, dropout).")
    threads: int = help_field(0, "torch CPU threads (0 = leave torch's default).")
    device: str = help_field("cpu", "torch device to train and score on ('cpu', 'cuda').")
    eval_batch_size: int = help_field(512, "Histories per scoring batch.")
    grad_clip: float = help_field(0.0, "Clip the gradient norm to this value (0 = no clipping).")
    checkpoint_dir: str = help_field("", "Write a checkpoint here every epoch ('' = none).")
    resume: bool = help_field(False, "Continue from the checkpoint in checkpoint_dir if one exists.")
    progress: bool = help_field(True, "Show a Rich progress bar with loss and validation metric.")


class NeuralRecommender(Recommender):
    """A :class:`Recommender` backed by a :class:`SequenceNetwork` and the shared trainer.

    Subclasses set ``name`` and ``Config`` (a :class:`NeuralConfig` subclass) and implement
    :meth:`build_network`. After ``fit``: ``self.network`` (in eval mode, best validation
    epoch's weights restored) and ``self.training`` (per-epoch losses, metrics and times).
    """

    name: ClassVar[str] = "neural"
    Config: ClassVar[type] = NeuralConfig
    era: ClassVar[int] = 2
    sequential: ClassVar[bool] = True

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.network: SequenceNetwork | None = None
        self.training: TrainingResult | None = None

    @abstractmethod
    def build_network(self, n_items: int) -> SequenceNetwork:
        """A freshly initialised network for ``n_items`` items (seeded by the trainer)."""

    def _fit(
        self,
        train: SequenceData,
        valid: EvalSet | None,
        *,
        callbacks: Sequence[Callable[[EpochRecord], None]] = (),
    ) -> None:
        """Train on ``train``; with ``valid``, early-stop on its NDCG@10 and keep the best epoch.

        ``callbacks`` run after every epoch with its record (raising from one interrupts
        training; the checkpoint of that epoch is already written).
        """
        from seqrec.models.neural.trainer import Trainer

        if valid is not None and not isinstance(valid, EvalSet):
            raise TypeError(f"{self.name}.fit: valid must be an EvalSet, got {type(valid).__name__}")
        trainer = Trainer(self.config, lambda: self.build_network(train.n_items), callbacks=callbacks)
        self.network, self.training = trainer.fit(train, valid)
        self.n_items = train.n_items

    def require_network(self) -> SequenceNetwork:
        """The trained network; raises if ``fit`` has not run."""
        self.require_fitted()
        assert self.network is not None
        return self.network

    def explain_inputs(self, history: Sequence[int], item: int) -> tuple[SequenceNetwork, Tensor]:
        """The trained network (in eval mode) and its input ``[1, max_len]`` for one history.

        The shared first step of every network's ``explain``; checks that ``item`` is real.
        """
        from seqrec.models.neural.trainer import history_inputs

        n_items = self.require_fitted()
        if not 1 <= int(item) <= n_items:
            raise ValueError(f"{self.name}.explain: item {item} is not in 1..{n_items}")
        network = self.require_network()
        histories = SequenceData.from_lists([list(history)], n_items)
        inputs = history_inputs(histories, self.config.max_len, network.objective)
        network.eval()
        return network, inputs.to(self.config.device)

    def score(self, histories: SequenceData) -> np.ndarray:
        from seqrec.models.neural.trainer import score_histories

        scores = score_histories(self.require_network(), histories, self.config)  # [B, n_items + 1]
        scores[:, 0] = NEG_INF
        return scores

    def config_dict(self) -> dict[str, Any]:
        """The config as a plain dict (for results files)."""
        return dataclasses.asdict(self.config)


def position_evidence(history: Sequence[int], tail_weights: np.ndarray) -> list[dict[str, Any]]:
    """Evidence rows ``{"item", "position", "weight"}`` for the most recent history items.

    ``tail_weights[j]`` belongs to the ``j``-th of the last ``len(tail_weights)`` history items
    (networks read only the last ``max_len``); ``position`` is the 0-based index in the full
    history. Rows are sorted by weight, largest first.
    """
    tail = list(history)[len(history) - len(tail_weights) :] if len(tail_weights) else []
    first = len(history) - len(tail)
    rows = [
        {"item": int(item), "position": first + offset, "weight": float(weight)}
        for offset, (item, weight) in enumerate(zip(tail, tail_weights))
    ]
    return sorted(rows, key=lambda row: -abs(row["weight"]))
