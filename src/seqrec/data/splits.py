"""Train / validation / test splits.

Two splits, both reported (docs/architecture.md, evaluation rules):

* **leave-one-out** (``loo``): for every user with at least three interactions, the last one is
  the test target, the second-to-last the validation target, and the rest is training data. It
  matches the literature but leaks the future: another user's training data may come after this
  user's test item (Ji et al. 2020, "A Critical Study on Data Leakage in Recommender System
  Offline Evaluation").
* **global temporal** (``temporal``): one cut-off time for everyone. Test targets are each user's
  first interaction at or after ``test_cut``; validation targets are each user's first
  interaction in ``[valid_cut, test_cut)``; training data is everything before ``valid_cut``.

Both raise (a ValueError; a DataError naming ``source`` when given) when no user can be
evaluated, rather than return an empty test set that would score every model 0.

In both, ``fit`` only ever receives ``Split.train``; evaluation histories may contain more
(the validation item in a LOO test history, the ``[valid_cut, test_cut)`` window in a temporal
one) because a deployed model sees a user's latest actions at request time without retraining.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from seqrec.data.errors import DataError
from seqrec.data.types import SequenceData


@dataclass(frozen=True)
class EvalSet:
    """Histories to complete and the one held-out item each should have predicted."""

    histories: SequenceData
    targets: np.ndarray  # [B] int64 item ids
    target_timestamps: np.ndarray  # [B] int64

    def __len__(self) -> int:
        return len(self.targets)

    def rows(self, index: np.ndarray | slice) -> EvalSet:
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        return EvalSet(self.histories.rows(index), self.targets[index], self.target_timestamps[index])


@dataclass(frozen=True)
class Split:
    name: str
    train: SequenceData
    valid: EvalSet
    test: EvalSet
    description: str = ""


def _nobody_to_evaluate(source: str | None, reason: str) -> ValueError:
    message = f"no user can be evaluated: {reason}"
    return ValueError(message) if source is None else DataError(source, message)


def leave_one_out(
    sequences: SequenceData, min_length: int = 3, *, source: str | None = None
) -> Split:
    """Last item = test, second-to-last = validation, the rest = training.

    Users shorter than ``min_length`` (at least 3) stay in training and are not evaluated;
    when that is every user, a ValueError says so.
    """
    min_length = max(3, min_length)
    lengths = sequences.lengths
    evaluated = np.flatnonzero(lengths >= min_length)
    if len(evaluated) == 0:
        longest = int(lengths.max()) if len(lengths) else 0
        raise _nobody_to_evaluate(
            source,
            f"leave-one-out needs users with at least {min_length} interactions and the "
            f"longest of the {len(lengths)} users has {longest}",
        )
    train_keep = np.where(lengths >= min_length, lengths - 2, lengths)
    train = sequences.truncate(train_keep)

    def held_out(position_from_end: int) -> EvalSet:
        target_pos = sequences.offsets[evaluated + 1] - position_from_end  # [B]
        histories = sequences.rows(evaluated).truncate(lengths[evaluated] - position_from_end)
        return EvalSet(histories, sequences.items[target_pos].copy(), sequences.timestamps[target_pos].copy())

    return Split(
        name="loo",
        train=train,
        valid=held_out(2),
        test=held_out(1),
        description=f"leave-one-out: {len(evaluated)} users evaluated (>= {min_length} interactions)",
    )


def temporal(
    sequences: SequenceData,
    test_fraction: float = 0.1,
    valid_fraction: float = 0.1,
    test_cut: int | None = None,
    valid_cut: int | None = None,
    *,
    source: str | None = None,
) -> Split:
    """Global temporal split at two cut-off times.

    By default the cuts are the timestamps below which ``1 - test_fraction`` and
    ``1 - test_fraction - valid_fraction`` of all interactions lie. Interactions exactly at a
    cut belong to the later side. No user with history before the test cut and an interaction
    at or after it (an empty test set) is a ValueError.
    """
    if not 0 < test_fraction < 1 or not 0 <= valid_fraction < 1 or test_fraction + valid_fraction >= 1:
        raise ValueError("need 0 < test_fraction, 0 <= valid_fraction, test_fraction + valid_fraction < 1")
    times = sequences.timestamps
    if len(times) == 0:
        raise _nobody_to_evaluate(source, "the dataset has no interactions")
    if test_cut is None:
        test_cut = int(np.quantile(times, 1 - test_fraction, method="higher"))
    if valid_cut is None:
        valid_cut = int(np.quantile(times, 1 - test_fraction - valid_fraction, method="higher"))
    if valid_cut > test_cut:
        raise ValueError(f"valid_cut {valid_cut} is after test_cut {test_cut}")

    before_valid = _count_before(sequences, valid_cut)  # [U]
    before_test = _count_before(sequences, test_cut)  # [U]
    train = sequences.truncate(before_valid)
    valid = _first_after(sequences, before_valid, before_test)
    test = _first_after(sequences, before_test, sequences.lengths)
    if len(test) == 0:
        raise _nobody_to_evaluate(
            source,
            f"the temporal split's test cut-off is {_moment(test_cut)} and no user has an "
            "interaction both before it and at or after it",
        )
    return Split(
        name="temporal",
        train=train,
        valid=valid,
        test=test,
        description=(
            f"global temporal: train < {valid_cut} <= valid < {test_cut} <= test; "
            f"{len(valid)} validation users, {len(test)} test users"
        ),
    )


def _moment(seconds: int) -> str:
    try:
        return f"{seconds} ({datetime.fromtimestamp(seconds, tz=UTC).isoformat(sep=' ')})"
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def _count_before(sequences: SequenceData, cut: int) -> np.ndarray:
    """Per user, how many interactions happen strictly before ``cut`` (sequences are time-sorted)."""
    running = np.concatenate([[0], np.cumsum(sequences.timestamps < cut, dtype=np.int64)])
    return running[sequences.offsets[1:]] - running[sequences.offsets[:-1]]


def _first_after(sequences: SequenceData, history_len: np.ndarray, window_end: np.ndarray) -> EvalSet:
    """Users with a non-empty history and an interaction in the window; target = the first one."""
    users = np.flatnonzero((history_len > 0) & (window_end > history_len))
    target_pos = sequences.offsets[users] + history_len[users]
    histories = sequences.rows(users).truncate(history_len[users])
    return EvalSet(histories, sequences.items[target_pos].copy(), sequences.timestamps[target_pos].copy())


SPLITS: dict[str, Callable[..., Split]] = {"loo": leave_one_out, "temporal": temporal}


def make_split(name: str, sequences: SequenceData, source: str | None = None) -> Split:
    """The split called ``name``; ``source`` (e.g. the dataset's name) prefixes its errors."""
    if name not in SPLITS:
        raise ValueError(f"unknown split {name!r}; choose from {', '.join(SPLITS)}")
    return SPLITS[name](sequences, source=source)
