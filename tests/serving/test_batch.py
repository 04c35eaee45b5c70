"""History files in, recommendation tables out (what ``seqrec recommend`` reads and writes)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from seqrec.data.errors import DataError
from seqrec.serving.batch import output_format, read_histories


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_one_history_is_ordered_by_time_then_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "h.csv", "item,timestamp\nb,2025-03-05\na,2025-03-01T10:00:00\nc,1741600000\nd,2025-03-05\n")
    histories = read_histories(path, per_user=False)
    assert histories.items == [["a", "b", "d", "c"]]
    assert histories.timestamps is not None and histories.timestamps[0][0] == 1740823200


def test_users_keep_the_order_of_their_first_row(tmp_path: Path) -> None:
    frame = pl.DataFrame({"user": ["u2", "u1", "u2"], "item": ["x", "y", "z"]})
    frame.write_parquet(tmp_path / "users.parquet")
    histories = read_histories(tmp_path / "users.parquet", per_user=True)
    assert histories.users == ["u2", "u1"] and histories.items == [["x", "z"], ["y"]]
    assert histories.timestamps is None


@pytest.mark.parametrize(
    ("text", "per_user", "message"),
    [
        ("title\nx\n", False, "h.csv: no 'item' column (found title)"),
        ("item\nx\n", True, "h.csv: no 'user' column"),
        ("item\n", False, "h.csv: no rows"),
        ("item,timestamp\nx,1\ny,yesterday\n", False, "h.csv, row 3, field 'timestamp': cannot parse 'yesterday' as a time"),
        ("user,item\nu1,x\nu1,\n", True, "h.csv, row 3, field 'item': empty value"),
        ("user,item\nu1,x\nu2,y\n", False, "field 'user': the 'user' column names 2 users: use --users"),
    ],
)
def test_bad_files_name_the_file_row_and_field(tmp_path: Path, text: str, per_user: bool, message: str) -> None:
    with pytest.raises(DataError) as raised:
        read_histories(_write(tmp_path / "h.csv", text), per_user=per_user)
    assert message in str(raised.value)


def test_a_missing_or_unknown_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_histories(tmp_path / "none.csv", per_user=False)
    with pytest.raises(DataError, match="unknown format '.json'"):
        read_histories(_write(tmp_path / "h.json", json.dumps([])), per_user=False)


def test_the_output_format() -> None:
    assert output_format(None, None) == "table"
    assert output_format(None, Path("r.parquet")) == "parquet"
    assert output_format("json", Path("r.txt")) == "json"
    for chosen, out, message in [
        ("table", Path("r.csv"), "prints to the terminal"),
        ("parquet", None, "needs --out"),
        ("xml", None, "unknown output format 'xml'"),
        (None, Path("r.txt"), "the name r.txt: unknown output format 'txt'"),
    ]:
        with pytest.raises(ValueError, match=message):
            output_format(chosen, out)
