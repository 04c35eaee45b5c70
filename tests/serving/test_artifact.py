"""Artifacts: a trained model saved as a folder, loaded back as a Predictor, and every way the folder
can be damaged refused with an ArtifactError that names the file."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import seqrec
from seqrec.data.shop import make_shop_dataset
from seqrec.data.types import ItemInfo
from seqrec.models.base import CapabilityError, ConfigError
from seqrec.models.markov import MarkovChain
from seqrec.models.oracle import OracleRecommender
from seqrec.serving.artifact import ArtifactConfigError, ArtifactError, load_artifact, save_artifact
from seqrec.serving.inference import Predictor
from seqrec.testing import cycle_world

WORLD = cycle_world()
LABELS = np.array(["<pad>", *[f"sku-{i}" for i in range(1, 12)]], dtype=object)
ITEMS = ItemInfo(
    LABELS,
    np.array(["<pad>", *[f"Item {i}" for i in range(1, 12)]], dtype=object),
    np.array(["", *["a"] * 5, *["b"] * 5, "c"], dtype=object),
    np.full(12, "", dtype=object),
    {"price": np.arange(12, dtype=np.float64)},
)


def _save(folder: Path, model: MarkovChain | None = None) -> Path:
    model = model or MarkovChain({"order": 2}).fit(WORLD, items=ITEMS)
    return save_artifact(model, folder, ITEMS, dataset_name="cycles", fingerprint=WORLD.fingerprint(), training={"fit_seconds": 0.1})


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return _save(tmp_path / "markov")


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _edit_manifest(folder: Path, change: Callable[[dict], None]) -> None:
    manifest = _manifest(folder)
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _refused(folder: Path, file: str, match: str, **kwargs: str) -> ArtifactError:
    with pytest.raises(ArtifactError, match=match) as raised:
        load_artifact(folder, **kwargs)
    named = folder / file if file else folder
    assert str(raised.value).startswith(f"{named}:"), raised.value
    return raised.value


# -- the round trip ---------------------------------------------------------------------------------
def test_layout_and_manifest(saved: Path) -> None:
    assert sorted(p.name for p in saved.iterdir()) == ["items.parquet", "manifest.json", "state.safetensors"]
    manifest = _manifest(saved)
    assert manifest["format"] == "seqrec-artifact" and manifest["format_version"] == 1
    assert manifest["seqrec_version"] == seqrec.__version__
    assert manifest["model"] == {"name": "markov", "config": {"order": 2, "discount": 0.75}}
    assert manifest["dataset"] == {"name": "cycles", "fingerprint": WORLD.fingerprint(), "n_items": 11}
    assert manifest["training"] == {"fit_seconds": 0.1}
    assert manifest["state"]["arrays"]["_unigram_counts"] == {"dtype": "int64", "shape": [12]}
    assert set(manifest["files"]) == {"state.safetensors", "items.parquet"}
    assert not list(saved.parent.glob(".markov*")), "no temporary folder is left behind"


def test_seqrec_load_answers_like_the_saved_model(saved: Path) -> None:
    original = Predictor(MarkovChain({"order": 2}).fit(WORLD, items=ITEMS), ITEMS)
    loaded = seqrec.load(saved)
    histories = [["sku-1", "Item 2", "sku-3"], ["sku-9", "sku-10"], ["nothing"]]
    assert [r.to_dict() for r in loaded.recommend(histories, k=4)] == [r.to_dict() for r in original.recommend(histories, k=4)]
    assert loaded.manifest["dataset"]["name"] == "cycles"
    assert loaded.items.attributes["price"].tolist() == list(range(12))
    assert list(loaded.items.titles) == list(ITEMS.titles)


def test_saving_again_replaces_the_artifact(saved: Path) -> None:
    _save(saved, MarkovChain({"order": 1}).fit(WORLD, items=ITEMS))
    assert _manifest(saved)["model"]["config"]["order"] == 1
    assert not list(saved.parent.glob(".markov*"))


def test_import_seqrec_stays_light() -> None:
    code = "import sys, seqrec; print(any(m.startswith(('seqrec.serving', 'torch', 'polars')) for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# -- refused when saving ----------------------------------------------------------------------------
def test_an_oracle_refuses_to_be_saved_and_nothing_is_written(tmp_path: Path) -> None:
    dataset = make_shop_dataset("tiny", seed=0)
    oracle = OracleRecommender().fit(dataset.sequences, world=dataset.extras["world"])
    with pytest.raises(CapabilityError, match="oracle cannot be saved: .*reference"):
        save_artifact(oracle, tmp_path / "oracle", dataset.item_info(), dataset_name="shop", fingerprint="x", training={})
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_an_artifact_is_not_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="not a seqrec artifact; refusing to replace it"):
        _save(folder)
    assert (folder / "notes.txt").read_text() == "keep me"


def test_a_failed_write_leaves_the_old_artifact_and_no_temporary_folder(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (saved / "manifest.json").read_bytes()

    def broken(path: Path, items: ItemInfo) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("seqrec.models.artifact_format._write_items", broken)
    with pytest.raises(OSError, match="disk full"):
        _save(saved, MarkovChain({"order": 1}).fit(WORLD, items=ITEMS))
    assert (saved / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["markov"]


# -- refused when loading ---------------------------------------------------------------------------
def test_a_missing_folder(tmp_path: Path) -> None:
    _refused(tmp_path / "nowhere", "", "no such artifact folder")


@pytest.mark.parametrize("file", ["manifest.json", "state.safetensors", "items.parquet"])
def test_a_missing_file(saved: Path, file: str) -> None:
    (saved / file).unlink()
    _refused(saved, file, "missing")


def test_a_truncated_state_file(saved: Path) -> None:
    data = (saved / "state.safetensors").read_bytes()
    (saved / "state.safetensors").write_bytes(data[: len(data) // 2])
    _refused(saved, "state.safetensors", f"truncated: {len(data) // 2} bytes, the manifest says {len(data)}")


def test_a_corrupt_state_file(saved: Path) -> None:
    data = bytearray((saved / "state.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (saved / "state.safetensors").write_bytes(bytes(data))
    _refused(saved, "state.safetensors", "corrupt: its SHA-256 does not match")


def test_an_unreadable_state_file_whose_manifest_was_updated(saved: Path) -> None:
    (saved / "state.safetensors").write_bytes(b"\xff" * 64)
    record = {"bytes": 64, "sha256": hashlib.sha256(b"\xff" * 64).hexdigest()}
    _edit_manifest(saved, lambda m: m["files"].update({"state.safetensors": record}))
    _refused(saved, "state.safetensors", "not a readable safetensors file")


def test_a_manifest_that_is_not_json(saved: Path) -> None:
    (saved / "manifest.json").write_text('{"format": "seqrec-artifact",')
    _refused(saved, "manifest.json", "not valid JSON")


def test_a_foreign_folder_with_a_manifest(saved: Path) -> None:
    (saved / "manifest.json").write_text(json.dumps({"format": "someone-elses-model", "weights": "w.bin"}))
    _refused(saved, "manifest.json", "not a seqrec artifact \\(format 'someone-elses-model'")


def test_another_format_version(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m.update(format_version=99))
    _refused(saved, "manifest.json", "format version 99; seqrec .* reads version 1")


def test_an_unknown_model_name(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["model"].update(name="markovv"))
    _refused(saved, "manifest.json", "unknown model 'markovv'; known models: .*markov")


def test_a_bad_config_is_a_config_error_naming_the_manifest(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["model"]["config"].update(ordr=3))
    error = _refused(saved, "manifest.json", "has no field 'ordr'")
    assert isinstance(error, ConfigError) and isinstance(error, ArtifactConfigError)


def test_a_config_that_no_longer_fits_the_state(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["model"]["config"].update(order=3))
    _refused(saved, "state.safetensors", "does not fit markov .*no 'keys'")


def test_a_missing_section(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m.pop("dataset"))
    _refused(saved, "manifest.json", "section 'dataset'")


def test_shapes_that_do_not_match_the_arrays(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["state"]["arrays"]["_unigram_counts"].update(shape=[13]))
    _refused(saved, "state.safetensors", "array '_unigram_counts' is int64 \\[12\\], the manifest says")


def test_arrays_missing_from_the_manifest(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["state"]["arrays"].pop("order1.keys"))
    _refused(saved, "state.safetensors", "not listed \\['order1.keys'\\]")


def test_data_other_than_the_expected_is_refused(saved: Path) -> None:
    other = cycle_world(seed=1).fingerprint()
    _refused(saved, "manifest.json", "trained on dataset 'cycles' .* refused", expected_fingerprint=other)
    assert load_artifact(saved, expected_fingerprint=WORLD.fingerprint()).name == "markov"


def test_an_items_file_for_another_catalog(saved: Path) -> None:
    ids_only = ItemInfo.ids_only(11)
    model = MarkovChain().fit(WORLD, items=ids_only)
    save_artifact(model, saved.parent / "other", ids_only, dataset_name="cycles", fingerprint=WORLD.fingerprint(), training={})
    shutil.copy(saved.parent / "other" / "items.parquet", saved / "items.parquet")
    _refused(saved, "items.parquet", "the manifest says|corrupt")
