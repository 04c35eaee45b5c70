"""MovieLens-20M-shaped data through load, clean and split: wall time and peak memory per stage.

Generates (or reuses) a synthetic ML-20M-shaped ``ratings.csv`` / ``movies.csv`` of ``--rows``
ratings (:mod:`seqrec.data.synthetic_movielens`), then runs each stage in a fresh subprocess so
its peak resident memory is its own (``ru_maxrss`` of that process and whatever it started,
e.g. Spark's JVM), with MovieLens' default cleaning (5-core, history excluded):

* ``eager``: ``load_movielens`` + ``clean``, the in-memory path (skipped above ``--eager-max-rows``);
* ``streaming``: ``scan_movielens`` + ``clean_lazy``, the path ``load_dataset`` takes for the CSV
  releases; its sequences' fingerprint must equal the eager one when both ran;
* ``prepare-polars``: ``seqrec data prepare DIR --out OUT`` (load, streaming clean, write);
* ``split``: ``load_dataset(OUT)`` (the prepared folder) then leave-one-out, timed apart;
* ``prepare-spark``: ``seqrec data prepare --engine spark`` when PySpark is importable.

Expected bound (stated before the 20M run, from the 1M smoke run's per-row slope): the
streaming path stays under :data:`STREAMING_BOUND_GIB` GiB at 20M rows, a sixth of the 24 GiB
machine, and under the eager path's peak; the result table says whether it held.

    python bench/data_scale.py --rows 20000000 [--data DIR] [--seed 0] [--threads N]
                               [--eager-max-rows 20000000] [--name data_scale]

Writes ``bench/results/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine_info, write_results

STREAMING_BOUND_GIB = 4.0
"""The peak memory the streaming load + clean of 20M rows must stay under."""
MARKER = "generated.json"  # beside the CSVs: rows and seed they were made with


def _peak_mib() -> float:
    """Peak RSS of this process or of its largest finished child (Linux: KiB), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _summary(dataset: Any) -> dict[str, Any]:
    seqs = dataset.sequences
    return {
        "users": dataset.n_users,
        "items": dataset.n_items,
        "interactions": seqs.n_interactions,
        "fingerprint": seqs.fingerprint(),
    }


# =============================================================================================
# Stages (each runs in its own process: ``--stage NAME``)
# =============================================================================================
def stage_generate(args: argparse.Namespace) -> dict[str, Any]:
    from seqrec.data.synthetic_movielens import generate

    start = time.perf_counter()
    ratings, _ = generate(args.data, rows=args.rows, seed=args.seed)
    seconds = time.perf_counter() - start
    (Path(args.data) / MARKER).write_text(json.dumps({"rows": args.rows, "seed": args.seed}))
    return {"seconds": seconds, "ratings_mib": ratings.stat().st_size / 2**20}


def stage_eager(args: argparse.Namespace) -> dict[str, Any]:
    from seqrec.data.cleaning import clean
    from seqrec.data.datasets import MOVIELENS_OPTIONS
    from seqrec.data.loaders import load_movielens

    start = time.perf_counter()
    log, catalog = load_movielens(args.data)
    loaded = time.perf_counter()
    dataset = clean(log, catalog, MOVIELENS_OPTIONS, name="synthetic")
    done = time.perf_counter()
    return {"seconds": done - start, "load_s": loaded - start, "clean_s": done - loaded,
            **_summary(dataset)}  # fmt: skip


def stage_streaming(args: argparse.Namespace) -> dict[str, Any]:
    from seqrec.data.datasets import MOVIELENS_OPTIONS
    from seqrec.data.loaders.movielens import scan_movielens
    from seqrec.data.streaming import clean_lazy

    start = time.perf_counter()
    scanned = scan_movielens(args.data)
    if scanned is None:
        raise SystemExit(f"{args.data} is not a CSV MovieLens folder with epoch times")
    checked = time.perf_counter()
    dataset = clean_lazy(scanned[0], scanned[1], MOVIELENS_OPTIONS, name="synthetic")
    done = time.perf_counter()
    return {"seconds": done - start, "check_s": checked - start, "clean_s": done - checked,
            **_summary(dataset)}  # fmt: skip


def stage_prepare(args: argparse.Namespace, engine: str) -> dict[str, Any]:
    out = _prepared_dir(args, engine)
    command = [sys.executable, "-m", "seqrec.cli", "data", "prepare", str(args.data),
               "--out", str(out), "--engine", engine]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    tree_peak = _watch_tree(process)  # the CLI and what it starts (Spark's JVM is not reaped)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, command)
    seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"seconds": seconds, "out_mib": size / 2**20, "command": " ".join(command[1:]),
            "tree_peak_rss_mib": tree_peak}  # fmt: skip


def _watch_tree(process: subprocess.Popen[bytes], every_s: float = 0.2) -> float:
    """Wait for ``process``; the peak of the summed RSS of it and all its descendants, sampled
    every ``every_s`` seconds (MiB). A sampled peak may miss a spike shorter than a sample."""
    import psutil

    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            members = [root, *root.children(recursive=True)]
            total = sum(member.memory_info().rss for member in members)
        except psutil.Error:  # a member exited between listing and reading
            continue
        peak = max(peak, total)
        time.sleep(every_s)
    return peak / 2**20


def stage_split(args: argparse.Namespace) -> dict[str, Any]:
    from seqrec.data.datasets import load_dataset
    from seqrec.data.splits import leave_one_out

    start = time.perf_counter()
    dataset = load_dataset(_prepared_dir(args, "polars"))
    loaded = time.perf_counter()
    rss_loaded = _peak_mib()
    split = leave_one_out(dataset.sequences)
    done = time.perf_counter()
    return {"seconds": done - start, "read_prepared_s": loaded - start, "split_s": done - loaded,
            "peak_after_read_mib": rss_loaded, "test_users": len(split.test),
            **_summary(dataset)}  # fmt: skip


STAGES = {
    "generate": stage_generate,
    "eager": stage_eager,
    "streaming": stage_streaming,
    "prepare-polars": lambda args: stage_prepare(args, "polars"),
    "split": stage_split,
    "prepare-spark": lambda args: stage_prepare(args, "spark"),
}


def _prepared_dir(args: argparse.Namespace, engine: str) -> Path:
    return Path(args.data).parent / f"{Path(args.data).name}-prepared-{engine}"


def run_stage(args: argparse.Namespace) -> None:
    """Child side: run one stage, print its result (with peak RSS) as the last stdout line."""
    result = STAGES[args.stage](args)
    result["peak_rss_mib"] = max(_peak_mib(), result.get("tree_peak_rss_mib", 0.0))
    print(json.dumps(result))


# =============================================================================================
# Driver
# =============================================================================================
def spawn(args: argparse.Namespace, stage: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--stage", stage, "--rows", str(args.rows),
               "--seed", str(args.seed), "--data", str(args.data)]  # fmt: skip
    env = {**os.environ, "POLARS_MAX_THREADS": str(args.threads)} if args.threads else None
    start = time.perf_counter()
    done = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=args.stage_timeout, env=env
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        print(f"  {stage}: failed (exit {done.returncode}): {' | '.join(tail)}", flush=True)
        return {"stage": stage, "failed": True, "returncode": done.returncode, "error": tail}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(stage=stage, process_wall_s=wall)
    print(
        f"  {stage}: {result['seconds']:.1f} s, peak {result['peak_rss_mib']:.0f} MiB", flush=True
    )
    return result


def have_data(args: argparse.Namespace) -> bool:
    marker = Path(args.data) / MARKER
    try:
        made = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return made == {"rows": args.rows, "seed": args.seed}


def rerun_line(rerun: dict[str, Any]) -> str:
    machine = rerun["machine"]
    return (
        f"Rerun of {', '.join(rerun['stages'])}: {machine['date']}, load at start "
        f"{machine['load_at_start']}, `{machine['command']}`"
    )


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# MovieLens-20M-shaped data at {report['rows']:,} rows: load, clean, split",
        "",
        (
            f"Machine: {report['machine']['cpu']} ({report['machine']['logical_cpus']} logical "
            f"CPUs, {report['machine']['memory_gib']} GiB), {report['machine']['date']}, "
            f"load at start {report['machine']['load_at_start']}."
        ),
        f"Command: `{report['machine']['command']}`",
        *([rerun_line(report["rerun"])] if "rerun" in report else []),
        "",
        "| stage | time (s) | peak RSS (MiB) | users | items | interactions |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for stage in report["stages"]:
        if stage.get("failed") or stage.get("skipped"):
            why = "failed" if stage.get("failed") else stage["skipped"]
            lines.append(f"| {stage['stage']} | {why} | | | | |")
            continue
        counts = [f"{stage[k]:,}" if k in stage else "" for k in ("users", "items", "interactions")]
        lines.append(
            f"| {stage['stage']} | {stage['seconds']:.1f} | {stage['peak_rss_mib']:,.0f} | "
            + " | ".join(counts)
            + " |"
        )
    lines += ["", *[f"- {note}" for note in report["notes"]], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None, help="folder of the synthetic files")
    parser.add_argument("--eager-max-rows", type=int, default=20_000_000)
    parser.add_argument("--threads", type=int, default=0, help="POLARS_MAX_THREADS (0: all)")
    parser.add_argument("--stage-timeout", type=float, default=3600.0)
    parser.add_argument("--name", default="data_scale")
    parser.add_argument("--only", default="", help="comma-separated stages to run again; the "
                        "others are taken from the previous results file of --name")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data is None:
        args.data = Path(tempfile.gettempdir()) / f"seqrec-ml-synthetic-{args.rows}-{args.seed}"
    if args.stage:
        run_stage(args)
        return
    print(f"data_scale: {args.rows:,} rows in {args.data}", flush=True)
    stages: list[dict[str, Any]] = []
    if args.only:
        previous = json.loads((RESULTS / f"{args.name}.json").read_text())
        again = set(args.only.split(","))
        rerun_machine = machine_info(args.threads or os.cpu_count())  # before the stages run
        for old in previous["stages"]:
            stages.append(spawn(args, old["stage"]) if old["stage"] in again else old)
        report = {**previous, "rerun": {"stages": sorted(again), "machine": rerun_machine},
                  "stages": stages, "notes": notes(stages, args.rows)}  # fmt: skip
        json_path, md_path = write_results(args.name, report, markdown(report))
        print(f"wrote {json_path} and {md_path}")
        return
    if have_data(args):
        stages.append({"stage": "generate", "skipped": "reused"})
    else:
        shutil.rmtree(args.data, ignore_errors=True)
        stages.append(spawn(args, "generate"))
    plan = ["eager", "streaming", "prepare-polars", "split", "prepare-spark"]
    for stage in plan:
        if stage == "eager" and args.rows > args.eager_max_rows:
            stages.append(
                {"stage": stage, "skipped": f"over --eager-max-rows {args.eager_max_rows:,}"}
            )
        elif stage == "prepare-spark" and importlib.util.find_spec("pyspark") is None:
            stages.append({"stage": stage, "skipped": "pyspark not installed"})
        else:
            stages.append(spawn(args, stage))
    report = {"rows": args.rows, "seed": args.seed, "data": str(args.data),
              "machine": machine_info(args.threads or os.cpu_count()), "stages": stages,
              "streaming_bound_gib": STREAMING_BOUND_GIB, "notes": notes(stages, args.rows)}  # fmt: skip
    json_path, md_path = write_results(args.name, report, markdown(report))
    print(f"wrote {json_path} and {md_path}")


def notes(stages: list[dict[str, Any]], rows: int) -> list[str]:
    by_name = {s["stage"]: s for s in stages if not s.get("failed") and not s.get("skipped")}
    found = []
    eager, streaming = by_name.get("eager"), by_name.get("streaming")
    if eager and streaming:
        same = eager["fingerprint"] == streaming["fingerprint"]
        found.append(f"eager and streaming sequences identical (fingerprint): {same}")
        found.append(
            f"streaming peak / eager peak: {streaming['peak_rss_mib'] / eager['peak_rss_mib']:.2f}"
        )
    if streaming:
        peak_gib = streaming["peak_rss_mib"] / 1024
        scaled = f" (at {rows:,} rows; the bound is for 20,000,000)" if rows < 20_000_000 else ""
        verdict = "held" if peak_gib <= STREAMING_BOUND_GIB else "EXCEEDED"
        found.append(
            f"streaming load+clean peak {peak_gib:.2f} GiB vs the stated bound "
            f"{STREAMING_BOUND_GIB} GiB: {verdict}{scaled}"
        )
    if "prepare-spark" in by_name:
        found.append("prepare's peak is the sampled (every 0.2 s) summed RSS of the CLI and its "
                     "children: for Spark, the Python driver and the JVM (driver memory 4g)")
    return found


if __name__ == "__main__":
    main()
