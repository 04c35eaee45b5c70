"""Generate a streamed shop world (``xl``, ``xxl`` or a shopper count) into the seqrec cache, with
progress, and record how long it took and how much memory it used.

``load_dataset("shop:xl")`` generates the world on first use too; this script does it ahead of
time (it resumes an interrupted run: finished parts are kept) and writes
``results/make_shop_world-<size>.{json,md}``: wall time, purchases per second, the parent's and
the largest worker's peak RSS, the world's content hash and the load average.

usage: python bench/make_shop_world.py xl [--jobs 2] [--seed 0] [--part-shoppers 20000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_average, machine_info, peak_rss_mib, write_results

from seqrec.data import shop_parts
from seqrec.data.shop import STREAMED_SIZES


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", help="xl, xxl, or a number of shoppers")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--seed", type=int, default=0, help="world seed")
    parser.add_argument(
        "--part-shoppers", type=int, default=shop_parts.DEFAULT_PART_SHOPPERS, help="part size"
    )
    return parser.parse_args()


def shoppers_of(size: str) -> int:
    if size in STREAMED_SIZES:
        return STREAMED_SIZES[size]
    if size.isdigit() and int(size) > 0:
        return int(size)
    raise SystemExit(
        f"size must be one of {', '.join(STREAMED_SIZES)} or a shopper count, got {size!r}"
    )


def main() -> None:
    args = parse_args()
    plan = shop_parts.WorldPlan(shoppers_of(args.size), args.seed, args.part_shoppers)
    folder = shop_parts.world_folder(plan.n_shoppers, plan.seed)
    before = sum(int(part["purchases"]) for part in shop_parts.finished_parts(folder, plan))
    started = time.perf_counter()
    manifest = shop_parts.generate_world(plan, folder, jobs=args.jobs, report=print)
    seconds = time.perf_counter() - started
    if manifest is None:
        raise SystemExit(f"{folder}: the world is not complete after the run")
    workers_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = {
        "meta": {**machine_info(), "jobs": args.jobs, "load_at_end": load_average()},
        "folder": str(folder),
        "plan": plan.as_dict(),
        "purchases": manifest["n_purchases"],
        "hash": manifest["hash"],
        "seconds_this_run": round(seconds, 1),
        "purchases_this_run": manifest["n_purchases"] - before,
        "purchases_per_second": round((manifest["n_purchases"] - before) / max(seconds, 1e-9)),
        "peak_rss_mib_parent": round(peak_rss_mib()),
        "peak_rss_mib_largest_worker": round(workers_mib),
    }
    lines = [
        f"# Shop world {args.size}",
        "",
        (
            f"{report['meta']['date']}, {report['meta']['cpu']}, {args.jobs} process(es), load "
            f"{report['meta']['load_at_start']} -> {report['meta']['load_at_end']}"
        ),
        "",
        (
            f"{manifest['n_purchases']:,} purchases of {plan.n_shoppers:,} shoppers; "
            f"{report['purchases_this_run']:,} generated in {seconds:.0f}s this run "
            f"({report['purchases_per_second']:,}/s; finished parts are kept); peak RSS "
            f"{report['peak_rss_mib_parent']} MiB parent, "
            f"{report['peak_rss_mib_largest_worker']} MiB largest worker; hash `{manifest['hash']}`"
        ),
    ]
    paths = write_results(f"make_shop_world-{args.size}", report, "\n".join(lines) + "\n")
    print("\n".join(lines[4:]), f"\nwrote {paths[0]} and {paths[1]}", sep="")


if __name__ == "__main__":
    main()
