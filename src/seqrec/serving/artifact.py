"""Artifacts: a trained model saved as a folder, and loaded back as a :class:`Predictor`.

``save_artifact(model, folder, items, dataset_name=..., fingerprint=..., training=...)`` writes
``manifest.json``, ``state.safetensors`` and ``items.parquet`` through a temporary folder and a
rename; with ``ann=True`` (``seqrec train --ann``) it also builds an approximate inner-product
index of the model's item vectors (:mod:`seqrec.serving.ann`, models with
``capabilities.embedding_scores``) and stores it as ``index.faiss``, listed with its size and
SHA-256 (the manifest then says ``"retrieval": "ann:faiss"``). :func:`load_artifact` (and
``seqrec.load``) checks every part and returns a :class:`~seqrec.serving.inference.Predictor` that
recommends for histories given as original item ids or exact titles, through the index when the
artifact has one. The layout, the checks and their :class:`ArtifactError` messages are described
once, in :mod:`seqrec.models.artifact_format`, which holds the format (in the models layer so that
the contract suite can save every model with it); this module is the serving side.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqrec.data.types import ItemInfo
from seqrec.models.artifact_format import (
    FORMAT,
    FORMAT_VERSION,
    ArtifactConfigError,
    ArtifactError,
    IndexFile,
    check_saveable,
    check_target,
    load_model,
    read_index_file,
    read_manifest,
)
from seqrec.models.artifact_format import save_artifact as save_model_folder
from seqrec.models.base import CapabilityError, Recommender
from seqrec.serving.ann import INDEX_FILE, IndexFileError, IndexSettings, ItemIndex, require_faiss
from seqrec.serving.inference import Predictor

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ArtifactConfigError",
    "ArtifactError",
    "check_ann",
    "check_saveable",
    "check_target",
    "load_artifact",
    "read_manifest",
    "save_artifact",
]


def check_ann(model_class: type[Recommender[Any]]) -> None:
    """A :class:`CapabilityError` now, before any training, for a model no index can serve."""
    if not model_class.capabilities.embedding_scores:
        raise CapabilityError(
            f"{model_class.name} does not score by a dot product with item vectors "
            "(capabilities.embedding_scores), so no approximate index can serve it: leave out --ann"
        )


def save_artifact(
    model: Recommender[Any],
    folder: str | Path,
    items: ItemInfo,
    *,
    dataset_name: str,
    fingerprint: str,
    training: Mapping[str, Any],
    ann: bool | IndexSettings = False,
    threads: int | None = None,
) -> Path:
    """Write the fitted ``model`` and its catalog to ``folder`` (see
    :func:`seqrec.models.artifact_format.save_artifact`). ``ann``: also build and store an
    approximate index (``True`` for the default :class:`~seqrec.serving.ann.IndexSettings`);
    ``threads``: faiss's threads while building it."""
    index = None
    if ann is not False:
        check_ann(type(model))
        settings = ann if isinstance(ann, IndexSettings) else IndexSettings()
        built = ItemIndex.build(model.checked_item_vectors(), settings, threads=threads)
        index = IndexFile(INDEX_FILE, built.to_bytes(), built.retrieval, built.settings.to_dict())
    return save_model_folder(
        model, folder, items, dataset_name=dataset_name, fingerprint=fingerprint, training=training, index=index
    )


def load_artifact(folder: str | Path, *, expected_fingerprint: str | None = None) -> Predictor:
    """The artifact in ``folder`` as a :class:`Predictor` (its ``manifest`` attached, and its
    approximate index when it stores one).

    ``expected_fingerprint``: the :meth:`~seqrec.data.types.SequenceData.fingerprint` of the data
    the caller expects the model to be trained on; an artifact of other data is refused.
    """
    model, items, manifest = load_model(folder, expected_fingerprint=expected_fingerprint)
    stored = read_index_file(folder, manifest)
    index = None
    if stored is not None:
        path, data = stored
        try:
            require_faiss()
        except ImportError as error:
            warnings.warn(f"{path}: {error}; recommending by exact search instead", stacklevel=2)
            return Predictor(model, items, manifest)
        try:
            check_ann(type(model))
            index = ItemIndex.from_bytes(data, model.checked_item_vectors(), manifest["index"]["settings"])
        except (IndexFileError, CapabilityError) as error:
            raise ArtifactError(f"{path}: {error}") from None
    return Predictor(model, items, manifest, index=index)
