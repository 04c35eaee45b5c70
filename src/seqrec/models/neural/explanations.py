"""Explanations of the neural networks from per-position weights, written once.

* :func:`position_evidence` turns weights over the last history items (attention, gradient x
  input) into evidence rows ``{"item", "position", "weight"}``;
* :func:`final_query_attention` reads the attention of the last block's final query over the
  history from a transformer's ``encode_with_attention`` (SASRec, BERT4Rec, CL4SRec/DuoRec);
* :func:`attention_explanation` is the explanation of every attention model (those, NARM and
  HSTU): the evidence rows plus a summary that names the item attended to most; with the history's
  timestamps (HSTU) each row also gives ``seconds_before_last``, its time gap to the last purchase.

The transformer models get both through
:class:`~seqrec.models.neural.recommender.AttentionRecommender`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from seqrec.models.base import Explanation, ExplanationKind


@runtime_checkable
class AttentionNetwork(Protocol):
    """A network with an explicit attention path (the transformer encoders)."""

    def encode_with_attention(self, input_ids: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Hidden states ``[B, L, D]`` and each block's attention weights ``[B, H, L, L]``."""
        ...


def position_evidence(history: Sequence[int], tail_weights: np.ndarray) -> list[dict[str, Any]]:
    """Evidence rows ``{"item", "position", "weight"}`` for the most recent history items.

    ``tail_weights[j]`` belongs to the ``j``-th of the last ``len(tail_weights)`` history items
    (networks read only the last ``max_len``); ``position`` is the 0-based index in the full
    history. Rows are sorted by weight, largest first.
    """
    tail = list(history)[len(history) - len(tail_weights) :] if len(tail_weights) else []
    first = len(history) - len(tail)
    rows = [
        {"item": int(item), "position": first + offset, "weight": float(weight)}
        for offset, (item, weight) in enumerate(zip(tail, tail_weights))
    ]
    return sorted(rows, key=lambda row: -abs(row["weight"]))


def final_query_attention(
    network: AttentionNetwork, inputs: Tensor, n_history: int, history_end: int
) -> np.ndarray:
    """The last block's attention ``[min(n_history, history_end)]`` of the final query, averaged
    over heads, over the history items it reads.

    ``inputs`` is one history's network input ``[1, L]``; the history's items end at column
    ``history_end`` (``L``, or ``L - 1`` when the final query is an appended [mask] token).
    """
    with torch.no_grad():
        _, weights = network.encode_with_attention(inputs)
    final_query = weights[-1][0, :, -1, :].mean(dim=0)  # [L], averaged over heads
    shown = min(n_history, history_end)
    return final_query[history_end - shown : history_end].cpu().numpy().astype(np.float64)


def attention_explanation(
    model: str,
    item: int,
    history: Sequence[int],
    tail_weights: np.ndarray,
    summary: str,
    focus: str,
    timestamps: Sequence[int] | None = None,
) -> Explanation:
    """An attention explanation: evidence rows from ``tail_weights`` (see :func:`position_evidence`)
    and ``summary`` continued with ``focus`` and the most attended item, e.g.
    ``"SASRec scores item 3 at 1.234" + "; predicting the next item it" + " attends most to item 5
    (position 2, weight 0.61)."``. With the history's ``timestamps`` (aligned with ``history``) each
    row also has ``seconds_before_last`` and the summary says how long before the last purchase the
    top item was bought.
    """
    evidence = position_evidence(history, tail_weights)
    if timestamps is not None and len(timestamps):
        last = int(timestamps[-1])
        for row in evidence:
            row["seconds_before_last"] = last - int(timestamps[row["position"]])
    if evidence:
        top = evidence[0]
        summary += (
            f"{focus} attends most to item {top['item']} "
            f"(position {top['position']}, weight {_weight_text(top['weight'])}{_gap_text(top)})"
        )
    return Explanation(
        model=model, item=int(item), summary=summary + ".", kind=ExplanationKind.ATTENTION, evidence=evidence
    )


def _weight_text(weight: float) -> str:
    """Two decimals, or two significant digits for the tiny weights of HSTU's pointwise attention
    (which divides by the padded length and may be negative), so they never read as 0.00."""
    return f"{weight:.2f}" if abs(weight) >= 0.01 or weight == 0 else f"{weight:.2g}"


def _gap_text(row: dict[str, Any]) -> str:
    gap = row.get("seconds_before_last")
    if gap is None:
        return ""
    return f", {gap / 86_400:.1f} days before the last purchase" if gap >= 86_400 else f", {gap} s before the last purchase"
