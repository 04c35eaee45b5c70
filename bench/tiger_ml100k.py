"""TIGER vs SASRec on MovieLens-100K: leave-one-out, full ranking (TIGER from its ranked lists,
top-20 by trie-constrained beam search), history excluded as the dataset says; training time and
decoding time per test user. SASRec uses bench/neural_ml100k.py's chosen config (early-stopped on
validation NDCG@10); TIGER trains at most --epochs epochs and, with --patience > 0, keeps the epoch
with the best validation NDCG@10 (decoded from its ranked lists, as the test is).

    .venv/bin/python bench/tiger_ml100k.py [--seeds 0] [--threads 2] [--epochs 20] [--patience 2] [--set JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from seqrec.data.datasets import load_dataset
from seqrec.data.splits import make_split
from seqrec.evaluation.protocol import evaluate_model
from seqrec.experiment import epoch_summary, fit_model
from seqrec.models.llm.tiger import Tiger
from seqrec.models.neural.sasrec import SASRec

OUT = Path(__file__).parent / "results"
SASREC = {"dim": 64, "n_layers": 2, "n_heads": 1, "dropout": 0.2, "loss": "softmax", "batch_size": 64, "lr": 4e-3, "max_len": 200, "epochs": 200, "patience": 4}
TIGER = {"dim": 64, "n_layers": 2, "n_heads": 4, "dropout": 0.1, "lr": 1e-3, "batch_size": 256, "max_len": 20, "beam_width": 20, "semantic_method": "rqvae"}
KEYS = ("HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR@10")


def run(name: str, model: Any, data: Any, split: Any) -> dict[str, Any]:
    started = time.perf_counter()
    fit_model(model, split, data)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = evaluate_model(model, split.test, data.exclude_history, split.train.item_counts())
    eval_seconds = time.perf_counter() - started
    row = {"model": name, **{key: result.metrics.get(key) for key in KEYS}, "fit_s": round(fit_seconds, 1),
           "eval_s": round(eval_seconds, 1), "ms_per_user": round(1000 * eval_seconds / len(split.test), 2), "path": result.extra.get("path"),
           **epoch_summary(model)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=2, help="TIGER: early stopping on validation (0 = every epoch)")
    parser.add_argument("--models", default="tiger,sasrec")
    parser.add_argument("--set", default="{}", help="JSON overrides of TIGER's config")
    parser.add_argument("--name", default="tiger_ml100k")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("ml-100k")
    split = make_split("loo", data.sequences, source=data.name)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        if "tiger" in args.models:
            config = {**TIGER, "epochs": args.epochs, "patience": args.patience, "seed": seed, "threads": args.threads, **json.loads(args.set)}
            rows.append({**run("tiger", Tiger(config), data, split), "seed": seed, "config": config})
        if "sasrec" in args.models:
            config = {**SASREC, "seed": seed, "threads": args.threads, "progress": False}
            rows.append({**run("sasrec", SASRec(config), data, split), "seed": seed, "config": config})
    meta = {"command": " ".join(["python", *sys.argv]), "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
            "load_average": list(os.getloadavg()), "split": split.description, "history_excluded": data.exclude_history}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [f"# TIGER vs SASRec, ML-100K ({split.description}; history {'excluded' if data.exclude_history else 'kept'})", "",
             f"`{meta['command']}`, {meta['date']}, torch {meta['torch']}, {args.threads} threads, load average at end {meta['load_average']}", "",
             "| model | seed | HR@10 | NDCG@10 | HR@20 | NDCG@20 | MRR@10 | fit (s) | s / epoch | best / run epochs | eval (s) | ms / user |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        cells = " | ".join(f"{row[key]:.4f}" if row[key] is not None else "-" for key in KEYS)
        epochs = f"{row.get('best_epoch', '-')} / {row.get('epochs', '-')}"
        lines.append(f"| {row['model']} | {row['seed']} | {cells} | {row['fit_s']} | {row.get('epoch_seconds', '-')} | {epochs} | {row['eval_s']} | {row['ms_per_user']} |")
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
