"""The shared trainer: windows, batches, determinism, early stopping, checkpoints and resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seqrec.data.splits import Split, leave_one_out
from seqrec.data.types import SequenceData
from seqrec.models.neural.network import Objective, TrainingBatch, mask_token
from seqrec.models.neural.sasrec import SASRec, SASRecNetwork
from seqrec.models.neural.trainer import (
    EpochRecord,
    LossFunction,
    TrainingWindows,
    history_inputs,
    make_batch,
    trim_leading_padding,
    validation_metrics,
)
from seqrec.testing import cycle_world

SEQUENCES = SequenceData.from_lists([[1, 2, 3, 4, 5, 6, 7], [8, 9], [5]], n_items=9)
TINY = {"max_len": 6, "dim": 16, "batch_size": 16, "lr": 5e-3, "threads": 1, "progress": False, "exclude_history": False}


def all_windows(windows: TrainingWindows) -> torch.Tensor:
    return windows.gather(torch.arange(len(windows)))


def test_sliding_causal_windows_make_every_item_but_the_first_a_target_once() -> None:
    windows = TrainingWindows(SEQUENCES, max_len=3, objective=Objective.CAUSAL, windows="sliding")
    batch = make_batch(all_windows(windows), Objective.CAUSAL, 9, 0.2, torch.Generator())
    targets = sorted(int(t) for t in batch.target_ids[batch.target_ids != 0])
    assert targets == [2, 3, 4, 5, 6, 7, 9]  # user 3 ([5]) has no next item
    # The last window of user 1 reads 4, 5, 6 and predicts 5, 6, 7 at the same positions.
    assert batch.input_ids[0].tolist() == [4, 5, 6] and batch.target_ids[0].tolist() == [5, 6, 7]


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


@pytest.fixture(scope="module")
def split() -> Split:
    return leave_one_out(cycle_world(n_users=40, length=10))


def test_fixed_seed_gives_identical_scores(split: Split) -> None:
    first = SASRec(TINY, epochs=2, seed=7).fit(split.train, split.valid)
    second = SASRec(TINY, epochs=2, seed=7).fit(split.train, split.valid)
    other = SASRec(TINY, epochs=2, seed=8).fit(split.train, split.valid)
    histories = split.test.histories
    np.testing.assert_array_equal(first.score(histories), second.score(histories))
    assert not np.array_equal(first.score(histories), other.score(histories))


def test_early_stopping_restores_the_best_epoch(split: Split) -> None:
    model = SASRec(TINY, epochs=6, patience=2, lr=0.05).fit(split.train, split.valid)
    result = model.training
    assert result is not None
    best = max(result.records, key=lambda record: record.metrics["NDCG@10"])
    assert result.best_epoch == best.epoch  # the first epoch reaching the maximum
    assert validation_metrics(model.require_network(), split.valid, model.config)["NDCG@10"] == pytest.approx(
        result.best_metric
    )
    if result.stopped_early:
        assert len(result.records) - result.best_epoch == 2


class Interrupt(Exception):
    pass


def stop_after_first_epoch(record: EpochRecord) -> None:
    if record.epoch == 1:
        raise Interrupt


def test_resume_after_interruption_reproduces_the_uninterrupted_run(split: Split, tmp_path: Path) -> None:
    config = dict(TINY, epochs=3, dropout=0.3, loss="gbce", n_negatives=4)
    uninterrupted = SASRec(config).fit(split.train, split.valid)

    directory = str(tmp_path / "run")
    with pytest.raises(Interrupt):
        SASRec(config, checkpoint_dir=directory).fit(split.train, split.valid, callbacks=[stop_after_first_epoch])
    assert (tmp_path / "run" / "latest").read_text() == "epoch_0001"
    resumed = SASRec(config, checkpoint_dir=directory, resume=True).fit(split.train, split.valid)

    assert uninterrupted.training is not None and resumed.training is not None
    assert [r.metrics for r in resumed.training.records] == [r.metrics for r in uninterrupted.training.records]
    assert [r.loss for r in resumed.training.records] == [r.loss for r in uninterrupted.training.records]
    histories = split.test.histories
    np.testing.assert_array_equal(resumed.score(histories), uninterrupted.score(histories))


def test_resume_refuses_a_checkpoint_trained_differently(split: Split, tmp_path: Path) -> None:
    directory = str(tmp_path / "run")
    SASRec(TINY, epochs=1, checkpoint_dir=directory).fit(split.train, split.valid)
    with pytest.raises(ValueError, match="lr"):
        SASRec(TINY, epochs=2, lr=0.1, checkpoint_dir=directory, resume=True).fit(split.train, split.valid)


def test_unknown_loss_is_rejected(split: Split) -> None:
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        SASRec(TINY, epochs=1, loss="hinge").fit(split.train, split.valid)


def test_progress_bar_shows_loss_and_validation_metric(split: Split, capsys: pytest.CaptureFixture[str]) -> None:
    SASRec(TINY, epochs=2, progress=True).fit(split.train, split.valid)
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "epoch 2/2" in text and "loss" in text and "valid NDCG@10" in text


class RecordingNetwork(SASRecNetwork):
    """Records the candidate ids the loss asks scores for."""

    asked: list[torch.Tensor]

    def logits_of(self, hidden: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        self.asked.append(item_ids)
        return super().logits_of(hidden, item_ids)


@pytest.mark.parametrize("per_position", [False, True])
def test_negatives_are_shared_by_the_batch_or_drawn_per_position(per_position: bool) -> None:
    train = SequenceData.from_lists([list(range(1, 31))], n_items=30)
    config = SASRec(TINY, loss="bce", n_negatives=5, negatives_per_position=per_position).config
    network = RecordingNetwork(30, 6, 8, 1, 1, 0.0)
    network.asked = []
    hidden, targets = torch.randn(40, 8), torch.arange(1, 41) % 30 + 1
    LossFunction(config, train)(network, hidden, targets, torch.Generator().manual_seed(0))
    negatives = network.asked[1]  # [0] is the positives
    if per_position:
        assert negatives.shape == (40, 5) and len({tuple(row.tolist()) for row in negatives}) > 1
    else:
        assert negatives.shape == (5,)


def test_max_batches_per_epoch_caps_the_optimizer_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    from seqrec.models.neural.trainer import Trainer

    steps: list[int] = []
    original = Trainer._step

    def counting_step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        steps.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_step", counting_step)
    SASRec(max_len=8, dim=8, batch_size=4, epochs=3, max_batches_per_epoch=2, progress=False).fit(cycle_world())
    # 60 users -> 15+ batches of 4 per epoch uncapped; capped at 2 per epoch for 3 epochs.
    assert len(steps) == 6
