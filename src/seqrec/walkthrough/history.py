"""Read a shopper's history from a CSV file for ``seqrec walkthrough --history FILE``.

The file needs a ``timestamp`` column (epoch seconds or an ISO date/time) and an ``item`` column
holding either the dataset's item id or the item's exact title. Rows are ordered by
(timestamp, row) stably. Every problem is reported with the file, the row and the field.
:func:`load_persona` picks the history a walkthrough follows: such a file, or the built-in persona.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from seqrec.data.types import Dataset
from seqrec.walkthrough.run import PersonaHistory, builtin_persona


class HistoryFileError(ValueError):
    """A ``--history`` file that cannot be read; the message names file, row and field."""


def parse_timestamp(text: str) -> int:
    text = text.strip()
    try:
        return int(float(text))
    except ValueError:
        pass
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def load_persona(dataset: Dataset, history_file: Path | None = None) -> PersonaHistory:
    """The history to walk through: ``history_file`` read with :func:`read_history` (named after
    the file), or the shop world's own ``blog_author`` when no file is given."""
    return builtin_persona(dataset) if history_file is None else read_history(history_file, dataset)


def read_history(path: Path, dataset: Dataset) -> PersonaHistory:
    """A CSV history (see the module docstring); a :class:`HistoryFileError` naming file, row and field."""
    import csv

    if not path.exists():
        raise HistoryFileError(f"{path}: no such file")
    by_label = {str(label): i for i, label in enumerate(dataset.item_labels) if i > 0}
    by_title: dict[str, int] = {}
    for i, title in enumerate(dataset.titles):
        if i > 0:
            by_title.setdefault(str(title), i)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("timestamp", "item") if c not in (reader.fieldnames or [])]
        if missing:
            raise HistoryFileError(f"{path}: missing column(s) {missing}; need 'timestamp' and 'item'")
        rows: list[tuple[int, int, int]] = []
        for line, record in enumerate(reader, start=2):
            rows.append((_time(path, line, record["timestamp"]), line, _item(path, line, record["item"], by_label, by_title)))
    if not rows:
        raise HistoryFileError(f"{path}: the history is empty")
    rows.sort()
    return PersonaHistory(name=path.stem, items=[r[2] for r in rows], timestamps=[r[0] for r in rows])


def _time(path: Path, line: int, value: str | None) -> int:
    try:
        return parse_timestamp(value or "")
    except ValueError:
        raise HistoryFileError(f"{path}, row {line}, field 'timestamp': cannot parse {value!r} as a time") from None


def _item(path: Path, line: int, value: str | None, by_label: dict[str, int], by_title: dict[str, int]) -> int:
    value = (value or "").strip()
    if value in by_label:
        return by_label[value]
    if value in by_title:
        return by_title[value]
    raise HistoryFileError(f"{path}, row {line}, field 'item': {value!r} is neither an item id nor an exact title")
