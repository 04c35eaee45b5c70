"""ONNX export of every neural network: does it export, does onnxruntime score as PyTorch, how fast.

Each neural model of the registry is trained briefly on ``--dataset`` (default shop:tiny; max_len
50, dim 64, ``--epochs`` 3: export fidelity and speed do not need a good model), exported with
:func:`seqrec.serving.export.export_onnx` (torch's dynamo exporter first, the TorchScript one
for what ``torch.export`` cannot trace) and checked: the largest absolute score difference from
``model.checked_scores`` on 64 random histories and on the dataset's real (leave-one-out test)
histories. Then the latency of one batch of ``--batch`` real histories, median of ``--repeats``:
onnxruntime (CPU, ``--threads`` intra-op threads) against the same graph in PyTorch (the exported
module's forward under ``torch.no_grad``, ``--threads`` torch threads) and ``model.score`` (what
seqrec serves: it also drops leading all-padding columns for the networks that allow it).

Writes ``onnx_export.json`` and ``onnx_export.md`` to ``--out``.

usage: python bench/onnx_export.py [--dataset shop:tiny] [--models sasrec,gru4rec,...] [--epochs 3]
                                   [--batch 256] [--threads 1] [--repeats 20] [--out bench/results]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ann_recall import (  # bench/ is the script's folder, on sys.path
    bench_meta,
    load_average,
    write_report,
)

from seqrec.data.datasets import load_dataset
from seqrec.data.splits import leave_one_out
from seqrec.models import REGISTRY
from seqrec.models.neural.recommender import NeuralRecommender
from seqrec.serving.export import TOLERANCE, export_onnx, onnx_inputs, onnx_session, scoring_module

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    neural = [name for name in REGISTRY if issubclass(REGISTRY[name], NeuralRecommender)]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shop:tiny")
    parser.add_argument("--models", default=",".join(neural), help="comma-separated neural models (default: all)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256, help="histories per timed batch")
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args()


def median_ms(call: Callable[[], Any], repeats: int) -> float:
    call()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def one_model(name: str, dataset: Any, split: Any, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    config = {"max_len": 50, "dim": 64, "epochs": args.epochs, "threads": args.threads, "progress": False}
    start = time.perf_counter()
    model = REGISTRY[name](config).fit(split.train, items=dataset.item_info())
    row: dict[str, Any] = {"model": name, "fit_seconds": round(time.perf_counter() - start, 1)}
    real = split.test.histories
    try:
        result = export_onnx(model, folder / f"{name}.onnx", real_histories=real)
    except Exception as error:  # noqa: BLE001 - a model that does not export is a row of the report
        return {**row, "exported": False, "error": str(error)[:500]}
    batch = real.rows(np.arange(min(args.batch, len(real))))
    inputs = onnx_inputs(batch, model.config.max_len)
    session = onnx_session(result.path, threads=args.threads)
    module = scoring_module(model)
    tensor = torch.from_numpy(inputs)

    def torch_forward() -> Any:
        with torch.no_grad():
            return module(tensor)

    row.update(
        exported=True,
        exporter=result.exporter,
        export_seconds=result.seconds,
        onnx_bytes=result.bytes,
        max_abs_diff_random=result.max_abs_diff_random,
        max_abs_diff_real=result.max_abs_diff_real,
        n_real_histories=len(real),
        batch=len(batch),
        onnxruntime_ms=median_ms(lambda: session.run(None, {"input_ids": inputs}), args.repeats),
        torch_graph_ms=median_ms(torch_forward, args.repeats),
        model_score_ms=median_ms(lambda: model.score(batch), args.repeats),
    )
    row["speed_up_vs_torch_graph"] = row["torch_graph_ms"] / row["onnxruntime_ms"]
    print(f"  {name}: {result.exporter}, diff {max(result.max_abs_diff_random, result.max_abs_diff_real or 0):.2g}, "
          f"ort {row['onnxruntime_ms']:.1f} ms, torch {row['torch_graph_ms']:.1f} ms, score {row['model_score_ms']:.1f} ms", flush=True)
    return row


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        "# ONNX export of the neural networks",
        "",
        (f"{meta['machine']}; {meta['date']}; {meta['threads']} thread(s) for torch and onnxruntime; "
        f"load average {meta['load_before']} before, {meta['load_after']} after; {meta['versions']}."),
        f"Command: `{meta['command']}`",
        "",
        (f"Each model trained {meta['epochs']} epochs on {meta['dataset']} (max_len 50, dim 64). Max abs diff: "
        f"onnxruntime vs `model.checked_scores` over all real items' scores (tolerance {TOLERANCE:g}), on 64 random "
        f"histories and on the {meta['n_real_histories']} leave-one-out test histories. Latency: one batch of "
        f"{meta['batch']} real histories, median of {meta['repeats']}; `torch graph` is the exported module in PyTorch, "
        "`model.score` what seqrec serves (it drops leading all-padding columns where the network allows it)."),
        "",
        "| model | exported | exporter | max abs diff (random) | max abs diff (real) | export s | ONNX MB | onnxruntime ms | torch graph ms | model.score ms | ORT speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["models"]:
        if not row["exported"]:
            lines.append(f"| {row['model']} | no: {row['error'][:160]} | | | | | | | | | |")
            continue
        lines.append(
            f"| {row['model']} | yes | {row['exporter']} | {row['max_abs_diff_random']:.2g} | {row['max_abs_diff_real']:.2g} | "
            f"{row['export_seconds']:.1f} | {row['onnx_bytes'] / 1e6:.2f} | {row['onnxruntime_ms']:.2f} | {row['torch_graph_ms']:.2f} | "
            f"{row['model_score_ms']:.2f} | {row['speed_up_vs_torch_graph']:.1f}x |"
        )
    lines += ["", *report["notes"], speed_note(report["models"]), ""]
    return "\n".join(lines)


def speed_note(rows: list[dict[str, Any]]) -> str:
    timed = [row for row in rows if row["exported"]]
    on_par = [row["model"] for row in timed if row["speed_up_vs_torch_graph"] >= 0.9]
    slower = [row["model"] for row in timed if row["speed_up_vs_torch_graph"] < 0.9]
    return (
        f"* Speed at this thread count: onnxruntime is within 10% of PyTorch or faster for {', '.join(on_par) or 'none'}, "
        f"slower for {', '.join(slower) or 'none'}; the export is for running the models outside Python and PyTorch "
        "(other runtimes, languages, hardware), not for speed on this CPU."
    )


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    load_before = load_average()
    dataset = load_dataset(args.dataset)
    split = leave_one_out(dataset.sequences)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            print(f"{name} …", flush=True)
            rows.append(one_model(name, dataset, split, args, Path(folder)))
    meta = bench_meta(
        ("torch", "onnx", "onnxscript", "onnxruntime"),
        load_before,
        threads=args.threads,
        dataset=args.dataset,
        epochs=args.epochs,
        batch=min(args.batch, len(split.test)),
        repeats=args.repeats,
        n_real_histories=len(split.test),
    )
    notes = [
        "Notes:",
        "",
        ("* Input `input_ids` int64 [batch, max_len] (the last max_len items, left-padded with 0), output `scores` "
        "float32 [batch, n_items + 1] with column 0 at -inf; the batch size is dynamic. BERT4Rec's graph appends its [mask] itself."),
        ("* `dynamo`: torch.onnx.export(dynamo=True), torch 2.13's default. `torchscript`: dynamo=False, used where torch.export "
        "cannot trace the network: GRU4Rec and NARM run their GRU over packed sequences (pack_padded_sequence)."),
        ("* Not exportable: the models without a torch network (Markov chains, ALS, BPR and the other factorisation "
        "models, the neighbourhood and rule models): their scores come from per-history solves or lookups in numpy/scipy."),
    ]
    write_report(args.out, "onnx_export", {"meta": meta, "models": rows, "notes": notes}, markdown)


if __name__ == "__main__":
    main()
