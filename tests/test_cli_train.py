"""``seqrec train`` then ``seqrec recommend``: a model trained for use, saved as an artifact and asked
about new histories given as item ids or titles, one at a time or one per user."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import seqrec
from seqrec.cli import app
from seqrec.data.datasets import load_dataset
from seqrec.experiment import train_to_deploy

runner = CliRunner()
SASREC = {"epochs": 2, "dim": 16, "max_len": 20, "progress": False}
HISTORY = "item,timestamp\nPercussion Massage Gun,2025-03-01\nshop-0001,2025-03-05\nno such thing,2025-03-06\n"


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _error(args: list[str]) -> str:
    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("artifacts")
    config = root / "tiny.toml"
    config.write_text("[sasrec]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in SASREC.items()))
    out = {name: root / name for name in ("popularity", "markov", "sasrec")}
    _ok(["train", "popularity", "--dataset", "shop:tiny", "--out", out["popularity"]])
    _ok(["train", "markov", "--dataset", "shop:tiny", "--out", out["markov"], "--holdout"])
    _ok(["train", "sasrec", "--dataset", "shop:tiny", "--out", out["sasrec"], "--config", config])
    return {**out, "config": config}


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "me.csv"
    path.write_text(HISTORY)
    return path


def test_train_writes_an_artifact_trained_on_every_history(trained: dict[str, Path]) -> None:
    manifest = json.loads((trained["popularity"] / "manifest.json").read_text())
    assert manifest["model"]["name"] == "popularity" and manifest["dataset"]["name"] == "shop"
    training = manifest["training"]
    assert training["holdout"] is False and "test" not in training
    dataset = load_dataset("shop:tiny")
    assert training["train_data"]["interactions"] == dataset.sequences.n_interactions
    assert manifest["dataset"]["fingerprint"] == dataset.sequences.fingerprint()
    assert training["dataset_argument"] == "shop:tiny" and training["command"].startswith("seqrec ")


def test_holdout_stores_validation_and_test_metrics(trained: dict[str, Path]) -> None:
    training = json.loads((trained["markov"] / "manifest.json").read_text())["training"]
    assert training["holdout"] is True and training["split"].startswith("leave-one-out")
    assert 0 < training["test"]["NDCG@10"] <= 1 and 0 < training["valid"]["HR@10"] <= 1
    assert training["train_data"]["interactions"] < load_dataset("shop:tiny").sequences.n_interactions


@pytest.mark.parametrize("model", ["popularity", "markov", "sasrec"])
def test_recommend_for_a_history_of_ids_and_titles(trained: dict[str, Path], history: Path, model: str) -> None:
    result = runner.invoke(app, ["recommend", str(trained[model]), "--history", str(history), "-k", "3", "--format", "json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert [r["rank"] for r in answer["items"]] == [1, 2, 3]
    assert answer["unknown"] == ["no such thing"]
    assert "warning: 1 unknown item(s) skipped" in result.stderr and "'no such thing'" in result.stderr
    table = _ok(["recommend", trained[model], "--history", history, "-k", "3"])
    assert answer["items"][0]["item"] in table


def test_markov_follows_the_last_item(trained: dict[str, Path], history: Path) -> None:
    answer = json.loads(_ok(["recommend", trained["markov"], "--history", history, "-k", "1", "--format", "json"]))
    assert answer["items"][0]["category"] == "cat supplies"  # the history ends with a cat litter mat


def test_strict_stops_on_an_unknown_item(trained: dict[str, Path], history: Path, tmp_path: Path) -> None:
    stderr = _error(["recommend", trained["popularity"], "--history", history, "--strict", "--out", tmp_path / "r.json"])
    assert "error: 1 unknown item(s) in the history: 'no such thing'" in stderr
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("suffix", ["json", "csv", "parquet"])
def test_recommend_writes_json_csv_and_parquet(trained: dict[str, Path], history: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"recs.{suffix}"
    _ok(["recommend", trained["popularity"], "--history", history, "-k", "4", "--out", out])
    if suffix == "json":
        items = json.loads(out.read_text())["items"]
        assert [r["rank"] for r in items] == [1, 2, 3, 4]
    else:
        frame = pl.read_csv(out) if suffix == "csv" else pl.read_parquet(out)
        assert frame.columns == ["rank", "item", "title", "category", "score"]
        assert frame["rank"].to_list() == [1, 2, 3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["me.csv", out.name])  # no temporary file left


def test_users_mode_gives_one_list_per_user(trained: dict[str, Path], tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user,item,timestamp\nann,shop-0001,1\nbob,Percussion Massage Gun,1\nann,shop-0002,2\nbob,nope,2\n")
    out = tmp_path / "recs.parquet"
    result = runner.invoke(app, ["recommend", str(trained["sasrec"]), "--users", str(users), "-k", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 unknown item(s) in 1 of 2 histories skipped" in result.stderr
    frame = pl.read_parquet(out)
    assert frame.columns == ["user", "rank", "item", "title", "category", "score"]
    assert frame["user"].to_list() == ["ann"] * 5 + ["bob"] * 5
    assert frame["rank"].to_list() == [1, 2, 3, 4, 5] * 2
    printed = json.loads(_ok(["recommend", trained["sasrec"], "--users", users, "-k", "2", "--format", "json"]))
    assert [entry["user"] for entry in printed] == ["ann", "bob"] and printed[1]["unknown"] == ["nope"]


def test_the_sasrec_artifact_recommends_as_the_trained_model(trained: dict[str, Path]) -> None:
    dataset = load_dataset("shop:tiny")
    model = train_to_deploy(dataset, "sasrec", SASREC, threads=1).model  # the same seeded training
    loaded = seqrec.load(trained["sasrec"])
    histories = dataset.sequences.rows(np.arange(20))
    np.testing.assert_array_equal(loaded.model.recommend(histories, 10), model.recommend(histories, 10))
    np.testing.assert_allclose(loaded.model.checked_scores(histories), model.checked_scores(histories), rtol=1e-6, atol=1e-6)
    labels = [[str(dataset.item_labels[i]) for i in histories.sequence(0)]]
    expected = [str(dataset.item_labels[i]) for i in model.recommend(histories.rows(np.array([0])), 3)[0]]
    assert [r.item for r in loaded.recommend(labels, k=3)[0].items] == expected


def test_resume_continues_from_the_checkpoints(trained: dict[str, Path], tmp_path: Path) -> None:
    args = ["train", "sasrec", "--dataset", "shop:tiny", "--config", trained["config"], "--checkpoint-dir", tmp_path / "ckpt"]
    _ok([*args, "--out", tmp_path / "first"])
    assert (tmp_path / "ckpt").is_dir()
    _ok([*args, "--out", tmp_path / "resumed", "--resume"])
    first, resumed = seqrec.load(tmp_path / "first"), seqrec.load(tmp_path / "resumed")
    histories = load_dataset("shop:tiny").sequences.rows(np.arange(10))
    np.testing.assert_array_equal(first.model.recommend(histories, 10), resumed.model.recommend(histories, 10))
    np.testing.assert_array_equal(resumed.model.recommend(histories, 10), seqrec.load(trained["sasrec"]).model.recommend(histories, 10))


def test_train_refuses_before_training(tmp_path: Path) -> None:
    stderr = _error(["train", "oracle", "--dataset", "shop:tiny", "--out", tmp_path / "oracle"])
    assert "oracle cannot be saved" in stderr
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert "is not a seqrec artifact; refusing to replace it" in _error(["train", "popularity", "--dataset", "shop:tiny", "--out", mine])
    assert "--checkpoint-dir/--resume: popularity is not trained in epochs" in _error(
        ["train", "popularity", "--dataset", "shop:tiny", "--out", tmp_path / "p", "--resume"]
    )
    assert "--resume needs --checkpoint-dir" in _error(["train", "sasrec", "--dataset", "shop:tiny", "--out", tmp_path / "s", "--resume"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"] and (mine / "notes.txt").read_text() == "keep"


def test_recommend_errors(trained: dict[str, Path], history: Path, tmp_path: Path) -> None:
    assert "give one of --history FILE" in _error(["recommend", trained["popularity"]])
    assert "needs --out" in _error(["recommend", trained["popularity"], "--history", history, "--format", "parquet"])
    assert f"{tmp_path / 'none'}: no such artifact folder" in _error(["recommend", tmp_path / "none", "--history", history])
    history.write_text("product\nshop-0001\n")
    assert "me.csv: no 'item' column" in _error(["recommend", trained["popularity"], "--history", history])


def test_user_mode_reads_a_known_users_whole_history(trained: dict[str, Path], tmp_path: Path) -> None:
    dataset = load_dataset("shop:tiny")
    user = str(dataset.user_labels[3])
    history = [str(dataset.item_labels[i]) for i in dataset.sequences.sequence(3)]
    printed = json.loads(_ok(["recommend", trained["markov"], "--user", user, "--dataset", "shop:tiny", "-k", "3", "--format", "json"]))
    expected = seqrec.load(trained["markov"]).recommend([history], k=3)[0]
    assert printed[0]["user"] == user
    assert [entry["item"] for entry in printed[0]["items"]] == [r.item for r in expected.items]
    # Another dataset of the same name (the default shop world) is not the training data.
    assert "not the data the model was trained on" in _error(["recommend", trained["popularity"], "--user", user])
    assert "no user 'nobody'" in _error(["recommend", trained["popularity"], "--user", "nobody", "--dataset", "shop:tiny"])
    assert "give one of" in _error(["recommend", trained["popularity"], "--user", user, "--history", str(tmp_path / "x.csv")])
