"""load_dataset (names, paths, caching, defaults), dataset_info, export_dataset and the CLI."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqrec.data import datasets as datasets_module
from seqrec.data.cleaning import CleanOptions, clean
from seqrec.data.cli import data_app
from seqrec.data.datasets import dataset_info, export_dataset, load_dataset
from seqrec.data.errors import DataError
from seqrec.data.types import Catalog, Dataset, InteractionLog, SequenceData

DAY = 86_400


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def label_sequences(ds: Dataset) -> dict[str, list[str]]:
    return {
        str(ds.user_labels[u]): [str(ds.item_labels[i]) for i in ds.sequences.sequence(u)]
        for u in range(ds.n_users)
    }


def ratings_csv(folder: Path) -> Path:
    return write(
        folder / "ratings.csv",
        "user_id,item_id,rating,timestamp\nu1,a,5,100\nu1,b,4,200\nu2,a,3,150\nu2,c,2,150\nu1,c,1,300\n",
    )


def atomic_ml100k(folder: Path) -> Path:
    """Five users who rated items 1-5, and a sixth with one rating (dropped by the 5-core)."""
    lines = [f"{u}\t{i}\t4\t{1000 * u + i}" for u in range(1, 6) for i in range(1, 6)] + [
        "6\t9\t4\t1"
    ]
    write(
        folder / "ml-100k.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "\n".join(lines) + "\n",
    )
    return folder


# ---------------------------------------------------------------------------------------------
# load_dataset
# ---------------------------------------------------------------------------------------------
def test_table_path_is_cleaned_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ratings_csv(tmp_path / "data")
    calls: list[CleanOptions] = []

    def counting_clean(
        log: InteractionLog, catalog: Catalog | None, options: CleanOptions, name: str
    ) -> Dataset:
        calls.append(options)
        return clean(log, catalog, options, name=name)

    monkeypatch.setattr(datasets_module, "clean", counting_clean)
    first = load_dataset(path, cache_dir=tmp_path / "cache")
    second = load_dataset(str(path), cache_dir=tmp_path / "cache")
    assert len(calls) == 1 and calls[0] == CleanOptions()  # generic files: no filtering
    # u2's two ratings at 150 keep file order (a then c)
    assert (
        label_sequences(first)
        == label_sequences(second)
        == {"u1": ["a", "b", "c"], "u2": ["a", "c"]}
    )
    assert (first.name, first.exclude_history) == ("ratings", False)
    load_dataset(path, cache_dir=tmp_path / "cache", options=CleanOptions(min_rating=3))
    assert len(calls) == 2  # other options, other entry


def test_ml100k_name_uses_fetch_and_movielens_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = atomic_ml100k(tmp_path / "fetched")
    seen: list[str] = []

    def fake_fetch(name: str, cache_dir: Path, report: object = None) -> Path:
        seen.append(name)
        return folder

    monkeypatch.setattr(datasets_module, "fetch", fake_fetch)
    ds = load_dataset("ml-100k", cache_dir=tmp_path / "cache")
    assert seen == ["ml-100k"]
    assert (ds.name, ds.exclude_history, ds.n_users, ds.n_items, ds.sequences.n_interactions) == (
        "ml-100k",
        True,
        5,
        5,
        25,
    )


def test_shop_is_delegated_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, int]] = []
    sentinel = clean_tiny()

    def shop_of_size(size: str = "default", seed: int = 0, **_: object) -> Dataset:
        made.append((size, seed))
        return sentinel

    fake = types.ModuleType("seqrec.data.shop_parts")
    fake.shop_of_size = shop_of_size  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "seqrec.data.shop_parts", fake)
    assert load_dataset("shop") is sentinel and load_dataset("shop:small") is sentinel
    assert made == [("default", 0), ("small", 0)]
    with pytest.raises(ValueError, match="do not apply to the synthetic shop"):
        load_dataset("shop", options=CleanOptions())


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad.csv",
            "user,item,timestamp\nu,i,1\nu,j,abc\n",
            "bad.csv, row 3, field 'timestamp': cannot parse 'abc' as a time",
        ),
        (
            "nocol.csv",
            "user,item\nu,i\n",
            "nocol.csv: cannot tell which column holds the timestamp (columns: user, item)",
        ),
        ("empty.tsv", "", "empty.tsv: the file is empty"),
        (
            "cut.csv",
            "user,item,timestamp\nu,i,1\nu,j\n",
            "cut.csv, row 3, field 'timestamp': the line has 2 of 3 fields",
        ),
        (
            "noid.csv",
            "user,item,timestamp\nu,,1\n",
            "noid.csv, row 2, field 'item': missing item id",
        ),
        ("x.xlsx", "whatever", "x.xlsx: unknown format"),
    ],
)
def test_bad_files_leave_the_cache_empty(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(DataError) as caught:
        load_dataset(path, cache_dir=tmp_path / "cache")
    assert str(caught.value).startswith(message)
    assert not (tmp_path / "cache").exists() or files_under(tmp_path / "cache") == []


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match="ml-7k: no such file or directory, and not a known dataset name"
    ):
        load_dataset("ml-7k", cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------
# info and export
# ---------------------------------------------------------------------------------------------
def clean_tiny() -> Dataset:
    """Four users with 1, 2, 3 and 4 interactions over 3 items, spanning exactly 10 days."""
    sequences = SequenceData.from_lists(
        [[1], [1, 2], [2, 3, 1], [3, 3, 2, 1]],
        n_items=3,
        timestamps=[[0], [DAY, 2 * DAY], [0, DAY, 10 * DAY], [3 * DAY, 3 * DAY, 4 * DAY, 5 * DAY]],
    )
    return Dataset(
        name="tiny",
        sequences=sequences,
        user_labels=np.array(["w", "x", "y", "z"], dtype=object),
        item_labels=np.array(["<pad>", "i1", "i2", "i3"], dtype=object),
        titles=np.array(["<pad>", "One, the first", "Two", "Three"], dtype=object),
        categories=np.array(["<pad>", "c", "c", "unknown"], dtype=object),
        exclude_history=False,
    )


def test_dataset_info_by_hand() -> None:
    info = dataset_info(clean_tiny())
    assert (info["users"], info["items"], info["interactions"]) == (4, 3, 10)
    assert info["density"] == pytest.approx(10 / 12)
    # lengths 1,2,3,4: linear percentiles p5 = 1.15, p25 = 1.75, p50 = 2.5, p75 = 3.25, p95 = 3.85
    assert [info[f"length_p{p}"] for p in (5, 25, 50, 75, 95)] == pytest.approx(
        [1.15, 1.75, 2.5, 3.25, 3.85]
    )
    assert (info["length_min"], info["length_max"], info["length_mean"]) == (1, 4, 2.5)
    assert (info["first"], info["last"], info["span_days"]) == ("1970-01-01", "1970-01-11", 10.0)


def test_export_then_load_round_trip(tmp_path: Path) -> None:
    ds = clean_tiny()
    interactions, catalog = export_dataset(ds, tmp_path / "out")
    lines = interactions.read_text().splitlines()
    assert lines[:4] == [
        "user,item,timestamp",
        "w,i1,0",
        "y,i2,0",
        f"x,i1,{DAY}",
    ]  # time order, ties user-major
    assert len(lines) == 11
    assert catalog.read_text().splitlines() == [
        "item,title,category",
        'i1,"One, the first",c',
        "i2,Two,c",
        "i3,Three,unknown",
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "catalog.csv",
        "interactions.csv",
    ]
    back = load_dataset(
        tmp_path / "out", cache_dir=tmp_path / "cache", options=CleanOptions(drop_duplicates=False)
    )
    assert label_sequences(back) == label_sequences(ds)
    assert dict(zip(back.item_labels, back.titles)) == dict(zip(ds.item_labels, ds.titles))


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def test_cli_info_and_export(tmp_path: Path) -> None:
    path = ratings_csv(tmp_path / "data")
    runner = CliRunner()
    result = runner.invoke(data_app, ["info", str(path), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.stderr
    assert (
        "interactions" in result.stdout and "5" in result.stdout and "1970-01-01" in result.stdout
    )
    result = runner.invoke(
        data_app,
        [
            "export",
            str(path),
            "--out",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "interactions.csv").read_text().splitlines()[1] == "u1,a,100"


def test_cli_bad_input_exits_2_naming_file_row_field(tmp_path: Path) -> None:
    path = write(tmp_path / "ratings.csv", "user,item,timestamp\nu,i,1\nu,j,abc\n")
    result = CliRunner().invoke(
        data_app, ["info", str(path), "--cache-dir", str(tmp_path / "cache")]
    )
    assert result.exit_code == 2
    assert (
        result.stderr
        == "error: ratings.csv, row 3, field 'timestamp': cannot parse 'abc' as a time\n"
    )
    assert result.stdout == ""


def test_cli_fetch_reports_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqrec.data import cli as cli_module

    def fake_fetch(name: str, cache_dir: Path | None, report: Callable[[str], None]) -> Path:
        report(
            "GroupLens download failed (offline); used the copy shipped in RecBole 1.2.1's wheel"
        )
        return tmp_path / "raw" / name

    monkeypatch.setattr(cli_module, "fetch", fake_fetch)
    result = CliRunner().invoke(data_app, ["fetch", "ml-100k", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stdout == f"{tmp_path / 'raw' / 'ml-100k'}\n"
    assert "RecBole 1.2.1's wheel" in result.stderr
    monkeypatch.undo()  # the real fetch refuses an unknown name before any download
    result = CliRunner().invoke(data_app, ["fetch", "ml-7k", "--cache-dir", str(tmp_path)])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: unknown dataset 'ml-7k'; known: ml-100k, ml-1m, ml-10m, ml-20m, ml-25m\n",
    )


def test_exported_folder_with_a_bad_catalog(tmp_path: Path) -> None:
    export_dataset(clean_tiny(), tmp_path / "out")
    write(tmp_path / "out" / "catalog.csv", "item,name\ni1,One\n")
    with pytest.raises(DataError) as caught:
        load_dataset(tmp_path / "out", cache_dir=tmp_path / "cache")
    assert str(caught.value) == "catalog.csv, field 'title': no such column (columns: item, name)"
    assert not (tmp_path / "cache").exists() or files_under(tmp_path / "cache") == []
