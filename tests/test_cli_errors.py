"""Bad input to any ``seqrec`` command: one ``error: ...`` line on stderr, exit code 2, no
traceback, no model trained and nothing written (``seqrec.data.cli.UserErrors``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqrec.cli import app

runner = CliRunner()
SIZES = "choose from tiny, small, default, large, xl, xxl"


def files_under(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*")}


def invoke_bad(args: list[str], folder: Path) -> str:
    """Run ``seqrec ARGS`` expecting bad input; returns the one error line (without ``error: ``)."""
    before = files_under(folder)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "fitting" not in result.output  # the error comes before any model trains
    assert files_under(folder) == before  # nothing written, nothing half-written
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("threads", ["0", "-1"])
@pytest.mark.parametrize(
    "command",
    [
        ["walkthrough", "--size", "tiny", "--models", "popularity", "--out", "{out}"],
        ["benchmark", "--dataset", "shop:tiny", "--models", "popularity", "--out", "{out}"],
        ["tune", "markov", "--dataset", "shop:tiny", "--trials", "1"],
    ],
    ids=["walkthrough", "benchmark", "tune"],
)
def test_threads_below_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], threads: str) -> None:
    monkeypatch.chdir(tmp_path)  # tune saves under ./configs
    args = [arg.format(out=tmp_path / "out") for arg in command]
    message = invoke_bad([*args, "--threads", threads], tmp_path)
    assert message == f"threads must be a whole number of at least 1, got {threads}"


@pytest.mark.parametrize(
    "args", [["walkthrough", "--size", "huge"], ["benchmark", "--dataset", "shop:huge"], ["data", "info", "shop:huge"]]
)
def test_unknown_shop_size_lists_the_sizes(tmp_path: Path, args: list[str]) -> None:
    out = ["--out", str(tmp_path / "out")] if args[0] != "data" else []
    message = invoke_bad([*args, *out], tmp_path)
    assert message == f"unknown shop size 'huge'; {SIZES}"


def test_misspelt_field_in_a_config_file_names_file_section_and_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[popularity]\nrecent_dayz = 30\n")
    message = invoke_bad(
        ["walkthrough", "--size", "tiny", "--models", "popularity", "--config", str(config), "--out", str(tmp_path / "out")], tmp_path
    )
    assert message.startswith(f"{config}, [popularity]: ")
    assert "no field 'recent_dayz' (did you mean 'recent_days'?)" in message


def test_wrong_type_in_a_config_file_names_file_section_and_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[popularity]\n\n[markov]\norder = 'two'\n")
    message = invoke_bad(
        ["benchmark", "--dataset", "shop:tiny", "--models", "popularity,markov", "--config", str(config), "--out", str(tmp_path / "new" / "out")],
        tmp_path,
    )
    assert message == f"{config}, [markov]: MarkovChainConfig.order must be int, got 'two'"
    assert not (tmp_path / "new").exists()  # the up-front check of --out removed what it created


@pytest.mark.parametrize("command", [["walkthrough", "--size", "tiny"], ["benchmark", "--dataset", "shop:tiny"]])
@pytest.mark.parametrize("below", [False, True], ids=["file", "below-a-file"])
def test_out_that_is_a_file_stops_before_any_model_trains(tmp_path: Path, command: list[str], below: bool) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("keep me\n")
    out = blocker / "sub" if below else blocker
    message = invoke_bad([*command, "--models", "popularity,markov", "--out", str(out)], tmp_path)
    assert message == f"output folder {out}: {blocker} is a file, not a folder"
    assert blocker.read_text() == "keep me\n"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_out_stops_before_any_model_trains(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        message = invoke_bad(["benchmark", "--dataset", "shop:tiny", "--models", "popularity", "--out", str(locked / "out")], tmp_path)
    finally:
        locked.chmod(0o700)
    assert message.startswith(f"output folder {locked / 'out'} cannot be written: ")


def test_oracle_needs_the_shop_world(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("user,item,timestamp\n" + "".join(f"u{u},i{i},{10 * u + i}\n" for u in range(4) for i in range(4)))
    message = invoke_bad(
        ["benchmark", "--dataset", str(log), "--models", "oracle", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")],
        tmp_path / "out",
    )
    assert message == "oracle need(s) the generator of a synthetic world, which dataset 'log' does not have (use --dataset shop)"
    assert not (tmp_path / "out").exists()


def test_unknown_model_names_it_and_the_known_ones(tmp_path: Path) -> None:
    message = invoke_bad(["benchmark", "--dataset", "shop:tiny", "--models", "popularity,sasrek", "--out", str(tmp_path / "out")], tmp_path)
    assert message.startswith("unknown model(s) ['sasrek']; known: ") and "popularity" in message


@pytest.mark.parametrize("columns", ["40", "200"])
def test_the_real_command_prints_one_unwrapped_line(tmp_path: Path, columns: str) -> None:
    # The installed entry point, not CliRunner: what a user sees in a narrow or wide terminal.
    env = {**os.environ, "COLUMNS": columns, "TERM": "xterm-256color"}
    env.pop("SEQREC_DEBUG", None)
    result = subprocess.run(
        [sys.executable, "-m", "seqrec.cli", "benchmark", "--dataset", "shop:huge", "--out", str(tmp_path / "out")],
        check=False, capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"error: unknown shop size 'huge'; {SIZES}\n"
    assert result.stdout == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"config": {"recent_dayz": 3}}', "has no field 'recent_dayz'"),
        ('{"config": {"recent_days": "three"}}', "recent_days must be float"),
        ('{"config": ', "cannot parse"),
        ('{"value": 0.1}', "no 'config' table"),
    ],
    ids=["misspelt-field", "wrong-type", "truncated-json", "no-config"],
)
def test_a_bad_tuned_config_names_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, fragment: str) -> None:
    monkeypatch.chdir(tmp_path)  # tuned configs are read from ./configs/tuned/<dataset>/<split>/
    tuned = tmp_path / "configs" / "tuned" / "shop" / "loo" / "popularity.json"
    tuned.parent.mkdir(parents=True)
    tuned.write_text(content)
    message = invoke_bad(["benchmark", "--dataset", "shop:tiny", "--models", "popularity", "--tuned", "--out", str(tmp_path / "out")], tmp_path)
    assert "popularity.json" in message and fragment in message, message


def test_a_dataset_with_no_user_to_evaluate_names_the_dataset(tmp_path: Path) -> None:
    log = tmp_path / "short.csv"
    log.write_text("user,item,timestamp\n" + "".join(f"u{u},i{u % 3},{10 * u}\n" for u in range(6)))
    message = invoke_bad(
        ["benchmark", "--dataset", str(log), "--models", "popularity", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")],
        tmp_path / "out",
    )
    assert message.startswith("short") and "no user can be evaluated" in message, message
