"""A bounded load test of the HTTP server on 127.0.0.1.

Starts ``python -m seqrec.serving.server`` in a subprocess (models trained in-process on
``--dataset``, or served from artifact folders with ``--artifacts``) on a free port, then for
each model sends ``--requests`` POST /recommend requests, ``--concurrency`` at a time, with
httpx.AsyncClient: real shoppers' history prefixes (original ids), k=10. It records errors,
latency percentiles, requests per second, the server's batching (rows per model call) and its
RSS before and after; then sends 200 malformed requests (all must be 4xx) and checks /health.
Every loop is bounded in count and in time (``--max-seconds`` per model); the server is stopped
at the end. Writes ``serve_load.json`` and ``serve_load.md`` to ``--out``.

usage: python bench/serve_load.py [--dataset shop:tiny] [--models als,sasrec] [--requests 10000]
                                  [--concurrency 50] [--threads 1] [--batch-wait-ms 2]
                                  [--set MODEL.FIELD=VALUE ...] [--artifacts DIR ...] [--out bench/results]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from seqrec.data.datasets import load_dataset
from seqrec.experiment import machine_meta, write_atomic
from seqrec.serving.server import malformed_requests

ROOT = Path(__file__).resolve().parent.parent
# A SASRec small enough to train in seconds on the tiny shop (serving speed does not need a good model).
SMALL_SASREC = ["sasrec.max_len=50", "sasrec.dim=32", "sasrec.epochs=10", "sasrec.progress=false"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shop:tiny", help="dataset the server trains on (and histories come from)")
    parser.add_argument("--models", default="als,sasrec", help="comma-separated models")
    parser.add_argument("--artifacts", nargs="*", default=[], help="serve these artifact folders instead of training")
    parser.add_argument("--set", action="append", default=None, metavar="MODEL.FIELD=VALUE", help=f"model setting (default: {' '.join(SMALL_SASREC)})")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per model")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once")
    parser.add_argument("--threads", type=int, default=1, help="the server's torch/BLAS threads")
    parser.add_argument("--batch-wait-ms", type=float, default=2.0, help="the server's micro-batching wait")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="time limit per model's load phase")
    parser.add_argument("--start-timeout", type=float, default=900.0, help="time limit for training and start-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")
    return args


# -- the server process -----------------------------------------------------------------------


class Server:
    """``python -m seqrec.serving.server ...`` on 127.0.0.1, port 0; its URL read from stdout."""

    def __init__(self, args: argparse.Namespace) -> None:
        command = [sys.executable, "-m", "seqrec.serving.server", *args.artifacts, "--host", "127.0.0.1", "--port", "0"]
        if not args.artifacts:
            command += ["--dataset", args.dataset, "--models", args.models]
            for setting in SMALL_SASREC if args.set is None else args.set:
                command += ["--set", setting]
        command += ["--threads", str(args.threads), "--batch-wait-ms", str(args.batch_wait_ms)]
        self.command = command
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + args.start_timeout
        self.url = ""
        while not self.url:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise TimeoutError(f"the server did not start within {args.start_timeout} s") from None
            if line is None:
                raise RuntimeError(f"the server exited with code {self.process.wait()} before it served")
            if line.startswith("seqrec serving "):
                self.url = line.split()[2]
        self.started = time.monotonic()

    def _pump(self, lines: queue.Queue[str | None]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            print(f"  server: {line.rstrip()}", flush=True)
            lines.put(line)
        lines.put(None)

    def rss_mib(self) -> float:
        try:
            import psutil

            return psutil.Process(self.process.pid).memory_info().rss / 2**20
        except ImportError:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
            kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
            return int(kib) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        try:
            import psutil

            times = psutil.Process(self.process.pid).cpu_times()
            return float(times.user + times.system)
        except ImportError:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def wait_healthy(url: str, seconds: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            response = httpx.get(f"{url}/health", timeout=5)
            if response.status_code == 200:
                return dict(response.json())
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}/health did not answer 200 within {seconds} s")
        time.sleep(0.2)


# -- the load ---------------------------------------------------------------------------------


def request_histories(dataset: str, count: int, seed: int) -> list[list[str]]:
    """``count`` prefixes (1 item to the whole history) of random shoppers' histories, as original ids."""
    data = load_dataset(dataset)
    labels, rng = data.item_info().labels, np.random.default_rng(seed)
    rows = rng.integers(0, len(data.sequences), count)
    out = []
    for row in rows:
        sequence = data.sequences.sequence(int(row))
        length = int(rng.integers(1, len(sequence) + 1)) if len(sequence) else 0
        out.append([str(labels[i]) for i in sequence[:length]])
    return out


async def load(url: str, model: str, histories: list[list[str]], concurrency: int, max_seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    next_index = 0
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < len(histories) and time.monotonic() < deadline:
            history = histories[next_index]
            next_index += 1
            start = time.perf_counter()
            try:
                response = await http.post("/recommend", json={"history": history, "k": 10, "model": model})
                if response.status_code != 200 or len(response.json()["items"]) != 10:
                    errors[f"HTTP {response.status_code}: {response.text[:120]}"] += 1
            except (httpx.HTTPError, ValueError, KeyError) as error:
                errors[f"{type(error).__name__}: {error}"[:160]] += 1
            latencies.append(time.perf_counter() - start)

    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "planned": len(histories),
        "concurrency": concurrency,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "latency_ms": {name: round(float(np.percentile(ms, q)), 2) for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
    }


def malformed(url: str, item: str) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=url, timeout=30) as http:
        for probe in malformed_requests(200, item=item):
            try:
                statuses[http.request(probe.method, probe.path, content=probe.content, headers=probe.header_dict).status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1  # no answer at all
    four = sum(n for status, n in statuses.items() if 400 <= status < 500)
    return {"sent": 200, "answered_4xx": four, "statuses": {str(k): v for k, v in sorted(statuses.items())}}


# -- report -----------------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Serving load test (bench/serve_load.py)",
        "",
        (
            f"{report['date']} on {report['machine']}; load average before {report['load_average']['before']}, "
            f"after {report['load_average']['after']}."
        ),
        f"Command: `{report['command']}`",
        (
            f"Server: `{report['server_command']}` (threads {report['threads']}, micro-batch wait {report['batch_wait_ms']} ms); "
            f"fastapi {report['versions']['fastapi']}, uvicorn {report['versions']['uvicorn']}, httpx {report['versions']['httpx']}."
        ),
        f"Training and start-up took {report['startup_seconds']} s. Client and server share this machine.",
        "",
        (
            "| model | requests | concurrency | errors | p50 ms | p90 ms | p99 ms | max ms | requests/s | rows per model call "
            "| CPU ms per request: server / client | server RSS MiB before -> after |"
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    cost_notes = []
    for name, run in report["models"].items():
        latency, server, client = run["latency_ms"], run["cpu_ms_per_request"]["server"], run["cpu_ms_per_request"]["client"]
        bound = "; the load generator costs more CPU than the server, so it bounds these numbers" if client > server else ""
        cost_notes.append(f"{name}: the server alone would serve about {1000 / max(server, 1e-9):.0f} requests/s per core{bound}")
        lines.append(
            f"| {name} | {run['requests']} | {run['concurrency']} | {run['errors']} | {latency['p50']} | {latency['p90']} | "
            f"{latency['p99']} | {latency['max']} | {run['requests_per_s']} | {run['rows_per_call']} | "
            f"{server} / {client} | "
            f"{run['rss_mib_before']} -> {run['rss_mib_after']} |"
        )
    bad = report["malformed"]
    costs = (
        "CPU ms per request: the server's CPU time (user + system) over the phase and the load generator's "
        f"(httpx.AsyncClient, one process), each divided by the requests. {'. '.join(cost_notes)}."
    )
    malformed = (
        f"Malformed requests: {bad['answered_4xx']} of {bad['sent']} answered 4xx (statuses {bad['statuses']}); "
        f"/health afterwards: {report['health_after']}."
    )
    lines += ["", costs, "", malformed, ""]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    command = " ".join(shlex.quote(part) for part in ["python", *sys.argv])
    load_before = [round(x, 2) for x in os.getloadavg()]
    histories = request_histories(args.dataset, args.requests, args.seed)
    started = time.monotonic()
    server = Server(args)
    try:
        health = wait_healthy(server.url)
        startup = round(time.monotonic() - started, 1)
        runs: dict[str, Any] = {}
        for model in health["models"]:
            before = server.rss_mib()
            calls_before = wait_healthy(server.url)["batching"][model]
            print(f"{model}: {args.requests} requests, {args.concurrency} at a time ...", flush=True)
            server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
            run = asyncio.run(load(server.url, model, histories, args.concurrency, args.max_seconds))
            server_cpu, client_cpu = server.cpu_seconds() - server_cpu, time.process_time() - client_cpu
            calls = wait_healthy(server.url)["batching"][model]
            made = calls["calls"] - calls_before["calls"]
            run["rows_per_call"] = round((calls["rows"] - calls_before["rows"]) / made, 2) if made else 0.0
            run["cpu_ms_per_request"] = {
                "server": round(1000 * server_cpu / run["requests"], 2),
                "client": round(1000 * client_cpu / run["requests"], 2),
            }
            run["rss_mib_before"], run["rss_mib_after"] = round(before, 1), round(server.rss_mib(), 1)
            print(f"  {json.dumps(run)}", flush=True)
            runs[model] = run
        bad = malformed(server.url, next(token for history in histories for token in history))
        health_after = httpx.get(f"{server.url}/health", timeout=10).status_code
    finally:
        server.stop()
    report = {
        **machine_meta(command, args.threads),
        "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
        "server_command": " ".join(shlex.quote(Path(part).name if i == 0 else part) for i, part in enumerate(server.command)),
        "dataset": args.dataset,
        "batch_wait_ms": args.batch_wait_ms,
        "startup_seconds": startup,
        "versions": {name: version(name) for name in ("fastapi", "uvicorn", "httpx")},
        "models": runs,
        "malformed": bad,
        "health_after": health_after,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "serve_load.json", json.dumps(report, indent=2) + "\n")
    write_atomic(args.out / "serve_load.md", markdown(report))
    print(markdown(report))
    failed = sum(run["errors"] for run in runs.values()) or bad["answered_4xx"] != bad["sent"] or health_after != 200
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
