"""Artifact size and load time of every deployable model, trained on the default shop world.

For each registered model that can be saved (the oracles are references, not deployable): train it
with ``seqrec train`` on every shopper's whole history, using the walkthrough's quick settings
(``src/seqrec/walkthrough/shop.toml``), then measure the artifact folder's size (and its largest
file) and the time ``seqrec.load`` takes in a fresh process, after the imports (median of 3
processes). Prints a table and writes ``bench/results/artifact_sizes.{json,md}``.

    python bench/artifact_sizes.py [--dataset shop] [--models a,b] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "src" / "seqrec" / "walkthrough" / "shop.toml"

LOAD = """
import sys, time
import numpy, torch, seqrec.serving.artifact as artifact  # imports are not part of the load time
start = time.perf_counter()
predictor = artifact.load_artifact(sys.argv[1])
print(time.perf_counter() - start)
"""


def deployable(names: list[str] | None) -> list[str]:
    from seqrec.models import REGISTRY

    chosen = names or list(REGISTRY)
    return [name for name in chosen if not REGISTRY[name].capabilities.needs_world]


def measure(name: str, dataset: str, threads: int, folder: Path) -> dict:
    start = time.perf_counter()
    command = [sys.executable, "-c", "from seqrec.cli import main; main()", "train", name, "--dataset", dataset,
               "--out", str(folder), "--config", str(CONFIG), "--threads", str(threads)]
    subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    train_seconds = time.perf_counter() - start
    files = {path.name: path.stat().st_size for path in folder.iterdir()}
    loads = [float(subprocess.run([sys.executable, "-c", LOAD, str(folder)], check=True, capture_output=True, text=True).stdout)
             for _ in range(3)]
    largest = max(files, key=lambda f: files[f])
    return {
        "model": name,
        "bytes": sum(files.values()),
        "largest_file": largest,
        "largest_bytes": files[largest],
        "files": files,
        "load_seconds_median": round(statistics.median(loads), 4),
        "train_seconds": round(train_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="shop")
    parser.add_argument("--models", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in deployable(args.models.split(",") if args.models else None):
            row = measure(name, args.dataset, args.threads, Path(tmp) / name)
            rows.append(row)
            print(f"{name:12s} {row['bytes'] / 1024:9.1f} KiB  largest {row['largest_file']} "
                  f"{row['largest_bytes'] / 1024:.1f} KiB  load {1000 * row['load_seconds_median']:.1f} ms", flush=True)
    meta = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "command": "python bench/artifact_sizes.py " + " ".join(sys.argv[1:]),
        "dataset": args.dataset,
    }
    out = ROOT / "bench" / "results"
    (out / "artifact_sizes.json").write_text(json.dumps({**meta, "models": rows}, indent=2) + "\n")
    lines = [
        f"# Artifact sizes and load times ({args.dataset})",
        "",
        "`seqrec train MODEL` with the walkthrough's settings on every shopper's whole history; load = "
        "`seqrec.load` in a fresh process after importing numpy, torch and seqrec.serving.artifact (the model's own module is imported inside the load, which is most of the ~1 s of the networks), median of 3.",
        "",
        "| model | size KiB | largest file | load ms |",
        "| --- | --- | --- | --- |",
        *[f"| {r['model']} | {r['bytes'] / 1024:.1f} | {r['largest_file']} ({r['largest_bytes'] / 1024:.1f} KiB) | "
          f"{1000 * r['load_seconds_median']:.1f} |" for r in rows],
        "",
        f"Machine: {meta['machine']}; date: {meta['date']}; threads: {args.threads}; load average: "
        f"{', '.join(f'{x:.2f}' for x in meta['load_average'])}; command: `{meta['command']}`",
        "",
    ]
    (out / "artifact_sizes.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
