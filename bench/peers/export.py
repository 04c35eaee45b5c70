"""Export seqrec's processed ML-100K and its leave-one-out split for the peer libraries.

Runs in seqrec's own environment. Writes ``<out>/interactions.tsv`` (one row per interaction in
seqrec's order; columns described in ``peer_common.py``) and ``<out>/manifest.json`` (sizes, the data
fingerprints, the evaluated users in test order, how the time key breaks ties). Every peer is fed
these rows and nothing else, so every library trains on the same sequences and is validated and
tested on the same item per user.

usage: .venv/bin/python bench/peers/export.py [--out bench/peers/work/ml-100k]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_common import DATA, REPO, TIME_KEY_SCALE

from seqrec.data.datasets import load_dataset
from seqrec.data.splits import EvalSet, leave_one_out
from seqrec.data.types import SequenceData


def time_keys(sequences: SequenceData) -> np.ndarray:
    """``timestamp * TIME_KEY_SCALE + k`` per interaction, ``k`` = earlier same-second interactions
    of the same user: strictly increasing within each user, in seqrec's own order."""
    keys = np.empty(sequences.n_interactions, dtype=np.int64)
    for row in range(len(sequences)):
        start, stop = sequences.offsets[row], sequences.offsets[row + 1]
        times = sequences.timestamps[start:stop]
        if np.any(np.diff(times) < 0):
            raise SystemExit(f"user row {row}: timestamps are not sorted")
        tie = np.zeros(len(times), dtype=np.int64)
        for i in range(1, len(times)):
            tie[i] = tie[i - 1] + 1 if times[i] == times[i - 1] else 0
        if len(tie) and tie.max() >= TIME_KEY_SCALE:
            raise SystemExit(f"user row {row}: {tie.max() + 1} interactions in one second; raise TIME_KEY_SCALE")
        keys[start:stop] = times * TIME_KEY_SCALE + tie
    return keys


def eval_digest(eval_set: EvalSet) -> str:
    """A SHA-256 of an evaluation set: its histories' fingerprint and its targets."""
    digest = hashlib.sha256(eval_set.histories.fingerprint().encode())
    digest.update(np.ascontiguousarray(eval_set.targets, dtype=np.int64).tobytes())
    return digest.hexdigest()


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DATA), help="output folder")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    dataset = load_dataset("ml-100k")
    sequences = dataset.sequences
    split = leave_one_out(sequences, source=dataset.name)
    if not np.array_equal(split.valid.histories.users, split.test.histories.users):
        raise SystemExit("validation and test users differ: the peers assume one set of evaluated users")
    lengths = sequences.lengths
    evaluated = set(split.test.histories.users.tolist())
    # Position from the end of each user's sequence: 0 = test, 1 = valid for evaluated users.
    from_end = np.concatenate([np.arange(n - 1, -1, -1) for n in lengths])
    owners = np.repeat(sequences.users, lengths)
    is_eval = np.isin(owners, list(evaluated))
    parts = np.where(is_eval & (from_end == 0), "test", np.where(is_eval & (from_end == 1), "valid", "train"))
    keys = time_keys(sequences)

    with (out / "interactions.tsv").open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["user", "item", "timestamp", "time_key", "part"])
        for row in zip(owners.tolist(), sequences.items.tolist(), sequences.timestamps.tolist(), keys.tolist(), parts.tolist(), strict=True):
            writer.writerow(row)

    # The exported parts must rebuild seqrec's split exactly.
    train_items = sequences.items[parts == "train"]
    if not np.array_equal(train_items, split.train.items):
        raise SystemExit("exported training rows differ from leave_one_out's training data")
    by_user_valid = dict(zip(owners[parts == "valid"].tolist(), sequences.items[parts == "valid"].tolist(), strict=True))
    by_user_test = dict(zip(owners[parts == "test"].tolist(), sequences.items[parts == "test"].tolist(), strict=True))
    eval_users = split.test.histories.users.tolist()
    if [by_user_valid[u] for u in eval_users] != split.valid.targets.tolist():
        raise SystemExit("exported validation items differ from leave_one_out's")
    if [by_user_test[u] for u in eval_users] != split.test.targets.tolist():
        raise SystemExit("exported test items differ from leave_one_out's")

    manifest = {
        "dataset": dataset.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "seqrec_commit": git_commit(),
        "users": dataset.n_users,
        "n_items": dataset.n_items,
        "interactions": sequences.n_interactions,
        "train_interactions": split.train.n_interactions,
        "exclude_history": dataset.exclude_history,
        "split": split.description,
        "fingerprint": sequences.fingerprint(),
        "train_fingerprint": split.train.fingerprint(),
        "valid_digest": eval_digest(split.valid),
        "test_digest": eval_digest(split.test),
        "eval_users": eval_users,
        "items_never_in_training": int(np.sum(split.train.item_counts()[1:] == 0)),
        "time_key": f"timestamp * {TIME_KEY_SCALE} + (earlier interactions of the same user in the same second)",
        "item_ids": "seqrec's dense ids 1..n_items (0 = padding); user ids: seqrec's dense rows",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(
        f"wrote {out}: {dataset.n_users} users, {dataset.n_items} items, {sequences.n_interactions} interactions "
        f"({split.train.n_interactions} train, {len(split.valid)} valid, {len(split.test)} test); "
        f"fingerprint {manifest['fingerprint'][:16]}"
    )


if __name__ == "__main__":
    main()
