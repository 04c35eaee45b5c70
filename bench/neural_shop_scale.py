"""Does SASRec close the gap to the shop oracle with more shoppers?

``bench/neural_shop.py`` measures SASRec on the default world (1,500 shoppers). This script asks
the data-size question: the same world generator at several sizes (``--sizes``), SASRec with the
config chosen on the default world's validation split (``CHOSEN`` of ``neural_shop.py``, patience
and epoch cap from ``--patience``/``--epochs``), early-stopped on validation NDCG@10, scored on the
test targets. The oracle and its observable variant (due dates replaced by their posterior given
the purchase times) are computed on the same ``--users`` randomly chosen test users (all of them
when the world is smaller), with ``--samples`` Monte-Carlo draws. For each size: SASRec's NDCG@10
as % of both oracles, NDCG@10 by generator part, and the persona ``blog_author``'s top-10 by
category with SASRec's attention on her three workout purchases.

Protocol as in ``neural_shop.py``: leave-one-out, history kept, full ranking, pessimistic ties.

usage: python bench/neural_shop_scale.py [--sizes default,large] [--threads 1] [--users 3000]
                                         [--samples 16] [--epochs 40] [--patience 3] [--seed 0]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from neural_shop import CHOSEN, metrics_of, oracle_variants, persona_section

from seqrec.data.shop import make_shop_dataset
from seqrec.data.splits import EvalSet, leave_one_out
from seqrec.experiment import machine_meta
from seqrec.models.neural.sasrec import SASRec


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="default,large", help="comma-separated shop sizes")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--users", type=int, default=3000, help="test users on which the oracles are computed")
    parser.add_argument("--samples", type=int, default=16, help="Monte-Carlo draws of the due-date posterior")
    parser.add_argument("--epochs", type=int, default=40, help="epoch cap")
    parser.add_argument("--patience", type=int, default=3, help="early-stopping patience (epochs)")
    parser.add_argument("--seed", type=int, default=0, help="SASRec seed")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output folder")
    return parser.parse_args()


def subset(test: EvalSet, rows: np.ndarray) -> EvalSet:
    return EvalSet(test.histories.rows(rows), test.targets[rows], test.target_timestamps[rows])


def one_size(size: str, args: argparse.Namespace) -> dict[str, Any]:
    dataset = make_shop_dataset(size)
    split = leave_one_out(dataset.sequences)
    rng = np.random.default_rng(0)
    n_test = len(split.test)
    rows = np.sort(rng.choice(n_test, size=min(args.users, n_test), replace=False))
    test = subset(split.test, rows)
    start = time.perf_counter()
    oracle_scores, part_shares = oracle_variants(dataset.extras["world"], test, args.samples)
    oracle_seconds = time.perf_counter() - start
    oracle = {name: metrics_of(oracle_scores[name], test.targets, part_shares) for name in ("exact", "due_posterior")}
    print(f"{size}: oracle on {len(rows)} test users in {oracle_seconds:.0f} s: "
          f"{ {k: v['NDCG@10'] for k, v in oracle.items()} }", flush=True)

    config = {**CHOSEN, "epochs": args.epochs, "patience": args.patience, "seed": args.seed,
              "threads": args.threads, "progress": False, "exclude_history": dataset.exclude_history}
    model = SASRec(config)
    start = time.perf_counter()
    model.fit(split.train, split.valid)
    fit_seconds = time.perf_counter() - start
    training = model.training
    assert training is not None
    scores = model.score(test.histories)
    sasrec = metrics_of(np.asarray(scores, dtype=np.float32), test.targets, part_shares)
    persona = persona_section(model, dataset)
    row = {
        "size": size,
        "shoppers": len(dataset.sequences),
        "purchases": int(dataset.sequences.n_interactions),
        "test_users_scored": len(rows),
        "oracle": oracle,
        "oracle_seconds": round(oracle_seconds, 1),
        "sasrec_config": {k: v for k, v in config.items() if k not in ("progress",)},
        "sasrec": sasrec,
        "pct_of_oracle": round(100 * sasrec["NDCG@10"] / oracle["exact"]["NDCG@10"], 1),
        "pct_of_observable_oracle": round(100 * sasrec["NDCG@10"] / oracle["due_posterior"]["NDCG@10"], 1),
        "training": {
            "best_epoch": training.best_epoch,
            "epochs_run": len(training.records),
            "valid_NDCG@10": round(training.best_metric, 4),
            "fit_seconds": round(fit_seconds, 1),
            "mean_epoch_seconds": round(float(np.mean([r.seconds for r in training.records])), 2),
        },
        "persona": {key: persona[key] for key in ("category_share", "attention_by_category",
                                                   "attention_on_last_three_workout_items", "top10", "explanation")},
    }
    print(json.dumps({k: row[k] for k in ("size", "pct_of_oracle", "pct_of_observable_oracle", "training")}), flush=True)
    print(f"  persona top-10 shares {persona['category_share']}; attention on last three "
          f"{persona['attention_on_last_three_workout_items']}", flush=True)
    return row


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        "# SASRec on the shop world at several sizes, against the oracle",
        "",
        f"{meta['date']} · {meta['machine']} · threads {meta['threads']} · `{meta['command']}`",
        "",
        ("Leave-one-out, history kept, full ranking, pessimistic ties. Oracles and SASRec scored on the same "
        "test users (a random subset on the large world). 'observable oracle' = the oracle with the hidden "
        "re-buy due dates replaced by their posterior given the purchase times (`due_posterior` of "
        "`neural_shop.py`)."),
        "",
        ("| size | shoppers | purchases | test users | oracle NDCG@10 | observable oracle | SASRec NDCG@10 | % of oracle | "
        "% of observable | SASRec re-buy / journey / popular | best epoch / run | s/epoch | persona top-10 cat/baking/fitness/other | "
        "attention on last 3 (workout) |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["sizes"]:
        parts = row["sasrec"]["NDCG@10_by_part"]
        share = row["persona"]["category_share"]
        shares = "/".join(f"{100 * share[key]:.0f}" for key in ("cat supplies", "baking", "fitness", "other"))
        lines.append(
            f"| {row['size']} | {row['shoppers']} | {row['purchases']} | {row['test_users_scored']} | "
            f"{row['oracle']['exact']['NDCG@10']:.4f} | {row['oracle']['due_posterior']['NDCG@10']:.4f} | "
            f"{row['sasrec']['NDCG@10']:.4f} | {row['pct_of_oracle']:.1f} | {row['pct_of_observable_oracle']:.1f} | "
            f"{parts['re-buy']:.3f} / {parts['journey']:.3f} / {parts['popular']:.3f} | "
            f"{row['training']['best_epoch']} / {row['training']['epochs_run']} | {row['training']['mean_epoch_seconds']:.1f} | "
            f"{shares} | {row['persona']['attention_on_last_three_workout_items']:.2f} |"
        )
    for row in report["sizes"]:
        lines += ["", f"**{row['size']}**, persona top-10: " + "; ".join(
            f"{entry['title']} ({entry['category']})" for entry in row["persona"]["top10"]),
            "", f"Explanation: {row['persona']['explanation']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    sizes = [size.strip() for size in args.sizes.split(",") if size.strip()]
    rows = [one_size(size, args) for size in sizes]
    report = {
        "meta": machine_meta("python " + " ".join(shlex.quote(a) for a in sys.argv), args.threads)
        | {"load_average_1min": round(os.getloadavg()[0], 2), "total_seconds": round(time.perf_counter() - started, 1)},
        "sizes": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "neural_shop_scale.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "neural_shop_scale.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
