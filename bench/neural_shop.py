"""SASRec on the shop world, measured against the oracle and against what is observable.

Protocol: ``make_shop_dataset("default")`` (1,500 shoppers, 546 items), leave-one-out split,
history *kept* (``exclude_history=False``, as the dataset says: consumables are re-bought), full
ranking with pessimistic ties. Early stopping on validation NDCG@10; every choice of config is made
on validation NDCG@10 only; test numbers are reported for the chosen configs.

What it measures
----------------
1. **The oracle and how much of it is hidden information.** Besides the oracle itself (the
   generator's exact next-item distribution), three weaker "oracles" that drop one piece of hidden
   state each and are otherwise exact:

   * ``due_posterior``: the exact re-buy due dates of the consumables currently owned are
     replaced by their posterior given what the data shows (the purchase times): kept on a cycle
     with the generator's keep probability, due uniformly in ``t + cycle * [0.8, 1.2]`` but after
     the last observed purchase (it has not been re-bought yet); the next-item distribution is the
     Monte-Carlo average over ``--samples`` draws. Phases and journeys stay exact.
   * ``no_future_phases``: the oracle does not know that the shopper's interest will change (the
     current phase runs forever).
   * ``both`` of the above.

   Every test target is also split by the generator's mixture part it came from: a re-buy of a
   consumable on its cycle (exact: an item on a cycle is never a regular candidate) or a regular
   purchase (journey step, journey start, popular in the phase, noise; weighted by each part's
   share of the target's probability). NDCG@10 is reported per part for the oracle and SASRec.
2. **SASRec** with (a) the walkthrough's capped settings (``configs/shop.toml``), (b) the config
   chosen by a small validation-only search without a batch cap (``--search`` reruns the search;
   otherwise the recorded winners ``CHOSEN`` / ``FAST`` are used and the search tables of the
   previous results file are carried over, with its date and command), (c) the best of three
   configs that train in about 10 s. Each is also scored with the durable goods a shopper
   already owns masked (the catalogue's public consumable flag; the shop never sells them twice).
   For each: test NDCG@10 / HR@10 and % of the oracle, NDCG@10 on re-buys vs. regular purchases,
   the persona ``blog_author``'s top-10 with categories, and SASRec's attention over her history.

usage: python bench/neural_shop.py [--threads 1] [--seeds 0] [--search] [--samples 64]
                                   [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqrec.data.shop import (
    ShopperProfile,
    ShopWorld,
    dense_distribution,
    make_shop_dataset,
    next_purchase_parts,
)
from seqrec.data.splits import EvalSet, Split, leave_one_out
from seqrec.data.types import Dataset, SequenceData
from seqrec.evaluation.metrics import hit_rate, ndcg, pessimistic_ranks
from seqrec.evaluation.protocol import evaluate_model
from seqrec.experiment import machine_meta
from seqrec.models.neural.sasrec import SASRec
from seqrec.models.oracle import posterior_due_draws, with_dues

ROOT = Path(__file__).resolve().parent.parent
PART_KINDS = ("re-buy", "journey", "journey start", "popular", "noise")
STORY = ("cat supplies", "baking", "fitness")

# The search (validation NDCG@10 only; seed 0; no batch cap; early stopping, patience 5).
# Round 1 varies one setting at a time around lr=4e-3; round 2 combines the winners.
SEARCH_COMMON: dict[str, Any] = {"epochs": 200, "patience": 5}
SEARCH_GRID: list[dict[str, Any]] = [
    {"lr": 0.002},
    {"lr": 0.004},
    {"lr": 0.008},
    {"lr": 0.004, "max_len": 20},
    {"lr": 0.004, "max_len": 100},
    {"lr": 0.004, "max_len": 200},
    {"lr": 0.004, "dim": 128},
    {"lr": 0.002, "dim": 128},
    {"lr": 0.004, "dropout": 0.1},
    {"lr": 0.004, "dropout": 0.4},
    {"lr": 0.004, "n_layers": 1},
    {"lr": 0.004, "n_layers": 3},
    {"lr": 0.004, "loss": "bce", "n_negatives": 1, "negatives_per_position": True},  # the paper's loss
    {"lr": 0.004, "loss": "sampled_softmax", "n_negatives": 256},
]
# Configs that train in ~10 s on the default world with 1 thread (candidates for configs/shop.toml),
# also chosen on validation NDCG@10.
FAST_GRID: list[dict[str, Any]] = [
    {"epochs": 10, "patience": 3, "lr": 0.004, "dropout": 0.1},
    {"epochs": 16, "patience": 3, "lr": 0.004, "dropout": 0.1, "n_layers": 1},
    {"epochs": 10, "patience": 3, "lr": 0.008, "dropout": 0.1, "batch_size": 128},
]
# The winners of the last search (used without --search; see bench/results/neural_shop.md).
CHOSEN: dict[str, Any] = {"epochs": 200, "patience": 5, "lr": 0.004, "dim": 128}
FAST: dict[str, Any] = FAST_GRID[2]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds for the reported SASRec runs")
    parser.add_argument("--search", action="store_true", help="rerun the validation-only config search")
    parser.add_argument("--samples", type=int, default=64, help="Monte-Carlo draws of the due-date posterior")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output folder")
    return parser.parse_args()


# -- the oracle and its weaker variants ----------------------------------------------------------
def current_phase_forever(profile: ShopperProfile, now: float) -> ShopperProfile:
    """The profile cut after the phase active at ``now`` (which then never ends)."""
    last = profile.phase_at(now) + 1
    return ShopperProfile(
        profile.join_time, profile.phase_starts[:last], profile.phase_categories[:last], profile.phase_rates[:last]
    )


def oracle_variants(world: ShopWorld, test: EvalSet, n_samples: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Scores ``[B, n_items + 1]`` of the oracle and its weaker variants, and ``[B, 5]`` the share of
    each mixture part (``PART_KINDS``) in each test target's probability."""
    catalog, n_items = world.catalog, world.n_items
    rng = np.random.default_rng(seed)
    histories = test.histories
    names = ("exact", "due_posterior", "no_future_phases", "both")
    scores = {name: np.empty((len(test), n_items + 1), dtype=np.float32) for name in names}
    part_shares = np.zeros((len(test), len(PART_KINDS)))
    for row in range(len(test)):
        found = world.identify(histories.sequence(row), int(histories.users[row]))
        assert found is not None, f"test history {row} is not a prefix of any shopper"
        subject, n_history = found
        state = world.replay(subject, n_history)
        parts = next_purchase_parts(catalog, subject.profile, state, subject.horizon)
        target = int(test.targets[row])
        for part in parts:
            part_shares[row, PART_KINDS.index(part.kind)] += part.mass * float(part.probs[part.items == target].sum())
        part_shares[row] /= part_shares[row].sum()
        short = current_phase_forever(subject.profile, state.time)
        scores["exact"][row] = dense_distribution(parts, n_items)
        scores["no_future_phases"][row] = dense_distribution(next_purchase_parts(catalog, short, state, subject.horizon), n_items)
        draws = posterior_due_draws(world, subject, n_history, rng, n_samples)
        averaged = {"due_posterior": np.zeros(n_items + 1), "both": np.zeros(n_items + 1)}
        for sample in range(n_samples):
            sampled = with_dues(state, draws, sample)
            for name, profile in (("due_posterior", subject.profile), ("both", short)):
                averaged[name] += dense_distribution(next_purchase_parts(catalog, profile, sampled, subject.horizon), n_items)
        for name, total in averaged.items():
            scores[name][row] = total / n_samples
    for name in names:
        scores[name][:, 0] = -np.inf
    return scores, part_shares


def similar_shoppers_next(dataset: Dataset, min_cat_items: int = 8) -> dict[str, Any]:
    """What the data says about the persona without time: the next purchase of every shopper prefix
    whose last three purchases are fitness after at least ``min_cat_items`` cat-supply purchases."""
    sequences, categories = dataset.sequences, dataset.categories
    next_category: dict[str, int] = {}
    rebuys = 0
    for user in range(len(sequences)):
        items = sequences.sequence(user)
        labels = [str(categories[item]) for item in items]
        for position in range(3, len(items)):
            if labels[position - 3 : position] == ["fitness"] * 3 and labels[:position].count("cat supplies") >= min_cat_items:
                next_category[labels[position]] = next_category.get(labels[position], 0) + 1
                rebuys += int(items[position] in items[:position])
    total = sum(next_category.values())
    return {"prefixes": total, "next_category": dict(sorted(next_category.items(), key=lambda kv: -kv[1])),
            "next_is_rebuy": rebuys}


def ndcg_by_part(per_user_ndcg: np.ndarray, part_shares: np.ndarray) -> dict[str, float]:
    """NDCG@10 averaged over re-buy targets and over regular targets (weighted by part shares)."""
    rebuy = part_shares[:, 0]
    out = {"re-buy": float((per_user_ndcg * rebuy).sum() / rebuy.sum())}
    out["regular"] = float((per_user_ndcg * (1 - rebuy)).sum() / (1 - rebuy).sum())
    for index, kind in enumerate(PART_KINDS[1:], start=1):
        weight = part_shares[:, index]
        out[kind] = float((per_user_ndcg * weight).sum() / weight.sum())
    return {key: round(value, 4) for key, value in out.items()}


def without_owned_durables(scores: np.ndarray, histories: SequenceData, dataset: Dataset) -> np.ndarray:
    """``scores`` with the durable goods of each history set to ``-inf`` (the shop never sells a
    durable twice; consumables stay). Uses only the catalogue's public consumable flag."""
    durable = dataset.extras["world"].catalog.cycle_days == 0  # [n_items + 1]
    for row in range(len(histories)):
        history = histories.sequence(row)
        scores[row, history[durable[history]]] = -np.inf
    return scores


def metrics_of(scores: np.ndarray, targets: np.ndarray, part_shares: np.ndarray) -> dict[str, Any]:
    ranks = pessimistic_ranks(scores, targets)
    per_user = ndcg(ranks, 10)
    return {
        "NDCG@10": round(float(per_user.mean()), 4),
        "HR@10": round(float(hit_rate(ranks, 10).mean()), 4),
        "NDCG@10_by_part": ndcg_by_part(per_user, part_shares),
    }


# -- SASRec ------------------------------------------------------------------------------------------
def walkthrough_config() -> dict[str, Any]:
    """The ``[sasrec]`` section of the walkthrough's settings (what ``seqrec walkthrough`` trains)."""
    with open(ROOT / "src" / "seqrec" / "walkthrough" / "shop.toml", "rb") as handle:
        return dict(tomllib.load(handle).get("sasrec", {}))


def fit_sasrec(overrides: dict[str, Any], seed: int, threads: int, split: Split) -> tuple[SASRec, float]:
    config = {**overrides, "seed": seed, "threads": threads, "progress": False, "exclude_history": False}
    model = SASRec(config)
    start = time.perf_counter()
    model.fit(split.train, split.valid)
    return model, time.perf_counter() - start


def training_summary(model: SASRec, fit_seconds: float) -> dict[str, Any]:
    training = model.training
    assert training is not None
    return {
        "valid_NDCG@10": round(training.best_metric, 4),
        "best_epoch": training.best_epoch,
        "epochs_run": len(training.records),
        "fit_seconds": round(fit_seconds, 1),
        "seconds_to_best_epoch": round(training.seconds_to_best, 1),
        "mean_epoch_seconds": round(float(np.mean([r.seconds for r in training.records])), 2),
    }


def category_share(categories: list[str]) -> dict[str, float]:
    """Share of a top-10 in each story category, the rest under ``"other"``."""
    shares = {category: categories.count(category) / len(categories) for category in STORY}
    shares["other"] = sum(category not in STORY for category in categories) / len(categories)
    return shares


def persona_section(model: SASRec, dataset: Dataset) -> dict[str, Any]:
    """The persona's top-10 (history kept) with categories, and the attention over her history."""
    persona = dataset.extras["personas"]["blog_author"]
    items = [int(i) for i in persona.items]
    history = SequenceData.from_lists([items], dataset.n_items, [[int(t) for t in persona.timestamps]], users=[-1])
    top10 = model.recommend(history, 10, exclude_history=dataset.exclude_history)[0].tolist()
    categories = [str(dataset.categories[i]) for i in top10]
    weights = model.attention_over_history(items)
    tail = items[len(items) - len(weights) :]
    tail_categories = [str(dataset.categories[item]) for item in tail]
    attention: list[dict[str, Any]] = [
        {"position": len(items) - len(tail) + offset, "title": str(dataset.titles[item]),
         "category": category, "weight": round(float(weight), 4)}
        for offset, (item, category, weight) in enumerate(zip(tail, tail_categories, weights))
    ]
    by_category = {
        c: round(float(sum(w for w, tc in zip(weights, tail_categories) if tc == c)), 4) for c in STORY
    }
    last_three = round(float(weights[-3:].sum()), 4)
    explanation = model.explain(items, top10[0])
    return {
        "top10": [{"title": str(dataset.titles[i]), "category": c} for i, c in zip(top10, categories)],
        "category_share": category_share(categories),
        "attention": attention,
        "attention_by_category": by_category,
        "attention_on_last_three_workout_items": last_three,
        "explanation": explanation.summary,
    }


def report_sasrec(
    label: str, overrides: dict[str, Any], seeds: list[int], threads: int, split: Split, dataset: Dataset,
    oracle_ndcg: float, oracle_hr: float, part_shares: np.ndarray,
) -> dict[str, Any]:
    runs = []
    for seed in seeds:
        model, seconds = fit_sasrec(overrides, seed, threads, split)
        test = evaluate_model(model, split.test, dataset.exclude_history, split.train.item_counts())
        per_user = test.per_user["NDCG@10"]
        run = {
            "seed": seed,
            **training_summary(model, seconds),
            "test_NDCG@10": round(test.metrics["NDCG@10"], 4),
            "test_HR@10": round(test.metrics["HR@10"], 4),
            "NDCG@10_pct_of_oracle": round(100 * test.metrics["NDCG@10"] / oracle_ndcg, 1),
            "HR@10_pct_of_oracle": round(100 * test.metrics["HR@10"] / oracle_hr, 1),
            "NDCG@10_by_part": ndcg_by_part(per_user, part_shares),
            "owned_durables_masked": metrics_of(
                without_owned_durables(model.score(split.test.histories), split.test.histories, dataset),
                split.test.targets,
                part_shares,
            ),
        }
        if seed == seeds[0]:
            run["persona"] = persona_section(model, dataset)
        runs.append(run)
        print(f"sasrec[{label}] seed={seed}: test NDCG@10 {run['test_NDCG@10']} ({run['NDCG@10_pct_of_oracle']}% of oracle), "
              f"HR@10 {run['test_HR@10']}, fit {run['fit_seconds']}s", flush=True)
    ndcgs = [run["test_NDCG@10"] for run in runs]
    return {"label": label, "config": overrides, "runs": runs,
            "test_NDCG@10_mean": round(float(np.mean(ndcgs)), 4), "test_NDCG@10_std": round(float(np.std(ndcgs)), 4)}


def run_search(threads: int, split: Split, grid: list[dict[str, Any]], common: dict[str, Any]) -> list[dict[str, Any]]:
    """Train every candidate with seed 0; validation metrics only."""
    rows = []
    for candidate in grid:
        overrides = {**common, **candidate}
        model, seconds = fit_sasrec(overrides, 0, threads, split)
        row = {"config": candidate, **training_summary(model, seconds)}
        print(f"search {json.dumps(candidate)}: valid NDCG@10 {row['valid_NDCG@10']} (epoch {row['best_epoch']}, {row['fit_seconds']}s)", flush=True)
        rows.append(row)
    return rows


# -- output --------------------------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    oracle = report["oracle"]
    lines = [
        "# SASRec on the shop world, against the oracle",
        "",
        (f"{report['meta']['date']} · {report['meta']['machine']} · threads {report['meta']['threads']} · "
        f"`{report['meta']['command']}`"),
        "",
        (f"Default shop world ({report['data']['users']} shoppers, {report['data']['items']} items), leave-one-out, "
        "history kept (re-buys count), full ranking, pessimistic ties."),
        "",
        "## The oracle and the hidden information",
        "",
        f"Test targets by generator part: {report['target_part_shares']}.",
        "",
        ("NDCG@10 by the part of the generator's mixture each target came from (weighted by the part's share "
        "of the target's probability): re-buy, regular (= journey + journey start + popular + noise)."),
        "",
        "| scorer | NDCG@10 | % of oracle | HR@10 | re-buy | regular | journey | journey start | popular | noise |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    exact = oracle["exact"]["NDCG@10"]
    rows = [(f"oracle: {name}", row["NDCG@10"], row["HR@10"], row["NDCG@10_by_part"]) for name, row in oracle.items()]
    for block in report["sasrec"]:
        run = block["runs"][0]
        rows.append((f"SASRec {block['label']}, seed {run['seed']}", run["test_NDCG@10"], run["test_HR@10"], run["NDCG@10_by_part"]))
        masked = run["owned_durables_masked"]
        rows.append((f"SASRec {block['label']}, seed {run['seed']}, owned durables masked", masked["NDCG@10"], masked["HR@10"],
                     masked["NDCG@10_by_part"]))
    for name, ndcg10, hr10, parts in rows:
        lines.append(
            f"| {name} | {ndcg10:.4f} | {100 * ndcg10 / exact:.1f} | {hr10:.4f} | "
            + " | ".join(f"{parts[kind]:.4f}" for kind in ("re-buy", "regular", *PART_KINDS[1:])) + " |"
        )
    lines += ["", "## SASRec runs", "", "| config | seeds | test NDCG@10 (mean ± std) | valid NDCG@10 | best epoch / run | fit s |", "| --- | --- | --- | --- | --- | --- |"]
    for block in report["sasrec"]:
        runs = block["runs"]
        lines.append(
            f"| {block['label']}: `{json.dumps(block['config'])}` | {len(runs)} | {block['test_NDCG@10_mean']:.4f} ± {block['test_NDCG@10_std']:.4f} | "
            f"{runs[0]['valid_NDCG@10']:.4f} | {runs[0]['best_epoch']} / {runs[0]['epochs_run']} | {runs[0]['fit_seconds']} |"
        )
    similar = report["similar_shoppers"]
    lines += ["", "## What the data says about a history like blog_author's (no timestamps)", "",
              (f"Shopper prefixes ending in three fitness purchases after >= 8 cat-supply purchases: {similar['prefixes']}; "
              f"next purchase by category {similar['next_category']}; re-buys of an item in the history: {similar['next_is_rebuy']}.")]
    if report.get("fast_search"):
        lines += ["", "## ~10 s configs (seed 0, validation only)", "", "| candidate | valid NDCG@10 | best epoch | fit s |", "| --- | --- | --- | --- |"]
        for row in report["fast_search"]:
            lines.append(f"| `{json.dumps(row['config'])}` | {row['valid_NDCG@10']:.4f} | {row['best_epoch']} | {row['fit_seconds']} |")
    if report.get("search"):
        lines += ["", f"## Validation-only search (seed 0, no batch cap, patience 5; run: {report['search_source']})", "", "| candidate | valid NDCG@10 | best epoch | fit s |", "| --- | --- | --- | --- |"]
        for row in report["search"]:
            lines.append(f"| `{json.dumps(row['config'])}` | {row['valid_NDCG@10']:.4f} | {row['best_epoch']} | {row['fit_seconds']} |")
    for block in report["sasrec"]:
        persona = block["runs"][0]["persona"]
        lines += ["", f"## blog_author, SASRec {block['label']}", "", f"Top-10 shares: {persona['category_share']}", ""]
        lines += [f"{rank}. {row['title']} ({row['category']})" for rank, row in enumerate(persona["top10"], start=1)]
        lines += ["", (f"Attention by category: {persona['attention_by_category']}; on the last three (workout) purchases: "
                  f"{persona['attention_on_last_three_workout_items']}."), "", "| pos | item | category | weight |", "| --- | --- | --- | --- |"]
        lines += [f"| {a['position']} | {a['title']} | {a['category']} | {a['weight']:.3f} |" for a in persona["attention"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    dataset = make_shop_dataset("default")
    world = dataset.extras["world"]
    split = leave_one_out(dataset.sequences)

    oracle_scores, part_shares = oracle_variants(world, split.test, args.samples)
    oracle = {name: metrics_of(scores, split.test.targets, part_shares) for name, scores in oracle_scores.items()}
    for name, row in oracle.items():
        print(f"oracle {name}: {row}", flush=True)
    exact = oracle["exact"]
    search = run_search(args.threads, split, SEARCH_GRID, SEARCH_COMMON) if args.search else []
    fast_search = run_search(args.threads, split, FAST_GRID, {}) if args.search else []
    search_source = "this run"
    previous = Path(args.out) / "neural_shop.json"
    if not args.search and previous.exists():
        # Without --search the recorded search is carried over (CHOSEN / FAST are its winners).
        old = json.loads(previous.read_text())
        search, fast_search = old.get("search", []), old.get("fast_search", [])
        search_source = old.get("search_source", "this run")
        search_source = f"{old['meta']['date']} ({old['meta']['command']})" if search_source == "this run" else search_source
    chosen, fast = CHOSEN, FAST
    if search:
        chosen = {**SEARCH_COMMON, **max(search, key=lambda row: row["valid_NDCG@10"])["config"]}
        fast = max(fast_search, key=lambda row: row["valid_NDCG@10"])["config"]
    blocks = [
        report_sasrec(label, overrides, seeds, args.threads, split, dataset, exact["NDCG@10"], exact["HR@10"], part_shares)
        for label, overrides in (("walkthrough (configs/shop.toml)", walkthrough_config()), ("fast", fast), ("chosen", chosen))
    ]
    report = {
        "meta": machine_meta("python " + " ".join(shlex.quote(a) for a in sys.argv), args.threads)
        | {"load_average_1min": round(os.getloadavg()[0], 2), "total_seconds": round(time.perf_counter() - started, 1)},
        "data": {"name": "shop default", "users": len(dataset.sequences), "items": dataset.n_items,
                 "split": split.description, "exclude_history": dataset.exclude_history},
        "target_part_shares": {kind: round(float(share), 4) for kind, share in zip(PART_KINDS, part_shares.mean(axis=0))},
        "oracle": oracle,
        "search": search,
        "fast_search": fast_search,
        "search_source": search_source,
        "similar_shoppers": similar_shoppers_next(dataset),
        "sasrec": blocks,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "neural_shop.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "neural_shop.md").write_text(markdown(report))
    print(f"wrote {out / 'neural_shop.json'} and {out / 'neural_shop.md'}")


if __name__ == "__main__":
    main()
