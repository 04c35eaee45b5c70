"""Per-epoch checkpoints of the shared trainer, and resuming from them.

A checkpoint directory holds one sub-directory per written epoch and a ``latest`` file naming the
newest complete one, replaced atomically *after* that sub-directory is fully written, so an
interruption mid-write leaves the previous checkpoint intact::

    checkpoint_dir/
      latest                     # "epoch_0003"
      epoch_0003/
        weights.safetensors      # the network after epoch 3
        best.safetensors         # the best validation epoch's weights so far
        trainer_state.pt         # optimizer state, RNG states, progress (torch.save)

Weights are stored with safetensors (no pickled code); the trainer state holds only tensors,
numbers, strings, lists and dicts and is read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

LATEST = "latest"
WEIGHTS = "weights.safetensors"
BEST_WEIGHTS = "best.safetensors"
TRAINER_STATE = "trainer_state.pt"

# Config fields that may change between an interrupted run and its resumption without changing
# the training trajectory.
RESUMABLE_CHANGES = frozenset(
    {"epochs", "patience", "resume", "progress", "checkpoint_dir", "threads", "eval_batch_size", "device"}
)


@dataclass
class TrainingProgress:
    """Where training stands after ``epochs_done`` epochs."""

    epochs_done: int = 0
    best_epoch: int = 0
    """1-based epoch whose weights are best on validation (0 = none yet)."""
    best_metric: float = float("-inf")
    epochs_without_improvement: int = 0
    finished: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)
    """One dict per epoch: epoch, loss, valid metrics, seconds."""


def state_dict_copy(network: nn.Module) -> dict[str, Tensor]:
    """Detached, contiguous CPU copies of the network's tensors (no shared storage)."""
    return {name: tensor.detach().cpu().contiguous().clone() for name, tensor in network.state_dict().items()}


def save_checkpoint(
    directory: str | Path,
    network: nn.Module,
    best_weights: dict[str, Tensor] | None,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    progress: TrainingProgress,
    config: dict[str, Any],
) -> Path:
    """Write the checkpoint of ``progress.epochs_done`` and point ``latest`` at it."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    name = f"epoch_{progress.epochs_done:04d}"
    target = root / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    save_file(state_dict_copy(network), str(target / WEIGHTS))
    if best_weights is not None:
        save_file(best_weights, str(target / BEST_WEIGHTS))
    state = {
        "progress": asdict(progress),
        "config": config,
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "generator": generator.get_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    torch.save(state, target / TRAINER_STATE)
    pointer = root / (LATEST + ".tmp")
    pointer.write_text(name)
    os.replace(pointer, root / LATEST)  # atomic: the new checkpoint is now the current one
    for old in root.glob("epoch_*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return target


def has_checkpoint(directory: str | Path) -> bool:
    return (Path(directory) / LATEST).is_file()


def load_checkpoint(
    directory: str | Path,
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    config: dict[str, Any],
) -> tuple[TrainingProgress, dict[str, Tensor] | None]:
    """Restore network, optimizer and RNG states in place; return progress and best weights.

    Raises ``ValueError`` naming the field when the checkpoint was written with a config that
    would train differently (other than the fields in ``RESUMABLE_CHANGES``).
    """
    root = Path(directory)
    target = root / (root / LATEST).read_text().strip()
    state = torch.load(target / TRAINER_STATE, weights_only=True)
    _check_config(target, state["config"], config)
    network.load_state_dict(load_file(str(target / WEIGHTS)))
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    generator.set_state(state["generator"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    best_path = target / BEST_WEIGHTS
    best_weights = load_file(str(best_path)) if best_path.is_file() else None
    return TrainingProgress(**state["progress"]), best_weights


def _check_config(where: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    for key in sorted(set(saved) | set(current)):
        if key in RESUMABLE_CHANGES:
            continue
        if saved.get(key) != current.get(key):
            raise ValueError(
                f"{where}: checkpoint was trained with {key}={saved.get(key)!r}, "
                f"the config now says {key}={current.get(key)!r}; use another checkpoint_dir or resume=False"
            )
