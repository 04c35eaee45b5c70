"""What the BPR-trained factorization models share: triples, the training loop, the fold-in.

Rendle, Freudenthaler, Gantner & Schmidt-Thieme (2009), "BPR: Bayesian Personalized Ranking
from Implicit Feedback", UAI. BPR-MF, FPMC, Fossil and TransRec all maximise

    Σ_(u, t, i, j) ln σ(x_uti − x_utj) − λ‖Θ‖²                               (BPR-Opt)

over triples of a user ``u`` at step ``t``, the item ``i`` bought there and a negative item
``j``. This module holds, once:

* :class:`PairwiseRecommender` — the base of the four models: ``fit`` (sampler, parameters,
  training loop), the fold-in's pairs and solve, and scoring in chunks of histories; a model
  adds its parameters (a :class:`PairwiseModule`), the scores of a chunk and its explanation;
* :class:`TripleSampler` — every training interaction (at or after ``min_position`` in its
  sequence) once per epoch in random order, each with a uniformly drawn negative item
  (rejection sampling, vectorized): one the user never bought for BPR, any item but the
  positive for the sequential models (S-BPR);
* :func:`train_pairwise` — mini-batch Adam, or plain SGD (``batch_size=1`` and ``optimizer="sgd"``
  is exactly LearnBPR's update ``θ ← θ + α(σ(−x_uij) ∂x_uij/∂θ − λθ)``);
* :func:`fold_in_pairs` and :func:`solve_fold_in` — the user's own parameters for a history the
  model never saw in training (held-out users, the walkthrough persona).

**Fold-in.** In all four models the user's parameter ``w`` (BPR's ``p_u``, FPMC's ``v_u^{U,I}``,
Fossil's ``η_u``, TransRec's ``t_u``) enters the margin *linearly*:
``x_uti − x_utj = f_sᵀ w + o_s`` with features ``f_s`` and an offset ``o_s`` that depend on the
frozen item parameters only (TransRec's ``‖t_u‖²`` cancels in the difference). With the item
side frozen, the per-user BPR objective

    g(w) = mean_s softplus(−(f_sᵀ w + o_s)) + (λ/2)‖w‖²

is therefore a convex, L2-regularised logistic regression; :func:`solve_fold_in` minimises it
with damped Newton steps. Its λ is a setting of its own (``fold_in_reg``, chosen on validation
data): the training λ acts through Adam's updates and is not the weight of a per-user optimum.
Its negatives are items outside the history — the ones a recommendation is chosen from. The pairs ``s`` pair each history position (spread evenly) with one of
a fixed, seeded list of negative items shared by every history, so a row's result depends on
that row alone (batching and chunking never change a score). At the optimum the representer
identity ``w = Σ_s c_s f_s`` with ``c_s = weight_s σ(−m_s) / λ`` holds, which the explanations use
to split a score over the history items.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.base import (
    ConfigError,
    Recommender,
    StateArrays,
    StateValues,
    help_field,
    load_module_arrays,
    module_arrays,
)

ProgressCallback = Callable[[int, float], None]
"""Called after each epoch with (epoch number from 1, mean training loss)."""


@dataclass
class PairwiseConfig:
    """Training and fold-in settings shared by the BPR-trained models (they subclass this)."""

    epochs: int = help_field(30, "Passes over the training interactions.")
    batch_size: int = help_field(1024, "Triples per gradient step (1 with optimizer='sgd' is LearnBPR).")
    lr: float = help_field(0.005, "Learning rate.")
    optimizer: Literal["adam", "sgd"] = help_field("adam", "'adam' (mini-batch Adam) or 'sgd' (the papers' plain SGD).")
    init_std: float = help_field(0.1, "Standard deviation of the normal initial factors.")
    fold_in_pairs: int = help_field(256, "(positive, negative) pairs per history when folding a user in.")
    fold_in_iterations: int = help_field(20, "Most Newton steps of the fold-in (convex; it stops once converged).")
    fold_in_reg: float = help_field(0.03, "L2 weight λ of the fold-in's per-user objective (mean over pairs + λ/2‖w‖²).")
    seed: int = help_field(0, "Seed of the initial factors, the triple sampler and the fold-in negatives.")
    threads: int = help_field(1, "torch.set_num_threads during fit and score.")
    dim: int = help_field(64, "Dimension of the learned factors (the model's docstring says which).")

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name in ("epochs", "batch_size", "fold_in_pairs", "fold_in_iterations", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{owner}.{name} must be at least 1, got {getattr(self, name)!r}")
        require_positive(self, "lr", "init_std", "fold_in_reg", "dim")


def require_positive(config: Any, *names: str) -> None:
    """Raise a :class:`ConfigError` naming the first of ``names`` that is not > 0."""
    for name in names:
        if not getattr(config, name) > 0:
            raise ConfigError(f"{type(config).__name__}.{name} must be positive, got {getattr(config, name)!r}")


def shared_search_space(trial: Any) -> dict[str, Any]:
    """The optuna ranges every pairwise model tunes (models add their own on top)."""
    return {
        "dim": trial.suggest_categorical("dim", [32, 64, 128]),
        "lr": trial.suggest_float("lr", 1e-3, 5e-2, log=True),
        "reg": trial.suggest_float("reg", 1e-5, 1e-1, log=True),
        "epochs": trial.suggest_int("epochs", 5, 60),
        "fold_in_reg": trial.suggest_float("fold_in_reg", 1e-3, 1.0, log=True),
    }


# -- triples ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TripleBatch:
    """A batch of BPR triples (user row, step, positive item, negative item), all int64 [B]."""

    rows: torch.Tensor  # [B] training row (= user) of each triple
    starts: torch.Tensor  # [B] index in the flat item array where that row's sequence starts
    positions: torch.Tensor  # [B] index in the flat item array of the positive interaction
    positives: torch.Tensor  # [B] item bought at that step
    negatives: torch.Tensor  # [B] item the user never bought


class TripleSampler:
    """Training interactions in random order, each with a uniformly sampled negative item.

    Only interactions at index ``min_position`` or later within their sequence are positives
    (sequential models need at least one previous item). Negatives are drawn uniformly from
    ``1..n_items`` and redrawn while they clash: with ``exclude_bought`` while the user bought
    them at all (BPR's ``j ∈ I ∖ I_u^+``, section 4.1), otherwise while they equal the positive
    (S-BPR's ``j ∉ B_t`` when the basket ``B_t`` is one item: FPMC section 5.2). After
    ``max_redraws`` rounds a clash is kept (only possible when a user bought nearly every item).
    """

    def __init__(
        self, train: SequenceData, min_position: int, seed: int, exclude_bought: bool, max_redraws: int = 20
    ) -> None:
        self.n_items = train.n_items
        self.items = torch.from_numpy(train.items.astype(np.int64))  # [N] flat item array
        self.row_of = np.repeat(np.arange(len(train), dtype=np.int64), train.lengths)  # [N]
        self.starts = train.offsets[:-1][self.row_of]  # [N]
        index_in_row = np.arange(train.n_interactions) - self.starts
        self.eligible = np.flatnonzero(index_in_row >= min_position)  # [M]
        if len(self.eligible) == 0:
            raise ValueError(
                f"no training triples: every training sequence is shorter than {min_position + 1} items"
            )
        self.bought = np.unique(self.row_of * (self.n_items + 1) + train.items)  # sorted user-item keys
        self.exclude_bought = exclude_bought
        self.rng = np.random.default_rng(seed)
        self.max_redraws = max_redraws

    def __len__(self) -> int:
        return len(self.eligible)

    def negatives(self, rows: np.ndarray, positives: np.ndarray) -> np.ndarray:
        """One uniformly drawn item per triple that does not clash with the user or the positive."""
        negatives = self.rng.integers(1, self.n_items + 1, size=len(rows))
        for _ in range(self.max_redraws):
            if self.exclude_bought:
                clash = contains(self.bought, rows * (self.n_items + 1) + negatives)
            else:
                clash = negatives == positives
            if not clash.any():
                break
            negatives[clash] = self.rng.integers(1, self.n_items + 1, size=int(clash.sum()))
        return negatives

    def batches(self, batch_size: int) -> Iterator[TripleBatch]:
        """One epoch: every eligible interaction once, in a fresh random order."""
        order = self.rng.permutation(self.eligible)
        for begin in range(0, len(order), batch_size):
            positions = order[begin : begin + batch_size]
            rows, positives = self.row_of[positions], self.items[positions]
            yield TripleBatch(
                rows=torch.from_numpy(rows),
                starts=torch.from_numpy(self.starts[positions]),
                positions=torch.from_numpy(positions),
                positives=positives,
                negatives=torch.from_numpy(self.negatives(rows, positives.numpy())),
            )


def contains(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Whether each query occurs in ``sorted_keys`` (same shape as ``queries``)."""
    if len(sorted_keys) == 0:
        return np.zeros(queries.shape, dtype=bool)
    where = np.searchsorted(sorted_keys, queries).clip(max=len(sorted_keys) - 1)
    return sorted_keys[where] == queries


# -- context of a step -----------------------------------------------------------------------------
def previous_items(items: torch.Tensor, starts: torch.Tensor, positions: torch.Tensor, order: int) -> torch.Tensor:
    """The ``order`` items before each position, most recent first; 0 where the sequence is shorter.

    ``items`` is a flat [N] item array, ``starts``/``positions`` index into it [B]. Column ``k``
    holds the item ``k + 1`` steps back (``S_{t-k-1}`` in Fossil's notation).
    """
    back = torch.arange(1, order + 1)  # [L]
    index = positions[:, None] - back[None, :]  # [B, L]
    valid = index >= starts[:, None]  # [B, L]
    if len(items) == 0:
        return torch.zeros(index.shape, dtype=torch.int64)
    return torch.where(valid, items[index.clamp(min=0)], torch.zeros_like(index))


def history_context(histories: SequenceData, order: int) -> torch.Tensor:
    """The last ``order`` items of each history [B, L], most recent first, 0-padded."""
    items = torch.from_numpy(histories.items.astype(np.int64))
    offsets = torch.from_numpy(histories.offsets.astype(np.int64))
    return previous_items(items, offsets[:-1], offsets[1:], order)


def flat_ranges(starts: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``[s, s + n)`` of every (s, n) concatenated, and where each range begins in them.

    The pair feeds ``F.embedding_bag`` (``input``, ``offsets``) to sum a prefix per row.
    """
    bag_starts = torch.cumsum(lengths, 0) - lengths  # [B]
    total = int(lengths.sum())
    owner = torch.repeat_interleave(torch.arange(len(lengths)), lengths)  # [total]
    index = starts[owner] + torch.arange(total) - bag_starts[owner]  # [total]
    return index, bag_starts


# -- training --------------------------------------------------------------------------------------
class PairwiseModule(nn.Module, ABC):
    """The parameters of a BPR-trained model, and its loss terms on a batch of triples."""

    @abstractmethod
    def terms(self, batch: TripleBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """The margins ``x_uti − x_utj`` [B] and the L2 penalty: (λ/2)‖θ‖² of the parameters
        each triple touches, averaged over the batch (a scalar)."""

    def after_step(self, batch: TripleBatch) -> None:
        """Hook after each update (TransRec projects items back onto the unit ball)."""


def bpr_loss(module: PairwiseModule, batch: TripleBatch) -> torch.Tensor:
    """Negative BPR-Opt on a batch: mean −ln σ(x_uij) plus the L2 penalty."""
    margins, penalty = module.terms(batch)
    return -F.logsigmoid(margins).mean() + penalty


def bpr_step(module: PairwiseModule, optimizer: torch.optim.Optimizer, batch: TripleBatch) -> float:
    """One gradient step on one batch; returns the loss before the step."""
    optimizer.zero_grad()
    loss = bpr_loss(module, batch)
    loss.backward()
    optimizer.step()
    module.after_step(batch)
    return float(loss.detach())


def make_optimizer(module: nn.Module, config: PairwiseConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(module.parameters(), lr=config.lr)
    return torch.optim.Adam(module.parameters(), lr=config.lr)


def train_pairwise(
    module: PairwiseModule,
    sampler: TripleSampler,
    config: PairwiseConfig,
    progress: ProgressCallback | None = None,
) -> list[float]:
    """Train for ``config.epochs`` epochs; returns the mean loss of each epoch."""
    optimizer = make_optimizer(module, config)
    history = []
    for epoch in range(config.epochs):
        total, steps = 0.0, 0
        for batch in sampler.batches(config.batch_size):
            total += bpr_step(module, optimizer, batch)
            steps += 1
        history.append(total / steps)
        if progress is not None:
            progress(epoch + 1, history[-1])
    return history


def seeded_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def normal_parameter(shape: tuple[int, ...], std: float, generator: torch.Generator) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape, generator=generator) * std)


# -- fold-in ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FoldInPairs:
    """For each history row, ``S`` (positive, negative) pairs; masked pairs do not count."""

    positions: torch.Tensor  # [B, S] index into the histories' flat item array (0 where masked)
    positives: torch.Tensor  # [B, S]
    negatives: torch.Tensor  # [B, S]
    mask: torch.Tensor  # [B, S] bool
    history_items: torch.Tensor  # [N] the histories' flat item array
    starts: torch.Tensor  # [B, S] index in ``history_items`` where the pair's history starts

    def previous(self, order: int) -> torch.Tensor:
        """The ``order`` items before each pair's positive [B*S, L], most recent first, 0-padded."""
        return previous_items(self.history_items, self.starts.reshape(-1), self.positions.reshape(-1), order)


def fold_in_pairs(histories: SequenceData, n_pairs: int, min_position: int, seed: int) -> FoldInPairs:
    """Pairs for the fold-in of each history, independent of the other rows.

    Pair ``s`` of a row with ``n`` eligible positions (those at index ``min_position`` or later)
    uses position ``floor(s n / S)``: every position equally often when ``n <= S``, evenly spread
    ones otherwise. Its negative is the ``s``-th of ``S`` items drawn once from ``seed`` and shared
    by all rows; a pair whose negative is in the row's history is masked out (so the fold-in
    contrasts the history with items outside it: the ones a recommendation is chosen from).
    """
    n_rows = len(histories)
    negatives = np.random.default_rng(seed).integers(1, histories.n_items + 1, size=n_pairs)  # [S]
    counts = np.maximum(histories.lengths - min_position, 0)  # [B]
    slots = np.arange(n_pairs)
    positions = histories.offsets[:-1, None] + min_position + (slots[None, :] * counts[:, None]) // n_pairs
    has_pairs = np.broadcast_to(counts[:, None] > 0, positions.shape)
    positions = np.where(has_pairs, positions, 0)  # [B, S]
    flat = histories.items if len(histories.items) else np.zeros(1, dtype=np.int64)
    positives = np.where(has_pairs, flat[positions.clip(max=len(flat) - 1)], 0)
    row_of = np.repeat(np.arange(n_rows), histories.lengths)
    seen_keys = np.unique(row_of * (histories.n_items + 1) + histories.items)
    seen = contains(seen_keys, np.arange(n_rows)[:, None] * (histories.n_items + 1) + negatives[None, :])
    return FoldInPairs(
        positions=torch.from_numpy(positions.astype(np.int64)),
        positives=torch.from_numpy(positives.astype(np.int64)),
        negatives=torch.from_numpy(np.broadcast_to(negatives, (n_rows, n_pairs)).astype(np.int64)),
        mask=torch.from_numpy(has_pairs & ~seen),
        history_items=torch.from_numpy(histories.items.astype(np.int64)),
        starts=torch.from_numpy(histories.offsets[:-1].astype(np.int64))[:, None].expand(n_rows, n_pairs),
    )


def fold_in_objective(
    params: torch.Tensor, features: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor, reg: float
) -> torch.Tensor:
    """g(w) per row [B]: weighted mean softplus(−m_s) + (λ/2)‖w‖²."""
    margins = torch.einsum("bsp,bp->bs", features, params) + offsets  # [B, S]
    return (weights * F.softplus(-margins)).sum(1) + 0.5 * reg * (params * params).sum(1)


def solve_fold_in(
    features: torch.Tensor,
    offsets: torch.Tensor,
    mask: torch.Tensor,
    reg: float,
    iterations: int,
    tolerance: float = 1e-7,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise g(w) for every row with damped Newton steps (float64).

    ``features`` [B, S, P], ``offsets`` [B, S], ``mask`` [B, S]. Returns the user parameters
    [B, P] and the representer coefficients ``c`` [B, S] with ``w ≈ Σ_s c_s f_s`` (exact at the
    optimum). Each step tries the full Newton step and its halvings and keeps whichever lowers
    g most, so g never increases; the loop stops early once every gradient entry is below
    ``tolerance``. Rows without a valid pair get ``w = 0``.
    """
    if reg <= 0:
        raise ValueError("the fold-in needs a positive regularization weight")
    features = features.detach().double()  # the fold-in never trains the frozen item side
    offsets = offsets.detach().double()
    weights = mask.double() / mask.sum(1, keepdim=True).clamp(min=1).double()  # [B, S]
    n_rows, _, dim = features.shape
    params = torch.zeros(n_rows, dim, dtype=torch.float64)  # [B, P]
    identity = torch.eye(dim, dtype=torch.float64)
    for _ in range(iterations):
        margins = torch.einsum("bsp,bp->bs", features, params) + offsets  # [B, S]
        gradient = -torch.einsum("bs,bsp->bp", weights * torch.sigmoid(-margins), features) + reg * params
        if gradient.numel() == 0 or float(gradient.abs().max()) < tolerance:
            break  # every row is at its optimum (the extra steps would not move it)
        curvature = weights * torch.sigmoid(margins) * torch.sigmoid(-margins)  # [B, S]
        hessian = torch.bmm((features * curvature[..., None]).transpose(1, 2), features) + reg * identity
        step = -torch.linalg.solve(hessian, gradient)  # [B, P]
        params = _best_damped(params, step, features, offsets, weights, reg)
    margins = torch.einsum("bsp,bp->bs", features, params) + offsets
    coefficients = weights * torch.sigmoid(-margins) / reg  # [B, S]
    return params.float(), coefficients.float()


def _best_damped(
    params: torch.Tensor,
    step: torch.Tensor,
    features: torch.Tensor,
    offsets: torch.Tensor,
    weights: torch.Tensor,
    reg: float,
) -> torch.Tensor:
    """Per row, the best of ``params + a·step`` for a in {1, 1/2, 1/4, 1/8, 1/16, 0}."""
    best = params
    best_value = fold_in_objective(params, features, offsets, weights, reg)  # [B]
    for scale in (1.0, 0.5, 0.25, 0.125, 0.0625):
        candidate = params + scale * step
        value = fold_in_objective(candidate, features, offsets, weights, reg)
        better = value < best_value
        best = torch.where(better[:, None], candidate, best)
        best_value = torch.where(better, value, best_value)
    return best


def set_threads(config: PairwiseConfig) -> None:
    torch.set_num_threads(config.threads)


def unique_sorted_rows(histories: SequenceData) -> SequenceData:
    """Each history as the sorted set of its items (for order-agnostic models)."""
    width = histories.n_items + 1
    row_of = np.repeat(np.arange(len(histories), dtype=np.int64), histories.lengths)
    keys = np.unique(row_of * width + histories.items)  # sorted by (row, item), duplicates dropped
    offsets = np.zeros(len(histories) + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // width, minlength=len(histories)), out=offsets[1:])
    items = keys % width
    return SequenceData(offsets, items, np.zeros(len(items), dtype=np.int64), histories.n_items, histories.users.copy())


def split_over_history(pairs: FoldInPairs, coefficients: torch.Tensor, pair_values: torch.Tensor) -> dict[int, float]:
    """Split ``wᵀz = Σ_s c_s f_sᵀz`` over the history items of one folded-in row.

    ``pair_values`` [S] holds ``f_sᵀz`` for each pair (``z`` is what multiplies the user
    parameter in the score being explained). Each pair's share ``c_s f_sᵀz`` goes to its positive
    item, so the shares sum to ``wᵀz`` (exactly at the fold-in optimum).
    """
    shares: dict[int, float] = {}
    weights = coefficients[0] * pairs.mask[0]  # [S]
    for item, value in zip(pairs.positives[0].tolist(), (weights * pair_values).tolist()):
        if item:
            shares[item] = shares.get(item, 0.0) + value
    return shares


def top_rows(rows: list[dict[str, Any]], key: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` rows with the largest ``key``."""
    return sorted(rows, key=lambda row: -row[key])[:limit]


# -- the models' base ------------------------------------------------------------------------------
PairwiseConfigT = TypeVar("PairwiseConfigT", bound=PairwiseConfig)
ParametersT = TypeVar("ParametersT", bound=PairwiseModule)


class PairwiseRecommender(Recommender[PairwiseConfigT], Generic[PairwiseConfigT, ParametersT]):
    """What BPR-MF, FPMC, Fossil and TransRec do alike: fit, fold-in and chunked scoring.

    ``fit`` samples triples (positives from index ``min_position`` of each sequence, negatives
    outside the user's purchases with ``exclude_bought``), builds the model's parameters
    (:meth:`build_parameters`) and trains them with :func:`train_pairwise` for the configured
    epochs (``valid`` is not used). ``score`` scores ``score_chunk`` histories at a time with
    :meth:`chunk_scores`. :meth:`pairs_for` and :meth:`solve_user` are the fold-in with the
    model's settings; the model turns its margin into features and offsets between the two.

    Saved state: the parameters' ``state_dict()`` as ``factors.<name>`` arrays, ``n_users`` and
    the loss of every epoch; :meth:`restore` builds empty parameters and loads them.
    """

    min_position: ClassVar[int] = 1
    """First index of a sequence that is a training positive or a fold-in pair (1: the sequential
    models need a previous item)."""
    exclude_bought: ClassVar[bool] = False
    """Negatives are items the user never bought (BPR) rather than any item but the positive (S-BPR)."""
    score_chunk: ClassVar[int] = 128
    """Histories scored at once (bounds the [B, S, d] fold-in features)."""
    state_attributes: ClassVar[tuple[str, ...]] = ("n_users", "loss_history")
    factors: ParametersT
    loss_history: list[float]
    n_users: int

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return shared_search_space(trial)

    def _fit(self, train: SequenceData, valid: Any, progress: ProgressCallback | None = None) -> None:
        """BPR-Opt (S-BPR for the sequential models) on ``train``; ``progress`` is called after
        each epoch (see :data:`ProgressCallback`)."""
        set_threads(self.config)
        sampler = TripleSampler(
            train, min_position=self.min_position, seed=self.config.seed, exclude_bought=self.exclude_bought
        )
        self.n_users = len(train)
        self.factors = self.build_parameters(self.n_users, train.n_items, sampler.items)
        self.loss_history = train_pairwise(self.factors, sampler, self.config, progress)

    @abstractmethod
    def build_parameters(self, n_users: int, n_items: int, train_items: torch.Tensor) -> ParametersT:
        """The model's freshly initialised parameters for ``n_users`` training rows and ``n_items``
        items; ``train_items`` [N] is the flat training item array (empty when restoring a saved
        model: the parameters are only scored then, never trained)."""

    def state(self) -> tuple[StateArrays, StateValues]:
        arrays, values = super().state()
        arrays.update(module_arrays(self.factors, "factors"))
        return arrays, values

    def restore(self, arrays: Mapping[str, np.ndarray], values: Mapping[str, Any], *, items: ItemInfo | None = None) -> Self:
        super().restore(arrays, values, items=items)
        self.factors = self.build_parameters(self.n_users, self.require_fitted(), torch.zeros(0, dtype=torch.int64))
        load_module_arrays(self.factors, arrays, "factors")
        return self

    @abstractmethod
    def chunk_scores(self, histories: SequenceData) -> torch.Tensor:
        """Scores [B, n_items + 1] of a chunk of histories (under ``torch.no_grad``)."""

    def _score(self, histories: SequenceData) -> np.ndarray:
        n_items = self.require_fitted()
        set_threads(self.config)
        out = np.empty((len(histories), n_items + 1), dtype=np.float32)
        with torch.no_grad():
            for begin in range(0, len(histories), self.score_chunk):
                chunk = histories.rows(slice(begin, begin + self.score_chunk))
                out[begin : begin + len(chunk)] = self.chunk_scores(chunk).numpy()
        return out

    # -- fold-in ------------------------------------------------------------------------------------
    def pairs_for(self, histories: SequenceData) -> FoldInPairs:
        """The fold-in pairs of each history (see :func:`fold_in_pairs`)."""
        return fold_in_pairs(histories, self.config.fold_in_pairs, self.min_position, self.config.seed)

    def solve_user(
        self, features: torch.Tensor, offsets: torch.Tensor, pairs: FoldInPairs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The user parameters [B, P] and representer coefficients [B, S] of margins
        ``features · w + offsets`` (see :func:`solve_fold_in`)."""
        cfg = self.config
        return solve_fold_in(features, offsets, pairs.mask, cfg.fold_in_reg, cfg.fold_in_iterations)

    def one_history(self, history: Sequence[int]) -> SequenceData:
        """``history`` as a one-row batch (for the explanations); raises before ``fit``."""
        return SequenceData.from_lists([list(history)], self.require_fitted())
