"""Per-epoch checkpoints of the shared trainer, and resuming from them.

A checkpoint directory holds the newest two epoch folders and a ``latest`` file naming the newest
complete one::

    checkpoint_dir/
      latest                        # "epoch_0003"
      epoch_0002/                   # the one before, kept to fall back on
      epoch_0003/
        weights.safetensors         # the network after epoch 3
        best.safetensors            # the best validation epoch's weights so far (once there is one)
        average.safetensors         # the moving average of the weights (with ema_decay > 0)
        trainer_state.safetensors   # optimizer tensors and RNG states
        trainer_state.json          # progress, the run's fingerprint (config, data), the optimizer's
                                    # other settings, and the byte count and SHA-256 of each file above

Nothing is pickled: tensors are safetensors, everything else JSON. An epoch folder is written under
a temporary name (``.epoch_0003.<random>.tmp``), each file and the folder fsynced, then renamed;
``latest`` is replaced the same way (temporary file, fsync, ``os.replace``, fsync of the directory).
An interruption at any point leaves the previous checkpoint intact.

Resuming reads the folder ``latest`` names and checks every file against ``trainer_state.json``.
A damaged checkpoint (a file missing, truncated, empty or unreadable; ``latest`` empty or naming
no folder) is reported with a :class:`CheckpointWarning` naming the file, and the newest complete
epoch folder is used instead (resuming from an earlier epoch gives the same run: the random
streams are part of the checkpoint); with none complete it is a :class:`CheckpointError`. A
checkpoint made on other data or with a config that trains differently is a
:class:`CheckpointError` naming what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import Tensor, nn

LATEST = "latest"
WEIGHTS = "weights.safetensors"
BEST_WEIGHTS = "best.safetensors"
AVERAGE = "average.safetensors"
STATE_TENSORS = "trainer_state.safetensors"
TRAINER_STATE = "trainer_state.json"
FORMAT = 2
"""Version of the layout above (1: the trainer state was a ``torch.save`` file, ``trainer_state.pt``)."""
EPOCH_FOLDER = re.compile(r"epoch_\d{4,}")

# Config fields that may change between an interrupted run and its resumption without changing
# the training trajectory.
RESUMABLE_CHANGES = frozenset(
    {"epochs", "patience", "resume", "progress", "checkpoint_dir", "threads", "eval_batch_size", "device"}
)

ADDED_FIELDS: dict[str, object] = {
    "negatives": "sampled", "adam_beta2": 0.999, "warmup_epochs": 0, "label_smoothing": 0.0, "window_stride": 0, "epoch_repeats": 1,
    "time_key_rank": 0, "time_bucket_width": 0.301, "n_time_buckets": 128, "ema_decay": 0.0,
    "output_dense": False, "repeat_rank": 0, "output_bias": True,
}
"""Config fields added after checkpoints already existed, with the value that trains exactly as
before they existed: a checkpoint that lacks the field resumes when the config has that value."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: made on other data or with another config, or damaged
    with no complete epoch to fall back on. The message names the folder or file and what is wrong."""


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was skipped and an earlier complete one is used instead."""


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


@dataclass(frozen=True)
class RunFingerprint:
    """What a checkpoint must have been made with to be resumed by this run."""

    config: dict[str, Any]
    """The config as a dict; fields in ``RESUMABLE_CHANGES`` may differ."""
    data: dict[str, str | None]
    """A fingerprint per data set the run trains or selects on (``{"training data": sha, ...}``)."""


def state_dict_copy(network: nn.Module) -> dict[str, Tensor]:
    """Detached, contiguous CPU copies of the network's tensors (no shared storage)."""
    return _cpu_copies(network.state_dict())


def _cpu_copies(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {name: tensor.detach().cpu().contiguous().clone() for name, tensor in tensors.items()}


# -- writing ------------------------------------------------------------------------------------
def save_checkpoint(
    directory: str | Path,
    network: nn.Module,
    best_weights: dict[str, Tensor] | None,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    progress: TrainingProgress,
    fingerprint: RunFingerprint,
    average: nn.Module | None = None,
) -> Path:
    """Write the checkpoint of ``progress.epochs_done``, point ``latest`` at it, drop older ones
    (``average``: the moving average of the weights, saved beside them)."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    name = _epoch_name(progress.epochs_done)
    optimizer_tensors, optimizer_settings = _split_optimizer_state(optimizer.state_dict())
    tensor_files = {WEIGHTS: state_dict_copy(network), STATE_TENSORS: optimizer_tensors | _rng_states(generator)}
    if best_weights is not None:
        tensor_files[BEST_WEIGHTS] = best_weights
    if average is not None:
        tensor_files[AVERAGE] = state_dict_copy(average)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=root))
    try:
        files = {file: _write_synced(staging / file, save_tensors(tensors)) for file, tensors in tensor_files.items()}
        state = {
            "format": FORMAT,
            "epoch": progress.epochs_done,
            "config": fingerprint.config,
            "data": fingerprint.data,
            "progress": asdict(progress),
            "optimizer": optimizer_settings,
            "files": files,
        }
        _write_synced(staging / TRAINER_STATE, json.dumps(state, indent=1).encode())
        _fsync_directory(staging)
        target = root / name
        if target.exists():  # a damaged or stale folder of this epoch
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_directory(root)
    _write_latest(root, name)
    _prune(root, progress.epochs_done)
    return target


def _write_synced(path: Path, data: bytes) -> dict[str, Any]:
    """Write ``data`` to ``path`` and fsync it; return its manifest entry (size and SHA-256)."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _fsync_directory(path: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory; its renames are durable on their own
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_latest(root: Path, name: str) -> None:
    pointer = root / (LATEST + ".tmp")
    _write_synced(pointer, name.encode())
    os.replace(pointer, root / LATEST)  # atomic: the new checkpoint is now the current one
    _fsync_directory(root)


def _prune(root: Path, epoch: int) -> None:
    """Keep this epoch's folder and the newest one before it; drop the rest and stray temporaries."""
    folders = {_epoch_number(path): path for path in _epoch_folders(root)}
    earlier = [number for number in folders if number < epoch]
    keep = {epoch, max(earlier)} if earlier else {epoch}
    for number, path in folders.items():
        if number not in keep:
            shutil.rmtree(path, ignore_errors=True)
    for stray in root.glob(".epoch_*.tmp"):
        shutil.rmtree(stray, ignore_errors=True)


def _epoch_name(epoch: int) -> str:
    return f"epoch_{epoch:04d}"


def _epoch_number(folder: Path) -> int:
    return int(folder.name.removeprefix("epoch_"))


def _epoch_folders(root: Path) -> list[Path]:
    """The epoch folders under ``root``, newest first."""
    folders = [path for path in root.glob("epoch_*") if EPOCH_FOLDER.fullmatch(path.name) and path.is_dir()]
    return sorted(folders, key=_epoch_number, reverse=True)


# -- optimizer and random state as tensors + JSON ----------------------------------------------
def _split_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """An optimizer ``state_dict`` as safetensors-ready tensors and JSON-ready settings."""
    tensors: dict[str, Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        plain[str(index)] = {}
        for key, value in entries.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                plain[str(index)][key] = value
    return _cpu_copies(tensors), {"state": plain, "param_groups": state["param_groups"]}


def _join_optimizer_state(tensors: dict[str, Tensor], settings: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(index): dict(entries) for index, entries in settings["state"].items()}
    for name, tensor in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = tensor
    # JSON has no tuples: settings such as Adam's betas come back as lists.
    groups = [
        {key: tuple(value) if isinstance(value, list) and key != "params" else value for key, value in group.items()}
        for group in settings["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def _rng_states(generator: torch.Generator) -> dict[str, Tensor]:
    states = {"rng.torch": torch.get_rng_state(), "rng.generator": generator.get_state()}
    if torch.cuda.is_available():
        states |= {f"rng.cuda.{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())}
    return _cpu_copies(states)


def _restore_rng_states(tensors: dict[str, Tensor], generator: torch.Generator) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.generator"])
    cuda = [tensors[name] for name in sorted(tensors) if name.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


# -- reading ------------------------------------------------------------------------------------
def has_checkpoint(directory: str | Path) -> bool:
    """Whether ``directory`` holds a checkpoint (complete or damaged) to resume from."""
    root = Path(directory)
    return (root / LATEST).exists() or bool(_epoch_folders(root))


class _Damaged(Exception):
    """One checkpoint file that cannot be used, and why."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} {problem}")


@dataclass
class _Epoch:
    """A verified epoch folder, read in full before anything is restored from it."""

    folder: Path
    state: dict[str, Any]
    tensors: dict[str, dict[str, Tensor]]
    """File name -> its tensors."""


def load_checkpoint(
    directory: str | Path,
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    fingerprint: RunFingerprint,
    average: nn.Module | None = None,
) -> tuple[TrainingProgress, dict[str, Tensor] | None]:
    """Restore network, optimizer, RNG states (and ``average``, the moving average of the
    weights) in place; return progress and best weights.

    Uses the newest complete epoch folder (warning about each damaged file passed over). Raises
    :class:`CheckpointError` when none is complete, or when the checkpoint was made on other data
    or with a config that would train differently (fields in ``RESUMABLE_CHANGES`` may change).
    """
    root = Path(directory)
    epoch, problems = _newest_complete(root)
    if epoch is None:
        raise CheckpointError(
            f"{root}: no complete checkpoint to resume from: {'; '.join(problems)}; "
            "use another checkpoint_dir or resume=False"
        )
    if problems:
        warnings.warn(
            f"{root}: damaged checkpoint: {'; '.join(problems)}; "
            f"resuming from {epoch.folder.name}, the newest complete one",
            CheckpointWarning,
            stacklevel=2,
        )
    _check_fingerprint(epoch.folder, epoch.state, fingerprint)
    state_tensors = epoch.tensors[STATE_TENSORS]
    try:
        network.load_state_dict(epoch.tensors[WEIGHTS])
        optimizer.load_state_dict(_join_optimizer_state(state_tensors, epoch.state["optimizer"]))
        if average is not None:
            average.load_state_dict(epoch.tensors[AVERAGE])
    except (RuntimeError, ValueError, KeyError) as error:  # the network's code changed since
        raise CheckpointError(f"{epoch.folder}: the checkpoint does not fit this network: {error}") from None
    _restore_rng_states(state_tensors, generator)
    return TrainingProgress(**epoch.state["progress"]), epoch.tensors.get(BEST_WEIGHTS)


def _newest_complete(root: Path) -> tuple[_Epoch | None, list[str]]:
    """The folder ``latest`` names if it is complete, else the newest complete one; and the problems met."""
    problems: list[str] = []
    candidates = _epoch_folders(root)
    named = _read_latest(root, problems)
    if named is not None:
        candidates = [named] + [folder for folder in candidates if folder != named]
    for folder in candidates:
        try:
            return _read_epoch(folder), problems
        except _Damaged as damage:
            problems.append(str(damage))
    return None, problems


def _read_latest(root: Path, problems: list[str]) -> Path | None:
    pointer = root / LATEST
    if not pointer.exists():
        problems.append(f"{pointer} is missing")
        return None
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{pointer} cannot be read ({error})")
        return None
    if not name:
        problems.append(f"{pointer} is empty")
    elif not EPOCH_FOLDER.fullmatch(name):
        problems.append(f"{pointer} holds {name[:40]!r}, not an epoch folder's name")
    elif not (root / name).is_dir():
        problems.append(f"{pointer} names {name}, which does not exist")
    else:
        return root / name
    return None


def _read_epoch(folder: Path) -> _Epoch:
    """Read and verify every file of one epoch folder; raise :class:`_Damaged` naming a bad one."""
    state_path = folder / TRAINER_STATE
    if not state_path.is_file():
        legacy = " (the folder has trainer_state.pt: a checkpoint of an older seqrec)"
        raise _Damaged(state_path, "is missing" + (legacy if (folder / "trainer_state.pt").exists() else ""))
    raw = state_path.read_bytes()
    if not raw:
        raise _Damaged(state_path, "is empty (0 bytes)")
    try:
        state = json.loads(raw)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise _Damaged(state_path, f"is not valid JSON, truncated? ({error})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise _Damaged(state_path, f"is not a format-{FORMAT} trainer state")
    try:
        lacking = sorted({"config", "data", "progress", "optimizer", "files"} - set(state))
        lacking += sorted({WEIGHTS, STATE_TENSORS} - set(state.get("files", {})))
        if lacking:
            raise _Damaged(state_path, f"is incomplete: no {', '.join(lacking)}")
        tensors = {name: _read_tensors(folder / name, expected) for name, expected in state["files"].items()}
    except (KeyError, TypeError, AttributeError) as error:
        raise _Damaged(state_path, f"is malformed ({error!r})") from None
    return _Epoch(folder, state, tensors)


def _read_tensors(path: Path, expected: dict[str, Any]) -> dict[str, Tensor]:
    if not path.is_file():
        raise _Damaged(path, "is missing")
    data = path.read_bytes()
    if len(data) != expected["bytes"]:
        raise _Damaged(path, f"has {len(data)} bytes, {expected['bytes']} were written (truncated?)")
    if hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise _Damaged(path, f"does not match the SHA-256 recorded in {TRAINER_STATE}")
    try:
        return load_tensors(data)
    except SafetensorError as error:
        raise _Damaged(path, f"cannot be read ({error})") from None


def _check_fingerprint(folder: Path, saved: dict[str, Any], current: RunFingerprint) -> None:
    """Raise :class:`CheckpointError` listing every difference that would change the training."""
    differences = []
    for what in sorted(set(saved["data"]) | set(current.data)):
        old, new = saved["data"].get(what), current.data.get(what)
        if old != new:
            differences.append(f"{what} fingerprint {_short(old)} in the checkpoint, {_short(new)} now")
    config = json.loads(json.dumps(current.config))  # as the checkpoint holds it (tuples as lists)
    for key in sorted(set(saved["config"]) | set(config)):
        old, new = saved["config"].get(key, ADDED_FIELDS.get(key)), config.get(key)
        if key not in RESUMABLE_CHANGES and old != new:
            differences.append(f"checkpoint was trained with {key}={old!r}, the config now says {key}={new!r}")
    if differences:
        raise CheckpointError(
            f"{folder}: this run cannot resume the checkpoint: {'; '.join(differences)}; "
            "use another checkpoint_dir or resume=False"
        )


def _short(digest: str | None) -> str:
    return "(none)" if digest is None else digest[:12]
