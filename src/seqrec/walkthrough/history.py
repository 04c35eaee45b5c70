"""Read a shopper's history from a CSV file for ``seqrec walkthrough --history FILE``.

The file needs a ``timestamp`` column and an ``item`` column holding either the dataset's item id
or the item's exact title. It is read by the data loaders' rules
(:func:`seqrec.data.loaders.load_timed_values`): UTF-8 (a byte-order mark is dropped), a header
naming each column once, timestamps as epoch numbers (unit told by their magnitude: below 1e11
seconds, below 1e14 ms, below 1e17 us, else ns) or ISO 8601 dates/times, each from 1970-01-01 to
a day from now. Rows are ordered by (timestamp, row) stably. Every problem is a
:class:`~seqrec.data.errors.DataError` naming the file, and the row and field where there is one.
:func:`load_persona` picks the history a walkthrough follows: such a file, or the built-in persona.
"""

from __future__ import annotations

from pathlib import Path

from seqrec.data.errors import DataError
from seqrec.data.loaders import load_timed_values
from seqrec.data.types import Dataset
from seqrec.walkthrough.run import PersonaHistory, builtin_persona


class HistoryFileError(DataError):
    """A ``--history`` file that cannot be used; the message names file, row and field."""


def load_persona(dataset: Dataset, history_file: Path | None = None) -> PersonaHistory:
    """The history to walk through: ``history_file`` read with :func:`read_history` (named after
    the file), or the shop world's own ``blog_author`` when no file is given."""
    return builtin_persona(dataset) if history_file is None else read_history(history_file, dataset)


def read_history(path: Path, dataset: Dataset) -> PersonaHistory:
    """A CSV history (see the module docstring); a :class:`DataError` naming file, row and field."""
    path = Path(path)
    by_label = {str(label): i for i, label in enumerate(dataset.item_labels) if i > 0}
    by_title: dict[str, int] = {}
    for i, title in enumerate(dataset.titles):
        if i > 0:
            by_title.setdefault(str(title), i)
    rows: list[tuple[int, int, int]] = []
    for line, seconds, value in load_timed_values(path, "item", "timestamp"):
        item = by_label.get(value, by_title.get(value))
        if item is None:
            reason = f"{value!r} is neither an item id nor an exact title"
            raise HistoryFileError(path, reason, row=line, field="item")
        rows.append((seconds, line, item))
    if not rows:
        raise HistoryFileError(path, "the history is empty (a header and no rows)")
    rows.sort()
    return PersonaHistory(name=path.stem, items=[r[2] for r in rows], timestamps=[r[0] for r in rows])
