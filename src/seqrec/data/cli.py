"""``seqrec data``: fetch, describe, export and prepare datasets, and make MovieLens-shaped test
files. Thin: parse, call the library, print.

Bad input (a :class:`DataError`, or any error :class:`UserErrors` lists) or a failed fetch prints
``error: <message>`` to stderr and exits with code 2; progress notes (e.g. which copy of ML-100K
was used) go to stderr too, so stdout carries only the result (a path, a table).
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from seqrec.data.datasets import dataset_info, export_dataset, load_dataset, prepare_dataset
from seqrec.data.errors import DataError, FetchError
from seqrec.data.fetch import fetch
from seqrec.data.types import Dataset


class UserErrors(TyperGroup):
    """A command group with the one error path of the ``seqrec`` commands.

    An error the library raises for bad input (``user_errors``) becomes one line,
    ``error: <message>``, on stderr and exit code 2: no traceback, never wrapped to the terminal's
    width (so it stays greppable). ``seqrec.cli`` adds the model layer's errors. Set
    ``SEQREC_DEBUG=1`` to get the traceback instead.
    """

    user_errors: ClassVar[tuple[type[Exception], ...]] = (DataError, FetchError, ValueError, KeyError, OSError)

    def invoke(self, ctx: Any) -> Any:  # a typer (vendored click) Context
        try:
            return super().invoke(ctx)
        except self.user_errors as error:
            if os.environ.get("SEQREC_DEBUG"):
                raise
            typer.echo(f"{typer.style('error:', fg='red')} {_message(error)}", err=True)
            raise typer.Exit(code=2) from None


def _message(error: Exception) -> str:
    # str(KeyError("x")) is "'x'": the message is the argument itself.
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


data_app = typer.Typer(
    cls=UserErrors,
    help="Fetch, describe and export datasets (MovieLens, RecBole atomic files, Amazon reviews, "
    "CSV/Parquet tables, the synthetic shop).",
    no_args_is_help=True,
)

NameArgument = Annotated[
    str, typer.Argument(help="ml-100k, shop, shop:SIZE, or a path to a dataset file or folder.")
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Cache folder (default: $SEQREC_CACHE or ~/.cache/seqrec)."),
]
TimeUnitOption = Annotated[
    str,
    typer.Option(
        "--time-unit",
        help="Unit of numeric timestamps: s, ms, us, ns, or auto (the format's own unit; for "
        "tables and atomic files, by the median |timestamp|: < 1e11 s, < 1e14 ms, < 1e17 us, "
        "else ns).",
    ),
]
AllowAnyTimeOption = Annotated[
    bool,
    typer.Option(
        "--allow-any-time", help="Keep times before 1970-01-01 or more than a day in the future."
    ),
]
EncodingOption = Annotated[
    str, typer.Option("--encoding", help="Text encoding of CSV/TSV tables and atomic files.")
]

_INFO_ROWS = (
    ("users", "users"),
    ("items", "items"),
    ("interactions", "interactions"),
    ("density", "density"),
    ("length_min", "sequence length min"),
    ("length_p5", "sequence length p5"),
    ("length_p25", "sequence length p25"),
    ("length_p50", "sequence length median"),
    ("length_p75", "sequence length p75"),
    ("length_p95", "sequence length p95"),
    ("length_max", "sequence length max"),
    ("length_mean", "sequence length mean"),
    ("first", "first interaction"),
    ("last", "last interaction"),
    ("span_days", "time span (days)"),
    ("exclude_history", "exclude seen items"),
)


def _note(message: str) -> None:
    typer.echo(message, err=True)


@data_app.command("fetch")
def fetch_command(name: NameArgument = "ml-100k", cache_dir: CacheDirOption = None) -> None:
    """Download a dataset into the cache (verified) and print the folder it is in."""
    folder = fetch(name, cache_dir, report=_note)
    typer.echo(str(folder))


def _load(
    name: str, cache_dir: Path | None, time_unit: str, allow_any_time: bool, encoding: str
) -> Dataset:
    return load_dataset(
        name,
        cache_dir,
        report=_note,
        time_unit=time_unit,
        allow_any_time=allow_any_time,
        encoding=encoding,
    )


@data_app.command("info")
def info_command(
    name: NameArgument,
    cache_dir: CacheDirOption = None,
    time_unit: TimeUnitOption = "auto",
    allow_any_time: AllowAnyTimeOption = False,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Print a dataset's size, density, sequence lengths and time span."""
    info = dataset_info(_load(name, cache_dir, time_unit, allow_any_time, encoding))
    table = Table(title=f"dataset {info['name']}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, label in _INFO_ROWS:
        if key in info:
            table.add_row(label, _format(info[key]))
    Console().print(table)


@data_app.command("export")
def export_command(
    name: NameArgument,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for interactions.csv and catalog.csv.")
    ],
    cache_dir: CacheDirOption = None,
    time_unit: TimeUnitOption = "auto",
    allow_any_time: AllowAnyTimeOption = False,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Write the cleaned dataset as interactions.csv and catalog.csv (original ids)."""
    dataset = _load(name, cache_dir, time_unit, allow_any_time, encoding)
    interactions, catalog = export_dataset(dataset, out)
    typer.echo(f"wrote {interactions} and {catalog}")


class Engine(str, Enum):
    """What ``seqrec data prepare`` cleans on."""

    polars = "polars"
    spark = "spark"


@data_app.command("prepare")
def prepare_command(
    name: NameArgument,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the prepared dataset to.")],
    engine: Annotated[
        Engine, typer.Option("--engine", help="polars (streaming) or spark (the spark extra).")
    ] = Engine.polars,
    min_rating: Annotated[
        float | None, typer.Option("--min-rating", help="Drop ratings below this.")
    ] = None,
    min_user_interactions: Annotated[
        int | None,
        typer.Option(
            "--min-user-interactions",
            help="k-core: users need this many interactions (default: 5 for MovieLens and "
            "Amazon, 1 otherwise).",
        ),
    ] = None,
    min_item_interactions: Annotated[
        int | None,
        typer.Option(
            "--min-item-interactions", help="k-core: items need this many interactions."
        ),
    ] = None,
    keep_duplicates: Annotated[
        bool,
        typer.Option(
            "--keep-duplicates", help="Keep repeated (user, item, timestamp) interactions."
        ),
    ] = False,
    exclude_history: Annotated[
        bool | None,
        typer.Option(
            "--exclude-history/--include-history",
            help="Whether recommendations leave out items already seen (default: yes for "
            "MovieLens and Amazon, no otherwise).",
        ),
    ] = None,
    cache_dir: CacheDirOption = None,
    time_unit: TimeUnitOption = "auto",
    allow_any_time: AllowAnyTimeOption = False,
    encoding: EncodingOption = "utf-8",
) -> None:
    """Clean a dataset once into a folder that load_dataset (and every command) reads as it is."""
    chosen = {
        "min_rating": min_rating,
        "min_user_interactions": min_user_interactions,
        "min_item_interactions": min_item_interactions,
        "drop_duplicates": False if keep_duplicates else None,
        "exclude_history": exclude_history,
    }
    folder = prepare_dataset(
        name,
        out,
        engine=engine.value,
        overrides={key: value for key, value in chosen.items() if value is not None},
        cache_dir=cache_dir,
        report=_note,
        time_unit=time_unit,
        allow_any_time=allow_any_time,
        encoding=encoding,
    )
    typer.echo(str(folder))


@data_app.command("make-movielens")
def make_movielens_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for ratings.csv and movies.csv.")],
    rows: Annotated[
        int, typer.Option("--rows", min=20, help="Ratings to write (ML-20M has 20,000,263).")
    ] = 20_000_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same files.")] = 0,
) -> None:
    """Write made-up MovieLens-20M-shaped ratings.csv and movies.csv (for tests at size)."""
    from seqrec.data.synthetic_movielens import generate

    ratings, _ = generate(out, rows=rows, seed=seed)
    typer.echo(str(ratings.parent))


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if value < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
