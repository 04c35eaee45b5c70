"""Training recipes for SASRec, GRU4Rec and BERT4Rec on ML-100K, compared on validation (issue 14).

Each candidate is a set of config overrides on top of the model's defaults, trained by the peer
harness's own runner (``bench/peers/seqrec_run.py --set``; its run folder, with the test scores,
goes to ``bench/peers/work/recipes/`` so the chosen recipe's runs enter ``results/peers.md`` as
they are) with the harness's stopping rule (``bench/peers/peer_configs.STOPPING``: patience 10, at most 200
epochs) on seqrec's ML-100K leave-one-out split, one thread. A run records the best epoch's
validation NDCG@10 (what chooses), the test HR/NDCG@10 (what is reported, never used to choose),
the epochs and the seconds. Runs are kept in ``results/recipes_ml100k_runs.json`` (a rerun with
the same model, overrides and seed is read back, not trained again), and ``--report`` writes
``results/recipes_ml100k.{json,md}``: per candidate the mean and spread over its seeds, and per
model the candidate with the best mean validation NDCG@10 over 3 seeds (the recipe that goes to
``configs/ml-100k.toml``). Candidates with one seed are screens, not choices.

usage:
  .venv/bin/python bench/recipes_ml100k.py --model gru4rec --set '{"dropout_hidden": 0}' --seeds 0,1,2 --tag no-hidden-dropout
  .venv/bin/python bench/recipes_ml100k.py --report
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, RunLog, machine_info, write_results

HERE = Path(__file__).resolve().parent
RUNS = RESULTS / "recipes_ml100k_runs.json"
SCREENS = RESULTS / "recipes_ml100k_screens.json"
"""The first screens (2026-12-01, 16:52-17:40 UTC), run with the same training code and stopping
rule by a scratch script before this one existed, with one RecBole job beside them (load ≈ 2);
their numbers are rounded to 4 digits and they have no run folder."""
FOLDERS = HERE / "peers" / "work" / "recipes"
"""Each candidate run's harness folder (``run.json``, ``test_scores.npy``; gitignored)."""
MODELS = ("sasrec", "gru4rec", "bert4rec")


def folder(model: str, tag: str, seed: int) -> Path:
    return FOLDERS / f"{model}_{tag}_seed{seed}"


def train(model: str, overrides: dict[str, Any], seed: int, threads: int, tag: str) -> dict[str, Any]:
    """One candidate run through the peer harness's runner (``peers/seqrec_run.py``), so that its
    test scores can go into ``results/peers.md`` as they are; returns the run log's record."""
    out = folder(model, tag, seed)
    if not (out / "run.json").exists():
        command = [
            sys.executable, str(HERE / "peers" / "seqrec_run.py"), "--model", model, "--config", "defaults",
            "--set", json.dumps(overrides), "--label", f"recipe {tag}", "--seed", str(seed),
            "--threads", str(threads), "--cap-minutes", "60", "--out", str(out),
        ]
        subprocess.run(command, check=True)
    return record_of(out, model, tag, overrides)


def record_of(out: Path, model: str, tag: str, overrides: dict[str, Any]) -> dict[str, Any]:
    run = json.loads((out / "run.json").read_text())
    training = run["training"]
    return {
        "model": model,
        "tag": tag,
        "config": overrides,
        "seed": run["seed"],
        "valid_ndcg10": training["valid_ndcg10"],
        "test_hr10": round(run["own_test"]["HR@10"], 6),
        "test_ndcg10": round(run["own_test"]["NDCG@10"], 6),
        "best_epoch": training["best_epoch"],
        "epochs_run": training["epochs_run"],
        "seconds": round(run["fit_seconds"], 1),
        "seconds_to_best": round(training["seconds_to_best"], 1),
        "s_per_epoch": training["mean_epoch_seconds"],
        "threads": run["threads"],
        "load_at_start": run.get("load_average_start"),
        "load_at_end": run.get("load_average_end"),
        "date": run.get("date"),
        "run_folder": str(out.relative_to(HERE.parent)),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["model"], json.dumps(run["config"], sort_keys=True)), []).append(run)
    candidates = []
    for (model, config), members in groups.items():
        def stats(key: str, members: list[dict[str, Any]] = members) -> dict[str, float]:
            values = [m[key] for m in members]
            return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4),
                    "min": round(float(min(values)), 4), "max": round(float(max(values)), 4)}

        candidates.append({
            "model": model,
            "tag": members[0]["tag"],
            "config": json.loads(config),
            "seeds": sorted(m["seed"] for m in members),
            "valid_ndcg10": stats("valid_ndcg10"),
            "test_ndcg10": stats("test_ndcg10"),
            "test_hr10": stats("test_hr10"),
            "best_epochs": [m["best_epoch"] for m in members],
            "s_per_epoch": stats("s_per_epoch"),
            "seconds_to_best": stats("seconds_to_best"),
            "loads": [m["load_at_start"][0] if m.get("load_at_start") else None for m in members],
        })
    chosen = {}
    for model in MODELS:
        full = [c for c in candidates if c["model"] == model and len(c["seeds"]) >= 3]
        if full:
            chosen[model] = max(full, key=lambda c: c["valid_ndcg10"]["mean"])["tag"]
    return {"candidates": candidates, "chosen": chosen}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Training recipes on ML-100K (issue 14)",
        "",
        f"- written {report['machine']['date']} by `{report['machine']['command']}`; runs from `bench/recipes_ml100k.py --model M --set JSON --seeds S` (each run's load average is in the json)",
        "- data: seqrec's `load_dataset(\"ml-100k\")`, leave-one-out, full ranking, history excluded, pessimistic ties; 943 users",
        "- every run: the model's defaults + the candidate's overrides, patience 10, at most 200 epochs, best epoch restored, 1 thread",
        "- chosen on the **mean validation NDCG@10 over 3 seeds**; test is reported, never used to choose; one-seed rows are screens",
        "",
        "| model | candidate | overrides | seeds | valid NDCG@10 | test NDCG@10 | test HR@10 | best epochs | s/epoch | s to best |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    order = sorted(report["candidates"], key=lambda c: (MODELS.index(c["model"]) if c["model"] in MODELS else 9, -len(c["seeds"]), -c["valid_ndcg10"]["mean"]))
    for c in order:
        mark = " **chosen**" if report["chosen"].get(c["model"]) == c["tag"] else ""
        def fmt(s: dict[str, float]) -> str:
            return f"{s['mean']:.4f}" if s["min"] == s["max"] else f"{s['mean']:.4f} ± {s['std']:.4f}"
        lines.append(
            f"| {c['model']} | {c['tag']}{mark} | `{json.dumps(c['config'])}` | {','.join(map(str, c['seeds']))} "
            f"| {fmt(c['valid_ndcg10'])} | {fmt(c['test_ndcg10'])} | {fmt(c['test_hr10'])} "
            f"| {', '.join(map(str, c['best_epochs']))} | {c['s_per_epoch']['mean']:.1f} | {c['seconds_to_best']['mean']:.0f} |"
        )
    lines += ["", "Seconds are wall time on the 2-core machine while one other 1-thread job (the peer sweep) ran beside it (load ≈ 2): compare them within this table only.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help=f"a registered network ({', '.join(MODELS)}; others for encoder screens)")
    parser.add_argument("--set", default="{}", help="config overrides as JSON")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--tag", default="", help="a short name for the candidate")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="write results/recipes_ml100k.{json,md} from the runs")
    args = parser.parse_args()
    log = RunLog(RUNS, resume=True)
    if args.model:
        overrides = json.loads(args.set)
        tag = args.tag or (json.dumps(overrides, sort_keys=True) if overrides else "defaults")
        for seed in (int(s) for s in args.seeds.split(",")):
            run = log.run(args.model, overrides, seed, lambda seed=seed: train(args.model, overrides, seed, args.threads, tag))
            print(json.dumps({k: run[k] for k in ("model", "tag", "seed", "valid_ndcg10", "test_ndcg10", "best_epoch", "seconds")}), flush=True)
    if args.report or not args.model:
        screens = json.loads(SCREENS.read_text()) if SCREENS.exists() else []
        report = {"machine": machine_info(args.threads), **summarise(log.runs + screens)}
        json_path, md_path = write_results("recipes_ml100k", report, markdown(report))
        print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
