"""SASRec trained on 1 and on N processes (PyTorch DDP, gloo, CPU): seconds per epoch and the
metrics after the same number of epochs.

For each process count the script runs the real command, ``seqrec train sasrec --holdout``
(with ``--ddp --nproc-per-node N`` for N > 1; one process is the plain trainer, which is what
DDP reduces to), for exactly ``--epochs`` epochs (patience above the epoch count, so nothing
stops early), and reads the artifact it writes: the per-epoch training seconds (validation
excluded; it runs on rank 0 alone) and the leave-one-out validation and test HR@10 / NDCG@10 of
the project's evaluation protocol (full ranking, history excluded as the dataset says, best
validation epoch's weights). ``batch_size`` is the global batch, so every run makes the same
updates up to float summation order, and to dropout: SASRec's default dropout (0.2) draws other
masks on ranks other than 0, so the metrics of N processes agree with one process's
statistically, not to the digit (with ``dropout = 0`` they agree to float tolerance). Peak memory is the largest
resident size of any one process of the run (launcher or worker), read from the kernel's
accounting of the run's finished descendants.

Usage (the lead's real run, on a quiet machine)::

    python bench/ddp_sasrec.py --dataset shop:xl --epochs 2 --procs 1,2 --threads 1

Writes ``bench/results/ddp_sasrec.{json,md}`` (``--name`` changes the stem; use another name
for smoke runs so the recorded result is not overwritten).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results

METRICS = ("HR@10", "NDCG@10")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="shop:xl", help="Dataset name or path (as for seqrec train).")
    parser.add_argument("--epochs", type=int, default=2, help="Epochs every run trains (no early stopping).")
    parser.add_argument("--procs", default="1,2", help="Comma-separated process counts.")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per process.")
    parser.add_argument("--batch-size", type=int, default=128, help="Global batch (windows per optimizer step).")
    parser.add_argument("--max-len", type=int, default=50, help="SASRec max_len.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ddp-timeout",
        type=float,
        default=3600.0,
        help="seqrec train --ddp-timeout: the other ranks wait for rank 0's validation pass (long on 10M).",
    )
    parser.add_argument("--name", default="ddp_sasrec", help="Results file stem under bench/results/.")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="Seconds one run may take before it is stopped.")
    arguments = parser.parse_args(argv)
    arguments.procs = [int(value) for value in arguments.procs.split(",")]
    if arguments.epochs < 1 or arguments.threads < 1 or any(p < 1 for p in arguments.procs):
        parser.error("--epochs, --threads and every --procs value must be at least 1")
    return arguments


def config_text(arguments: argparse.Namespace) -> str:
    """The SASRec settings of every run (SASRec's defaults otherwise)."""
    return (
        "[sasrec]\n"
        f"epochs = {arguments.epochs}\n"
        f"patience = {arguments.epochs + 1}\n"  # never stops early: every run trains --epochs epochs
        f"batch_size = {arguments.batch_size}\n"
        f"max_len = {arguments.max_len}\n"
        f"seed = {arguments.seed}\n"
        "progress = false\n"
    )


def command(arguments: argparse.Namespace, procs: int, config: Path, out: Path) -> list[str]:
    words = [sys.executable, "-m", "seqrec", "train", "sasrec", "--dataset", arguments.dataset, "--holdout"]
    words += ["--threads", str(arguments.threads), "--config", str(config), "--out", str(out)]
    if procs > 1:
        words += ["--ddp", "--nproc-per-node", str(procs), "--ddp-timeout", str(arguments.ddp_timeout)]
    return words


def measured_run(words: list[str], timeout: float) -> dict[str, Any]:
    """Run ``words`` in a fresh child of this script, so the kernel's peak-RSS figure of the run's
    descendants covers that run alone; returns exit code, wall seconds and that peak (MiB)."""
    probe = (
        "import json, resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'code': code, 'wall_seconds': time.perf_counter() - start, 'peak_rss_mib': peak}))\n"
    )
    environment = {**os.environ, "OMP_NUM_THREADS": words[words.index("--threads") + 1]}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        environment.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", probe, *words], check=False, stdout=subprocess.PIPE, text=True, env=environment, timeout=timeout
    )
    lines = done.stdout.strip().splitlines()
    print("\n".join(lines[:-1]), flush=True)  # what seqrec printed
    return dict(json.loads(lines[-1]))


def run_summary(
    procs: int, measured: dict[str, Any], training: dict[str, Any], records: list[dict[str, Any]]
) -> dict[str, Any]:
    """One run's row: ``training`` is the artifact manifest's training facts, ``records`` the epochs."""
    train_seconds = [record["train_seconds"] for record in records]
    return {
        "procs": procs,
        "world_size": training.get("distributed", {}).get("world_size", 1),
        "epochs": training["epochs"],
        "best_epoch": training["best_epoch"],
        "train_seconds_per_epoch": train_seconds,
        "median_train_seconds_per_epoch": round(statistics.median(train_seconds), 3) if train_seconds else None,
        "median_epoch_seconds_with_validation": training["epoch_seconds"],
        "fit_seconds": training["fit_seconds"],
        "valid": {name: training["valid"][name] for name in METRICS},
        "test": {name: training["test"][name] for name in METRICS},
        "peak_rss_mib_largest_process": round(measured["peak_rss_mib"], 1),
        "wall_seconds": round(measured["wall_seconds"], 1),
    }


def epoch_records(out: Path) -> list[dict[str, Any]]:
    """The per-epoch records the artifact stores with the model (``training.records``)."""
    from seqrec.serving.artifact import load_artifact

    training = load_artifact(out).model.training
    return [] if training is None else [vars(record) for record in training.records]


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        f"# SASRec under DDP (gloo, CPU) on {report['dataset']}: {report['epochs']} epochs",
        "",
        (f"{meta['date']}; {meta['cpu']} ({meta['logical_cpus']} logical CPUs), {meta['threads']} torch "
        f"thread(s) per process, load at start {meta['load_at_start']}; torch {meta.get('torch', '?')}."),
        (f"Command: `{meta['command']}`. Global batch {report['batch_size']}, max_len {report['max_len']}; "
        "metrics: leave-one-out, full ranking, history excluded as the dataset says."),
        "",
        ("| processes | train s/epoch (median) | speed-up | epoch s with validation | valid HR@10 | valid NDCG@10 "
        "| test HR@10 | test NDCG@10 | best epoch | peak RSS, largest process (MiB) | wall s |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    base = report["runs"][0]["median_train_seconds_per_epoch"] if report["runs"] else None
    for run in report["runs"]:
        seconds = run["median_train_seconds_per_epoch"]
        speedup = f"{base / seconds:.2f}x" if base and seconds else ""
        lines.append(
            f"| {run['procs']} | {seconds} | {speedup} | {run['median_epoch_seconds_with_validation']} "
            f"| {run['valid']['HR@10']:.4f} | {run['valid']['NDCG@10']:.4f} | {run['test']['HR@10']:.4f} "
            f"| {run['test']['NDCG@10']:.4f} | {run['best_epoch']} | {run['peak_rss_mib_largest_process']} "
            f"| {run['wall_seconds']} |"
        )
    lines += [
        "",
        ("One process is the plain trainer (DDP with one rank reduces to it); N > 1 is `seqrec train --ddp "
        "--nproc-per-node N`: each rank steps on N-th of every global batch, gradients all-reduced, "
        "validation on rank 0 (the others wait, so 'epoch s with validation' gains less). "
            "Dropout masks differ between the runs, so their metrics agree statistically, not to the digit."),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    meta = machine_info(arguments.threads)
    runs = []
    with tempfile.TemporaryDirectory(prefix="ddp_sasrec.") as folder:
        config = Path(folder) / "sasrec.toml"
        config.write_text(config_text(arguments))
        for procs in arguments.procs:
            out = Path(folder) / f"artifact_{procs}"
            print(f"== {procs} process(es)", flush=True)
            measured = measured_run(command(arguments, procs, config, out), arguments.timeout)
            if measured["code"] != 0:
                raise SystemExit(f"the {procs}-process run failed with exit code {measured['code']}")
            training = json.loads((out / "manifest.json").read_text())["training"]
            runs.append(run_summary(procs, measured, training, epoch_records(out)))
    report = {
        "meta": meta,
        "dataset": arguments.dataset,
        "epochs": arguments.epochs,
        "batch_size": arguments.batch_size,
        "max_len": arguments.max_len,
        "runs": runs,
    }
    json_path, markdown_path = write_results(arguments.name, report, markdown(report))
    print(markdown(report))
    print(f"wrote {json_path} and {markdown_path}")


if __name__ == "__main__":
    main()
