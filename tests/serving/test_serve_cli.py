"""`seqrec train` then `seqrec serve DIR` over a real socket on 127.0.0.1, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from seqrec.cli import app


def _start(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "SEQREC_API_KEY": ""}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("seqrec serving "):
            return process, line.split()[2]
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError("the server did not start")


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_trained_artifact_is_served_over_a_socket(tmp_path: Path) -> None:
    out = tmp_path / "markov"
    trained = CliRunner().invoke(app, ["train", "markov", "--dataset", "shop:tiny", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    seqrec = [sys.executable, "-c", "from seqrec.cli import main; main()"]
    process, url = _start([*seqrec, "serve", str(out), "--port", "0"])
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            assert response.status == 200
        answer = _post(f"{url}/recommend", {"history": ["Padded Lifting Gloves"], "k": 3})
        assert answer["model"] == "markov" and len(answer["items"]) == 3
        assert all(entry["title"] for entry in answer["items"])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_serving_a_folder_that_is_no_artifact_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "missing"), "--port", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "missing" in result.stderr
