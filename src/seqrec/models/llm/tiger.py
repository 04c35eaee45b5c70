"""TIGER: generative retrieval over semantic IDs.

Rajput, S., Mehta, N., Singh, A., Keshavan, R., Vu, T., Heldt, L., Hong, L., Tay, Y., Tran, V. Q.,
Samost, J., Kula, M., Chi, E. H. & Sathiamoorthy, M. (2023). *Recommender Systems with Generative
Retrieval.* NeurIPS 2023 (arXiv 2305.05065).

* **Semantic IDs** (paper Sec. 3.1; :mod:`seqrec.models.llm.semantic_ids`): each item's document
  (:func:`~seqrec.data.types.item_documents`) through a frozen text encoder (the packaged
  all-MiniLM-L6-v2 here, Sentence-T5 in the paper), then RQ-VAE (the paper's) or residual k-means
  (GRID's default) to ``L = 3`` codes, plus one level that makes colliding codes unique. The
  codebook size is chosen for the catalogue (``codebook_size = 0``; the paper's 256 suits ~10⁴
  items and leaves most codes of a 1,682-item catalogue unused).
* **Sequence-to-sequence model** (Sec. 3.2): the history's last ``max_len`` items, each written as
  its ``L + 1`` code tokens, go through a Transformer encoder; a Transformer decoder, trained with
  teacher forcing (cross-entropy per code position), spells out the next item's code. Each level
  has its own tokens (a code ``c`` at level ``l`` is token ``2 + Σ_{j<l} K_j + c``), and the
  output at level ``l`` is a softmax over level ``l``'s tokens only. Input positions: the item's
  position in the window plus an embedding of the code level.
* **Decoding** (Sec. 3.2, "invalid IDs"): beam search (width ``max(beam_width, k)``) constrained by
  the trie of the catalogue's codes, so every finished beam is a real item. The trie is the
  codes sorted lexicographically (a prefix is a contiguous range of rows, its children the runs of
  the next column); excluded items are pruned from it per row (a prefix with no item left is
  never expanded), so excluded items are removed before the cut and a list is still ``k`` long.
  Items are ranked by the summed log-probabilities of their codes.

Deviations from the paper: a smaller network (the paper: 4 + 4 layers, 6 heads of 64, dim 128,
MLP 1024, dropout 0.1); no user-id token (the paper hashes user ids into 2,000 tokens; the
histories of new users have none, so it is left out); Adam on a fixed learning rate (the paper:
200k steps with inverse-square-root decay); with ``patience > 0`` the epoch is chosen on
validation NDCG@10, decoded from the ranked lists as the test is (the paper trains a fixed
budget), otherwise every epoch is trained.

Explanation: the item's code path (each level's code, its log-probability under the model, how
many items share the prefix so far) and the items sharing its first-level code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.data.splits import EvalSet
from seqrec.data.types import ItemInfo, SequenceData
from seqrec.evaluation.protocol import evaluate_model
from seqrec.models.base import (
    ContractSettings,
    Explanation,
    ExplanationKind,
    NotFittedError,
    Recommender,
    StateArrays,
    StateValues,
    help_field,
    load_module_arrays,
    module_arrays,
)
from seqrec.models.llm.semantic_ids import RQVAESettings, SemanticIdMethod, semantic_ids
from seqrec.models.llm.text import (
    NO_CACHE,
    TextEncoder,
    TextSettings,
    configured_encoder,
    item_text_embeddings,
)
from seqrec.models.neural.trainer import VALID_METRIC, EpochRecord, TrainingResult
from seqrec.ranking import Capabilities, Exclusion

PAD_TOKEN = 0
START_TOKEN = 1
"""Starts the encoder's input (so no row is all padding) and the decoder's."""
FIRST_CODE_TOKEN = 2


@dataclass
class TigerConfig(TextSettings):
    semantic_method: Literal[SemanticIdMethod] = help_field("rqvae", "Quantiser of the semantic IDs: rqvae (the paper) | rkmeans (residual k-means, GRID's default).")
    levels: int = help_field(3, "Quantiser levels of a semantic ID (one more level makes IDs unique).")
    codebook_size: int = help_field(0, "Codes per level (0: ceil(n_items ** (1/levels)) rounded up to a power of two, at least 4).")
    rqvae_epochs: int = help_field(300, "RQ-VAE training epochs.")
    rqvae_lr: float = help_field(1e-3, "RQ-VAE Adam learning rate.")
    dim: int = help_field(64, "Transformer width.")
    n_layers: int = help_field(2, "Encoder layers (and as many decoder layers).")
    n_heads: int = help_field(4, "Attention heads (dim must be divisible by it).")
    dropout: float = help_field(0.1, "Dropout in the transformer.")
    epochs: int = help_field(20, "Training epochs of the sequence-to-sequence model (the most, with patience).")
    patience: int = help_field(
        0,
        "Stop after this many epochs without a better validation NDCG@10 (decoded from the ranked lists, "
        "as the test is) and keep the best epoch's weights; 0 = train every epoch, no validation.",
    )
    exclude_history: bool = help_field(True, "Remove history items before ranking in validation.")
    lr: float = help_field(1e-3, "Adam learning rate.")
    batch_size: int = help_field(256, "Training examples per step.")
    max_len: int = help_field(20, "History items read (the most recent ones; the paper: 20).")
    beam_width: int = help_field(20, "Beams kept while decoding (at least k are used).")
    eval_batch_size: int = help_field(256, "Histories decoded together.")
    seed: int = help_field(0, "Seed of the semantic IDs, the initialisation and the batch order.")
    threads: int = help_field(0, "Torch CPU threads (0 = torch's default).")
    device: str = help_field("cpu", "Torch device (cpu, cuda).")
    progress: bool = help_field(True, "Print one line per epoch.")


class TigerNetwork(nn.Module):
    """Encoder over the history's code tokens, decoder spelling out the next item's code."""

    level_mask: Tensor  # [L + 1, V], buffers
    source_positions: Tensor
    source_levels: Tensor

    def __init__(self, level_sizes: np.ndarray, config: TigerConfig) -> None:
        super().__init__()
        sizes = [int(size) for size in level_sizes]
        self.depth = len(sizes)
        self.max_len = config.max_len
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]) + FIRST_CODE_TOKEN
        self.offsets = [int(offset) for offset in offsets]
        self.sizes = sizes
        vocab = FIRST_CODE_TOKEN + sum(sizes)
        self.token_embedding = nn.Embedding(vocab, config.dim, padding_idx=PAD_TOKEN)
        self.item_position = nn.Embedding(config.max_len + 1, config.dim)  # + 1: the start token
        self.level_embedding = nn.Embedding(self.depth, config.dim)
        self.decoder_position = nn.Embedding(self.depth, config.dim)
        ff = 4 * config.dim
        encoder_layer = nn.TransformerEncoderLayer(config.dim, config.n_heads, ff, config.dropout, batch_first=True, norm_first=True)
        decoder_layer = nn.TransformerDecoderLayer(config.dim, config.n_heads, ff, config.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(encoder_layer, config.n_layers, norm=nn.LayerNorm(config.dim), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(decoder_layer, config.n_layers, norm=nn.LayerNorm(config.dim))
        self.output = nn.Linear(config.dim, vocab)
        mask = torch.full((self.depth, vocab), -math.inf)  # level l may only emit level l's tokens
        for level, (offset, size) in enumerate(zip(self.offsets, sizes)):
            mask[level, offset : offset + size] = 0.0
        self.register_buffer("level_mask", mask, persistent=False)  # [L + 1, V]
        positions = torch.cat([torch.tensor([config.max_len]), torch.arange(config.max_len).repeat_interleave(self.depth)])
        levels = torch.cat([torch.tensor([0]), torch.arange(self.depth).repeat(config.max_len)])
        self.register_buffer("source_positions", positions, persistent=False)  # [1 + max_len * (L + 1)]
        self.register_buffer("source_levels", levels, persistent=False)

    def encode(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """``source [B, 1 + max_len * (L + 1)]`` tokens -> memory ``[B, S, D]`` and its padding mask."""
        x = self.token_embedding(source) + self.item_position(self.source_positions) + self.level_embedding(self.source_levels)
        padding = source == PAD_TOKEN  # [B, S]
        return self.encoder(x, src_key_padding_mask=padding), padding

    def decode(self, prefix: Tensor, memory: Tensor, padding: Tensor) -> Tensor:
        """Log-probabilities ``[B, T, V]`` of the next token after each position of ``prefix [B, T]``
        (``T <= L + 1``), each restricted to its level's tokens."""
        length = prefix.shape[1]
        x = self.token_embedding(prefix) + self.decoder_position.weight[:length]
        causal = torch.triu(torch.full((length, length), -math.inf, device=prefix.device), diagonal=1)
        hidden = self.decoder(x, memory, tgt_mask=causal, memory_key_padding_mask=padding)
        logits = self.output(hidden) + self.level_mask[:length]
        return F.log_softmax(logits, dim=-1)


class Tiger(Recommender[TigerConfig]):
    """TIGER (Rajput et al. 2023): semantic IDs + a seq2seq transformer + trie-constrained beam search."""

    name: ClassVar[str] = "tiger"
    title: ClassVar[str] = "TIGER"
    era: ClassVar[int] = 3
    sequential: ClassVar[bool] = True
    Config: ClassVar[type] = TigerConfig
    capabilities: ClassVar[Capabilities] = Capabilities(dense_scores=False, needs_items=True)
    state_attributes: ClassVar[tuple[str, ...]] = ("codes", "level_sizes")
    contract = ContractSettings(
        {
            "text_encoder": "hashing",
            "text_cache": NO_CACHE,
            "semantic_method": "rkmeans",
            "dim": 32,
            "n_layers": 1,
            "n_heads": 2,
            "dropout": 0.0,
            "epochs": 40,
            "lr": 3e-3,
            "batch_size": 32,
            "max_len": 8,
            "beam_width": 12,
            "threads": 1,
            "progress": False,
        },
        why="the ids-only catalogue's hashed texts give arbitrary but unique codes; the decoder learns each cycle's successor code",
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.codes: np.ndarray | None = None  # [n_items + 1, L + 1], row 0 = -1
        self.level_sizes: np.ndarray | None = None  # [L + 1]
        self.network: TigerNetwork | None = None
        self._trie: tuple[np.ndarray, np.ndarray] | None = None
        self.fit_seconds: float = 0.0
        self.training = TrainingResult()
        """Per-epoch loss, validation metrics and time; the selected epoch."""

    # -- fitting --------------------------------------------------------------------------------
    def encoder(self) -> TextEncoder:
        """The configured text encoder (:func:`~seqrec.models.llm.text.configured_encoder`)."""
        return configured_encoder(self.config, self.config.device)

    def _fit(self, train: SequenceData, valid: Any) -> None:
        assert self.items is not None  # fit checked capabilities.needs_items
        config = self.config
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        if config.dim % config.n_heads:
            raise ValueError(f"{self.name}: dim ({config.dim}) must be divisible by n_heads ({config.n_heads})")
        started = time.perf_counter()
        embeddings = item_text_embeddings(self.items, self.encoder())  # [n_items + 1, T]
        rqvae = RQVAESettings(epochs=config.rqvae_epochs, lr=config.rqvae_lr, threads=config.threads)
        ids = semantic_ids(embeddings, config.semantic_method, config.levels, config.codebook_size, config.seed, rqvae)
        self.codes, self.level_sizes = ids.codes, ids.level_sizes
        torch.manual_seed(config.seed)
        network = TigerNetwork(self.level_sizes, config).to(self._device())
        self._trie = None
        self._train(network, train, valid if isinstance(valid, EvalSet) and len(valid) and config.patience > 0 else None)
        self.network = network.eval()
        self.fit_seconds = time.perf_counter() - started

    def _train(self, network: TigerNetwork, train: SequenceData, valid: EvalSet | None) -> None:
        config = self.config
        self.training = TrainingResult()
        histories, targets = training_examples(train, config.max_len)
        if len(targets) == 0:
            return
        source = torch.from_numpy(self._source_tokens(histories))  # [N, S]
        target = torch.from_numpy(self._item_tokens()[targets])  # [N, L + 1]
        optimizer = torch.optim.Adam(network.parameters(), lr=config.lr)
        generator = torch.Generator().manual_seed(config.seed)
        device = self._device()
        start = torch.full((1, 1), START_TOKEN, dtype=torch.int64)
        popularity = train.item_counts()
        best_weights: dict[str, Tensor] | None = None
        elapsed = 0.0
        for epoch in range(config.epochs):
            network.train()
            order = torch.randperm(len(target), generator=generator)
            total, began = 0.0, time.perf_counter()
            for first in range(0, len(order), config.batch_size):
                batch = order[first : first + config.batch_size]
                src, tgt = source[batch].to(device), target[batch].to(device)
                prefix = torch.cat([start.expand(len(tgt), 1).to(device), tgt[:, :-1]], dim=1)  # [B, L + 1]
                memory, padding = network.encode(src)
                log_probs = network.decode(prefix, memory, padding)  # [B, L + 1, V]
                loss = F.nll_loss(log_probs.reshape(-1, log_probs.shape[-1]), tgt.reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            metrics: dict[str, float] = {}
            if valid is not None:
                self.network = network.eval()  # decode the validation histories with this epoch's weights
                metrics = {key: float(value) for key, value in evaluate_model(self, valid, config.exclude_history, popularity).metrics.items() if key in ("HR@10", VALID_METRIC)}
            seconds = time.perf_counter() - began
            elapsed += seconds
            improved = valid is not None and metrics[VALID_METRIC] > self.training.best_metric
            if improved:
                self.training.best_metric, self.training.best_epoch = metrics[VALID_METRIC], epoch + 1
                best_weights = {key: value.detach().clone() for key, value in network.state_dict().items()}
            self.training.records.append(EpochRecord(epoch + 1, total / len(target), metrics, seconds, elapsed, improved))
            if config.progress:
                shown = f", valid NDCG@10 {metrics[VALID_METRIC]:.4f}" if metrics else ""
                print(f"{self.name} epoch {epoch + 1}/{config.epochs}: loss {total / len(target):.4f}{shown} ({seconds:.1f} s)", flush=True)
            if valid is not None and epoch + 1 - self.training.best_epoch >= config.patience:
                self.training.stopped_early = epoch + 1 < config.epochs
                break
        if best_weights is not None:
            network.load_state_dict(best_weights)
        elif self.training.records:
            self.training.best_epoch = len(self.training.records)  # no validation: the last epoch

    # -- tokens ---------------------------------------------------------------------------------
    def _item_tokens(self) -> np.ndarray:
        """``[n_items + 1, L + 1]`` token ids of every item's code (row 0: padding tokens)."""
        codes, sizes = self._require_codes()
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]) + FIRST_CODE_TOKEN
        tokens = codes + offsets[None, :]
        tokens[0] = PAD_TOKEN
        return tokens.astype(np.int64)

    def _source_tokens(self, windows: np.ndarray) -> np.ndarray:
        """History windows ``[B, max_len]`` (left-padded item ids) -> encoder tokens ``[B, 1 + max_len * (L + 1)]``."""
        tokens = self._item_tokens()[windows].reshape(len(windows), -1)
        return np.concatenate([np.full((len(windows), 1), START_TOKEN, dtype=np.int64), tokens], axis=1)

    def _require_codes(self) -> tuple[np.ndarray, np.ndarray]:
        if self.codes is None or self.level_sizes is None:
            raise NotFittedError(f"{self.name}: call fit() before scoring")
        return self.codes, self.level_sizes

    def _require_network(self) -> TigerNetwork:
        if self.network is None:
            raise NotFittedError(f"{self.name}: call fit() before scoring")
        return self.network

    def _device(self) -> str:
        device = self.config.device
        return device if not device.startswith("cuda") or torch.cuda.is_available() else "cpu"

    def trie(self) -> tuple[np.ndarray, np.ndarray]:
        """The catalogue's codes sorted lexicographically ``[n_items, L + 1]`` and the item of each row."""
        if self._trie is None:
            codes, _ = self._require_codes()
            body = codes[1:]
            order = np.lexsort(body.T[::-1])  # first column primary
            self._trie = (np.ascontiguousarray(body[order]), order.astype(np.int64) + 1)
        return self._trie

    # -- decoding -------------------------------------------------------------------------------
    def _recommend(self, histories: SequenceData, k: int, exclusion: Exclusion) -> np.ndarray:
        n_items = self.require_fitted()
        k = min(k, n_items)
        out = np.zeros((len(histories), k), dtype=np.int64)
        if k == 0 or len(histories) == 0:
            return out
        lists = self.decode(histories, k, exclusion)
        width = min(k, *(len(row) for row in lists))
        out = np.zeros((len(histories), width), dtype=np.int64)
        for row, ranked in enumerate(lists):
            out[row] = [item for item, _ in ranked[:width]]
        return out

    @torch.no_grad()
    def decode(self, histories: SequenceData, k: int, exclusion: Exclusion | None = None) -> list[list[tuple[int, float]]]:
        """Per history, up to ``max(beam_width, k)`` (item, log-probability) pairs, best first: beam
        search over the trie of valid codes, pruned of each row's excluded items; the first ``k``
        are the recommendations."""
        network = self._require_network()
        exclusion = exclusion or Exclusion()
        beams = max(self.config.beam_width, k)
        sorted_codes, sorted_items = self.trie()
        position = np.empty(len(sorted_items) + 1, dtype=np.int64)
        position[sorted_items] = np.arange(len(sorted_items))
        windows = histories.padded(self.config.max_len)  # [B, max_len]
        results: list[list[tuple[int, float]]] = []
        device = self._device()
        for first in range(0, len(histories), self.config.eval_batch_size):
            rows = np.arange(first, min(first + self.config.eval_batch_size, len(histories)))
            memory, padding = network.encode(torch.from_numpy(self._source_tokens(windows[rows])).to(device))
            available = []
            for row in rows:
                free = np.ones(len(sorted_items), dtype=bool)
                excluded = exclusion.row_items(histories, int(row)) if not exclusion.empty else np.zeros(0, dtype=np.int64)
                free[position[excluded[(excluded >= 1) & (excluded <= len(sorted_items))]]] = False
                available.append(np.concatenate([[0], np.cumsum(free)]))
            results.extend(self._beam_search(network, memory, padding, available, beams, sorted_codes, sorted_items))
        return results

    def _beam_search(
        self,
        network: TigerNetwork,
        memory: Tensor,
        padding: Tensor,
        available: list[np.ndarray],
        beams: int,
        sorted_codes: np.ndarray,
        sorted_items: np.ndarray,
    ) -> list[list[tuple[int, float]]]:
        n_rows, depth = len(available), sorted_codes.shape[1]
        offsets = network.offsets
        # Each beam: (row, lo, hi, score, tokens); [lo, hi) = the sorted rows under its prefix.
        state: list[list[tuple[int, int, float, list[int]]]] = [[(0, len(sorted_items), 0.0, [START_TOKEN])] for _ in range(n_rows)]
        for level in range(depth):
            flat = [(row, beam) for row in range(n_rows) for beam in state[row]]
            if not flat:
                break
            owners = torch.tensor([row for row, _ in flat], dtype=torch.int64, device=memory.device)
            prefix = torch.tensor([beam[3] for _, beam in flat], dtype=torch.int64, device=memory.device)  # [N, level + 1]
            log_probs = network.decode(prefix, memory[owners], padding[owners])[:, -1].double().cpu().numpy()  # [N, V]
            candidates: list[list[tuple[float, int, int, int, int, list[int]]]] = [[] for _ in range(n_rows)]
            for index, (row, (lo, hi, score, tokens)) in enumerate(flat):
                column = sorted_codes[lo:hi, level]
                starts = np.concatenate([[0], np.flatnonzero(np.diff(column)) + 1])
                ends = np.concatenate([starts[1:], [hi - lo]])
                counts = available[row][lo + ends] - available[row][lo + starts]
                for start, end, count in zip(starts.tolist(), ends.tolist(), counts.tolist()):
                    if count <= 0:
                        continue  # every item under this prefix is excluded: pruned
                    token = offsets[level] + int(column[start])
                    candidates[row].append((score + float(log_probs[index, token]), index, token, lo + start, lo + end, tokens))
            for row in range(n_rows):
                chosen = sorted(candidates[row], key=lambda c: (-c[0], c[1], c[2]))[:beams]
                state[row] = [(lo, hi, score, [*tokens, token]) for score, _, token, lo, hi, tokens in chosen]
        return [[(int(sorted_items[lo]), score) for lo, _, score, _ in state[row]] for row in range(n_rows)]

    # -- explanation ----------------------------------------------------------------------------
    @torch.no_grad()
    def explain(self, history: Any, item: int) -> Explanation:
        n_items = self.require_fitted()
        network = self._require_network()
        codes, _ = self._require_codes()
        histories = SequenceData.from_lists([list(history)], n_items)
        ranked = [found for found, _ in self.decode(histories, self.config.beam_width)[0]]
        tokens = self._item_tokens()
        device = self._device()
        memory, padding = network.encode(torch.from_numpy(self._source_tokens(histories.padded(self.config.max_len))).to(device))
        prefix = torch.tensor([[START_TOKEN, *tokens[item, :-1].tolist()]], dtype=torch.int64, device=device)
        log_probs = network.decode(prefix, memory, padding)[0].double().cpu().numpy()  # [L + 1, V]
        evidence: list[dict[str, Any]] = []
        for level in range(codes.shape[1]):
            sharing = np.flatnonzero((codes[:, : level + 1] == codes[item, : level + 1]).all(axis=1))
            evidence.append(
                {
                    "level": level + 1,
                    "code": int(codes[item, level]),
                    "log_prob": float(log_probs[level, tokens[item, level]]),
                    "items_with_this_prefix": len(sharing),
                    "examples": [int(i) for i in sharing[:10]],
                }
            )
        total = float(sum(log_probs[level, tokens[item, level]] for level in range(codes.shape[1])))
        path = "-".join(str(int(c)) for c in codes[item])
        where = f"ranks it #{ranked.index(item) + 1} of {len(ranked)} beams" if item in ranked else f"does not reach it in its {len(ranked)} beams"
        summary = (
            f"{self.name} spells item {item} as code {path} (log-probability {total:.3g}) and {where}; "
            f"{evidence[0]['items_with_this_prefix']} items share its first-level code {evidence[0]['code']}."
        )
        return Explanation(self.name, int(item), summary, ExplanationKind.RANKED_LIST, evidence)

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> tuple[StateArrays, StateValues]:
        arrays, values = super().state()
        arrays.update(module_arrays(self._require_network(), "network"))
        values["fit_seconds"] = self.fit_seconds
        return arrays, values

    def restore(self, arrays: Mapping[str, np.ndarray], values: Mapping[str, Any], *, items: ItemInfo | None = None) -> Self:
        super().restore(arrays, values, items=items)
        codes, sizes = self._require_codes()
        self.codes, self.level_sizes = codes.astype(np.int64), sizes.astype(np.int64)
        network = TigerNetwork(self.level_sizes, self.config)
        load_module_arrays(network, arrays, "network")
        self.network = network.to(self._device()).eval()
        self._trie = None
        self.fit_seconds = float(values.get("fit_seconds", 0.0))
        return self


def training_examples(train: SequenceData, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (history window, next item) pair of ``train``: windows ``[N, max_len]`` (left-padded
    with 0, the most recent ``max_len`` items) and targets ``[N]``."""
    windows, targets = [], []
    for sequence in train:
        for t in range(1, len(sequence)):
            window = sequence[max(0, t - max_len) : t]
            row = np.zeros(max_len, dtype=np.int64)
            row[max_len - len(window) :] = window
            windows.append(row)
            targets.append(int(sequence[t]))
    if not targets:
        return np.zeros((0, max_len), dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.stack(windows), np.asarray(targets, dtype=np.int64)


__all__ = ["Tiger", "TigerConfig", "TigerNetwork", "training_examples"]
