"""The streaming data path: clean_lazy == clean, the lazy MovieLens CSV reader == the eager one
(data and errors), and the MovieLens-20M-shaped generator, on a generated 1M-row file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seqrec.data.cleaning import CleanOptions, clean, k_core
from seqrec.data.datasets import MOVIELENS_OPTIONS, load_dataset
from seqrec.data.errors import DataError
from seqrec.data.loaders import load_movielens
from seqrec.data.loaders.movielens import scan_movielens
from seqrec.data.streaming import clean_lazy, k_core_lazy, lazy_log
from seqrec.data.synthetic_movielens import LAST_SECOND, generate
from seqrec.data.types import Catalog, Dataset, InteractionLog

HEADER = "userId,movieId,rating,timestamp\n"
MOVIES = 'movieId,title,genres\n1,"Heat, The (1995)",Action|Crime\n2,Up (2009),Animation\n'


def assert_same(lazy: Dataset, eager: Dataset) -> None:
    """Every field clean() fills, compared exactly."""
    for field in ("offsets", "items", "timestamps", "users"):
        assert np.array_equal(getattr(lazy.sequences, field), getattr(eager.sequences, field)), (
            field
        )
    assert lazy.sequences.n_items == eager.sequences.n_items
    for field in ("user_labels", "item_labels", "titles", "categories"):
        assert getattr(lazy, field).tolist() == getattr(eager, field).tolist(), field
    assert lazy.extras["item_texts"].tolist() == eager.extras["item_texts"].tolist()
    assert (lazy.name, lazy.exclude_history) == (eager.name, eager.exclude_history)


def random_log(seed: int) -> InteractionLog:
    """Skewed users and items, few distinct seconds (ties), exact duplicates with other ratings,
    half-star ratings, and the frame in shuffled order (``row`` says the file order)."""
    rng = np.random.default_rng(seed)
    n = 400
    users = rng.zipf(1.6, n) % 40
    items = rng.zipf(1.4, n) % 60
    times = rng.integers(0, 30, n)
    copies = rng.integers(0, n, 60)  # double-logged interactions
    users, items = np.concatenate([users, users[copies]]), np.concatenate([items, items[copies]])
    times = np.concatenate([times, times[copies]])
    ratings = rng.integers(1, 11, len(users)) / 2
    rows = rng.permutation(len(users))  # the frame's order is not the file order
    frame = pl.DataFrame(
        {
            "user": [f"u{u}" for u in users],
            "item": [f"i{i}" for i in items],
            "timestamp": times.astype(np.int64),
            "weight": ratings,
            "row": rows.astype(np.int64),
        }
    )
    return InteractionLog(frame, source="random.csv")


OPTIONS = [
    CleanOptions(),
    CleanOptions(drop_duplicates=False, exclude_history=True),
    CleanOptions(min_rating=2.5, min_user_interactions=3, min_item_interactions=3),
    CleanOptions(min_user_interactions=5, min_item_interactions=4),
    CleanOptions(min_rating=3.0, drop_duplicates=False, min_user_interactions=4),
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"{o}")
def test_clean_lazy_equals_clean_on_random_logs(seed: int, options: CleanOptions) -> None:
    log = random_log(seed)
    catalog = Catalog(
        pl.DataFrame(
            {
                "item": [f"i{i}" for i in range(0, 60, 2)],  # odd items are not in the catalog
                "title": [f"Film {i}" for i in range(0, 60, 2)],
                "category": ["Drama", ""] * 15,
                "text": [f"about {i}" for i in range(0, 60, 2)],
            }
        )
    )
    assert_same(
        clean_lazy(lazy_log(log), catalog, options, name="r"), clean(log, catalog, options, "r")
    )


def test_random_logs_need_several_k_core_passes() -> None:
    """The property test above is only worth it if its k-cores take more than one pass."""
    frame = random_log(0).frame
    one_pass = frame.filter((pl.len().over("user") >= 5) & (pl.len().over("item") >= 4))
    assert k_core(frame, 5, 4).height < one_pass.height


def test_k_core_lazy_reaches_the_fixpoint_of_a_chain() -> None:
    # u4 goes -> item c falls to one -> u3 falls to one: three passes
    narrow = pl.DataFrame(
        {
            "u": [1, 1, 2, 2, 3, 3, 4],
            "i": [10, 11, 10, 11, 11, 12, 12],
            "timestamp": list(range(7)),
            "row": list(range(7)),
        }
    )
    kept = k_core_lazy(narrow, 2, 2).sort("row")
    assert kept["u"].to_list() == [1, 1, 2, 2]
    assert kept["i"].to_list() == [10, 11, 10, 11]


def test_clean_lazy_refuses_an_empty_result_like_clean() -> None:
    log = random_log(1)
    options = CleanOptions(min_user_interactions=1000)
    with pytest.raises(DataError) as eager:
        clean(log, None, options)
    with pytest.raises(DataError) as lazy:
        clean_lazy(lazy_log(log), None, options)
    assert str(lazy.value) == str(eager.value)


# ---------------------------------------------------------------------------------------------
# The lazy MovieLens CSV reader
# ---------------------------------------------------------------------------------------------
def ml_folder(tmp_path: Path, ratings: str | bytes) -> Path:
    folder = tmp_path / "ml-20m"
    folder.mkdir()
    data = ratings.encode() if isinstance(ratings, str) else ratings
    (folder / "ratings.csv").write_bytes(data)
    (folder / "movies.csv").write_text(MOVIES)
    return folder


GOOD = "1,2,3.5,1100000000\n"
BAD_FILES = {
    "missing user": HEADER + GOOD + ",2,3,100\n",
    "nan user before an empty one": HEADER + "nan,2,3,100\n,2,3,100\n",
    "NaN item": HEADER + "1,NaN,3,100\n",
    "short line": HEADER + GOOD + "1,2\n",
    "word rating": HEADER + GOOD + "1,2,five,100\n",
    "empty rating": HEADER + GOOD + "1,2,,100\n",
    "word time after a blank line": HEADER + GOOD + "\n1,3,4,abc\n",
    "nan time": HEADER + GOOD + "1,3,4,nan\n",
    "future time": HEADER + GOOD + "1,3,4,99999999999\n",
    "time before 1970": HEADER + GOOD + "1,3,4,-5\n",
    "time not a date": HEADER + GOOD + "1,3,4,1e300\n",
    "too many fields": HEADER + GOOD + "1,3,4,100,9\n",
    "open quote": HEADER + GOOD + '"1,2,3,100\n',
    "header only": HEADER,
    "empty file": "",
    "missing column": "userId,movieId,rating\n1,2,3\n",
    "repeated column": "userId,movieId,rating,rating,timestamp\n1,2,3,3,100\n",
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_lazy_reader_raises_the_eager_error(tmp_path: Path, case: str) -> None:
    folder = ml_folder(tmp_path, BAD_FILES[case])
    with pytest.raises(DataError) as eager:
        load_movielens(folder)
    with pytest.raises(DataError) as lazy:
        scan_movielens(folder)
    assert str(lazy.value) == str(eager.value)
    assert (lazy.value.path, lazy.value.row, lazy.value.field) == (
        eager.value.path,
        eager.value.row,
        eager.value.field,
    )


def test_lazy_reader_reports_bad_utf8_at_its_line(tmp_path: Path) -> None:
    folder = ml_folder(tmp_path, (HEADER + GOOD + GOOD).encode() + b"1,\xff,3,100\n")
    with pytest.raises(DataError) as eager:
        load_movielens(folder)
    with pytest.raises(DataError) as lazy:
        scan_movielens(folder)
    assert str(lazy.value) == str(eager.value)
    assert lazy.value.row == 4


def test_lazy_reader_matches_eager_rows_and_times_allowed(tmp_path: Path) -> None:
    """Blank lines, spaces, decimal seconds, ties; and allow_any_time / a forced unit."""
    text = HEADER + "1, 2 ,4.5,1100000000\n\n2,1,3,1100000000.7\n1,1,0.5,-5000\n"
    folder = ml_folder(tmp_path, text)
    for kwargs in ({"allow_any_time": True}, {"allow_any_time": True, "time_unit": "ms"}):
        result = scan_movielens(folder, **kwargs)  # type: ignore[arg-type]
        assert result is not None
        lazy = result[0].frame.collect(engine="streaming")
        eager = load_movielens(folder, **kwargs)[0].frame  # type: ignore[arg-type]
        assert lazy.to_dicts() == eager.to_dicts()


def test_iso_dated_ratings_are_left_to_the_eager_reader(tmp_path: Path) -> None:
    text = HEADER + "".join(f"{u},{i},4,2020-01-0{i}\n" for u in range(1, 6) for i in range(1, 6))
    folder = ml_folder(tmp_path, text)
    assert scan_movielens(folder) is None
    dataset = load_dataset(folder, cache_dir=tmp_path / "cache")  # read eagerly, still loads
    assert dataset.sequences.n_interactions == 25


# ---------------------------------------------------------------------------------------------
# A generated 1M-row MovieLens-20M-shaped file through both paths
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ml") / "synthetic"
    generate(folder, rows=1_000_000, seed=3)
    return folder


def test_generated_file_has_the_ml20m_shape(million: Path) -> None:
    ratings = pl.read_csv(million / "ratings.csv")
    assert ratings.columns == ["userId", "movieId", "rating", "timestamp"]
    assert ratings.height == 1_000_000
    per_user = ratings.group_by("userId").len()["len"]
    assert per_user.min() >= 20 and per_user.max() > 10 * per_user.median()  # heavy-tailed
    assert 6_000 < per_user.len() < 8_000  # ML-20M's ~144 ratings per user
    assert set(ratings["rating"].unique().to_list()) == {x / 2 for x in range(1, 11)}
    assert 3.3 < ratings["rating"].mean() < 3.7  # type: ignore[operator]
    assert ratings["timestamp"].min() >= 789_652_009 and ratings["timestamp"].max() <= LAST_SECOND
    assert ratings.equals(ratings.sort("userId", "movieId"))  # the real file's order
    assert ratings.unique(["userId", "movieId"]).height == ratings.height  # rated once
    same_second = ratings.sort("userId", "timestamp").select(
        ((pl.col("timestamp").diff() == 0) & (pl.col("userId").diff() == 0)).sum()
    )
    assert same_second.item() > 100_000  # sessions: many ties to break by file order


def test_streaming_load_equals_eager_on_a_million_rows(million: Path, tmp_path: Path) -> None:
    streamed = load_dataset(million, cache_dir=tmp_path / "cache")
    log, catalog = load_movielens(million)
    eager = clean(log, catalog, MOVIELENS_OPTIONS, name="synthetic")
    assert_same(streamed, eager)
    assert ", The (" in " ".join(eager.titles[1:50].tolist())  # quoted titles with commas
    assert_same(load_dataset(million, cache_dir=tmp_path / "cache"), eager)  # the cache hit


def test_generator_is_deterministic_per_seed(tmp_path: Path) -> None:
    paths = [generate(tmp_path / name, rows=3_000, seed=seed, chunk_rows=700) for name, seed in
             (("a", 5), ("b", 5), ("c", 6))]  # fmt: skip
    texts = [(r.read_bytes(), m.read_bytes()) for r, m in paths]
    assert texts[0] == texts[1] and texts[0] != texts[2]
    assert texts[0][0].count(b"\n") == 3_001
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["movies.csv", "ratings.csv"]
