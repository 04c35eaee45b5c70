"""Artifacts: a trained model saved as a folder, and loaded back as a :class:`Predictor`.

``save_artifact(model, folder, items, dataset_name=..., fingerprint=..., training=...)`` writes
``manifest.json``, ``state.safetensors`` and ``items.parquet`` through a temporary folder and a
rename; :func:`load_artifact` (and ``seqrec.load``) checks every part and returns a
:class:`~seqrec.serving.inference.Predictor` that recommends for histories given as original item
ids or exact titles. The layout, the checks and their :class:`ArtifactError` messages are
described once, in :mod:`seqrec.models.artifact_format`, which holds the format (in the models
layer so that the contract suite can save every model with it); this module is the serving side.
"""

from __future__ import annotations

from pathlib import Path

from seqrec.models.artifact_format import (
    FORMAT,
    FORMAT_VERSION,
    ArtifactConfigError,
    ArtifactError,
    check_saveable,
    check_target,
    load_model,
    read_manifest,
    save_artifact,
)
from seqrec.serving.inference import Predictor

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ArtifactConfigError",
    "ArtifactError",
    "check_saveable",
    "check_target",
    "load_artifact",
    "read_manifest",
    "save_artifact",
]


def load_artifact(folder: str | Path, *, expected_fingerprint: str | None = None) -> Predictor:
    """The artifact in ``folder`` as a :class:`Predictor` (its ``manifest`` attached).

    ``expected_fingerprint``: the :meth:`~seqrec.data.types.SequenceData.fingerprint` of the data
    the caller expects the model to be trained on; an artifact of other data is refused.
    """
    model, items, manifest = load_model(folder, expected_fingerprint=expected_fingerprint)
    return Predictor(model, items, manifest)
