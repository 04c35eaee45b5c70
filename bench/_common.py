"""Bookkeeping shared by the benchmark scripts: what machine a number came from, and writing it.

Every result file records the machine, the date, the thread count, the load and the exact
command (:func:`machine_info`, built on the project's ``machine_meta``), so a number can be traced and compared (timings on a busy 2-core machine are noisy).
Import it from a script in ``bench/`` as ``from _common import ...`` (``bench/`` is on
``sys.path`` when a script there runs) or ``sys.path.insert(0, str(Path(__file__).parent))``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqrec.experiment import machine_meta, write_atomic

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
    """The machine, software versions, date, load and command line of this run: the project's
    :func:`seqrec.experiment.machine_meta` plus the CPU, memory and load a timing needs."""
    info: dict[str, Any] = {
        **machine_meta(shlex.join([Path(sys.executable).name, *sys.argv]), threads or 0),
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_at_start": load_average(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    if threads is None:
        del info["threads"]
    return info


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_results(name: str, report: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``results/<name>.json`` and ``results/<name>.md``, each through a temporary file."""
    paths = (RESULTS / f"{name}.json", RESULTS / f"{name}.md")
    for path, text in zip(paths, (json.dumps(report, indent=1, default=str), markdown), strict=True):
        write_atomic(path, text)
    return paths


class RunLog:
    """A resumable log of benchmark runs in a JSON file: a run already there (same model, config
    and seed) is returned instead of run again; each new one is appended and the file rewritten
    atomically, so a killed sweep resumes where it stopped."""

    def __init__(self, path: Path, resume: bool) -> None:
        self.path = path
        self.runs: list[dict[str, Any]] = (
            json.loads(path.read_text()) if resume and path.exists() else []
        )

    def run(
        self, model: str, config: dict[str, Any], seed: int, compute: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        for old in self.runs:
            if old["model"] == model and old["config"] == config and old["seed"] == seed:
                return old
        result = compute()
        self.runs.append(result)
        write_atomic(self.path, json.dumps(self.runs, indent=1) + "\n")
        return result
