"""The one trainer every era-2 network shares.

Training data
-------------
Training sequences are the users' sequences in ``fit``'s ``train``, cut into *windows*
(:class:`TrainingWindows`). With ``windows="last"`` each user gives one window, the last
``max_len + 1`` items (``max_len`` for masked-LM); with ``windows="sliding"`` (the default)
the user's sequence is also cut further back into non-overlapping stretches, so that every
training interaction is a target exactly once per epoch, however long the history. Windows are
built once as index arrays and gathered per batch; nothing is materialised per prefix.

Per objective (see :class:`~seqrec.models.neural.network.Objective`):

* causal: inputs ``window[:-1]``, targets ``window[1:]``: every position of the padded
  window is trained in one forward pass (Kang & McAuley 2018, Sec. III-E);
* masked: a random ``round(mask_prob * length)`` (at least 1) of each window's items are
  replaced by the mask token and are the targets, re-drawn every epoch (Sun et al. 2019, Sec. 3.6);
* last: every prefix of every sequence is one example, with its next item as the target.

Losses (``config.loss``, :mod:`~seqrec.models.neural.losses`): ``softmax`` (full softmax over
the catalogue), ``bce``, ``gbce``, ``sampled_softmax`` (logQ-corrected) and ``bpr_max``. Sampled
losses draw ``n_negatives`` items per batch, shared by all its positions (or, with
``negatives_per_position``, ``n_negatives`` for each position), with probability proportional to
``count ** sample_alpha`` (GRU4Rec's sampling; 0 = uniform); a negative equal to a position's own
target is masked out. Negatives are not filtered against the user's history.

Model selection: after every epoch the network scores the validation histories over the full
catalogue (history items removed when ``exclude_history``), the target's pessimistic rank gives
NDCG@10, and training stops after ``patience`` epochs without improvement; the best epoch's
weights are restored. A checkpoint is written every epoch (``checkpoint.py``) and ``resume``
continues an interrupted run exactly: same weights, optimizer state and random streams.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from torch import Tensor

from seqrec.data.splits import EvalSet
from seqrec.data.types import PADDING, SequenceData
from seqrec.evaluation.metrics import hit_rate, ndcg, pessimistic_ranks
from seqrec.models.neural import checkpoint, losses
from seqrec.models.neural.network import (
    LOSSES,
    NeuralConfig,
    Objective,
    SequenceNetwork,
    TrainingBatch,
    mask_token,
)
from seqrec.ranking import NEG_INF, mask_history

VALID_METRIC = "NDCG@10"
WINDOW_KINDS = ("last", "sliding")
LENGTH_BUCKET_BATCHES = 32
"""Batches per chunk that ``TrainingWindows.batch_order`` sorts by length."""


@dataclass
class EpochRecord:
    """What happened in one epoch."""

    epoch: int
    loss: float
    metrics: dict[str, float]
    """Validation metrics (empty without validation data)."""
    seconds: float
    """Wall time of this epoch: training plus validation."""
    elapsed: float
    """Wall time since training began (summed over interrupted and resumed runs)."""
    improved: bool


@dataclass
class TrainingResult:
    """The history of a ``fit``: per-epoch records and the selected epoch."""

    records: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = float("-inf")
    stopped_early: bool = False

    @property
    def seconds_to_best(self) -> float:
        """Wall time from the start of training to the end of the best epoch."""
        if self.best_epoch == 0:
            return 0.0
        return self.records[self.best_epoch - 1].elapsed

    @property
    def seconds(self) -> float:
        return self.records[-1].elapsed if self.records else 0.0


# -- data -------------------------------------------------------------------------------------
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


def history_inputs(histories: SequenceData, max_len: int, objective: Objective) -> Tensor:
    """Network inputs ``[B, max_len]`` to score the item after each history.

    Masked-LM networks read the last ``max_len - 1`` items followed by the mask token.
    """
    items = torch.from_numpy(np.asarray(histories.items, dtype=np.int64))
    offsets = torch.from_numpy(np.asarray(histories.offsets, dtype=np.int64))
    starts, ends = offsets[:-1], offsets[1:]
    if objective is Objective.MASKED:
        window = left_padded(items, starts, ends, max_len - 1)  # [B, L - 1]
        masks = torch.full((len(histories), 1), mask_token(histories.n_items), dtype=torch.int64)
        return torch.cat([window, masks], dim=1)  # [B, L]
    return left_padded(items, starts, ends, max_len)  # [B, L]


class TrainingWindows:
    """The training examples of an epoch as (sequence start, window end) index pairs."""

    def __init__(self, train: SequenceData, max_len: int, objective: Objective, windows: str) -> None:
        if windows not in WINDOW_KINDS:
            raise ValueError(f"windows must be one of {WINDOW_KINDS}, got {windows!r}")
        self.objective = objective
        # A causal / last window holds max_len inputs plus the item that follows the last one.
        self.length = max_len if objective is Objective.MASKED else max_len + 1
        self.items = torch.from_numpy(train.items.astype(np.int64))
        starts, ends = self._window_bounds(train, max_len, windows)
        self.starts = torch.from_numpy(starts)
        self.ends = torch.from_numpy(ends)

    def _window_bounds(self, train: SequenceData, max_len: int, windows: str) -> tuple[np.ndarray, np.ndarray]:
        starts, ends = train.offsets[:-1], train.offsets[1:]
        min_items = 1 if self.objective is Objective.MASKED else 2
        if self.objective is Objective.LAST:
            # One example per target: every position with at least one item before it.
            lengths = np.maximum(ends - starts - 1, 0)
            owner = np.repeat(np.arange(len(starts)), lengths)
            first = np.repeat(starts + 2, lengths)
            offset = np.arange(len(owner)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            return starts[owner], first + offset
        # Each window's targets end where the previous (later) window's targets begin.
        step = max_len
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


def trim_leading_padding(batch: TrainingBatch) -> TrainingBatch:
    """Drop the leading columns that are padding in every row (they carry no target).

    Exact for networks with ``variable_length`` (which ignore padding and count positions from
    the right); it saves the work of attending over and back-propagating through padding.
    """
    used = (batch.input_ids != PADDING).any(dim=0)  # [L]
    first = int(used.to(torch.int8).argmax()) if bool(used.any()) else batch.input_ids.shape[1] - 1
    return TrainingBatch(batch.input_ids[:, first:], batch.target_ids[:, first:], batch.generator)


def make_batch(
    windows: Tensor, objective: Objective, n_items: int, mask_prob: float, generator: torch.Generator
) -> TrainingBatch:
    """Inputs and aligned targets of one batch of windows ``[B, W]`` (see the module docstring)."""
    if objective is Objective.MASKED:
        return _masked_batch(windows, n_items, mask_prob, generator)
    inputs = windows[:, :-1]  # [B, L]
    following = windows[:, 1:]  # [B, L]
    if objective is Objective.LAST:
        targets = torch.zeros_like(following)
        targets[:, -1] = following[:, -1]
    else:
        # A padding input carries no history, so the window's first item is never a target.
        targets = torch.where(inputs != PADDING, following, PADDING)
    return TrainingBatch(inputs, targets, generator)


def _masked_batch(windows: Tensor, n_items: int, mask_prob: float, generator: torch.Generator) -> TrainingBatch:
    real = windows != PADDING  # [B, L]
    n_masks = torch.clamp(torch.round(real.sum(dim=1) * mask_prob), min=1).long()  # [B]
    draws = torch.rand(windows.shape, generator=generator).masked_fill(~real, 2.0)  # [B, L]
    order = draws.argsort(dim=1).argsort(dim=1)  # rank of each position's draw within its row
    masked = (order < n_masks[:, None]) & real  # [B, L]
    inputs = torch.where(masked, mask_token(n_items), windows)
    targets = torch.where(masked, windows, PADDING)
    return TrainingBatch(inputs, targets, generator)


class NegativeSampler:
    """Draws negatives with probability ∝ ``count ** alpha`` over items seen in training."""

    def __init__(self, item_counts: np.ndarray, alpha: float) -> None:
        counts = item_counts.astype(np.float64)
        weights = np.where(counts > 0, counts**alpha, 0.0)
        weights[PADDING] = 0.0
        if weights.sum() == 0:
            raise ValueError("no items to sample negatives from: the training data is empty")
        probabilities = weights / weights.sum()
        self.probabilities = torch.from_numpy(probabilities)
        with np.errstate(divide="ignore"):
            self.log_q = torch.from_numpy(np.log(probabilities).astype(np.float32))  # [n_items + 1]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.multinomial(self.probabilities, n, replacement=True, generator=generator)  # [n]


# -- loss -------------------------------------------------------------------------------------
class LossFunction:
    """``config.loss`` applied to the selected hidden states of a batch."""

    def __init__(self, config: NeuralConfig, train: SequenceData) -> None:
        if config.loss not in LOSSES:
            raise ValueError(f"unknown loss {config.loss!r}; choose from {', '.join(LOSSES)}")
        self.config = config
        self.real_items = torch.arange(1, train.n_items + 1)  # [n_items]
        self.sampler = None if config.loss == "softmax" else NegativeSampler(train.item_counts(), config.sample_alpha)
        self.beta = losses.gbce_beta(config.n_negatives, train.n_items, config.gbce_t) if config.loss == "gbce" else 1.0

    def __call__(
        self, network: SequenceNetwork, hidden: Tensor, targets: Tensor, generator: torch.Generator
    ) -> Tensor:
        """Loss of ``hidden [N, D]`` predicting ``targets [N]``."""
        if self.sampler is None:
            # Score the real items only (columns 1..n_items): padding is never a target.
            logits = network.logits_of(hidden, self.real_items.to(hidden.device))  # [N, n_items]
            return losses.softmax_cross_entropy(logits, targets - 1)
        count = self.config.n_negatives
        if self.config.negatives_per_position:
            negatives = self.sampler.sample(len(targets) * count, generator).view(len(targets), count)  # [N, K]
        else:
            negatives = self.sampler.sample(count, generator)  # [K], shared by the batch
        negatives = negatives.to(hidden.device)
        positive = network.logits_of(hidden, targets[:, None])[:, 0]  # [N]
        negative = network.logits_of(hidden, negatives)  # [N, K]
        valid = negatives.expand(len(targets), count) != targets[:, None]  # [N, K]
        loss = self.config.loss
        if loss == "bce":
            return losses.binary_cross_entropy(positive, negative, valid)
        if loss == "gbce":
            return losses.gbce(positive, negative, self.beta, valid)
        if loss == "sampled_softmax":
            log_q = self.sampler.log_q.to(hidden.device)
            return losses.sampled_softmax(positive, negative, log_q[targets], log_q[negatives], valid)
        if self.config.bpr_max_elu > 0:  # GRU4Rec's final activation before BPR-max
            positive = F.elu(positive, self.config.bpr_max_elu)
            negative = F.elu(negative, self.config.bpr_max_elu)
        return losses.bpr_max(positive, negative, self.config.bpr_max_reg, valid)


# -- scoring and validation ---------------------------------------------------------------------
@torch.no_grad()
def score_histories(network: SequenceNetwork, histories: SequenceData, config: NeuralConfig) -> np.ndarray:
    """Scores ``[B, n_items + 1]`` (float32, padding column ``-inf``) of the next item after each history."""
    network.eval()
    device = next(network.parameters()).device
    inputs = history_inputs(histories, config.max_len, network.objective)  # [B, L]
    out = np.empty((len(histories), histories.n_items + 1), dtype=np.float32)
    # Variable-length networks score histories shortest first, each chunk cut to its longest row.
    order = np.argsort(histories.lengths, kind="stable") if network.variable_length else np.arange(len(histories))
    for start in range(0, len(histories), config.eval_batch_size):
        rows = order[start : start + config.eval_batch_size]
        chunk = inputs[torch.from_numpy(rows)]  # [b, L]
        if network.variable_length:
            longest = int((chunk != PADDING).sum(dim=1).max())
            chunk = chunk[:, chunk.shape[1] - max(longest, 1) :]
        hidden = network.encode(chunk.to(device))[:, -1]  # [b, D]
        out[rows] = network.logits(hidden).float().cpu().numpy()
    out[:, PADDING] = NEG_INF
    return out


def validation_metrics(network: SequenceNetwork, valid: EvalSet, config: NeuralConfig) -> dict[str, float]:
    """Full-ranking HR@10 and NDCG@10 with pessimistic ties (history removed if configured)."""
    scores = score_histories(network, valid.histories, config)
    if config.exclude_history:
        mask_history(scores, valid.histories)
    ranks = pessimistic_ranks(scores, valid.targets)
    return {"HR@10": float(hit_rate(ranks, 10).mean()), VALID_METRIC: float(ndcg(ranks, 10).mean())}


# -- the training loop ----------------------------------------------------------------------------
class Trainer:
    """Fits a :class:`SequenceNetwork` with the settings of a :class:`NeuralConfig`."""

    def __init__(
        self,
        config: NeuralConfig,
        build_network: Callable[[], SequenceNetwork],
        callbacks: Sequence[Callable[[EpochRecord], None]] = (),
    ) -> None:
        self.config = config
        self.build_network = build_network
        self.callbacks = list(callbacks)

    def fit(self, train: SequenceData, valid: EvalSet | None = None) -> tuple[SequenceNetwork, TrainingResult]:
        config = self.config
        if len(train) == 0 or train.n_interactions == 0:
            raise ValueError("cannot train a neural network on empty training data")
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        network = self.build_network().to(config.device)
        network.on_fit_start(train)
        optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        windows = TrainingWindows(train, config.max_len, network.objective, config.windows)
        loss_function = LossFunction(config, train)

        progress, best_weights = self._start(network, optimizer, generator)
        result = TrainingResult(
            records=[EpochRecord(**record) for record in progress.records],
            best_epoch=progress.best_epoch,
            best_metric=progress.best_metric,
        )
        run_start = time.perf_counter() - result.seconds
        n_batches = _batches(len(windows), config.batch_size)
        if config.max_batches_per_epoch > 0:
            n_batches = min(n_batches, config.max_batches_per_epoch)
        with _ProgressBar(config.progress, config.epochs, n_batches) as bar:
            while not progress.finished and progress.epochs_done < config.epochs:
                epoch = progress.epochs_done + 1
                bar.start_epoch(epoch)
                epoch_start = time.perf_counter()
                loss = self._train_epoch(network, optimizer, generator, windows, loss_function, bar)
                metrics = validation_metrics(network, valid, config) if valid is not None else {}
                record = self._record(epoch, loss, metrics, epoch_start, run_start, progress)
                if record.improved:
                    best_weights = checkpoint.state_dict_copy(network)
                _update(progress, result, record, config.patience if valid is not None else None)
                bar.end_epoch(record)
                if config.checkpoint_dir:
                    checkpoint.save_checkpoint(
                        config.checkpoint_dir, network, best_weights, optimizer, generator, progress, _fingerprint(config)
                    )
                for callback in self.callbacks:
                    callback(record)
        result.stopped_early = progress.finished and progress.epochs_done < config.epochs
        if best_weights is not None:
            network.load_state_dict(best_weights)
        network.eval()
        return network, result

    def _start(
        self, network: SequenceNetwork, optimizer: torch.optim.Optimizer, generator: torch.Generator
    ) -> tuple[checkpoint.TrainingProgress, dict[str, Tensor] | None]:
        config = self.config
        if config.resume and not config.checkpoint_dir:
            raise ValueError("resume=True needs a checkpoint_dir")
        if config.resume and checkpoint.has_checkpoint(config.checkpoint_dir):
            return checkpoint.load_checkpoint(
                config.checkpoint_dir, network, optimizer, generator, _fingerprint(config)
            )
        return checkpoint.TrainingProgress(), None

    def _train_epoch(
        self,
        network: SequenceNetwork,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        windows: TrainingWindows,
        loss_function: LossFunction,
        bar: _ProgressBar,
    ) -> float:
        config = self.config
        network.train()
        total, batches = 0.0, 0
        order = windows.batch_order(config.batch_size, generator, by_length=network.variable_length)
        if config.max_batches_per_epoch > 0:
            order = order[: config.max_batches_per_epoch]  # the order is random: a random subset
        for rows in order:
            batch = make_batch(windows.gather(rows), network.objective, network.n_items, network.mask_prob, generator)
            if network.variable_length:
                batch = trim_leading_padding(batch)
            loss = self._step(network, optimizer, _to_device(batch, config.device), loss_function)
            total, batches = total + loss, batches + 1
            bar.advance(total / batches)
        return total / max(batches, 1)

    def _step(
        self,
        network: SequenceNetwork,
        optimizer: torch.optim.Optimizer,
        batch: TrainingBatch,
        loss_function: LossFunction,
    ) -> float:
        encoded = network.encode(batch.input_ids)  # [B, L, D] ([B, 1, D] allowed for LAST)
        hidden, targets = encoded, batch.target_ids  # [B, L, D], [B, L]
        if network.objective is Objective.LAST:
            hidden, targets = encoded[:, -1:], targets[:, -1:]
        chosen = targets != PADDING  # [B, L]
        loss = loss_function(network, hidden[chosen], targets[chosen], batch.generator)
        extra = network.extra_loss(batch, encoded)
        if extra is not None:
            loss = loss + extra
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(network.parameters(), self.config.grad_clip)
        optimizer.step()
        return float(loss.detach())

    @staticmethod
    def _record(
        epoch: int,
        loss: float,
        metrics: dict[str, float],
        epoch_start: float,
        run_start: float,
        progress: checkpoint.TrainingProgress,
    ) -> EpochRecord:
        now = time.perf_counter()
        improved = not metrics or metrics[VALID_METRIC] > progress.best_metric
        return EpochRecord(epoch, loss, metrics, now - epoch_start, now - run_start, improved)


def _update(
    progress: checkpoint.TrainingProgress, result: TrainingResult, record: EpochRecord, patience: int | None
) -> None:
    """Fold one epoch into the progress; early-stop after ``patience`` epochs without gain."""
    progress.epochs_done = record.epoch
    progress.records.append(dataclasses.asdict(record))
    result.records.append(record)
    if record.improved:
        progress.best_epoch = record.epoch
        progress.best_metric = record.metrics.get(VALID_METRIC, float("-inf"))
        progress.epochs_without_improvement = 0
    else:
        progress.epochs_without_improvement += 1
    result.best_epoch, result.best_metric = progress.best_epoch, progress.best_metric
    if patience is not None and progress.epochs_without_improvement >= patience:
        progress.finished = True


def _fingerprint(config: NeuralConfig) -> dict[str, object]:
    return dataclasses.asdict(config)


def _to_device(batch: TrainingBatch, device: str) -> TrainingBatch:
    if device == "cpu":
        return batch
    return TrainingBatch(batch.input_ids.to(device), batch.target_ids.to(device), batch.generator)


def _batches(n_examples: int, batch_size: int) -> int:
    return -(-n_examples // batch_size)


class _ProgressBar:
    """A Rich progress bar (one line per epoch's batches) that can be switched off."""

    def __init__(self, enabled: bool, epochs: int, batches: int) -> None:
        self.enabled = enabled
        self.epochs = epochs
        self.batches = batches
        self.last_metric = ""
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Self:
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[metric]}"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("epoch", total=self.batches, loss=0.0, metric="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    def start_epoch(self, epoch: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.reset(
                self._task,
                total=self.batches,
                description=f"epoch {epoch}/{self.epochs}",
                loss=0.0,  # reset replaces every field, so give them all again
                metric=self.last_metric,
            )

    def advance(self, loss: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1, loss=loss)

    def end_epoch(self, record: EpochRecord) -> None:
        if record.metrics:
            self.last_metric = f"valid {VALID_METRIC} {record.metrics[VALID_METRIC]:.4f}"
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, metric=self.last_metric)
