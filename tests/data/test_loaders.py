"""Loaders: each source format on a tiny hand-written file with known rows, and every kind of bad
input, checking that the error names the file, the line and the field."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from seqrec.data.errors import DataError
from seqrec.data.loaders import (
    detect_movielens,
    guess_columns,
    load_amazon,
    load_atomic,
    load_movielens,
    load_table,
)
from seqrec.data.types import Catalog, InteractionLog


def rows(log: InteractionLog) -> list[tuple[str, str, int, float, int]]:
    return [
        tuple(r) for r in log.frame.select("user", "item", "timestamp", "weight", "row").iter_rows()
    ]


def catalog_rows(catalog: Catalog | None) -> list[tuple[str, str, str]]:
    assert catalog is not None
    return list(catalog.frame.select("item", "title", "category").iter_rows())


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def flags(*names: str) -> str:
    """The 19 ML-100K genre flags with ``names`` set."""
    genres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
              "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
              "Romance", "Sci-Fi", "Thriller", "War", "Western"]  # fmt: skip
    return "|".join("1" if g in names else "0" for g in genres)


# ---------------------------------------------------------------------------------------------
# MovieLens
# ---------------------------------------------------------------------------------------------
def make_ml100k(folder: Path) -> Path:
    write(
        folder / "u.data",
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250949\n",
    )
    write(
        folder / "u.item",
        f"242|Kolya (1996)|24-Jan-1997||http://x|{flags('Comedy')}\n"
        f"302|Misérables, Les (1995)|01-Jan-1995||http://y|{flags('Drama', 'Musical')}\n"
        f"303|No Genre (1990)|01-Jan-1990||http://z|{flags()}\n",
        encoding="latin-1",
    )
    return folder


def test_ml100k(tmp_path: Path) -> None:
    log, catalog = load_movielens(make_ml100k(tmp_path / "ml-100k"))
    assert rows(log) == [
        ("196", "242", 881250949, 3.0, 0),
        ("186", "302", 891717742, 3.0, 1),
        ("196", "302", 881250949, 5.0, 2),
    ]
    assert catalog_rows(catalog) == [
        ("242", "Kolya (1996)", "Comedy"),
        ("302", "Misérables, Les (1995)", "Drama"),  # Latin-1 decoded; first genre flag set
        ("303", "No Genre (1990)", "unknown"),
    ]


def test_ml1m_and_ml10m_dat(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    write(folder / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")
    write(
        folder / "movies.dat",
        "1193::Amélie (2001)::Comedy|Romance\n661::Heat: Part 2 (1995)::Action\n",
        "latin-1",
    )
    write(folder / "users.dat", "1::F::1::10::48067\n")
    assert detect_movielens(folder) == ("ml-1m", folder)
    log, catalog = load_movielens(folder)
    assert rows(log) == [("1", "1193", 978300760, 5.0, 0), ("1", "661", 978302109, 3.0, 1)]
    # a colon inside a title survives; the category is the first genre
    assert catalog_rows(catalog) == [
        ("1193", "Amélie (2001)", "Comedy"),
        ("661", "Heat: Part 2 (1995)", "Action"),
    ]
    (folder / "users.dat").unlink()
    write(
        folder / "movies.dat",
        "1193::Amélie (2001)::Comedy|Romance\n661::Heat (1995)::Action\n",
        "utf-8",
    )
    assert detect_movielens(folder) == ("ml-10m", folder)
    assert catalog_rows(load_movielens(folder)[1])[0] == ("1193", "Amélie (2001)", "Comedy")


def test_ml_csv_releases(tmp_path: Path) -> None:
    folder = tmp_path / "archive" / "ml-25m"  # the unzipped archive's single sub-folder is found
    write(
        folder / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n1,306,3.5,1147868817\n",
    )
    write(
        folder / "movies.csv",
        'movieId,title,genres\n296,"Pulp Fiction, The (1994)",Comedy|Crime\n306,Blue (1993),(no genres listed)\n',
    )
    assert detect_movielens(tmp_path / "archive") == ("ml-csv", folder)
    log, catalog = load_movielens(tmp_path / "archive")
    assert rows(log) == [("1", "296", 1147880044, 5.0, 0), ("1", "306", 1147868817, 3.5, 1)]
    assert catalog_rows(catalog) == [
        ("296", "Pulp Fiction, The (1994)", "Comedy"),
        ("306", "Blue (1993)", "unknown"),
    ]


def test_not_movielens(tmp_path: Path) -> None:
    write(tmp_path / "a" / "x.txt", "x")
    write(tmp_path / "b" / "y.txt", "y")
    with pytest.raises(DataError, match="no MovieLens files"):
        load_movielens(tmp_path)


# ---------------------------------------------------------------------------------------------
# RecBole atomic files
# ---------------------------------------------------------------------------------------------
def test_atomic_inter_and_item(tmp_path: Path) -> None:
    write(
        tmp_path / "ml-100k.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n22\t377\t1\t878887116.7\n",
    )
    write(
        tmp_path / "ml-100k.item",
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "242\tKolya\t1996\tComedy\n377\tHeavyweights\t1994\tChildren's Comedy\n",
    )
    for where in (tmp_path, tmp_path / "ml-100k.inter"):
        log, catalog = load_atomic(where)
        assert rows(log) == [("196", "242", 881250949, 3.0, 0), ("22", "377", 878887116, 1.0, 1)]
        assert catalog_rows(catalog) == [
            ("242", "Kolya (1996)", "Comedy"),
            ("377", "Heavyweights (1994)", "Children's"),
        ]
    (tmp_path / "ml-100k.item").unlink()
    assert load_atomic(tmp_path)[1] is None


def test_atomic_header_without_types(tmp_path: Path) -> None:
    path = write(tmp_path / "x.inter", "user_id\titem_id\ttimestamp\n1\t2\t3\n")
    with pytest.raises(DataError) as caught:
        load_atomic(path)
    assert (caught.value.row, caught.value.field) == (1, "user_id")
    assert str(caught.value).startswith("x.inter, row 1, field 'user_id': header field lacks")


# ---------------------------------------------------------------------------------------------
# Amazon reviews
# ---------------------------------------------------------------------------------------------
def test_amazon_2014_with_python_literal_meta(tmp_path: Path) -> None:
    reviews = write(
        tmp_path / "reviews_Books_5.json",
        json.dumps({"reviewerID": "A1", "asin": "B01", "overall": 5.0, "unixReviewTime": 1400000000}) + "\n\n"
        + json.dumps({"reviewerID": "A2", "asin": "B02", "overall": 2.0, "unixReviewTime": 1400000100}) + "\n",
    )  # fmt: skip
    meta = write(
        tmp_path / "meta_Books.json",
        "{'asin': 'B01', 'title': 'Dune', 'categories': [['Books', 'Science Fiction']]}\n"
        "{'asin': 'B99', 'title': 'Not reviewed'}\n",
    )
    log, catalog = load_amazon(reviews, meta)
    assert rows(log) == [("A1", "B01", 1400000000, 5.0, 0), ("A2", "B02", 1400000100, 2.0, 1)]
    assert catalog_rows(catalog) == [("B01", "Dune", "Books")]  # only reviewed items are kept


def test_amazon_2023_gzip_milliseconds(tmp_path: Path) -> None:
    reviews = tmp_path / "Toys.jsonl.gz"
    records = [
        {
            "user_id": "U1",
            "asin": "C1",
            "parent_asin": "P1",
            "rating": 4.0,
            "timestamp": 1588687728923,
        },
        {
            "user_id": "U1",
            "asin": "C2",
            "parent_asin": "P2",
            "rating": 1.0,
            "timestamp": 1588687729000,
        },
    ]
    reviews.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode()))
    meta = write(
        tmp_path / "meta_Toys.jsonl",
        json.dumps({"parent_asin": "P1", "title": "Robot", "main_category": "Toys"}) + "\n",
    )
    log, catalog = load_amazon(reviews, meta)
    # milliseconds floored to seconds; parent_asin is the item
    assert rows(log) == [("U1", "P1", 1588687728, 4.0, 0), ("U1", "P2", 1588687729, 1.0, 1)]
    assert catalog_rows(catalog) == [("P1", "Robot", "Toys")]


def test_amazon_cut_json_line(tmp_path: Path) -> None:
    good = json.dumps({"reviewerID": "A1", "asin": "B01", "overall": 5.0, "unixReviewTime": 1})
    path = write(tmp_path / "r.json", good + "\n" + good + "\n" + good[:25])
    with pytest.raises(DataError) as caught:
        load_amazon(path)
    assert str(caught.value) == "r.json, row 3: the JSON record is cut short"


def test_amazon_cut_gzip(tmp_path: Path) -> None:
    lines = "".join(
        json.dumps(
            {
                "reviewerID": f"A{i}",
                "asin": f"B{i * 7919 % 1000}",
                "overall": 5.0,
                "unixReviewTime": i,
            }
        )
        + "\n"
        for i in range(200)
    )
    whole = gzip.compress(lines.encode())
    path = tmp_path / "r.json.gz"
    path.write_bytes(whole[:-4])  # every line is there, the stream's trailer is not
    with pytest.raises(DataError) as caught:
        load_amazon(path)
    assert (
        str(caught.value)
        == "r.json.gz, row 201: the gzip stream is cut short (no end-of-stream marker)"
    )
    path.write_bytes(whole[: len(whole) // 2])  # cut mid-record: the record's own line is named
    with pytest.raises(
        DataError, match=r"r\.json\.gz, row \d+: (the JSON record is cut short|the gzip stream)"
    ):
        load_amazon(path)


def test_amazon_missing_key(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.json",
        json.dumps({"reviewerID": "A1", "asin": "B01", "overall": 5.0, "unixReviewTime": 1}) + "\n"
        + json.dumps({"reviewerID": "A1", "asin": "B01", "overall": 5.0}) + "\n",
    )  # fmt: skip
    with pytest.raises(DataError) as caught:
        load_amazon(path)
    assert str(caught.value) == "r.json, row 2, field 'unixReviewTime': missing key"


# ---------------------------------------------------------------------------------------------
# Generic tables
# ---------------------------------------------------------------------------------------------
def test_csv_with_iso_dates_and_catalog(tmp_path: Path) -> None:
    path = write(
        tmp_path / "log.csv",
        "who,what,when,name,kind\nu1,i1,2020-01-02,Mat,cat\nu2,i2,2020-01-02T01:00:00,Fountain,\nu1,i2,2020-01-03 00:00:00+01:00,,\n",
    )
    columns = {
        "user": "who",
        "item": "what",
        "timestamp": "when",
        "title": "name",
        "category": "kind",
    }
    log, catalog = load_table(path, columns)
    day = 1577923200  # 2020-01-02T00:00:00Z
    assert rows(log) == [
        ("u1", "i1", day, 1.0, 0),
        ("u2", "i2", day + 3600, 1.0, 1),
        ("u1", "i2", day + 23 * 3600, 1.0, 2),
    ]
    assert catalog_rows(catalog) == [("i1", "Mat", "cat"), ("i2", "Fountain", "unknown")]


def test_tsv_float_epochs_and_txt_with_format(tmp_path: Path) -> None:
    tsv = write(tmp_path / "log.tsv", "user\titem\tts\trating\n7\t9\t100.9\t4\n")
    assert rows(
        load_table(tsv, {"user": "user", "item": "item", "timestamp": "ts", "weight": "rating"})[0]
    ) == [("7", "9", 100, 4.0, 0)]
    txt = write(tmp_path / "log.txt", "u;i;d\na;b;02/01/1970\n")
    log, _ = load_table(
        txt, {"user": "u", "item": "i", "timestamp": "d"}, sep=";", timestamp_format="%d/%m/%Y"
    )
    assert rows(log) == [("a", "b", 86400, 1.0, 0)]  # day-first: 2 January 1970


def test_parquet_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pl.DataFrame(
        {
            "user_id": [1.0, 2.0],  # ids that went through pandas as floats
            "item_id": [10, 11],
            "time": pl.Series(["1970-01-01 00:01:00", "1970-01-02 00:00:00"]).str.to_datetime(),
        }
    ).write_parquet(path)
    assert guess_columns(path) == {"user": "user_id", "item": "item_id", "timestamp": "time"}
    log, catalog = load_table(path, guess_columns(path))
    assert rows(log) == [("1", "10", 60, 1.0, 0), ("2", "11", 86400, 1.0, 1)]
    assert catalog is None


def test_epoch_milliseconds_unit(tmp_path: Path) -> None:
    path = write(tmp_path / "log.csv", "user,item,timestamp\na,b,1999\n")
    log, _ = load_table(
        path, {"user": "user", "item": "item", "timestamp": "timestamp"}, timestamp_unit="ms"
    )
    assert log.frame["timestamp"].to_list() == [1]


# ---------------------------------------------------------------------------------------------
# Bad input: the message names file, row (line number) and field
# ---------------------------------------------------------------------------------------------
COLUMNS = {"user": "userId", "item": "movieId", "timestamp": "timestamp", "weight": "rating"}
HEADER = "userId,movieId,rating,timestamp\n"


def table_error(tmp_path: Path, name: str, text: str, **kwargs: str) -> DataError:
    path = write(tmp_path / name, text)
    with pytest.raises(DataError) as caught:
        load_table(path, COLUMNS, **kwargs)
    return caught.value


def test_unparsable_timestamp_names_file_row_field(tmp_path: Path) -> None:
    error = table_error(tmp_path, "ratings.csv", HEADER + "1,2,3,100\n1,3,4,abc\n")
    assert str(error) == "ratings.csv, row 3, field 'timestamp': cannot parse 'abc' as a time"
    assert (error.path, error.row, error.field) == (tmp_path / "ratings.csv", 3, "timestamp")


def test_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    error = table_error(tmp_path, "ratings.csv", HEADER + "1,2,3,100\n\n1,3,4,2020-99-99\n")
    assert (error.row, error.field) == (4, "timestamp")


def test_iso_date_then_garbage(tmp_path: Path) -> None:
    error = table_error(tmp_path, "ratings.csv", HEADER + "1,2,3,2020-01-01\n1,3,4,yesterday\n")
    assert str(error) == "ratings.csv, row 3, field 'timestamp': cannot parse 'yesterday' as a time"


def test_non_iso_date_needs_a_format(tmp_path: Path) -> None:
    error = table_error(tmp_path, "ratings.csv", HEADER + "1,2,3,01/02/2020\n")
    assert (error.row, error.field) == (2, "timestamp")
    assert "pass timestamp_format" in str(error)


def test_missing_column(tmp_path: Path) -> None:
    error = table_error(tmp_path, "ratings.csv", "userId,movieId,rating\n1,2,3\n")
    assert (
        str(error)
        == "ratings.csv, field 'timestamp': no such column (columns: userId, movieId, rating)"
    )


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    assert str(table_error(tmp_path, "empty.csv", "")) == "empty.csv: the file is empty"
    assert (
        str(table_error(tmp_path, "header.csv", HEADER)) == "header.csv: the file has no data rows"
    )


def test_short_line_is_reported_as_cut(tmp_path: Path) -> None:
    error = table_error(tmp_path, "ratings.csv", HEADER + "1,2,3,100\n1,2\n")
    assert (
        str(error)
        == "ratings.csv, row 3, field 'timestamp': the line has 2 of 4 fields (file cut short?)"
    )


def test_cut_ml100k_line(tmp_path: Path) -> None:
    folder = make_ml100k(tmp_path)
    write(folder / "u.data", "196\t242\t3\t881250949\n186\t302\t3\n")
    with pytest.raises(DataError) as caught:
        load_movielens(folder)
    assert (
        str(caught.value)
        == "u.data, row 2, field 'timestamp': the line has 3 of 4 fields (file cut short?)"
    )


def test_long_line(tmp_path: Path) -> None:
    folder = tmp_path / "ml-1m"
    write(folder / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109::9\n")
    with pytest.raises(DataError) as caught:
        load_movielens(folder)
    assert (caught.value.path, caught.value.row) == (folder / "ratings.dat", 2)
    assert "5 fields, expected 4" in str(caught.value)


def test_unterminated_quote(tmp_path: Path) -> None:
    error = table_error(tmp_path, "ratings.csv", HEADER + '1,2,3,100\n"1,2,3,100\n')
    assert (error.row, "cut short?" in str(error)) == (3, True)


def test_empty_and_nan_ids(tmp_path: Path) -> None:
    error = table_error(tmp_path, "ratings.csv", HEADER + "1,2,3,100\n,2,3,100\n")
    assert str(error) == "ratings.csv, row 3, field 'userId': missing user id"
    error = table_error(tmp_path, "ratings.csv", HEADER + "1,NaN,3,100\n")
    assert str(error) == "ratings.csv, row 2, field 'movieId': missing item id (NaN)"
    path = tmp_path / "log.parquet"
    pl.DataFrame(
        {"userId": [1.0, float("nan")], "movieId": [1, 2], "timestamp": [1, 2], "rating": [1, 2]}
    ).write_parquet(path)
    with pytest.raises(DataError) as caught:
        load_table(path, COLUMNS)
    assert str(caught.value) == "log.parquet, row 2, field 'userId': missing user id (NaN)"


def test_bad_rating(tmp_path: Path) -> None:
    error = table_error(tmp_path, "ratings.csv", HEADER + "1,2,five,100\n")
    assert str(error) == "ratings.csv, row 2, field 'rating': cannot parse 'five' as a number"


def test_unknown_extension_and_txt_without_sep(tmp_path: Path) -> None:
    assert "unknown table format '.xlsx'" in str(table_error(tmp_path, "ratings.xlsx", HEADER))
    assert (
        str(table_error(tmp_path, "ratings.txt", HEADER))
        == "ratings.txt: a .txt table needs sep (the field separator)"
    )


def test_not_parquet(tmp_path: Path) -> None:
    error = table_error(tmp_path, "log.parquet", "PAR1 not really")
    assert str(error).startswith("log.parquet: not a readable Parquet file")
