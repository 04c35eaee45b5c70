"""Network inputs and training batches: built once as index arrays, gathered per batch.

Training data
-------------
Training sequences are the users' sequences in ``fit``'s ``train``, cut into *windows*
(:class:`TrainingWindows`). With ``windows="last"`` each user gives one window, the last
``max_len + 1`` items (``max_len`` for masked-LM); with ``windows="sliding"`` (the default)
the user's sequence is also cut further back into non-overlapping stretches, so that every
training interaction is a target exactly once per epoch, however long the history. Windows are
built once as index arrays and gathered per batch; nothing is materialised per prefix.

Per objective (see :class:`~seqrec.models.neural.network.Objective`), :func:`make_batch` gives:

* causal: inputs ``window[:-1]``, targets ``window[1:]``: every position of the padded
  window is trained in one forward pass (Kang & McAuley 2018, Sec. III-E);
* masked: a random ``round(mask_prob * length)`` (at least 1) of each window's items are
  replaced by the mask token and are the targets, re-drawn every epoch (Sun et al. 2019, Sec. 3.6);
* last: every prefix of every sequence is one example, with its next item as the target.

Scoring reads :func:`history_inputs`: the last ``max_len`` items of each history, left-padded
(masked-LM networks: the last ``max_len - 1`` and the mask token).

Time networks (``SequenceNetwork.uses_time``) also get the timestamps of those items, gathered by
the same index arithmetic (:func:`history_timestamps`, ``TrainingWindows(..., with_time=True)``)
and left-padded with 0; every other network's batches carry ``timestamps=None`` and gather none.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from seqrec.data.types import PADDING, SequenceData
from seqrec.models.neural.config import WINDOW_KINDS, WindowKind
from seqrec.models.neural.network import Objective, TrainingBatch, mask_token

LENGTH_BUCKET_BATCHES = 32
"""Batches per chunk that ``TrainingWindows.batch_order`` sorts by length."""


def left_padded(items: Tensor, starts: Tensor, ends: Tensor, length: int) -> Tensor:
    """Rows ``items[max(start, end - length):end]``, left-padded with 0 to ``[R, length]``.

    ``items`` is the flat item array of a :class:`SequenceData`; ``starts``/``ends`` ``[R]``
    bound each row's slice (``end`` exclusive).
    """
    if items.numel() == 0:  # every row empty: nothing to gather
        return torch.full((len(ends), length), PADDING, dtype=torch.long)
    positions = ends[:, None] - length + torch.arange(length)[None, :]  # [R, length]
    inside = positions >= starts[:, None]  # [R, length]
    return torch.where(inside, items[positions.clamp(min=0)], PADDING)


def _bounds(histories: SequenceData) -> tuple[Tensor, Tensor]:
    offsets = torch.from_numpy(np.asarray(histories.offsets, dtype=np.int64))
    return offsets[:-1], offsets[1:]


def history_timestamps(histories: SequenceData, max_len: int, objective: Objective) -> Tensor:
    """Timestamps ``[B, max_len]`` (int64 seconds, 0 at padding) aligned with :func:`history_inputs`.

    The appended mask token of a masked-LM input gets the last history timestamp (the time of the
    item to come is unknown).
    """
    times = torch.from_numpy(np.asarray(histories.timestamps, dtype=np.int64))
    starts, ends = _bounds(histories)
    if objective is Objective.MASKED:
        window = left_padded(times, starts, ends, max_len - 1)  # [B, L - 1]
        return torch.cat([window, window[:, -1:]], dim=1)  # [B, L]
    return left_padded(times, starts, ends, max_len)  # [B, L]


def history_inputs(histories: SequenceData, max_len: int, objective: Objective) -> Tensor:
    """Network inputs ``[B, max_len]`` to score the item after each history.

    Masked-LM networks read the last ``max_len - 1`` items followed by the mask token.
    """
    items = torch.from_numpy(np.asarray(histories.items, dtype=np.int64))
    starts, ends = _bounds(histories)
    if objective is Objective.MASKED:
        window = left_padded(items, starts, ends, max_len - 1)  # [B, L - 1]
        masks = torch.full((len(histories), 1), mask_token(histories.n_items), dtype=torch.int64)
        return torch.cat([window, masks], dim=1)  # [B, L]
    return left_padded(items, starts, ends, max_len)  # [B, L]


class TrainingWindows:
    """The training examples of an epoch as (sequence start, window end) index pairs."""

    def __init__(
        self,
        train: SequenceData,
        max_len: int,
        objective: Objective,
        windows: WindowKind,
        with_time: bool = False,
        stride: int = 0,
    ) -> None:
        if windows not in WINDOW_KINDS:
            raise ValueError(f"windows must be one of {WINDOW_KINDS}, got {windows!r}")
        if stride and (objective is not Objective.CAUSAL or windows != "sliding" or not 0 < stride <= max_len):
            raise ValueError(
                f"window_stride={stride} needs a causal network, windows='sliding' and 1 <= stride <= max_len={max_len}"
            )
        self.objective = objective
        self.stride = stride or max_len
        """Causal windows: how many of each window's last targets are trained (``max_len``: all)."""
        # A causal / last window holds max_len inputs plus the item that follows the last one.
        self.length = max_len if objective is Objective.MASKED else max_len + 1
        self.items = torch.from_numpy(train.items.astype(np.int64))
        # Timestamps only for networks that read them (uses_time); the others gather nothing more.
        self.timestamps = torch.from_numpy(train.timestamps.astype(np.int64)) if with_time else None
        starts, ends = self._window_bounds(train, max_len, windows)
        self.starts = torch.from_numpy(starts)
        self.ends = torch.from_numpy(ends)

    def _window_bounds(
        self, train: SequenceData, max_len: int, windows: WindowKind
    ) -> tuple[np.ndarray, np.ndarray]:
        starts, ends = train.offsets[:-1], train.offsets[1:]
        min_items = 1 if self.objective is Objective.MASKED else 2
        if self.objective is Objective.LAST:
            # One example per target: every position with at least one item before it.
            lengths = np.maximum(ends - starts - 1, 0)
            owner = np.repeat(np.arange(len(starts)), lengths)
            first = np.repeat(starts + 2, lengths)
            offset = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            return starts[owner], first + offset
        # Each window's trained targets end where the previous (later) window's begin: windows are
        # ``stride`` apart; with stride < max_len they overlap and each trains only its last
        # ``stride`` targets, which all have at least max_len - stride items of context.
        step = self.stride if self.objective is Objective.CAUSAL else max_len
        count = np.ones(len(starts), dtype=np.int64)
        if windows == "sliding":
            # Causal windows share one item (an input of the later window is the previous one's
            # last target); masked windows partition the sequence.
            targets = ends - starts if self.objective is Objective.MASKED else ends - starts - 1
            count = np.maximum(1, -(-targets // step))
        owner = np.repeat(np.arange(len(starts)), count)
        back = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)  # 0 = last window
        window_ends = ends[owner] - back * step
        keep = window_ends - starts[owner] >= min_items
        return starts[owner][keep], window_ends[keep]

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def lengths(self) -> Tensor:
        """Real (non-padding) items in each window ``[E]``."""
        return torch.clamp(self.ends - self.starts, max=self.length)

    def batch_order(self, batch_size: int, generator: torch.Generator, by_length: bool) -> list[Tensor]:
        """A random partition of the examples into batches for one epoch.

        With ``by_length``, examples are shuffled, then sorted by length within chunks of
        ``LENGTH_BUCKET_BATCHES`` batches, and the batches are shuffled again: batches hold
        windows of similar length, so little padding is computed, yet their order stays random.
        """
        order = torch.randperm(len(self), generator=generator)
        if not by_length:
            return list(order.split(batch_size))
        chunk = batch_size * LENGTH_BUCKET_BATCHES
        lengths = self.lengths
        batches: list[Tensor] = []
        for part in order.split(chunk):
            by_size = part[torch.argsort(lengths[part], descending=True, stable=True)]
            batches.extend(by_size.split(batch_size))
        shuffled = torch.randperm(len(batches), generator=generator)
        return [batches[int(i)] for i in shuffled]

    def gather(self, rows: Tensor) -> Tensor:
        """Windows ``[B, length]`` (left-padded) of the chosen examples."""
        return left_padded(self.items, self.starts[rows], self.ends[rows], self.length)

    def gather_timestamps(self, rows: Tensor) -> Tensor | None:
        """Timestamps ``[B, length]`` aligned with :meth:`gather` (``None`` without ``with_time``)."""
        if self.timestamps is None:
            return None
        return left_padded(self.timestamps, self.starts[rows], self.ends[rows], self.length)


def trim_leading_padding(batch: TrainingBatch) -> TrainingBatch:
    """Drop the leading columns that are padding in every row (they carry no target).

    Exact for networks with ``variable_length`` (which ignore padding and count positions from
    the right); it saves the work of attending over and back-propagating through padding.
    """
    used = (batch.input_ids != PADDING).any(dim=0)  # [L]
    first = int(used.to(torch.int8).argmax()) if bool(used.any()) else batch.input_ids.shape[1] - 1
    times = None if batch.timestamps is None else batch.timestamps[:, first:]
    return TrainingBatch(batch.input_ids[:, first:], batch.target_ids[:, first:], batch.generator, times)


def make_batch(
    windows: Tensor,
    objective: Objective,
    n_items: int,
    mask_prob: float,
    generator: torch.Generator,
    window_timestamps: Tensor | None = None,
    trained_tail: int | None = None,
) -> TrainingBatch:
    """Inputs and aligned targets of one batch of windows ``[B, W]`` (see the module docstring).

    ``trained_tail`` (causal windows that overlap, ``TrainingWindows.stride``): only the last
    ``trained_tail`` positions of each window carry targets; the earlier ones are context.

    ``window_timestamps [B, W]`` (time networks only) gives the batch's ``timestamps``, aligned
    with the inputs: the targets' own times are not passed (the last column's target time is as
    unknown in training as the next item's time is at scoring).
    """
    if objective is Objective.MASKED:
        batch = _masked_batch(windows, n_items, mask_prob, generator)
        batch.timestamps = window_timestamps
        return batch
    inputs = windows[:, :-1]  # [B, L]
    following = windows[:, 1:]  # [B, L]
    if objective is Objective.LAST:
        targets = torch.zeros_like(following)
        targets[:, -1] = following[:, -1]
    else:
        # A padding input carries no history, so the window's first item is never a target.
        targets = torch.where(inputs != PADDING, following, PADDING)
        if trained_tail is not None and trained_tail < targets.shape[1]:
            targets[:, : targets.shape[1] - trained_tail] = PADDING
    times = None if window_timestamps is None else window_timestamps[:, :-1]  # [B, L]
    return TrainingBatch(inputs, targets, generator, times)


def _masked_batch(windows: Tensor, n_items: int, mask_prob: float, generator: torch.Generator) -> TrainingBatch:
    real = windows != PADDING  # [B, L]
    n_masks = torch.clamp(torch.round(real.sum(dim=1) * mask_prob), min=1).long()  # [B]
    draws = torch.rand(windows.shape, generator=generator).masked_fill(~real, 2.0)  # [B, L]
    order = draws.argsort(dim=1).argsort(dim=1)  # rank of each position's draw within its row
    masked = (order < n_masks[:, None]) & real  # [B, L]
    inputs = torch.where(masked, mask_token(n_items), windows)
    targets = torch.where(masked, windows, PADDING)
    return TrainingBatch(inputs, targets, generator)
