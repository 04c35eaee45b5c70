"""Semantic IDs: item embeddings to short tuples of discrete codes, and a report that shows collapse.

An item's semantic ID (Rajput et al. 2023, *Recommender Systems with Generative Retrieval*,
NeurIPS 2023, Sec. 3.1) is a tuple ``(c_1, ..., c_L)`` from a coarse-to-fine residual
quantisation of its content embedding: ``c_1`` is the nearest centroid of the embedding, ``c_2``
the nearest centroid of what ``c_1`` leaves over (the residual), and so on. Items with similar
content share prefixes, so a generator that spells the codes out shares what it learns between
them. Two quantisers:

* **residual k-means** (``"rkmeans"``; the default of Snap's GRID): k-means on the embeddings,
  then k-means on the residuals, level by level (:func:`kmeans`: k-means++ seeding and Lloyd
  iterations in numpy, seeded, deterministic; an empty cluster is re-seeded at the point farthest
  from its centroid);
* **RQ-VAE** (``"rqvae"``; the paper's): an MLP encoder to a latent ``z``, ``L`` residual
  quantisation levels with codebooks of ``K`` vectors each, an MLP decoder; loss = reconstruction
  MSE + ``Σ_l ||sg(r_l) - e_l||² + β ||r_l - sg(e_l)||²`` (``β = 0.25``), gradients through the
  quantiser by the straight-through estimator (``z_q = z + sg(ẑ - z)``). Each codebook starts
  as the k-means centroids of its level's residuals on the first batch (without that the codes
  collapse: most items get one code; the paper does the same).

Then one extra level (:func:`make_unique`) numbers the items that share a full code 0, 1, 2, ...
(in id order), so that every item has its own ID (the paper's "collisions" fix).

The codebook size is chosen for the catalogue (:func:`codebook_size_for`):
``ceil(n_items ** (1 / L))`` rounded up to a power of two, at least 4 (``K = 256`` in the paper,
for catalogues of ~10⁴ items with 3 levels, gives mostly empty codebooks on 1,682 movies).

:func:`level_report` gives, per level, the share of the codebook used, the code entropy (bits,
and as a share of ``log2`` of the usable codebook), the full-code collisions before the extra
level, and how often two items sharing a first-level code share a category (against two random
items); a level that uses one code, or whose entropy is under :data:`COLLAPSE_ENTROPY` of the
possible, is flagged ``COLLAPSED``.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from seqrec.data.types import ItemInfo
from seqrec.models.base import json_default
from seqrec.models.llm.text import (
    DEFAULT_TEXT_MODEL,
    CachedEncoder,
    item_text_embeddings,
    text_encoder,
)

SemanticIdMethod = Literal["rkmeans", "rqvae"]
METHODS: tuple[SemanticIdMethod, ...] = ("rkmeans", "rqvae")
PADDING_CODE = -1
"""The codes of row 0 (padding): no item has them."""
COLLAPSE_ENTROPY = 0.25
"""A level whose code entropy is under this share of ``log2(min(K, n_items))`` is flagged collapsed."""
COLLAPSE_UTILISATION = 0.1
"""... and so is one using under this share of the codes it could use (``min(K, n_items)``)."""


# -- choosing K ---------------------------------------------------------------------------------
def codebook_size_for(n_items: int, levels: int = 3, minimum: int = 4) -> int:
    """``ceil(n_items ** (1 / levels))`` rounded up to a power of two, at least ``minimum``."""
    if n_items < 1 or levels < 1:
        raise ValueError(f"codebook_size_for needs n_items >= 1 and levels >= 1, got {n_items}, {levels}")
    root = math.ceil(n_items ** (1.0 / levels) - 1e-9)
    return max(minimum, 1 << max(0, (root - 1).bit_length()))


# -- k-means ------------------------------------------------------------------------------------
def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Centroids ``[k, D]`` and assignments ``[N]`` of ``points [N, D]`` (k-means++ seeding, Lloyd).

    Deterministic for a seed. With fewer distinct points than ``k``, the extra centroids repeat a
    point (and stay unused: ties go to the smaller index).
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if n == 0 or k < 1:
        raise ValueError(f"kmeans needs points and k >= 1, got {n} points, k = {k}")
    rng = np.random.default_rng(seed)
    centroids = np.empty((k, points.shape[1]), dtype=np.float64)
    centroids[0] = points[rng.integers(n)]
    closest = ((points - centroids[0]) ** 2).sum(axis=1)  # [N]
    for index in range(1, k):
        total = closest.sum()
        pick = int(rng.choice(n, p=closest / total)) if total > 0 else int(rng.integers(n))
        centroids[index] = points[pick]
        closest = np.minimum(closest, ((points - centroids[index]) ** 2).sum(axis=1))
    assign = _nearest(points, centroids)
    for _ in range(iterations):
        for index in range(k):
            members = assign == index
            if members.any():
                centroids[index] = points[members].mean(axis=0)
        distances = _squared_distances(points, centroids)  # [N, k]
        new = distances.argmin(axis=1)
        counts = np.bincount(new, minlength=k)
        for empty in np.flatnonzero(counts == 0).tolist():  # re-seed an empty cluster at the worst-served point
            errors = distances[np.arange(n), new]
            far = int(errors.argmax())
            if errors[far] <= 0:
                break  # every point sits on a centroid: fewer distinct points than k
            centroids[empty] = points[far]
            distances = _squared_distances(points, centroids)
            new = distances.argmin(axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
    return centroids, assign


def _squared_distances(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    distances = (points**2).sum(1)[:, None] - 2.0 * points @ centroids.T + (centroids**2).sum(1)[None, :]
    return np.maximum(distances, 0.0)  # [N, k]


def _nearest(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return _squared_distances(points, centroids).argmin(axis=1)


def residual_kmeans(vectors: np.ndarray, levels: int, codebook_size: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """Codes ``[N, levels]``: k-means on ``vectors [N, D]``, then on the residuals, level by level."""
    residual = np.asarray(vectors, dtype=np.float64).copy()
    codes = np.zeros((len(residual), levels), dtype=np.int64)
    for level in range(levels):
        centroids, assign = kmeans(residual, codebook_size, seed=seed + level, iterations=iterations)
        codes[:, level] = assign
        residual = residual - centroids[assign]
    return codes


# -- RQ-VAE -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RQVAESettings:
    """Settings of :func:`rqvae_codes` (the paper: hidden 512-256-128, latent 32, β 0.25)."""

    hidden: tuple[int, ...] = (256, 128)
    latent: int = 32
    beta: float = 0.25
    epochs: int = 300
    lr: float = 1e-3
    batch_size: int = 1024
    threads: int = 0


class RQVAE(nn.Module):
    """Encoder MLP -> ``levels`` residual quantisers (``codebook_size`` vectors each) -> decoder MLP."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...], latent: int, levels: int, codebook_size: int, beta: float) -> None:
        super().__init__()
        self.encoder = _mlp([in_dim, *hidden, latent])
        self.decoder = _mlp([latent, *reversed(hidden), in_dim])
        self.codebooks = nn.Parameter(torch.randn(levels, codebook_size, latent) * 0.1)  # [L, K, Z]
        self.beta = beta

    @torch.no_grad()
    def initialise_codebooks(self, x: Tensor, seed: int = 0) -> None:
        """Each codebook = k-means centroids of its level's residuals on ``x`` (the first batch)."""
        residual = self.encoder(x).double().numpy()  # [B, Z]
        for level in range(self.codebooks.shape[0]):
            centroids, assign = kmeans(residual, self.codebooks.shape[1], seed=seed + level)
            self.codebooks[level] = torch.from_numpy(centroids).float()
            residual = residual - centroids[assign]

    def quantise(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(codes [B, L], ẑ [B, Z], quantisation loss)`` of latents ``z [B, Z]``."""
        residual = z
        quantised = torch.zeros_like(z)
        codes = []
        loss = z.new_zeros(())
        for codebook in self.codebooks:  # [K, Z]
            distances = torch.cdist(residual.detach(), codebook.detach())  # [B, K]
            index = distances.argmin(dim=1)  # [B]
            chosen = codebook[index]  # [B, Z]
            codebook_loss = (chosen - residual.detach()).pow(2).sum(dim=1).mean()  # ||sg(r) - e||²
            commitment = (residual - chosen.detach()).pow(2).sum(dim=1).mean()  # ||r - sg(e)||²
            loss = loss + codebook_loss + self.beta * commitment
            quantised = quantised + chosen
            residual = residual - chosen.detach()
            codes.append(index)
        return torch.stack(codes, dim=1), quantised, loss

    def loss(self, x: Tensor) -> Tensor:
        z = self.encoder(x)  # [B, Z]
        _, quantised, quantisation = self.quantise(z)
        straight_through = z + (quantised - z).detach()
        return (self.decoder(straight_through) - x).pow(2).sum(dim=1).mean() + quantisation

    def codes(self, x: Tensor) -> Tensor:
        return self.quantise(self.encoder(x))[0]  # [B, L]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def standardised(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` centred and scaled to unit variance per dimension (``float32``): unit-norm
    sentence vectors have coordinates of about ``1/sqrt(D)``, so their reconstruction error is too
    small against the quantisation terms and the encoder collapses every item onto one code."""
    vectors = np.asarray(vectors, dtype=np.float64)
    spread = vectors.std(axis=0)
    return ((vectors - vectors.mean(axis=0)) / np.where(spread > 1e-8, spread, 1.0)).astype(np.float32)


def rqvae_codes(
    vectors: np.ndarray, levels: int, codebook_size: int, seed: int = 0, settings: RQVAESettings | None = None, progress: bool = False
) -> np.ndarray:
    """Codes ``[N, levels]`` of ``vectors [N, D]`` from an RQ-VAE trained on them (module docstring)."""
    settings = settings or RQVAESettings()
    if settings.threads > 0:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(seed)
    data = torch.from_numpy(standardised(vectors))  # [N, D]
    model = RQVAE(data.shape[1], settings.hidden, settings.latent, levels, codebook_size, settings.beta)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    generator = torch.Generator().manual_seed(seed)
    batch = min(settings.batch_size, len(data))
    first = data[torch.randperm(len(data), generator=generator)[:batch]]
    model.initialise_codebooks(first, seed=seed)  # k-means on the first batch, level by level
    for epoch in range(settings.epochs):
        order = torch.randperm(len(data), generator=generator)
        total = 0.0
        for start in range(0, len(data), batch):
            x = data[order[start : start + batch]]
            loss = model.loss(x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(x)
        if progress and (epoch + 1) % max(1, settings.epochs // 10) == 0:
            print(f"rq-vae epoch {epoch + 1}/{settings.epochs}: loss {total / len(data):.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        return model.codes(data).numpy().astype(np.int64)


# -- uniqueness ---------------------------------------------------------------------------------
def make_unique(codes: np.ndarray) -> np.ndarray:
    """``codes [N, L]`` with one more column: 0, 1, 2, ... among the rows sharing a full code (in
    row order), so that every row's code is unique."""
    codes = np.asarray(codes, dtype=np.int64)
    extra = np.zeros(len(codes), dtype=np.int64)
    seen: Counter[tuple[int, ...]] = Counter()
    for row, code in enumerate(map(tuple, codes.tolist())):
        extra[row] = seen[code]
        seen[code] += 1
    return np.concatenate([codes, extra[:, None]], axis=1)


# -- the whole thing ----------------------------------------------------------------------------
@dataclass
class SemanticIds:
    """The semantic IDs of a catalogue.

    ``codes [n_items + 1, L + 1]``: the ``L`` quantiser levels and the extra uniqueness level (row 0,
    padding, is :data:`PADDING_CODE`); ``level_sizes [L + 1]``: the vocabulary of each level
    (``K`` for the quantiser levels, the largest collision group for the extra one).
    """

    codes: np.ndarray
    level_sizes: np.ndarray
    method: str

    @property
    def levels(self) -> int:
        return int(self.codes.shape[1])


def semantic_ids(
    embeddings: np.ndarray,
    method: SemanticIdMethod = "rqvae",
    levels: int = 3,
    codebook_size: int = 0,
    seed: int = 0,
    rqvae: RQVAESettings | None = None,
    progress: bool = False,
) -> SemanticIds:
    """Semantic IDs of the items of ``embeddings [n_items + 1, D]`` (row 0 = padding, ignored).

    ``codebook_size`` 0: :func:`codebook_size_for` the catalogue.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or len(embeddings) < 2:
        raise ValueError(f"semantic_ids needs embeddings [n_items + 1, D] with n_items >= 1, got shape {embeddings.shape}")
    if method not in METHODS:
        raise ValueError(f"unknown semantic-id method {method!r}; choose {', '.join(METHODS)}")
    n_items = len(embeddings) - 1
    size = codebook_size or codebook_size_for(n_items, levels)
    vectors = embeddings[1:]
    if method == "rkmeans":
        raw = residual_kmeans(vectors, levels, size, seed=seed)
    else:
        raw = rqvae_codes(vectors, levels, size, seed=seed, settings=rqvae, progress=progress)
    unique = make_unique(raw)
    codes = np.full((n_items + 1, levels + 1), PADDING_CODE, dtype=np.int64)
    codes[1:] = unique
    sizes = np.array([size] * levels + [int(unique[:, -1].max()) + 1], dtype=np.int64)
    return SemanticIds(codes, sizes, method)


# -- the report ---------------------------------------------------------------------------------
@dataclass
class LevelReport:
    level: int
    codebook_size: int
    codes_used: int
    utilisation: float
    """Codes used / ``min(K, n_items)`` (the most a level can use)."""
    entropy_bits: float
    entropy_share: float
    """Entropy / ``log2(min(K, n_items))`` (1 = uniform use of every usable code)."""
    largest_group: int
    """Items with the most common code of this level."""
    collapsed: bool
    extra: bool = False
    """The uniqueness level (not a quantiser level: its use says how many items collided)."""


@dataclass
class SemanticIdReport:
    """:func:`level_report`'s result; ``to_dict`` for JSON, ``to_markdown`` and ``__str__`` to read."""

    dataset: str
    method: str
    n_items: int
    levels: list[LevelReport]
    colliding_items: int
    """Items sharing their full quantiser code with another item (before the extra level)."""
    distinct_codes: int
    """Distinct full quantiser codes (before the extra level)."""
    largest_collision: int
    first_level_same_category: float | None
    """Share of item pairs sharing a first-level code that also share a category (None: no categories)."""
    random_pair_same_category: float | None
    """The same share over all item pairs (what chance gives)."""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def collapsed(self) -> bool:
        return any(level.collapsed for level in self.levels if not level.extra)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["collapsed"] = self.collapsed
        return out

    def to_markdown(self) -> str:
        lines = [
            f"# Semantic IDs: {self.dataset} ({self.method})",
            "",
            f"{self.n_items} items; settings: " + ", ".join(f"{key} = {value}" for key, value in self.settings.items()),
            "",
            "| level | K | codes used | utilisation | entropy (bits) | entropy / log2 | largest group | flag |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for level in self.levels:
            name = f"{level.level + 1} (unique)" if level.extra else str(level.level + 1)
            flag = "COLLAPSED" if level.collapsed else ""
            lines.append(
                f"| {name} | {level.codebook_size} | {level.codes_used} | {level.utilisation:.3f} | "
                f"{level.entropy_bits:.2f} | {level.entropy_share:.3f} | {level.largest_group} | {flag} |"
            )
        lines += ["", *self.summary_lines()]
        return "\n".join(lines) + "\n"

    def summary_lines(self) -> list[str]:
        share = self.colliding_items / max(1, self.n_items)
        lines = [
            (
                f"Before the extra level: {self.distinct_codes} distinct codes for {self.n_items} items; "
                f"{self.colliding_items} items ({share:.1%}) share their code with another (largest group {self.largest_collision})."
            ),
        ]
        if self.first_level_same_category is not None and self.random_pair_same_category is not None:
            lines.append(
                f"Items sharing a first-level code share a category {self.first_level_same_category:.1%} of the time "
                f"(two random items: {self.random_pair_same_category:.1%})."
            )
        else:
            lines.append("The catalogue has no categories: first-level purity not measured.")
        lines.append("COLLAPSED: a quantiser level uses almost no codes." if self.collapsed else "No level collapsed.")
        return lines

    def __str__(self) -> str:
        return self.to_markdown()


def _entropy_bits(counts: np.ndarray) -> float:
    counts = counts[counts > 0].astype(np.float64)
    if counts.sum() == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _same_category_share(groups: np.ndarray, categories: np.ndarray) -> float:
    """Share of the pairs of items within the same group (``groups [N]``) that share a category."""
    same = total = 0
    for group in np.unique(groups):
        members = categories[groups == group]
        n = len(members)
        total += n * (n - 1) // 2
        _, counts = np.unique(members, return_counts=True)
        same += int((counts * (counts - 1) // 2).sum())
    return same / total if total else 0.0


def level_report(ids: SemanticIds, categories: np.ndarray | None = None, dataset: str = "", settings: dict[str, Any] | None = None) -> SemanticIdReport:
    """The per-level report of ``ids`` (see the module docstring); ``categories [n_items + 1]``
    (row 0 ignored; ``""``/``"unknown"`` everywhere means no categories)."""
    codes = ids.codes[1:]  # [n_items, L + 1]
    n_items, width = codes.shape
    rows = []
    for level in range(width):
        size = int(ids.level_sizes[level])
        counts = np.bincount(codes[:, level], minlength=size)
        usable = max(1, min(size, n_items))
        used = int((counts > 0).sum())
        bits = max(0.0, _entropy_bits(counts))
        share = bits / math.log2(usable) if usable > 1 else 1.0
        utilisation = used / usable
        extra = level == width - 1
        collapsed = (not extra) and n_items > 1 and usable > 1 and (used <= 1 or share < COLLAPSE_ENTROPY or utilisation < COLLAPSE_UTILISATION)
        rows.append(LevelReport(level, size, used, utilisation, bits, share, int(counts.max()), bool(collapsed), extra))
    full = Counter(map(tuple, codes[:, :-1].tolist()))
    colliding = sum(count for count in full.values() if count > 1)
    same_first: float | None = None
    same_random: float | None = None
    if categories is not None:
        labels = np.asarray([str(c) for c in np.asarray(categories)[1:]], dtype=object)
        if len(set(labels.tolist()) - {"", "unknown"}) > 1:
            same_first = _same_category_share(codes[:, 0], labels)
            same_random = _same_category_share(np.zeros(n_items, dtype=np.int64), labels)
    return SemanticIdReport(
        dataset=dataset,
        method=ids.method,
        n_items=n_items,
        levels=rows,
        colliding_items=int(colliding),
        distinct_codes=len(full),
        largest_collision=max(full.values()) if full else 0,
        first_level_same_category=same_first,
        random_pair_same_category=same_random,
        settings=dict(settings or {}),
    )


# -- for a catalogue (the ``seqrec semantic-ids`` command) ------------------------------------------
def catalogue_report(
    items: ItemInfo,
    dataset: str,
    method: SemanticIdMethod = "rqvae",
    encoder: str = DEFAULT_TEXT_MODEL,
    levels: int = 3,
    codebook_size: int = 0,
    seed: int = 0,
    rqvae: RQVAESettings | None = None,
    cache: str = "",
) -> tuple[SemanticIds, SemanticIdReport]:
    """The semantic IDs of a catalogue's item documents (encoded by ``encoder``, cached on disk
    unless ``cache`` is ``"none"``) and their :func:`level_report` (with the catalogue's categories)."""
    text = text_encoder(encoder)
    embeddings = item_text_embeddings(items, text if cache == "none" else CachedEncoder(text, cache or None))
    started = time.perf_counter()
    ids = semantic_ids(embeddings, method, levels, codebook_size, seed, rqvae)
    settings = {
        "encoder": text.name,
        "levels": levels,
        "codebook_size": int(ids.level_sizes[0]),
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if method == "rqvae":
        chosen = rqvae or RQVAESettings()
        settings.update({"rqvae_epochs": chosen.epochs, "rqvae_lr": chosen.lr, "beta": chosen.beta})
    return ids, level_report(ids, items.categories, dataset=dataset, settings=settings)


def write_report(report: SemanticIdReport, out: Path, stem: str) -> tuple[Path, Path]:
    """``<out>/<stem>.json`` and ``<out>/<stem>.md``."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, markdown_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(report.to_dict(), indent=2, default=json_default) + "\n")
    markdown_path.write_text(report.to_markdown())
    return json_path, markdown_path


__all__ = [
    "COLLAPSE_ENTROPY",
    "COLLAPSE_UTILISATION",
    "METHODS",
    "PADDING_CODE",
    "RQVAE",
    "LevelReport",
    "RQVAESettings",
    "SemanticIdMethod",
    "SemanticIdReport",
    "SemanticIds",
    "catalogue_report",
    "codebook_size_for",
    "kmeans",
    "level_report",
    "make_unique",
    "residual_kmeans",
    "rqvae_codes",
    "semantic_ids",
    "write_report",
]
