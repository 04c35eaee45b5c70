"""The shared trainer: determinism, early stopping, the progress bar (checkpoints: test_checkpoint.py)."""

from __future__ import annotations

import numpy as np
import pytest

from seqrec.data.splits import Split, leave_one_out
from seqrec.evaluation.metrics import hit_rate, ndcg
from seqrec.models.base import ConfigError
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.sasrec import SASRec, SASRecConfig, SASRecNetwork
from seqrec.models.neural.trainer import Trainer, score_histories, validation_metrics
from seqrec.ranking import mask_history, pessimistic_ranks
from seqrec.testing import cycle_world

TINY = {"max_len": 6, "dim": 16, "batch_size": 16, "lr": 5e-3, "threads": 1, "progress": False, "exclude_history": False}


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


def test_unknown_loss_is_rejected(split: Split) -> None:
    # config.loss is a Literal: the model refuses it when it is built, before any training.
    with pytest.raises(ConfigError, match="loss must be one of .*, got 'hinge'"):
        SASRec(TINY, epochs=1, loss="hinge")


def test_the_trainer_checks_a_config_built_by_hand() -> None:
    with pytest.raises(ConfigError, match="windows must be one of"):
        Trainer(NeuralConfig(windows="all"), lambda: SASRecNetwork(3, SASRecConfig()))  # type: ignore[arg-type]


def test_validation_ranks_with_the_protocol_as_the_plain_computation_does(split: Split) -> None:
    model = SASRec(TINY, epochs=2, exclude_history=True).fit(split.train, split.valid)
    network, valid = model.require_network(), split.valid
    # The reference: pessimistic ranks of the float32 scores with the history masked.
    scores = score_histories(network, valid.histories, model.config)
    ranks = pessimistic_ranks(mask_history(scores, valid.histories), valid.targets)
    expected = {"HR@10": float(hit_rate(ranks, 10).mean()), "NDCG@10": float(ndcg(ranks, 10).mean())}
    assert validation_metrics(network, valid, model.config) == expected


def test_progress_bar_shows_loss_and_validation_metric(split: Split, capsys: pytest.CaptureFixture[str]) -> None:
    SASRec(TINY, epochs=2, progress=True).fit(split.train, split.valid)
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "epoch 2/2" in text and "loss" in text and "valid NDCG@10" in text


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per optimizer step the trainer takes while the test runs."""
    taken: list[int] = []
    original = Trainer._step

    def counting_step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        taken.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_step", counting_step)
    return taken


def test_max_batches_per_epoch_caps_the_optimizer_steps(steps: list[int]) -> None:
    SASRec(max_len=8, dim=8, batch_size=4, epochs=3, max_batches_per_epoch=2, progress=False).fit(cycle_world())
    # 60 users -> 15+ batches of 4 per epoch uncapped; capped at 2 per epoch for 3 epochs.
    assert len(steps) == 6


def test_warmup_raises_the_learning_rate_linearly_then_holds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    rates: list[float] = []
    original = Trainer._step

    def recording_step(self, network, optimizer, *args, **kwargs):  # type: ignore[no-untyped-def]
        rates.append(optimizer.param_groups[0]["lr"])
        return original(self, network, optimizer, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_step", recording_step)
    # 60 users, one window each, batch 20 -> 3 batches an epoch; warm-up over 2 epochs = 6 steps.
    SASRec(
        max_len=8, dim=8, batch_size=20, epochs=3, lr=0.06, warmup_epochs=2, windows="last", progress=False
    ).fit(cycle_world())
    assert rates == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.06, 0.06, 0.06])


def test_no_warmup_and_default_beta2_train_exactly_as_torch_defaults(split: Split) -> None:
    plain = SASRec(TINY, epochs=2, seed=3).fit(split.train, split.valid)
    explicit = SASRec(TINY, epochs=2, seed=3, warmup_epochs=0, adam_beta2=0.999, label_smoothing=0.0).fit(
        split.train, split.valid
    )
    other = SASRec(TINY, epochs=2, seed=3, adam_beta2=0.98).fit(split.train, split.valid)
    histories = split.test.histories
    np.testing.assert_array_equal(plain.score(histories), explicit.score(histories))
    assert not np.array_equal(plain.score(histories), other.score(histories))


def test_label_smoothing_changes_the_softmax_loss_as_torch_defines_it() -> None:
    import torch

    from seqrec.models.neural.losses import softmax_cross_entropy

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    targets = torch.tensor([0, 2])
    log_p = torch.log_softmax(logits, dim=1)
    by_hand = -(0.9 * log_p[[0, 1], targets] + 0.1 * log_p.mean(dim=1)).mean()
    assert float(softmax_cross_entropy(logits, targets, 0.1)) == pytest.approx(float(by_hand), rel=1e-6)
    assert float(softmax_cross_entropy(logits, targets)) == pytest.approx(float(-log_p[[0, 1], targets].mean()))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"adam_beta2": 1.0}, r"SASRecConfig.adam_beta2 must be in \[0, 1\), got 1.0"),
        ({"warmup_epochs": -1}, "SASRecConfig.warmup_epochs must be >= 0, got -1"),
        ({"label_smoothing": 1.5}, r"SASRecConfig.label_smoothing must be in \[0, 1\), got 1.5"),
        ({"ema_decay": 1.0}, r"SASRecConfig.ema_decay must be in \[0, 1\), got 1.0"),
        ({"ema_decay": -0.1}, r"SASRecConfig.ema_decay must be in \[0, 1\), got -0.1"),
        ({"label_smoothing": 0.1, "loss": "bce"}, "label_smoothing=0.1 needs loss='softmax'.*got loss='bce'"),
    ],
)
def test_recipe_settings_out_of_range_are_config_errors(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SASRec(TINY, **settings)


def test_overlapping_windows_train_and_default_stride_is_the_plain_windows(split: Split) -> None:
    plain = SASRec(TINY, epochs=2, seed=5).fit(split.train, split.valid)
    same = SASRec(TINY, epochs=2, seed=5, window_stride=TINY["max_len"]).fit(split.train, split.valid)
    overlapping = SASRec(TINY, epochs=2, seed=5, window_stride=2).fit(split.train, split.valid)
    histories = split.test.histories
    np.testing.assert_array_equal(plain.score(histories), same.score(histories))
    assert not np.array_equal(plain.score(histories), overlapping.score(histories))
    with pytest.raises(ConfigError, match=r"window_stride must be in \[0, max_len=6\], got 7"):
        SASRec(TINY, window_stride=7)


def test_epoch_repeats_make_each_epoch_several_fresh_passes(steps: list[int]) -> None:
    settings = {"max_len": 8, "dim": 8, "batch_size": 20, "epochs": 2, "windows": "last", "progress": False}
    SASRec(settings).fit(cycle_world())
    assert len(steps) == 2 * 3  # 60 windows, batch 20
    steps.clear()
    SASRec(settings, epoch_repeats=3).fit(cycle_world())
    assert len(steps) == 2 * 3 * 3
    with pytest.raises(ConfigError, match="epoch_repeats must be >= 1, got 0"):
        SASRec(settings, epoch_repeats=0)


def test_the_weight_average_is_the_exponential_moving_average_by_hand() -> None:
    import torch

    from seqrec.models.neural.trainer import weight_average

    layer = torch.nn.Linear(2, 1, bias=False)
    assert weight_average(layer, 0.0) is None  # type: ignore[arg-type]
    average = weight_average(layer, 0.75)  # type: ignore[arg-type]
    assert average is not None
    seen = [[1.0, 2.0], [3.0, -2.0], [5.0, 6.0]]
    for weights in seen:
        with torch.no_grad():
            layer.weight.copy_(torch.tensor([weights]))
        average.update_parameters(layer)
    # the first update copies; then average = 0.75 * average + 0.25 * weights
    first = np.array(seen[0])
    second = 0.75 * first + 0.25 * np.array(seen[1])
    third = 0.75 * second + 0.25 * np.array(seen[2])
    np.testing.assert_allclose(average.module.weight.detach().numpy()[0], third, rtol=1e-6)


def test_with_ema_decay_validation_and_the_kept_weights_are_the_average_of_every_step(
    split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    decay = 0.8
    after_each_step: list[dict[str, torch.Tensor]] = []
    original = Trainer._step

    def recording_step(self, network, *args, **kwargs):  # type: ignore[no-untyped-def]
        loss = original(self, network, *args, **kwargs)
        after_each_step.append({k: v.detach().clone() for k, v in network.state_dict().items()})
        return loss

    monkeypatch.setattr(Trainer, "_step", recording_step)
    # No validation: the network returned is the average after the last step.
    model = SASRec(TINY, epochs=2, seed=4, ema_decay=decay, dropout=0.3).fit(split.train)
    expected = dict(after_each_step[0])
    for weights in after_each_step[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * weights[k] if weights[k].is_floating_point() else weights[k] for k in weights}
    kept = model.require_network().state_dict()
    assert len(after_each_step) > 2
    for name, tensor in expected.items():
        torch.testing.assert_close(kept[name], tensor, rtol=1e-5, atol=1e-6)
    # not the raw weights of the last step
    assert any(not torch.equal(kept[k], after_each_step[-1][k]) for k in kept if kept[k].is_floating_point())

    # With validation, each epoch's metric is the average's, and the best epoch's average is kept.
    after_each_step.clear()
    validated = SASRec(TINY, epochs=2, seed=4, ema_decay=decay, dropout=0.3).fit(split.train, split.valid)
    assert validated.training is not None
    best = validated.training.records[validated.training.best_epoch - 1].metrics["NDCG@10"]
    assert validation_metrics(validated.require_network(), split.valid, validated.config)["NDCG@10"] == pytest.approx(best)
