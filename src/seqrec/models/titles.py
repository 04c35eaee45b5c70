"""Explanations with titles: models speak in item ids, people read titles.

Used by the walkthrough and the server alike; works on anything with ``titles`` (aligned to dense
ids, index 0 = padding) and ``n_items`` — a :class:`~seqrec.data.types.Dataset` or an
:class:`~seqrec.data.types.ItemInfo`.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import numpy as np


class Titled(Protocol):
    @property
    def titles(self) -> np.ndarray: ...

    @property
    def n_items(self) -> int: ...


def titled_evidence(evidence: list[dict[str, Any]], catalog: Titled) -> list[dict[str, Any]]:
    """Add readable titles next to every item id an explanation mentions."""
    out = []
    for row in evidence:
        row = dict(row)
        for key in ("item", "consequent"):
            if isinstance(row.get(key), (int, np.integer)) and 0 < int(row[key]) <= catalog.n_items:
                row[f"{key}_title"] = str(catalog.titles[int(row[key])])
        for key in ("context", "antecedent", "items"):
            if isinstance(row.get(key), (list, tuple)):
                row[f"{key}_titles"] = [str(catalog.titles[int(i)]) for i in row[key] if 0 < int(i) <= catalog.n_items]
        out.append(row)
    return out


def titled_summary(summary: str, catalog: Titled) -> str:
    """The summary with item ids replaced by titles.

    Models speak in ids (they know no titles); by convention their summaries write an item as
    ``item 96`` and a context as ``item(s) [92, 95]``, ``items [92, 95]`` or ``rule [92, 95]``.
    Other numbers (positions, counts) are left alone.
    """

    def title(match: re.Match[str]) -> str:
        item = int(match.group(1))
        return f"'{catalog.titles[item]}'" if 0 < item <= catalog.n_items else match.group(0)

    def titles(match: re.Match[str]) -> str:
        ids = [int(i) for i in match.group(2).split(",")]
        if not all(0 < i <= catalog.n_items for i in ids):
            return match.group(0)
        return match.group(1) + "[" + " → ".join(f"'{catalog.titles[i]}'" for i in ids) + "]"

    summary = re.sub(r"\bitem (\d+)", title, summary)
    return re.sub(r"(item\(s\) |items |[Rr]ule )\[(\d+(?:, \d+)*)\]", titles, summary)
