"""ONNX export: a tiny SASRec (torch's dynamo exporter) and GRU4Rec (the TorchScript exporter, for
its packed GRU) score in onnxruntime as in PyTorch, on random and real histories, for any batch
size; models without a network are refused with the reason; the CLI writes and checks the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models import REGISTRY
from seqrec.models.base import CapabilityError, Recommender
from seqrec.serving.artifact import save_artifact
from seqrec.serving.export import (
    TOLERANCE,
    export_onnx,
    exportable,
    onnx_inputs,
    onnx_session,
    random_histories,
)
from seqrec.testing import CYCLE_HISTORIES, cycle_world

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'seqrec[export]'; the dev extra has it)")
onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'seqrec[export]'; the dev extra has it)")

WORLD = cycle_world()


def tiny(name: str) -> Recommender:
    model_class = REGISTRY[name]
    return model_class(dict(model_class.contract.config)).fit(WORLD)


@pytest.mark.parametrize(("name", "exporter"), [("sasrec", "dynamo"), ("gru4rec", "torchscript")])
def test_the_export_scores_as_pytorch(tmp_path: Path, name: str, exporter: str) -> None:
    model = tiny(name)
    result = export_onnx(model, tmp_path / f"{name}.onnx", real_histories=CYCLE_HISTORIES)
    assert result.exporter == exporter
    assert result.max_abs_diff_random < TOLERANCE and result.max_abs_diff_real is not None and result.max_abs_diff_real < TOLERANCE
    session = onnx_session(result.path, threads=1)
    for histories in (CYCLE_HISTORIES.rows(np.arange(1)), WORLD.rows(np.arange(40)), random_histories(WORLD.n_items, 8, 7, seed=3)):
        found = session.run(None, {"input_ids": onnx_inputs(histories, model.config.max_len)})[0]
        expected = model.checked_scores(histories)
        assert found.shape == (len(histories), WORLD.n_items + 1)  # a dynamic batch: 1, 40 and 7 rows
        assert np.isneginf(found[:, 0]).all()
        assert np.abs(found[:, 1:] - expected[:, 1:]).max() < TOLERANCE
    props = {p.key: p.value for p in onnx.load(result.path).metadata_props}
    assert props["seqrec.model"] == name and props["seqrec.max_len"] == "8" and props["seqrec.n_items"] == "11"


def test_histories_longer_than_max_len_keep_their_last_items() -> None:
    histories = SequenceData.from_lists([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [3]], 11)
    assert onnx_inputs(histories, 4).tolist() == [[7, 8, 9, 10], [0, 0, 0, 3]]


def test_models_without_a_network_are_not_exported(tmp_path: Path) -> None:
    model = REGISTRY["markov"]().fit(WORLD)
    assert "no torch network" in exportable(model)
    with pytest.raises(CapabilityError, match="no torch network"):
        export_onnx(model, tmp_path / "markov.onnx")
    assert not list(tmp_path.iterdir())


def test_a_network_that_reads_timestamps_is_not_exported(tmp_path: Path) -> None:
    model_class = REGISTRY["hstu"]
    model = model_class({**model_class.contract.config, "epochs": 1}).fit(WORLD)
    assert "timestamps" in exportable(model)
    with pytest.raises(CapabilityError, match="timestamps"):
        export_onnx(model, tmp_path / "hstu.onnx")
    assert not list(tmp_path.iterdir())


def test_the_cli_exports_an_artifact(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seqrec.cli import app

    folder = save_artifact(tiny("sasrec"), tmp_path / "sasrec", ItemInfo.ids_only(11), dataset_name="c", fingerprint="f", training={})
    users = tmp_path / "users.csv"
    users.write_text("user,item\na,1\na,2\na,3\nb,9\nb,10\n")
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(folder), "--format", "onnx", "--users", str(users)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sasrec.onnx").is_file()
    assert "max abs difference onnxruntime vs PyTorch" in result.output and "users.csv" in result.output
    out = tmp_path / "elsewhere" / "model.onnx"
    assert runner.invoke(app, ["export", str(folder), "--out", str(out)]).exit_code == 0 and out.is_file()
    refused = runner.invoke(app, ["export", str(folder), "--format", "tflite"])
    assert refused.exit_code == 2 and "unknown export format" in refused.output
    markov = save_artifact(REGISTRY["markov"]().fit(WORLD), tmp_path / "markov", ItemInfo.ids_only(11), dataset_name="c", fingerprint="f", training={})
    refused = runner.invoke(app, ["export", str(markov)])
    assert refused.exit_code == 2 and "no torch network" in refused.output


def test_a_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from seqrec.serving.export import require_export_packages

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'seqrec\[export\]'"):
        require_export_packages()
