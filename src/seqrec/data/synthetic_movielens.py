"""MovieLens-20M-shaped files at any size: ``ratings.csv`` and ``movies.csv``, made up.

The real ML-20M (GroupLens, 2015) cannot be shipped with tests and takes minutes to fetch; what
the loaders and the streaming cleaner need to be exercised at size is its *shape*, which
:func:`generate` copies (``seqrec data make-movielens --rows N --out DIR --seed S``):

* ``ratings.csv``: ``userId,movieId,rating,timestamp``, one line per rating, ordered by
  ``userId`` then ``movieId`` as the real file is (its README: "ordered first by userId, then,
  within user, by movieId"), so time order within a user has to be recovered by sorting.
  About ``rows / 144`` users (ML-20M: 138,493 users, 20,000,263 ratings), ids ``1..U``, each with
  at least 20 ratings (GroupLens kept only such users) and a heavy-tailed rest (log-normal
  activity; the most active user rates about a third of the catalog). A user rates a movie at
  most once. Ratings are half stars 0.5-5.0, whole stars more common, mean about 3.5. Times are
  epoch seconds from 1995-01-09 to 2015-03-31 (ML-20M's first and last), in sessions: a quarter
  of a user's ratings fall in the same second as the one before, as MovieLens' often do.
* ``movies.csv``: ``movieId,title,genres`` for up to 27,278 movies (ML-20M's count) with sparse
  ids below 131,263; titles are ``"Name (year)"``, some ``"Name, The (year)"`` (quoted, as a
  title holding a comma is in the real file); genres are pipe-separated from ML-20M's 19 plus
  ``(no genres listed)``. Three quarters of the picks follow a Zipf-like popularity (exponent
  0.9), a quarter are uniform (the long tail heavy raters reach).

Everything is vectorised numpy, written in chunks of about ``chunk_rows`` ratings (memory stays
bounded whatever ``rows`` is) to a temporary name that is renamed into place when complete.
The output is a function of ``(rows, seed)`` only: the same pair gives the same bytes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl

ML20M_USERS = 138_493
ML20M_RATINGS = 20_000_263
ML20M_MOVIES = 27_278
MAX_MOVIE_ID = 131_262  # ML-20M's largest movieId
MIN_RATINGS_PER_USER = 20
FIRST_SECOND = 789_652_009  # 1995-01-09, ML-20M's first rating
LAST_SECOND = 1_427_784_002  # 2015-03-31, its last
GENRES = (
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
NO_GENRES = "(no genres listed)"
_WORDS = (
    "Night", "River", "Return", "Story", "Road", "Summer", "Last", "City", "Dark", "Love",
    "Secret", "War", "Heart", "Island", "Ghost", "King", "Winter", "Star", "Dream", "House",
    "Blue", "Silent", "Lost", "Wild", "Red", "Little", "Golden", "Broken", "Hidden", "Empire",
)  # fmt: skip
_SAME_SECOND = 0.25  # share of a user's ratings made in the same second as the previous one
_UNIFORM_PICKS = 0.25  # share of picks made uniformly, not by popularity (the long tail)


def generate(
    out_dir: str | Path, rows: int = 20_000_000, seed: int = 0, chunk_rows: int = 1_000_000
) -> tuple[Path, Path]:
    """Write ``ratings.csv`` (exactly ``rows`` lines after the header) and ``movies.csv`` into
    ``out_dir`` (created if needed); return their paths. See the module docstring."""
    if rows < MIN_RATINGS_PER_USER:
        raise ValueError(f"rows must be at least {MIN_RATINGS_PER_USER} (one user's ratings)")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_movies = min(ML20M_MOVIES, max(500, rows // 40))
    movie_ids = np.sort(rng.choice(np.arange(1, MAX_MOVIE_ID + 1), n_movies, replace=False))
    movies = _movies(rng, movie_ids)
    users = _Users.draw(rng, rows, n_movies)
    popularity = _popularity(rng, n_movies)
    movies_path = _write_atomically(out / "movies.csv", lambda h: movies.write_csv(h))

    def write_ratings(handle: BinaryIO) -> None:
        for index, (first, last) in enumerate(_user_chunks(users.counts, chunk_rows)):
            chunk_rng = np.random.default_rng([seed, index])
            frame = _ratings(chunk_rng, users, first, last, popularity, movie_ids)
            frame.write_csv(handle, include_header=index == 0)

    return _write_atomically(out / "ratings.csv", write_ratings), movies_path


class _Users:
    """Per-user draws made once for all users (a few arrays of length U)."""

    def __init__(
        self, counts: np.ndarray, bias: np.ndarray, start: np.ndarray, span: np.ndarray
    ) -> None:
        self.counts = counts  # [U] ratings per user, >= 20, summing to rows
        self.bias = bias  # [U] how generous the user's ratings are
        self.start = start  # [U] first rating time, seconds
        self.span = span  # [U] seconds from the first to the last rating

    @staticmethod
    def draw(rng: np.random.Generator, rows: int, n_movies: int) -> _Users:
        n_users = max(1, min(round(rows * ML20M_USERS / ML20M_RATINGS), rows // 20))
        # a third of the catalog at most (ML-20M's top user), more only if rows demand it
        cap = min(n_movies, max(n_movies // 3, -(-2 * rows // n_users)))
        counts = _activity(rng, n_users, rows, cap)
        start = rng.uniform(FIRST_SECOND, LAST_SECOND, n_users)
        # most users rate within days or weeks; some come back for years
        span = np.minimum(
            np.exp(rng.normal(np.log(20 * 86_400), 2.2, n_users)), LAST_SECOND - start
        )
        return _Users(counts, rng.normal(0.0, 0.45, n_users), start, span)


def _activity(rng: np.random.Generator, n_users: int, rows: int, cap: int) -> np.ndarray:
    """Ratings per user: 20 each plus a log-normal share of the rest, at most ``cap``; exact sum."""
    counts = np.full(n_users, MIN_RATINGS_PER_USER, dtype=np.int64)
    weights = np.exp(rng.normal(0.0, 1.2, n_users))
    extra = rows - int(counts.sum())
    while extra > 0:
        open_users = counts < cap
        if not open_users.any():
            raise ValueError(f"{rows} rows do not fit {n_users} users of at most {cap} ratings")
        share = np.where(open_users, weights, 0.0)
        share = share / share.sum() * extra
        added = np.floor(share).astype(np.int64)
        leftover = extra - int(added.sum())
        added[np.argsort(-(share - added), kind="stable")[:leftover]] += 1
        counts = np.minimum(counts + added, cap)
        extra = rows - int(counts.sum())
    return counts


def _popularity(rng: np.random.Generator, n_movies: int) -> np.ndarray:
    """Zipf-like pick probabilities (exponent 0.9) over movies in a random order, cumulated."""
    ranks = rng.permutation(n_movies)
    weights = (ranks + 10.0) ** -0.9
    return np.cumsum(weights / weights.sum())


def _user_chunks(counts: np.ndarray, chunk_rows: int) -> Iterator[tuple[int, int]]:
    """Consecutive user ranges ``[first, last)`` of about ``chunk_rows`` ratings each."""
    ends = np.cumsum(counts)
    first = 0
    while first < len(counts):
        limit = (ends[first - 1] if first else 0) + chunk_rows
        last = max(first + 1, int(np.searchsorted(ends, limit, side="right")))
        yield first, last
        first = last


def _ratings(
    rng: np.random.Generator,
    users: _Users,
    first: int,
    last: int,
    popularity: np.ndarray,
    movie_ids: np.ndarray,
) -> pl.DataFrame:
    """The ratings of users ``first..last-1``, ordered by userId then movieId."""
    counts = users.counts[first:last]  # [C]
    owner, movie = _distinct_picks(rng, counts, popularity)  # [R] local user, movie index
    n = len(owner)
    quality = _movie_quality(movie)
    score = 3.55 + users.bias[first + owner] + quality + rng.normal(0.0, 0.85, n)
    whole = rng.random(n) < 0.6  # whole stars are more common than half stars
    rating = np.where(whole, np.round(score), np.round(score * 2) / 2)
    seconds = _times(rng, owner, counts, users.start[first:last], users.span[first:last])
    order = np.lexsort((movie, owner))  # the file's order: user, then movie
    return pl.DataFrame(
        {
            "userId": (first + 1 + owner[order]).astype(np.int64),
            "movieId": movie_ids[movie[order]],
            "rating": np.clip(rating[order], 0.5, 5.0),
            "timestamp": seconds[order],
        }
    )


def _distinct_picks(
    rng: np.random.Generator, counts: np.ndarray, popularity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``counts[u]`` distinct movies for each user ``u``, picked by popularity (a quarter of the
    picks uniformly): draw with replacement, drop repeats, draw again for the users still short,
    then keep a random ``counts[u]`` of each user's distinct picks."""
    n_movies = len(popularity)
    keys = np.zeros(0, dtype=np.int64)  # user * n_movies + movie, distinct
    short = np.arange(len(counts))
    need = counts.copy()
    for _ in range(100):
        draws = np.repeat(short, need[short] + need[short] // 3 + 4)
        uniform = rng.random(len(draws)) < _UNIFORM_PICKS
        picks = np.where(
            uniform,
            rng.integers(0, n_movies, len(draws)),
            np.minimum(np.searchsorted(popularity, rng.random(len(draws))), n_movies - 1),
        )
        keys = _sorted_distinct(np.concatenate([keys, draws * n_movies + picks]))
        have = np.bincount(keys // n_movies, minlength=len(counts))
        short = np.flatnonzero(have < counts)
        if len(short) == 0:
            break
        need = counts - have
    else:
        raise RuntimeError("could not draw enough distinct movies per user")
    owner = keys // n_movies
    priority = rng.random(len(keys))
    order = np.lexsort((priority, owner))  # by user, random within user
    starts = np.concatenate([[0], np.cumsum(have)[:-1]])
    rank = np.arange(len(keys)) - starts[owner[order]]
    chosen = order[rank < counts[owner[order]]]
    return owner[chosen], keys[chosen] % n_movies


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for int64 keys by a sort (numpy 2's hash-based unique is slower here)."""
    values = np.sort(values)
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = values[1:] != values[:-1]
    return values[keep]


def _movie_quality(movie: np.ndarray) -> np.ndarray:
    """A fixed per-movie offset to the mean rating, in [-0.6, 0.6): the golden-ratio fraction of
    the movie's index, so every chunk agrees on it without sharing state."""
    golden = (movie.astype(np.float64) * 0.6180339887498949) % 1.0
    return (golden - 0.5) * 1.2


def _times(
    rng: np.random.Generator,
    owner: np.ndarray,
    counts: np.ndarray,
    start: np.ndarray,
    span: np.ndarray,
) -> np.ndarray:
    """Epoch seconds of each pick, in sessions: gaps are 0 (same second) or exponential, scaled
    so each user's ratings fill ``[start, start + span]``."""
    order = np.argsort(owner, kind="stable")
    gaps = np.where(rng.random(len(owner)) < _SAME_SECOND, 0.0, rng.exponential(1.0, len(owner)))
    elapsed = np.cumsum(gaps[order])  # [R] running total over the chunk, user-major
    first_of_user = np.concatenate([[0], np.cumsum(counts)[:-1]])
    elapsed -= np.repeat(elapsed[first_of_user], counts)  # per user, 0 at the first rating
    total = np.repeat(np.maximum(elapsed[np.cumsum(counts) - 1], 1e-9), counts)
    sorted_owner = owner[order]
    seconds = np.floor(start[sorted_owner] + elapsed / total * span[sorted_owner])
    out = np.empty(len(owner), dtype=np.int64)
    out[order] = np.minimum(seconds, LAST_SECOND).astype(np.int64)
    return out


def _movies(rng: np.random.Generator, movie_ids: np.ndarray) -> pl.DataFrame:
    """``movieId,title,genres``: made-up titles with a year, 1-3 genres (1% none)."""
    n = len(movie_ids)
    words = np.array(_WORDS, dtype=object)
    first, second = words[rng.integers(0, len(words), n)], words[rng.integers(0, len(words), n)]
    years = rng.integers(1902, 2016, n)
    with_the = rng.random(n) < 0.15
    titles = [
        f"{a} {b}, The ({y})" if the else f"{a} {b} ({y})"
        for a, b, y, the in zip(first, second, years, with_the, strict=True)
    ]
    n_genres = rng.integers(1, 4, n)
    picks = rng.random((n, len(GENRES))).argsort(axis=1)
    genres = [
        NO_GENRES if none else "|".join(GENRES[g] for g in sorted(row[:k]))
        for row, k, none in zip(picks, n_genres, rng.random(n) < 0.01, strict=True)
    ]
    return pl.DataFrame({"movieId": movie_ids, "title": titles, "genres": genres})


def _write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(handle)`` on a temporary sibling of ``path``, then rename it into place."""
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(staging, "wb") as handle:
            write(handle)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path
