"""The walkthrough: one shopper, every model, side by side.

Builds the shop world, fits every registered model on the leave-one-out training data, then for
the persona ``blog_author`` (held out of training: six months of cat supplies, three of baking,
two weeks of lifting) or any other history records each model's top-10, the share of it in each
of the history's categories (for her: cat supplies / baking / fitness) and in the rest, the
model's own explanation of its first pick, and the leaderboard on every shopper's
held-out last purchase, as a fraction of the oracle (the generator's true next-item
distribution). Nothing about the persona is scripted into a model: the contrast between an
order-agnostic model (a cat owner) and a sequential one (someone who just started lifting) has
to come out of the data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqrec.data.splits import leave_one_out
from seqrec.data.types import Dataset, SequenceData
from seqrec.experiment import (
    ModelRun,
    available_models,
    json_default,
    load_config_file,
    machine_meta,
    references_in,
    run_models,
    runnable_models,
    write_atomic,
)
from seqrec.models.base import Recommender
from seqrec.models.titles import titled_evidence, titled_summary

STORY_CATEGORIES = ("cat supplies", "baking", "fitness")
"""The running example's phases (``blog_author``'s categories); the default of :func:`category_share`."""

WALKTHROUGH_CONFIG = Path(__file__).parent / "shop.toml"
"""The walkthrough's settings ship inside the package, so it runs in 2 minutes from any folder."""


@dataclass
class PersonaHistory:
    """A history to walk through: dense item ids in time order with their timestamps."""

    name: str
    items: list[int]
    timestamps: list[int]
    generated: bool = False
    """Whether the shop world generated this history (so its oracle knows her hidden state), as
    opposed to one read from a file, whatever that file is called."""


def walkthrough_configs(path: str | Path | None = None, models: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per-model settings from ``path``, by default the packaged :data:`WALKTHROUGH_CONFIG`; the
    sections of ``models`` (default: all) are checked (:func:`~seqrec.experiment.load_config_file`)."""
    return load_config_file(path if path is not None else WALKTHROUGH_CONFIG, models)


def builtin_persona(dataset: Dataset, name: str = "blog_author") -> PersonaHistory:
    """A persona the shop world generated (held out of its training data), by name."""
    seed = dataset.extras["personas"][name]
    return PersonaHistory(name, list(map(int, seed.items)), list(map(int, seed.timestamps)), generated=True)


def history_categories(items: Sequence[int], categories: np.ndarray) -> tuple[str, ...]:
    """The categories of a history, in the order of their first purchase: its phases.

    ``blog_author`` gives cat supplies, baking, fitness; a shopper who moved from photography to
    skincare to cycling gives those three. Each is a column of the category shares; every other
    category is counted as ``"other"``.
    """
    return tuple(category for category in dict.fromkeys(str(categories[item]) for item in items) if category != "other")


def category_share(items: Sequence[int], categories: np.ndarray, story: Sequence[str] = STORY_CATEGORIES) -> dict[str, float]:
    """Share of ``items`` in each of the ``story`` categories, in order, the rest under ``"other"``."""
    shares = {category: 0.0 for category in (*story, "other")}
    for item in items:
        category = str(categories[item])
        shares[category if category in shares else "other"] += 1.0 / max(1, len(items))
    return {key: round(value, 4) for key, value in shares.items()}


def persona_report(
    model: Recommender, persona: PersonaHistory, dataset: Dataset, story: Sequence[str] = STORY_CATEGORIES
) -> dict[str, Any]:
    """Top-10, its shares in the ``story`` categories and the explanation of the first pick for one model."""
    history = SequenceData.from_lists([persona.items], dataset.n_items, [persona.timestamps], users=[-1])
    top10 = model.recommend(history, 10, exclude=dataset.exclude_history)[0].tolist()
    if model.capabilities.reads_time:  # HSTU: the time gaps are part of the reason
        explained = model.explain(persona.items, top10[0], timestamps=persona.timestamps)  # type: ignore[call-arg]
    else:
        explained = model.explain(persona.items, top10[0])
    explanation = explained.to_dict()
    explanation["evidence"] = titled_evidence(explanation["evidence"][:8], dataset)
    explanation["summary_titled"] = titled_summary(explanation["summary"], dataset)
    return {
        "top10": [
            {"item": int(i), "title": str(dataset.titles[i]), "category": str(dataset.categories[i])} for i in top10
        ],
        "category_share": category_share(top10, dataset.categories, story),
        "explanation": explanation,
    }


def persona_truth(runs: Sequence[ModelRun], persona: PersonaHistory, dataset: Dataset) -> np.ndarray | None:
    """The oracle's next-purchase distribution ``[n_items + 1]`` for the persona, when the oracle
    ran and knows her (the built-in persona, not an uploaded history)."""
    oracle = next((run.model for run in runs if run.name == "oracle"), None)
    if oracle is None or not persona.generated:
        return None
    history = SequenceData.from_lists([persona.items], dataset.n_items, [persona.timestamps], users=[-1])
    probabilities = oracle.score(history)[0].astype(np.float64)
    probabilities[0] = 0.0
    return probabilities


def run_walkthrough(
    dataset: Dataset,
    persona: PersonaHistory,
    models: Sequence[str] | None = None,
    configs: dict[str, dict[str, Any]] | None = None,
    threads: int = 1,
    command: str = "seqrec walkthrough",
    on_event: Callable[[str, str], None] | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Fit, evaluate and explain every model; returns the JSON-ready report.

    ``jobs`` models are fitted at a time, each in its own process with ``threads`` threads
    (:func:`~seqrec.experiment.run_models`); the report is the same for any ``jobs``.

    The category shares are over the persona's own categories (:func:`history_categories`), listed
    with ``"other"`` in ``report["persona"]["categories"]``.
    """
    names = runnable_models(available_models(dataset, models), configs, bool(models), on_event)
    split = leave_one_out(dataset.sequences)
    story = history_categories(persona.items, dataset.categories)
    reports: dict[str, dict[str, Any]] = {}

    def report_on(run: ModelRun) -> None:  # as each model finishes, while others still train
        if run.model.capabilities.needs_world and not persona.generated:
            return  # the oracle knows the generator's shoppers, not an arbitrary uploaded history
        reports[run.name] = persona_report(run.model, persona, dataset, story)

    board = run_models(dataset, split, names, configs, threads, evaluate_valid=False, on_event=on_event, jobs=jobs, on_run=report_on)
    references = references_in(names)
    leaderboard = {row["model"]: row for row in board.rows(references)}
    truth = persona_truth(board.runs, persona, dataset)
    per_model = {}
    for run in board.runs:
        if run.name not in reports:
            continue
        report = reports[run.name]
        if truth is not None:
            # The chance, under the generator, that her next purchase is in this top-10.
            report["hit_probability"] = round(float(truth[[row["item"] for row in report["top10"]]].sum()), 4)
        report["metrics"] = leaderboard[run.name]
        report["era"] = run.model.era
        report["sequential"] = run.model.sequential
        per_model[run.name] = report
    return {
        "dataset": dataset.name,
        "persona": {
            "name": persona.name,
            "categories": [*story, "other"],
            "history": [
                {"item": i, "title": str(dataset.titles[i]), "category": str(dataset.categories[i]), "timestamp": t}
                for i, t in zip(persona.items, persona.timestamps)
            ],
        },
        "split": board.split_description,
        "exclude_history": dataset.exclude_history,
        "references": references,
        "meta": {**machine_meta(command, threads), "jobs": jobs},
        "models": per_model,
        "leaderboard": board.rows(references),
    }


def write_reports(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``walkthrough.json`` and ``walkthrough.html`` in ``out_dir`` (each written atomically)."""
    from seqrec.walkthrough.html import render_html

    json_path = out_dir / "walkthrough.json"
    html_path = out_dir / "walkthrough.html"
    write_atomic(json_path, json.dumps(report, indent=2, default=json_default) + "\n")
    write_atomic(html_path, render_html(report))
    return json_path, html_path

