"""Does a refactor change any result? The ML-100K leave-one-out leaderboard of every model, compared.

Runs ``seqrec benchmark --dataset ml-100k --split loo`` from a given source tree (``--src``, so the
same script can run the code before and after a change) with the settings of
``configs/ml-100k.toml`` — same seeds, same configs — except that the neural networks' epochs are
capped (``--epochs``, default 3) so that both runs finish in minutes; the code paths they exercise
(batching, losses, validation, early stopping, scoring, ranking, metrics) are the same. Then it
compares every metric of every model with a reference run and prints the differences.

    # before the change, from a checkout of the old commit:
    python bench/contract_equivalence.py --src /path/to/old/src --save bench/results/contract_equivalence_before.json
    # after it:
    python bench/contract_equivalence.py --save bench/results/contract_equivalence_after.json \
        --compare bench/results/contract_equivalence_before.json

The oracles need the shop world's generator, so they are compared on it:
``--dataset shop:tiny --models oracle,oracle-observable`` (default settings).

Exit code 1 when any metric differs by more than ``--tolerance``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPARED = ("HR@5", "NDCG@5", "MRR@5", "HR@10", "NDCG@10", "MRR@10", "HR@20", "NDCG@20", "MRR@20",
            "coverage@10", "avg_popularity@10", "n_users")


def capped_config(epochs: int) -> str:
    """configs/ml-100k.toml with every table's ``epochs`` capped (TOML text)."""
    tables = tomllib.loads((ROOT / "configs" / "ml-100k.toml").read_text())
    lines = []
    for model, values in tables.items():
        if "epochs" in values:
            values = {**values, "epochs": min(int(values["epochs"]), epochs)}
        lines.append(f"[{model}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def run(src: Path, epochs: int, threads: int, models: str | None, dataset: str = "ml-100k") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "capped.toml"
        config.write_text(capped_config(epochs) if dataset == "ml-100k" else "")
        command = [sys.executable, "-m", "seqrec.cli", "benchmark", "--dataset", dataset, "--split", "loo",
                   "--config", str(config), "--out", tmp, "--threads", str(threads)]
        if models:
            command += ["--models", models]
        env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "200"}
        subprocess.run(command, check=True, env=env, cwd=ROOT)
        board = json.loads(next(Path(tmp).glob("*-loo.json")).read_text())
    return {row["model"]: {key: row[key] for key in COMPARED if key in row} for row in board["leaderboard"]}


def compare(after: dict, before: dict, tolerance: float) -> list[str]:
    problems = []
    for model in sorted(set(before) | set(after)):
        if model not in after or model not in before:
            problems.append(f"{model}: only in {'before' if model in before else 'after'}")
            continue
        for key, old in before[model].items():
            new = after[model].get(key)
            if new is None or abs(float(new) - float(old)) > tolerance:
                problems.append(f"{model} {key}: before {old}, after {new}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the seqrec source tree to run")
    parser.add_argument("--epochs", type=int, default=3, help="cap on the neural networks' epochs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default=None, help="comma-separated subset (default: all that run on the dataset)")
    parser.add_argument("--dataset", default="ml-100k", help="ml-100k (with configs/ml-100k.toml) or e.g. shop:tiny (defaults)")
    parser.add_argument("--save", type=Path, required=True, help="JSON file for this run's metrics")
    parser.add_argument("--compare", type=Path, default=None, help="a JSON file saved by an earlier run")
    parser.add_argument("--tolerance", type=float, default=1e-9)
    args = parser.parse_args()

    git = subprocess.run(["git", "-C", str(args.src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    metrics = run(args.src.resolve(), args.epochs, args.threads, args.models, args.dataset)
    record = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "threads": args.threads,
        "load_average": os.getloadavg(),
        "command": " ".join(sys.argv),
        "src_commit": git.stdout.strip(),
        "dataset": args.dataset,
        "epochs_cap": args.epochs,
        "models": metrics,
    }
    if args.compare is not None:
        before = json.loads(args.compare.read_text())["models"]
        problems = compare(metrics, before, args.tolerance)
        record["compared_with"] = str(args.compare)
        record["differences"] = problems
        print(f"{len(metrics)} models compared with {args.compare}: {len(problems)} difference(s)")
        for line in problems:
            print("  " + line)
    args.save.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.save.with_name(f".{args.save.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(args.save)
    print(f"wrote {args.save}")
    return 1 if record.get("differences") else 0


if __name__ == "__main__":
    raise SystemExit(main())
