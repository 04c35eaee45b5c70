"""The training settings every neural model shares (:class:`NeuralConfig`).

Model configs subclass :class:`NeuralConfig` with their own hyper-parameters. Choice fields are
``Literal`` types, so a misspelt value is a :class:`~seqrec.models.base.ConfigError` when the
model is built, not a surprise at ``fit``. The choices are named once (``LossName``,
``NegativesKind``, ``WindowKind``) and fields read ``Literal[LossName]``, which is the same type
(nested literals flatten) and is seen as an immutable default by linters.

Checks that involve more than one field (``negatives`` other than ``"sampled"`` needs
``loss="sampled_softmax"``; ``"mixed"`` needs ``n_negatives >= 1``) are
:func:`check_negatives` (and :func:`check_recipe`), run by ``NeuralConfig.__post_init__`` and again by the loss of every fit
(``losses.LossFunction``), so that a subclass whose own ``__post_init__`` does not call this one
is still checked before training.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from seqrec.models.base import ConfigError, help_field

LossName = Literal["softmax", "bce", "sampled_softmax", "gbce", "bpr_max"]
"""Loss names the trainer understands (``losses.py`` documents each)."""
LOSSES: tuple[LossName, ...] = typing.get_args(LossName)

NegativesKind = Literal["sampled", "in_batch", "mixed"]
"""Where ``loss="sampled_softmax"`` takes its negatives (``losses.py`` documents each):
``n_negatives`` drawn from the sampler, the batch's other targets (Yi et al. 2019), or both
(Yang et al. 2020)."""
NEGATIVES_KINDS: tuple[NegativesKind, ...] = typing.get_args(NegativesKind)

WindowKind = Literal["last", "sliding"]
"""How training sequences are cut into windows (``batching.TrainingWindows``)."""
WINDOW_KINDS: tuple[WindowKind, ...] = typing.get_args(WindowKind)


@dataclass
class NeuralConfig:
    """Training settings shared by every neural model; model configs subclass this."""

    max_len: int = help_field(50, "Longest history the network reads (older items are cut).")
    dim: int = help_field(64, "Embedding / hidden size D.")
    epochs: int = help_field(200, "Maximum training epochs (early stopping usually ends sooner).")
    batch_size: int = help_field(128, "Training windows per mini-batch.")
    lr: float = help_field(1e-3, "Adam learning rate.")
    weight_decay: float = help_field(0.0, "AdamW decoupled weight decay.")
    adam_beta2: float = help_field(
        0.999, "Adam's second-moment decay beta2 (official SASRec: 0.98; torch's default: 0.999)."
    )
    warmup_epochs: int = help_field(
        0, "Raise the learning rate linearly from lr/steps to lr over this many epochs' steps (0 = none)."
    )
    label_smoothing: float = help_field(
        0.0, "Label smoothing of the full-softmax loss (Szegedy et al. 2016; 0 = none; loss='softmax' only)."
    )
    ema_decay: float = help_field(
        0.0,
        "Validate and keep an exponential moving average of the weights, updated after every step "
        "with this decay (0.99: about the last 100 steps; 0 = off, the raw weights).",
    )
    loss: Literal[LossName] = help_field(
        "softmax", "Loss: softmax | bce | sampled_softmax | gbce | bpr_max (see neural/losses.py)."
    )
    n_negatives: int = help_field(256, "Sampled negatives per batch for the sampled losses.")
    negatives_per_position: bool = help_field(
        False, "Draw n_negatives for every position (SASRec's BCE: 1 each) instead of one set per batch."
    )
    sample_alpha: float = help_field(
        0.0, "Negatives are drawn with probability ~ count**alpha (0 = uniform, 1 = popularity)."
    )
    negatives: Literal[NegativesKind] = help_field(
        "sampled",
        "Negatives of sampled_softmax: 'sampled' (n_negatives from the sampler), 'in_batch' (the "
        "batch's other targets, logQ = their training frequency) or 'mixed' (in-batch plus "
        "n_negatives sampled, logQ of the mixture).",
    )
    gbce_t: float = help_field(0.75, "gBCE calibration t in [0, 1] (Petrov & Macdonald 2023).")
    bpr_max_reg: float = help_field(1.0, "BPR-max score regularisation lambda (Hidasi & Karatzoglou 2018).")
    bpr_max_elu: float = help_field(
        0.0, "ELU(alpha) applied to scores inside BPR-max, as GRU4Rec's elu_param (0 = none)."
    )
    windows: Literal[WindowKind] = help_field(
        "sliding",
        "Training windows: 'last' (the last max_len+1 items per user) or 'sliding' "
        "(also every earlier non-overlapping stretch).",
    )
    window_stride: int = help_field(
        0,
        "Causal networks with windows='sliding': start a window every window_stride items (0 = max_len, "
        "no overlap); overlapping windows train only their last window_stride targets, so every target "
        "has at least max_len - window_stride items of history (max_len / window_stride times the work).",
    )
    epoch_repeats: int = help_field(
        1,
        "Passes over the training windows per epoch (fresh shuffles, masks and negatives each): fewer "
        "validations per pass and a patience that spans more passes, for models that learn slowly per pass.",
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

    def __post_init__(self) -> None:
        check_negatives(self)
        check_recipe(self)


def check_recipe(config: NeuralConfig) -> None:
    """Raise a :class:`~seqrec.models.base.ConfigError` naming the field when an optimiser or
    loss setting is out of range or does not fit the loss."""
    name = type(config).__name__
    if not 0.0 <= config.adam_beta2 < 1.0:
        raise ConfigError(f"{name}.adam_beta2 must be in [0, 1), got {config.adam_beta2!r}")
    if not 0 <= config.window_stride <= config.max_len:
        raise ConfigError(f"{name}.window_stride must be in [0, max_len={config.max_len}], got {config.window_stride!r}")
    if config.epoch_repeats < 1:
        raise ConfigError(f"{name}.epoch_repeats must be >= 1, got {config.epoch_repeats!r}")
    if config.warmup_epochs < 0:
        raise ConfigError(f"{name}.warmup_epochs must be >= 0, got {config.warmup_epochs!r}")
    if not 0.0 <= config.ema_decay < 1.0:
        raise ConfigError(f"{name}.ema_decay must be in [0, 1), got {config.ema_decay!r}")
    if not 0.0 <= config.label_smoothing < 1.0:
        raise ConfigError(f"{name}.label_smoothing must be in [0, 1), got {config.label_smoothing!r}")
    if config.label_smoothing > 0 and config.loss != "softmax":
        raise ConfigError(
            f"{name}.label_smoothing={config.label_smoothing!r} needs loss='softmax' (the full softmax), "
            f"got loss={config.loss!r}"
        )


def check_negatives(config: NeuralConfig) -> None:
    """Raise a :class:`~seqrec.models.base.ConfigError` (a ``ValueError``) naming the field when
    ``config.negatives`` is not a choice of :data:`NegativesKind` or does not fit the loss."""
    where = f"{type(config).__name__}.negatives"
    negatives = config.negatives
    if negatives not in NEGATIVES_KINDS:
        choices = ", ".join(map(repr, NEGATIVES_KINDS))
        raise ConfigError(f"{where} must be one of {choices}, got {negatives!r}")
    if negatives != "sampled" and config.loss != "sampled_softmax":
        raise ConfigError(
            f"{where}={negatives!r} needs loss='sampled_softmax' (the only loss with in-batch "
            f"negatives), got loss={config.loss!r}"
        )
    if negatives == "mixed" and config.n_negatives < 1:
        raise ConfigError(
            f"{where}='mixed' needs n_negatives >= 1 sampled negatives besides the in-batch ones, "
            f"got n_negatives={config.n_negatives} (use negatives='in_batch' for none)"
        )
