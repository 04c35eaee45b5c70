"""HSTU beside SASRec on MovieLens-100K (leave-one-out, full ranking, history excluded).

Protocol: ``load_dataset("ml-100k")`` (5-core; history items excluded, as the dataset says),
leave-one-out split, full ranking over the whole catalogue with pessimistic ties, early stopping on
validation NDCG@10. Both models read the last 200 items (the official ML-1M configs' length; ML-100K
users have 106 ratings on average).

* **SASRec**: its shipped config (``SASRecConfig`` defaults) with ``max_len=200``, ``patience=4``.
* **HSTU**, tuned on validation only (seed 0): round 1 crosses the loss (the official sampled
  softmax, 128 uniform negatives per position, temperature 0.05, against the full softmax with the
  same temperature) with the learning rate (the official 1e-3, and 3e-3); round 2 varies one
  setting at a time around the round-1 winner (``dim`` 64, gaps from the current item's time,
  the attention divided by the visible keys). The config with the best validation NDCG@10 is then
  run with every seed and evaluated on the test targets. Epochs are capped at 40 (CPU time).

Reported per model: test HR@10 / NDCG@10 over the seeds (mean ± population std, and the spread
max - min), seconds per epoch (training + validation), the best epoch of each run. Published on
ML-1M (same protocol, Zhai et al. 2024, Table 2): SASRec 0.2853 / 0.1603, HSTU 0.3097 / 0.1720
HR@10 / NDCG@10.

Every finished run is appended to the JSON log at once, so an interrupted bench keeps what it has;
``--resume`` skips runs already in the log.

usage: python bench/hstu_ml100k.py [--seeds 0,1,2] [--threads 1] [--max-epochs 40]
                                   [--round2 all|none] [--resume] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import RunLog  # the resumable run log the bench scripts share

from seqrec.data.datasets import load_dataset
from seqrec.data.splits import Split, leave_one_out
from seqrec.evaluation.protocol import evaluate_model
from seqrec.experiment import machine_meta
from seqrec.models.neural.hstu import HSTU
from seqrec.models.neural.recommender import NeuralRecommender
from seqrec.models.neural.sasrec import SASRec

COMMON: dict[str, Any] = {"max_len": 200, "patience": 4}
ROUND1: list[dict[str, Any]] = [
    {"loss": "sampled_softmax", "lr": 1e-3},  # the official ML-1M config
    {"loss": "sampled_softmax", "lr": 3e-3},
    {"loss": "softmax", "lr": 1e-3},
    {"loss": "softmax", "lr": 3e-3},
]
ROUND2: list[dict[str, Any]] = [
    {"dim": 64},
    {"time_reference": "current"},
    {"attention_norm": "visible"},
]
PUBLISHED_ML1M = {
    "sasrec": {"HR@10": 0.2853, "NDCG@10": 0.1603},
    "hstu": {"HR@10": 0.3097, "NDCG@10": 0.1720},
}
MODELS: dict[str, type[NeuralRecommender[Any]]] = {"sasrec": SASRec, "hstu": HSTU}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", default="0,1,2", help="comma-separated seeds (the first selects the config)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--max-epochs", type=int, default=40, help="epoch cap of every run")
    parser.add_argument(
        "--round2", choices=("all", "none"), default="all", help="run the round-2 variations"
    )
    parser.add_argument("--resume", action="store_true", help="skip runs already in the log")
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results"), help="output folder"
    )
    return parser.parse_args()


def run_one(
    name: str,
    overrides: dict[str, Any],
    seed: int,
    args: argparse.Namespace,
    split: Split,
    stage: str,
) -> dict[str, Any]:
    """Train one config with one seed (early-stopped on validation) and evaluate it on the test targets."""
    config = {
        **COMMON,
        "epochs": args.max_epochs,
        **overrides,
        "seed": seed,
        "threads": args.threads,
        "progress": False,
    }
    model = MODELS[name](config)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    model.fit(split.train, split.valid)
    fit_seconds = time.perf_counter() - start
    test = evaluate_model(model, split.test, True, split.train.item_counts())
    training = model.training
    assert training is not None
    epoch_seconds = [record.seconds for record in training.records]
    result = {
        "model": name,
        "stage": stage,
        "seed": seed,
        "config": overrides,
        "valid_NDCG@10": round(training.best_metric, 5),
        "best_epoch": training.best_epoch,
        "epochs_run": len(training.records),
        "stopped_early": training.stopped_early,
        "seconds_per_epoch": round(float(np.mean(epoch_seconds)), 2),
        "fit_seconds": round(fit_seconds, 1),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "test": {key: round(float(test.metrics[key]), 5) for key in ("HR@10", "NDCG@10", "MRR@10")},
        "valid_curve": [round(record.metrics["NDCG@10"], 4) for record in training.records],
    }
    print(
        f"[{stage}] {name} seed {seed} {json.dumps(overrides)}: valid NDCG@10 {result['valid_NDCG@10']:.4f} "
        f"(best epoch {training.best_epoch}/{len(training.records)}, {result['seconds_per_epoch']:.1f} s/epoch), "
        f"test HR@10 {result['test']['HR@10']:.4f} NDCG@10 {result['test']['NDCG@10']:.4f}",
        flush=True,
    )
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, population std and spread (max - min) over seeds of the test metrics."""
    out: dict[str, Any] = {"seeds": [run["seed"] for run in runs]}
    for key in ("HR@10", "NDCG@10"):
        values = np.array([run["test"][key] for run in runs])
        out[key] = {
            "mean": round(float(values.mean()), 4),
            "std": round(float(values.std()), 4),
            "spread": round(float(values.max() - values.min()), 4),
        }
    out["seconds_per_epoch"] = round(float(np.mean([run["seconds_per_epoch"] for run in runs])), 2)
    out["best_epochs"] = [run["best_epoch"] for run in runs]
    return out


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        "# HSTU beside SASRec on ML-100K",
        "",
        (
            f"{meta['date']} · {meta['machine']} · threads {meta['threads']} · load average (1 min) at the end "
            f"{meta['load_average_1min']} · `{meta['command']}`"
        ),
        "",
        (
            f"{report['data']}. Leave-one-out, full ranking, pessimistic ties, history excluded; early stopping on "
            "validation NDCG@10 (patience 4); every run reads the last 200 items. Config chosen on validation only (seed 0)."
        ),
        "",
        "| model | config | seeds | test HR@10 (mean ± std, spread) | test NDCG@10 (mean ± std, spread) | s/epoch | best epoch |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, block in report["final"].items():
        s = block["summary"]
        lines.append(
            f"| {name} | `{json.dumps(block['config'])}` | {len(s['seeds'])} | {s['HR@10']['mean']:.4f} ± {s['HR@10']['std']:.4f} "
            f"({s['HR@10']['spread']:.4f}) | {s['NDCG@10']['mean']:.4f} ± {s['NDCG@10']['std']:.4f} ({s['NDCG@10']['spread']:.4f}) "
            f"| {s['seconds_per_epoch']:.1f} | {', '.join(map(str, s['best_epochs']))} |"
        )
    lines += [
        "",
        "Published on ML-1M (Zhai et al. 2024): SASRec 0.2853 / 0.1603, HSTU 0.3097 / 0.1720 (HR@10 / NDCG@10).",
        "",
        "## HSTU validation-only search (seed 0)",
        "",
        "| stage | config | valid NDCG@10 | best epoch / run | s/epoch |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in report["search"]:
        lines.append(
            f"| {run['stage']} | `{json.dumps(run['config'])}` | {run['valid_NDCG@10']:.4f} | "
            f"{run['best_epoch']} / {run['epochs_run']} | {run['seconds_per_epoch']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out / "hstu_ml100k_runs.json", args.resume)
    started = time.perf_counter()
    dataset = load_dataset("ml-100k")
    split = leave_one_out(dataset.sequences)

    def run(name: str, overrides: dict[str, Any], seed: int, stage: str) -> dict[str, Any]:
        return log.run(name, overrides, seed, lambda: run_one(name, overrides, seed, args, split, stage))

    search = [run("hstu", candidate, seeds[0], "round 1") for candidate in ROUND1]
    best = max(search, key=lambda r: r["valid_NDCG@10"])["config"]
    if args.round2 == "all":
        search += [run("hstu", {**best, **change}, seeds[0], "round 2") for change in ROUND2]
    chosen = max(search, key=lambda r: r["valid_NDCG@10"])["config"]
    final = {
        "sasrec (shipped config)": {
            "config": {},
            "runs": [run("sasrec", {}, seed, "final") for seed in seeds],
        },
        "hstu (chosen on validation)": {
            "config": chosen,
            "runs": [run("hstu", chosen, seed, "final") for seed in seeds],
        },
    }
    for block in final.values():
        block["summary"] = summary(block["runs"])
    report = {
        "meta": machine_meta("python " + " ".join(shlex.quote(a) for a in sys.argv), args.threads)
        | {
            "load_average_1min": round(os.getloadavg()[0], 2),
            "total_seconds": round(time.perf_counter() - started, 1),
            "torch": torch.__version__,
        },
        "data": f"ml-100k: {len(dataset.sequences)} users, {dataset.n_items} items; {split.description}; exclude_history=True",
        "common": {**COMMON, "epochs": args.max_epochs},
        "published_ml1m": PUBLISHED_ML1M,
        "search": search,
        "final": final,
    }
    (out / "hstu_ml100k.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "hstu_ml100k.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
