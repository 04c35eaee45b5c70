"""Splits: exact targets on a hand-built case, and proof that fit never sees held-out data."""

from __future__ import annotations

import numpy as np

from seqrec.data.splits import leave_one_out, temporal
from seqrec.data.types import SequenceData
from seqrec.models.base import Recommender


def small() -> SequenceData:
    return SequenceData.from_lists(
        [[1, 2, 3, 4], [5, 6], [7, 8, 9]],
        n_items=9,
        timestamps=[[10, 20, 30, 40], [15, 35], [5, 25, 45]],
    )


def test_leave_one_out_by_hand() -> None:
    split = leave_one_out(small())
    assert [list(s) for s in split.train] == [[1, 2], [5, 6], [7]]
    assert split.valid.targets.tolist() == [3, 8]
    assert split.test.targets.tolist() == [4, 9]
    assert [list(s) for s in split.test.histories] == [[1, 2, 3], [7, 8]]
    assert split.test.histories.users.tolist() == [0, 2]


def test_temporal_by_hand() -> None:
    split = temporal(small(), valid_cut=22, test_cut=32)
    assert [list(s) for s in split.train] == [[1, 2], [5], [7]]
    # first interaction in [22, 32): user 0 -> 3, user 2 -> 8; user 1 has none
    assert split.valid.targets.tolist() == [3, 8]
    # first interaction at or after 32, history = everything before 32
    assert split.test.targets.tolist() == [4, 6, 9]
    assert [list(s) for s in split.test.histories] == [[1, 2, 3], [5], [7, 8]]


class Spy(Recommender):
    """Records every interaction handed to fit."""

    name = "spy"

    from dataclasses import dataclass as _dc

    @_dc
    class Config:
        pass

    def fit(self, train: SequenceData, valid: object = None) -> Spy:
        self.seen = {(int(u), int(i), int(t)) for u, seq, ts in zip(train.users, train, [train.sequence_timestamps(r) for r in range(len(train))]) for i, t in zip(seq, ts)}
        self.n_items = train.n_items
        return self

    def _score(self, histories: SequenceData) -> np.ndarray:
        return np.zeros((len(histories), histories.n_items + 1), dtype=np.float32)


def held_out(eval_set) -> set[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    return {
        (int(u), int(i), int(t))
        for u, i, t in zip(eval_set.histories.users, eval_set.targets, eval_set.target_timestamps)
    }


def random_world(seed: int = 0) -> SequenceData:
    rng = np.random.default_rng(seed)
    seqs = [list(rng.integers(1, 30, size=int(rng.integers(1, 25)))) for _ in range(80)]
    times = [sorted(rng.integers(0, 10_000, size=len(s)).tolist()) for s in seqs]
    return SequenceData.from_lists(seqs, n_items=29, timestamps=times)


def test_fit_never_sees_loo_validation_or_test() -> None:
    split = leave_one_out(random_world())
    spy = Spy().fit(split.train)
    assert spy.seen.isdisjoint(held_out(split.valid))
    assert spy.seen.isdisjoint(held_out(split.test))
    assert len(split.test) > 50


def test_fit_never_sees_temporal_validation_or_test() -> None:
    world = random_world(1)
    split = temporal(world)
    spy = Spy().fit(split.train)
    assert spy.seen.isdisjoint(held_out(split.valid))
    assert spy.seen.isdisjoint(held_out(split.test))
    valid_cut = split.valid.target_timestamps.min()
    assert all(t < valid_cut for _, _, t in spy.seen)
    # every test history ends before every test target of the same cut
    for row in range(len(split.test)):
        assert split.test.histories.sequence_timestamps(row).max() < split.test.target_timestamps.min() + 1
