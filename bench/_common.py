"""Bookkeeping shared by the benchmark scripts: what machine a number came from, and writing it.

Every result file records the machine, the date, the thread count, the load and the exact
command, so a number can be traced and compared (timings on a busy 2-core machine are noisy).
Import it from a script in ``bench/`` as ``from _common import ...`` (``bench/`` is on
``sys.path`` when a script there runs) or ``sys.path.insert(0, str(Path(__file__).parent))``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import shlex
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """The machine, software versions, date, load and command line of this run."""
    info: dict[str, Any] = {
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_start": load_average(),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    if threads is not None:
        info["threads"] = threads
    return info


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_results(name: str, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``results/<name>.json`` and ``results/<name>.md`` atomically (temp file, rename)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    paths = (RESULTS / f"{name}.json", RESULTS / f"{name}.md")
    for path, text in zip(paths, (json.dumps(report, indent=1, default=str), markdown), strict=True):
        staging = path.with_name(f".{path.name}.tmp")
        staging.write_text(text)
        os.replace(staging, path)
    return paths
