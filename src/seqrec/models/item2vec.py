"""Item2Vec / Prod2Vec: word2vec's skip-gram with negative sampling over item sequences.

Barkan & Koenigstein (2016), "Item2Vec: neural item embedding for collaborative filtering"
(IEEE MLSP), and Grbovic et al. (2015), "E-commerce in your inbox: product recommendations at
scale" (KDD, prod2vec). Both apply Mikolov et al. (2013), "Distributed representations of words
and phrases and their compositionality", to items.

**Training** (Mikolov et al. 2013, section 2). Every training sequence is a sentence. For each
item ``c`` and each item ``o`` at most ``window`` positions away (prod2vec's sequential window;
Item2Vec's "whole set is the context" is ``window >= sequence length``), minimise

    -log sigma(u_c . v_o) - sum_{n = 1..negatives} log sigma(-u_c . v_n)      (eq. 4)

with ``u`` the input and ``v`` the output embeddings and the negatives ``n`` drawn from the
unigram distribution raised to 3/4. Frequent items are subsampled before windows are formed,
keeping an occurrence of an item with frequency ``f`` with probability
``sqrt(t / f) + t / f`` (the formula of word2vec's C code, a smoothed form of eq. 5), redrawn
every epoch. Item2Vec's paper uses the same subsampling. It is off by default (``subsample =
0``): on ML-100K's validation set every setting we tried with it (t = 1e-3, 1e-4) was worse,
since a popular film is signal, not a stop word.

**Deviations.** The original trains with single-example Hogwild SGD; here pairs are shuffled and
fed in mini-batches to sparse Adam with the learning rate decayed linearly to ~0 (as word2vec
decays it), and the window is fixed rather than word2vec's randomly shrunk one. All randomness
(initialisation, subsampling, shuffling, negatives) comes from one seeded generator, so a fixed
``seed`` and ``threads`` give identical embeddings.

**Recommending.** Item2Vec ranks by cosine similarity of item vectors. For a history, the last
``n_recent`` items ``h_0`` (newest), ``h_1``, ... are combined into a user vector with
geometrically decaying weights ``w_j = recency_decay ** j``:

    user = sum_j w_j * u_{h_j} / |u_{h_j}|          (input embeddings, unit length)
    score(i) = cos(user, e_i)

with ``e`` either the input embeddings (``score_with = "input"``, Item2Vec's item-item
similarity) or the output embeddings (``"output"``, the default: the skip-gram's own
"appears next to" log-odds ``u . v``, normalised). Input-input cosine ranks the history items
themselves first and, on ML-100K validation, ranked held-out items worse (NDCG@10 0.075 vs
0.104 at the defaults). Items never seen in training score -1, the lowest possible cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from seqrec.data.types import SequenceData
from seqrec.models.base import (
    ConfigError,
    ContractSettings,
    Explanation,
    ExplanationKind,
    Recommender,
    help_field,
)

UNSEEN_SCORE = -1.0


@dataclass
class Item2VecConfig:
    dim: int = help_field(64, "Embedding size.")
    window: int = help_field(5, "Context items on each side of the centre item.")
    negatives: int = help_field(5, "Negative samples per (centre, context) pair.")
    subsample: float = help_field(0.0, "Subsampling threshold t for frequent items (0 = off).")
    epochs: int = help_field(3, "Passes over the training pairs.")
    lr: float = help_field(0.02, "Initial learning rate of sparse Adam, decayed linearly to ~0.")
    batch_size: int = help_field(4096, "Pairs per optimisation step.")
    seed: int = help_field(0, "Seed of every random choice; equal seeds give equal embeddings.")
    threads: int = help_field(1, "torch CPU threads used while fitting.")
    n_recent: int = help_field(5, "Latest history items that form the user vector.")
    recency_decay: float = help_field(
        0.7, "Weight ratio between consecutive recent items (1 = equal)."
    )
    score_with: Literal["input", "output"] = help_field(
        "output", "Embeddings scored against the user vector: 'input' or 'output'."
    )

    def __post_init__(self) -> None:
        positive = ("dim", "window", "negatives", "epochs", "batch_size", "threads", "n_recent")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"Item2VecConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.subsample < 0 or self.lr <= 0:
            raise ConfigError("Item2VecConfig.subsample must be >= 0 and lr > 0")
        if not 0 < self.recency_decay <= 1:
            raise ConfigError(
                f"Item2VecConfig.recency_decay must lie in (0, 1], got {self.recency_decay}"
            )


# -- training data ---------------------------------------------------------------------------
def keep_probabilities(counts: np.ndarray, threshold: float) -> np.ndarray:
    """word2vec's subsampling: P(keep) = sqrt(t / f) + t / f, capped at 1 ([I] for item counts)."""
    if threshold <= 0:
        return np.ones(len(counts))
    frequency = counts / max(counts.sum(), 1)
    ratio = np.divide(threshold, frequency, out=np.full(len(counts), np.inf), where=frequency > 0)
    return np.minimum(1.0, np.sqrt(ratio) + ratio)


def skipgram_pairs(
    items: np.ndarray, rows: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) pairs at distance 1..window within the same row, both directions.

    ``items`` [N] and ``rows`` [N] list the kept interactions in sequence order.
    """
    centres, contexts = [], []
    for distance in range(1, window + 1):
        same_row = np.flatnonzero(
            rows[distance:] == rows[:-distance]
        )  # [P] position of the left item
        left, right = items[same_row], items[same_row + distance]
        centres += [left, right]
        contexts += [right, left]
    if not centres:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(centres), np.concatenate(contexts)


def recency_weights(n: int, decay: float) -> np.ndarray:
    """Weights [n] of the last ``n`` history items, oldest first: decay**(n-1), ..., decay, 1."""
    return decay ** np.arange(n - 1, -1, -1, dtype=np.float64)


# -- the network -----------------------------------------------------------------------------
class SkipGram(torch.nn.Module):
    """Input and output item embeddings and the negative-sampling loss (eq. 4)."""

    def __init__(self, n_rows: int, dim: int, generator: torch.Generator) -> None:
        super().__init__()
        self.input = torch.nn.Embedding(n_rows, dim, sparse=True)
        self.output = torch.nn.Embedding(n_rows, dim, sparse=True)
        with torch.no_grad():  # word2vec's initialisation: small uniform inputs, zero outputs
            self.input.weight.uniform_(-0.5 / dim, 0.5 / dim, generator=generator)
            self.output.weight.zero_()

    def forward(
        self, centres: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """Mean loss over a batch: centres [B], contexts [B], negatives [B, K]."""
        centre = self.input(centres)  # [B, D]
        positive = (centre * self.output(contexts)).sum(-1)  # [B]
        negative = torch.bmm(self.output(negatives), centre.unsqueeze(-1)).squeeze(-1)  # [B, K]
        return -(F.logsigmoid(positive) + F.logsigmoid(-negative).sum(-1)).mean()


class Item2Vec(Recommender[Item2VecConfig]):
    """Skip-gram item embeddings; recommend by similarity to the latest items."""

    name = "item2vec"
    contract = ContractSettings(
        {},
        known_answer="own-cycle",
        why="skip-gram windows hold the successor and the history items alike: co-occurrence, not order",
    )
    Config = Item2VecConfig
    era = 1
    sequential = True
    state_attributes = ("input_vectors", "output_vectors", "seen")

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [32, 64, 128]),
            "window": trial.suggest_int("window", 2, 10),
            "subsample": trial.suggest_categorical("subsample", [0.0, 1e-4, 1e-3]),
            "epochs": trial.suggest_int("epochs", 3, 15),
            "lr": trial.suggest_float("lr", 1e-3, 5e-2, log=True),
            "n_recent": trial.suggest_int("n_recent", 1, 20),
            "recency_decay": trial.suggest_float("recency_decay", 0.3, 1.0),
            "score_with": trial.suggest_categorical("score_with", ["input", "output"]),
        }

    # -- fitting ------------------------------------------------------------------------------
    def _fit(self, train: SequenceData, valid: Any) -> None:
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.config.threads)
        try:
            network = self._train(train)
        finally:
            torch.set_num_threads(previous_threads)
        counts = train.item_counts()
        seen = counts > 0
        self.input_vectors = _unit_rows(network.input.weight.detach().numpy(), seen)  # [I, D]
        self.output_vectors = _unit_rows(network.output.weight.detach().numpy(), seen)  # [I, D]
        self.seen = seen  # [I]

    def _train(self, train: SequenceData) -> SkipGram:
        config = self.config
        generator = torch.Generator().manual_seed(config.seed)
        network = SkipGram(train.n_items + 1, config.dim, generator)
        counts = train.item_counts().astype(np.float64)  # [I]
        noise = torch.from_numpy(counts**0.75)  # unigram^(3/4), padding has count 0
        if noise.sum() == 0:
            return network
        keep = torch.from_numpy(keep_probabilities(counts, config.subsample))  # [I]
        items = torch.from_numpy(train.items)  # [N]
        rows = np.repeat(np.arange(len(train)), train.lengths)  # [N]
        optimizer = torch.optim.SparseAdam(list(network.parameters()), lr=config.lr)
        total_steps = self._estimated_steps(train, keep)
        step = 0
        for _ in range(config.epochs):
            kept = (
                torch.rand(len(items), generator=generator, dtype=torch.float64) < keep[items]
            ).numpy()
            centres, contexts = skipgram_pairs(train.items[kept], rows[kept], config.window)
            order = torch.randperm(len(centres), generator=generator)
            centre_t, context_t = (
                torch.from_numpy(centres)[order],
                torch.from_numpy(contexts)[order],
            )
            for start in range(0, len(order), config.batch_size):
                batch_centres = centre_t[start : start + config.batch_size]  # [B]
                negatives = torch.multinomial(
                    noise,
                    len(batch_centres) * config.negatives,
                    replacement=True,
                    generator=generator,
                ).view(len(batch_centres), config.negatives)  # [B, K]
                for group in optimizer.param_groups:  # linear decay, as word2vec
                    group["lr"] = config.lr * max(1e-4, 1.0 - step / total_steps)
                optimizer.zero_grad()
                loss = network(
                    batch_centres, context_t[start : start + config.batch_size], negatives
                )
                loss.backward()
                optimizer.step()
                step += 1
        return network

    def _estimated_steps(self, train: SequenceData, keep: torch.Tensor) -> int:
        """Expected number of optimiser steps (for the learning-rate schedule)."""
        kept_fraction = (
            float(keep[torch.from_numpy(train.items)].mean()) if len(train.items) else 0.0
        )
        pairs = 2 * self.config.window * kept_fraction * train.n_interactions
        return max(1, int(self.config.epochs * pairs / self.config.batch_size))

    # -- scoring ------------------------------------------------------------------------------
    def user_vectors(self, histories: SequenceData) -> np.ndarray:
        """Recency-weighted sum of the unit input vectors of the last ``n_recent`` items [B, D]."""
        recent = histories.padded(self.config.n_recent)  # [B, R], newest item in the last column
        weights = recency_weights(self.config.n_recent, self.config.recency_decay)  # [R]
        vectors = self.input_vectors[recent]  # [B, R, D]; padding row 0 is zero
        return np.einsum("r,brd->bd", weights, vectors)

    def candidate_vectors(self) -> np.ndarray:
        """Unit item vectors [I, D] the user vector is compared with."""
        return self.input_vectors if self.config.score_with == "input" else self.output_vectors

    def _score(self, histories: SequenceData) -> np.ndarray:
        self.require_fitted()
        users = self.user_vectors(histories)  # [B, D]
        norms = np.linalg.norm(users, axis=1, keepdims=True)  # [B, 1]
        users = np.divide(users, norms, out=np.zeros_like(users), where=norms > 0)
        scores = (users @ self.candidate_vectors().T).astype(np.float32)  # [B, I] cosines
        scores[:, ~self.seen] = UNSEEN_SCORE
        return scores

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        self.require_fitted()
        recent = [int(i) for i in history][-self.config.n_recent :]
        weights = recency_weights(len(recent), self.config.recency_decay)  # [r]
        user = (
            weights @ self.input_vectors[recent]
            if recent
            else np.zeros(self.input_vectors.shape[1])
        )
        norm = float(np.linalg.norm(user))
        target = self.candidate_vectors()[int(item)]  # [D]
        evidence: list[dict[str, Any]] = []
        for back, (history_item, weight) in enumerate(zip(reversed(recent), weights[::-1])):
            similarity = float(self.input_vectors[history_item] @ target)
            evidence.append(
                {
                    "item": history_item,
                    "steps_back": back,
                    "weight": float(weight),
                    "similarity": similarity,
                    "contribution": float(weight) * similarity / norm if norm > 0 else 0.0,
                }
            )
        total = sum(row["contribution"] for row in evidence)
        summary = (
            f"Cosine {total:.3f} between this item's embedding and your last {len(recent)} items, "
            f"the newest weighing most (each step back x{self.config.recency_decay:g})."
        )
        if not self.seen[int(item)]:
            summary = "Never seen in training: it has no embedding and scores lowest."
        return Explanation(
            model=self.name,
            item=int(item),
            summary=summary,
            kind=ExplanationKind.EMBEDDING_SIMILARITY,
            evidence=evidence,
        )


def _unit_rows(vectors: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; rows of items never seen in training (and padding) are zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # [I, 1]
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    unit[~seen] = 0.0
    return unit.astype(np.float64)
