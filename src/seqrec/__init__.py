"""seqrec: sequential recommendation from Markov chains to transformers, under one API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seqrec.serving.inference import Predictor

__version__ = "0.1.0"
__all__ = ["__version__", "load"]


def load(folder: str | Path, *, expected_fingerprint: str | None = None) -> Predictor:
    """A trained model saved by ``seqrec train`` (or ``save_artifact``), ready to recommend:
    ``seqrec.load(DIR).recommend([["item id", "Exact Title"]], k=10)``.

    Imports the model's code only when called (``import seqrec`` stays light); see
    :func:`seqrec.serving.artifact.load_artifact`.
    """
    from seqrec.serving.artifact import load_artifact

    return load_artifact(folder, expected_fingerprint=expected_fingerprint)
