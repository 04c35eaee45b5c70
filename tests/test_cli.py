"""End-to-end tests of the ``seqrec`` command on tiny worlds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqrec.cli import app

runner = CliRunner()
FAST_MODELS = "oracle,oracle-observable,popularity,als,markov,seq-rules,sknn"


def test_walkthrough_writes_json_and_html(tmp_path: Path) -> None:
    result = runner.invoke(app, ["walkthrough", "--size", "tiny", "--models", FAST_MODELS, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "walkthrough.json").read_text())
    assert set(report["models"]) == set(FAST_MODELS.split(","))
    for model in report["models"].values():
        assert len(model["top10"]) == 10
        assert abs(sum(model["category_share"].values()) - 1) < 1e-6
        assert model["explanation"]["summary"]
        assert 0 <= model["metrics"]["NDCG@10"] <= 1
    assert report["persona"]["history"][-1]["title"] == "Padded Lifting Gloves"
    assert report["models"]["oracle"]["metrics"]["NDCG@10_pct_of_oracle"] == 100.0
    assert report["models"]["oracle-observable"]["metrics"]["NDCG@10_pct_of_oracle-observable"] == 100.0
    assert report["references"] == ["oracle", "oracle-observable"]
    # P(her next purchase is in the top-10) by the generator: no list beats the oracle's own.
    chances = {name: model["hit_probability"] for name, model in report["models"].items()}
    assert 0 < chances["popularity"] < chances["oracle"] <= 1
    assert max(chances.values()) == chances["oracle"]
    html = (tmp_path / "walkthrough.html").read_text()
    assert "<svg" in html and "blog_author" in html


def test_walkthrough_with_a_history_file(tmp_path: Path) -> None:
    history = tmp_path / "me.csv"
    history.write_text("timestamp,item\n2025-03-01,Percussion Massage Gun\n2025-03-05,shop-0001\n")
    result = runner.invoke(app, ["walkthrough", "--size", "tiny", "--models", "popularity,markov", "--history", str(history), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "walkthrough.json").read_text())
    assert report["persona"]["history"][0]["title"] == "Percussion Massage Gun"
    assert report["persona"]["name"] == "me"
    assert all("hit_probability" not in model for model in report["models"].values())  # no truth for her


def test_walkthrough_shares_follow_the_history_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    import seqrec.cli

    monkeypatch.setattr(seqrec.cli, "console", Console(width=250))  # the table unfolded, at any terminal width
    history = tmp_path / "switcher.csv"
    rows = ["Mirrorless Camera Body", "shop-0456", "Gentle Foaming Cleanser, 8 oz", "shop-0410", "Road Bike Helmet", "shop-0503"]
    history.write_text("timestamp,item\n" + "".join(f'2025-03-{day + 1:02d},"{item}"\n' for day, item in enumerate(rows)))
    out = tmp_path / "out"
    result = runner.invoke(app, ["walkthrough", "--size", "tiny", "--models", "popularity,markov", "--history", str(history), "--out", str(out)])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if line.startswith("┃") and "first pick" in line)
    columns = [cell.strip() for cell in header.strip("┃ ").split("┃")]
    assert columns == ["model", "photography", "skincare", "cycling", "other", "first pick"]
    report = json.loads((out / "walkthrough.json").read_text())
    assert report["persona"]["categories"] == ["photography", "skincare", "cycling", "other"]
    assert all(list(model["category_share"]) == columns[1:5] for model in report["models"].values())
    assert ">cycling</text>" in (out / "walkthrough.html").read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("when,item\n1,shop-0001\n", "missing column"),
        ("timestamp,item\nyesterday,shop-0001\n", "row 2, field 'timestamp'"),
        ("timestamp,item\n1,shop-0001\n2,No Such Thing\n", "row 3, field 'item'"),
        ("timestamp,item\n", "empty"),
    ],
)
def test_bad_history_file_exits_2_naming_row_and_field(tmp_path: Path, content: str, message: str) -> None:
    history = tmp_path / "bad.csv"
    history.write_text(content)
    out = tmp_path / "out"
    result = runner.invoke(app, ["walkthrough", "--size", "tiny", "--models", "popularity", "--history", str(history), "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.output and "bad.csv" in result.output
    assert not out.exists()


def test_unknown_model_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["walkthrough", "--size", "tiny", "--models", "popularity,sasrek", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "sasrek" in result.output


def test_benchmark_writes_leaderboard(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["benchmark", "--dataset", "shop:tiny", "--split", "temporal", "--models", "popularity,markov", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "shop-temporal.json").read_text())
    assert board["leaderboard"][0]["model"] == "markov"
    assert board["split"] == "temporal" and board["threads"] == 1
    assert "fit_seconds" in board["leaderboard"][0] and "eval_seconds" in board["leaderboard"][0]
    assert "| markov |" in (tmp_path / "shop-temporal.md").read_text()


def test_benchmark_reports_per_epoch_time_of_networks(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text("[sasrec]\nepochs = 2\npatience = 5\ndim = 8\nmax_len = 10\nn_layers = 1\n")
    result = runner.invoke(
        app,
        ["benchmark", "--dataset", "shop:tiny", "--models", "markov,sasrec", "--config", str(config), "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads((tmp_path / "shop-loo.json").read_text())["leaderboard"]}
    assert rows["sasrec"]["epochs"] == 2 and 1 <= rows["sasrec"]["best_epoch"] <= 2
    assert 0 < rows["sasrec"]["epoch_seconds"] <= rows["sasrec"]["fit_seconds"]
    assert "epoch_seconds" not in rows["markov"]  # fitted in one go: no epochs
    table = (tmp_path / "shop-loo.md").read_text()
    assert "s/epoch (best / run)" in table and f"({rows['sasrec']['best_epoch']} / 2)" in table


def test_tune_saves_the_best_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["tune", "markov", "--dataset", "shop:tiny", "--trials", "3"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "configs/tuned/shop/loo/markov.json").read_text())
    assert len(saved["trials"]) == 3
    assert saved["value"] == max(t["value"] for t in saved["trials"])
    assert saved["metric"] == "valid NDCG@10"
    assert saved["trials"][0]["config"] == {}  # trial 0 is the base config: here the defaults
    assert saved["budget"] == {"trials": 3, "timeout_seconds": None, "threads": 1, "seed": 0}


def test_tune_timeout_stops_starting_trials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Optuna checks the budget before each trial: the first always runs, none after a spent budget.
    result = runner.invoke(app, ["tune", "markov", "--dataset", "shop:tiny", "--trials", "5", "--timeout", "1e-9"])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "configs/tuned/shop/loo/markov.json").read_text())
    assert len(saved["trials"]) == 1 and saved["budget"]["timeout_seconds"] == 1e-9


def test_tune_rejects_a_non_positive_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["tune", "markov", "--dataset", "shop:tiny", "--timeout", "0"])
    assert result.exit_code == 2
    assert "timeout must be positive" in result.output
    assert not (tmp_path / "configs").exists()


def test_models_lists_every_registered_model() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    for name in ("popularity", "als", "markov", "seq-rules"):
        assert name in result.output


def test_tune_runs_a_base_config_outside_the_searched_ranges() -> None:
    from seqrec.data.datasets import load_dataset
    from seqrec.data.splits import leave_one_out
    from seqrec.tuning import tune

    # SR-GNN's default weight decay 0 lies outside its log-scale range: trial 0 must still run.
    dataset = load_dataset("shop:tiny")
    base = {"max_len": 8, "epochs": 1, "max_batches_per_epoch": 2, "batch_size": 16, "progress": False}
    result = tune("srgnn", dataset, leave_one_out(dataset.sequences), trials=2, base_config=base)
    assert [trial["number"] for trial in result["trials"]] == [0, 1]
    assert result["trials"][0]["config"] == base
    assert result["trials"][1]["config"]["weight_decay"] > 0
