"""Data-parallel training of the shared neural trainer with PyTorch's DistributedDataParallel.

What runs where
---------------
``torchrun --nproc_per_node N -m seqrec train ...`` (or ``seqrec train --ddp --nproc-per-node N``,
which starts the N local workers through torch's own elastic launcher, as ``torchrun
--standalone`` does) runs N copies of ``seqrec train``. Each worker joins the process group the
launcher's environment describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``; :func:`process_group`): gloo on the CPU, NCCL when the device is CUDA (each rank
on ``cuda:LOCAL_RANK``). The :class:`~seqrec.models.neural.trainer.Trainer` sees the initialised
group (:func:`current_world`) and trains under DDP; a library user who initialises the group
with :func:`process_group` (or ``torch.distributed.init_process_group``) gets the same. Without a
group, or with a group of one, the trainer runs its single-process code, unchanged.

One step is one global batch
----------------------------
Every rank builds the same network (same seed; DDP also broadcasts rank 0's weights when it
wraps it) and reads the whole training data, as index arrays. At the start of each epoch rank 0's
batch generator state is broadcast (:meth:`World.start_epoch`), so every rank draws the *same*
batch order as a single process would (rank 0's generator is the single process's generator:
no extra draws). ``batch_size`` keeps its meaning, the *global* batch of B windows; rank ``r``
trains on its share ``rows[r::world_size]`` (:meth:`World.share`), about B / world_size windows,
so each step every rank reads a different slice of the users.

The losses are means over target positions, and the ranks hold different numbers of them. So that
the update equals the single-process one, the ranks all-reduce their counts and each scales its
mean by ``local_n * world_size / global_n`` before ``backward``; DDP averages the gradients, which
gives the gradient of the mean over all the global batch's positions (the same weights as one
process with batch B, up to float summation order; the test compares them). A network's
``extra_loss`` (the contrastive terms) is computed over each rank's share and averaged over the
ranks. A rank whose share is empty (a last batch with fewer windows than ranks) steps on the
batch's first window with weight 0, so every rank joins every all-reduce. Gradient clipping
acts on the all-reduced gradient, identical on every rank.

Randomness: rank 0 keeps the single-process random streams (they are what checkpoints store);
every other rank reseeds torch's global generator (dropout) each epoch from ``(seed, rank,
epoch)``, so ranks do not repeat rank 0's dropout masks and a resumed run draws the same as an
uninterrupted one. Draws from the batch generator inside an epoch (sampled negatives, masked-LM
masks) start from the same broadcast state on every rank.

Validation, early stopping, checkpoints
---------------------------------------
Rank 0 alone scores the validation users, decides (improved, finished) and broadcasts the
epoch's record (:meth:`World.broadcast`); every rank folds the same record into its progress, so
all stop at the same epoch and restore the same best weights. Only rank 0 writes checkpoints,
shows the progress bar and (in ``seqrec train``) writes the artifact and prints. To resume, every
rank loads the checkpoint (on several machines ``checkpoint_dir`` must be on a shared file
system); the world size may change between runs, the global batch does not.

Failures
--------
The process group's timeout (``timeout_seconds``, :data:`DEFAULT_TIMEOUT_SECONDS`; ``seqrec train
--ddp-timeout``) bounds every collective, so a rank waits at most that long for a peer that hangs;
it must exceed one validation pass, during which the other ranks wait for rank 0. A peer that
exits closes its connections and the survivors fail at once with :class:`DistributedError`; the
launcher then stops the remaining workers and :func:`launch` reports the first failure in one line
(``distributed training failed: rank 1 (pid 1234) was killed by signal SIGKILL; ...``).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
import signal
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

DEFAULT_TIMEOUT_SECONDS = 600.0
"""How long a rank waits for the others in one collective before failing (10 minutes: longer
than a validation pass on the large worlds, during which the other ranks wait for rank 0)."""

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE")
"""Environment variables that torchrun and the elastic launcher set in every worker."""

T = TypeVar("T")


class DistributedError(ConnectionError):
    """The ranks of a distributed run lost each other: one exited, was killed or stopped answering,
    or the launcher was stopped. A :class:`ConnectionError` (an ``OSError``), so the CLI reports it
    as one ``error:`` line with exit code 2, as it does a file it cannot read."""


@dataclass(frozen=True)
class World:
    """This process's place in an initialised process group of more than one rank."""

    rank: int
    size: int
    local_rank: int
    backend: str
    timeout_seconds: float

    @property
    def is_main(self) -> bool:
        """Rank 0 validates, checkpoints, prints and writes the artifact."""
        return self.rank == 0

    def device(self, configured: str) -> str:
        """The training device of this rank: ``cuda:LOCAL_RANK`` for a CUDA config, else as configured."""
        return f"cuda:{self.local_rank}" if configured.startswith("cuda") else configured

    @property
    def _tensor_device(self) -> torch.device:
        """Where collective tensors live: NCCL moves CUDA tensors only."""
        return torch.device(f"cuda:{self.local_rank}") if self.backend == "nccl" else torch.device("cpu")

    # -- the collectives the trainer uses -------------------------------------------------------
    def sum_ints(self, values: Sequence[int], what: str) -> list[int]:
        """Element-wise sums of ``values`` over all ranks."""
        tensor = torch.tensor(list(values), dtype=torch.int64, device=self._tensor_device)
        with self.collective(what):
            dist.all_reduce(tensor)
        return [int(value) for value in tensor.tolist()]

    def sum_float(self, value: float, what: str) -> float:
        """The sum of ``value`` over all ranks (in float64)."""
        tensor = torch.tensor([value], dtype=torch.float64, device=self._tensor_device)
        with self.collective(what):
            dist.all_reduce(tensor)
        return float(tensor.item())

    def broadcast(self, value: T | None, what: str) -> T:
        """Rank 0's ``value`` on every rank (the others pass ``None``); plain Python values only."""
        holder: list[Any] = [value if self.is_main else None]
        with self.collective(what):
            dist.broadcast_object_list(holder, src=0, device=self._tensor_device)
        return holder[0]

    def start_epoch(self, generator: torch.Generator, seed: int, epoch: int) -> None:
        """Give every rank rank 0's batch generator state (hence the same batch order), and reseed
        the global generator (dropout) of ranks other than 0 from ``(seed, rank, epoch)``."""
        state = generator.get_state().to(self._tensor_device)  # [S] uint8
        with self.collective(f"the start of epoch {epoch}"):
            dist.broadcast(state, src=0)
        generator.set_state(state.cpu())
        if not self.is_main:
            torch.manual_seed(rank_seed(seed, self.rank, epoch))

    def share(self, rows: Tensor) -> Tensor:
        """This rank's windows of a global batch ``rows [B]``: ``rows[rank::size]`` (may be empty)."""
        return rows[self.rank :: self.size]

    @contextmanager
    def collective(self, what: str) -> Iterator[None]:
        """Turn a communication failure inside the block into a :class:`DistributedError` that says
        which rank saw it and during what; other errors pass unchanged."""
        try:
            yield
        except DistributedError:
            raise
        except RuntimeError as error:
            if not is_communication_error(error):
                raise
            raise DistributedError(
                f"distributed training failed on rank {self.rank} during {what}: another rank exited or "
                f"did not answer within the {self.timeout_seconds:g} s timeout ({_cause(error)})"
            ) from error

    def wrap(self, network: nn.Module, compute: Callable[..., Tensor]) -> DistributedDataParallel:
        """``compute(*inputs) -> loss`` as the forward of a DDP module over ``network``'s parameters.

        The trainer's step calls several methods of the network (encode, logits, extra losses), not
        one ``forward``; DDP needs a forward to wrap, so the whole loss computation is one.
        ``find_unused_parameters`` because some networks leave parameters out of some steps.
        """
        return DistributedDataParallel(_LossModule(network, compute))


class _LossModule(nn.Module):
    """A module whose forward is the trainer's loss computation over ``network``."""

    def __init__(self, network: nn.Module, compute: Callable[..., Tensor]) -> None:
        super().__init__()
        self.network = network
        self._compute = compute

    def forward(self, *inputs: Any) -> Tensor:
        return self._compute(*inputs)


def is_communication_error(error: BaseException) -> bool:
    """Whether ``error`` came from the process group's transport (a lost or silent peer)."""
    if isinstance(error, dist.DistError):  # NCCL, store and network errors, timeouts
        return True
    text = str(error)
    return "gloo" in text or "Connection closed by peer" in text or "Connection reset by peer" in text


def _cause(error: BaseException) -> str:
    """The gist of a transport error: its first sentence, without the source-file prefix
    (``[.../gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:36277: Connection reset by
    peer. This is typically ...`` -> ``Read error [127.0.0.1]:36277: Connection reset by peer``)."""
    lines = str(error).strip().splitlines()
    text = re.sub(r"^\[[^\]]*\]\s*", "", lines[0]) if lines else ""
    return (text.split(". ", 1)[0].rstrip(".") or type(error).__name__)[:300]


def rank_seed(seed: int, rank: int, epoch: int) -> int:
    """A 63-bit seed for rank ``rank``'s global generator in ``epoch`` (distinct per rank and epoch)."""
    digest = hashlib.sha256(f"seqrec-ddp:{seed}:{rank}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# -- joining a process group ---------------------------------------------------------------------
def launched_worker() -> bool:
    """Whether this process was started by torchrun or the elastic launcher (it should join a group)."""
    return all(name in os.environ for name in LAUNCH_VARIABLES)


def backend_for(device: str) -> str:
    """NCCL for CUDA devices, gloo otherwise."""
    return "nccl" if device.startswith("cuda") else "gloo"


def check_timeout(timeout_seconds: float) -> float:
    if not timeout_seconds > 0:
        raise ValueError(f"the distributed timeout must be a positive number of seconds, got {timeout_seconds}")
    return float(timeout_seconds)


@contextmanager
def process_group(device: str = "cpu", timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> Iterator[World | None]:
    """Join the process group described by the launcher's environment; leave it on exit.

    Yields the :class:`World` (``None`` for a group of one: the trainer then runs single-process).
    ``device`` chooses the backend (:func:`backend_for`); a CUDA rank is bound to
    ``cuda:LOCAL_RANK`` first, so ``"cuda"`` means this rank's GPU.
    """
    check_timeout(timeout_seconds)
    missing = [name for name in (*LAUNCH_VARIABLES, "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ValueError(
            f"cannot join a process group: {', '.join(missing)} not set (start the workers with torchrun "
            "or `seqrec train --ddp`)"
        )
    backend = backend_for(device)
    local_rank = int(os.environ.get("LOCAL_RANK", os.environ["RANK"]))
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: this machine has no CUDA device for the NCCL backend")
        torch.cuda.set_device(local_rank)
    global _joined_timeout
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_seconds))
    _joined_timeout = timeout_seconds
    try:
        yield current_world()
    finally:
        _joined_timeout = None
        dist.destroy_process_group()


def current_world() -> World | None:
    """The initialised process group as a :class:`World`; ``None`` without one or with one rank."""
    if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() == 1:
        return None
    rank = dist.get_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    timeout = _joined_timeout if _joined_timeout is not None else DEFAULT_TIMEOUT_SECONDS
    return World(rank, dist.get_world_size(), local_rank, str(dist.get_backend()), timeout)


_joined_timeout: float | None = None
"""The timeout :func:`process_group` gave the group (for messages; a group initialised elsewhere
is described with the default)."""


# -- launching local workers ---------------------------------------------------------------------
def launch(nproc_per_node: int, arguments: Sequence[str]) -> None:
    """Run ``python <arguments>`` as ``nproc_per_node`` workers on this machine and wait for them.

    The workers are started by torch's elastic launcher with a c10d rendezvous on a free local port
    and no restarts (exactly ``torchrun --standalone --nproc-per-node N``). Raises
    :class:`DistributedError` naming the first rank that failed and how.
    """
    if nproc_per_node < 1:
        raise ValueError(f"--nproc-per-node must be at least 1, got {nproc_per_node}")
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc_per_node,
        run_id=f"seqrec-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
    )
    elastic_logger = logging.getLogger("torch.distributed.elastic")
    level = elastic_logger.level
    elastic_logger.setLevel(logging.CRITICAL)  # its lines repeat what the DistributedError says
    try:
        elastic_launch(config, sys.executable)(*arguments)
    except ChildFailedError as failure:
        raise DistributedError(describe_failures(failure.failures)) from None
    except SignalException as stop:
        name = signal.Signals(stop.sigval).name
        raise DistributedError(f"distributed training stopped: the launcher received {name} and stopped the workers") from None
    finally:
        elastic_logger.setLevel(level)


def describe_failures(failures: dict[int, Any]) -> str:
    """One line on the failed workers (``{global rank: ProcessFailure}``), the root cause first.

    The root cause is the earliest failure, preferring a worker killed by a signal other than
    SIGTERM, then one that exited with an error code, over one the launcher stopped with SIGTERM.
    """

    def kind(failure: Any) -> int:
        if failure.exitcode < 0:
            return 2 if -failure.exitcode == signal.SIGTERM else 0
        return 1

    ranked = sorted(failures.items(), key=lambda item: (kind(item[1]), item[1].timestamp, item[0]))
    rank, first = ranked[0]
    message = f"distributed training failed: rank {rank} (pid {first.pid}) {_how(first)}"
    others = [f"rank {other} {_how(failure)}" for other, failure in ranked[1:]]
    stopped = "; then " + ", ".join(others) if others else ""
    return message + stopped + "; the launcher stopped the remaining workers"


def _how(failure: Any) -> str:
    if failure.exitcode < 0:
        return f"was killed by signal {failure.signal_name()}"
    if failure.exitcode == 2:
        return "exited with code 2 (its error is printed above)"
    return f"exited with code {failure.exitcode}"
