"""HSTU beside SASRec on the shop world, per target kind, as % of the observable oracle.

Protocol: ``make_shop_dataset("default")`` (1,500 shoppers), leave-one-out split, history *kept*
(``exclude_history=False``, as the dataset says: consumables are re-bought), full ranking with
pessimistic ties, early stopping on validation NDCG@10 (patience 5). As in
``bench/neural_shop.py``, every test target is split by the part of the generator's mixture it came
from (re-buy of a consumable on its cycle, journey step, journey start, popular in the phase,
noise), weighted by each part's share of the target's probability; NDCG@10 and HR@10 are reported
per kind, and as % of ``oracle-observable`` (the generator's distribution with the hidden re-buy due
dates replaced by their posterior given the purchase times: the best any model of the data can do).

* **SASRec**: the config ``bench/neural_shop.py`` chose on validation (``lr=4e-3, dim=128``).
* **HSTU** (official time bias): its defaults (full softmax, lr 3e-3; ``bench/hstu_ml100k.py``
  chose them on ML-100K validation in its first version), with the time gaps measured from the
  current item's time instead of the next one's, with SASRec's ML-100K recipe knobs (overlapping
  windows, label smoothing, warm-up) alone and with dropout 0.3 (what ML-100K's validation chose
  in this version), and with batch 16; the best on validation NDCG@10 (seed 0) is run with every
  seed. The position-only HSTU (``relative_bias="position"``, no time) is reported beside it as
  the ablation that says what the timestamps are worth (not a candidate).
* **HSTU + key-dependent time bias (ours)**: ``time_key_rank=8`` (each item's attention weight may
  depend on its own time gap, ``models/neural/hstu.py``), alone, with batch 16, and with batch 16
  and the gaps from the current item's time; chosen the same way, run with every seed.
* **HSTU + repeat term (ours)**: ``repeat_rank=8`` (each history item's own embedding added to
  the output, weighted by a learned per-item curve over the time since its latest purchase,
  ``models/neural/hstu.py``) on three of the settings above; chosen the same way, run with every
  seed. Its ablation, *time-blind* (``time_bucket_width=1000``: every gap in bucket 0, so neither
  the curve nor the attention's time bias can read the clock), says how much of its gain is the
  clock and how much is the copy path alone (seed 0, not a candidate).
* **The re-buy rule** (a diagnostic, not a recommender of its own): what the purchase times hold
  about re-buys, read by hand. From the training sequences, every item bought at least
  ``RULE_MIN_REPEATS`` times again by the same shopper gets a cycle (the median gap between a
  shopper's consecutive purchases of it) and a tolerance (the 90th percentile of those gaps); a
  history then ranks the items it holds that are not overdue past their tolerance by how soon
  they fall due after its last purchase, and nothing else. It only ever proposes re-buys: its
  NDCG@10 on re-buy targets says how far reading the clock alone goes.

Aim: HSTU closes at least half of SASRec's gap to the observable oracle on re-buy targets.

usage: python bench/hstu_shop.py [--seeds 0,1,2] [--threads 1] [--samples 32] [--resume]
                                 [--out bench/results]
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
from hstu_ml100k import RECIPE  # SASRec's ML-100K recipe knobs, written once

from seqrec.data.shop import make_shop_dataset, next_purchase_parts
from seqrec.data.splits import EvalSet, Split, leave_one_out
from seqrec.evaluation.metrics import hit_rate, ndcg, pessimistic_ranks
from seqrec.experiment import machine_meta
from seqrec.models.neural.hstu import HSTU
from seqrec.models.neural.recommender import NeuralRecommender
from seqrec.models.neural.sasrec import SASRec
from seqrec.models.oracle import ObservableOracle

KINDS = ("re-buy", "journey", "journey start", "popular", "noise")
COMMON: dict[str, Any] = {"epochs": 60, "patience": 5}
SASREC: dict[str, Any] = {"lr": 4e-3, "dim": 128}
BASE: dict[str, Any] = {"loss": "softmax", "lr": 3e-3}
"""HSTU's defaults, written out (the config of the first version of this bench)."""


def official_candidates() -> list[dict[str, Any]]:
    """HSTU with its official time bias: the defaults; time gaps from the current item's time;
    SASRec's recipe knobs, alone and with dropout 0.3; batch 16 (four times the steps)."""
    return [
        BASE,
        {**BASE, "time_reference": "current"},
        {**BASE, **RECIPE},
        {**BASE, **RECIPE, "dropout": 0.3},  # what ML-100K's validation chose (bench/hstu_ml100k.py)
        {**BASE, "batch_size": 16},
    ]


def extended_candidates() -> list[dict[str, Any]]:
    """HSTU with the key-dependent time bias (our extension): alone; with batch 16 (the time
    weights move little in the 32 steps of a batch-64 epoch here: 2,031 training windows); with batch 16 and gaps from the
    current item's time (what the last column sees in scoring, so training matches it)."""
    return [
        {**BASE, **KEYED},
        {**BASE, **KEYED, "batch_size": 16},
        {**BASE, **KEYED, "batch_size": 16, "time_reference": "current"},
    ]


def repeat_candidates() -> list[dict[str, Any]]:
    """HSTU with the repeat term (our extension: each history item's own embedding added to the
    output, weighted by a learned per-item curve over the time since its latest purchase): on the
    official network's best settings here; with batch 16 and gaps from the current item's time;
    and with the key-dependent time bias's best settings as well."""
    return [
        {**BASE, **RECIPE, **REPEAT},
        {**BASE, "batch_size": 16, "time_reference": "current", **REPEAT},
        {**BASE, **KEYED, "batch_size": 16, "time_reference": "current", **REPEAT},
    ]


ABLATION: dict[str, Any] = {"relative_bias": "position"}
KEYED: dict[str, Any] = {"time_key_rank": 8}
"""The key-dependent time bias (our extension of HSTU's, ``models/neural/hstu.py``)."""
REPEAT: dict[str, Any] = {"repeat_rank": 8}
"""The repeat term (our extension, ``models/neural/hstu.py``)."""
BLIND: dict[str, Any] = {"time_bucket_width": 1000.0}
"""Every gap in bucket 0: the repeat term's curve (and the attention's time bias) cannot read the
clock; the ablation of the repeat term that says what the times are worth to it."""
RULE_MIN_REPEATS = 5
"""Repeat purchases an item needs in the training data before the re-buy rule gives it a cycle."""


def item_cycles(train: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per item ``[n_items + 1]``: the median and the 90th percentile of the gaps (seconds) between a
    shopper's consecutive purchases of it in ``train`` (NaN for items re-bought fewer than
    ``RULE_MIN_REPEATS`` times)."""
    gaps: dict[int, list[int]] = {}
    for row in range(len(train)):
        start, end = int(train.offsets[row]), int(train.offsets[row + 1])
        last: dict[int, int] = {}
        for item, when in zip(train.items[start:end].tolist(), train.timestamps[start:end].tolist()):
            if item in last:
                gaps.setdefault(item, []).append(when - last[item])
            last[item] = when
    median = np.full(train.n_items + 1, np.nan)
    tolerance = np.full(train.n_items + 1, np.nan)
    for item, values in gaps.items():
        if len(values) >= RULE_MIN_REPEATS:
            median[item], tolerance[item] = np.median(values), np.quantile(values, 0.9)
    return median, tolerance


def rebuy_rule_scores(train: Any, histories: Any) -> np.ndarray:
    """``[B, n_items + 1]``: history items with a cycle that are not overdue, soonest due first;
    every other item ties far below (so a target among them ranks last, pessimistically)."""
    median, tolerance = item_cycles(train)
    scores = np.full((len(histories), train.n_items + 1), -1e12)
    for row in range(len(histories)):
        start, end = int(histories.offsets[row]), int(histories.offsets[row + 1])
        times = histories.timestamps[start:end]
        now = int(times[-1])
        last = dict(zip(histories.items[start:end].tolist(), times.tolist()))
        for item, bought in last.items():
            if not np.isnan(median[item]) and now - bought <= tolerance[item]:
                scores[row, item] = -(bought + median[item] - now)  # due soonest -> highest
    scores[:, 0] = -np.inf
    return scores
MODELS: dict[str, type[NeuralRecommender[Any]]] = {"sasrec": SASRec, "hstu": HSTU}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", default="0,1,2", help="comma-separated seeds (the first selects HSTU's config)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--samples", type=int, default=32, help="due-date posterior draws of the observable oracle"
    )
    parser.add_argument("--resume", action="store_true", help="skip runs already in the log")
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results"), help="output folder"
    )
    return parser.parse_args()


def part_shares(world: Any, test: EvalSet) -> np.ndarray:
    """``[B, 5]``: the share of each mixture part (``KINDS``) in each test target's probability."""
    shares = np.zeros((len(test), len(KINDS)))
    histories = test.histories
    for row in range(len(test)):
        found = world.identify(histories.sequence(row), int(histories.users[row]))
        assert found is not None, f"test history {row} is not a prefix of any shopper"
        subject, n_history = found
        state = world.replay(subject, n_history)
        target = int(test.targets[row])
        for part in next_purchase_parts(world.catalog, subject.profile, state, subject.horizon):
            shares[row, KINDS.index(part.kind)] += part.mass * float(
                part.probs[part.items == target].sum()
            )
        shares[row] /= shares[row].sum()
    return shares


def metrics_by_kind(
    scores: np.ndarray, targets: np.ndarray, shares: np.ndarray
) -> dict[str, dict[str, float]]:
    """NDCG@10 and HR@10 overall and per kind (each target weighted by its kind's share)."""
    ranks = pessimistic_ranks(scores, targets)
    per_user = {"NDCG@10": ndcg(ranks, 10), "HR@10": hit_rate(ranks, 10)}
    out = {"all": {name: round(float(values.mean()), 4) for name, values in per_user.items()}}
    for index, kind in enumerate(KINDS):
        weight = shares[:, index]
        out[kind] = {
            name: round(float((values * weight).sum() / weight.sum()), 4)
            for name, values in per_user.items()
        }
    return out


def run_one(
    name: str,
    overrides: dict[str, Any],
    seed: int,
    args: argparse.Namespace,
    split: Split,
    shares: np.ndarray,
) -> dict[str, Any]:
    config = {
        **COMMON,
        **overrides,
        "seed": seed,
        "threads": args.threads,
        "progress": False,
        "exclude_history": False,
    }
    model = MODELS[name](config)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    model.fit(split.train, split.valid)
    fit_seconds = time.perf_counter() - start
    training = model.training
    assert training is not None
    scores = model.checked_scores(split.test.histories)
    result = {
        "model": name,
        "seed": seed,
        "config": overrides,
        "valid_NDCG@10": round(training.best_metric, 5),
        "best_epoch": training.best_epoch,
        "epochs_run": len(training.records),
        "seconds_per_epoch": round(float(np.mean([r.seconds for r in training.records])), 2),
        "fit_seconds": round(fit_seconds, 1),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "test": metrics_by_kind(scores, split.test.targets, shares),
    }
    test = result["test"]
    print(
        f"{name} seed {seed} {json.dumps(overrides)}: valid NDCG@10 {result['valid_NDCG@10']:.4f} "
        f"(best epoch {training.best_epoch}/{len(training.records)}, {result['seconds_per_epoch']:.1f} s/epoch); "
        f"test NDCG@10 {test['all']['NDCG@10']:.4f}, re-buy {test['re-buy']['NDCG@10']:.4f}",
        flush=True,
    )
    return result


def mean_over(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {
        kind: {
            metric: round(float(np.mean([run["test"][kind][metric] for run in runs])), 4)
            for metric in ("NDCG@10", "HR@10")
        }
        for kind in ("all", *KINDS)
    }


def std_over(runs: list[dict[str, Any]], kind: str) -> float:
    return round(float(np.std([run["test"][kind]["NDCG@10"] for run in runs])), 4)


def markdown(report: dict[str, Any]) -> str:
    meta, oracle, rule = report["meta"], report["oracle_observable"], report["rebuy_rule"]
    lines = [
        "# HSTU beside SASRec on the shop world",
        "",
        (
            f"{meta['date']} · {meta['machine']} · threads {meta['threads']} · load average (1 min) at the end "
            f"{meta['load_average_1min']} · `{meta['command']}`"
        ),
        "",
        f"{report['data']}. Test targets by kind (mean share): {report['target_shares']}.",
        "",
        "NDCG@10 per target kind (mean over seeds; % of `oracle-observable` in brackets):",
        "",
        "| scorer | seeds | all | " + " | ".join(KINDS) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in KINDS) + " |",
        "| oracle-observable | - | "
        + " | ".join(f"{oracle[k]['NDCG@10']:.4f}" for k in ("all", *KINDS))
        + " |",
        "| re-buy rule (cycles from the training data; diagnostic) | - | "
        + " | ".join(
            f"{rule[k]['NDCG@10']:.4f} ({100 * rule[k]['NDCG@10'] / oracle[k]['NDCG@10']:.0f}%)"
            for k in ("all", *KINDS)
        )
        + " |",
    ]
    for label, block in report["final"].items():
        mean = block["mean"]
        cells = [
            f"{mean[k]['NDCG@10']:.4f} ({100 * mean[k]['NDCG@10'] / oracle[k]['NDCG@10']:.0f}%)"
            for k in ("all", *KINDS)
        ]
        lines.append(
            f"| {label} `{json.dumps(block['config'])}` | {len(block['runs'])} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        "HR@10 per target kind:",
        "",
        "| scorer | all | " + " | ".join(KINDS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in KINDS) + " |",
        "| oracle-observable | "
        + " | ".join(f"{oracle[k]['HR@10']:.4f}" for k in ("all", *KINDS))
        + " |",
    ]
    for label, block in report["final"].items():
        lines.append(
            f"| {label} | "
            + " | ".join(f"{block['mean'][k]['HR@10']:.4f}" for k in ("all", *KINDS))
            + " |"
        )
    gap = report["rebuy_gap"]
    closed = "; ".join(
        f"{label} {entry['NDCG@10']:.4f}, closing {100 * entry['closed']:.0f}% of SASRec's gap"
        for label, entry in gap["closed"].items()
    )
    lines += [
        "",
        (
            f"Re-buy NDCG@10: oracle-observable {gap['oracle']:.4f}, SASRec {gap['sasrec']:.4f}; {closed} "
            "to the observable oracle (aim: at least 50%)."
        ),
        "",
        "| run | seeds | test NDCG@10 (mean ± std) | valid NDCG@10 (seed 0) | best epochs | s/epoch |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, block in report["final"].items():
        runs = block["runs"]
        lines.append(
            f"| {label} | {len(runs)} | {block['mean']['all']['NDCG@10']:.4f} ± {std_over(runs, 'all'):.4f} | "
            f"{runs[0]['valid_NDCG@10']:.4f} | {', '.join(str(r['best_epoch']) for r in runs)} | "
            f"{np.mean([r['seconds_per_epoch'] for r in runs]):.1f} |"
        )
    lines += [
        "",
        "## HSTU candidates (validation only, seed 0)",
        "",
        "| config | valid NDCG@10 | best epoch / run | s/epoch |",
        "| --- | --- | --- | --- |",
    ]
    for run in report["search"]:
        lines.append(
            f"| `{json.dumps(run['config'])}` | {run['valid_NDCG@10']:.4f} | {run['best_epoch']} / {run['epochs_run']} | "
            f"{run['seconds_per_epoch']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = RunLog(out / "hstu_shop_runs.json", args.resume)
    started = time.perf_counter()
    dataset = make_shop_dataset("default")
    world = dataset.extras["world"]
    split = leave_one_out(dataset.sequences)
    shares = part_shares(world, split.test)
    oracle = ObservableOracle({"samples": args.samples}).fit(split.train, world=world)
    oracle_metrics = metrics_by_kind(
        oracle.checked_scores(split.test.histories), split.test.targets, shares
    )
    print(f"oracle-observable: {oracle_metrics}", flush=True)
    rule_metrics = metrics_by_kind(
        rebuy_rule_scores(split.train, split.test.histories), split.test.targets, shares
    )
    print(f"re-buy rule: {rule_metrics}", flush=True)

    def run(name: str, overrides: dict[str, Any], seed: int) -> dict[str, Any]:
        return log.run(name, overrides, seed, lambda: run_one(name, overrides, seed, args, split, shares))

    official = [run("hstu", candidate, seeds[0]) for candidate in official_candidates()]
    extended = [run("hstu", candidate, seeds[0]) for candidate in extended_candidates()]
    repeated = [run("hstu", candidate, seeds[0]) for candidate in repeat_candidates()]
    chosen = max(official, key=lambda r: r["valid_NDCG@10"])["config"]
    keyed = max(extended, key=lambda r: r["valid_NDCG@10"])["config"]
    repeat = max(repeated, key=lambda r: r["valid_NDCG@10"])["config"]
    final: dict[str, dict[str, Any]] = {
        "SASRec": {"config": SASREC, "runs": [run("sasrec", SASREC, seed) for seed in seeds]},
        "HSTU": {"config": chosen, "runs": [run("hstu", chosen, seed) for seed in seeds]},
        "HSTU + key-dependent time bias (ours)": {
            "config": keyed,
            "runs": [run("hstu", keyed, seed) for seed in seeds],
        },
        "HSTU + repeat term (ours)": {
            "config": repeat,
            "runs": [run("hstu", repeat, seed) for seed in seeds],
        },
        "HSTU without time": {
            "config": {**chosen, **ABLATION},
            "runs": [run("hstu", {**chosen, **ABLATION}, seeds[0])],
        },
        "HSTU + repeat term, time-blind": {
            "config": {**repeat, **BLIND},
            "runs": [run("hstu", {**repeat, **BLIND}, seeds[0])],
        },
    }
    for block in final.values():
        block["mean"] = mean_over(block["runs"])
    oracle_rebuy = oracle_metrics["re-buy"]["NDCG@10"]
    sasrec_rebuy = final["SASRec"]["mean"]["re-buy"]["NDCG@10"]
    rebuy: dict[str, Any] = {"oracle": oracle_rebuy, "sasrec": sasrec_rebuy, "closed": {}}
    for label in ("HSTU", "HSTU + key-dependent time bias (ours)", "HSTU + repeat term (ours)"):
        value = final[label]["mean"]["re-buy"]["NDCG@10"]
        rebuy["closed"][label] = {
            "NDCG@10": value,
            "closed": round((value - sasrec_rebuy) / (oracle_rebuy - sasrec_rebuy), 4),
        }
    search = official + extended + repeated
    report = {
        "meta": machine_meta("python " + " ".join(shlex.quote(a) for a in sys.argv), args.threads)
        | {
            "load_average_1min": round(os.getloadavg()[0], 2),
            "total_seconds": round(time.perf_counter() - started, 1),
            "torch": torch.__version__,
        },
        "data": f"shop default: {len(dataset.sequences)} shoppers, {dataset.n_items} items; {split.description}; "
        f"exclude_history={dataset.exclude_history}",
        "target_shares": {
            kind: round(float(share), 4) for kind, share in zip(KINDS, shares.mean(axis=0))
        },
        "oracle_observable": oracle_metrics,
        "rebuy_rule": rule_metrics,
        "common": COMMON,
        "search": search,
        "final": final,
        "rebuy_gap": rebuy,
    }
    (out / "hstu_shop.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "hstu_shop.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
