"""Checkpoints and resume: an interrupted (even SIGKILLed) run resumes to the uninterrupted result,
a damaged checkpoint falls back to the last complete epoch (or is refused, naming the file), and a
checkpoint made on other data or with another config is refused, naming what differs."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from seqrec.data.splits import Split, leave_one_out
from seqrec.models.neural.checkpoint import CheckpointError, CheckpointWarning
from seqrec.models.neural.sasrec import SASRec
from seqrec.models.neural.trainer import EpochRecord
from seqrec.testing import cycle_world

TINY = {"max_len": 6, "dim": 16, "batch_size": 16, "lr": 5e-3, "threads": 1, "progress": False, "exclude_history": False}
CONFIG = dict(TINY, epochs=3, dropout=0.3)
"""The run the damage tests resume: a checkpoint of its first 2 epochs, resumed to 3."""


@pytest.fixture(scope="module")
def split() -> Split:
    return leave_one_out(cycle_world(n_users=40, length=10))


@pytest.fixture(scope="module")
def uninterrupted(split: Split) -> SASRec:
    return SASRec(CONFIG).fit(split.train, split.valid)


@pytest.fixture(scope="module")
def two_epochs(split: Split, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint directory after epochs 1 and 2 of ``CONFIG`` (both folders kept)."""
    directory = tmp_path_factory.mktemp("checkpoints") / "run"
    SASRec(CONFIG, epochs=2, checkpoint_dir=str(directory)).fit(split.train, split.valid)
    return directory


def copy_of(directory: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(directory, tmp_path / "run"))


def resume(directory: Path, split: Split, **overrides: object) -> SASRec:
    return SASRec(CONFIG, checkpoint_dir=str(directory), resume=True, **overrides).fit(split.train, split.valid)


def assert_same_run(resumed: SASRec, uninterrupted: SASRec, split: Split) -> None:
    assert resumed.training is not None and uninterrupted.training is not None
    assert [(r.loss, r.metrics) for r in resumed.training.records] == [
        (r.loss, r.metrics) for r in uninterrupted.training.records
    ]
    histories = split.test.histories
    np.testing.assert_array_equal(resumed.score(histories), uninterrupted.score(histories))


class Interrupt(Exception):
    pass


def stop_after_first_epoch(record: EpochRecord) -> None:
    if record.epoch == 1:
        raise Interrupt


@pytest.mark.parametrize(
    "recipe",
    [
        {"loss": "gbce", "n_negatives": 4},
        {"loss": "softmax", "warmup_epochs": 2, "adam_beta2": 0.98, "label_smoothing": 0.1},
        {"loss": "softmax", "ema_decay": 0.9},
    ],
    ids=["gbce", "warmup-across-the-resume", "weight-average-across-the-resume"],
)
def test_resume_after_interruption_reproduces_the_uninterrupted_run(
    split: Split, tmp_path: Path, recipe: dict[str, object]
) -> None:
    config = dict(TINY, epochs=3, dropout=0.3, **recipe)
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


def test_the_layout_is_safetensors_and_json_with_the_data_fingerprint(split: Split, two_epochs: Path) -> None:
    assert sorted(path.name for path in two_epochs.iterdir()) == ["epoch_0001", "epoch_0002", "latest"]
    assert (two_epochs / "latest").read_text() == "epoch_0002"
    folder = two_epochs / "epoch_0002"
    assert sorted(path.name for path in folder.iterdir()) == [
        "best.safetensors",
        "trainer_state.json",
        "trainer_state.safetensors",
        "weights.safetensors",
    ]
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["data"]["training data"] == split.train.fingerprint()
    assert state["progress"]["epochs_done"] == 2 and state["config"]["lr"] == TINY["lr"]
    assert set(state["files"]) == {"best.safetensors", "trainer_state.safetensors", "weights.safetensors"}
    assert "optimizer.0.exp_avg" in load_file(str(folder / "trainer_state.safetensors"))


def damage(directory: Path, how: str, file: str) -> Path:
    path = directory / file
    if how == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "delete":
        path.unlink()
    elif how == "dangle":
        path.write_text("epoch_0009")
    return path


DAMAGES = [
    ("truncate", "epoch_0002/weights.safetensors", "epoch_0001"),
    ("truncate", "epoch_0002/best.safetensors", "epoch_0001"),
    ("truncate", "epoch_0002/trainer_state.safetensors", "epoch_0001"),
    ("truncate", "epoch_0002/trainer_state.json", "epoch_0001"),
    ("empty", "epoch_0002/trainer_state.json", "epoch_0001"),
    ("delete", "epoch_0002/weights.safetensors", "epoch_0001"),
    ("empty", "latest", "epoch_0002"),
    ("dangle", "latest", "epoch_0002"),
]


@pytest.mark.parametrize(("how", "file", "used"), DAMAGES, ids=[f"{how}-{file}" for how, file, _ in DAMAGES])
def test_a_damaged_checkpoint_falls_back_to_the_last_complete_epoch(
    split: Split, uninterrupted: SASRec, two_epochs: Path, tmp_path: Path, how: str, file: str, used: str
) -> None:
    directory = copy_of(two_epochs, tmp_path)
    damaged = damage(directory, how, file)
    with pytest.warns(CheckpointWarning, match=re.escape(str(damaged))) as caught:
        resumed = resume(directory, split)
    assert f"resuming from {used}, the newest complete one" in str(caught[0].message)
    assert_same_run(resumed, uninterrupted, split)  # an earlier epoch resumes to the same run
    # The damaged epoch was written again: the directory resumes cleanly now.
    assert (directory / "latest").read_text() == "epoch_0003"
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)
        assert_same_run(resume(directory, split), uninterrupted, split)


def test_with_no_complete_epoch_resume_stops_naming_the_damaged_files(
    split: Split, two_epochs: Path, tmp_path: Path
) -> None:
    directory = copy_of(two_epochs, tmp_path)
    newest = damage(directory, "delete", "epoch_0002/weights.safetensors")
    older = damage(directory, "empty", "epoch_0001/trainer_state.json")
    with pytest.raises(CheckpointError, match="no complete checkpoint") as raised:
        resume(directory, split)
    message = str(raised.value)
    assert f"{newest} is missing" in message and f"{older} is empty" in message


def test_resume_refuses_a_checkpoint_made_on_other_data(split: Split, two_epochs: Path, tmp_path: Path) -> None:
    directory = copy_of(two_epochs, tmp_path)
    other = leave_one_out(cycle_world(n_users=40, length=10, seed=1))
    with pytest.raises(CheckpointError, match="training data fingerprint") as raised:
        SASRec(CONFIG, checkpoint_dir=str(directory), resume=True).fit(other.train, other.valid)
    assert str(raised.value).startswith(f"{directory / 'epoch_0002'}: this run cannot resume the checkpoint")
    assert f"{split.train.fingerprint()[:12]} in the checkpoint, {other.train.fingerprint()[:12]} now" in str(
        raised.value
    )


def test_resume_refuses_a_changed_config_naming_every_changed_field(
    split: Split, two_epochs: Path, tmp_path: Path
) -> None:
    directory = copy_of(two_epochs, tmp_path)
    with pytest.raises(CheckpointError) as raised:
        resume(directory, split, lr=0.1, dim=32, epochs=5, eval_batch_size=7)
    message = str(raised.value)
    assert str(directory / "epoch_0002") in message
    assert "trained with dim=16, the config now says dim=32" in message
    assert "trained with lr=0.005, the config now says lr=0.1" in message
    assert "epochs" not in message and "eval_batch_size" not in message  # these may change


def test_a_half_written_epoch_folder_is_ignored_and_cleared(
    split: Split, uninterrupted: SASRec, two_epochs: Path, tmp_path: Path
) -> None:
    directory = copy_of(two_epochs, tmp_path)
    stray = directory / ".epoch_0003.x1y2.tmp"  # what a kill during the write of epoch 3 leaves
    stray.mkdir()
    (stray / "weights.safetensors").write_bytes(b"\x00" * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)
        assert_same_run(resume(directory, split), uninterrupted, split)
    assert not stray.exists()
    assert sorted(path.name for path in directory.iterdir()) == ["epoch_0002", "epoch_0003", "latest"]


# -- kill -9 ----------------------------------------------------------------------------------
CHILD = """
import json, sys, time, warnings
from safetensors.torch import save_file
from seqrec.data.splits import leave_one_out
from seqrec.models.neural.checkpoint import CheckpointWarning, state_dict_copy
from seqrec.models.neural.sasrec import SASRec
from seqrec.testing import cycle_world

warnings.simplefilter("error", CheckpointWarning)
config, out, pause = json.loads(sys.argv[1]), sys.argv[2], float(sys.argv[3])
split = leave_one_out(cycle_world(n_users=40, length=10))
model = SASRec(config).fit(split.train, split.valid, callbacks=[lambda record: time.sleep(pause)])
save_file(state_dict_copy(model.require_network()), out + ".safetensors")
with open(out + ".json", "w") as handle:
    json.dump([[record.loss, record.metrics] for record in model.training.records], handle)
"""


def run_child(config: dict[str, object], out: Path, pause: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(config), str(out), str(pause)])


def test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_result(split: Split, tmp_path: Path) -> None:
    directory = tmp_path / "run"
    config = dict(TINY, epochs=4, dropout=0.3, checkpoint_dir=str(directory), resume=True)
    # A pause after each epoch keeps the child running for a while after its first checkpoint.
    child = run_child(config, tmp_path / "killed", pause=0.3)
    deadline = time.monotonic() + 60
    while not (directory / "latest").exists():
        assert child.poll() is None, "the child ended before writing a checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert not (tmp_path / "killed.json").exists()

    resumed = run_child(config, tmp_path / "resumed", pause=0.0)
    assert resumed.wait(timeout=120) == 0

    uninterrupted = SASRec(dict(config, checkpoint_dir="", resume=False)).fit(split.train, split.valid)
    assert uninterrupted.training is not None
    records = json.loads((tmp_path / "resumed.json").read_text())
    assert records == [[r.loss, r.metrics] for r in uninterrupted.training.records]
    weights = load_file(str(tmp_path / "resumed.safetensors"))
    for name, tensor in uninterrupted.require_network().state_dict().items():
        assert weights[name].equal(tensor), name


def test_a_checkpoint_from_before_a_config_field_existed_resumes_at_its_neutral_value(
    split: Split, two_epochs: Path, tmp_path: Path
) -> None:
    directory = copy_of(two_epochs, tmp_path)
    state_file = directory / "epoch_0002" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    for added in ("negatives", "adam_beta2", "warmup_epochs", "label_smoothing", "window_stride", "epoch_repeats", "ema_decay"):
        del state["config"][added]  # as written before the fields were added
    state_file.write_text(json.dumps(state))
    resume(directory, split, epochs=3)  # their neutral values train as before: accepted
    with pytest.raises(CheckpointError, match="negatives=None in the checkpoint|negatives='sampled'"):
        resume(directory, split, epochs=4, loss="sampled_softmax", negatives="in_batch")
