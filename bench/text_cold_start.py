"""Cold start through item text: UniSRec (inductive, transductive) against SASRec and popularity.

Protocol: ``make_shop_dataset(--size)`` (default: 1,500 shoppers, 546 items), leave-one-out split,
history kept (``exclude_history=False``, as the shop says). A seeded ``--cold-share`` (10 %) of the
catalogue is held out of training entirely: every purchase of those items is removed from the
training sequences and from the validation histories, and validation (early stopping) keeps only
users whose target is a warm item, so nothing of a cold item but its text reaches a model. The test
histories are the users' full histories (a shopper may already have bought a new item), and every
test user is ranked over the whole catalogue; test targets are split into **cold** (a held-out item)
and **warm** (any other) and HR@10 / NDCG@10 are reported on each, with bootstrap 95 % CIs.

An id-based model has never seen a cold item, so its cold HR@10 is 0 by construction (popularity
gives them count 0, SASRec an untrained embedding); the inductive UniSRec represents every item by
its adapted text only, so it can rank a cold item from its description (product line, variant,
consumable cycle, journey: ``seqrec.data.shop.item_descriptions``). The aim: inductive cold HR@10 at
least half its warm HR@10. ``unisrec-inductive-unseen-negatives`` is the same model trained with
the official code's softmax, in which the cold items are negatives (``unseen_negatives=True``).

Every neural model gets the same epochs (``--epochs``, early stopping on validation NDCG@10 with
patience 3) and validates with the dataset's history rule (kept).

usage: python bench/text_cold_start.py [--size default] [--cold-share 0.1] [--seed 0]
                                       [--threads 1] [--epochs 10] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqrec.data.shop import make_shop_dataset
from seqrec.data.splits import EvalSet, leave_one_out
from seqrec.data.types import SequenceData
from seqrec.evaluation.metrics import hit_rate, ndcg
from seqrec.evaluation.protocol import evaluate_model
from seqrec.evaluation.stats import bootstrap_ci
from seqrec.models import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info  # the bench scripts' one description of the machine

SASREC = {"lr": 0.008, "dropout": 0.1, "batch_size": 128, "patience": 3}
"""The walkthrough's SASRec settings (src/seqrec/walkthrough/shop.toml), epochs from --epochs."""
UNISREC = {"lr": 0.004, "dropout": 0.1, "batch_size": 128, "patience": 3}
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "popularity": ("popularity", {}),
    "sasrec": ("sasrec", SASREC),
    "unisrec-transductive": ("unisrec", {**UNISREC, "mode": "transductive"}),
    "unisrec-inductive": ("unisrec", {**UNISREC, "mode": "inductive"}),
    # The official code's softmax, where items never bought in training are negatives too.
    "unisrec-inductive-unseen-negatives": ("unisrec", {**UNISREC, "mode": "inductive", "unseen_negatives": True}),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="default")
    parser.add_argument("--cold-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    return parser.parse_args()


def without_items(sequences: SequenceData, banned: np.ndarray) -> SequenceData:
    """``sequences`` with every occurrence of the ``banned`` items removed (rows may become empty)."""
    keep = ~np.isin(sequences.items, banned)  # [N]
    rows = np.repeat(np.arange(len(sequences)), sequences.lengths)
    lengths = np.bincount(rows[keep], minlength=len(sequences)).astype(np.int64)
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return SequenceData(offsets, sequences.items[keep], sequences.timestamps[keep], sequences.n_items, sequences.users.copy())


def warm_validation(valid: EvalSet, cold: np.ndarray) -> EvalSet:
    """Validation users with a warm target, their histories without cold items."""
    rows = np.flatnonzero(~np.isin(valid.targets, cold))
    kept = valid.rows(rows)
    return EvalSet(without_items(kept.histories, cold), kept.targets, kept.target_timestamps)


def metrics_of(ranks: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"n_users": len(ranks)}
    for name, values in (("HR@10", hit_rate(ranks, 10)), ("NDCG@10", ndcg(ranks, 10))):
        low, high = bootstrap_ci(values)
        out[name] = round(float(values.mean()), 4) if len(values) else float("nan")
        out[f"{name}_ci"] = [round(low, 4), round(high, 4)]
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    dataset = make_shop_dataset(args.size)
    split = leave_one_out(dataset.sequences)
    rng = np.random.default_rng(args.seed)
    n_cold = round(args.cold_share * dataset.n_items)
    cold = np.sort(rng.choice(np.arange(1, dataset.n_items + 1), size=n_cold, replace=False))
    train = without_items(split.train, cold)
    valid = warm_validation(split.valid, cold)
    test = split.test
    is_cold = np.isin(test.targets, cold)
    items = dataset.item_info()
    report: dict[str, Any] = {
        "protocol": {
            "dataset": f"shop:{args.size}",
            "split": "leave-one-out",
            "exclude_history": dataset.exclude_history,
            "cold_items": int(n_cold),
            "cold_share": args.cold_share,
            "training_interactions": {"before": split.train.n_interactions, "after": train.n_interactions},
            "validation_users": len(valid),
            "test_users": {"all": len(test), "cold_target": int(is_cold.sum()), "warm_target": int((~is_cold).sum())},
            "cold_item_ids": cold.tolist(),
        },
        "models": {},
    }
    for label in args.models.split(","):
        registry_name, overrides = MODELS[label]
        model_class = REGISTRY[registry_name]
        neural = {"seed": args.seed, "threads": args.threads, "progress": False, "epochs": args.epochs, "exclude_history": dataset.exclude_history}
        config = {**neural, **overrides} if registry_name != "popularity" else {}
        model = model_class(config)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        model.fit(train, valid, items=items)
        fit_seconds = time.perf_counter() - started
        result = evaluate_model(model, test, dataset.exclude_history, train.item_counts(), ks=(10,))
        ranks = result.per_user["rank"]
        training = getattr(model, "training", None)
        report["models"][label] = {
            "model": registry_name,
            "config": {key: value for key, value in config.items() if key not in ("progress",)},
            "cold": metrics_of(ranks[is_cold]),
            "warm": metrics_of(ranks[~is_cold]),
            "all": metrics_of(ranks),
            "fit_seconds": round(fit_seconds, 1),
            "epochs_run": len(training.records) if training is not None else None,
            "best_epoch": training.best_epoch if training is not None else None,
            "valid_NDCG@10": round(training.best_metric, 4) if training is not None else None,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        row = report["models"][label]
        print(f"{label:22s} cold HR@10 {row['cold']['HR@10']:.4f}  warm HR@10 {row['warm']['HR@10']:.4f}  fit {fit_seconds:.0f} s", flush=True)
    return report


def markdown(report: dict[str, Any]) -> str:
    protocol, meta = report["protocol"], report["meta"]
    users = protocol["test_users"]
    lines = [
        "# Cold start through item text (shop world)",
        "",
        (
            f"{meta['date']} on {meta['machine']['cpu']} ({meta['machine']['logical_cpus']} logical CPUs, "
            f"torch {meta['machine']['torch']}, {meta['machine']['threads']} thread(s)), load average "
            f"{meta['load_average_1min'][0]} -> {meta['load_average_1min'][1]}, {meta['total_seconds']} s in all."
        ),
        "",
        f"Command: `{meta['command']}`",
        "",
        (
            f"{protocol['dataset']}, {protocol['split']}, exclude_history={protocol['exclude_history']}; "
            f"{protocol['cold_items']} items ({protocol['cold_share']:.0%}) held out of training "
            f"({protocol['training_interactions']['before']} -> {protocol['training_interactions']['after']} "
            f"training purchases); {protocol['validation_users']} validation users with warm targets; test users: "
            f"{users['cold_target']} with a cold target, {users['warm_target']} with a warm one."
        ),
        "",
        "| model | cold HR@10 | cold NDCG@10 | warm HR@10 | warm NDCG@10 | all HR@10 | cold / warm HR@10 | fit s | epochs (best) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, row in report["models"].items():
        cold, warm = row["cold"], row["warm"]
        ratio = cold["HR@10"] / warm["HR@10"] if warm["HR@10"] else float("nan")
        epochs = f"{row['epochs_run']} ({row['best_epoch']})" if row["epochs_run"] is not None else "-"
        lines.append(
            f"| {label} | {cold['HR@10']:.4f} [{cold['HR@10_ci'][0]:.3f}, {cold['HR@10_ci'][1]:.3f}] | {cold['NDCG@10']:.4f} "
            f"| {warm['HR@10']:.4f} [{warm['HR@10_ci'][0]:.3f}, {warm['HR@10_ci'][1]:.3f}] | {warm['NDCG@10']:.4f} "
            f"| {row['all']['HR@10']:.4f} | {ratio:.2f} | {row['fit_seconds']} | {epochs} |"
        )
    lines += ["", "Brackets: bootstrap 95 % CIs over the users of each group."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    report = run(args)
    report["meta"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(part) for part in ["python", *sys.argv]),
        "machine": machine_info(args.threads),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "text_cold_start.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "text_cold_start.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
