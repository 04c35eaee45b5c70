"""The model contract (see DESIGN.md) and the shared code every model relies on.

Models *score*; this module *masks and ranks*. Top-k, history masking and tie handling are
written once here and nowhere else.

A model is a subclass of :class:`Recommender` with

* ``name``: the registry key;
* ``Config``: a dataclass whose fields carry ``metadata={"help": ...}`` and working defaults;
* ``fit(train, valid=None) -> self`` and ``score(histories) -> [B, n_items + 1]`` float32
  array, column 0 (padding) at ``-inf``;
* optionally ``explain(history, item) -> Explanation``;
* optionally ``search_space(trial) -> dict`` for ``seqrec tune``.

The constructor only stores settings; ``fit`` learns state (scikit-learn's convention).
"""

from __future__ import annotations

import dataclasses
import difflib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import numpy as np

from seqrec.data.types import SequenceData

NEG_INF = np.float32(-np.inf)

Self = TypeVar("Self", bound="Recommender")


class NotFittedError(RuntimeError):
    """``score``/``recommend``/``explain`` called before ``fit``."""


class ConfigError(ValueError):
    """A config names a field the model does not have, or gives it a value of the wrong type."""


@dataclass
class Explanation:
    """Why a model scored ``item`` as it did for one history.

    ``summary`` is one readable sentence; ``evidence`` is a list of rows (dicts with plain
    JSON values) such as the history items that contributed and by how much, the rules that
    fired, or the transition probabilities used. ``kind`` names what the rows are.
    """

    model: str
    item: int
    summary: str
    kind: str = "generic"
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def help_field(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with a one-line help text (shown by ``seqrec models``)."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help}, **kwargs)
    return field(default=default, metadata={"help": help}, **kwargs)


def build_config(config_class: type, values: Mapping[str, Any] | None) -> Any:
    """Instantiate ``config_class`` from a mapping; unknown keys and wrong types are errors."""
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(config_class)}
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{config_class.__name__} has no field {key!r}{hint}; fields: {', '.join(known)}"
            )
        values[key] = _coerce(config_class.__name__, known[key], value)
    return config_class(**values)


def _coerce(owner: str, spec: dataclasses.Field, value: Any) -> Any:
    expected = spec.type if isinstance(spec.type, type) else _type_from_name(str(spec.type))
    if expected is None or isinstance(value, expected):
        return value
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if expected is tuple and isinstance(value, list):
        return tuple(value)
    raise ConfigError(f"{owner}.{spec.name} must be {expected.__name__}, got {value!r}")


def _type_from_name(name: str) -> type | None:
    base = name.split("[")[0].strip()
    return {"int": int, "float": float, "str": str, "bool": bool, "tuple": tuple}.get(base)


def config_help(config_class: type) -> list[tuple[str, Any, str]]:
    """(field, default, help) for every field of a config dataclass."""
    rows = []
    for f in dataclasses.fields(config_class):
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        rows.append((f.name, default, f.metadata.get("help", "")))
    return rows


class Recommender(ABC):
    """Base class of every model: stores a typed config; subclasses implement fit and score."""

    name: ClassVar[str] = "base"
    Config: ClassVar[type[Any]] = object
    era: ClassVar[int] = 0
    """0 order-agnostic, 1 pre-deep-learning sequential, 2 deep learning, 3 LLM wave."""
    sequential: ClassVar[bool] = False
    """Whether the order of the history changes the scores."""

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Config overrides sampled from an ``optuna.Trial`` for ``seqrec tune``.

        Models declare their space next to their config; ``{}`` means nothing to tune.
        """
        return {}

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        if config is None or isinstance(config, Mapping):
            merged = {**dict(config or {}), **overrides}
            self.config = build_config(self.Config, merged)
        else:
            if not isinstance(config, self.Config):
                raise ConfigError(f"{self.name} expects a {self.Config.__name__}, got {type(config).__name__}")
            self.config = dataclasses.replace(config, **overrides) if overrides else config
        self.n_items: int | None = None

    # -- the contract ---------------------------------------------------------------------
    @abstractmethod
    def fit(self: Self, train: SequenceData, valid: Any = None) -> Self:
        """Learn from ``train`` (and, for early stopping only, ``valid``); return ``self``."""

    @abstractmethod
    def score(self, histories: SequenceData) -> np.ndarray:
        """Scores [B, n_items + 1] (float32) for each history; column 0 must be ``-inf``."""

    def recommend(self, histories: SequenceData, k: int, exclude_history: bool = False) -> np.ndarray:
        """Top-``k`` item ids [B, k] by score, ties broken towards the smaller id."""
        scores = self.checked_scores(histories)
        if exclude_history:
            mask_history(scores, histories)
        return top_k(scores, k)

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """Why ``item`` scores as it does after ``history``. Models override this."""
        scores = self.checked_scores(SequenceData.from_lists([list(history)], self.require_fitted()))
        return Explanation(
            model=self.name,
            item=int(item),
            summary=f"{self.name} gives this item score {float(scores[0, item]):.4g}.",
        )

    # -- helpers for subclasses -------------------------------------------------------------
    def require_fitted(self) -> int:
        """The number of items seen in ``fit``; raises if ``fit`` has not run."""
        if self.n_items is None:
            raise NotFittedError(f"{self.name}: call fit() before scoring")
        return self.n_items

    def checked_scores(self, histories: SequenceData) -> np.ndarray:
        """``score`` plus a check of the shape and the padding column."""
        n_items = self.require_fitted()
        if histories.n_items != n_items:
            raise ValueError(
                f"{self.name}: histories use {histories.n_items} items, the model was fit on {n_items}"
            )
        scores = np.asarray(self.score(histories), dtype=np.float32)
        if scores.shape != (len(histories), n_items + 1):
            raise ValueError(f"{self.name}.score returned shape {scores.shape}, expected {(len(histories), n_items + 1)}")
        scores[:, 0] = NEG_INF
        return scores

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


# -- masking and ranking, written once ---------------------------------------------------------
def mask_history(scores: np.ndarray, histories: SequenceData) -> np.ndarray:
    """Set every history item's score to ``-inf`` in place and return ``scores``."""
    rows = np.repeat(np.arange(len(histories)), histories.lengths)
    scores[rows, histories.items] = NEG_INF
    return scores


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Item ids [B, k] of the ``k`` best scores per row; equal scores order by smaller id.

    Uses ``argpartition`` (linear time) and sorts only the ``k`` winners. Items at ``-inf``
    (padding, masked history) come last and are only returned when fewer than ``k`` remain.
    """
    n_rows, n_cols = scores.shape
    k = min(k, n_cols - 1)
    if k <= 0:
        return np.zeros((n_rows, 0), dtype=np.int64)
    # Break ties towards the smaller id: partition on the score, then sort (-score, id).
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # [B, k]
    threshold = np.take_along_axis(scores, candidates, axis=1).min(axis=1, keepdims=True)  # [B, 1]
    out = np.empty((n_rows, k), dtype=np.int64)
    for row in range(n_rows):
        # Items tied with the k-th score may have been cut arbitrarily: include all of them.
        pool = np.flatnonzero(scores[row] >= threshold[row, 0])
        pool = pool[pool != 0]
        order = np.lexsort((pool, -scores[row, pool]))
        chosen = pool[order[:k]]
        if len(chosen) < k:  # only -inf left (everything masked): fill with the smallest ids
            rest = np.setdiff1d(np.arange(1, n_cols), chosen)[: k - len(chosen)]
            chosen = np.concatenate([chosen, rest])
        out[row] = chosen
    return out
