"""Shop worlds too big to build in memory: generated in parts, streamed to Parquet, read back.

The ``xl`` (220,000 shoppers, about 10 million purchases) and ``xxl`` (2,200,000, about 100
million) shop worlds use the exact per-shopper simulator of :mod:`seqrec.data.shop`: shopper
``u`` draws from its own stream ``SeedSequence([seed, u])``, so shopper ``u`` of ``xl`` is
shopper ``u`` of ``large``, and the same seed gives the same world.

Why parts, and why processes
----------------------------
The simulator's inner loop (one purchase: a race between a Poisson process and the re-buy
cycles, then a draw from a mixture that depends on what the shopper owns) is sequential per
shopper and is Python; it runs at about 30,000-60,000 purchases per second on one core. It is
not vectorised: each draw depends on the state the previous one left, and an array version
would have to reproduce the same random streams draw for draw. What keeps ``xl`` to minutes is
that shoppers are independent: the world is cut into parts of ``part_shoppers`` shoppers
(20,000 by default, about 900,000 purchases), each simulated and written by one of ``jobs``
worker processes (``spawn`` context). A part depends only on the seed and its shopper range, so
the world does not depend on ``jobs``. Memory while generating is one part per worker (a few
hundred MB at most), not the world.

On disk (a *world folder*, by default ``<cache>/shop-worlds/shoppers<N>-seed<S>/``)
---------------------------------------------------------------------------------------
* ``plan.json``: what is being generated (shoppers, seed, part size, format), written first; a
  later run with other settings is refused instead of mixing parts of two worlds.
* per part ``k``: ``part-0000k.purchases.parquet`` (user, item, timestamp, due time: the
  oracle's hidden re-buy time, -1 for none) and ``part-0000k.phases.parquet`` (user, phase
  start, category, rate: the hidden profile), then ``part-0000k.json`` (rows and a content
  hash). Each file is written under a temporary name and renamed; the part's JSON comes last,
  so a part without it is unfinished and is generated again. A rerun reuses finished parts.
* ``manifest.json``, written last: plan, per-part counts and hashes, totals and the world's
  content hash (a SHA-256 over the part hashes in order, themselves over the int64/float64
  bytes of the columns: independent of the Parquet writer). A folder without it is not a
  world yet; a manifest that disagrees with what is asked for is an error naming the field.

One generating run per folder at a time: a run removes the temporary files it finds, which are
an interrupted run's leftovers only when no other run is writing there.

Reading (:func:`load_world_sequences`) goes through ``polars.scan_parquet`` straight into the
flat arrays of :class:`~seqrec.data.types.SequenceData`; no per-purchase Python objects.
The oracle's :class:`~seqrec.data.shop.ShopWorld` is not built for these sizes (its replay is
per shopper and its arrays would double the memory); the dataset says so in
``extras["world_unavailable"]``, and the persona stays available.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from seqrec.data.errors import DataError
from seqrec.data.shop import (
    STREAMED_SIZES,
    ShopperBatch,
    make_shop_dataset,
    shop_dataset,
    shopper_labels,
    simulate_shoppers,
)
from seqrec.data.shop_catalog import build_catalog
from seqrec.data.types import Dataset, SequenceData

FORMAT = 1
"""Version of the on-disk layout; part of the plan, so a folder of another format is refused."""
DEFAULT_PART_SHOPPERS = 20_000
PLAN, MANIFEST = "plan.json", "manifest.json"
_TEMP_MARK = ".tmp-"
Reporter = Callable[[str], None]


@dataclass(frozen=True)
class WorldPlan:
    """What a world folder holds: ``n_shoppers`` shoppers of ``seed``, in parts of
    ``part_shoppers`` (the last part may be smaller)."""

    n_shoppers: int
    seed: int
    part_shoppers: int = DEFAULT_PART_SHOPPERS
    format: int = FORMAT

    def __post_init__(self) -> None:
        for name in ("n_shoppers", "part_shoppers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a whole number of at least 0, got {self.seed!r}")

    def parts(self) -> list[tuple[int, int]]:
        """(first, last) shopper range of each part, ``last`` exclusive."""
        return [
            (first, min(first + self.part_shoppers, self.n_shoppers))
            for first in range(0, self.n_shoppers, self.part_shoppers)
        ]

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def world_folder(n_shoppers: int, seed: int = 0, cache_dir: str | Path | None = None) -> Path:
    """The default folder of a streamed world: ``<cache>/shop-worlds/shoppers<N>-seed<S>``."""
    from seqrec.data.fetch import default_cache_dir

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "shop-worlds" / f"shoppers{n_shoppers}-seed{seed}"


def part_name(index: int) -> str:
    return f"part-{index:05d}"


# -- writing ---------------------------------------------------------------------------------------
def generate_world(
    plan: WorldPlan,
    folder: str | Path,
    *,
    jobs: int = 1,
    parts: Sequence[int] | None = None,
    report: Reporter | None = None,
) -> dict[str, Any] | None:
    """Generate the world of ``plan`` into ``folder`` (resuming: finished parts are kept) and
    return its manifest.

    ``jobs`` worker processes simulate parts at once (``1``: in this process). ``parts``
    restricts the run to those part indices (a prefix for a test, or a share of the work); the
    manifest is written only once every part is finished, so then the result is ``None`` unless
    the others were already there. A folder planned or finished with other settings is a
    :class:`DataError` naming the setting that differs.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    folder = Path(folder)
    ranges = plan.parts()
    chosen = list(range(len(ranges))) if parts is None else list(parts)
    bad = [p for p in chosen if not (isinstance(p, int) and 0 <= p < len(ranges))]
    if bad:
        raise ValueError(f"parts {bad} outside 0..{len(ranges) - 1} of this plan")
    manifest = _existing_manifest(folder, plan)
    if manifest is not None:
        return manifest
    folder.mkdir(parents=True, exist_ok=True)
    _claim(folder, plan)
    _remove_temporaries(folder)
    todo = [p for p in chosen if _finished_part(folder, p) is None]
    say = report or (lambda _message: None)
    say(
        f"shop world {folder.name}: {len(chosen) - len(todo)} of {len(chosen)} part(s) already "
        f"there, generating {len(todo)} on {min(jobs, max(1, len(todo)))} process(es)"
    )
    tasks = [(str(folder), plan.seed, p, *ranges[p]) for p in todo]
    started = time.perf_counter()
    if jobs == 1 or len(tasks) < 2:
        for task in tasks:
            _report_part(say, write_part(*task), started)
    else:
        context = multiprocessing.get_context("spawn")  # forked OpenMP/BLAS state can hang
        with ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=context) as pool:
            futures = [pool.submit(write_part, *task) for task in tasks]
            for future in as_completed(futures):
                _report_part(say, future.result(), started)
    finished = [_finished_part(folder, p) for p in range(len(ranges))]
    if any(part is None for part in finished):
        return None
    return _write_manifest(folder, plan, [part for part in finished if part is not None])


def write_part(folder: str, seed: int, index: int, first: int, last: int) -> dict[str, Any]:
    """Simulate shoppers ``first .. last - 1`` and write part ``index`` (the function a worker
    process runs; everything it needs is in its arguments)."""
    started = time.perf_counter()
    batch = simulate_shoppers(build_catalog(), first, last, seed)
    purchases, phases = _part_frames(batch)
    base = Path(folder) / part_name(index)
    _atomic(base.with_name(base.name + ".phases.parquet"), phases.write_parquet)
    _atomic(base.with_name(base.name + ".purchases.parquet"), purchases.write_parquet)
    record = {
        "index": index,
        "first": first,
        "last": last,
        "purchases": int(batch.offsets[-1]),
        "phases": int(batch.phase_offsets[-1]),
        "hash": batch_hash(batch),
        "seconds": round(time.perf_counter() - started, 3),
    }
    _atomic(base.with_name(base.name + ".json"), lambda p: p.write_text(json.dumps(record)))
    return record


def batch_hash(batch: ShopperBatch) -> str:
    """SHA-256 of a batch's content: shopper range, purchases (user, item, time, due) and
    phases, as fixed-width little-endian bytes."""
    digest = hashlib.sha256(f"shop-part-v{FORMAT};first={batch.first};".encode())
    users = np.repeat(
        np.arange(batch.first, batch.first + batch.n_shoppers), np.diff(batch.offsets)
    )
    for array in (users, batch.items, batch.timestamps, batch.due_times, batch.join_times):
        digest.update(np.ascontiguousarray(array, dtype="<i8").tobytes())
    for array in (batch.phase_offsets, batch.phase_starts, batch.phase_categories):
        digest.update(np.ascontiguousarray(array, dtype="<i8").tobytes())
    digest.update(np.ascontiguousarray(batch.phase_rates, dtype="<f8").tobytes())
    return digest.hexdigest()


def _part_frames(batch: ShopperBatch) -> tuple[pl.DataFrame, pl.DataFrame]:
    users = np.arange(batch.first, batch.first + batch.n_shoppers, dtype=np.int32)
    purchases = pl.DataFrame(
        {
            "user": np.repeat(users, np.diff(batch.offsets)),
            "item": batch.items.astype(np.int16),
            "timestamp": batch.timestamps,
            "due": batch.due_times,
        }
    )
    phase_counts = np.diff(batch.phase_offsets)
    phases = pl.DataFrame(
        {
            "user": np.repeat(users, phase_counts),
            "join": np.repeat(batch.join_times, phase_counts),
            "start": batch.phase_starts,
            "category": batch.phase_categories.astype(np.int16),
            "rate": batch.phase_rates,
        }
    )
    return purchases, phases


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file beside ``path`` and rename it (never a half-written ``path``)."""
    temporary = path.with_name(f"{_TEMP_MARK}{os.getpid()}-{path.name}")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _claim(folder: Path, plan: WorldPlan) -> None:
    """Write ``plan.json`` (first run) or check that the folder was planned the same way."""
    path = folder / PLAN
    if path.exists():
        _check_same(path, _read_json(path), plan.as_dict())
    else:
        _atomic(path, lambda p: p.write_text(json.dumps(plan.as_dict(), indent=1)))


def _existing_manifest(folder: Path, plan: WorldPlan) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    manifest = _read_json(path)
    _check_same(path, manifest.get("plan", {}), plan.as_dict())
    return manifest


def _check_same(path: Path, recorded: dict[str, Any], wanted: dict[str, int]) -> None:
    for name, value in wanted.items():
        if recorded.get(name) != value:
            raise DataError(
                path,
                f"this shop world folder holds {name}={recorded.get(name)!r}, asked for "
                f"{name}={value!r}; use another folder or remove this one",
                field=name,
            )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(path, f"cannot read it ({error})") from error
    if not isinstance(value, dict):
        raise DataError(path, "expected a JSON object")
    return value


def _remove_temporaries(folder: Path) -> None:
    """Files left by an interrupted run (their names start with the temporary mark)."""
    for leftover in folder.glob(f"{_TEMP_MARK}*"):
        leftover.unlink(missing_ok=True)


def finished_parts(folder: str | Path, plan: WorldPlan) -> list[dict[str, Any]]:
    """The records (index, shopper range, purchases, hash, seconds) of the finished parts of
    ``plan`` in ``folder`` (none when the folder does not exist yet)."""
    records = [_finished_part(Path(folder), p) for p in range(len(plan.parts()))]
    return [record for record in records if record is not None]


def _finished_part(folder: Path, index: int) -> dict[str, Any] | None:
    """The record of a finished part (its JSON and both Parquet files exist), else ``None``."""
    base = folder / part_name(index)
    record_path = base.with_name(base.name + ".json")
    files = [base.with_name(base.name + s) for s in (".purchases.parquet", ".phases.parquet")]
    if not record_path.exists() or not all(f.exists() for f in files):
        return None
    return _read_json(record_path)


def _report_part(say: Reporter, record: dict[str, Any], started: float) -> None:
    rate = record["purchases"] / max(record["seconds"], 1e-9)
    say(
        f"  part {record['index']}: shoppers {record['first']}..{record['last'] - 1}, "
        f"{record['purchases']:,} purchases in {record['seconds']:.1f}s ({rate:,.0f}/s in its "
        f"process; {time.perf_counter() - started:.0f}s so far)"
    )


def _write_manifest(folder: Path, plan: WorldPlan, parts: list[dict[str, Any]]) -> dict[str, Any]:
    digest = hashlib.sha256(f"shop-world-v{FORMAT};".encode())
    for part in parts:
        digest.update(part["hash"].encode())
    manifest = {
        "plan": plan.as_dict(),
        "n_purchases": sum(int(part["purchases"]) for part in parts),
        "n_phases": sum(int(part["phases"]) for part in parts),
        "hash": digest.hexdigest(),
        "parts": [
            {k: part[k] for k in ("index", "first", "last", "purchases", "phases", "hash")}
            for part in parts
        ],
    }
    _atomic(folder / MANIFEST, lambda p: p.write_text(json.dumps(manifest, indent=1)))
    return manifest


# -- reading ---------------------------------------------------------------------------------------
def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a finished world folder; a :class:`DataError` if it is not finished."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise DataError(path, "no manifest: this shop world is not (fully) generated yet")
    manifest = _read_json(path)
    for key in ("plan", "parts", "n_purchases", "hash"):
        if key not in manifest:
            raise DataError(path, "manifest lacks this entry", field=key)
    return manifest


def load_world_sequences(folder: str | Path, n_items: int) -> tuple[SequenceData, dict[str, Any]]:
    """Every shopper's purchases from a finished world folder, as one :class:`SequenceData`
    (row ``u`` = shopper ``u``), and the manifest. Checks the rows against the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    n_shoppers = int(manifest["plan"]["n_shoppers"])
    paths = [
        folder / f"{part_name(int(part['index']))}.purchases.parquet" for part in manifest["parts"]
    ]
    missing = [path.name for path in paths if not path.exists()]
    if missing:
        raise DataError(folder / MANIFEST, f"part file(s) {missing} listed but missing")
    frame = pl.scan_parquet(paths).select("user", "item", "timestamp").collect()
    if frame.height != int(manifest["n_purchases"]):
        raise DataError(
            folder / MANIFEST,
            f"{frame.height} purchases in the parts, manifest says {manifest['n_purchases']}",
            field="n_purchases",
        )
    users = frame["user"].to_numpy()
    if len(users) and (users.min() < 0 or users.max() >= n_shoppers or np.any(np.diff(users) < 0)):
        raise DataError(
            folder, "part rows are not ordered by shopper within 0..n_shoppers - 1", field="user"
        )
    offsets = np.zeros(n_shoppers + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_shoppers), out=offsets[1:])
    del users
    items = frame["item"].to_numpy().astype(np.int64)
    timestamps = frame["timestamp"].to_numpy().astype(np.int64)
    del frame
    sequences = SequenceData(
        offsets, items, timestamps, n_items, np.arange(n_shoppers, dtype=np.int64)
    )
    return sequences, manifest


def load_world_batch(folder: str | Path, index: int) -> ShopperBatch:
    """Part ``index`` of a world folder with its hidden state (due times, phases), as a
    :class:`~seqrec.data.shop.ShopperBatch`: what an oracle for those shoppers needs."""
    base = Path(folder) / part_name(index)
    record = _finished_part(Path(folder), index)
    if record is None:
        raise DataError(base.with_name(base.name + ".json"), "this part is not finished")
    purchases = pl.read_parquet(base.with_name(base.name + ".purchases.parquet"))
    phases = pl.read_parquet(base.with_name(base.name + ".phases.parquet"))
    first, last = int(record["first"]), int(record["last"])
    n_shoppers = last - first

    def offsets_of(users: np.ndarray) -> np.ndarray:
        offsets = np.zeros(n_shoppers + 1, dtype=np.int64)
        np.cumsum(np.bincount(users - first, minlength=n_shoppers), out=offsets[1:])
        return offsets

    phase_offsets = offsets_of(phases["user"].to_numpy().astype(np.int64))
    return ShopperBatch(
        first=first,
        offsets=offsets_of(purchases["user"].to_numpy().astype(np.int64)),
        items=purchases["item"].to_numpy().astype(np.int64),
        timestamps=purchases["timestamp"].to_numpy().astype(np.int64),
        due_times=purchases["due"].to_numpy().astype(np.int64),
        join_times=phases["join"].to_numpy().astype(np.int64)[phase_offsets[:-1]],
        phase_offsets=phase_offsets,
        phase_starts=phases["start"].to_numpy().astype(np.int64),
        phase_categories=phases["category"].to_numpy().astype(np.int64),
        phase_rates=phases["rate"].to_numpy().astype(np.float64),
    )


def load_streamed_world(
    n_shoppers: int,
    seed: int = 0,
    *,
    cache_dir: str | Path | None = None,
    folder: str | Path | None = None,
    part_shoppers: int = DEFAULT_PART_SHOPPERS,
    jobs: int | None = None,
    report: Reporter | None = None,
) -> Dataset:
    """The shop :class:`Dataset` of ``n_shoppers`` shoppers, generated into ``folder`` (default
    :func:`world_folder` under ``cache_dir``) on ``jobs`` processes (default: every CPU) unless
    it is there already, then read from its Parquet parts. No oracle: see the module docstring."""
    plan = WorldPlan(n_shoppers, seed, part_shoppers)
    where = Path(folder) if folder is not None else world_folder(n_shoppers, seed, cache_dir)
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if generate_world(plan, where, jobs=workers, report=report) is None:
        raise RuntimeError(f"shop world {where}: parts are missing after generating all of them")
    catalog = build_catalog()
    sequences, manifest = load_world_sequences(where, catalog.n_items)
    dataset = shop_dataset(
        catalog,
        sequences,
        shopper_labels(n_shoppers),
        seed,
        world_unavailable=(
            f"the oracle's generator state is not built for a streamed shop world of "
            f"{n_shoppers:,} shoppers (too big to replay in memory); use shop:large or smaller"
        ),
    )
    dataset.extras["world_folder"] = str(where)
    dataset.extras["world_hash"] = manifest["hash"]
    return dataset


def shop_of_size(
    size: str = "default",
    seed: int = 0,
    *,
    cache_dir: str | Path | None = None,
    jobs: int | None = None,
    report: Reporter | None = None,
) -> Dataset:
    """The shop world of any named size: the in-memory ones (with their oracle) from
    :func:`~seqrec.data.shop.make_shop_dataset`, the streamed ones ("xl", about 10 million
    purchases; "xxl", about 100 million) generated once into ``cache_dir`` (default: the seqrec
    cache) on ``jobs`` processes (default: every CPU) and read from Parquet, without an oracle
    (``extras["world_unavailable"]`` says why). ``cache_dir``, ``jobs`` and ``report`` (progress
    lines) apply to the streamed sizes only."""
    if size not in STREAMED_SIZES:
        return make_shop_dataset(size, seed)
    dataset = load_streamed_world(
        STREAMED_SIZES[size], seed, cache_dir=cache_dir, jobs=jobs, report=report
    )
    dataset.extras["size"] = size
    return dataset
