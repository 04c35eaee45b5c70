"""Loaders: raw files in, an :class:`InteractionLog` (and maybe a :class:`Catalog`) out.

Every loader returns ``(log, catalog)`` where ``log.frame`` has the columns ``user`` (str),
``item`` (str), ``timestamp`` (int64 seconds since the epoch, UTC), ``weight`` (float64; the
rating, 1.0 when the source has none) and ``row`` (int64, the record's position in the file,
which breaks timestamp ties stably later on). ``catalog`` is ``None`` when the source has no
item metadata.

Sources:

* :func:`load_table` - any CSV / TSV / delimited ``.txt`` / Parquet table, given which columns
  hold the user, item and time.
* :func:`load_movielens` - the GroupLens MovieLens releases: ML-100K (``u.data``/``u.item``),
  ML-1M and ML-10M (``ratings.dat``/``movies.dat``, ``::``-separated) and ML-20M/25M/32M
  (``ratings.csv``/``movies.csv``), told apart by the files present.
* :func:`load_atomic` - RecBole "atomic files" (``.inter`` + optional ``.item``).
* :func:`load_amazon` - Amazon review dumps in JSON lines (2014, 2018 and 2023 releases,
  optionally gzipped) plus an optional metadata file.

Bad input raises :class:`~seqrec.data.errors.DataError` naming the file, the line and the field.
Numeric timestamps are in the format's own unit or, for tables and atomic files, a unit told by
their magnitude (:data:`TIME_UNIT_RULE`; ``time_unit`` forces one); a time before 1970 or more
than a day in the future is an error unless ``allow_any_time``. A UTF-8 byte-order mark is
dropped; text that is not UTF-8 (or the ``encoding`` given) is an error at its line.
Parsing is done by Polars where files can be large (ratings); the small metadata files of
MovieLens and the JSON-lines dumps are read line by line so each record keeps its line number.

One module per source (:mod:`.table`, :mod:`.movielens`, :mod:`.atomic`, :mod:`.amazon`), all
built on :mod:`.common` (raw tables, column parsing, the log and catalog builders); this package
re-exports the public names.
"""

from __future__ import annotations

from seqrec.data.errors import DataError
from seqrec.data.loaders.amazon import load_amazon
from seqrec.data.loaders.atomic import load_atomic
from seqrec.data.loaders.common import (
    TIME_UNIT_RULE,
    TIME_UNITS,
    LoadResult,
    check_readable,
    detect_time_unit,
)
from seqrec.data.loaders.movielens import ML100K_GENRES, detect_movielens, load_movielens
from seqrec.data.loaders.table import (
    CATALOG_ROLES,
    LOG_ROLES,
    guess_columns,
    load_catalog_table,
    load_table,
    load_timed_values,
)
from seqrec.data.types import Catalog, InteractionLog

__all__ = [
    "CATALOG_ROLES",
    "LOG_ROLES",
    "ML100K_GENRES",
    "TIME_UNITS",
    "TIME_UNIT_RULE",
    "Catalog",
    "DataError",
    "InteractionLog",
    "LoadResult",
    "check_readable",
    "detect_movielens",
    "detect_time_unit",
    "guess_columns",
    "load_amazon",
    "load_atomic",
    "load_catalog_table",
    "load_movielens",
    "load_table",
    "load_timed_values",
]
