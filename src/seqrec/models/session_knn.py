"""Session-based kNN: SKNN and V-SKNN.

Jannach & Ludewig (2017), "When recurrent neural networks meet the neighborhood for
session-based recommendation" (RecSys), and Ludewig & Jannach (2018), "Evaluation of
session-based recommendation algorithms" (UMUAI 28). The weighting functions follow the
authors' public code (rn5l/session-rec, ``algorithms/knn/sknn.py`` and ``vsknn.py``), read, not
copied.

**Sessions from user histories.** The papers work on anonymous sessions; our training data are
long user histories. We therefore cut every training sequence into "past sessions":

* ``session_split = "length"`` (default): consecutive chunks of ``session_len`` items, aligned
  to the *end* of each sequence so that the most recent chunk is full (a user with 23 items and
  ``session_len = 10`` gives chunks of 3, 10 and 10 items). The *current* session of a history
  to score is its last ``session_len`` items, i.e. the same unit as the indexed chunks.
* ``session_split = "gap"``: a new session starts after a pause longer than
  ``session_gap_hours``; the current session is everything after the history's last such pause,
  capped at the last ``session_len`` items.

A past session is time-stamped with its last interaction (session-rec does the same).

**Neighbours** (both variants). The candidates are the past sessions that share at least one
item with the current session; when there are more than ``sample_size`` of them, only the most
recent ``sample_size`` are kept (session-rec's ``sampling = "recent"``). The ``k`` most similar
candidates with a positive similarity are the neighbours, and

    score(i) = sum_{n in neighbours} sim(s, n) * w(n) * 1[i in n]

with ``w(n) = 1`` for SKNN.

* **SKNN** uses the binary cosine ``|s & n| / sqrt(|s| |n|)`` over item sets.
* **V-SKNN** encodes the current session as a real vector: the item at position ``p``
  (1 = oldest, ``m`` = newest, ``m`` = session length) gets ``decay(p, m)``, the newest item
  gets 1 (Jannach & Ludewig 2017, section 2). The similarity is the dot product with the
  neighbour's binary vector divided by the number of distinct items of the current session
  (session-rec's ``vec``); a repeated item keeps the weight of its latest position. Ludewig &
  Jannach (2018) add ``weighting_score``: a neighbour whose most recent shared item lies ``t``
  steps back (1 = the newest item) contributes with ``w(n) = score_decay(t)``.

Decay functions (session-rec names): position ``linear`` ``1 - 0.1 (m - p)``, ``same`` 1,
``div`` ``p / m``, ``log`` ``1 / log10(m - p + 1.7)``, ``quadratic`` ``(p / m)^2``; score
``linear`` ``1 - 0.1 t``, ``same`` 1, ``div`` ``1 / t``, ``log`` ``1 / log10(t + 1.7)``,
``quadratic`` ``1 / t^2``.

**Deviations from session-rec**, each a fix of what reads as a slip in that code:

* SKNN's cosine there is ``li / sqrt(la) * sqrt(lb)`` (operator precedence multiplies by
  ``sqrt(lb)``); we use the cosine the paper defines, ``li / (sqrt(la) * sqrt(lb))``.
* The ``linear`` position decay there is ``1 - 0.1 (m - p) if p <= 10 else 0``, which zeroes
  the *newest* items of sessions longer than 10; we clip at zero instead,
  ``max(0, 1 - 0.1 (m - p))``, which is the linear decay the paper describes. Likewise the
  ``linear`` score decay is clipped at zero (there it turns negative beyond 10 steps).
* Ties between equally similar or equally recent sessions are broken deterministically (more
  recent, then the later-indexed session) instead of by Python set order.
* ``skip_own_user`` (default on) leaves out the past sessions of the user being scored: with
  user histories, that user's latest chunk is nearly the current session itself, which in the
  session-based setting is never in the training data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from seqrec.data.types import SequenceData
from seqrec.models.base import (
    ConfigError,
    ContractSettings,
    Explanation,
    ExplanationKind,
    Recommender,
    help_field,
)

SessionSplit = Literal["length", "gap"]
Decay = Literal["linear", "same", "div", "log", "quadratic"]
"""session-rec's names of the decay functions."""


# -- decay functions (session-rec's names) ---------------------------------------------------
def _linear_position(position: int, length: int) -> float:
    return max(0.0, 1.0 - 0.1 * (length - position))


def _same_position(position: int, length: int) -> float:
    return 1.0


def _div_position(position: int, length: int) -> float:
    return position / length


def _log_position(position: int, length: int) -> float:
    return 1.0 / math.log10(length - position + 1.7)


def _quadratic_position(position: int, length: int) -> float:
    return (position / length) ** 2


POSITION_DECAYS: dict[Decay, Callable[[int, int], float]] = {
    "linear": _linear_position,
    "same": _same_position,
    "div": _div_position,
    "log": _log_position,
    "quadratic": _quadratic_position,
}
"""Weight of the item at 1-based ``position`` (oldest = 1) in a current session of ``length``."""

SCORE_DECAYS: dict[Decay, Callable[[int], float]] = {
    "linear": lambda steps: max(0.0, 1.0 - 0.1 * steps),
    "same": lambda steps: 1.0,
    "div": lambda steps: 1.0 / steps,
    "log": lambda steps: 1.0 / math.log10(steps + 1.7),
    "quadratic": lambda steps: 1.0 / steps**2,
}
"""Weight of a neighbour whose most recent shared item lies ``steps`` back (1 = newest item)."""


def position_weights(current: Sequence[int], decay: Decay) -> dict[int, float]:
    """V-SKNN's vector for the current session: item -> weight of its latest position."""
    function = POSITION_DECAYS[decay]
    length = len(current)
    return {int(item): function(position, length) for position, item in enumerate(current, start=1)}


# -- configs ---------------------------------------------------------------------------------
@dataclass
class SKNNConfig:
    k: int = help_field(100, "Number of neighbour sessions whose items are voted for.")
    sample_size: int = help_field(
        1000, "Only the most recent candidate sessions are compared (0 = all)."
    )
    session_len: int = help_field(10, "Items per past session and in the current session.")
    session_split: Literal["length", "gap"] = help_field(
        "length", "How histories become sessions: 'length' or 'gap'."
    )
    session_gap_hours: float = help_field(
        1.0, "With session_split='gap': pause that starts a new session."
    )
    skip_own_user: bool = help_field(
        True, "Do not use the scored user's own past sessions as neighbours."
    )

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.k < 1:
            raise ConfigError(f"{owner}.k must be >= 1, got {self.k}")
        if self.sample_size < 0:
            raise ConfigError(f"{owner}.sample_size must be >= 0, got {self.sample_size}")
        if self.session_len < 1:
            raise ConfigError(f"{owner}.session_len must be >= 1, got {self.session_len}")
        if self.session_gap_hours <= 0:
            raise ConfigError(
                f"{owner}.session_gap_hours must be > 0, got {self.session_gap_hours}"
            )


@dataclass
class VSKNNConfig(SKNNConfig):
    weighting: Literal["linear", "same", "div", "log", "quadratic"] = help_field(
        "linear", "Position decay of the current session: linear|same|div|log|quadratic."
    )
    weighting_score: Literal["linear", "same", "div", "log", "quadratic"] = help_field(
        "same", "Decay of a neighbour by its latest shared item: linear|same|div|log|quadratic."
    )


# -- sessions --------------------------------------------------------------------------------
def session_ids(
    data: SequenceData, session_len: int, split: SessionSplit, gap_seconds: float
) -> np.ndarray:
    """Session id [N] of every interaction; ids increase along each sequence and across rows."""
    if len(data.items) == 0:
        return np.zeros(0, dtype=np.int64)
    row_of = np.repeat(np.arange(len(data)), data.lengths)  # [N]
    starts = np.zeros(len(data.items), dtype=bool)
    starts[data.offsets[:-1][data.lengths > 0]] = True
    if split == "gap":
        pause = np.diff(data.timestamps) > gap_seconds  # [N - 1]
        starts[1:] |= pause & (row_of[1:] == row_of[:-1])
    else:
        # Chunk boundaries counted back from each sequence's end: the newest chunk is full.
        from_end = data.offsets[1:][row_of] - 1 - np.arange(len(data.items))  # [N]
        starts |= (from_end % session_len) == session_len - 1
    return np.cumsum(starts) - 1


def current_session(history: np.ndarray, timestamps: np.ndarray, config: SKNNConfig) -> np.ndarray:
    """The part of a history that plays the role of the running session."""
    if config.session_split == "gap" and len(history) > 1:
        pauses = np.flatnonzero(np.diff(timestamps) > config.session_gap_hours * 3600.0)
        if len(pauses):
            history = history[pauses[-1] + 1 :]
    return history[-config.session_len :]


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` by sorting (numpy's hash-based unique is far slower here)."""
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


@dataclass
class RecentLists:
    """Per item, the recency ranks of its past sessions, newest first, in CSR layout."""

    item_sessions: sp.csr_matrix  # the [I, S] matrix it was built from
    recency: np.ndarray  # [S] the recency ranks it was built from
    session_users: np.ndarray  # [S] the session owners it was built from
    indptr: np.ndarray  # [I + 1] item i's sessions have the ranks[indptr[i] : indptr[i + 1]]
    ranks: np.ndarray  # [nnz] recency ranks, descending (newest first) within each item
    by_rank: np.ndarray  # [S] the session of each recency rank (inverse of ``recency``)
    users: np.ndarray  # [V] distinct session owners, sorted
    user_sessions: np.ndarray  # [V] number of sessions of each

    @classmethod
    def build(
        cls, item_sessions: sp.csr_matrix, recency: np.ndarray, session_users: np.ndarray
    ) -> RecentLists:
        indptr = np.asarray(item_sessions.indptr)
        row_of = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))  # [nnz] item of entry
        ranks = recency[item_sessions.indices]  # [nnz]
        # By item, then newest first; recency is a permutation (no ties): the order is unique.
        n_sessions = len(recency)
        order = np.argsort(row_of * n_sessions + (n_sessions - 1 - ranks))
        by_rank = np.empty(len(recency), dtype=item_sessions.indices.dtype)
        by_rank[recency] = np.arange(len(recency))
        users, counts = np.unique(session_users, return_counts=True)
        return cls(
            item_sessions, recency, session_users, indptr, ranks[order], by_rank, users, counts
        )

    def sessions_of_user(self, user: int) -> int:
        """How many past sessions belong to ``user``."""
        at = int(np.searchsorted(self.users, user))
        return int(self.user_sessions[at]) if at < len(self.users) and self.users[at] == user else 0


@dataclass
class Neighbours:
    """The neighbour sessions of one current session."""

    sessions: np.ndarray  # [k] session ids, most similar first
    similarity: np.ndarray  # [k]
    weight: np.ndarray  # [k] the score decay w(n) (1 for SKNN)


class SKNN(Recommender[SKNNConfig]):
    """Session-based kNN with binary cosine similarity (Jannach & Ludewig 2017)."""

    name = "sknn"
    contract = ContractSettings(
        {},
        known_answer="own-cycle",
        why="neighbour sessions hold the successor and the history items alike: co-occurrence, not order",
    )
    Config = SKNNConfig
    _recent_lists: RecentLists | None = None  # derived from the state on first use
    era = 1
    sequential = True
    state_attributes = (
        "session_items",
        "item_sessions",
        "session_sizes",
        "session_users",
        "session_positions",
        "session_sequences",
        "recency",
    )

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "k": trial.suggest_categorical("k", [50, 100, 200, 500]),
            "sample_size": trial.suggest_categorical("sample_size", [500, 1000, 2500, 0]),
            "session_len": trial.suggest_categorical("session_len", [5, 10, 20, 50]),
        }

    # -- fitting ------------------------------------------------------------------------------
    def _fit(self, train: SequenceData, valid: Any) -> None:
        config = self.config
        session_of = session_ids(
            train, config.session_len, config.session_split, config.session_gap_hours * 3600.0
        )
        n_sessions = int(session_of[-1]) + 1 if len(session_of) else 0
        row_of = np.repeat(np.arange(len(train)), train.lengths)  # [N]
        first = np.searchsorted(session_of, np.arange(n_sessions))  # [S] first interaction
        last = np.searchsorted(session_of, np.arange(n_sessions), side="right") - 1  # [S]
        matrix = sp.csr_matrix(
            (np.ones(len(train.items)), (session_of, train.items)),
            shape=(n_sessions, train.n_items + 1),
        )
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        self.session_items = matrix  # [S, I] binary
        self.item_sessions = matrix.T.tocsr()  # [I, S]
        self.session_sizes = np.diff(matrix.indptr).astype(np.float64)  # [S] distinct items
        self.session_users = (
            train.users[row_of[first]] if n_sessions else np.zeros(0, np.int64)
        )  # [S]
        self.session_positions = np.stack([first, last + 1], axis=1)  # [S, 2] slice of train.items
        self.session_sequences = train.items.copy()
        # Recency rank: larger = later last interaction; ties go to the later session id.
        order = np.lexsort((np.arange(n_sessions), train.timestamps[last]))
        self.recency = np.empty(n_sessions, dtype=np.int64)
        self.recency[order] = np.arange(n_sessions)
        self._recent_lists = RecentLists.build(self.item_sessions, self.recency, self.session_users)

    # -- neighbours ---------------------------------------------------------------------------
    def item_weights(self, current: np.ndarray) -> dict[int, float]:
        """The current session as a weighted item set (binary for SKNN)."""
        return {int(item): 1.0 for item in current}

    def similarities(self, candidates: np.ndarray, weights: dict[int, float]) -> np.ndarray:
        """Binary cosine |s & n| / sqrt(|s| |n|) of the current session to each candidate."""
        overlap = self._weighted_overlap(candidates, weights)  # [C]
        return overlap / np.sqrt(len(weights) * self.session_sizes[candidates])

    def neighbour_weights(self, neighbours: np.ndarray, current: np.ndarray) -> np.ndarray:
        """w(n) of each neighbour; SKNN weighs all neighbours the same."""
        return np.ones(len(neighbours))

    def _weighted_overlap(self, candidates: np.ndarray, weights: dict[int, float]) -> np.ndarray:
        vector = np.zeros(self.session_items.shape[1])  # [I]
        vector[list(weights)] = list(weights.values())
        return np.asarray(self.session_items[candidates] @ vector).ravel()  # [C]

    def recent_lists(self) -> RecentLists:
        """Per item its sessions newest first, and the users' session counts (built once)."""
        cached = self._recent_lists
        if (
            cached is None
            or cached.item_sessions is not self.item_sessions
            or cached.recency is not self.recency
            or cached.session_users is not self.session_users
        ):
            cached = RecentLists.build(self.item_sessions, self.recency, self.session_users)
            self._recent_lists = cached
        return cached

    def candidates(self, current: np.ndarray, user: int) -> np.ndarray:
        """Past sessions sharing an item with ``current``: the ``sample_size`` most recent.

        Only the head of each item's newest-first session list is read: ``sample_size`` entries
        plus the number of the user's own sessions (which may be skipped). A session among the
        ``sample_size`` most recent of the whole union lies in the head of every list holding it
        (else that head has ``sample_size`` newer, not skipped sessions), so the choice is the one
        over all sessions that share an item, at a cost independent of the number of sessions.
        """
        known = np.unique(current)
        lists = self.recent_lists()
        skip = self.config.skip_own_user and user >= 0
        starts = lists.indptr[known]  # [m]
        ends = lists.indptr[known + 1]  # [m]
        if self.config.sample_size > 0:
            limit = self.config.sample_size + (lists.sessions_of_user(user) if skip else 0)
            ends = np.minimum(ends, starts + limit)
        heads = [lists.ranks[start:end] for start, end in zip(starts, ends)]
        if not heads:
            return np.zeros(0, dtype=lists.by_rank.dtype)
        # Distinct ranks, ascending: the candidates from the oldest to the newest.
        sessions = lists.by_rank[sorted_distinct(np.concatenate(heads))]  # [C], <= m * limit
        if skip:
            sessions = sessions[self.session_users[sessions] != user]
        if self.config.sample_size > 0:
            sessions = sessions[-self.config.sample_size :]  # the most recent
        return np.sort(sessions)

    def find_neighbours(self, history: np.ndarray, timestamps: np.ndarray, user: int) -> Neighbours:
        """The ``k`` most similar candidate sessions with a positive similarity."""
        current = current_session(history, timestamps, self.config)
        if len(current) == 0:
            return Neighbours(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        sessions = self.candidates(current, user)
        similarity = self.similarities(sessions, self.item_weights(current))  # [C]
        positive = similarity > 0
        sessions, similarity = sessions[positive], similarity[positive]
        # Most similar first; ties: the more recent session first.
        order = np.lexsort((-self.recency[sessions], -similarity))[: self.config.k]
        sessions, similarity = sessions[order], similarity[order]
        return Neighbours(sessions, similarity, self.neighbour_weights(sessions, current))

    # -- scoring ------------------------------------------------------------------------------
    def _score(self, histories: SequenceData) -> np.ndarray:
        self.require_fitted()
        scores = np.zeros((len(histories), self.session_items.shape[1]), dtype=np.float32)  # [B, I]
        for row in range(len(histories)):
            neighbours = self.find_neighbours(
                histories.sequence(row),
                histories.sequence_timestamps(row),
                int(histories.users[row]),
            )
            votes = neighbours.similarity * neighbours.weight  # [k]
            # score(i) = sum_n sim(s, n) * w(n) * 1[i in n]
            scores[row] = votes @ self.session_items[neighbours.sessions]
        return scores

    def session_sequence(self, session: int) -> np.ndarray:
        start, end = self.session_positions[session]
        return self.session_sequences[start:end]

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """The neighbour sessions that contain ``item`` (``"item"`` = the newest shared item).

        The history has no timestamps here, so it is treated as one session without pauses,
        and no user's sessions are skipped.
        """
        self.require_fitted()
        history_array = np.asarray(history, dtype=np.int64)
        neighbours = self.find_neighbours(history_array, np.arange(len(history_array)), user=-1)
        current = current_session(history_array, np.arange(len(history_array)), self.config)
        evidence: list[dict[str, Any]] = []
        for session, similarity, weight in zip(
            neighbours.sessions, neighbours.similarity, neighbours.weight
        ):
            items = self.session_sequence(int(session))
            item_set = set(items.tolist())
            if int(item) not in item_set:
                continue
            shared = [int(i) for i in current if i in item_set]  # in session order
            evidence.append(
                {
                    "session": int(session),
                    "user": int(self.session_users[session]),
                    "item": shared[-1],
                    "similarity": float(similarity),
                    "weight": float(weight),
                    "contribution": float(similarity * weight),
                    "shared_items": sorted(set(shared)),
                    "session_items": [int(i) for i in items],
                }
            )
        total = sum(row["contribution"] for row in evidence)
        summary = (
            f"{len(evidence)} of the {len(neighbours.sessions)} past sessions most like your last "
            f"{len(current)} items contain it; their votes sum to {total:.3g}."
            if evidence
            else f"None of the {len(neighbours.sessions)} past sessions most like yours has it."
        )
        return Explanation(
            model=self.name,
            item=int(item),
            summary=summary,
            kind=ExplanationKind.NEIGHBOUR_SESSIONS,
            evidence=evidence,
        )


class VSKNN(SKNN):
    """Vector-multiplication session kNN: recent items of the session weigh more."""

    name = "v-sknn"
    Config = VSKNNConfig
    config: VSKNNConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            **super().search_space(trial),
            "weighting": trial.suggest_categorical("weighting", list(POSITION_DECAYS)),
            "weighting_score": trial.suggest_categorical("weighting_score", list(SCORE_DECAYS)),
        }

    def item_weights(self, current: np.ndarray) -> dict[int, float]:
        return position_weights([int(i) for i in current], self.config.weighting)

    def similarities(self, candidates: np.ndarray, weights: dict[int, float]) -> np.ndarray:
        """Decayed session vector . binary candidate / |s| (session-rec's ``vec``)."""
        return self._weighted_overlap(candidates, weights) / len(weights)

    def neighbour_weights(self, neighbours: np.ndarray, current: np.ndarray) -> np.ndarray:
        """score_decay(t), t = steps back (1 = newest) to the newest item the neighbour shares."""
        if len(neighbours) == 0:
            return np.zeros(0)
        contains = self.session_items[neighbours][:, current].toarray() > 0  # [k, m]
        # argmax over the reversed columns finds the newest shared position: 0 steps = newest.
        steps = 1 + np.argmax(contains[:, ::-1], axis=1)  # [k], 1 = the newest item
        decay = SCORE_DECAYS[self.config.weighting_score]
        return np.array([decay(int(step)) for step in steps])
