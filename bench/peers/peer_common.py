"""What every peer runner shares: the exported data, the validation metric, the cap, the record.

Imported by the runners in all three virtual environments (seqrec's, RecBole's, RecTools'), so it
needs numpy only at import time. The validation metric is seqrec's own
:func:`seqrec.evaluation.metrics.evaluate_scores` (full ranking, history excluded, pessimistic
ties), imported from this repository's ``src/`` when the environment has no seqrec installed
(it needs numpy and polars, which the peer environments pin for exactly this).

The exported folder (``export.py`` writes it) holds ``interactions.tsv`` with one row per
interaction, in seqrec's order (user by user, each user's interactions in seqrec's (timestamp,
original row) order), with the columns

* ``user``: seqrec's dense user id (a row of ``Dataset.sequences``);
* ``item``: seqrec's dense item id, 1..n_items (0 is padding and never appears);
* ``timestamp``: seconds, as in the source;
* ``time_key``: ``timestamp * TIME_KEY_SCALE + k`` with ``k`` the number of earlier interactions of
  the same user in the same second, so it is strictly increasing within a user and sorts exactly
  like seqrec's order: a peer that sorts by time (RecBole's ``order: TO``, RecTools'
  ``Columns.Datetime``) cannot reorder ties;
* ``part``: ``train``, ``valid`` or ``test`` (seqrec's leave-one-out split);

and ``manifest.json`` (sizes, fingerprints, the evaluated users in test order).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

PEERS = Path(__file__).resolve().parent
REPO = PEERS.parent.parent
WORK = PEERS / "work"
DATA = WORK / "ml-100k"
RUNS = WORK / "runs"
TIME_KEY_SCALE = 1000
PARTS = ("train", "valid", "test")


def set_thread_env(threads: int) -> None:
    """Pin the BLAS/OpenMP pools before torch or numpy spin them up (call before importing torch)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)


@dataclass(frozen=True)
class PeerData:
    """The exported split, as plain arrays (one row per interaction, in seqrec's order)."""

    user: np.ndarray  # [N] int64 dense user ids
    item: np.ndarray  # [N] int64 dense item ids 1..n_items
    timestamp: np.ndarray  # [N] int64 seconds
    time_key: np.ndarray  # [N] int64, strictly increasing within a user
    part: np.ndarray  # [N] int8: 0 train, 1 valid, 2 test
    manifest: dict[str, Any]

    @property
    def n_items(self) -> int:
        return int(self.manifest["n_items"])

    @property
    def eval_users(self) -> np.ndarray:
        """Evaluated users (one valid and one test item each), in seqrec's test-set order."""
        return np.asarray(self.manifest["eval_users"], dtype=np.int64)

    def rows(self, *parts: str) -> np.ndarray:
        """Boolean mask [N] of the interactions in ``parts``."""
        return np.isin(self.part, [PARTS.index(name) for name in parts])

    def targets(self, part: str) -> np.ndarray:
        """The ``part`` ("valid"/"test") item of every evaluated user, in ``eval_users`` order."""
        mask = self.rows(part)
        by_user = dict(zip(self.user[mask].tolist(), self.item[mask].tolist(), strict=True))
        return np.array([by_user[u] for u in self.eval_users.tolist()], dtype=np.int64)

    def histories(self, *parts: str) -> list[np.ndarray]:
        """Per evaluated user (``eval_users`` order), the items of ``parts`` in time order."""
        mask = self.rows(*parts)
        users, items = self.user[mask], self.item[mask]
        order = np.argsort(users, kind="stable")  # rows are already user-major; keep each user's order
        users, items = users[order], items[order]
        starts = np.searchsorted(users, self.eval_users, side="left")
        ends = np.searchsorted(users, self.eval_users, side="right")
        return [items[a:b] for a, b in zip(starts, ends, strict=True)]


def load_peer_data(folder: Path = DATA) -> PeerData:
    """Read ``interactions.tsv`` and ``manifest.json`` from an exported folder."""
    manifest = json.loads((folder / "manifest.json").read_text())
    columns: dict[str, list[int]] = {name: [] for name in ("user", "item", "timestamp", "time_key", "part")}
    with (folder / "interactions.tsv").open(newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            for name in ("user", "item", "timestamp", "time_key"):
                columns[name].append(int(row[name]))
            columns["part"].append(PARTS.index(row["part"]))
    data = PeerData(
        user=np.asarray(columns["user"], dtype=np.int64),
        item=np.asarray(columns["item"], dtype=np.int64),
        timestamp=np.asarray(columns["timestamp"], dtype=np.int64),
        time_key=np.asarray(columns["time_key"], dtype=np.int64),
        part=np.asarray(columns["part"], dtype=np.int8),
        manifest=manifest,
    )
    if len(data.user) != manifest["interactions"]:
        raise SystemExit(f"{folder}: {len(data.user)} rows, the manifest says {manifest['interactions']}")
    return data


def _seqrec_metrics() -> Any:
    """seqrec's metric module, from the installed package or from this repository's src/."""
    try:
        from seqrec.evaluation import metrics
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))
        from seqrec.evaluation import metrics
    return metrics


def validation_metrics(scores: np.ndarray, data: PeerData) -> dict[str, float]:
    """HR@10 and NDCG@10 of validation scores [eval users, n_items + 1] (seqrec's item ids, column
    0 ignored): seqrec's ``evaluate_scores`` with the training history excluded, pessimistic ties."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    scores[:, 0] = -np.inf
    result = _seqrec_metrics().evaluate_scores(
        scores, data.targets("valid"), exclude=data.histories("train"), ks=(10,)
    )
    return {"HR@10": result["HR@10"], "NDCG@10": result["NDCG@10"]}


class EarlyStopping:
    """Patience on validation NDCG@10 plus the wall-time cap, checked at the end of every epoch."""

    def __init__(self, patience: int, max_epochs: int, cap_seconds: float) -> None:
        self.patience = patience
        self.max_epochs = max_epochs
        self.cap_seconds = cap_seconds
        self.start = time.perf_counter()
        self.epoch_start = self.start
        self.epochs: list[dict[str, float]] = []
        self.best_epoch = 0
        self.best_ndcg = float("-inf")
        self.stop_reason = ""

    def begin_epoch(self) -> None:
        self.epoch_start = time.perf_counter()

    def end_epoch(self, metrics: dict[str, float], loss: float | None = None) -> bool:
        """Record one epoch; True when it is the best so far (the caller keeps its weights)."""
        now = time.perf_counter()
        epoch = len(self.epochs) + 1
        improved = metrics["NDCG@10"] > self.best_ndcg
        if improved:
            self.best_epoch, self.best_ndcg = epoch, metrics["NDCG@10"]
        self.epochs.append(
            {
                "epoch": epoch,
                "seconds": round(now - self.epoch_start, 3),
                "elapsed": round(now - self.start, 3),
                "valid_ndcg10": round(metrics["NDCG@10"], 6),
                "valid_hr10": round(metrics["HR@10"], 6),
                **({"loss": round(float(loss), 6)} if loss is not None else {}),
            }
        )
        print(
            f"  epoch {epoch}: {now - self.epoch_start:.1f} s, valid NDCG@10 {metrics['NDCG@10']:.4f}"
            + (" *" if improved else ""),
            flush=True,
        )
        if epoch - self.best_epoch >= self.patience:
            self.stop_reason = f"patience ({self.patience} epochs without a better valid NDCG@10)"
        elif epoch >= self.max_epochs:
            self.stop_reason = f"max_epochs ({self.max_epochs})"
        elif now - self.start >= self.cap_seconds:
            self.stop_reason = f"wall-time cap ({self.cap_seconds:.0f} s)"
        return improved

    @property
    def should_stop(self) -> bool:
        return bool(self.stop_reason)

    def summary(self) -> dict[str, Any]:
        seconds = [epoch["seconds"] for epoch in self.epochs]
        best = self.epochs[self.best_epoch - 1] if self.best_epoch else None
        return {
            "epochs": self.epochs,
            "epochs_run": len(self.epochs),
            "best_epoch": self.best_epoch,
            "valid_ndcg10": round(self.best_ndcg, 6) if self.best_epoch else None,
            "mean_epoch_seconds": round(float(np.mean(seconds)), 3) if seconds else None,
            "seconds_to_best": best["elapsed"] if best else None,
            "train_seconds": self.epochs[-1]["elapsed"] if self.epochs else 0.0,
            "stop_reason": self.stop_reason or "not stopped",
            "capped": self.stop_reason.startswith("wall-time cap"),
            "patience": self.patience,
            "max_epochs": self.max_epochs,
            "cap_seconds": self.cap_seconds,
        }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine_info(threads: int, versions: dict[str, str]) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "threads": threads,
        **versions,
    }


def run_header(threads: int, versions: dict[str, str]) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv]),
        "machine": machine_info(threads, versions),
        "load_average_start": load_average(),
    }


def run_name(library: str, model: str, config: str, seed: int) -> str:
    return f"{library}_{model}_{config}_seed{seed}"


def write_run(out: Path, record: dict[str, Any], test_scores: np.ndarray) -> Path:
    """Write ``<out>/run.json`` and ``<out>/test_scores.npy`` (float32 [eval users, n_items + 1],
    seqrec's item ids, users in ``eval_users`` order; history items are not removed: the scorer
    removes them with seqrec's own exclusion)."""
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "test_scores.npy", np.asarray(test_scores, dtype=np.float32))
    record = {**record, "load_average_end": load_average(), "peak_rss_mb": peak_rss_mb()}
    (out / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}", flush=True)
    return out


def check_equal(what: str, ours: Sequence[Any], theirs: Sequence[Any]) -> None:
    """Fail loudly (SystemExit naming the first difference) unless the two sequences are equal."""
    ours, theirs = list(ours), list(theirs)
    if len(ours) != len(theirs):
        raise SystemExit(f"split check failed: {what}: {len(ours)} entries here, {len(theirs)} in the peer")
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if not np.array_equal(np.asarray(a), np.asarray(b)):
            raise SystemExit(f"split check failed: {what}: entry {index} differs: {a!r} here, {b!r} in the peer")
