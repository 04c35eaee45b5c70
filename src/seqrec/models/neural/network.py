"""The interface every neural network implements.

One trainer (:mod:`seqrec.models.neural.trainer`) fits every era-2 network. A network is a
:class:`SequenceNetwork`: an ``nn.Module`` that turns a left-padded batch of item ids into one
hidden vector per position and owns a table of output item embeddings. Scores are dot products
of the two (plus an optional per-item bias), so every loss and every evaluation is written once,
in the trainer, not once per model.

The neural package, bottom to top (each module imports only those above it)::

    network.py      this module: Objective, TrainingBatch, SequenceNetwork, mask_token
    config.py       NeuralConfig, the settings every neural model shares (Literal choices)
    batching.py     inputs and training windows: history_inputs, TrainingWindows, make_batch
    losses.py       the loss functions, the negative sampler and LossFunction (config.loss)
    checkpoint.py   per-epoch checkpoints and resume
    trainer.py      the training loop, scoring and validation through the evaluation protocol
    explanations.py evidence rows from per-position weights; the one attention explainer
    recommender.py  NeuralRecommender: a Recommender backed by a network and the trainer
    blocks.py       transformer pieces; then one file per network (sasrec.py, gru4rec.py, ...)

Writing a new network means:

1. subclass :class:`SequenceNetwork`, set ``objective`` and implement ``encode`` and
   ``item_embeddings`` (optionally ``item_bias``, ``extra_loss``, ``on_fit_start``); set
   ``variable_length = True`` when leading padding columns may be dropped (much faster); the
   constructor takes ``(n_items, config)``; a network that reads timestamps sets
   ``uses_time = True`` and implements ``encode_timed`` (see "Time" below);
2. subclass :class:`~seqrec.models.neural.config.NeuralConfig` (a dataclass) with the network's
   own hyper-parameters;
3. subclass :class:`~seqrec.models.neural.recommender.NeuralRecommender` parametrised with that
   config, set ``name``/``Config`` and implement ``build_network(n_items)`` (and ``explain``;
   :mod:`~seqrec.models.neural.explanations` turns per-position weights into evidence rows).

Conventions shared with the trainer
-----------------------------------
* Item ids are ``1..n_items``; ``0`` is padding. A masked-LM network also reserves
  ``n_items + 1`` (:func:`mask_token`) in its *input* table; ``item_embeddings()`` never includes it.
* Input batches are **left-padded**: the most recent item sits in the last column.
* ``encode(input_ids)`` returns ``hidden[b, t]``, the representation from which the item that
  follows position ``t`` is predicted (or, for ``Objective.MASKED``, the item hidden behind the
  mask at ``t``). Scoring a history always reads ``hidden[:, -1]``.

Time (opt-in, ``uses_time = True``; HSTU)
------------------------------------------
* The trainer calls :meth:`SequenceNetwork.encode_inputs` everywhere (training step, scoring,
  hidden states); for the ordinary networks it is exactly ``encode(input_ids)`` and no timestamp
  is gathered, so they are unaffected.
* A time network gets ``encode_timed(input_ids, timestamps)``: ``timestamps [B, L]`` int64
  seconds aligned column by column with ``input_ids`` (``SequenceData.timestamps``), left-padded
  with 0. ``TrainingBatch.timestamps`` carries them in training (``None`` for other networks).
* Causal training windows give the timestamps of the *inputs* only, never the timestamp of the
  last column's target; at scoring the time of the item to come is unknown too (the evaluation
  protocol gives histories, not the time of the next purchase). A network that wants "the time of
  the next event" reads ``timestamps[:, t + 1]`` for ``t < L - 1`` (in training that is the
  target's time) and must make do with ``timestamps[:, -1]`` at the last column.
* ``encode_timed`` must still be causal in the items: ``hidden[:, t]`` may depend on
  ``input_ids[:, :t + 1]`` and, at most, on ``timestamps[:, :t + 2]``.

Objectives (how the trainer builds targets from a training window; see ``batching.py``):

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

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

import torch
from torch import Tensor, nn

from seqrec.data.types import SequenceData


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
    timestamps: Tensor | None = None
    """``[B, L]`` int64 seconds aligned with ``input_ids`` (0 at padding); only for networks with
    ``uses_time``, ``None`` otherwise."""


class SequenceNetwork(nn.Module, ABC):
    """Base class of the networks the trainer fits.

    Subclasses set ``objective`` and implement :meth:`encode` and :meth:`item_embeddings`.
    The constructor of a subclass takes ``(n_items, config)``, its config object, and passes
    ``n_items`` and ``config.max_len`` here; the trainer only calls the methods below.
    """

    objective: ClassVar[Objective] = Objective.CAUSAL
    mask_prob: float = 0.2
    """``Objective.MASKED`` only: the share of each window's items hidden behind the mask."""
    loss_temperature: float = 1.0
    """The training loss divides every score by this (``losses.py``); 1.0 = scores as they are."""
    variable_length: ClassVar[bool] = False
    """``True`` if ``encode`` gives the same hidden states at the real positions when leading
    all-padding columns are dropped (padding is ignored, positions are counted from the right).
    The trainer then groups windows of similar length into batches and drops those columns,
    which is exact and much faster. Leave ``False`` for networks that need exactly ``max_len``
    columns (e.g. a convolution over the whole window)."""
    uses_time: ClassVar[bool] = False
    """``True`` if the network reads timestamps: the trainer then gathers them and calls
    :meth:`encode_timed` instead of :meth:`encode` (see the module docstring, "Time")."""

    def __init__(self, n_items: int, max_len: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.max_len = max_len

    @abstractmethod
    def encode(self, input_ids: Tensor) -> Tensor:
        """Hidden states ``[B, L, D]`` (``[B, 1, D]`` allowed for ``Objective.LAST``) of left-padded ``input_ids`` ``[B, L]``."""

    def encode_timed(self, input_ids: Tensor, timestamps: Tensor) -> Tensor:
        """Hidden states of a time network (``uses_time``) from ``input_ids`` and the aligned
        ``timestamps`` ``[B, L]`` (int64 seconds, 0 at padding)."""
        raise TypeError(
            f"{type(self).__name__} reads no timestamps (uses_time is False): call encode"
        )

    def encode_inputs(self, input_ids: Tensor, timestamps: Tensor | None = None) -> Tensor:
        """What the trainer calls: :meth:`encode_timed` for a time network, :meth:`encode` otherwise
        (``timestamps`` is then ignored)."""
        if not self.uses_time:
            return self.encode(input_ids)
        if timestamps is None:
            raise ValueError(f"{type(self).__name__} reads timestamps (uses_time): none were given")
        return self.encode_timed(input_ids, timestamps)

    @abstractmethod
    def item_embeddings(self) -> Tensor:
        """Output item embeddings ``[n_items + 1, D]`` (row 0 = padding, never a target)."""

    def item_embeddings_of(self, item_ids: Tensor) -> Tensor:
        """Output embeddings of chosen items, ``item_embeddings()[item_ids]``; a network whose
        table is transformed as a whole (HSTU normalises it) overrides this to transform only the
        chosen rows, so a sampled loss over a million-item catalogue never touches the rest."""
        return self.item_embeddings()[item_ids]

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
        chosen = self.item_embeddings_of(item_ids)  # [N, K, D] or [K, D]
        if item_ids.dim() == 1:
            scores = hidden @ chosen.T  # [N, K]
        else:
            scores = torch.einsum("nd,nkd->nk", hidden, chosen)  # [N, K]
        bias = self.item_bias()
        return scores if bias is None else scores + bias[item_ids]
