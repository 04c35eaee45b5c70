"""The one trainer every era-2 network shares.

Training data and batches are :mod:`~seqrec.models.neural.batching`'s; the loss
(``config.loss``) is :mod:`~seqrec.models.neural.losses`' :class:`~seqrec.models.neural.losses.LossFunction`.

Model selection: after every epoch the network scores the validation histories over the full
catalogue and the evaluation protocol (:func:`seqrec.evaluation.protocol.evaluate_model`, the
leaderboard's own ranking code) ranks them: history items removed when ``exclude_history``, the
target's pessimistic rank gives NDCG@10, and training stops after ``patience`` epochs without
improvement; the best epoch's weights are restored. With ``ema_decay`` > 0 an exponential moving
average of the weights (``torch.optim.swa_utils.AveragedModel``) is updated after every step and
it is what validation scores and what is kept (Polyak averaging: on ML-100K it lifted SASRec's
3-seed test NDCG@10 and narrowed its spread, ``bench/results/recipes_ml100k.md``). A checkpoint is written every epoch
(``checkpoint.py``) with the fingerprints of the config and of the training and validation data,
and ``resume`` continues an interrupted run exactly: same weights, optimizer state and random
streams; a checkpoint made on other data or with another config is refused.

Distributed data-parallel training: when a ``torch.distributed`` process group of more than one
rank is initialised (``torchrun ... -m seqrec train``, ``seqrec train --ddp``), ``fit`` trains
under DistributedDataParallel: every rank steps on its share of each global batch of
``batch_size`` windows, the loss is scaled so the update equals the single-process one, and rank
0 validates, decides and checkpoints (:mod:`~seqrec.models.neural.distributed` explains it all).
Without such a group nothing of that runs: the single-process code draws and computes exactly
what it did before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, Self, cast

import numpy as np
import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from seqrec.data.splits import EvalSet
from seqrec.data.types import PADDING, SequenceData
from seqrec.evaluation.protocol import evaluate_model
from seqrec.models.base import Recommender, validate_config
from seqrec.models.neural import checkpoint, distributed
from seqrec.models.neural.batching import (
    TrainingWindows,
    history_inputs,
    history_timestamps,
    make_batch,
    trim_leading_padding,
)
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.losses import LossFunction
from seqrec.models.neural.network import Objective, SequenceNetwork, TrainingBatch
from seqrec.ranking import NEG_INF

VALID_METRIC = "NDCG@10"
VALID_METRICS = ("HR@10", VALID_METRIC)
"""What every epoch records of the validation ranking."""


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
    train_seconds: float = 0.0
    """The training part of ``seconds`` (validation excluded; 0 in records from before it was kept)."""


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


# -- scoring and validation ---------------------------------------------------------------------
def last_position_chunks(
    network: SequenceNetwork, histories: SequenceData, config: NeuralConfig
) -> Iterator[tuple[np.ndarray, Tensor]]:
    """``(rows, hidden [b, D])`` chunk by chunk: the hidden state at the last position of each
    history's input. Variable-length networks go shortest first, each chunk cut to its longest row.
    Time networks (``uses_time``) also get the histories' timestamps; the time of the item to come
    is not known (see ``network.py``, "Time"). Callers run it under ``torch.no_grad()`` with the
    network in eval mode."""
    device = next(network.parameters()).device
    inputs = history_inputs(histories, config.max_len, network.objective)  # [B, L]
    times = history_timestamps(histories, config.max_len, network.objective) if network.uses_time else None  # [B, L]
    order = np.argsort(histories.lengths, kind="stable") if network.variable_length else np.arange(len(histories))
    for start in range(0, len(histories), config.eval_batch_size):
        rows = order[start : start + config.eval_batch_size]
        chunk = inputs[torch.from_numpy(rows)]  # [b, L]
        chunk_times = None if times is None else times[torch.from_numpy(rows)]  # [b, L]
        if network.variable_length:
            longest = int((chunk != PADDING).sum(dim=1).max())
            first = chunk.shape[1] - max(longest, 1)
            chunk = chunk[:, first:]
            chunk_times = None if chunk_times is None else chunk_times[:, first:]
        chunk_times = None if chunk_times is None else chunk_times.to(device)
        yield rows, network.encode_inputs(chunk.to(device), chunk_times)[:, -1]  # [b, D]


@torch.no_grad()
def score_histories(network: SequenceNetwork, histories: SequenceData, config: NeuralConfig) -> np.ndarray:
    """Scores ``[B, n_items + 1]`` (float32, padding column ``-inf``) of the next item after each history."""
    network.eval()
    out = np.empty((len(histories), histories.n_items + 1), dtype=np.float32)
    for rows, hidden in last_position_chunks(network, histories, config):
        out[rows] = network.logits(hidden).float().cpu().numpy()
    out[:, PADDING] = NEG_INF
    return out


@torch.no_grad()
def last_hidden(network: SequenceNetwork, histories: SequenceData, config: NeuralConfig) -> np.ndarray:
    """Hidden states [B, D] (float32) at the last position of each history's input: what
    :func:`score_histories` multiplies with the item table, computed in the same chunks."""
    network.eval()
    out = np.empty((len(histories), network.item_embeddings().shape[1]), dtype=np.float32)
    for rows, hidden in last_position_chunks(network, histories, config):
        out[rows] = hidden.float().cpu().numpy()
    return out


class NetworkScorer(Recommender[NeuralConfig]):
    """A network being trained, as a dense :class:`~seqrec.models.base.Recommender`.

    It lets validation go through the evaluation protocol (which speaks to recommenders):
    ``score`` is :func:`score_histories`; masking, ranking and metrics are the protocol's.
    """

    name: ClassVar[str] = "validation"
    Config: ClassVar[type] = NeuralConfig

    def __init__(self, network: SequenceNetwork, config: NeuralConfig) -> None:
        super().__init__(config)
        self.network = network
        self.n_items = network.n_items

    def _score(self, histories: SequenceData) -> np.ndarray:
        return score_histories(self.network, histories, self.config)


def validation_metrics(network: SequenceNetwork, valid: EvalSet, config: NeuralConfig) -> dict[str, float]:
    """Full-ranking HR@10 and NDCG@10 with pessimistic ties (history removed if configured).

    The validation users are scored in one protocol chunk, so the scoring batches are those of
    one :func:`score_histories` call over all of them (unless the catalogue is so big that the
    protocol's ``SCORE_CELLS`` cap splits them: a million items, 268 users a chunk).
    """
    if len(valid) == 0:  # nothing to rank: NaN, so that no epoch counts as an improvement
        return {name: float("nan") for name in VALID_METRICS}
    result = evaluate_model(
        NetworkScorer(network, config),
        valid,
        config.exclude_history,
        item_popularity=np.zeros(network.n_items + 1),
        ks=(10,),
        chunk_size=len(valid),
        use_lists=False,
    )
    return {name: result.metrics[name] for name in VALID_METRICS}


# -- the training loop ----------------------------------------------------------------------------
class Warmup:
    """Linear learning-rate warm-up over the first ``steps`` optimiser steps (Goyal et al. 2017).

    Step ``s`` (0-based) trains at ``lr · min(1, (s + 1) / steps)``; with ``steps = 0`` the rate is
    never touched, so training without warm-up is exactly as before. The step count is derived from
    the epochs done (every epoch has the same number of batches), so a resumed run continues the
    ramp where it stopped without storing anything new in the checkpoint.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, steps: int) -> None:
        self.optimizer, self.lr, self.steps, self.step = optimizer, lr, steps, 0

    def start_epoch(self, steps_done: int) -> None:
        self.step = steps_done

    def before_step(self) -> None:
        if self.step < self.steps:
            rate = self.lr * (self.step + 1) / self.steps
            for group in self.optimizer.param_groups:
                group["lr"] = rate
        elif self.step == self.steps and self.steps > 0:
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr
        self.step += 1


class Trainer:
    """Fits a :class:`SequenceNetwork` with the settings of a :class:`NeuralConfig`."""

    def __init__(
        self,
        config: NeuralConfig,
        build_network: Callable[[], SequenceNetwork],
        callbacks: Sequence[Callable[[EpochRecord], None]] = (),
    ) -> None:
        self.config = validate_config(config)  # Literal choices (loss, windows) are checked here
        self.build_network = build_network
        self.callbacks = list(callbacks)
        self.world: distributed.World | None = None
        """The process group ``fit`` trains in (``None``: a single process)."""

    def fit(self, train: SequenceData, valid: EvalSet | None = None) -> tuple[SequenceNetwork, TrainingResult]:
        config = self.config
        if len(train) == 0 or train.n_interactions == 0:
            raise ValueError("cannot train a neural network on empty training data")
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        world = self.world = distributed.current_world()
        main = world is None or world.is_main
        device = config.device if world is None else world.device(config.device)
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        network = self.build_network().to(device)
        network.on_fit_start(train)
        optimizer = torch.optim.AdamW(
            network.parameters(), lr=config.lr, betas=(0.9, config.adam_beta2), weight_decay=config.weight_decay
        )
        windows = TrainingWindows(
            train, config.max_len, network.objective, config.windows, with_time=network.uses_time, stride=config.window_stride
        )
        loss_function = LossFunction(config, train)
        average = weight_average(network, config.ema_decay)
        # what validation scores and the best weights are taken from: the moving average if there is one
        judged = network if average is None else cast(SequenceNetwork, average.module)

        fingerprint = _fingerprint(config, train, valid) if config.checkpoint_dir else None
        progress, best_weights = self._start(network, optimizer, generator, fingerprint, average)  # every rank resumes
        # Under DDP the whole loss computation is the wrapped module's forward (after resuming, so
        # the weights DDP broadcasts from rank 0 are the resumed ones).
        parallel = None if world is None else world.wrap(network, partial(batch_loss, network, loss_function=loss_function))
        result = TrainingResult(
            records=[EpochRecord(**record) for record in progress.records],
            best_epoch=progress.best_epoch,
            best_metric=progress.best_metric,
        )
        run_start = time.perf_counter() - result.seconds
        n_batches = _batches(len(windows), config.batch_size) * config.epoch_repeats
        if config.max_batches_per_epoch > 0:
            n_batches = min(n_batches, config.max_batches_per_epoch)
        warmup = Warmup(optimizer, config.lr, config.warmup_epochs * n_batches)
        with _ProgressBar(config.progress and main, config.epochs, n_batches) as bar:
            while not progress.finished and progress.epochs_done < config.epochs:
                epoch = progress.epochs_done + 1
                warmup.start_epoch(progress.epochs_done * n_batches)  # also right after a resume
                bar.start_epoch(epoch)
                epoch_start = time.perf_counter()
                if world is None:
                    loss = self._train_epoch(network, optimizer, generator, windows, loss_function, bar, warmup, average)
                else:
                    assert parallel is not None
                    world.start_epoch(generator, config.seed, epoch)
                    loss = self._train_parallel_epoch(
                        network, parallel, world, optimizer, generator, windows, device, bar, warmup, average
                    )
                train_seconds = time.perf_counter() - epoch_start
                record = None
                if main:  # under DDP rank 0 alone validates and decides; the others wait for its record
                    metrics = validation_metrics(judged, valid, config) if valid is not None else {}
                    record = self._record(epoch, loss, metrics, epoch_start, run_start, train_seconds, progress)
                if world is not None:
                    shared = world.broadcast(None if record is None else dataclasses.asdict(record), f"epoch {epoch}'s validation")
                    record = EpochRecord(**shared)
                assert record is not None
                if record.improved:
                    best_weights = checkpoint.state_dict_copy(judged)
                _update(progress, result, record, config.patience if valid is not None else None)
                bar.end_epoch(record)
                if fingerprint is not None and main:
                    checkpoint.save_checkpoint(
                        config.checkpoint_dir, network, best_weights, optimizer, generator, progress, fingerprint, average
                    )
                for callback in self.callbacks:
                    callback(record)
        del parallel  # DDP's gradient hooks go with it: the returned network is a plain module
        result.stopped_early = progress.finished and progress.epochs_done < config.epochs
        if best_weights is None and average is not None:
            best_weights = checkpoint.state_dict_copy(average.module)  # no validation: the average at the end
        if best_weights is not None:
            network.load_state_dict(best_weights)
        network.eval()
        return network, result

    def _start(
        self,
        network: SequenceNetwork,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        fingerprint: checkpoint.RunFingerprint | None,
        average: AveragedModel | None = None,
    ) -> tuple[checkpoint.TrainingProgress, dict[str, Tensor] | None]:
        config = self.config
        if config.resume and fingerprint is None:
            raise ValueError("resume=True needs a checkpoint_dir")
        if config.resume and fingerprint is not None and checkpoint.has_checkpoint(config.checkpoint_dir):
            return checkpoint.load_checkpoint(config.checkpoint_dir, network, optimizer, generator, fingerprint, average)
        return checkpoint.TrainingProgress(), None

    def _train_epoch(
        self,
        network: SequenceNetwork,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        windows: TrainingWindows,
        loss_function: LossFunction,
        bar: _ProgressBar,
        warmup: Warmup,
        average: AveragedModel | None = None,
    ) -> float:
        config = self.config
        network.train()
        total, batches = 0.0, 0
        order = epoch_order(windows, config, generator, network.variable_length)
        for rows in order:
            batch = training_batch(network, windows, rows, generator)
            warmup.before_step()
            loss = self._step(network, optimizer, _to_device(batch, config.device), loss_function)
            if average is not None:
                average.update_parameters(network)
            total, batches = total + loss, batches + 1
            bar.advance(total / batches)
        return total / max(batches, 1)

    def _train_parallel_epoch(
        self,
        network: SequenceNetwork,
        parallel: torch.nn.Module,
        world: distributed.World,
        optimizer: torch.optim.Optimizer,
        generator: torch.Generator,
        windows: TrainingWindows,
        device: str,
        bar: _ProgressBar,
        warmup: Warmup,
        average: AveragedModel | None = None,
    ) -> float:
        """One epoch under DDP: the single-process batch order, each rank on its share of every batch.

        Returns the epoch's loss as the single process reports it, the mean over batches of each
        global batch's loss (each rank adds its part, summed over the ranks once at the end); the
        progress bar shows rank 0's running part.
        """
        config = self.config
        network.train()
        total, batches = 0.0, 0
        order = epoch_order(windows, config, generator, network.variable_length)
        for rows in order:
            batch, positions = self._share_batch(network, windows, world.share(rows), generator)
            if positions == 0:  # nothing of this batch here: join its all-reduces with weight 0
                batch, _ = self._share_batch(network, windows, rows[:1], generator)
            with world.collective("a training step"):
                global_positions, active_ranks = world.sum_ints([positions, int(positions > 0)], "a training step")
                # DDP averages gradients over the ranks: scaled so the average is the gradient of
                # the mean over all global_positions (the extra loss: of its mean over the ranks).
                weights = (positions * world.size / global_positions, world.size / active_ranks if positions else 0.0)
                loss = parallel(_to_device(batch, device), weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.grad_clip)
            warmup.before_step()
            optimizer.step()
            if average is not None:  # every rank holds the same weights, so the same average
                average.update_parameters(network)
            total, batches = total + float(loss.detach()), batches + 1
            bar.advance(total / batches)
        return world.sum_float(total, "the end of an epoch") / world.size / max(batches, 1)

    @staticmethod
    def _share_batch(
        network: SequenceNetwork, windows: TrainingWindows, rows: Tensor, generator: torch.Generator
    ) -> tuple[TrainingBatch, int]:
        """The training batch of ``rows`` (as ``_train_epoch`` builds it) and its target positions."""
        batch = training_batch(network, windows, rows, generator)
        return batch, int(target_mask(network, batch.target_ids).sum())

    def _step(
        self,
        network: SequenceNetwork,
        optimizer: torch.optim.Optimizer,
        batch: TrainingBatch,
        loss_function: LossFunction,
    ) -> float:
        loss = batch_loss(network, batch, loss_function=loss_function)
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
        train_seconds: float,
        progress: checkpoint.TrainingProgress,
    ) -> EpochRecord:
        now = time.perf_counter()
        improved = not metrics or metrics[VALID_METRIC] > progress.best_metric
        return EpochRecord(epoch, loss, metrics, now - epoch_start, now - run_start, improved, train_seconds)


def weight_average(network: SequenceNetwork, decay: float) -> AveragedModel | None:
    """An exponential moving average of ``network``'s weights and buffers (``torch.optim.swa_utils``;
    ``None`` when ``decay`` is 0): its first update copies the weights, each later one sets
    ``average = decay * average + (1 - decay) * weights``."""
    if decay <= 0:
        return None
    return AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def epoch_order(
    windows: TrainingWindows, config: NeuralConfig, generator: torch.Generator, by_length: bool
) -> list[Tensor]:
    """The batches of one epoch: ``config.epoch_repeats`` shuffled passes over the windows (masks
    and negatives are drawn anew at every pass), cut to ``max_batches_per_epoch`` if set."""
    order: list[Tensor] = []
    for _ in range(config.epoch_repeats):
        order.extend(windows.batch_order(config.batch_size, generator, by_length=by_length))
    if config.max_batches_per_epoch > 0:
        order = order[: config.max_batches_per_epoch]  # the order is random: a random subset
    return order


def training_batch(
    network: SequenceNetwork, windows: TrainingWindows, rows: Tensor, generator: torch.Generator
) -> TrainingBatch:
    """The training batch of window ``rows``: inputs and targets for the network's objective
    (masks drawn from ``generator`` for masked networks), leading padding trimmed for networks of
    variable length."""
    batch = make_batch(
        windows.gather(rows),
        network.objective,
        network.n_items,
        network.mask_prob,
        generator,
        windows.gather_timestamps(rows),
        trained_tail=windows.stride if network.objective is Objective.CAUSAL else None,
    )
    return trim_leading_padding(batch) if network.variable_length else batch


def target_mask(network: SequenceNetwork, target_ids: Tensor) -> Tensor:
    """Which positions of ``target_ids [B, L]`` are trained: ``[B, L]``, or ``[B, 1]`` (the last
    column) for last-position networks."""
    targets = target_ids[:, -1:] if network.objective is Objective.LAST else target_ids
    return targets != PADDING


def batch_loss(
    network: SequenceNetwork,
    batch: TrainingBatch,
    weights: tuple[float, float] | None = None,
    *,
    loss_function: LossFunction,
) -> Tensor:
    """The training loss of one batch: ``config.loss``'s mean over the target positions plus the
    network's ``extra_loss``. ``weights`` (DDP only) multiply the two terms first; without them
    nothing is multiplied, so the single-process loss is computed exactly as it always was."""
    encoded = network.encode_inputs(batch.input_ids, batch.timestamps)  # [B, L, D] ([B, 1, D] allowed for LAST)
    hidden, targets = encoded, batch.target_ids  # [B, L, D], [B, L]
    if network.objective is Objective.LAST:
        hidden, targets = encoded[:, -1:], targets[:, -1:]
    chosen = targets != PADDING  # [B, L]
    loss = loss_function(network, hidden[chosen], targets[chosen], batch.generator)
    extra = network.extra_loss(batch, encoded)
    if weights is not None:
        loss = loss * weights[0]
        extra = None if extra is None else extra * weights[1]
    if extra is not None:
        loss = loss + extra
    return loss


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


def _fingerprint(config: NeuralConfig, train: SequenceData, valid: EvalSet | None) -> checkpoint.RunFingerprint:
    """What a checkpoint of this run records and a resumed run must match: config and data."""
    data = {"training data": train.fingerprint(), "validation data": None}
    if valid is not None:
        digest = hashlib.sha256(valid.histories.fingerprint().encode())
        digest.update(np.ascontiguousarray(valid.targets, dtype=np.int64).tobytes())
        data["validation data"] = digest.hexdigest()
    return checkpoint.RunFingerprint(dataclasses.asdict(config), data)


def _to_device(batch: TrainingBatch, device: str) -> TrainingBatch:
    if device == "cpu":
        return batch
    times = None if batch.timestamps is None else batch.timestamps.to(device)
    return TrainingBatch(batch.input_ids.to(device), batch.target_ids.to(device), batch.generator, times)


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
