"""SKNN and V-SKNN against hand-computed weights, similarities and neighbour choices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seqrec.data.types import SequenceData
from seqrec.models.base import ConfigError
from seqrec.models.session_knn import SKNN, VSKNN, position_weights, session_ids


def one_history(items: list[int], n_items: int, user: int = -1) -> SequenceData:
    return SequenceData.from_lists([items], n_items=n_items, users=[user])


# -- sessions --------------------------------------------------------------------------------
def test_length_split_aligns_chunks_to_the_end_of_each_sequence() -> None:
    data = SequenceData.from_lists([[1, 2, 3, 4, 5], [6, 7]], n_items=7)
    # Row 0: [1 | 2 3 | 4 5]; row 1: [6 7].
    np.testing.assert_array_equal(session_ids(data, 2, "length", 0.0), [0, 1, 1, 2, 2, 3, 3])


def test_gap_split_starts_a_session_after_a_long_pause() -> None:
    times = [[0, 100, 10_000, 10_050], [10_100, 10_200]]
    data = SequenceData.from_lists([[1, 2, 3, 4], [5, 6]], n_items=6, timestamps=times)
    np.testing.assert_array_equal(session_ids(data, 99, "gap", 3600.0), [0, 0, 1, 1, 2, 2])


# -- V-SKNN weights (Jannach & Ludewig 2017; session-rec's decay functions) ------------------
def test_linear_position_weights_by_hand() -> None:
    # Session of m = 4: weight 1 - 0.1 (m - p) for p = 1..4.
    assert position_weights([1, 2, 3, 4], "linear") == pytest.approx(
        {1: 0.7, 2: 0.8, 3: 0.9, 4: 1.0}
    )
    # A repeated item keeps the weight of its latest position (3 of 3).
    assert position_weights([5, 6, 5], "linear") == pytest.approx({5: 1.0, 6: 0.9})
    # Clipped at zero more than 10 steps back (session-rec would zero the newest items instead).
    assert position_weights(list(range(1, 13)), "linear")[1] == 0.0


def test_other_position_weights_by_hand() -> None:
    assert position_weights([1, 2, 3, 4], "div") == pytest.approx(
        {1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0}
    )
    assert position_weights([1, 2], "quadratic") == pytest.approx({1: 0.25, 2: 1.0})
    assert position_weights([1, 2], "log") == pytest.approx(
        {1: 1 / math.log10(2.7), 2: 1 / math.log10(1.7)}
    )


# Three users, each one session with session_len = 4.
VSKNN_TRAIN = SequenceData.from_lists([[1, 2, 3, 4], [2, 4, 9], [5, 6, 7, 8]], n_items=9)


def test_vsknn_similarity_and_score_by_hand() -> None:
    model = VSKNN(session_len=4).fit(VSKNN_TRAIN)
    scores = model.checked_scores(one_history([1, 2, 3, 4], 9))
    # Current session weights 0.7, 0.8, 0.9, 1.0; |s| = 4.
    # Neighbour {2, 4, 9}: (0.8 + 1.0) / 4 = 0.45.  Neighbour {1, 2, 3, 4}: 3.4 / 4 = 0.85.
    assert scores[0, 9] == pytest.approx(0.45)
    assert scores[0, 2] == pytest.approx(0.85 + 0.45)
    assert scores[0, 1] == pytest.approx(0.85)
    assert scores[0, 5] == 0.0  # {5, 6, 7, 8} shares nothing


def test_vsknn_score_decay_uses_the_newest_shared_item() -> None:
    train = SequenceData.from_lists([[1, 9]], n_items=9)
    model = VSKNN(session_len=4, weighting_score="div").fit(train)
    scores = model.checked_scores(one_history([1, 2, 3, 4], 9))
    # Shares only item 1 (weight 0.7, 4 steps back): sim = 0.7 / 4, score decay 1 / 4.
    assert scores[0, 9] == pytest.approx(0.7 / 4 * 0.25)


def test_vsknn_depends_on_the_order_of_the_history() -> None:
    model = VSKNN(session_len=4).fit(VSKNN_TRAIN)
    forward = model.checked_scores(one_history([1, 2, 3, 4], 9))
    backward = model.checked_scores(one_history([4, 3, 2, 1], 9))
    # Reversed, item 4 weighs 0.7 and item 2 0.9: {2, 4, 9} gets (0.9 + 0.7) / 4 = 0.4.
    assert backward[0, 9] == pytest.approx(0.4)
    assert not np.allclose(forward[0, 1:], backward[0, 1:])


# -- SKNN neighbour selection ----------------------------------------------------------------
# Sessions: u0 {1, 2, 3} (t = 10), u1 {1, 2} (t = 20), u2 {1, 5} (t = 30).
SKNN_TRAIN = SequenceData.from_lists(
    [[1, 2, 3], [1, 2], [1, 5]], n_items=5, timestamps=[[8, 9, 10], [19, 20], [29, 30]]
)
# Binary cosine with the current session {1, 2}: u0 2/sqrt(6), u1 2/sqrt(4) = 1, u2 1/sqrt(4).


def test_sknn_keeps_the_k_most_similar_sessions() -> None:
    one = SKNN(k=1).fit(SKNN_TRAIN).checked_scores(one_history([1, 2], 5))
    assert one[0, 1] == pytest.approx(1.0) and one[0, 3] == 0.0 and one[0, 5] == 0.0  # only u1
    two = SKNN(k=2).fit(SKNN_TRAIN).checked_scores(one_history([1, 2], 5))
    assert two[0, 3] == pytest.approx(2 / math.sqrt(6)) and two[0, 5] == 0.0  # u1 and u0
    assert two[0, 1] == pytest.approx(1.0 + 2 / math.sqrt(6))


def test_sknn_samples_the_most_recent_candidates() -> None:
    scores = SKNN(sample_size=1).fit(SKNN_TRAIN).checked_scores(one_history([1, 2], 5))
    # Only the newest candidate (u2) is compared.
    assert scores[0, 5] == pytest.approx(0.5) and scores[0, 3] == 0.0


def test_sknn_skips_the_scored_users_own_sessions() -> None:
    scores = SKNN(k=1).fit(SKNN_TRAIN).checked_scores(one_history([1, 2], 5, user=1))
    assert scores[0, 3] == pytest.approx(2 / math.sqrt(6))  # u1 is excluded, u0 is the nearest


def test_sknn_uses_only_the_last_session_len_items() -> None:
    model = SKNN(session_len=2).fit(SKNN_TRAIN)
    batch = SequenceData.from_lists([[3, 1, 2], [1, 2]], n_items=5, users=[-1, -1])
    scores = model.checked_scores(batch)
    assert scores.shape == (2, 6)
    np.testing.assert_allclose(scores[0], scores[1])  # item 3 is outside the current session


def test_sknn_explanation_names_the_neighbour_sessions() -> None:
    model = SKNN(k=2).fit(SKNN_TRAIN)
    explanation = model.explain([1, 2], 3)
    assert len(explanation.evidence) == 1
    row = explanation.evidence[0]
    assert row["user"] == 0 and row["session_items"] == [1, 2, 3] and row["item"] == 2
    assert row["similarity"] == pytest.approx(2 / math.sqrt(6))
    assert row["shared_items"] == [1, 2]


def test_invalid_settings_are_errors() -> None:
    with pytest.raises(ConfigError, match="session_split"):
        SKNN(session_split="days")
    with pytest.raises(ConfigError, match="weighting"):
        VSKNN(weighting="cubic")


# -- candidate sampling: the truncated per-item lists equal a scan of every session ----------
def all_sessions_candidates(model: SKNN, current: np.ndarray, user: int) -> np.ndarray:
    """Reference: every session sharing an item, own ones dropped, the most recent kept."""
    known = np.unique(current)
    sessions = np.unique(model.item_sessions[known].indices)
    if model.config.skip_own_user and user >= 0:
        sessions = sessions[model.session_users[sessions] != user]
    if 0 < model.config.sample_size < len(sessions):
        newest = np.argsort(-model.recency[sessions], kind="stable")[: model.config.sample_size]
        sessions = np.sort(sessions[newest])
    return sessions


class ScanAll:
    """Mixin: candidates by the full scan (the algorithm before the per-item lists)."""

    def candidates(self, current: np.ndarray, user: int) -> np.ndarray:
        return all_sessions_candidates(self, current, user)  # type: ignore[arg-type]


class ScanAllSKNN(ScanAll, SKNN):
    pass


class ScanAllVSKNN(ScanAll, VSKNN):
    pass


def tied_world(seed: int) -> SequenceData:
    """Popular items, many equal timestamps, and users with several rows and sessions."""
    rng = np.random.default_rng(seed)
    n_rows, n_items = 60, 12
    lengths = rng.integers(1, 25, size=n_rows)
    items = [list(rng.zipf(1.5, size=n) % n_items + 1) for n in lengths]
    # Times from a handful of values: ties within and across users (gaps of 2 h split sessions).
    times = [list(np.sort(rng.integers(0, 4, size=n)) * 7200) for n in lengths]
    users = list(rng.integers(0, 25, size=n_rows))  # repeated: a user owns several rows
    return SequenceData.from_lists(items, n_items=n_items, timestamps=times, users=users)


@pytest.mark.parametrize("model_class", [SKNN, VSKNN])
@pytest.mark.parametrize(
    "settings",
    [
        {"sample_size": 3, "session_len": 3},
        {"sample_size": 1, "session_len": 2, "k": 2},
        {"sample_size": 7, "session_len": 4, "session_split": "gap", "k": 3},
        {"sample_size": 5, "session_len": 3, "skip_own_user": False},
        {"sample_size": 0, "session_len": 3},
    ],
)
def test_per_item_lists_choose_exactly_the_candidates_of_a_full_scan(
    model_class: type[SKNN], settings: dict[str, object]
) -> None:
    reference_class = ScanAllSKNN if model_class is SKNN else ScanAllVSKNN
    for seed in range(3):
        train = tied_world(seed)
        histories = tied_world(seed + 100)  # same and other users; rows also with user -1
        histories.users[::7] = -1
        model = model_class(**settings).fit(train)
        reference = reference_class(**settings).fit(train)
        sampled = 0
        for row in range(len(histories)):
            current = histories.sequence(row)[-model.config.session_len :]
            user = int(histories.users[row])
            got = model.candidates(current, user)
            want = all_sessions_candidates(model, current, user)
            np.testing.assert_array_equal(got, want)
            assert got.dtype == want.dtype
            sampled += 0 < model.config.sample_size == len(got)
        if model.config.sample_size:
            assert sampled > 0  # the sample bound was reached, so the truncation mattered
        # Scores and recommendations bit for bit.
        np.testing.assert_array_equal(
            model.checked_scores(histories), reference.checked_scores(histories)
        )
        np.testing.assert_array_equal(
            model.recommend(histories, 5), reference.recommend(histories, 5)
        )


def test_the_per_item_lists_follow_a_restored_state() -> None:
    train, other = tied_world(0), tied_world(1)
    model = SKNN(sample_size=2, session_len=3).fit(train)
    fresh = SKNN(sample_size=2, session_len=3).fit(other)
    arrays, values = model.state()
    fresh.restore(arrays, values)  # the lists built for `other` must not be reused
    history = one_history([1, 2, 3], train.n_items, user=3)
    np.testing.assert_array_equal(
        fresh.checked_scores(history), model.checked_scores(history)
    )
