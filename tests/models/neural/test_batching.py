"""Training windows, batches, trimming and scoring inputs (``neural/batching.py``)."""

from __future__ import annotations

import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural.batching import (
    TrainingWindows,
    history_inputs,
    make_batch,
    trim_leading_padding,
)
from seqrec.models.neural.network import Objective, TrainingBatch, mask_token

SEQUENCES = SequenceData.from_lists([[1, 2, 3, 4, 5, 6, 7], [8, 9], [5]], n_items=9)


def all_windows(windows: TrainingWindows) -> torch.Tensor:
    return windows.gather(torch.arange(len(windows)))


def test_sliding_causal_windows_make_every_item_but_the_first_a_target_once() -> None:
    windows = TrainingWindows(SEQUENCES, max_len=3, objective=Objective.CAUSAL, windows="sliding")
    batch = make_batch(all_windows(windows), Objective.CAUSAL, 9, 0.2, torch.Generator())
    targets = sorted(int(t) for t in batch.target_ids[batch.target_ids != 0])
    assert targets == [2, 3, 4, 5, 6, 7, 9]  # user 3 ([5]) has no next item
    # The last window of user 1 reads 4, 5, 6 and predicts 5, 6, 7 at the same positions.
    assert batch.input_ids[0].tolist() == [4, 5, 6] and batch.target_ids[0].tolist() == [5, 6, 7]


def test_overlapping_windows_train_every_target_once_with_at_least_max_len_minus_stride_of_history() -> None:
    windows = TrainingWindows(SEQUENCES, max_len=4, objective=Objective.CAUSAL, windows="sliding", stride=2)
    rows = all_windows(windows)
    batch = make_batch(rows, Objective.CAUSAL, 9, 0.2, torch.Generator(), trained_tail=windows.stride)
    targets = sorted(int(t) for t in batch.target_ids[batch.target_ids != 0])
    assert targets == [2, 3, 4, 5, 6, 7, 9]  # each target once, as without overlap
    # User 1 (1..7): windows end at 7, 5, 3; each trains its last 2 targets (the first: all it has).
    assert rows[:3].tolist() == [[3, 4, 5, 6, 7], [1, 2, 3, 4, 5], [0, 0, 1, 2, 3]]
    assert batch.target_ids[0].tolist() == [0, 0, 6, 7] and batch.input_ids[0].tolist() == [3, 4, 5, 6]
    assert batch.target_ids[1].tolist() == [0, 0, 4, 5] and batch.target_ids[2].tolist() == [0, 0, 2, 3]
    # Without overlap (stride = max_len) nothing is masked: the default windows, unchanged.
    plain = TrainingWindows(SEQUENCES, max_len=4, objective=Objective.CAUSAL, windows="sliding")
    assert plain.stride == 4 and len(plain) == 3


def test_a_window_stride_needs_causal_sliding_windows_within_max_len() -> None:
    import pytest

    for objective, kind, stride in [(Objective.MASKED, "sliding", 2), (Objective.CAUSAL, "last", 2), (Objective.CAUSAL, "sliding", 5)]:
        with pytest.raises(ValueError, match="window_stride="):
            TrainingWindows(SEQUENCES, max_len=4, objective=objective, windows=kind, stride=stride)


def test_last_windows_keep_only_the_most_recent_items() -> None:
    windows = TrainingWindows(SEQUENCES, max_len=3, objective=Objective.CAUSAL, windows="last")
    assert all_windows(windows).tolist() == [[4, 5, 6, 7], [0, 0, 8, 9]]


def test_last_position_objective_uses_every_prefix() -> None:
    windows = TrainingWindows(SEQUENCES, max_len=3, objective=Objective.LAST, windows="sliding")
    batch = make_batch(all_windows(windows), Objective.LAST, 9, 0.2, torch.Generator())
    assert len(windows) == 6 + 1  # six prefixes of user 1, one of user 2
    assert batch.input_ids[2].tolist() == [1, 2, 3] and batch.target_ids[2].tolist() == [0, 0, 4]
    assert batch.input_ids[0].tolist() == [0, 0, 1] and batch.target_ids[0].tolist() == [0, 0, 2]


def test_masked_batches_hide_a_fixed_share_behind_the_mask_token() -> None:
    windows = TrainingWindows(SEQUENCES, max_len=10, objective=Objective.MASKED, windows="sliding")
    batch = make_batch(all_windows(windows), Objective.MASKED, 9, 0.3, torch.Generator().manual_seed(1))
    masked = batch.input_ids == mask_token(9)
    # round(0.3 * 7) = 2 masks for user 1, at least one for the others.
    assert masked.sum(dim=1).tolist() == [2, 1, 1]
    assert torch.equal(masked, batch.target_ids != 0)
    original = all_windows(windows)
    assert torch.equal(batch.target_ids[masked], original[masked])


def test_trimming_drops_only_all_padding_columns() -> None:
    inputs = torch.tensor([[0, 0, 1, 2], [0, 3, 4, 5]])
    trimmed = trim_leading_padding(TrainingBatch(inputs, inputs, torch.Generator()))
    assert trimmed.input_ids.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_history_inputs_append_the_mask_for_masked_models() -> None:
    histories = SequenceData.from_lists([[1, 2, 3], [4]], n_items=9)
    assert history_inputs(histories, 3, Objective.CAUSAL).tolist() == [[1, 2, 3], [0, 0, 4]]
    assert history_inputs(histories, 3, Objective.MASKED).tolist() == [[2, 3, 10], [0, 4, 10]]
