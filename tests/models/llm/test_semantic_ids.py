"""Semantic IDs: residual k-means and RQ-VAE recover well-separated clusters at level 1, the extra
level makes every code unique, and the report flags a collapsed codebook."""

from __future__ import annotations

import numpy as np
import pytest

from seqrec.models.llm.semantic_ids import (
    PADDING_CODE,
    RQVAESettings,
    SemanticIds,
    codebook_size_for,
    kmeans,
    level_report,
    make_unique,
    semantic_ids,
)


def clustered(n_clusters: int = 4, per_cluster: int = 20, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings [n + 1, dim] (row 0 padding) of well-separated Gaussian clusters, and each item's cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)) * 10.0
    labels = np.repeat(np.arange(n_clusters), per_cluster)
    points = centres[labels] + rng.normal(size=(len(labels), dim)) * 0.3
    embeddings = np.zeros((len(labels) + 1, dim), dtype=np.float32)
    embeddings[1:] = points
    return embeddings, labels


def assert_level_one_recovers(codes: np.ndarray, labels: np.ndarray) -> None:
    first = codes[1:, 0]
    for cluster in np.unique(labels):
        assert len(set(first[labels == cluster].tolist())) == 1, f"cluster {cluster} split over codes"
    assert len({int(first[labels == cluster][0]) for cluster in np.unique(labels)}) == len(np.unique(labels))


@pytest.mark.parametrize("method", ["rkmeans", "rqvae"])
def test_level_one_recovers_the_clusters_and_codes_are_unique(method: str) -> None:
    embeddings, labels = clustered()
    ids = semantic_ids(embeddings, method=method, levels=3, codebook_size=4, seed=0, rqvae=RQVAESettings(epochs=60, threads=1))  # type: ignore[arg-type]
    assert ids.codes.shape == (81, 4)
    assert (ids.codes[0] == PADDING_CODE).all()
    assert_level_one_recovers(ids.codes, labels)
    assert len({tuple(row) for row in ids.codes[1:].tolist()}) == 80  # the extra level: every item its own ID
    assert (ids.codes[1:, :3] < 4).all() and (ids.codes[1:] >= 0).all()
    assert ids.level_sizes[-1] == ids.codes[1:, -1].max() + 1
    categories = np.array(["", *[f"c{label}" for label in labels]], dtype=object)
    report = level_report(ids, categories, dataset="clusters")
    assert report.first_level_same_category == pytest.approx(1.0)
    assert report.random_pair_same_category is not None and report.random_pair_same_category < 0.3
    assert not report.levels[0].collapsed and report.levels[0].codes_used == 4


def test_semantic_ids_are_deterministic() -> None:
    embeddings, _ = clustered(seed=1)
    for method in ("rkmeans", "rqvae"):
        first = semantic_ids(embeddings, method=method, codebook_size=4, rqvae=RQVAESettings(epochs=5, threads=1))  # type: ignore[arg-type]
        second = semantic_ids(embeddings, method=method, codebook_size=4, rqvae=RQVAESettings(epochs=5, threads=1))  # type: ignore[arg-type]
        np.testing.assert_array_equal(first.codes, second.codes)


def test_make_unique_numbers_colliding_codes_in_row_order() -> None:
    codes = np.array([[0, 1], [0, 1], [2, 3], [0, 1], [2, 3], [1, 1]])
    unique = make_unique(codes)
    assert unique[:, -1].tolist() == [0, 1, 0, 2, 1, 0]
    assert len({tuple(row) for row in unique.tolist()}) == len(codes)


def test_the_report_flags_a_collapsed_codebook() -> None:
    n_items = 30
    codes = np.zeros((n_items + 1, 3), dtype=np.int64)
    codes[0] = PADDING_CODE
    codes[1:, :2] = 0  # every item the same code at both quantiser levels
    codes[1:] = make_unique(codes[1:, :2])
    ids = SemanticIds(codes, np.array([8, 8, n_items]), "rkmeans")
    report = level_report(ids)
    assert report.collapsed
    assert report.levels[0].collapsed and report.levels[1].collapsed and not report.levels[2].collapsed
    assert report.colliding_items == n_items and report.distinct_codes == 1 and report.largest_collision == n_items
    assert "COLLAPSED" in report.to_markdown()
    assert report.to_dict()["collapsed"] is True


def test_a_healthy_report_is_not_flagged() -> None:
    embeddings, _ = clustered()
    report = level_report(semantic_ids(embeddings, method="rkmeans", codebook_size=4))
    assert not report.collapsed and "COLLAPSED:" not in report.to_markdown()
    assert report.first_level_same_category is None  # no categories given


def test_codebook_size_for_the_catalogue() -> None:
    assert codebook_size_for(11) == 4
    assert codebook_size_for(1682) == 16  # ceil(1682 ** (1/3)) = 12 -> 16
    assert codebook_size_for(546) == 16  # 9 -> 16
    assert codebook_size_for(64) == 4
    assert codebook_size_for(65) == 8


def test_kmeans_with_fewer_points_than_clusters() -> None:
    points = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    centroids, assign = kmeans(points, 5, seed=0)
    assert centroids.shape == (5, 2) and assign[0] == assign[2] != assign[1]


def test_rqvae_does_not_collapse_on_unit_norm_sentence_like_vectors() -> None:
    """Unit-norm vectors in many dimensions (coordinates ~ 1/sqrt(D), as sentence encoders give):
    without standardising the inputs, the quantisation terms dominated and every item got one code."""
    embeddings, labels = clustered(dim=128, seed=3)
    embeddings[1:] /= np.linalg.norm(embeddings[1:], axis=1, keepdims=True)
    ids = semantic_ids(embeddings, method="rqvae", codebook_size=4, rqvae=RQVAESettings(epochs=100, threads=1))
    report = level_report(ids)
    assert not report.collapsed, report.to_markdown()
    assert_level_one_recovers(ids.codes, labels)


def test_the_semantic_ids_command_prints_and_writes_the_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from seqrec.cli import app

    args = ["semantic-ids", "--dataset", "shop:tiny", "--method", "rkmeans", "--encoder", "hashing", "--out", str(tmp_path), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| level | K |" in result.output and "distinct codes" in result.output
    written = json.loads(next(tmp_path.glob("semantic_ids_*.json")).read_text())
    assert written["method"] == "rkmeans" and len(written["levels"]) == 4
    bad = CliRunner().invoke(app, ["semantic-ids", "--dataset", "shop:tiny", "--method", "vq"])
    assert bad.exit_code == 2 and "--method" in bad.output
