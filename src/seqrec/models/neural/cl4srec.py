"""CL4SRec: contrastive learning for sequential recommendation.

Xie, X., Sun, F., Liu, Z., Wu, S., Gao, J., Zhang, J., Ding, B. & Cui, B. (2022). *Contrastive
Learning for Sequential Recommendation.* ICDE 2022 (arXiv 2010.14395). The authors released no
code; we read the re-implementation in the DuoRec authors' repository
(github.com/RuihongQiu/DuoRec, ``recbole/model/sequential_recommender/cl4srec.py`` and
``recbole/data/dataloader/sequential_dataloader.py``), which produced the CL4SRec numbers of
the DuoRec paper.

The model:

* a SASRec-style encoder (causal Transformer) trained on next-item prediction;
* plus a contrastive task: two augmented views of each training sequence, each made by one of
  three augmentations, are encoded, and the InfoNCE loss (the NT-Xent of
  SimCLR) pulls the two views' final representations together and pushes them away from the
  other ``2(N - 1)`` views of the batch;
  - **crop** keeps a random contiguous ``⌊η·n⌋`` items (η = 0.6),
  - **mask** replaces ``⌊γ·n⌋`` random items by a [mask] token (γ = 0.3),
  - **reorder** shuffles a random contiguous span of ``⌊β·n⌋`` items (β = 0.6);
* total loss ``L_rec + λ L_cl`` (λ = 0.1 in the DuoRec repository's runs), here through the
  trainer's ``extra_loss``.

The ratios are those of the DuoRec authors' implementation (the CL4SRec paper treats them as
hyper-parameters). As there, the two views of a sequence use two *different*
augmentations, and sequences of one item are not augmented.

The encoder (shared with DuoRec, :mod:`seqrec.models.neural.duorec`) follows the RecBole
SASRec that the DuoRec repository uses for both models: ``LayerNorm(item + position)``
embeddings and dropout, then post-norm Transformer blocks
(:class:`~seqrec.models.neural.blocks.BertBlock`) under a causal mask, GELU, inner size 256,
``N(0, 0.02²)`` initialisation, and the item embedding table shared as output. It differs from
:mod:`~seqrec.models.neural.sasrec` (the official SASRec's blocks, which normalise before each
sub-layer), which matters when comparing the two: the gain of the contrastive task is measured
against the same encoder trained with ``contrast_weight=0``.

Deviations:

* the recommendation loss covers every position of a training window (``Objective.CAUSAL``)
  rather than RecBole's one target per prefix; the contrastive views are the windows' inputs;
* the mask token is ``n_items + 1`` (:func:`~seqrec.models.neural.network.mask_token`), kept out
  of the output table.

Explanation: the attention weights of the last block for the final position, averaged over heads.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.data.types import PADDING
from seqrec.models.base import ContractSettings, help_field
from seqrec.models.neural.blocks import BertBlock, attention_mask
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.network import Objective, SequenceNetwork, TrainingBatch, mask_token
from seqrec.models.neural.recommender import AttentionRecommender

Similarity = Literal["dot", "cos"]
"""The InfoNCE similarity of two views: dot product or cosine."""
SIMILARITIES: tuple[Similarity, ...] = typing.get_args(Similarity)


# -- the contrastive loss -------------------------------------------------------------------------
def info_nce(
    first: Tensor, second: Tensor, temperature: float = 1.0, similarity: Similarity = "dot"
) -> Tensor:
    """CL4SRec's contrastive loss, InfoNCE / NT-Xent, of paired views ``first``/``second [N, D]``.

    Each of the ``2N`` views is an anchor; its positive is the other view of the same row and its
    negatives are the other ``2(N - 1)`` views. Returns the mean of the ``2N`` cross-entropies
    ``-log(exp(s(a, p)/τ) / Σ_{k≠a} exp(s(a, k)/τ))``.
    """
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
    views = torch.cat([first, second], dim=0)  # [2N, D]
    if similarity == "cos":
        views = F.normalize(views, dim=-1)
    n_rows = first.shape[0]
    similarities = views @ views.T / temperature  # [2N, 2N]
    itself = torch.eye(2 * n_rows, dtype=torch.bool, device=views.device)
    # An anchor is not its own negative.
    similarities = similarities.masked_fill(itself, float("-inf"))
    partner = torch.arange(2 * n_rows, device=views.device).roll(n_rows)  # row i <-> row i ± N
    return F.cross_entropy(similarities, partner)


# -- the augmentations (crop, mask, reorder), batched: every row independently --------------
def _uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    """Uniform ``[0, 1)`` draws from the trainer's (CPU) generator, moved to ``device``."""
    return torch.rand(shape, generator=generator, dtype=torch.float64).to(device)


def _lengths(input_ids: Tensor) -> Tensor:
    return (input_ids != PADDING).sum(dim=1)  # [B]


def _random_start(room: Tensor, generator: torch.Generator) -> Tensor:
    """A uniform integer in ``0..room`` per row."""
    draws = _uniform((room.shape[0],), generator, room.device)
    return torch.minimum((draws * (room + 1)).long(), room)


def crop(input_ids: Tensor, ratio: float, generator: torch.Generator) -> Tensor:
    """Keep a random contiguous ``⌊ratio · n⌋`` items of each row (at least one)."""
    length = input_ids.shape[1]
    n = _lengths(input_ids)  # [B]
    keep = torch.minimum(torch.clamp(torch.floor(n * ratio).long(), min=1), n)  # [B]
    begin = _random_start(n - keep, generator)  # [B]: offset of the crop within the real items
    columns = torch.arange(length, device=input_ids.device)[None, :]  # [1, L]
    first_kept_column = (length - keep)[:, None]  # [B, 1]
    source = (length - n + begin)[:, None] + (columns - first_kept_column)  # [B, L]
    kept = columns >= first_kept_column
    return torch.where(kept, input_ids.gather(1, source.clamp(0, length - 1)), PADDING)


def mask(input_ids: Tensor, ratio: float, mask_id: int, generator: torch.Generator) -> Tensor:
    """Replace ``⌊ratio · n⌋`` random items of each row by ``mask_id``."""
    real = input_ids != PADDING  # [B, L]
    n_masked = torch.floor(_lengths(input_ids) * ratio).long()  # [B]
    draws = _uniform(tuple(input_ids.shape), generator, input_ids.device)  # [B, L]
    rank = draws.masked_fill(~real, 2.0).argsort(dim=1).argsort(dim=1)  # padding ranks last
    return torch.where(real & (rank < n_masked[:, None]), mask_id, input_ids)


def reorder(input_ids: Tensor, ratio: float, generator: torch.Generator) -> Tensor:
    """Shuffle a random contiguous span of ``⌊ratio · n⌋`` items of each row."""
    length = input_ids.shape[1]
    n = _lengths(input_ids)  # [B]
    span = torch.floor(n * ratio).long()  # [B]
    offset = _random_start(n - span, generator)  # [B]: where the span begins among the items
    start = (length - n + offset)[:, None]  # [B, 1]: its first column
    columns = torch.arange(length, device=input_ids.device)[None, :].to(torch.float64)  # [1, L]
    inside = (columns >= start) & (columns < start + span[:, None])  # [B, L]
    # Sorting keys: outside the span a column keeps its own index; inside, a random key in
    # [start, start + span) so the span is permuted uniformly and stays where it is.
    draws = _uniform(tuple(input_ids.shape), generator, input_ids.device)  # [B, L]
    random_keys = start + draws * span[:, None]  # [B, L]
    order = torch.where(inside, random_keys, columns).argsort(dim=1, stable=True)  # [B, L]
    return input_ids.gather(1, order)


Augmentation = Literal["crop", "mask", "reorder"]
AUGMENTATIONS: tuple[Augmentation, ...] = typing.get_args(Augmentation)
"""The augmentations in the order :func:`augmented_views` draws them."""


def augmented_views(
    input_ids: Tensor,
    crop_ratio: float,
    mask_ratio: float,
    reorder_ratio: float,
    mask_id: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Two views of each row, made by two different augmentations drawn at random per row.

    Rows with fewer than two items are returned unchanged in both views.
    """
    draws = torch.rand((input_ids.shape[0], len(AUGMENTATIONS)), generator=generator)  # [B, 3]
    ops = draws.argsort(dim=1)[:, :2].to(input_ids.device)  # [B, 2]: two different augmentations
    views = []
    for view in range(2):
        candidates = torch.stack(
            [
                crop(input_ids, crop_ratio, generator),
                mask(input_ids, mask_ratio, mask_id, generator),
                reorder(input_ids, reorder_ratio, generator),
            ]
        )  # [3, B, L]
        choice = ops[None, :, view, None].expand(1, -1, input_ids.shape[1])  # [1, B, L]
        chosen = candidates.gather(0, choice)[0]  # [B, L]
        unaugmented = (_lengths(input_ids) < 2)[:, None]
        views.append(torch.where(unaugmented, input_ids, chosen))
    return views[0], views[1]


# -- the encoder shared by CL4SRec and DuoRec ------------------------------------------------
class TransformerSequenceNetwork(SequenceNetwork):
    """RecBole's SASRec: ``LN(item + position)``, post-norm causal blocks, tied output."""

    objective: ClassVar[Objective] = Objective.CAUSAL

    def __init__(self, n_items: int, config: ContrastiveConfig, with_mask_token: bool) -> None:
        super().__init__(n_items, config.max_len)
        rows = n_items + 2 if with_mask_token else n_items + 1
        dim = config.dim
        self.item_embedding = nn.Embedding(rows, dim, padding_idx=PADDING)
        self.position_embedding = nn.Embedding(config.max_len, dim)
        self.embedding_norm = nn.LayerNorm(dim, eps=1e-12)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            BertBlock(dim, config.n_heads, config.inner_size, config.dropout, config.attention_dropout)
            for _ in range(config.n_layers)
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # RecBole / BERT: N(0, 0.02²) weights, zero biases, unit layer norms.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.item_embedding.weight[PADDING].zero_()

    def _embed(self, input_ids: Tensor) -> Tensor:
        length = input_ids.shape[1]
        # [L] absolute columns, as in sasrec.py: the newest item is always at max_len - 1
        positions = torch.arange(self.max_len - length, self.max_len, device=input_ids.device)
        x = self.item_embedding(input_ids) + self.position_embedding(positions)  # [B, L, D]
        return self.embedding_dropout(self.embedding_norm(x))

    def encode(self, input_ids: Tensor) -> Tensor:
        x = self._embed(input_ids)  # [B, L, D]
        allowed = attention_mask(input_ids, causal=True)  # [B, 1, L, L]
        for block in self.blocks:
            x = block(x, allowed)
        return x  # [B, L, D]

    def encode_with_attention(self, input_ids: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The explicit path: hidden ``[B, L, D]`` and each block's ``[B, H, L, L]`` weights."""
        x = self._embed(input_ids)
        allowed = attention_mask(input_ids, causal=True)
        weights = []
        for block in self.blocks:
            assert isinstance(block, BertBlock)
            x, block_weights = block.forward_with_weights(x, allowed)
            weights.append(block_weights)
        return x, weights

    def item_embeddings(self) -> Tensor:
        return self.item_embedding.weight[: self.n_items + 1]  # [n_items + 1, D], no mask token


@dataclass
class ContrastiveConfig(NeuralConfig):
    """The encoder and contrastive settings shared by CL4SRec and DuoRec."""

    n_layers: int = help_field(2, "Transformer blocks (RecBole default: 2).")
    n_heads: int = help_field(2, "Attention heads per block (dim must be divisible by it).")
    inner_size: int = help_field(
        256, "Hidden size of the point-wise feed-forward layer (RecBole: 256)."
    )
    dropout: float = help_field(
        0.5, "Dropout on embeddings and block outputs (DuoRec's ML-100K runs: 0.5)."
    )
    attention_dropout: float = help_field(
        0.5, "Dropout on attention weights (DuoRec's ML-100K runs: 0.5)."
    )
    contrast_weight: float = help_field(
        0.1, "lambda: weight of the contrastive loss (DuoRec repository: 0.1)."
    )
    temperature: float = help_field(1.0, "InfoNCE temperature tau (official scripts: 1).")
    similarity: Literal[Similarity] = help_field("dot", "InfoNCE similarity: dot | cos (official scripts: dot).")


def check_contrastive_config(config: ContrastiveConfig) -> None:
    """Clear errors for contrastive settings the dataclass types cannot rule out (``similarity``
    is a ``Literal``, checked when the config is built)."""
    owner = type(config).__name__
    if not math.isfinite(config.temperature) or config.temperature <= 0:
        raise ValueError(f"{owner}.temperature must be positive, got {config.temperature}")
    if config.contrast_weight < 0:
        raise ValueError(f"{owner}.contrast_weight must be >= 0, got {config.contrast_weight}")


ContrastiveConfigT = TypeVar("ContrastiveConfigT", bound=ContrastiveConfig)


class ContrastiveRecommender(AttentionRecommender[ContrastiveConfigT]):
    """What CL4SRec and DuoRec share: the search space and the attention explanation."""

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [32, 64, 128]),
            "n_layers": trial.suggest_int("n_layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.1, 0.6),
            "attention_dropout": trial.suggest_float("attention_dropout", 0.1, 0.6),
            "contrast_weight": trial.suggest_float("contrast_weight", 1e-3, 1.0, log=True),
            "similarity": trial.suggest_categorical("similarity", list(SIMILARITIES)),
            "temperature": trial.suggest_float("temperature", 0.05, 1.0, log=True),
            "lr": trial.suggest_float("lr", 5e-4, 5e-3, log=True),
        }


class ContrastiveNetwork(TransformerSequenceNetwork):
    """The shared encoder built from a :class:`ContrastiveConfig`, with its InfoNCE settings."""

    def __init__(self, n_items: int, config: ContrastiveConfig, with_mask_token: bool) -> None:
        super().__init__(n_items, config, with_mask_token=with_mask_token)
        self.contrast_weight = config.contrast_weight
        self.temperature = config.temperature
        self.similarity = config.similarity


# -- CL4SRec --------------------------------------------------------------------------------
class CL4SRecNetwork(ContrastiveNetwork):
    """The shared encoder plus InfoNCE between two augmented views (``extra_loss``)."""

    def __init__(self, n_items: int, config: CL4SRecConfig) -> None:
        super().__init__(n_items, config, with_mask_token=True)
        self.crop_ratio = config.crop_ratio
        self.mask_ratio = config.mask_ratio
        self.reorder_ratio = config.reorder_ratio

    def extra_loss(self, batch: TrainingBatch, hidden: Tensor) -> Tensor | None:
        if self.contrast_weight == 0:
            return None
        first, second = augmented_views(
            batch.input_ids,
            self.crop_ratio,
            self.mask_ratio,
            self.reorder_ratio,
            mask_token(self.n_items),
            batch.generator,
        )
        # The final position's representation: the one that predicts the next item.
        first_view = self.encode(first)[:, -1]  # [B, D]
        second_view = self.encode(second)[:, -1]  # [B, D]
        return self.contrast_weight * info_nce(
            first_view, second_view, self.temperature, self.similarity
        )


@dataclass
class CL4SRecConfig(ContrastiveConfig):
    crop_ratio: float = help_field(0.6, "eta: share of the sequence a crop keeps.")
    mask_ratio: float = help_field(0.3, "gamma: share of the items a mask hides.")
    reorder_ratio: float = help_field(0.6, "beta: share of the sequence a reorder shuffles.")


class CL4SRec(ContrastiveRecommender[CL4SRecConfig]):
    """CL4SRec (Xie et al. 2022) on the shared trainer."""

    name: ClassVar[str] = "cl4srec"
    contract = ContractSettings(
        {"dim": 16, "max_len": 8, "n_heads": 1, "inner_size": 32, "dropout": 0.1, "attention_dropout": 0.1, "batch_size": 32, "lr": 1e-2, "progress": False, "epochs": 40},
    )
    Config: ClassVar[type] = CL4SRecConfig

    def build_network(self, n_items: int) -> CL4SRecNetwork:
        config = self.config
        check_contrastive_config(config)
        for field_name in ("crop_ratio", "mask_ratio", "reorder_ratio"):
            value = getattr(config, field_name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"{type(config).__name__}.{field_name} must lie in [0, 1], got {value}"
                )
        return CL4SRecNetwork(n_items, config)
