"""The model contract (v2) and the shared code every model relies on.

A model is a subclass of :class:`Recommender` with

* ``name``: the registry key; ``Config``: a dataclass whose fields carry
  ``metadata={"help": ...}`` and working defaults (``Literal`` fields are checked when the config
  is built: a misspelt field or value is a :class:`ConfigError`);
* ``capabilities``: what it offers and needs (:class:`~seqrec.ranking.Capabilities`): dense
  scores or top-k lists only, reranking, item side information, the shop world;
* ``_fit(train, valid)``: learn state. The public :meth:`Recommender.fit` checks what the model
  declared it needs, stores ``self.items`` (:class:`~seqrec.data.types.ItemInfo`) and
  ``self.world``, calls ``_fit`` and returns ``self``;
* one way to rank: ``score(histories) -> [B, n_items + 1]`` for dense scorers (float32, column 0
  at ``-inf``), or ``_recommend(histories, k, exclusion) -> [B, <= k]`` for models that produce
  ranked lists only (generative retrieval); rerankers add ``rerank(histories, candidates)``;
* optionally ``explain(history, item) -> Explanation`` and ``search_space(trial)``;
* ``contract``: its tiny settings and known answer for the shared contract suite
  (:mod:`seqrec.testing`);
* ``state_attributes``: the instance attributes that hold what ``fit`` learned, so that
  :meth:`Recommender.state` / :meth:`Recommender.restore` can save and rebuild it as named arrays
  and small JSON values (no pickle; :mod:`seqrec.models.artifact_format` writes them to disk).

Models *score or rank*; the shared code (:mod:`seqrec.ranking`) *masks and ranks*: ``recommend``
is written once here for every dense model. The constructor only stores settings; ``fit``
learns state (scikit-learn's convention).
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import types
import typing
from abc import ABC
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

import numpy as np

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.ranking import NEG_INF, Capabilities, Exclusion, check_ranked, top_k

__all__ = [
    "NEG_INF",
    "Capabilities",
    "CapabilityError",
    "ConfigError",
    "ContractSettings",
    "Explanation",
    "ExplanationKind",
    "NotFittedError",
    "Recommender",
    "StateArrays",
    "StateValues",
    "build_config",
    "config_help",
    "help_field",
    "json_default",
    "load_module_arrays",
    "module_arrays",
    "pack_state",
    "prefixed",
    "ragged_arrays",
    "ragged_rows",
    "unpack_state",
    "unprefixed",
    "with_bias",
]


class NotFittedError(RuntimeError):
    """``score``/``recommend``/``explain``/``rerank`` called before ``fit``."""


class ConfigError(ValueError):
    """A config names a field the model does not have, or gives it a value of the wrong type."""


class CapabilityError(TypeError):
    """A method the model does not offer (dense scores of a top-k-only model), or a missing input
    the model declared it needs (the shop world for the oracle, item text for a text model)."""


class ExplanationKind(StrEnum):
    """What the evidence rows of an :class:`Explanation` are."""

    GENERIC = "generic"
    POPULARITY = "popularity"
    HISTORY_CONTRIBUTIONS = "history-contributions"
    SIMILAR_ITEMS = "similar-items"
    TRANSITIONS = "transitions"
    RULES = "rules"
    SCORE_PARTS = "score-parts"
    TRANSLATION = "translation"
    NEIGHBOUR_SESSIONS = "neighbour-sessions"
    EMBEDDING_SIMILARITY = "embedding-similarity"
    ATTENTION = "attention"
    GRADIENT_X_INPUT = "gradient_x_input"
    FILTERS = "filters"
    ATTRIBUTION = "attribution"
    SESSION_GRAPH = "session_graph"
    GENERATOR_STATE = "generator-state"
    RANKED_LIST = "ranked-list"
    """Top-k-only models: where the item stands in the model's list."""
    PIPELINE = "pipeline"
    """Two-stage pipelines: the retriever's position and the reranker's reason."""
    LLM_ANSWER = "llm-answer"
    """LLM rankers: the prompt the language model read and the answer it gave."""


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
    kind: ExplanationKind = ExplanationKind.GENERIC
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kind = ExplanationKind(self.kind)  # a string that is no kind is an error here

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["kind"] = str(self.kind)
        return out


KnownAnswer = Literal["successor", "own-cycle", "most-popular", "successor-after-exclusion", "hand-checked"]


@dataclass(frozen=True)
class ContractSettings:
    """How the contract suite (:mod:`seqrec.testing`) runs a model; declared beside the model.

    ``config``: settings that make it learn the tiny world quickly (defaults are sized for real
    data). ``world``: ``"cycle"`` (:func:`seqrec.testing.cycle_world`) or ``"shop"`` (the tiny shop
    world, for models that need it). ``known_answer``, on the cycle world: ``successor`` — the true
    successor of the last item ranks first for most histories; ``own-cycle`` — the top-3 lie in
    the history's own cycle (order-agnostic and co-occurrence models); ``most-popular`` — the
    globally most bought items; ``successor-after-exclusion`` — the successor first once history
    items are excluded; ``hand-checked`` — no generic answer, the model's own tests check
    hand-computed values (the oracles).
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    known_answer: KnownAnswer = "successor"
    world: Literal["cycle", "shop"] = "cycle"
    why: str = ""
    """One line on why the known answer is what it is, where that is not obvious."""


# -- typed configs ------------------------------------------------------------------------------
def help_field(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with a one-line help text (shown by ``seqrec models``)."""
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help}, **kwargs)
    return field(default=default, metadata={"help": help}, **kwargs)


def build_config(config_class: type, values: Mapping[str, Any] | None) -> Any:
    """Instantiate ``config_class`` from a mapping; unknown keys, wrong types and values outside a
    ``Literal``'s choices are errors that name the field."""
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(config_class)}
    hints = _field_types(config_class)
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{config_class.__name__} has no field {key!r}{hint}; fields: {', '.join(known)}"
            )
        values[key] = _coerce(f"{config_class.__name__}.{key}", hints.get(key), value)
    return config_class(**values)


def validate_config(config: Any) -> Any:
    """Check every field of a config instance against its declared type; returns it."""
    hints = _field_types(type(config))
    for spec in dataclasses.fields(config):
        value = getattr(config, spec.name)
        coerced = _coerce(f"{type(config).__name__}.{spec.name}", hints.get(spec.name), value)
        if coerced is not value:
            object.__setattr__(config, spec.name, coerced)
    return config


def _field_types(config_class: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(config_class)
    except (NameError, TypeError):  # an annotation that cannot be resolved: check nothing there
        return {}


def _coerce(where: str, expected: Any, value: Any) -> Any:
    """``value`` checked against the type ``expected`` (plain types, ``Literal``, ``X | None``,
    ``tuple[...]``, ``list``/``dict``); numbers are widened where exact (``1`` -> ``1.0``)."""
    if expected is None or expected is Any:
        return value
    origin = typing.get_origin(expected)
    if origin is Literal:
        choices = typing.get_args(expected)
        if value not in choices or type(value) is not type(next(c for c in choices if c == value)):
            close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where} must be one of {', '.join(map(repr, choices))}, got {value!r}{hint}")
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(expected)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(where, option, value)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {expected}")
    plain = origin or expected
    if not isinstance(plain, type):
        return value
    if isinstance(value, plain) and not (plain in (int, float) and isinstance(value, bool)):
        return value
    if plain is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if plain is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if plain is tuple and isinstance(value, list):
        return tuple(value)
    if plain is bool and isinstance(value, bool):
        return value
    if plain in (int, float) and isinstance(value, bool):
        return value  # True/False as 1/0: accepted as before (a TOML writer's choice)
    raise ConfigError(f"{where} must be {plain.__name__}, got {value!r}")


def config_help(config_class: type) -> list[tuple[str, Any, str]]:
    """(field, default, help) for every field of a config dataclass."""
    rows = []
    for f in dataclasses.fields(config_class):
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        rows.append((f.name, default, f.metadata.get("help", "")))
    return rows


# -- fitted state as named arrays and JSON values (artifacts) --------------------------------------
StateArrays = dict[str, np.ndarray]
"""Named arrays of a fitted state (safetensors-compatible: numeric or bool dtypes, any shape)."""
StateValues = dict[str, Any]
"""Small values of a fitted state, as JSON (numbers, strings, booleans, None, lists, string-keyed
dicts; non-finite floats are kept as Python's JSON writes them)."""

BASE_ATTRIBUTES = frozenset({"config", "n_items", "items", "world"})
"""What every Recommender holds besides its fitted state (the constructor's and ``fit``'s own)."""
SPARSE_PARTS = ("data", "indices", "indptr", "shape")
"""A scipy sparse matrix is stored as the arrays ``NAME.data``, ``.indices``, ``.indptr``, ``.shape`` (CSR)."""


def pack_state(attributes: Mapping[str, Any], owner: str) -> tuple[StateArrays, StateValues]:
    """Split ``{name: value}`` into arrays (numpy arrays as they are, scipy sparse matrices as their
    CSR parts) and JSON values; anything else is a :class:`CapabilityError` naming ``owner.name``."""
    arrays: StateArrays = {}
    values: StateValues = {}
    for name, value in attributes.items():
        where = f"{owner}.{name}"
        if isinstance(value, np.ndarray):
            arrays[name] = _plain_array(value, where)
        elif _is_sparse(value):
            csr = value.tocsr()
            parts = (csr.data, csr.indices, csr.indptr, np.asarray(csr.shape, dtype=np.int64))
            arrays.update({f"{name}.{part}": _plain_array(array, where) for part, array in zip(SPARSE_PARTS, parts)})
        else:
            values[name] = _json_value(value, where)
    return arrays, values


def unpack_state(arrays: Mapping[str, np.ndarray], values: Mapping[str, Any], names: Sequence[str], owner: str) -> dict[str, Any]:
    """The inverse of :func:`pack_state` for ``names``; a ``ValueError`` names one the state lacks."""
    out: dict[str, Any] = {}
    for name in names:
        if name in arrays:
            out[name] = np.asarray(arrays[name])
        elif f"{name}.indptr" in arrays:
            import scipy.sparse as sp

            data, indices, indptr, shape = (np.asarray(arrays[f"{name}.{part}"]) for part in SPARSE_PARTS)
            out[name] = sp.csr_matrix((data, indices, indptr), shape=tuple(int(n) for n in shape))
        elif name in values:
            out[name] = values[name]
        else:
            raise ValueError(f"{owner}: the saved state has no {name!r}")
    return out


def prefixed(prefix: str, arrays: Mapping[str, np.ndarray]) -> StateArrays:
    """``arrays`` with every name put under ``prefix.`` (a part of a larger state)."""
    return {f"{prefix}.{name}": array for name, array in arrays.items()}


def unprefixed(prefix: str, arrays: Mapping[str, np.ndarray]) -> StateArrays:
    """The arrays under ``prefix.``, with the prefix removed (the inverse of :func:`prefixed`)."""
    start = len(prefix) + 1
    return {name[start:]: array for name, array in arrays.items() if name.startswith(prefix + ".")}


def ragged_arrays(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of integers of any length as one flat int64 array and offsets [len(rows) + 1] (CSR-like)."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(np.array([len(row) for row in rows], dtype=np.int64), out=offsets[1:])
    flat = np.fromiter((int(i) for row in rows for i in row), dtype=np.int64, count=int(offsets[-1]))
    return flat, offsets


def ragged_rows(flat: np.ndarray, offsets: np.ndarray) -> list[tuple[int, ...]]:
    """The rows :func:`ragged_arrays` flattened, as tuples."""
    values = flat.tolist()
    bounds = offsets.tolist()
    return [tuple(values[start:end]) for start, end in itertools.pairwise(bounds)]


def module_arrays(module: Any, prefix: str) -> StateArrays:
    """A torch module's ``state_dict()`` as numpy arrays under ``prefix.`` (copies, on the CPU)."""
    return {f"{prefix}.{name}": tensor.detach().cpu().contiguous().clone().numpy() for name, tensor in module.state_dict().items()}


def load_module_arrays(module: Any, arrays: Mapping[str, np.ndarray], prefix: str) -> None:
    """Load the arrays under ``prefix.`` into a torch module (strict: every tensor, right shapes)."""
    import torch

    device = next(iter(module.state_dict().values()), torch.zeros(0)).device
    tensors = {name: torch.from_numpy(np.array(array)).to(device) for name, array in unprefixed(prefix, arrays).items()}
    module.load_state_dict(tensors, strict=True)


def with_bias(vectors: np.ndarray, column: np.ndarray | float) -> np.ndarray:
    """``vectors`` [N, D] with one more column (float32): a per-item bias ``[N]`` on the item side,
    ``1.0`` on the query side, so that ``[q, 1] · [v, b] = q · v + b``."""
    vectors = np.asarray(vectors, dtype=np.float32)
    extra = np.broadcast_to(np.asarray(column, dtype=np.float32), (len(vectors),))
    return np.concatenate([vectors, extra[:, None]], axis=1)


def _is_sparse(value: Any) -> bool:
    if not hasattr(value, "tocsr"):
        return False
    import scipy.sparse as sp

    return bool(sp.issparse(value))


def _plain_array(array: np.ndarray, where: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise CapabilityError(f"{where}: arrays of dtype {array.dtype} cannot be saved (numbers and booleans only)")
    return np.ascontiguousarray(array)


def _json_value(value: Any, where: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _json_value(item, f"{where}.{key}") for key, item in value.items()}
    raise CapabilityError(
        f"{where}: a {type(value).__name__} is neither an array nor a JSON value; list the model's "
        "state in state_attributes, or encode it in the model's own state()/restore()"
    )


def json_default(value: Any) -> Any:
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays, paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# -- the contract -------------------------------------------------------------------------------
ConfigT = TypeVar("ConfigT")


class Recommender(ABC, Generic[ConfigT]):
    """Base class of every model: stores a typed config; subclasses implement ``_fit`` and one
    way to rank (``score`` for dense scorers, ``_recommend`` for top-k-only models)."""

    name: ClassVar[str] = "base"
    Config: ClassVar[type[Any]] = object
    era: ClassVar[int] = 0
    """0 order-agnostic, 1 pre-deep-learning sequential, 2 deep learning, 3 LLM wave."""
    sequential: ClassVar[bool] = False
    """Whether the order of the history changes the scores."""
    capabilities: ClassVar[Capabilities] = Capabilities()
    contract: ClassVar[ContractSettings] = ContractSettings()
    state_attributes: ClassVar[tuple[str, ...] | None] = None
    """The instance attributes holding what ``fit`` learned, saved by :meth:`state`: numpy arrays,
    scipy sparse matrices (as their CSR parts) and JSON values. ``None``: every attribute ``fit``
    added. Models whose state is dicts, lists or a network extend :meth:`state`/:meth:`restore`."""
    unsaveable_reason: ClassVar[str] = ""
    """Why this model cannot be saved (``""``: it can): :meth:`state` raises a CapabilityError with it."""
    config: ConfigT

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
            replaced = dataclasses.replace(config, **overrides) if overrides else config
            self.config = validate_config(replaced)
        self.n_items: int | None = None
        self.items: ItemInfo | None = None
        self.world: Any = None

    # -- fitting --------------------------------------------------------------------------------
    def fit(
        self,
        train: SequenceData,
        valid: Any = None,
        *,
        items: ItemInfo | None = None,
        world: Any = None,
        **options: Any,
    ) -> Self:
        """Learn from ``train`` (and, for early stopping only, ``valid``, an ``EvalSet``); returns ``self``.

        ``items``: the catalog's side information (ids, titles, categories, text, attributes),
        required by models whose ``capabilities.needs_items`` is set; ``world``: the generator of a
        synthetic world (the oracles). ``options`` go to the model's own ``_fit`` (progress callbacks).
        """
        caps = self.capabilities
        if items is not None and items.n_items != train.n_items:
            raise ValueError(f"{self.name}.fit: item info describes {items.n_items} items, training data {train.n_items}")
        if (caps.needs_items or caps.needs_item_text) and items is None:
            raise CapabilityError(f"{self.name} needs the catalog's item information: fit(train, items=dataset.item_info())")
        if caps.needs_item_text and items is not None and not items.has_text:
            raise CapabilityError(f"{self.name} needs item text, and this catalog has none")
        if caps.needs_world and world is None:
            raise CapabilityError(
                f"{self.name} needs the generator of a synthetic world (the shop world's dataset.extras['world'])"
            )
        self.items, self.world = items, world
        self.n_items = train.n_items  # set before _fit so it may score; undone if _fit fails
        try:
            self._fit(train, valid, **options)
        except BaseException:
            self.n_items = None
            raise
        self.n_items = train.n_items
        return self

    def _fit(self, train: SequenceData, valid: Any) -> None:
        """Learn state from ``train``; ``self.items``/``self.world`` are set. Models override this
        (and may add keyword options, e.g. progress callbacks, which ``fit`` passes through)."""
        raise CapabilityError(f"{self.name} does not implement _fit")

    # -- ranking --------------------------------------------------------------------------------
    def score(self, histories: SequenceData) -> np.ndarray:
        """Scores [B, n_items + 1] (float32) of every item for each history; column 0 (padding) is
        ``-inf``. Dense scorers implement :meth:`_score`; this checks its shape and sets the padding
        column, once for every model."""
        return self.checked_scores(histories)

    def _score(self, histories: SequenceData) -> np.ndarray:
        """The model's scores [B, n_items + 1] (column 0 is overwritten by :meth:`score`).

        Dense scorers override this; a model with ``capabilities.dense_scores = False`` ranks
        without scoring every item and offers :meth:`recommend` only.
        """
        raise CapabilityError(f"{self.name} gives ranked lists only, not a score for every item: use recommend()")

    def recommend(self, histories: SequenceData, k: int, exclude: Exclusion | bool | None = None) -> np.ndarray:
        """Top-``k`` item ids [B, k] (fewer only if the catalog is smaller), best first.

        ``exclude``: an :class:`~seqrec.ranking.Exclusion`, ``True`` for the history's own items,
        or ``None``. Excluded items are removed *before* the cut. Dense scorers break equal scores
        towards the smaller id.
        """
        return self.recommend_with_scores(histories, k, exclude)[0]

    def recommend_with_scores(
        self, histories: SequenceData, k: int, exclude: Exclusion | bool | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`recommend` and, for dense scorers, the scores [B, k] of the recommended items
        (``None`` for models that give ranked lists only)."""
        exclusion = Exclusion.of(exclude)
        if k < 0:
            raise ValueError(f"{self.name}.recommend: k must be >= 0, got {k}")
        n_items = self.check_histories(histories)
        if not self.capabilities.dense_scores:
            ranked = self._recommend(histories, k, exclusion)
            return check_ranked(ranked, len(histories), k, n_items, self.name), None
        scores = self.checked_scores(histories)
        exclusion.apply(scores, histories)
        top = top_k(scores, k)
        return top, np.take_along_axis(scores, top, axis=1)

    def _recommend(self, histories: SequenceData, k: int, exclusion: Exclusion) -> np.ndarray:
        """Top-k-only models: ranked item ids [B, <= k] without excluded items. Override this.

        A reranker without its own retrieval ranks the whole catalog with ``rerank`` (correct but
        slow for an expensive reranker: put it behind a retriever in a
        :class:`~seqrec.models.pipeline.TwoStage` instead).
        """
        if not self.capabilities.reranker:
            raise CapabilityError(f"{self.name} declares dense_scores=False but does not implement _recommend")
        n_items = self.require_fitted()
        candidates = np.broadcast_to(np.arange(1, n_items + 1), (len(histories), n_items))  # [B, n_items]
        scores = np.full((len(histories), n_items + 1), NEG_INF, dtype=np.float32)  # [B, n_items + 1]
        scores[:, 1:] = self.checked_rerank(histories, candidates)
        exclusion.apply(scores, histories)
        return top_k(scores, k)

    def rerank(self, histories: SequenceData, candidates: np.ndarray) -> np.ndarray:
        """Scores [B, C] of each row's candidate items (higher = better).

        Rerankers (``capabilities.reranker``) override this; a dense scorer reranks by its own
        scores, so any dense model can serve as the second stage of a pipeline.
        """
        if not self.capabilities.dense_scores:
            raise CapabilityError(f"{self.name} is neither a reranker nor a dense scorer: it cannot rerank")
        scores = self.checked_scores(histories)
        return np.take_along_axis(scores, np.asarray(candidates, dtype=np.int64), axis=1)

    def checked_rerank(self, histories: SequenceData, candidates: np.ndarray) -> np.ndarray:
        """``rerank`` plus a check of the candidates and of the returned shape."""
        n_items = self.check_histories(histories)
        candidates = np.asarray(candidates)
        if candidates.ndim != 2 or len(candidates) != len(histories):
            raise ValueError(f"{self.name}.rerank: candidates must be [B, C] with B = {len(histories)}, got {candidates.shape}")
        if candidates.size and (candidates.min() < 1 or candidates.max() > n_items):
            raise ValueError(f"{self.name}.rerank: candidate ids must lie in 1..{n_items}")
        scores = np.asarray(self.rerank(histories, candidates.astype(np.int64)), dtype=np.float32)
        if scores.shape != candidates.shape:
            raise ValueError(f"{self.name}.rerank returned shape {scores.shape}, expected {candidates.shape}")
        return scores

    # -- embedding scores (retrieval by an inner-product index) -----------------------------------
    def query_vectors(self, histories: SequenceData) -> np.ndarray:
        """Query vectors ``[B, D]`` (float32) of the histories, such that
        ``score(histories)[:, 1:] == (query_vectors(histories) @ item_vectors().T)[:, 1:]`` up to
        float tolerance (a per-item bias folded in: ``q' = [q, 1]``, ``v' = [v, b]``, see
        :func:`with_bias`). Models declaring ``capabilities.embedding_scores`` implement this and
        :meth:`item_vectors`; an inner-product index then retrieves their top-k."""
        raise CapabilityError(f"{self.name} does not score by a dot product with item vectors (capabilities.embedding_scores)")

    def item_vectors(self) -> np.ndarray:
        """Item vectors ``[n_items + 1, D]`` (float32; row 0 is padding and is never retrieved)."""
        raise CapabilityError(f"{self.name} does not score by a dot product with item vectors (capabilities.embedding_scores)")

    def checked_query_vectors(self, histories: SequenceData) -> np.ndarray:
        """:meth:`query_vectors` as float32, after checking the histories and the returned shape."""
        self.check_histories(histories)
        queries = np.ascontiguousarray(self.query_vectors(histories), dtype=np.float32)
        if queries.ndim != 2 or len(queries) != len(histories):
            raise ValueError(f"{self.name}.query_vectors returned shape {queries.shape}, expected ({len(histories)}, D)")
        return queries

    def checked_item_vectors(self) -> np.ndarray:
        """:meth:`item_vectors` as float32, after checking the shape ``[n_items + 1, D]``."""
        n_items = self.require_fitted()
        vectors = np.ascontiguousarray(self.item_vectors(), dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != n_items + 1:
            raise ValueError(f"{self.name}.item_vectors returned shape {vectors.shape}, expected ({n_items + 1}, D)")
        return vectors

    @classmethod
    def unavailable_reason(cls, config: Mapping[str, Any] | None = None) -> str | None:
        """Why this model cannot run here with ``config`` (overrides of its defaults), e.g. an
        optional package it needs is not installed, with the fix; ``None``: it can. Default model
        lists leave such a model out (and say why); asked for by name, it fails with the reason."""
        return None

    def evaluation_users(self) -> int | None:
        """How many test users a benchmark should evaluate this model on, when every user would
        take too long (a language model reading each history); ``None``: all of them."""
        return None

    def evaluation_baseline(self) -> Recommender[Any] | None:
        """The model this one refines (a reranker's retriever), evaluated on the same sampled
        users as its baseline; ``None``: nothing to compare with."""
        return None

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """Why ``item`` scores as it does after ``history``. Models override this."""
        n_items = self.require_fitted()
        histories = SequenceData.from_lists([list(history)], n_items)
        if not self.capabilities.dense_scores:
            ranked = self.recommend(histories, n_items)[0].tolist()
            where = f"ranks it #{ranked.index(item) + 1}" if item in ranked else "does not rank it"
            return Explanation(self.name, int(item), f"{self.name} {where}.", ExplanationKind.RANKED_LIST)
        scores = self.checked_scores(histories)
        return Explanation(
            model=self.name,
            item=int(item),
            summary=f"{self.name} gives this item score {float(scores[0, item]):.4g}.",
        )

    # -- fitted state (artifacts) ------------------------------------------------------------------
    def state(self) -> tuple[StateArrays, StateValues]:
        """What ``fit`` learned, as named arrays and JSON values: the attributes of
        ``state_attributes`` (:func:`pack_state`) and ``n_items``. :meth:`restore` rebuilds the
        fitted model from them. Models with other state extend both (``super().state()`` first)."""
        n_items = self.require_fitted()
        self._check_saveable()
        arrays, values = pack_state({name: getattr(self, name) for name in self._saved_names()}, self.name)
        values["n_items"] = n_items
        return arrays, values

    def restore(self, arrays: Mapping[str, np.ndarray], values: Mapping[str, Any], *, items: ItemInfo | None = None) -> Self:
        """Set the fitted state :meth:`state` gave (on a model built with the same config); the
        model then scores exactly as the one saved. ``items``: the catalog, as ``fit`` would store it."""
        self._check_saveable()
        names = self._saved_names(arrays, values)
        for name, value in unpack_state(arrays, values, names, self.name).items():
            setattr(self, name, value)
        self.items = items
        self.n_items = int(values["n_items"])
        return self

    def _check_saveable(self) -> None:
        if self.unsaveable_reason:
            raise CapabilityError(f"{self.name} cannot be saved: {self.unsaveable_reason}")

    def _saved_names(self, arrays: Mapping[str, Any] | None = None, values: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """``state_attributes``, or (``None``) what ``fit`` added: the instance's own attributes when
        saving, the names in the saved state when restoring."""
        if self.state_attributes is not None:
            return self.state_attributes
        if arrays is None or values is None:
            return tuple(name for name in vars(self) if name not in BASE_ATTRIBUTES)
        names = {name.split(".")[0] for name in arrays} | set(values)
        return tuple(sorted(names - BASE_ATTRIBUTES))

    # -- helpers for subclasses -------------------------------------------------------------
    def require_fitted(self) -> int:
        """The number of items seen in ``fit``; raises if ``fit`` has not run."""
        if self.n_items is None:
            raise NotFittedError(f"{self.name}: call fit() before scoring")
        return self.n_items

    def check_histories(self, histories: SequenceData) -> int:
        """``n_items`` after checking the model is fitted and ``histories`` use its catalog."""
        n_items = self.require_fitted()
        if histories.n_items != n_items:
            raise ValueError(
                f"{self.name}: histories use {histories.n_items} items, the model was fit on {n_items}"
            )
        return n_items

    def checked_scores(self, histories: SequenceData) -> np.ndarray:
        """The model's ``_score`` with its shape checked and the padding column set to ``-inf``:
        the one place that sets it."""
        n_items = self.check_histories(histories)
        scores = np.asarray(self._score(histories), dtype=np.float32)
        if scores.shape != (len(histories), n_items + 1):
            raise ValueError(f"{self.name}.score returned shape {scores.shape}, expected {(len(histories), n_items + 1)}")
        scores[:, 0] = NEG_INF
        return scores

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"
