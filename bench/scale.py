"""Cost curves: how wall time and peak memory grow with the number of interactions.

For shop worlds of about 10^5, 10^6 and 10^7 purchases (2,200, 22,000 and 220,000 shoppers; the
last is ``shop:xl``), this script measures three stages:

* **data**: load + clean + split. The world's Parquet parts are read as a raw interaction log
  (string ids, as a log file would have them), cleaned by :func:`seqrec.data.cleaning.clean`
  (dense ids, time order) and split leave-one-out (:func:`seqrec.data.splits.make_split`, as
  ``seqrec benchmark`` does). The direct Parquet -> ``SequenceData`` read that ``shop:xl`` uses
  is timed too (``load_streamed_s``). Generating a world is not part of the stage: it happens
  once, before, and is cached (``bench/make_shop_world.py`` or the first run).
* **fit** of each model on the training split, with the model's default config; the neural
  models (SASRec, GRU4Rec, HSTU) run a fixed ``--epochs`` (1 by default) without a validation
  set, so the number is seconds per epoch, not time to convergence.
* **eval**: the project's full-ranking evaluation
  (:func:`seqrec.evaluation.protocol.evaluate_model`) of every test user, history kept as the
  shop's Dataset says.

Every (model, size, threads) measurement runs in a fresh subprocess (so its peak RSS is its own)
with ``--threads`` threads (torch, BLAS, Polars), under a wall-time cap ``--cap-s``; a run over
the cap, killed (out of memory) or failing is recorded as cut with the reason, and the larger
sizes of that model and thread count are then skipped. Measurements are appended to
``results/<name>.jsonl`` (``--name``, default ``scale``) as they finish and skipped when
already there, so an interrupted sweep resumes (``--retry-cut`` measures cut ones again). The
report fits the growth exponent ``b`` of ``time ~ a * n^b`` (least squares on log-log over the
sizes measured, n = interactions) for every model, stage and thread count, flags
``b > --flag-exponent`` as growing faster than it should, and writes
``results/<name>.{json,md,html}`` (the HTML page is self-contained: inline SVG) and
``results/<name>.png`` when matplotlib is installed. Peak RSS of a model run includes the data
(``rss_after_data_mib``, ``rss_after_fit_mib`` and the overall ``peak_rss_mib`` are kept).

usage: python bench/scale.py [--sizes 1e5,1e6,1e7] [--models popularity,als,...] [--threads 1,2]
                             [--cap-s 900] [--epochs 1] [--gen-jobs 2] [--report-only]
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine_info, peak_rss_mib, write_results

MODELS = ("popularity", "als", "markov", "item-knn", "sknn", "sasrec", "gru4rec", "hstu")
STAGES = ("data", "fit", "eval")
PURCHASES_PER_SHOPPER = 45.45
"""About 10^6 purchases per 22,000 shoppers (the ``large`` world)."""
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "POLARS_MAX_THREADS",
)


def shoppers_for(interactions: float) -> int:
    return max(1, round(interactions / PURCHASES_PER_SHOPPER / 100) * 100)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1e5,1e6,1e7", help="interactions per world, comma-separated"
    )
    parser.add_argument(
        "--models", default=",".join(MODELS), help="registry names, comma-separated"
    )
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument(
        "--cap-s", type=float, default=900.0, help="wall-time cap of one measurement"
    )
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the neural models")
    parser.add_argument(
        "--gen-jobs", type=int, default=os.cpu_count() or 1, help="processes generating a world"
    )
    parser.add_argument("--seed", type=int, default=0, help="shop world seed")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL.FIELD=VALUE",
        help='config override (JSON value), e.g. als.solver="cg"; repeatable',
    )
    parser.add_argument("--retry-cut", action="store_true", help="measure cut runs again")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the report")
    parser.add_argument("--flag-exponent", type=float, default=1.25, help="growth exponent flagged")
    parser.add_argument(
        "--name", default="scale", help="results name: results/<name>.{jsonl,json,md,html,png}"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def overrides_of(settings: list[str]) -> dict[str, dict[str, Any]]:
    """``["als.solver=\"cg\""]`` -> ``{"als": {"solver": "cg"}}`` (a bad item is a ValueError)."""
    out: dict[str, dict[str, Any]] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        model, dot, field = key.partition(".")
        if not (sep and dot and model and field):
            raise ValueError(f"--set {setting!r}: expected MODEL.FIELD=VALUE")
        try:
            out.setdefault(model, {})[field] = json.loads(value)
        except json.JSONDecodeError:
            out.setdefault(model, {})[field] = value  # a bare word: a string
    return out


# -- one measurement (in a child process) ---------------------------------------------------------
def measure_data(n_shoppers: int, seed: int) -> dict[str, Any]:
    import polars as pl

    from seqrec.data import shop_parts
    from seqrec.data.cleaning import clean
    from seqrec.data.shop_catalog import build_catalog
    from seqrec.data.splits import make_split
    from seqrec.data.types import Catalog, InteractionLog

    folder = shop_parts.world_folder(n_shoppers, seed)
    manifest = shop_parts.read_manifest(folder)
    paths = [
        folder / f"{shop_parts.part_name(int(p['index']))}.purchases.parquet"
        for p in manifest["parts"]
    ]
    catalog = build_catalog()
    out: dict[str, Any] = {}
    start = time.perf_counter()
    frame = (
        pl.scan_parquet(paths)
        .select(
            pl.format("shopper_{}", pl.col("user").cast(pl.String).str.zfill(6)).alias("user"),
            pl.format("shop-{}", pl.col("item").cast(pl.String).str.zfill(4)).alias("item"),
            pl.col("timestamp").cast(pl.Int64),
            pl.lit(1.0).alias("weight"),
        )
        .with_row_index("row")
        .with_columns(pl.col("row").cast(pl.Int64))
        .collect()
    )
    log = InteractionLog(frame, source=folder.name)
    out["load_s"] = time.perf_counter() - start
    items = [f"shop-{i:04d}" for i in range(1, catalog.n_items + 1)]
    table = pl.DataFrame(
        {
            "item": items,
            "title": catalog.titles[1:].tolist(),
            "category": catalog.categories[1:].tolist(),
            "text": [""] * catalog.n_items,
        }
    )
    start = time.perf_counter()
    dataset = clean(log, Catalog(table), name="shop")
    out["clean_s"] = time.perf_counter() - start
    del log, frame
    start = time.perf_counter()
    split = make_split("loo", dataset.sequences, source=dataset.name)
    out["split_s"] = time.perf_counter() - start
    out["data_s"] = out["load_s"] + out["clean_s"] + out["split_s"]
    out["interactions"] = dataset.sequences.n_interactions
    out["test_users"] = len(split.test)
    del dataset, split
    start = time.perf_counter()
    shop_parts.load_streamed_world(n_shoppers, seed, jobs=1)
    out["load_streamed_s"] = time.perf_counter() - start
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def measure_model(
    name: str, n_shoppers: int, seed: int, threads: int, epochs: int, overrides: dict[str, Any]
) -> dict[str, Any]:
    from seqrec.data import shop_parts
    from seqrec.data.splits import make_split
    from seqrec.evaluation.protocol import evaluate_model
    from seqrec.experiment import build_model, epoch_summary, fit_on, get_model_class, set_threads

    set_threads(threads)
    out: dict[str, Any] = {}
    start = time.perf_counter()
    dataset = shop_parts.load_streamed_world(n_shoppers, seed, jobs=1)
    split = make_split("loo", dataset.sequences, source=dataset.name)
    out["data_s"], out["rss_after_data_mib"] = time.perf_counter() - start, peak_rss_mib()
    out["interactions"] = dataset.sequences.n_interactions
    fields = getattr(get_model_class(name).Config, "__dataclass_fields__", {})
    settings = {
        key: value for key, value in (("epochs", epochs), ("progress", False)) if key in fields
    }
    settings.update(overrides)
    out["config"] = settings
    model = build_model(name, settings, threads)
    start = time.perf_counter()
    fit_on(model, dataset, split.train, None)  # no validation set: a fixed number of epochs
    out["fit_s"], out["rss_after_fit_mib"] = time.perf_counter() - start, peak_rss_mib()
    out.update(epoch_summary(model))
    start = time.perf_counter()
    result = evaluate_model(model, split.test, dataset.exclude_history, split.train.item_counts())
    out["eval_s"], out["peak_rss_mib"] = time.perf_counter() - start, peak_rss_mib()
    out["test_users"] = len(split.test)
    out["ndcg@10"] = round(float(result.metrics["NDCG@10"]), 4)
    return out


def child_main(spec: dict[str, Any]) -> None:
    if spec["model"] == "data":
        result = measure_data(spec["shoppers"], spec["seed"])
    else:
        result = measure_model(
            spec["model"],
            spec["shoppers"],
            spec["seed"],
            spec["threads"],
            spec["epochs"],
            spec["overrides"],
        )
    Path(spec["out"]).write_text(json.dumps(result))


def run_child(spec: dict[str, Any], cap_s: float) -> dict[str, Any]:
    """One measurement in a fresh process group; the record with ``status`` ok or the cut reason."""
    with tempfile.TemporaryDirectory() as scratch:
        spec = {**spec, "out": str(Path(scratch) / "result.json")}
        environment = {**os.environ, **{v: str(spec["threads"]) for v in THREAD_VARIABLES}}
        command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            env=environment,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, stderr = process.communicate(timeout=cap_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this function started
            process.communicate()
            return {"status": "cut", "reason": f"over the {cap_s:.0f}s cap"}
        wall = time.perf_counter() - started
        if process.returncode == -signal.SIGKILL:
            return {"status": "cut", "reason": "killed (SIGKILL: out of memory?)", "wall_s": wall}
        if process.returncode != 0:
            tail = stderr.strip().splitlines()[-1:] or ["no message"]
            return {"status": "failed", "reason": tail[0][:300], "wall_s": wall}
        return {"status": "ok", "wall_s": wall, **json.loads(Path(spec["out"]).read_text())}


# -- the sweep ---------------------------------------------------------------------------------
def read_records(name: str) -> list[dict[str, Any]]:
    path = RESULTS / f"{name}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_record(name: str, record: dict[str, Any]) -> None:
    path = RESULTS / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:  # one line per measurement, flushed as it finishes
        handle.write(json.dumps(record) + "\n")


def ensure_world(n_shoppers: int, seed: int, jobs: int) -> dict[str, Any]:
    from seqrec.data import shop_parts

    plan = shop_parts.WorldPlan(n_shoppers, seed)
    started = time.perf_counter()
    manifest = shop_parts.generate_world(
        plan,
        shop_parts.world_folder(n_shoppers, seed),
        jobs=jobs,
        report=lambda line: print(line, flush=True),
    )
    assert manifest is not None  # every part was asked for
    return {
        "shoppers": n_shoppers,
        "purchases": manifest["n_purchases"],
        "hash": manifest["hash"],
        "seconds_this_run": round(time.perf_counter() - started, 1),
    }


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    models = [m for m in args.models.split(",") if m]
    threads_list = [int(t) for t in args.threads.split(",")]
    overrides = overrides_of(args.set)
    worlds = {size: ensure_world(shoppers_for(size), args.seed, args.gen_jobs) for size in sizes}
    done = {(r["model"], r["size"], r["threads"]): r for r in read_records(args.name)}
    for threads in threads_list:
        for model in ["data", *models]:
            for size in sorted(sizes):
                key = (model, size, threads)
                if key in done and (done[key]["status"] == "ok" or not args.retry_cut):
                    if done[key]["status"] != "ok":
                        break  # cut at this size: larger ones are skipped
                    continue
                spec = {
                    "model": model,
                    "shoppers": worlds[size]["shoppers"],
                    "seed": args.seed,
                    "threads": threads,
                    "epochs": args.epochs,
                    "overrides": overrides.get(model, {}),
                }
                print(f"{model} at {size:.0e} interactions, {threads} thread(s) ...", flush=True)
                record = {
                    "model": model,
                    "size": size,
                    "threads": threads,
                    "shoppers": spec["shoppers"],
                    "load_at_start": os.getloadavg()[0],
                    **run_child(spec, args.cap_s),
                }
                append_record(args.name, record)
                done[key] = record
                print(f"  {summary(record)}", flush=True)
                if record["status"] != "ok":
                    break
    return worlds


def summary(record: dict[str, Any]) -> str:
    if record["status"] != "ok":
        return f"{record['status']}: {record['reason']}"
    times = ", ".join(f"{s} {record[s + '_s']:.2f}s" for s in STAGES if s + "_s" in record)
    return f"{times}; peak {record['peak_rss_mib']:.0f} MiB"


# -- the report ------------------------------------------------------------------------------
def growth_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(time) on log(n); ``None`` with fewer than two sizes."""
    usable = [(math.log(n), math.log(max(t, 1e-6))) for n, t in points if n > 0]
    if len(usable) < 2:
        return None
    mean_x = sum(x for x, _ in usable) / len(usable)
    mean_y = sum(y for _, y in usable) / len(usable)
    spread = sum((x - mean_x) ** 2 for x, _ in usable)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in usable) / spread


def curves(records: list[dict[str, Any]]) -> dict[tuple[str, str, int], list[tuple[float, float]]]:
    """(model, stage, threads) -> [(interactions, seconds)] of the measurements that finished."""
    out: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for record in records:
        if record["status"] != "ok":
            continue
        for stage in STAGES:
            if stage + "_s" in record and not (stage == "data" and record["model"] != "data"):
                key = (record["model"], stage, record["threads"])
                out.setdefault(key, []).append(
                    (float(record["interactions"]), record[stage + "_s"])
                )
    return {key: sorted(points) for key, points in out.items()}


def build_report(
    records: list[dict[str, Any]], args: argparse.Namespace, worlds: dict[int, Any]
) -> dict[str, Any]:
    latest = {(r["model"], r["size"], r["threads"]): r for r in records}  # a rerun replaces
    kept = list(latest.values())
    exponents = []
    for (model, stage, threads), points in sorted(curves(kept).items()):
        b = growth_exponent(points)
        exponents.append(
            {
                "model": model,
                "stage": stage,
                "threads": threads,
                "sizes": len(points),
                "exponent": None if b is None else round(b, 3),
                "flagged": b is not None and b > args.flag_exponent,
            }
        )
    cut = [
        {k: r[k] for k in ("model", "size", "threads", "status", "reason")}
        for r in kept
        if r["status"] != "ok"
    ]
    return {
        "meta": {
            **machine_info(),
            "cap_s": args.cap_s,
            "epochs": args.epochs,
            "flag_exponent": args.flag_exponent,
            "overrides": overrides_of(args.set),
        },
        "worlds": {str(k): v for k, v in worlds.items()},
        "measurements": kept,
        "exponents": exponents,
        "cut": cut,
    }


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        "# Cost curves (shop world)",
        "",
        (
            f"{meta['date']}, {meta['cpu']} ({meta['logical_cpus']} logical CPUs), load at start "
            f"{meta['load_at_start']}; `{meta['command']}` (the last invocation: the measurements "
            "accumulate over resumed runs, each row with the 1-minute load when it started, and "
            "each with the cap of the run that made it)"
        ),
        "",
        (
            f"Neural models: {meta['epochs']} epoch(s), no validation (fit = time per {meta['epochs']} "
            f"epoch(s)). Cap of the last invocation {meta['cap_s']:.0f}s. Each row: a fresh process."
        ),
        "",
        "| model | interactions | threads | data s | fit s | s/epoch | eval s | peak MiB | NDCG@10 | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(report["measurements"], key=lambda r: (r["model"], r["threads"], r["size"])):
        if r["status"] != "ok":
            lines.append(
                f"| {r['model']} | {r['size']:.0e} | {r['threads']} | {r['status']}: "
                f"{r['reason']} | | | | | | {r.get('load_at_start', 0):.1f} |"
            )
            continue
        cells = [
            f"{r[k]:.2f}" if k in r else "" for k in ("data_s", "fit_s", "epoch_seconds", "eval_s")
        ]
        lines.append(
            f"| {r['model']} | {r['interactions']:,} | {r['threads']} | {' | '.join(cells)} | "
            f"{r['peak_rss_mib']:.0f} | {r.get('ndcg@10', '')} | {r.get('load_at_start', 0):.1f} |"
        )
    data_rows = [r for r in report["measurements"] if r["model"] == "data" and r["status"] == "ok"]
    if data_rows:
        lines += [
            "",
            (
                "Data stage in parts (s): Parquet -> raw log with string ids, clean, "
                "leave-one-out split; and the direct Parquet -> SequenceData read of shop:xl:"
            ),
            "",
            "| interactions | threads | load | clean | split | direct read |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in sorted(data_rows, key=lambda r: (r["threads"], r["size"])):
            cells = " | ".join(
                f"{r[k]:.2f}" for k in ("load_s", "clean_s", "split_s", "load_streamed_s")
            )
            lines.append(f"| {r['interactions']:,} | {r['threads']} | {cells} |")
    lines += [
        "",
        f"Growth exponent b of time ~ a n^b (flagged above {meta['flag_exponent']}):",
        "",
        "| model | stage | threads | sizes | b |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for e in report["exponents"]:
        flag = " **faster than linear**" if e["flagged"] else ""
        lines.append(
            f"| {e['model']} | {e['stage']} | {e['threads']} | {e['sizes']} | {e['exponent']}{flag} |"
        )
    if report["cut"]:
        lines += ["", "Cut (larger sizes of the same model and threads skipped):", ""]
        lines += [
            f"- {c['model']} at {c['size']:.0e}, {c['threads']} thread(s): {c['reason']}"
            for c in report["cut"]
        ]
    return "\n".join(lines) + "\n"


PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)


def svg_panel(
    stage: str,
    data: dict[tuple[str, str, int], list[tuple[float, float]]],
    colors: dict[str, str],
    width: int = 380,
    height: int = 300,
) -> str:
    """One log-log panel (time against interactions) as an SVG string: a line per model,
    solid for 1 thread, dashed for more."""
    series = {key: points for key, points in data.items() if key[1] == stage}
    points = [p for ps in series.values() for p in ps]
    if not points:
        return ""
    left, right, top, bottom = 56, 12, 24, 40
    lx = [math.log10(n) for n, _ in points]
    ly = [math.log10(max(t, 1e-3)) for _, t in points]
    x0, x1 = (
        math.floor(min(lx)),
        math.ceil(max(lx)) if max(lx) > min(lx) else math.floor(min(lx)) + 1,
    )
    y0, y1 = (
        math.floor(min(ly)),
        math.ceil(max(ly)) if max(ly) > min(ly) else math.floor(min(ly)) + 1,
    )

    def x(n: float) -> float:
        return left + (math.log10(n) - x0) / (x1 - x0) * (width - left - right)

    def y(t: float) -> float:
        return (
            height - bottom - (math.log10(max(t, 1e-3)) - y0) / (y1 - y0) * (height - top - bottom)
        )

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
        f'<text x="{width / 2}" y="14" text-anchor="middle" font-weight="bold">{stage}</text>',
    ]
    for e in range(x0, x1 + 1):
        parts.append(
            f'<line x1="{x(10**e):.1f}" y1="{top}" x2="{x(10**e):.1f}" '
            f'y2="{height - bottom}" stroke="#ddd"/>'
            f'<text x="{x(10**e):.1f}" y="{height - bottom + 14}" text-anchor="middle">1e{e}</text>'
        )
    for e in range(y0, y1 + 1):
        parts.append(
            f'<line x1="{left}" y1="{y(10**e):.1f}" x2="{width - right}" '
            f'y2="{y(10**e):.1f}" stroke="#ddd"/>'
            f'<text x="{left - 4}" y="{y(10**e) + 4:.1f}" text-anchor="end">{10.0**e:g}s</text>'
        )
    parts.append(f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">interactions</text>')
    for (model, _, threads), ps in sorted(series.items()):
        path = " ".join(f"{x(n):.1f},{y(t):.1f}" for n, t in ps)
        dash = ' stroke-dasharray="5,3"' if threads > 1 else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colors[model]}" stroke-width="2"{dash}>'
            f"<title>{html.escape(model)}, {threads} thread(s)</title></polyline>"
        )
        parts += [
            f'<circle cx="{x(n):.1f}" cy="{y(t):.1f}" r="3" fill="{colors[model]}"/>' for n, t in ps
        ]
    parts.append("</svg>")
    return "".join(parts)


def write_html(report: dict[str, Any], path: Path, png: Path | None) -> None:
    data = curves(report["measurements"])
    models = sorted({key[0] for key in data})
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    legend = " ".join(
        f'<span style="color:{colors[m]}">&#9632; {html.escape(m)}</span>' for m in models
    )
    panels = "".join(svg_panel(stage, data, colors) for stage in STAGES)
    table = markdown(report)
    image = ""
    if png is not None and png.exists():
        encoded = base64.b64encode(png.read_bytes()).decode()
        image = f'<p><img alt="cost curves" src="data:image/png;base64,{encoded}"></p>'
    page = (
        f"<!doctype html><meta charset='utf-8'><title>seqrec cost curves</title>"
        f"<body style='font-family:sans-serif'><h1>Cost curves (shop world)</h1>"
        f"<p>{legend} (solid: 1 thread, dashed: more; log-log)</p><div>{panels}</div>{image}"
        f"<pre>{html.escape(table)}</pre></body>"
    )
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(page)
    os.replace(staging, path)


def write_png(report: dict[str, Any], path: Path) -> Path | None:
    """The same panels with matplotlib, when it is installed (``None`` otherwise)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    data = curves(report["measurements"])
    figure, axes = plt.subplots(1, len(STAGES), figsize=(5 * len(STAGES), 4))
    for axis, stage in zip(axes, STAGES, strict=True):
        for (model, s, threads), points in sorted(data.items()):
            if s == stage:
                axis.loglog(
                    *zip(*points, strict=True),
                    marker="o",
                    linestyle="-" if threads == 1 else "--",
                    label=f"{model} ({threads}t, b={growth_exponent(points) or 0:.2f})",
                )
        axis.set(title=stage, xlabel="interactions", ylabel="seconds")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    staging = path.with_name(f".tmp-{path.name}")
    figure.savefig(staging, format="png", dpi=110)
    os.replace(staging, path)
    return path


def main() -> None:
    args = parse_args()
    if args.child:
        child_main(json.loads(args.child))
        return
    worlds: dict[int, Any] = {}
    if not args.report_only:
        worlds = sweep(args)
    report = build_report(read_records(args.name), args, worlds)
    png = write_png(report, RESULTS / f"{args.name}.png")
    write_html(report, RESULTS / f"{args.name}.html", png)
    json_path, md_path = write_results(args.name, report, markdown(report))
    print(
        f"wrote {json_path}, {md_path}, {RESULTS / (args.name + '.html')}"
        + (f", {png}" if png else " (no PNG: matplotlib is not installed)")
    )
    for e in report["exponents"]:
        if e["flagged"]:
            print(
                f"faster than linear: {e['model']} {e['stage']} ({e['threads']} threads) b={e['exponent']}"
            )


if __name__ == "__main__":
    main()
