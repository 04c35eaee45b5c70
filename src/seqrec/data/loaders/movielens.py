"""MovieLens: ML-100K, ML-1M / ML-10M (``::``-separated) and ML-20M/25M/32M (CSV).

:func:`load_movielens` reads any release into memory. :func:`scan_movielens` reads the CSV
releases (ML-20M and later: 20-32 million ratings) as a lazy scan for the streaming engine
instead, with the same checks and the same errors, so the ratings never sit in memory as text.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seqrec.data.errors import DataError
from seqrec.data.loaders.common import (
    LazyLoadResult,
    LoadResult,
    _build_log,
    _catalog,
    _check_not_empty,
    _decode,
    _movie_text,
    _RawTable,
    _read_delimited,
    _require,
    _scan_delimited,
    _scan_log,
)
from seqrec.data.types import Catalog, InteractionLog

# The 19 genre flags of ML-100K's u.item, in file order (from the ML-100K README / u.genre).
ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def _read_small_delimited(
    path: Path, sep: str, n_fields: int, encoding: str, fallback_encoding: str | None = None
) -> list[tuple[int, list[str]]]:
    """Split a small unquoted file (movie lists) in Python: exact line numbers, any separator.

    ``fallback_encoding`` is tried when the text is not valid ``encoding``; a UTF-8 byte-order
    mark is dropped.
    """
    _check_not_empty(path)
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        text = _decode(path, data, fallback_encoding or encoding, hint=False)
    records: list[tuple[int, list[str]]] = []
    # split on "\n" only: str.splitlines would also break at U+0085, a Latin-1 byte (0x85)
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) < n_fields:
            reason = f"the line has {len(fields)} of {n_fields} fields (file cut short?)"
            raise DataError(path, reason, row=number)
        records.append((number, fields))
    if not records:
        raise DataError(path, "the file has no data rows")
    return records


def detect_movielens(directory: str | Path) -> tuple[str, Path] | None:
    """``(variant, directory holding the files)`` or ``None`` if this is not MovieLens.

    Variants: ``"ml-100k"`` (``u.data``), ``"ml-1m"`` (``ratings.dat`` + ``users.dat``),
    ``"ml-10m"`` (``ratings.dat`` alone), ``"ml-csv"`` (``ratings.csv`` + ``movies.csv``:
    ML-20M/25M/32M and ml-latest). A directory holding one sub-directory (an unzipped
    archive) is looked into.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return None
    if (directory / "u.data").exists():
        return "ml-100k", directory
    if (directory / "ratings.dat").exists():
        return ("ml-1m" if (directory / "users.dat").exists() else "ml-10m"), directory
    if (directory / "ratings.csv").exists() and (directory / "movies.csv").exists():
        return "ml-csv", directory
    children = [p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(children) == 1:
        return detect_movielens(children[0])
    return None


def load_movielens(
    directory: str | Path, *, time_unit: str = "auto", allow_any_time: bool = False
) -> LoadResult:
    """Load a MovieLens release from its (unzipped) directory; the variant is detected.

    Timestamps are seconds (``time_unit="auto"``) unless ``time_unit`` forces another unit; a
    time before 1970 or in the future is an error unless ``allow_any_time``.
    """
    detected = detect_movielens(directory)
    if detected is None:
        raise DataError(
            directory, "no MovieLens files here (expected u.data, ratings.dat or ratings.csv)"
        )
    variant, folder = detected
    times = _Times("s" if time_unit == "auto" else time_unit, allow_any_time)
    if variant == "ml-100k":
        return _load_ml100k(folder, times)
    if variant in ("ml-1m", "ml-10m"):
        return _load_ml_dat(folder, times)
    return _load_ml_csv(folder, times)


@dataclass(frozen=True)
class _Times:
    """How a release's timestamps are read: ``unit`` and ``allow_any_time`` of ``_build_log``."""

    unit: str
    allow_any_time: bool

    def log(self, raw: _RawTable, user: str, item: str, time: str, rating: str) -> InteractionLog:
        return _build_log(
            raw, user, item, time, rating, unit=self.unit, allow_any_time=self.allow_any_time
        )


def _load_ml100k(folder: Path, times: _Times) -> LoadResult:
    names = ("user id", "item id", "rating", "timestamp")
    raw = _read_delimited(folder / "u.data", "\t", has_header=False, names=names, quote=None)
    log = times.log(raw, "user id", "item id", "timestamp", "rating")
    item_file = folder / "u.item"
    return log, (_ml100k_catalog(item_file, _ml100k_genres(folder)) if item_file.exists() else None)


def _ml100k_genres(folder: Path) -> tuple[str, ...]:
    """Genre names from ``u.genre`` (``name|index`` lines) when present, else the README's list."""
    genre_file = folder / "u.genre"
    if not genre_file.exists():
        return ML100K_GENRES
    pairs = [f for _, f in _read_small_delimited(genre_file, "|", 2, "latin-1")]
    return tuple(name for name, _ in sorted(pairs, key=lambda p: int(p[1])))


def _ml100k_catalog(path: Path, genres: Sequence[str]) -> Catalog:
    """``u.item``: id | title | release date | video date | IMDb URL | one 0/1 flag per genre."""
    n_fields = 5 + len(genres)
    items: list[str] = []
    titles: list[str | None] = []
    categories: list[str | None] = []
    texts: list[str | None] = []
    for line, fields in _read_small_delimited(path, "|", n_fields, "latin-1"):
        flags = fields[5:n_fields]
        if any(f not in ("0", "1") for f in flags):
            raise DataError(
                path,
                f"genre flags must be 0 or 1, got {'|'.join(flags)!r}",
                row=line,
                field="genres",
            )
        item_genres = [g for g, flag in zip(genres, flags) if flag == "1"]
        items.append(_checked_id(path, line, "movie id", fields[0]))
        titles.append(fields[1])
        categories.append(item_genres[0] if item_genres else "unknown")
        texts.append(_movie_text(fields[1], item_genres))
    return _catalog(items, titles, categories, texts)


def _load_ml_dat(folder: Path, times: _Times) -> LoadResult:
    """ML-1M / ML-10M: ``UserID::MovieID::Rating::Timestamp`` and ``MovieID::Title::Genres``.

    ML-1M's ``movies.dat`` is Latin-1; ML-10M's is read as UTF-8 and, failing that, Latin-1.
    """
    names = ("UserID", "MovieID", "Rating", "Timestamp")
    raw = _read_delimited(folder / "ratings.dat", "::", has_header=False, names=names, quote=None)
    log = times.log(raw, "UserID", "MovieID", "Timestamp", "Rating")
    movies = folder / "movies.dat"
    if not movies.exists():
        return log, None
    records = [
        (line, f[0], "::".join(f[1:-1]), f[-1])
        for line, f in _read_small_delimited(movies, "::", 3, "utf-8", "latin-1")
    ]
    return log, _genre_list_catalog(movies, records)


def _load_ml_csv(folder: Path, times: _Times) -> LoadResult:
    """ML-20M/25M/32M: ``userId,movieId,rating,timestamp`` and ``movieId,title,genres`` (UTF-8)."""
    raw = _read_delimited(folder / "ratings.csv", ",", has_header=True)
    log = times.log(raw, "userId", "movieId", "timestamp", "rating")
    return log, _ml_csv_catalog(folder)


def _ml_csv_catalog(folder: Path) -> Catalog:
    """``movies.csv`` (tens of thousands of lines: read eagerly, every record keeps its line)."""
    movies = _read_delimited(folder / "movies.csv", ",", has_header=True)
    _require(movies, ["movieId", "title", "genres"])
    records = [
        (movies.line(i), movie, title or "", genres or "")
        for i, (movie, title, genres) in enumerate(
            movies.frame.select("movieId", "title", "genres").iter_rows()
        )
    ]
    return _genre_list_catalog(movies.path, records)


def scan_movielens(
    directory: str | Path, *, time_unit: str = "auto", allow_any_time: bool = False
) -> LazyLoadResult | None:
    """A CSV release (ML-20M/25M/32M) as a validated lazy log plus its catalog, or ``None``.

    ``None`` means "read it with :func:`load_movielens`": the folder holds another release
    (ML-100K, ML-1M, ML-10M: at most 10 million short lines), or ``ratings.csv`` dates its
    ratings with ISO strings rather than epoch seconds. The log equals
    ``load_movielens(directory)[0]`` row for row once collected, and a bad file raises the same
    :class:`DataError` (file, line, field, wording); checking costs one streaming pass.
    """
    detected = detect_movielens(directory)
    if detected is None or detected[0] != "ml-csv":
        return None
    folder = detected[1]
    table = _scan_delimited(folder / "ratings.csv", ",")
    unit = "s" if time_unit == "auto" else time_unit
    log = _scan_log(
        table, "userId", "movieId", "timestamp", "rating", unit=unit, allow_any_time=allow_any_time
    )
    return None if log is None else (log, _ml_csv_catalog(folder))


def _genre_list_catalog(path: Path, records: Sequence[tuple[int, str | None, str, str]]) -> Catalog:
    """Catalog from (line, id, title, "Genre1|Genre2"); the category is the first genre."""
    items: list[str] = []
    titles: list[str | None] = []
    categories: list[str | None] = []
    texts: list[str | None] = []
    for line, movie, title, genre_field in records:
        genres = [g for g in genre_field.split("|") if g and g != "(no genres listed)"]
        items.append(_checked_id(path, line, "movie id", movie))
        titles.append(title)
        categories.append(genres[0] if genres else "unknown")
        texts.append(_movie_text(title, genres))
    return _catalog(items, titles, categories, texts)


def _checked_id(path: Path, line: int, field: str, value: str | None) -> str:
    text = (value or "").strip()
    if not text or text.lower() == "nan":
        raise DataError(path, "missing id", row=line, field=field)
    return text
