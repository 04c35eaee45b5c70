"""Histories from files in, recommendation tables out: what ``seqrec recommend`` reads and writes.

A history file (``--history``) is a CSV/TSV/Parquet table with an ``item`` column (original item
ids or exact titles) and an optional ``timestamp`` (epoch seconds or an ISO date/time); a users
file (``--users``) adds a ``user`` column and holds one history per user. Rows are ordered by
(timestamp, row) within each history, users keep the order of their first row. Problems are
:class:`~seqrec.data.errors.DataError` s naming the file, row and field.

Results are written as JSON (one object per history: its ranked items and the entries that matched
no item), or as a CSV/Parquet table with one row per recommended item (``user``, ``rank``,
``item``, ``title``, ``category``, ``score``), through a temporary file and a rename.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from seqrec.data.errors import DataError
from seqrec.data.types import Dataset
from seqrec.experiment import replace_atomically
from seqrec.serving.inference import Predictor, RecommendationList

OutputFormat = Literal["table", "json", "csv", "parquet"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("table", "json", "csv", "parquet")
TABLE_COLUMNS = ("rank", "item", "title", "category", "score")
CHUNK = 256
"""Histories recommended for at once (the progress callback is called after each chunk)."""


@dataclass(frozen=True)
class Histories:
    """Histories read from a file: one per user (``users``), items as the file gives them."""

    users: list[str]
    items: list[list[str]]
    timestamps: list[list[int]] | None
    """Seconds, aligned with ``items``; ``None`` when the file has no timestamp column."""

    def __len__(self) -> int:
        return len(self.users)


def dataset_histories(dataset: Dataset, users: Sequence[str], fingerprint: str | None = None) -> Histories:
    """The whole histories of known ``users`` (original user ids) in ``dataset``, as ``--user`` reads them.

    ``fingerprint``: the artifact's training data; the dataset must be that data (its full
    sequences, or the training part of their leave-one-out split for a ``--holdout`` model), so a
    user id is never looked up in another dataset that happens to share the name.
    """
    from seqrec.data.splits import leave_one_out

    if fingerprint is not None and fingerprint not in (dataset.sequences.fingerprint(), _loo_fingerprint(dataset, leave_one_out)):
        raise DataError(
            dataset.name,
            f"is not the data the model was trained on (fingerprint {fingerprint[:12]} in the artifact, "
            f"{dataset.sequences.fingerprint()[:12]} here): pass the training dataset with --dataset",
        )
    rows = {str(label): row for row, label in enumerate(dataset.user_labels)}
    unknown = [user for user in users if user not in rows]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise DataError(dataset.name, f"no user {shown} in this dataset ({dataset.n_users} users)", field="user")
    picked = [rows[user] for user in users]
    return Histories(
        users=list(users),
        items=[[str(dataset.item_labels[i]) for i in dataset.sequences.sequence(row)] for row in picked],
        timestamps=[[int(t) for t in dataset.sequences.sequence_timestamps(row)] for row in picked],
    )


def _loo_fingerprint(dataset: Dataset, leave_one_out: Any) -> str | None:
    try:
        return str(leave_one_out(dataset.sequences).train.fingerprint())
    except ValueError:  # no user can be evaluated: the model cannot have been trained on this split
        return None


def read_histories(path: str | Path, per_user: bool) -> Histories:
    """The histories in a CSV/TSV/Parquet file (see the module docstring).

    ``per_user``: the file must have a ``user`` column (``--users``); otherwise it is one history
    and a ``user`` column naming several users is an error (``--history``).
    """
    path = Path(path)
    frame = _read_frame(path)
    if "item" not in frame.columns:
        raise DataError(path, f"no 'item' column (found {', '.join(frame.columns) or 'none'}); items are original ids or exact titles")
    if per_user and "user" not in frame.columns:
        raise DataError(path, "no 'user' column: a users file has user,item[,timestamp] rows (one history per user)")
    if frame.height == 0:
        raise DataError(path, "no rows: the history is empty")
    rows = [i + (1 if path.suffix.lower() == ".parquet" else 2) for i in range(frame.height)]  # as the file numbers them
    items = _texts(path, frame["item"], rows, "item")
    users = _texts(path, frame["user"], rows, "user") if per_user else [""] * frame.height
    if not per_user and "user" in frame.columns and frame["user"].n_unique() > 1:
        raise DataError(path, f"the 'user' column names {frame['user'].n_unique()} users: use --users for one history per user", field="user")
    times = _seconds(path, frame["timestamp"], rows) if "timestamp" in frame.columns else None
    grouped: dict[str, tuple[list[str], list[int]]] = {user: ([], []) for user in dict.fromkeys(users)}  # first row's order
    for i in sorted(range(frame.height), key=lambda i: (times[i] if times is not None else 0, i)):
        history, stamps = grouped[users[i]]
        history.append(items[i])
        stamps.append(times[i] if times is not None else 0)
    return Histories(
        users=list(grouped),
        items=[history for history, _ in grouped.values()],
        timestamps=[stamps for _, stamps in grouped.values()] if times is not None else None,
    )


def recommend_histories(
    predictor: Predictor,
    histories: Histories,
    k: int,
    exclude_seen: bool = False,
    strict: bool = False,
    on_chunk: Callable[[int], None] | None = None,
) -> list[RecommendationList]:
    """One list per history, ``CHUNK`` histories at a time; with ``strict``, every history is
    checked for unknown items before any is scored. ``on_chunk(n)`` after each chunk of ``n``."""
    if strict:
        for history in histories.items:
            predictor.resolve(history, strict=True)
    out: list[RecommendationList] = []
    for start in range(0, len(histories), CHUNK):
        chunk = slice(start, start + CHUNK)
        times = histories.timestamps[chunk] if histories.timestamps is not None else None
        out += predictor.recommend(histories.items[chunk], k, exclude_seen=exclude_seen, timestamps=times)
        if on_chunk is not None:
            on_chunk(len(histories.items[chunk]))
    return out


def unknown_summary(lists: Sequence[RecommendationList]) -> str | None:
    """One line about the entries that matched no item (skipped), or ``None`` when all did."""
    unknown = [token for result in lists for token in result.unknown]
    if not unknown:
        return None
    shown = ", ".join(repr(token) for token in dict.fromkeys(unknown[:5])) + (" …" if len(unknown) > 5 else "")
    where = f" in {sum(1 for r in lists if r.unknown)} of {len(lists)} histories" if len(lists) > 1 else ""
    return f"{len(unknown)} unknown item(s){where} skipped (neither an item id nor an exact title): {shown}"


def table_rows(users: Sequence[str] | None, lists: Sequence[RecommendationList]) -> list[dict[str, Any]]:
    """One row per recommended item; a ``user`` column first when ``users`` is given."""
    rows = []
    for index, result in enumerate(lists):
        for entry in result.items:
            row = entry.to_dict()
            rows.append({**({"user": users[index]} if users is not None else {}), **{c: row[c] for c in TABLE_COLUMNS}})
    return rows


def json_document(users: Sequence[str] | None, lists: Sequence[RecommendationList]) -> Any:
    """One history: its list as a dict; several: a list of dicts, each with its ``user``."""
    if users is None:
        return lists[0].to_dict()
    return [{"user": user, **result.to_dict()} for user, result in zip(users, lists)]


def output_format(chosen: str | None, out: Path | None) -> OutputFormat:
    """The format of ``seqrec recommend``'s output: ``chosen``, else what the ``out`` file's name
    ends with, else a table on the terminal. A table goes to the terminal only, Parquet to a file only."""
    name = chosen or (out.suffix.lower().lstrip(".") if out is not None else "table")
    known = next((fmt for fmt in OUTPUT_FORMATS if fmt == name), None)
    if known is None:
        source = "--format" if chosen else f"the name {out}"
        raise ValueError(f"{source}: unknown output format {name!r}; use {', '.join(OUTPUT_FORMATS)}")
    if known == "table" and out is not None:
        raise ValueError("--format table prints to the terminal; write json, csv or parquet with --out")
    if known == "parquet" and out is None:
        raise ValueError("--format parquet needs --out FILE")
    return known


def render_text(users: Sequence[str] | None, lists: Sequence[RecommendationList], fmt: OutputFormat) -> str:
    """The lists as JSON (:func:`json_document`) or CSV (:func:`table_rows`) text."""
    if fmt == "json":
        return json.dumps(json_document(users, lists), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return str(_frame(users, lists).write_csv())
    raise ValueError(f"{fmt} is not a text format")


def write_recommendations(path: str | Path, users: Sequence[str] | None, lists: Sequence[RecommendationList], fmt: OutputFormat) -> Path:
    """Write the lists to ``path`` as ``fmt`` through a temporary file and a rename."""
    if fmt == "parquet":
        return replace_atomically(Path(path), _frame(users, lists).write_parquet)
    text = render_text(users, lists, fmt)
    return replace_atomically(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _frame(users: Sequence[str] | None, lists: Sequence[RecommendationList]) -> Any:
    import polars as pl

    columns = (*(("user",) if users is not None else ()), *TABLE_COLUMNS)
    schema = {c: (pl.Int64 if c == "rank" else pl.Float64 if c == "score" else pl.String) for c in columns}
    return pl.DataFrame(table_rows(users, lists), schema=schema)


# -- reading ------------------------------------------------------------------------------------
def _read_frame(path: Path) -> Any:
    import polars as pl

    if not path.is_file():
        raise DataError(path, "no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pl.read_parquet(path)
        if suffix in (".csv", ".tsv"):
            return pl.read_csv(path, separator="\t" if suffix == ".tsv" else ",", infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read it as {suffix[1:]}: {str(error).splitlines()[0]}") from None
    raise DataError(path, f"unknown format {suffix or '(no extension)'!r}; expected .csv, .tsv or .parquet")


def _texts(path: Path, column: Any, rows: list[int], field: str) -> list[str]:
    """A column as stripped strings; an empty value is an error naming its row."""
    import polars as pl

    values = [None if value is None else value.strip() for value in column.cast(pl.String).to_list()]
    for row, value in zip(rows, values):
        if not value:
            raise DataError(path, "empty value", row=row, field=field)
    return [str(value) for value in values]


def _seconds(path: Path, column: Any, rows: list[int]) -> list[int]:
    """Epoch seconds of a timestamp column: numbers, date/times, or strings of either."""
    import polars as pl

    if column.dtype.is_numeric():
        values = column.cast(pl.Float64).to_list()
    elif column.dtype in (pl.Datetime, pl.Date):
        values = column.cast(pl.Datetime("us")).dt.epoch("s").to_list()
    else:
        parsed = {text: _parse_time(text) for text in column.cast(pl.String).unique().to_list()}
        values = [parsed[text] for text in column.cast(pl.String).to_list()]
    out = []
    for row, value, original in zip(rows, values, column.cast(pl.String).to_list()):
        if value is None or not math.isfinite(value):
            raise DataError(path, f"cannot parse {original!r} as a time (epoch seconds or ISO date/time)", row=row, field="timestamp")
        out.append(int(value))
    return out


def _parse_time(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
