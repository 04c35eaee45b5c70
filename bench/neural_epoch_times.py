"""Per-epoch wall time of every era-2 network on ML-100K, measured one model at a time.

The benchmark runs of ``bench/neural_ml100k.py`` go two at a time on the 2 cores, so their epoch
times carry that load. This script is the quiet measurement: run it with nothing else on the
machine. For each network it trains the tuned config (``configs/tuned/ml-100k/loo/<model>.json``,
else the base config of ``configs/ml-100k.toml``) for ``--epochs`` epochs with early stopping off
and records each epoch's wall time (one pass over the training data plus the validation ranking of
all 943 users), then reports the median. With ``--to-best`` it also trains SASRec to its best
validation epoch (patience as configured) and records the wall time to that epoch.

NARM and SR-GNN train on prefixes: their epoch is ``max_batches_per_epoch`` random batches (see
their configs), not a pass over the data; the table says so.

usage: python bench/neural_epoch_times.py [--threads 1] [--epochs 3] [--models sasrec,...]
                                          [--to-best] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from seqrec.data.datasets import load_dataset
from seqrec.data.splits import leave_one_out
from seqrec.experiment import build_model, load_config_file, tuned_config

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ("sasrec", "gru4rec", "bert4rec", "narm", "caser", "nextitnet", "srgnn", "cl4srec", "duorec")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per model")
    parser.add_argument("--models", default=",".join(NETWORKS), help="comma-separated model names")
    parser.add_argument("--to-best", action="store_true", help="also train SASRec to its best validation epoch")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output folder")
    return parser.parse_args()


def model_config(name: str) -> tuple[dict[str, Any], str]:
    tuned = tuned_config("ml-100k", name)
    if tuned is not None:
        return tuned, f"configs/tuned/ml-100k/loo/{name}.json"
    base = load_config_file(ROOT / "configs" / "ml-100k.toml").get(name, {})
    return dict(base), "configs/ml-100k.toml"


def main() -> None:
    args = parse_args()
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in NETWORKS]
    if unknown:
        sys.exit(f"unknown network(s) {unknown}; choose from {', '.join(NETWORKS)}")
    if args.epochs < 1:
        sys.exit("--epochs must be at least 1")
    torch.set_num_threads(args.threads)
    dataset = load_dataset("ml-100k")
    split = leave_one_out(dataset.sequences)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv]),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "logical_cpus": os.cpu_count(),
            "torch": torch.__version__,
            "threads": args.threads,
        },
        "data": f"{dataset.name}: {dataset.n_users} users, {dataset.n_items} items, {split.description}",
        "models": [],
    }
    for name in names:
        config, source = model_config(name)
        timed = {**config, "epochs": args.epochs, "patience": args.epochs + 1, "seed": 0, "progress": False,
                 "exclude_history": dataset.exclude_history}
        model = build_model(name, timed, args.threads)
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        model.fit(split.train, split.valid)
        total = time.perf_counter() - start
        training = model.training  # type: ignore[attr-defined]
        seconds = [round(record.seconds, 3) for record in training.records]
        row = {
            "model": name,
            "config_source": source,
            "config": config,
            "epoch_seconds": seconds,
            "median_epoch_seconds": round(statistics.median(seconds), 3),
            "fit_seconds": round(total, 2),
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "epoch_is_full_pass": "max_batches_per_epoch" not in config,
        }
        report["models"].append(row)
        print(f"{name}: median {row['median_epoch_seconds']:.2f} s/epoch {seconds} ({source})", flush=True)
    if args.to_best:
        config, source = model_config("sasrec")
        model = build_model("sasrec", {**config, "seed": 0, "progress": False,
                                       "exclude_history": dataset.exclude_history}, args.threads)
        model.fit(split.train, split.valid)
        training = model.training  # type: ignore[attr-defined]
        report["sasrec_to_best"] = {
            "config_source": source,
            "best_epoch": training.best_epoch,
            "epochs_run": len(training.records),
            "seconds_to_best_epoch": round(training.seconds_to_best, 2),
            "valid_ndcg10": round(training.best_metric, 5),
        }
        print(f"sasrec to best: {report['sasrec_to_best']}", flush=True)
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "neural_epoch_times.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "neural_epoch_times.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        "# Per-epoch wall time of the era-2 networks on ML-100K (quiet machine, one model at a time)",
        "",
        f"- {report['date']}, `{report['command']}`",
        (f"- machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, torch {machine['torch']}, "
        f"threads={machine['threads']}; load average at the end {report['load_average_end']}"),
        f"- data: {report['data']}",
        ("- an epoch = one pass over the training sequences (all positions at once) + ranking the "
        "validation targets of every user; NARM and SR-GNN: a fixed number of random prefix batches"),
        "",
        "| model | median s/epoch | epochs timed (s) | epoch | 1-min load before/after | config |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["models"]:
        epoch = "full pass" if row["epoch_is_full_pass"] else f"{row['config']['max_batches_per_epoch']} batches"
        lines.append(
            f"| {row['model']} | {row['median_epoch_seconds']:.2f} | {row['epoch_seconds']} | {epoch} | "
            f"{row['load_average_1min']} | {row['config_source']} |"
        )
    best = report.get("sasrec_to_best")
    if best:
        lines += [
            "",
            (f"SASRec to its best validation epoch ({best['config_source']}): epoch {best['best_epoch']} of "
            f"{best['epochs_run']}, **{best['seconds_to_best_epoch']:.1f} s** wall, valid NDCG@10 {best['valid_ndcg10']:.4f}."),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
