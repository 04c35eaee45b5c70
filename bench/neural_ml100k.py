"""Benchmark the era-2 neural networks (and UniSRec, era 3) on MovieLens-100K.

Protocol: ``load_dataset("ml-100k")`` (5-core, history excluded as the dataset says),
leave-one-out split, full ranking over the whole catalogue with pessimistic ties. Each model has a
few candidate configs (below); every candidate is trained with the first seed and early-stopped on
validation NDCG@10, the one with the best *validation* NDCG@10 is kept, and only that one is run
with the remaining seeds and evaluated on the test targets.

The contrastive models (CL4SRec, DuoRec) are also run with ``contrast_weight=0`` on the chosen
config and the same seeds (the same encoder and loss without the contrastive term): the ablation
that says whether the contrastive loss helps.

Every invocation writes one log per model, ``<out>/<name>_<model>.json`` (after every run, so an
interrupted benchmark keeps what finished); ``--assemble`` gathers the per-model logs into
``<out>/<name>.json`` and ``.md`` (per-epoch times, best epoch, wall time to the best epoch, machine,
thread count, load average, date and the command of every model's own run). With ``--previous``,
a model without a log takes its result from an earlier report (its own date and command are kept).

usage: python bench/neural_ml100k.py [--models sasrec,gru4rec,...] [--seeds 0,1,2] [--threads 1]
                                     [--first-candidate-only] [--ablation-seeds 0,1,2] [--set JSON]
                                     [--out bench/results] [--name neural_ml100k]
       python bench/neural_ml100k.py --assemble [--previous OLD_REPORT.json]
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
from _common import machine_info  # the bench scripts' one description of the machine

from seqrec.data.datasets import load_dataset
from seqrec.data.splits import Split, leave_one_out
from seqrec.evaluation.protocol import evaluate_model
from seqrec.models.neural.bert4rec import BERT4Rec
from seqrec.models.neural.caser import Caser
from seqrec.models.neural.cl4srec import CL4SRec
from seqrec.models.neural.duorec import DuoRec
from seqrec.models.neural.gru4rec import GRU4Rec
from seqrec.models.neural.narm import NARM
from seqrec.models.neural.nextitnet import NextItNet
from seqrec.models.neural.recommender import NeuralRecommender
from seqrec.models.neural.sasrec import SASRec
from seqrec.models.neural.srgnn import SRGNN
from seqrec.models.neural.unisrec import UniSRec

MODELS: dict[str, type[NeuralRecommender]] = {
    "sasrec": SASRec,
    "gru4rec": GRU4Rec,
    "bert4rec": BERT4Rec,
    "narm": NARM,
    "caser": Caser,
    "nextitnet": NextItNet,
    "srgnn": SRGNN,
    "cl4srec": CL4SRec,
    "duorec": DuoRec,
    "unisrec": UniSRec,
}
CONTRASTIVE = ("cl4srec", "duorec")
ITEMS: dict[str, Any] = {}
"""The dataset's item information (titles, genres: UniSRec's item text), set by data_description."""
TUNED = Path(__file__).resolve().parent.parent / "configs" / "tuned" / "ml-100k" / "loo"

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
    # Caser reads only the last L=5 items plus the mean of the history (history_summary).
    "caser": [
        {"dim": 64, "dropout": 0.5, "batch_size": 64, "lr": 1e-3, "epochs": 30},
        {"dim": 64, "dropout": 0.3, "batch_size": 64, "lr": 3e-3, "epochs": 30},
    ],
    "nextitnet": [
        {"dim": 64, "batch_size": 64, "lr": 1e-3, "epochs": 30},
        {"dim": 64, "batch_size": 64, "lr": 3e-3, "epochs": 30},
    ],
    # NARM and SR-GNN train on every prefix (~99k examples, ~60 s/epoch at 1 thread): an epoch is
    # bounded to 50 random batches of 128 (6,400 prefixes), so "epoch" means that here.
    "narm": [
        {"max_len": 50, "batch_size": 128, "max_batches_per_epoch": 50, "lr": 1e-3, "epochs": 40},
        {"max_len": 50, "batch_size": 128, "max_batches_per_epoch": 50, "lr": 3e-3, "epochs": 40},
    ],
    "srgnn": [
        {"max_len": 50, "dim": 64, "batch_size": 128, "max_batches_per_epoch": 50, "lr": 1e-3, "epochs": 40},
        {"max_len": 50, "dim": 64, "batch_size": 128, "max_batches_per_epoch": 50, "lr": 3e-3, "epochs": 40},
    ],
    # The contrastive models read 50 items (the papers' and RecBole's setting; at 200 an epoch of
    # CL4SRec's three encoder passes takes ~30 s at 1 thread). One config each for the CPU budget;
    # the contrast_weight=0 ablation runs on the chosen config.
    "cl4srec": [
        {"max_len": 50, "dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2, "attention_dropout": 0.2,
         "contrast_weight": 0.1, "batch_size": 64, "lr": 2e-3, "epochs": 25},
    ],
    "duorec": [
        {"max_len": 50, "dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2, "attention_dropout": 0.2,
         "contrast_weight": 0.1, "batch_size": 64, "lr": 2e-3, "epochs": 25},
    ],
    # Transductive UniSRec (MiniLM embeddings of title, year and genres + an id embedding) on
    # SASRec's encoder settings; the official temperature 0.07 and a softer one.
    "unisrec": [
        {"mode": "transductive", "dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2, "batch_size": 64, "lr": 4e-3, "temperature": 0.07},
        {"mode": "transductive", "dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2, "batch_size": 64, "lr": 2e-3, "temperature": 0.07},
        {"mode": "transductive", "dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2, "batch_size": 64, "lr": 4e-3, "temperature": 0.2},
    ],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (the first selects the config)")
    parser.add_argument(
        "--ablation-seeds", default=None, help="seeds of the contrast_weight=0 ablation (default: --seeds)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--set", default="{}", help='JSON object of config fields applied to every candidate, e.g. \'{"contrast_weight": 0.01}\''
    )
    parser.add_argument("--first-candidate-only", action="store_true", help="skip the config selection")
    parser.add_argument(
        "--tuned",
        action="store_true",
        help="the only candidate is the config `seqrec tune` saved in configs/tuned/ml-100k/loo/",
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output folder")
    parser.add_argument("--name", default="neural_ml100k", help="base name of the result files")
    parser.add_argument("--assemble", action="store_true", help="gather the per-model logs into one report")
    parser.add_argument("--previous", default=None, help="earlier report to take models without a log from")
    return parser.parse_args()


def run_one(name: str, overrides: dict[str, Any], seed: int, threads: int, split: Split, exclude: bool) -> dict[str, Any]:
    """Train one config with one seed; validation-selected epoch evaluated on the test set."""
    config = {**COMMON, **overrides, "seed": seed, "threads": threads, "progress": False, "exclude_history": exclude}
    model = MODELS[name](config)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    model.fit(split.train, split.valid, items=ITEMS.get("items"))
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


def test_summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and (population) standard deviation over seeds of the headline test metrics."""
    summary = {}
    for metric in ("HR@10", "NDCG@10", "MRR@10", "HR@20", "NDCG@20"):
        values = [run["test"][metric] for run in runs]
        summary[metric] = {"mean": round(float(np.mean(values)), 6), "std": round(float(np.std(values)), 6)}
    return summary


class ModelLog:
    """One model's result, rewritten to ``<out>/<name>_<model>.json`` after every run."""

    def __init__(self, path: Path, name: str, header: dict[str, Any]) -> None:
        self.path = path
        self.result: dict[str, Any] = {"model": name, **header, "selection": [], "runs": []}

    def save(self) -> None:
        self.path.write_text(json.dumps(self.result, indent=2) + "\n")


def benchmark_model(
    name: str,
    seeds: list[int],
    ablation_seeds: list[int],
    split: Split,
    exclude: bool,
    first_only: bool,
    overrides: dict[str, Any],
    log: ModelLog,
    tuned: bool = False,
) -> dict[str, Any]:
    threads = int(log.result["machine"]["threads"])
    result = log.result
    if tuned:
        # The Optuna search already compared configs on validation: its trials are the selection.
        saved = json.loads((TUNED / f"{name}.json").read_text())
        candidates = [{**saved["config"], **overrides}]
        result["tuning"] = {
            "budget": saved.get("budget"),
            "trials": [{"config": t["config"], "valid_ndcg10": t["value"], "seconds": t["seconds"]} for t in saved["trials"]],
        }
    else:
        candidates = [{**config, **overrides} for config in (CANDIDATES[name][:1] if first_only else CANDIDATES[name])]
    selection: list[dict[str, Any]] = []
    for candidate in candidates:
        selection.append(run_one(name, candidate, seeds[0], threads, split, exclude))
        result["selection"] = [{"config": run["config"], "valid_ndcg10": run["valid_ndcg10"]} for run in selection]
        log.save()
    chosen = max(selection, key=lambda run: run["valid_ndcg10"])
    result["chosen_config"] = {**COMMON, **chosen["config"]}
    runs = [chosen]
    for seed in seeds[1:]:
        result["runs"], result["test_summary"] = runs, test_summary(runs)
        result["seconds_to_best_epoch"] = [run["seconds_to_best_epoch"] for run in runs]
        log.save()
        runs.append(run_one(name, chosen["config"], seed, threads, split, exclude))
    result["runs"], result["test_summary"] = runs, test_summary(runs)
    result["seconds_to_best_epoch"] = [run["seconds_to_best_epoch"] for run in runs]
    log.save()
    if name in CONTRASTIVE:
        without = {**chosen["config"], "contrast_weight": 0.0}
        ablation: list[dict[str, Any]] = []
        for seed in ablation_seeds:
            ablation.append(run_one(name, without, seed, threads, split, exclude))
            result["ablation_no_contrast"] = {"config": without, "runs": ablation, "test_summary": test_summary(ablation)}
            log.save()
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    log.save()
    return result


def mean_std(summary: dict[str, dict[str, float]], metric: str) -> str:
    return f"{summary[metric]['mean']:.4f} ± {summary[metric]['std']:.4f}"


def table_row(label: str, runs: list[dict[str, Any]], summary: dict[str, dict[str, float]]) -> str:
    return (
        f"| {label} | {len(runs)} | {mean_std(summary, 'HR@10')} | {mean_std(summary, 'NDCG@10')} "
        f"| {summary['MRR@10']['mean']:.4f} "
        f"| {np.mean([r['valid_ndcg10'] for r in runs]):.4f} "
        f"| {', '.join(str(r['best_epoch']) for r in runs)} "
        f"| {np.mean([r['mean_epoch_seconds'] for r in runs]):.1f} "
        f"| {', '.join(str(round(r['seconds_to_best_epoch'])) for r in runs)} |"
    )


def supplementary_lines(supplementary: list[dict[str, Any]]) -> list[str]:
    """Extra runs outside the selection (``--set`` variants), each with its log and command."""
    if not supplementary:
        return []
    lines = [
        "",
        "## Supplementary runs (not part of the selection; config changes given by --set)",
        "",
        "| log | model | seeds | test HR@10 | test NDCG@10 | test MRR@10 | valid NDCG@10 | best epoch | s/epoch | s to best epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in supplementary:
        lines.append(f"| {result['log']} " + table_row(result["model"], result["runs"], result["test_summary"]))
    lines.append("")
    for result in supplementary:
        lines.append(f"- {result['log']}: `{result['command']}` ({result['date']})")
    return lines


def contrast_lines(results: list[dict[str, Any]]) -> list[str]:
    """Test NDCG@10 with the contrastive loss minus without it, seed by seed (same seeds, same config)."""
    lines = []
    for result in results:
        ablation = result.get("ablation_no_contrast")
        if not ablation:
            continue
        without = {run["seed"]: run["test"]["NDCG@10"] for run in ablation["runs"]}
        paired = [(run["seed"], run["test"]["NDCG@10"] - without[run["seed"]]) for run in result["runs"] if run["seed"] in without]
        weight = result["chosen_config"].get("contrast_weight")
        lines.append(
            f"- **{result['model']}**: test NDCG@10 with contrast_weight={weight} minus with 0, per seed: "
            + ", ".join(f"seed {seed}: {delta:+.4f}" for seed, delta in paired)
        )
    return ["", "## Does the contrastive loss help? (same encoder, same seeds)", "", *lines] if lines else []


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        "# Neural models on ML-100K",
        "",
        f"- assembled: {report['date']} by `{report['command']}`",
        f"- data: {report['data']}",
        (
            f"- machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, "
            f"torch {machine['torch']}, threads={machine['threads']} per run; other jobs may have run "
            "beside these (load averages below): s/epoch and s to best epoch are wall times under that "
            "load; `bench/neural_epoch_times.py` measures per-epoch times on a quiet machine"
        ),
        (
            "- protocol: leave-one-out, full ranking over the catalogue, pessimistic ties, history items "
            "excluded; config chosen on validation NDCG@10 only (first seed), then test metrics over 3 "
            "seeds (mean ± population std)"
        ),
        (
            "- NARM and SR-GNN train on every prefix: their 'epoch' is 50 random batches of 128 prefixes "
            "(`max_batches_per_epoch=50`), not a pass over the data"
        ),
        "",
        "| model | seeds | test HR@10 | test NDCG@10 | test MRR@10 | valid NDCG@10 | best epoch | s/epoch | s to best epoch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in report["results"]:
        lines.append(table_row(result["model"], result["runs"], result["test_summary"]))
        ablation = result.get("ablation_no_contrast")
        if ablation:
            lines.append(table_row(f"{result['model']} (contrast_weight=0)", ablation["runs"], ablation["test_summary"]))
    lines += contrast_lines(report["results"])
    lines += supplementary_lines(report.get("supplementary", []))
    if report["missing"]:
        lines += ["", f"Not run (no log): {', '.join(report['missing'])}."]
    lines += ["", "## Runs: date, command, load average", ""]
    for result in report["results"]:
        lines.append(
            f"- **{result['model']}**: {result['date']}, `{result['command']}`, load average (1, 5, 15 min) "
            f"at start {result.get('load_average_start')} / end {result.get('load_average_end')}"
        )
    lines += ["", "## Chosen configs and the validation comparison", ""]
    for result in report["results"]:
        lines.append(f"- **{result['model']}**: `{json.dumps(result['chosen_config'])}`")
        tuning = result.get("tuning")
        if tuning:
            budget = tuning.get("budget") or {}
            lines.append(
                f"  - `seqrec tune`: {len(tuning['trials'])} Optuna trials (budget {budget.get('trials')} trials / "
                f"{budget.get('timeout_seconds')} s, threads {budget.get('threads')}; trial 0 = base config), "
                "valid NDCG@10 and fit+eval seconds:"
            )
            for trial in tuning["trials"]:
                lines.append(f"    - {trial['valid_ndcg10']:.4f} ({trial['seconds']:.0f} s): `{json.dumps(trial['config'])}`")
            continue
        for candidate in result["selection"]:
            lines.append(f"  - valid NDCG@10 {candidate['valid_ndcg10']:.4f}: `{json.dumps(candidate['config'])}`")
    return "\n".join(lines) + "\n"


def run_header(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv]),
        "machine": machine_info(args.threads),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def data_description() -> tuple[Split, bool, str]:
    dataset = load_dataset("ml-100k")
    ITEMS["items"] = dataset.item_info()
    split = leave_one_out(dataset.sequences)
    description = (
        f"{dataset.name}: {dataset.n_users} users, {dataset.n_items} items, "
        f"{dataset.sequences.n_interactions} interactions; {split.description}; "
        f"exclude_history={dataset.exclude_history}"
    )
    return split, dataset.exclude_history, description


def from_previous(previous: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A model's result from an earlier single-file report, with that report's provenance."""
    for result in previous["results"]:
        if result["model"] == name:
            provenance = {key: previous[key] for key in ("date", "command", "machine", "data")}
            provenance["load_average_start"] = previous.get("load_average_start")
            provenance["load_average_end"] = previous.get("load_average_end")
            return {**result, **provenance}
    return None


def assemble(args: argparse.Namespace) -> None:
    out = Path(args.out)
    previous = json.loads(Path(args.previous).read_text()) if args.previous else None
    results, missing = [], []
    for name in MODELS:
        path = out / f"{args.name}_{name}.json"
        if not path.exists() and previous is not None and (earlier := from_previous(previous, name)):
            path.write_text(json.dumps(earlier, indent=2) + "\n")
        if path.exists() and json.loads(path.read_text()).get("runs"):
            results.append(json.loads(path.read_text()))
        else:
            missing.append(name)
    main_logs = {out / f"{args.name}_{name}.json" for name in MODELS}
    supplementary = []
    for path in sorted(out.glob(f"{args.name}_*.json")):
        extra = json.loads(path.read_text()) if path not in main_logs else {}
        if extra.get("runs"):
            supplementary.append({**extra, "log": path.name})
    report = {
        **run_header(args),
        "data": results[0]["data"] if results else "",
        "results": results,
        "supplementary": supplementary,
        "missing": missing,
    }
    (out / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{args.name}.md").write_text(markdown(report))
    print(markdown(report))


def main() -> None:
    args = parse_args()
    if args.assemble:
        assemble(args)
        return
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        sys.exit(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    ablation_text = args.seeds if args.ablation_seeds is None else args.ablation_seeds
    ablation_seeds = [int(seed) for seed in ablation_text.split(",") if seed.strip()]
    overrides = json.loads(args.set)
    torch.set_num_threads(args.threads)
    split, exclude, description = data_description()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        log = ModelLog(out / f"{args.name}_{name}.json", name, {**run_header(args), "data": description})
        benchmark_model(name, seeds, ablation_seeds, split, exclude, args.first_candidate_only, overrides, log, args.tuned)


if __name__ == "__main__":
    main()
