"""Ranking prompts for an LLM reranker, and reading a ranking back out of an answer.

Two styles, after the two papers (reworded, not copied):

* ``"llamarec"`` (Yue et al. 2023, LlamaRec): the history numbered ``(1) ... (n)`` oldest first,
  the candidates labelled ``(A) ... (T)``, and the instruction to answer with the letter of the
  one to recommend. Its verbalizer reads the next-token probabilities of the letters, so one
  forward pass ranks every candidate.
* ``"llmrank"`` (Hou et al. 2024, LLMRank): the history as ``1. ... n.``, the candidates as
  ``[1] ... [C]``, and the instruction to rank them all, one per line, without inventing items.

``recency_instruction`` adds LLMRank's recency-focused sentence (the most recent item named, and
"pay more attention to the most recent items"). The history is the last ``max_history`` items'
titles, most recent last.

:func:`parse_ranking` turns a generated answer into an order of the listed candidates: each line
is matched to a candidate by its title (the longest title found in the line, also without a
trailing ``(year)``), else by a label (``(B)``, ``[3]``, or a line that is just a label); lines
matching nothing are counted as invented, repeated candidates as duplicates, and the candidates
the answer never names follow in the order they were listed. An answer naming no candidate is a
parse failure.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

PromptStyle = Literal["llamarec", "llmrank"]
LETTERS = string.ascii_uppercase
MAX_LETTERS = len(LETTERS)


def clean_title(title: str) -> str:
    """A title on one line (newlines and runs of spaces collapsed); ``"item"`` when empty."""
    text = " ".join(str(title).split())
    return text or "item"


def labels_for(style: PromptStyle, n_candidates: int) -> list[str]:
    """The labels of ``n_candidates`` listed candidates: letters ``A..`` (llamarec), numbers ``1..`` (llmrank)."""
    if style == "llamarec":
        if n_candidates > MAX_LETTERS:
            raise ValueError(
                f"the llamarec prompt labels candidates A-Z: at most {MAX_LETTERS}, got {n_candidates}"
            )
        return list(LETTERS[:n_candidates])
    return [str(i + 1) for i in range(n_candidates)]


@dataclass(frozen=True)
class RankingPrompt:
    """A prompt and what its listing means: ``labels[j]`` names the ``j``-th listed candidate, whose
    title is ``titles[j]``."""

    text: str
    labels: tuple[str, ...]
    titles: tuple[str, ...]
    style: PromptStyle


def build_prompt(
    style: PromptStyle,
    history_titles: Sequence[str],
    candidate_titles: Sequence[str],
    *,
    max_history: int = 20,
    recency_instruction: bool = False,
    item_kind: str = "items",
) -> RankingPrompt:
    """The ranking prompt of ``style`` for a history (oldest first) and the listed candidates."""
    if max_history < 1:
        raise ValueError(f"max_history must be >= 1, got {max_history}")
    history = [clean_title(t) for t in list(history_titles)[-max_history:]]
    titles = tuple(clean_title(t) for t in candidate_titles)
    labels = tuple(labels_for(style, len(titles)))
    n = len(titles)
    recent = (
        f'Note that the most recent of them is "{history[-1]}": pay more attention to the most recent {item_kind}.'
        if history and recency_instruction
        else ""
    )
    if style == "llamarec":
        lines = [
            f"Given a user's history of {item_kind} in chronological order, recommend one {item_kind.rstrip('s')} from the candidate pool by its index letter.",
            "User history:",
            *(f"({i + 1}) {title}" for i, title in enumerate(history)),
            *([recent] if recent else []),
            "Candidate pool:",
            *(f"({label}) {title}" for label, title in zip(labels, titles)),
            f"Answer with the letter of one candidate ({labels[0]}-{labels[-1]}) only."
            if n
            else "There are no candidates.",
        ]
    else:
        lines = [
            f"I have interacted with the following {item_kind}, in this order:",
            *(f"{i + 1}. {title}" for i, title in enumerate(history)),
            *([recent] if recent else []),
            "",
            f"Now there are {n} candidate {item_kind} I could choose next:",
            *(f"[{label}] {title}" for label, title in zip(labels, titles)),
            f"Rank these {n} {item_kind} by how likely I am to choose each one next, given my history.",
            (
                "Answer with the candidates' bracketed numbers, best first, one per line. "
                "Rank only the given candidates; do not add any other."
            ),
        ]
    return RankingPrompt("\n".join(lines), labels, titles, style)


# -- reading a prompt back (the lexical stand-in model) ------------------------------------------
_HISTORY_LINE = re.compile(r"^(?:\((\d+)\)|(\d+)\.) (.+)$")
_CANDIDATE_LINE = re.compile(r"^(?:\(([A-Z])\)|\[(\d+)\]) (.+)$")


def parse_listing(prompt: str) -> tuple[list[str], list[str], list[str]]:
    """(history titles, candidate labels, candidate titles) listed in a prompt of :func:`build_prompt`."""
    history: list[str] = []
    labels: list[str] = []
    titles: list[str] = []
    for line in prompt.splitlines():
        candidate = _CANDIDATE_LINE.match(line)
        if candidate:
            labels.append(candidate.group(1) or candidate.group(2))
            titles.append(candidate.group(3))
            continue
        past = _HISTORY_LINE.match(line)
        if past and not labels:
            history.append(past.group(3))
    return history, labels, titles


# -- reading an answer ---------------------------------------------------------------------------
@dataclass
class ParsedRanking:
    """An answer read as an order of the listed candidates (positions into the listing).

    ``named``: the positions the answer named, in its order; ``order``: ``named`` followed by the
    others in listed order (always a permutation of the listing); ``invented``: answer lines that
    named no candidate; ``duplicates``: candidates named again.
    """

    named: list[int]
    order: list[int]
    invented: int = 0
    duplicates: int = 0
    invented_lines: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Nothing in the answer named a candidate."""
        return not self.named


_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")


def _title_forms(title: str) -> list[str]:
    forms = [title.lower()]
    base = _YEAR.sub("", title).lower().strip()
    if base != forms[0] and len(base) >= 4:
        forms.append(base)
    return forms


def _title_pattern(form: str) -> re.Pattern[str]:
    start = r"(?<!\w)" if form[:1].isalnum() else ""
    end = r"(?!\w)" if form[-1:].isalnum() else ""
    return re.compile(start + re.escape(form) + end)


def _label_in(line: str, labels: Sequence[str], style: PromptStyle) -> int | None:
    """The listed position a line names by label: ``(B)`` / ``[3]``, or a line that is just a label."""
    bracketed = (
        re.search(r"\(([A-Z])\)", line) if style == "llamarec" else re.search(r"\[(\d+)\]", line)
    )
    bare = line.strip().strip(".):;,*").strip("([").strip()
    for token in (bracketed.group(1) if bracketed else None, bare):
        if token is not None and token in labels:
            return labels.index(token)
    if style == "llamarec":  # "B) Title", "B. Title", "B: Title" at the start of the line
        lead = re.match(r"^\s*([A-Z])[).:](?:\s|$)", line)
        if lead and lead.group(1) in labels:
            return labels.index(lead.group(1))
    return None


def parse_ranking(answer: str, prompt: RankingPrompt) -> ParsedRanking:
    """Match each line of ``answer`` to a listed candidate (see the module docstring)."""
    labels = list(prompt.labels)
    forms = sorted(
        (
            (form, position)
            for position, title in enumerate(prompt.titles)
            for form in _title_forms(title)
        ),
        key=lambda pair: -len(pair[0]),
    )
    patterns = [(_title_pattern(form), position) for form, position in forms]
    named: list[int] = []
    invented, duplicates = 0, 0
    invented_lines: list[str] = []
    for raw in answer.splitlines():
        line = raw.strip()
        if not line:
            continue
        lowered = line.lower()
        position = next((p for pattern, p in patterns if pattern.search(lowered)), None)
        if position is None:
            position = _label_in(line, labels, prompt.style)
        if position is None:
            invented += 1
            invented_lines.append(line)
        elif position in named:
            duplicates += 1
        else:
            named.append(position)
    rest = [p for p in range(len(labels)) if p not in named]
    return ParsedRanking(named, named + rest, invented, duplicates, invented_lines)


__all__ = [
    "MAX_LETTERS",
    "ParsedRanking",
    "PromptStyle",
    "RankingPrompt",
    "build_prompt",
    "clean_title",
    "labels_for",
    "parse_listing",
    "parse_ranking",
]
