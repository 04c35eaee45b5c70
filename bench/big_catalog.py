"""Big catalogs: SASRec and HSTU on 1,000,000 items without a ``[B, L, n_items]`` tensor.

A synthetic catalogue (``--items``, default 1M) with Zipf-like popularity (``p(rank r) ∝ r^-a``,
``--zipf``) and a little sequential structure (with probability ``--chain`` the next item is the
previous item's successor in a fixed random order, otherwise a fresh popularity draw), for
``--users`` users of ``--length`` interactions each, built with numpy into a ``SequenceData``.
Each user's last interaction is held out; ``--eval-users`` of them form the test set.

For each model (``--models``) and each kind of negatives of ``loss="sampled_softmax"``
(``--negatives``: ``sampled``, ``in_batch``, ``mixed``; ``seqrec.models.neural.losses``) one
epoch of at most ``--batches`` batches (``max_batches_per_epoch``) is trained **in a fresh
subprocess**, so that its peak resident memory (``ru_maxrss``) is its own. The run then
evaluates the trained model with full ranking over the whole catalogue on the test users
(``seqrec.evaluation.protocol.evaluate_model``, ``--eval-chunk`` users per chunk; history items
excluded) and records time and peak memory again. HR/NDCG after ``--batches`` batches say only
that the pipeline works, not how good the models get.

The full softmax would score every item at every position: ``N · n_items · 4`` bytes of float32
logits for ``N`` target positions per batch (at most ``batch_size · max_len``), and about three
times that with the softmax and its gradient. The script prints that number and, with
``--full-softmax-guard-gib G > 0``, also *tries* ``loss="softmax"`` in a subprocess whose address
space is capped (``RLIMIT_AS``) at its size before training plus ``G`` GiB, so that the attempt
fails inside the cap instead of exhausting the machine.

Smoke test (50k items, seconds)::

    python bench/big_catalog.py --items 50000 --users 5000 --batches 5 --eval-users 200 --name big_catalog_smoke

Full run (1M items; minutes per run, one thread)::

    python bench/big_catalog.py --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, peak_rss_mib, write_results

GIB = 2**30
MIB = 2**20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="catalogue size")
    parser.add_argument("--users", type=int, default=100_000, help="users")
    parser.add_argument("--length", type=int, default=50, help="interactions per user (last one held out)")
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent a: p(rank r) ~ r^-a")
    parser.add_argument("--chain", type=float, default=0.5, help="probability that the next item follows the previous")
    parser.add_argument("--models", default="sasrec,hstu", help="comma-separated registry names")
    parser.add_argument("--negatives", default="sampled,in_batch,mixed", help="comma-separated kinds")
    parser.add_argument("--batches", type=int, default=100, help="max_batches_per_epoch (one epoch)")
    parser.add_argument("--batch-size", type=int, default=128, help="training windows per batch")
    parser.add_argument("--max-len", type=int, default=50, help="max_len of both models")
    parser.add_argument("--dim", type=int, default=64, help="embedding size of both models")
    parser.add_argument("--eval-users", type=int, default=1000, help="test users ranked over the full catalogue")
    parser.add_argument("--eval-chunk", type=int, default=100, help="users per evaluation chunk")
    parser.add_argument(
        "--full-softmax-guard-gib", type=float, default=4.0,
        help="try loss=softmax with this much extra address space (0 = only compute the size)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="data and training seed")
    parser.add_argument("--name", default="big_catalog", help="results file name (bench/results/NAME.json|md)")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)  # internal: one run, as JSON
    return parser.parse_args(argv)


# -- data --------------------------------------------------------------------------------------------
def make_data(items: int, users: int, length: int, zipf: float, chain: float, seed: int) -> tuple[Any, Any]:
    """``(train, test)``: ``users`` sequences of ``length`` items over ``items`` ids; train keeps the
    first ``length - 1`` of each, test holds the last item of every user (histories = train rows)."""
    from seqrec.data.splits import EvalSet
    from seqrec.data.types import SequenceData

    if length < 3:
        raise ValueError(f"--length must be at least 3, got {length}")
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, items + 1, dtype=np.float64)
    popularity = ranks**-zipf
    cdf = np.cumsum(popularity / popularity.sum())
    by_rank = rng.permutation(items) + 1  # item id of each popularity rank (ids not ordered by popularity)
    successor = np.empty(items + 1, dtype=np.int64)
    order = rng.permutation(items) + 1
    successor[order] = np.roll(order, -1)  # a fixed random cycle through the catalogue

    def draw(n: int) -> np.ndarray:
        return by_rank[np.minimum(np.searchsorted(cdf, rng.random(n)), items - 1)]

    matrix = np.empty((users, length), dtype=np.int64)  # [U, T]
    matrix[:, 0] = draw(users)
    for step in range(1, length):
        follow = rng.random(users) < chain
        matrix[:, step] = np.where(follow, successor[matrix[:, step - 1]], draw(users))
    start = rng.integers(1_500_000_000, 1_600_000_000, size=users)
    gaps = rng.integers(60, 86_400, size=(users, length))
    times = start[:, None] + np.cumsum(gaps, axis=1)  # [U, T] increasing seconds

    keep = length - 1
    offsets = np.arange(users + 1, dtype=np.int64) * keep
    user_ids = np.arange(users, dtype=np.int64)
    train = SequenceData(offsets, matrix[:, :keep].ravel(), times[:, :keep].ravel(), items, user_ids)
    test = EvalSet(train, matrix[:, -1].copy(), times[:, -1].copy())
    return train, test


def full_softmax_bytes(batch_size: int, max_len: int, items: int) -> dict[str, float]:
    """What the full softmax would allocate per batch: float32 logits for every target position
    (at most ``batch_size · max_len``) and item, and about 3x with softmax output and gradient."""
    logits = batch_size * max_len * items * 4
    return {"positions_per_batch_at_most": batch_size * max_len, "logits_gib": logits / GIB,
            "with_softmax_and_gradient_gib": 3 * logits / GIB}


def vm_size_bytes() -> int:
    """This process's virtual memory size (``VmSize``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


# -- one run, in its own process -------------------------------------------------------------------
def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    from seqrec.evaluation.protocol import evaluate_model
    from seqrec.models import get_model_class

    torch.set_num_threads(spec["threads"])
    start = time.perf_counter()
    train, test = make_data(spec["items"], spec["users"], spec["length"], spec["zipf"], spec["chain"], spec["seed"])
    out: dict[str, Any] = {
        "model": spec["model"], "loss": spec["config"]["loss"], "negatives": spec["config"].get("negatives", ""),
        "data_seconds": round(time.perf_counter() - start, 2), "rss_after_data_mib": round(peak_rss_mib(), 1),
        "items_seen_in_training": int((train.item_counts() > 0).sum()),
    }
    model = get_model_class(spec["model"])(spec["config"])
    settings = dataclasses.asdict(model.config)
    out["config"] = {key: settings[key] for key in spec["report_fields"] if key in settings}
    if spec.get("guard_gib", 0) > 0:  # cap the address space: the full softmax fails inside it
        limit = vm_size_bytes() + int(spec["guard_gib"] * GIB)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        out["address_limit_gib"] = round(limit / GIB, 2)
    start = time.perf_counter()
    try:
        model.fit(train)
    except (RuntimeError, MemoryError) as error:  # torch's allocator raises RuntimeError
        out["fit_error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
        out["peak_rss_train_mib"] = round(peak_rss_mib(), 1)
        return out
    record = model.training.records[-1]
    batches = spec["config"]["max_batches_per_epoch"]
    out.update({
        "fit_seconds": round(time.perf_counter() - start, 2),
        "epoch_seconds": round(record.seconds, 2),
        "seconds_per_100_batches": round(record.seconds / batches * 100, 2),
        "mean_loss": round(record.loss, 4),
        "peak_rss_train_mib": round(peak_rss_mib(), 1),
    })
    rows = np.random.default_rng(spec["seed"] + 1).choice(len(test), size=min(spec["eval_users"], len(test)), replace=False)
    sample = test.rows(np.sort(rows))
    result = evaluate_model(model, sample, exclude_history=True, item_popularity=train.item_counts(), ks=(10,),
                            chunk_size=spec["eval_chunk"])
    out.update({
        "eval_users": len(sample), "eval_chunk": spec["eval_chunk"], "eval_seconds": round(result.seconds, 2),
        "eval_HR@10": round(result.metrics["HR@10"], 4), "eval_NDCG@10": round(result.metrics["NDCG@10"], 4),
        "peak_rss_after_eval_mib": round(peak_rss_mib(), 1),
    })
    return out


def spawn(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one spec in a fresh Python process and return what it printed (its last line, JSON)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "MKL_NUM_THREADS": str(spec["threads"])}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"model": spec["model"], "loss": spec["config"]["loss"],
                "negatives": spec["config"].get("negatives", ""), "process_error": f"rc {done.returncode}: {' | '.join(tail)}"}
    return json.loads(lines[-1])


# -- the whole benchmark ------------------------------------------------------------------------------
def specs(args: argparse.Namespace) -> list[dict[str, Any]]:
    common = {
        "max_len": args.max_len, "dim": args.dim, "batch_size": args.batch_size, "epochs": 1,
        "max_batches_per_epoch": args.batches, "threads": args.threads, "seed": args.seed, "progress": False,
    }
    data = {"items": args.items, "users": args.users, "length": args.length, "zipf": args.zipf,
            "chain": args.chain, "seed": args.seed, "threads": args.threads, "eval_users": args.eval_users,
            "eval_chunk": args.eval_chunk,
            "report_fields": ["loss", "negatives", "n_negatives", "negatives_per_position", "sample_alpha",
                              "batch_size", "max_len", "dim", "n_layers", "lr", "temperature"]}
    out = []
    for model in args.models.split(","):
        for negatives in args.negatives.split(","):
            out.append({**data, "model": model, "config": {**common, "loss": "sampled_softmax", "negatives": negatives}})
        if args.full_softmax_guard_gib > 0:
            out.append({**data, "model": model, "guard_gib": args.full_softmax_guard_gib,
                        "config": {**common, "loss": "softmax", "max_batches_per_epoch": 1}})
    return out


def markdown(report: dict[str, Any]) -> str:
    setup = report["setup"]
    full = report["full_softmax_would_need"]
    in_batch_gib = full["positions_per_batch_at_most"] ** 2 * 4 / GIB
    intro = (
        f"{setup['items']:,} items, {setup['users']:,} users x {setup['length']} interactions "
        f"(Zipf a={setup['zipf']}), batch {setup['batch_size']} x max_len {setup['max_len']}, "
        f"dim {setup['dim']}, {setup['batches']} batches, {setup['threads']} thread(s). "
        "Each row is a fresh process."
    )
    sizes = (
        f"Full softmax: at most {full['positions_per_batch_at_most']:,} positions x "
        f"{setup['items']:,} items = {full['logits_gib']:.1f} GiB of float32 logits per batch, "
        f"~{full['with_softmax_and_gradient_gib']:.1f} GiB with softmax and gradient. In-batch "
        f"scores: at most {full['positions_per_batch_at_most']:,}^2 x 4 B = {in_batch_gib:.2f} GiB."
    )
    header = (
        "| model | loss | negatives | s / 100 batches | peak RSS train (MiB) | RSS after data (MiB) | "
        "eval s | peak RSS after eval (MiB) | HR@10 | NDCG@10 | note |"
    )
    lines = [
        "# Big catalogs: sampled softmax without a [B, L, n_items] tensor", "", intro, "", sizes, "",
        header, "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        note = run.get("fit_error") or run.get("process_error") or ""
        if "address_limit_gib" in run:
            note = f"address space capped at {run['address_limit_gib']} GiB: {note or 'fit ran'}"
        lines.append(
            f"| {run['model']} | {run['loss']} | {run.get('negatives', '')} | "
            f"{run.get('seconds_per_100_batches', '-')} | {run.get('peak_rss_train_mib', '-')} | "
            f"{run.get('rss_after_data_mib', '-')} | {run.get('eval_seconds', '-')} | "
            f"{run.get('peak_rss_after_eval_mib', '-')} | {run.get('eval_HR@10', '-')} | "
            f"{run.get('eval_NDCG@10', '-')} | {note.replace('|', '/')} |"
        )
    evaluation = (
        f"Evaluation: {setup['eval_users']} test users, full ranking over all items, "
        f"{setup['eval_chunk']} users per chunk, history excluded. Metrics after "
        f"{setup['batches']} batches only show that the pipeline runs."
    )
    lines += ["", evaluation, "", f"Command: `{report['machine']['command']}`", ""]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))), flush=True)
        return
    for name in ("items", "users", "batches", "batch_size", "eval_users", "eval_chunk", "threads"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    report: dict[str, Any] = {
        "machine": machine_info(args.threads),
        "setup": {key: value for key, value in vars(args).items() if key != "child"},
        "full_softmax_would_need": full_softmax_bytes(args.batch_size, args.max_len, args.items),
        "runs": [],
    }
    print(f"full softmax would need {report['full_softmax_would_need']}", flush=True)
    for spec in specs(args):
        started = time.perf_counter()
        run = spawn(spec)
        run["wall_seconds"] = round(time.perf_counter() - started, 1)
        report["runs"].append(run)
        print(json.dumps({k: v for k, v in run.items() if k != "config"}), flush=True)
    json_path, _ = write_results(args.name, report, markdown(report))
    print(f"wrote {json_path}")


if __name__ == "__main__":
    main()
