"""How much the protocol alone moves popularity on ML-100K (leave-one-out, full ranking).

ML-100K's timestamps tie often (415 of 943 users' last two ratings share a second), so which
rating counts as "last" depends on how ties are ordered; and whether seen items are removed from
the ranking changes the numbers by a factor of ~1.7. This script measures popularity's HR@10 /
NDCG@10 under each combination so the numbers in our leaderboards can be compared with other
libraries' honestly. seqrec's protocol is the first row: ties in file order (stable), history
excluded.

    python bench/popularity_protocols.py  ->  bench/results/popularity_protocols.{json,md}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from seqrec.data.cleaning import CleanOptions
from seqrec.data.datasets import load_dataset
from seqrec.data.splits import leave_one_out
from seqrec.data.types import SequenceData
from seqrec.evaluation.protocol import evaluate_model
from seqrec.experiment import machine_meta, write_atomic
from seqrec.models.popularity import Popularity


def reorder_ties(sequences: SequenceData, kind: str) -> SequenceData:
    """Re-sort every user's interactions by timestamp with numpy's ``kind`` of sort.

    'stable' keeps file order inside a tie (seqrec's rule); 'quicksort' is what a library gets
    from an unstable sort (pandas' default), the order inside a tie then being arbitrary.
    """
    if kind == "stable":
        return sequences
    # Emulate a global unstable sort of the whole log by timestamp, then grouping by user.
    users = np.repeat(np.arange(len(sequences)), sequences.lengths)
    order = np.argsort(sequences.timestamps.astype(np.float64), kind=kind)
    by_user = order[np.argsort(users[order], kind="stable")]
    return SequenceData(sequences.offsets, sequences.items[by_user], sequences.timestamps[by_user], sequences.n_items, sequences.users)


def main() -> None:
    rows = []
    for filtered in (True, False):
        options = None if filtered else CleanOptions(exclude_history=True)
        dataset = load_dataset("ml-100k", options=options)
        for kind in ("stable", "quicksort"):
            split = leave_one_out(reorder_ties(dataset.sequences, kind))
            model = Popularity().fit(split.train)
            for exclude in (True, False):
                result = evaluate_model(model, split.test, exclude, split.train.item_counts())
                rows.append(
                    {
                        "items": dataset.n_items,
                        "5-core": filtered,
                        "tie order": kind,
                        "history": "excluded" if exclude else "kept",
                        "HR@10": round(result.metrics["HR@10"], 4),
                        "NDCG@10": round(result.metrics["NDCG@10"], 4),
                    }
                )
                print(rows[-1])
    meta = machine_meta("python " + " ".join(sys.argv), 1)
    out = Path("bench/results/popularity_protocols")
    write_atomic(out.with_suffix(".json"), json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = ["# Popularity on ML-100K under protocol variants (leave-one-out, full ranking)", ""]
    lines += ["| items | 5-core | tie order | history | HR@10 | NDCG@10 |", "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['items']} | {r['5-core']} | {r['tie order']} | {r['history']} | {r['HR@10']} | {r['NDCG@10']} |" for r in rows]
    lines += ["", f"{meta['date']}, {meta['machine']}, `{meta['command']}`", ""]
    write_atomic(out.with_suffix(".md"), "\n".join(lines))


if __name__ == "__main__":
    main()
