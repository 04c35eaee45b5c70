"""The one error type for bad input data.

Every loader reports a problem as a :class:`DataError` that says *where* it is: the file, the
1-based line number (``row``) and the field, so that a user can open the file at that line::

    ratings.csv, row 17, field 'timestamp': cannot parse 'abc' as a time

It subclasses :class:`ValueError` so callers that already catch ``ValueError`` keep working.
"""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data, located by file, row (1-based line number) and field.

    ``row`` is the line number in a text file (the header, if any, is line 1) or the 1-based
    row number in a Parquet table; ``None`` when the problem is not tied to one row (a missing
    column, an empty file). ``field`` is the column / JSON key as the *file* names it.
    """

    def __init__(
        self,
        path: str | Path | None,
        reason: str,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = reason
        self.row = row
        self.field = field
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = [self.path.name if self.path is not None else "<input>"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.reason}"


class FetchError(RuntimeError):
    """A dataset could not be obtained (download failed, checksum mismatch, no fallback)."""
