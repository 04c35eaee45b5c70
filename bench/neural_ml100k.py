"""Benchmark the era-2 neural models (SASRec, GRU4Rec, BERT4Rec) on MovieLens-100K.

Protocol: ``load_dataset("ml-100k")`` (5-core, history excluded as the dataset says),
leave-one-out split, full ranking over the whole catalogue with pessimistic ties. Each model has a
few candidate configs (below); every candidate is trained with the first seed and early-stopped on
validation NDCG@10, the one with the best *validation* NDCG@10 is kept, and only that one is run
with the remaining seeds and evaluated on the test targets.

Writes ``bench/results/neural_ml100k.json`` and ``.md`` with per-epoch times, best epoch, wall time
to the best epoch, machine, thread count, load average, date and the command.

usage: python bench/neural_ml100k.py [--models sasrec,gru4rec,bert4rec] [--seeds 0,1,2]
                                     [--threads 1] [--first-candidate-only] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqrec.data.datasets import load_dataset
from seqrec.data.splits import Split, leave_one_out
from seqrec.evaluation.protocol import evaluate_model
from seqrec.models.neural.bert4rec import BERT4Rec
from seqrec.models.neural.gru4rec import GRU4Rec
from seqrec.models.neural.network import NeuralRecommender
from seqrec.models.neural.sasrec import SASRec

MODELS: dict[str, type[NeuralRecommender]] = {"sasrec": SASRec, "gru4rec": GRU4Rec, "bert4rec": BERT4Rec}

# Candidate configs per model, compared on validation NDCG@10 only. Shared: 200 items of
# history (ML-100K users have 106 ratings on average), early stopping with patience 4.
COMMON: dict[str, Any] = {"max_len": 200, "epochs": 200, "patience": 4}
CANDIDATES: dict[str, list[dict[str, Any]]] = {
    "sasrec": [
        {"dim": 64, "n_layers": 2, "n_heads": 1, "dropout": 0.2, "loss": "softmax", "batch_size": 64, "lr": 4e-3},
        {"dim": 64, "n_layers": 2, "n_heads": 1, "dropout": 0.2, "loss": "softmax", "batch_size": 64, "lr": 2e-3},
    ],
    "gru4rec": [
        {"dim": 128, "loss": "bpr_max", "n_negatives": 1024, "sample_alpha": 0.5, "bpr_max_reg": 1.0,
         "bpr_max_elu": 0.5, "dropout_embed": 0.2, "dropout_hidden": 0.2, "batch_size": 64, "lr": 2e-3},
        {"dim": 128, "loss": "softmax", "dropout_embed": 0.2, "dropout_hidden": 0.2, "batch_size": 64, "lr": 2e-3},
    ],
    "bert4rec": [
        {"dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2, "attention_dropout": 0.2, "mask_prob": 0.2,
         "batch_size": 64, "lr": 2e-3, "patience": 10},
    ],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="sasrec,gru4rec,bert4rec", help="comma-separated model names")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (the first selects the config)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--first-candidate-only", action="store_true", help="skip the config selection")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output folder")
    parser.add_argument("--name", default="neural_ml100k", help="base name of the result files")
    return parser.parse_args()


def machine_info(threads: int) -> dict[str, Any]:
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
        "torch": torch.__version__,
        "threads": threads,
    }


def run_one(name: str, overrides: dict[str, Any], seed: int, threads: int, split: Split, exclude: bool) -> dict[str, Any]:
    """Train one config with one seed; validation-selected epoch evaluated on the test set."""
    config = {**COMMON, **overrides, "seed": seed, "threads": threads, "progress": False, "exclude_history": exclude}
    model = MODELS[name](config)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    model.fit(split.train, split.valid)
    fit_seconds = time.perf_counter() - start
    test = evaluate_model(model, split.test, exclude, split.train.item_counts())
    training = model.training
    assert training is not None
    epoch_seconds = [round(record.seconds, 3) for record in training.records]
    result = {
        "model": name,
        "seed": seed,
        "config": overrides,
        "valid_ndcg10": round(training.best_metric, 6),
        "best_epoch": training.best_epoch,
        "epochs_run": len(training.records),
        "epoch_seconds": epoch_seconds,
        "mean_epoch_seconds": round(float(np.mean(epoch_seconds)), 3),
        "seconds_to_best_epoch": round(training.seconds_to_best, 2),
        "fit_seconds": round(fit_seconds, 2),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "test": test.summary(),
        "valid_curve": [round(record.metrics["NDCG@10"], 5) for record in training.records],
    }
    print(
        f"{name} seed={seed} {json.dumps(overrides)}: valid NDCG@10 {result['valid_ndcg10']:.4f} "
        f"(epoch {training.best_epoch}/{len(training.records)}, {result['seconds_to_best_epoch']:.0f}s to best), "
        f"test HR@10 {test.metrics['HR@10']:.4f} NDCG@10 {test.metrics['NDCG@10']:.4f}",
        flush=True,
    )
    return result


def benchmark_model(name: str, seeds: list[int], threads: int, split: Split, exclude: bool, first_only: bool) -> dict[str, Any]:
    candidates = CANDIDATES[name][:1] if first_only else CANDIDATES[name]
    selection = [run_one(name, overrides, seeds[0], threads, split, exclude) for overrides in candidates]
    chosen = max(selection, key=lambda run: run["valid_ndcg10"])
    runs = [chosen] + [run_one(name, chosen["config"], seed, threads, split, exclude) for seed in seeds[1:]]
    summary = {}
    for metric in ("HR@10", "NDCG@10", "MRR@10", "HR@20", "NDCG@20"):
        values = [run["test"][metric] for run in runs]
        summary[metric] = {"mean": round(float(np.mean(values)), 6), "std": round(float(np.std(values)), 6)}
    return {
        "model": name,
        "chosen_config": {**COMMON, **chosen["config"]},
        "selection": [{"config": run["config"], "valid_ndcg10": run["valid_ndcg10"]} for run in selection],
        "runs": runs,
        "test_summary": summary,
        "seconds_to_best_epoch": [run["seconds_to_best_epoch"] for run in runs],
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Neural models on ML-100K",
        "",
        f"- date: {report['date']}",
        f"- command: `{report['command']}`",
        f"- data: {report['data']}",
        (
            f"- machine: {report['machine']['cpu']}, {report['machine']['logical_cpus']} logical CPUs, "
            f"torch {report['machine']['torch']}, threads={report['machine']['threads']}"
        ),
        (
            f"- load average (1, 5, 15 min) at start / end: {report['load_average_start']} / "
            f"{report['load_average_end']} (the machine is shared: wall times include other jobs' contention)"
        ),
        "- protocol: leave-one-out, full ranking, pessimistic ties, config chosen on validation NDCG@10 only",
        "",
        "| model | seeds | test HR@10 | test NDCG@10 | test MRR@10 | valid NDCG@10 | best epoch | s/epoch | s to best epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in report["results"]:
        runs = result["runs"]
        summary = result["test_summary"]
        lines.append(
            f"| {result['model']} | {len(runs)} "
            f"| {summary['HR@10']['mean']:.4f} ± {summary['HR@10']['std']:.4f} "
            f"| {summary['NDCG@10']['mean']:.4f} ± {summary['NDCG@10']['std']:.4f} "
            f"| {summary['MRR@10']['mean']:.4f} "
            f"| {np.mean([r['valid_ndcg10'] for r in runs]):.4f} "
            f"| {', '.join(str(r['best_epoch']) for r in runs)} "
            f"| {np.mean([r['mean_epoch_seconds'] for r in runs]):.1f} "
            f"| {', '.join(f'{s:.0f}' for s in result['seconds_to_best_epoch'])} |"
        )
    lines += ["", "## Chosen configs and the validation comparison", ""]
    for result in report["results"]:
        lines.append(f"- **{result['model']}**: `{json.dumps(result['chosen_config'])}`")
        for candidate in result["selection"]:
            lines.append(f"  - valid NDCG@10 {candidate['valid_ndcg10']:.4f}: `{json.dumps(candidate['config'])}`")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        sys.exit(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    torch.set_num_threads(args.threads)
    dataset = load_dataset("ml-100k")
    split = leave_one_out(dataset.sequences)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv]),
        "data": (
            f"{dataset.name}: {dataset.n_users} users, {dataset.n_items} items, "
            f"{dataset.sequences.n_interactions} interactions; {split.description}; "
            f"exclude_history={dataset.exclude_history}"
        ),
        "machine": machine_info(args.threads),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "results": [],
    }
    for name in names:
        report["results"].append(
            benchmark_model(name, seeds, args.threads, split, dataset.exclude_history, args.first_candidate_only)
        )
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{args.name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
