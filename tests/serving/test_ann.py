"""Embedding scores and the approximate index: ``score == query_vectors @ item_vectors.T`` for every
model that declares it, exact search equal to ``model.recommend``, the faiss index's recall against
exact search, and an artifact that stores an index (round trip, damage, the manifest's word that
the lists are approximate)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models import REGISTRY
from seqrec.models.base import CapabilityError, Recommender
from seqrec.ranking import Exclusion
from seqrec.serving.ann import ExactIndex, IndexSettings, ItemIndex
from seqrec.serving.artifact import ArtifactError, load_artifact, save_artifact
from seqrec.serving.inference import Predictor
from seqrec.testing import CYCLE_HISTORIES, cycle_world

faiss = pytest.importorskip("faiss", reason="faiss-cpu is not installed (pip install 'seqrec[ann]'; the dev extra has it)")

WORLD = cycle_world()
EMBEDDING_MODELS = sorted(name for name in REGISTRY if REGISTRY[name].capabilities.embedding_scores)
_FITTED: dict[str, Recommender] = {}


def fitted(name: str) -> Recommender:
    """The registered model ``name`` fitted on the cycle world with its contract's tiny settings."""
    if name not in _FITTED:
        model_class = REGISTRY[name]
        _FITTED[name] = model_class(dict(model_class.contract.config)).fit(WORLD, items=ItemInfo.ids_only(WORLD.n_items))
    return _FITTED[name]


def clustered(n_items: int, dim: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Item vectors [n_items + 1, dim] (row 0 padding) and queries around 40 random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim)).astype(np.float32)
    items = centres[rng.integers(0, 40, n_items)] + 0.4 * rng.normal(size=(n_items, dim)).astype(np.float32)
    queries = centres[rng.integers(0, 40, n_queries)] + 0.4 * rng.normal(size=(n_queries, dim)).astype(np.float32)
    return np.vstack([np.zeros((1, dim), np.float32), items]), queries


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth)]))


def test_the_models_that_declare_embedding_scores() -> None:
    # ALS, BPR-MF and the networks that score hidden · item table (+ bias); not the others.
    assert {"als", "bpr", "sasrec", "gru4rec", "bert4rec", "narm", "cl4srec", "duorec", "unisrec"} <= set(EMBEDDING_MODELS)
    assert not {"popularity", "markov", "item-knn", "fpmc"} & set(EMBEDDING_MODELS)
    with pytest.raises(CapabilityError, match="dot product"):
        REGISTRY["popularity"]().fit(WORLD).query_vectors(CYCLE_HISTORIES)


@pytest.mark.parametrize("name", EMBEDDING_MODELS)
def test_scores_are_the_dot_product_of_query_and_item_vectors(name: str) -> None:
    model = fitted(name)
    queries = model.checked_query_vectors(CYCLE_HISTORIES)
    vectors = model.checked_item_vectors()
    assert queries.dtype == vectors.dtype == np.float32
    assert queries.shape == (len(CYCLE_HISTORIES), vectors.shape[1])
    assert vectors.shape[0] == WORLD.n_items + 1
    scores = model.checked_scores(CYCLE_HISTORIES)
    np.testing.assert_allclose((queries @ vectors.T)[:, 1:], scores[:, 1:], rtol=1e-5, atol=1e-5 * np.abs(scores[:, 1:]).max())


@pytest.mark.parametrize("name", ["als", "bpr", "sasrec", "bert4rec"])
def test_exact_search_is_model_recommend(name: str) -> None:
    model = fitted(name)
    exact = ExactIndex(model.checked_item_vectors())
    queries = model.checked_query_vectors(CYCLE_HISTORIES)
    for exclude in (False, True):
        expected, expected_scores = model.recommend_with_scores(CYCLE_HISTORIES, 5, exclude=exclude)
        rows = [Exclusion.of(exclude).row_items(CYCLE_HISTORIES, row) for row in range(len(CYCLE_HISTORIES))]
        found, found_scores = exact.search_with_scores(queries, 5, rows if exclude else None)
        assert expected_scores is not None
        np.testing.assert_allclose(found_scores, expected_scores, rtol=1e-5, atol=1e-5)
        # Same lists, except where items whose scores tie within float error swap places (ALS
        # with 2 factors gives the items of one cycle nearly equal scores).
        differ = found != expected
        assert np.allclose(found_scores[differ], expected_scores[differ], rtol=1e-5, atol=1e-5)
        if name != "als":
            assert not differ.any()


def test_exact_index_never_returns_padding_and_respects_exclusion() -> None:
    vectors, queries = clustered(30, 4, 6)
    vectors[0] = 100.0  # padding would win every query if it were searched
    exact = ExactIndex(vectors)
    scores = queries @ vectors.T
    scores[:, 0] = -np.inf
    assert (exact.search(queries, 5) == np.argsort(-scores, axis=1, kind="stable")[:, :5]).all()
    excluded = [[int(i) for i in row[:3]] for row in exact.search(queries, 3)]
    found = exact.search(queries, 5, excluded)
    assert not any(set(row) & set(skip) for row, skip in zip(found.tolist(), excluded))
    assert (found > 0).all()
    assert exact.search(queries, 100).shape == (6, 30)  # k larger than the catalog: every item


@pytest.mark.parametrize("method", ["ivf", "hnsw"])
def test_approximate_search_recalls_the_exact_top_10(method: str) -> None:
    vectors, queries = clustered(5_000, 16, 200)
    exact = ExactIndex(vectors).search(queries, 10)
    index = ItemIndex.build(vectors, IndexSettings(method=method, nprobe=4), threads=1)  # IVF: 4 of 71 cells
    found = index.search(queries, 10)
    assert found.shape == (200, 10) and (found > 0).all()
    assert recall(found, exact) >= 0.9
    # With exclusions: never an excluded item, still k items, still close to exact.
    excluded = [row[:4].tolist() for row in exact]
    found = index.search(queries, 10, excluded)
    assert not any(set(row) & set(skip) for row, skip in zip(found.tolist(), excluded))
    assert recall(found, ExactIndex(vectors).search(queries, 10, excluded)) >= 0.9
    assert index.retrieval == "ann:faiss"


def test_approximate_scores_are_exact_and_ordered_like_top_k() -> None:
    vectors, queries = clustered(2_000, 8, 50)
    index = ItemIndex.build(vectors, IndexSettings(method="ivf", nprobe=1))  # one cell: short rows fall back to exact
    ids, scores = index.search_with_scores(queries, 10, [list(range(1, 200))] * 50)
    np.testing.assert_allclose(scores, np.einsum("bd,bkd->bk", queries, vectors[ids]), rtol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert (ids >= 200).all()


def test_the_index_round_trips_through_bytes_without_pickle() -> None:
    vectors, queries = clustered(3_000, 8, 40)
    index = ItemIndex.build(vectors, IndexSettings(method="hnsw", hnsw_m=16))
    data = index.to_bytes()
    assert b"pickle" not in data[:64] and not data.startswith(b"\x80")  # faiss's own format
    again = ItemIndex.from_bytes(data, vectors, index.settings.to_dict())
    assert (again.search(queries, 10) == index.search(queries, 10)).all()
    with pytest.raises(ValueError, match="items of dimension"):
        ItemIndex.from_bytes(data, vectors[:, :4], index.settings)
    with pytest.raises(ValueError, match="not a readable faiss index"):
        ItemIndex.from_bytes(data[: len(data) // 2], vectors, index.settings)


# -- artifacts with an index ------------------------------------------------------------------------
def _save(folder: Path, name: str = "sasrec") -> Path:
    return save_artifact(
        fitted(name), folder, ItemInfo.ids_only(WORLD.n_items), dataset_name="cycles", fingerprint=WORLD.fingerprint(), training={}, ann=True
    )


@pytest.mark.parametrize("name", ["als", "sasrec"])
def test_an_artifact_with_an_index_round_trips(tmp_path: Path, name: str) -> None:
    folder = _save(tmp_path / name, name)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["retrieval"] == "ann:faiss"
    assert manifest["index"]["file"] == "index.faiss" and manifest["index"]["settings"]["method"] == "hnsw"
    assert manifest["files"]["index.faiss"]["bytes"] == (folder / "index.faiss").stat().st_size
    predictor = load_artifact(folder)
    assert predictor.retrieval == "ann:faiss" and predictor.index is not None
    histories = [[str(i) for i in CYCLE_HISTORIES.sequence(row)] for row in range(len(CYCLE_HISTORIES))]
    exact = Predictor(predictor.model, predictor.items)
    assert exact.retrieval == "exact"
    for exclude_seen in (False, True):
        found = predictor.recommend(histories, k=4, exclude_seen=exclude_seen)
        expected = exact.recommend(histories, k=4, exclude_seen=exclude_seen)
        # 11 items: the index finds the exact lists (up to near-tied scores swapping).
        for got, want in zip(found, expected):
            assert [r.score for r in got.items] == pytest.approx([r.score for r in want.items], rel=1e-5, abs=1e-5)
            if exclude_seen:
                assert not {r.item for r in got.items} & set(histories[found.index(got)])


def test_an_artifact_without_an_index_says_exact(tmp_path: Path) -> None:
    folder = save_artifact(fitted("als"), tmp_path / "plain", ItemInfo.ids_only(WORLD.n_items), dataset_name="c", fingerprint="f", training={})
    assert json.loads((folder / "manifest.json").read_text())["retrieval"] == "exact"
    assert not (folder / "index.faiss").exists()
    assert load_artifact(folder).index is None


def test_a_damaged_index_file_is_refused_naming_it(tmp_path: Path) -> None:
    folder = _save(tmp_path / "damaged")
    path = folder / "index.faiss"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"index\.faiss: corrupt"):
        load_artifact(folder)
    path.write_bytes(bytes(data[:100]))
    with pytest.raises(ArtifactError, match=r"index\.faiss: truncated"):
        load_artifact(folder)
    path.unlink()
    with pytest.raises(ArtifactError, match=r"index\.faiss: missing"):
        load_artifact(folder)


def test_an_index_that_is_not_faiss_is_refused_even_with_a_matching_checksum(tmp_path: Path) -> None:
    import hashlib

    folder = _save(tmp_path / "forged")
    (folder / "index.faiss").write_bytes(b"not an index")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["index.faiss"] = {"bytes": 12, "sha256": hashlib.sha256(b"not an index").hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"index\.faiss: not a readable faiss index"):
        load_artifact(folder)
    manifest["index"]["file"] = "../elsewhere"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="plain file name"):
        load_artifact(folder)


def test_an_index_needs_a_model_with_embedding_scores(tmp_path: Path) -> None:
    model = REGISTRY["popularity"]().fit(WORLD)
    with pytest.raises(CapabilityError, match="embedding_scores"):
        save_artifact(model, tmp_path / "pop", ItemInfo.ids_only(WORLD.n_items), dataset_name="c", fingerprint="f", training={}, ann=True)
    assert not (tmp_path / "pop").exists()
    with pytest.raises(ValueError, match="cannot use an index"):
        Predictor(model, ItemInfo.ids_only(WORLD.n_items), index=ExactIndex(np.zeros((12, 2), np.float32)))


def test_a_short_list_is_not_filled_with_excluded_items(tmp_path: Path) -> None:
    predictor = load_artifact(_save(tmp_path / "short"))
    everything = [str(i) for i in range(1, 11)]
    lists = predictor.recommend([everything], k=5, exclude_seen=True)
    assert [r.item for r in lists[0].items] == ["11"]


def test_the_cli_trains_with_an_index(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seqrec.cli import app

    result = CliRunner().invoke(app, ["train", "popularity", "--dataset", "shop:tiny", "--out", str(tmp_path / "p"), "--ann"])
    assert result.exit_code == 2 and "leave out --ann" in result.output
    assert not (tmp_path / "p").exists()


def test_query_vectors_of_an_empty_batch() -> None:
    empty = SequenceData.from_lists([], WORLD.n_items)
    for name in ("als", "sasrec"):
        assert fitted(name).checked_query_vectors(empty).shape[0] == 0


def test_without_faiss_the_error_names_the_extra_and_an_artifact_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from seqrec.serving.ann import require_faiss

    folder = _save(tmp_path / "nofaiss")
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"pip install 'seqrec\[ann\]'"):
        require_faiss()
    with pytest.warns(UserWarning, match="exact search instead"):
        predictor = load_artifact(folder)
    assert predictor.retrieval == "exact" and predictor.recommend([["1", "2"]], k=3)[0].items
