"""Distributed (DDP) training of the shared trainer: the loss scaling, the equivalence of 1 process
with batch B and 2 processes with B/2 each (with a resume in between), and a killed rank.

The multi-process tests run the real command, ``python -m seqrec train --ddp --nproc-per-node 2``
(gloo, on the CPU), which starts its workers through torch's elastic launcher.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from typer.testing import CliRunner

import seqrec
from seqrec.cli import app
from seqrec.data.shop import make_shop_dataset
from seqrec.data.types import SequenceData
from seqrec.models import REGISTRY, get_model_class
from seqrec.models.neural.batching import TrainingWindows
from seqrec.models.neural.distributed import describe_failures, process_group
from seqrec.models.neural.losses import LossFunction
from seqrec.models.neural.recommender import NeuralRecommender
from seqrec.models.neural.sasrec import SASRec
from seqrec.models.neural.trainer import Trainer, batch_loss
from seqrec.testing import cycle_world

SASREC = """[sasrec]
max_len = 20
dim = 16
n_layers = 1
n_heads = 1
dropout = 0.0
loss = "softmax"
batch_size = 32
lr = 0.005
progress = false
epochs = {epochs}
"""
KEY_BIAS = "network.blocks.0.attention.key.bias"
"""Its exact gradient is 0 (adding q·b to every key's score leaves the softmax unchanged), so Adam
turns float rounding noise of order 1e-10 into steps of order lr in either run: it is no weight of
the function and is checked through the scores instead."""


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _seqrec(*arguments: str, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "seqrec", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
        **options,  # type: ignore[call-overload]
    )


def _finish(process: subprocess.Popen[str], seconds: float) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"no exit within {seconds} s (a hang); stderr:\n{err[-3000:]}")
    return process.returncode, out, err


# -- in one process ------------------------------------------------------------------------------
def test_shares_scaled_by_their_positions_give_the_gradient_of_the_whole_batch() -> None:
    """What each rank backpropagates: its mean loss times local_n * world / global_n. Averaged over
    the ranks (as DDP does) that is the gradient of the whole batch's mean; the plain average of the
    two means is not (the shares hold different numbers of target positions)."""
    torch.manual_seed(0)
    train = make_shop_dataset("tiny").sequences
    model = SASRec({"max_len": 20, "dim": 16, "n_layers": 1, "dropout": 0.0, "threads": 1})
    network = model.build_network(train.n_items).train()
    windows = TrainingWindows(train, 20, network.objective, "sliding")
    loss_function = LossFunction(model.config, train)
    generator = torch.Generator().manual_seed(0)
    rows = windows.batch_order(32, generator, by_length=True)[0]

    def gradient(parts: list[tuple[torch.Tensor, tuple[float, float] | None]], ranks: int) -> torch.Tensor:
        network.zero_grad(set_to_none=True)
        for share, weights in parts:
            batch, _ = Trainer._share_batch(network, windows, share, generator)
            batch_loss(network, batch, weights, loss_function=loss_function).backward()
        return torch.cat([p.grad.flatten() for p in network.parameters() if p.grad is not None]) / ranks

    shares = [rows[0::2], rows[1::2]]
    counts = [Trainer._share_batch(network, windows, share, generator)[1] for share in shares]
    assert counts[0] != counts[1]  # else the scaling would not matter
    whole = gradient([(rows, None)], 1)
    scaled = gradient([(share, (n * 2 / sum(counts), 0.0)) for share, n in zip(shares, counts, strict=True)], 2)
    plain = gradient([(share, (1.0, 0.0)) for share in shares], 2)
    torch.testing.assert_close(scaled, whole, atol=1e-7, rtol=1e-5)
    assert (plain - whole).abs().max() > 1e-5


def test_every_shared_trainer_network_trains_every_parameter() -> None:
    """DDP runs with find_unused_parameters=False: a parameter without a gradient in a step would
    stall its all-reduce. Every network the shared trainer fits must give all of them one."""
    train = cycle_world(n_users=12, length=8)
    names = [name for name in REGISTRY if issubclass(get_model_class(name), NeuralRecommender)]
    assert "sasrec" in names and "gru4rec" in names
    for name in names:
        model = get_model_class(name)({"max_len": 6, "dim": 8, "threads": 1})
        if name == "unisrec":  # its item texts' embeddings, as fit would encode them
            model.text_embeddings = np.random.default_rng(0).normal(size=(train.n_items + 1, 12)).astype(np.float32)
        torch.manual_seed(0)
        network = model.build_network(train.n_items)
        network.on_fit_start(train)
        network.train()
        windows = TrainingWindows(train, 6, network.objective, model.config.windows, with_time=network.uses_time)
        generator = torch.Generator().manual_seed(0)
        rows = windows.batch_order(8, generator, by_length=network.variable_length)[0]
        batch, _ = Trainer._share_batch(network, windows, rows, generator)
        batch_loss(network, batch, loss_function=LossFunction(model.config, train)).backward()
        unused = [n for n, p in network.named_parameters() if p.requires_grad and p.grad is None]
        assert unused == [], f"{name}: no gradient for {unused}"


def test_the_root_cause_is_the_killed_rank_not_the_ones_the_launcher_stopped() -> None:
    failures = {
        0: SimpleNamespace(pid=11, exitcode=-signal.SIGTERM, timestamp=100, signal_name=lambda: "SIGTERM"),
        1: SimpleNamespace(pid=12, exitcode=-signal.SIGKILL, timestamp=100, signal_name=lambda: "SIGKILL"),
    }
    assert describe_failures(failures) == (
        "distributed training failed: rank 1 (pid 12) was killed by signal SIGKILL; then rank 0 was killed "
        "by signal SIGTERM; the launcher stopped the remaining workers"
    )
    crashed = {3: SimpleNamespace(pid=9, exitcode=2, timestamp=5, signal_name=lambda: "")}
    assert describe_failures(crashed).startswith("distributed training failed: rank 3 (pid 9) exited with code 2")


def test_joining_without_a_launcher_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set"), process_group():
        pass


def test_ddp_refuses_a_model_the_shared_trainer_does_not_train(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "popularity", "--dataset", "shop:tiny", "--out", str(tmp_path / "a"), "--ddp"])
    assert result.exit_code == 2
    assert "popularity is not trained by the shared neural trainer" in result.output
    assert not (tmp_path / "a").exists()


# -- several processes ---------------------------------------------------------------------------
def test_two_processes_with_half_batches_learn_the_weights_of_one_process(tmp_path: Path) -> None:
    """1 process, batch 32, 2 epochs, against 2 processes with 16 windows each: the second run is
    interrupted after epoch 1 and resumed from its checkpoint (every rank loads it)."""
    for epochs in (1, 2):
        (tmp_path / f"{epochs}.toml").write_text(SASREC.format(epochs=epochs))
    common = ["--dataset", "shop:tiny", "--holdout", "--threads", "1"]
    single = CliRunner().invoke(app, ["train", "sasrec", *common, "--config", str(tmp_path / "2.toml"), "--out", str(tmp_path / "one")])
    assert single.exit_code == 0, single.output
    ddp = [*common, "--ddp", "--nproc-per-node", "2", "--checkpoint-dir", str(tmp_path / "checkpoints")]
    first = _finish(_seqrec("train", "sasrec", *ddp, "--config", str(tmp_path / "1.toml"), "--out", str(tmp_path / "two")), 120)
    assert first[0] == 0, first[2][-3000:]
    resumed = _seqrec("train", "sasrec", *ddp, "--resume", "--config", str(tmp_path / "2.toml"), "--out", str(tmp_path / "two"))
    code, out, err = _finish(resumed, 120)
    assert code == 0, err[-3000:]
    assert out.count("wrote ") == 1  # rank 0 alone wrote and reported

    one, two = (load_file(tmp_path / name / "state.safetensors") for name in ("one", "two"))
    assert one.keys() == two.keys()
    for name in one:
        if name != KEY_BIAS and one[name].dtype.kind == "f":
            np.testing.assert_allclose(two[name], one[name], atol=1e-5, rtol=0, err_msg=name)
    models = [seqrec.load(tmp_path / name) for name in ("one", "two")]
    histories = SequenceData.from_lists([[1, 2, 3], [5, 8]], models[0].model.n_items)
    scores = [model.model.score(histories) for model in models]
    np.testing.assert_allclose(scores[1][:, 1:], scores[0][:, 1:], atol=1e-4, rtol=0)
    records = [model.manifest["training"] for model in models]
    assert records[1]["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert records[1]["epochs"] == records[0]["epochs"] == 2
    for part in ("valid", "test"):
        assert records[1][part]["NDCG@10"] == pytest.approx(records[0][part]["NDCG@10"], abs=1e-6)


def _worker_of_rank(launcher: int, rank: int) -> int | None:
    """The pid of the launcher's child process that is the worker of ``rank`` (from ``/proc``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environment = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == launcher and f"RANK={rank}".encode() in environment:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker through /proc")
def test_a_killed_rank_ends_the_run_with_one_clear_error_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "long.toml").write_text(SASREC.format(epochs=5000))
    checkpoints = tmp_path / "checkpoints"
    arguments = ["--dataset", "shop:tiny", "--config", str(tmp_path / "long.toml"), "--out", str(tmp_path / "a")]
    launcher = _seqrec("train", "sasrec", *arguments, "--ddp", "--nproc-per-node", "2", "--checkpoint-dir", str(checkpoints))
    deadline = time.monotonic() + 90
    while not (checkpoints / "latest").exists():  # epoch 1 is done: both ranks are training
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()[1][-3000:]
        time.sleep(0.2)
    victim = _worker_of_rank(launcher.pid, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    code, _, err = _finish(launcher, 60)
    assert time.monotonic() - killed < 60
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: distributed training failed: rank 1 (pid {victim}) was killed by signal SIGKILL"), err[-3000:]
    assert "Traceback" not in err
    assert not (tmp_path / "a").exists()
