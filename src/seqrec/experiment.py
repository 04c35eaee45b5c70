"""Train several models on one split and rank them: the engine behind benchmark and walkthrough.

Configs come from a TOML/JSON file with one table per model (``[als] factors = 64``); a tuned
config saved by ``seqrec tune`` (``configs/tuned/<dataset>/<model>.json``) overrides the file
when ``use_tuned`` is set. Thread counts are applied once here and recorded with every timing.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from seqrec.data.splits import Split
from seqrec.data.types import Dataset
from seqrec.evaluation.protocol import EvalResult, evaluate_model
from seqrec.models import REGISTRY, get_model_class
from seqrec.models.base import Recommender

TUNED_DIR = Path("configs/tuned")


def set_threads(threads: int) -> None:
    """One place that sets the thread count of torch and of the BLAS behind numpy."""
    import torch

    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:  # threadpoolctl ships with scikit-learn / implicit; optional
        pass


def load_config_file(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """``{model: {field: value}}`` from a TOML or JSON file (``None`` -> empty)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: cannot parse: {error}") from error
    unknown = [name for name in data if name not in REGISTRY]
    if unknown:
        raise ValueError(f"{path}: unknown model section(s) {unknown}; known: {', '.join(sorted(REGISTRY))}")
    return {name: dict(values) for name, values in data.items()}


def tuned_config(dataset: str, model: str, split: str = "loo", root: Path = TUNED_DIR) -> dict[str, Any] | None:
    """The best config ``seqrec tune`` saved for this dataset, split and model, if any."""
    path = root / dataset / split / f"{model}.json"
    if not path.exists():
        return None
    return dict(json.loads(path.read_text())["config"])


def build_model(name: str, overrides: dict[str, Any] | None, threads: int) -> Recommender:
    """Instantiate a registered model; ``threads`` goes to models that have such a field."""
    model_class = get_model_class(name)
    values = dict(overrides or {})
    fields = getattr(model_class.Config, "__dataclass_fields__", {})
    if "threads" in fields and "threads" not in values:
        values["threads"] = threads
    return model_class(values)


@dataclass
class ModelRun:
    name: str
    model: Recommender
    fit_seconds: float
    valid: EvalResult | None
    test: EvalResult


def epoch_summary(model: Recommender) -> dict[str, Any]:
    """Median wall time per epoch, epochs run and the selected epoch of a model trained in epochs
    (the neural networks' ``training`` record); empty for models fitted in one go."""
    training = getattr(model, "training", None)
    records = getattr(training, "records", None)
    if training is None or not records:
        return {}
    return {
        "epoch_seconds": round(statistics.median(record.seconds for record in records), 3),
        "epochs": len(records),
        "best_epoch": training.best_epoch,
    }


REFERENCES = ("oracle", "oracle-observable")
"""Reference models a leaderboard reports every model as a percentage of, when they ran."""


def references_in(names: Sequence[str]) -> list[str]:
    return [name for name in REFERENCES if name in names]


def pct_cell(row: dict[str, Any], reference: str) -> str:
    pct = row.get(f"NDCG@10_pct_of_{reference}")
    return "" if pct is None else f"{pct:.1f}%"


def epoch_cell(row: dict[str, Any]) -> str:
    """``"3.21 (12 / 16)"`` for a row with :func:`epoch_summary` fields, else ``"—"``."""
    if "epoch_seconds" not in row:
        return "—"
    return f"{row['epoch_seconds']:.2f} ({row['best_epoch']} / {row['epochs']})"


@dataclass
class Leaderboard:
    dataset: str
    split: str
    split_description: str
    exclude_history: bool
    threads: int
    runs: list[ModelRun] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def rows(self, references: Sequence[str] = ()) -> list[dict[str, Any]]:
        """One JSON-ready row per model, sorted by test NDCG@10, with ``% of`` each reference
        model that ran (the oracles of the shop world)."""
        refs = [run for name in references for run in self.runs if run.name == name]
        rows = []
        for run in sorted(self.runs, key=lambda r: -r.test.metrics["NDCG@10"]):
            row: dict[str, Any] = {"model": run.name, "fit_seconds": round(run.fit_seconds, 3)}
            row.update(epoch_summary(run.model))
            row.update(run.test.summary())
            if run.valid is not None:
                row["valid_NDCG@10"] = round(run.valid.metrics["NDCG@10"], 6)
            for ref in refs:
                for metric in ("HR@10", "NDCG@10"):
                    denominator = ref.test.metrics[metric]
                    row[f"{metric}_pct_of_{ref.name}"] = round(100 * run.test.metrics[metric] / denominator, 1) if denominator else None
            rows.append(row)
        return rows

    def to_json(self, references: Sequence[str] = ()) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "split_description": self.split_description,
            "exclude_history": self.exclude_history,
            "protocol": "full ranking over the whole catalog, pessimistic ties",
            "threads": self.threads,
            "meta": self.meta,
            "leaderboard": self.rows(references),
        }

    def to_markdown(self, references: Sequence[str] = ()) -> str:
        rows = self.rows(references)
        present = [name for name in references if any(row["model"] == name for row in rows)]
        pct_head = "".join(f" NDCG@10 % of {name} |" for name in present)
        lines = [
            f"# {self.dataset} — {self.split}",
            "",
            (
                f"{self.split_description}. Full ranking, pessimistic ties, history "
                f"{'excluded' if self.exclude_history else 'kept'}; threads = {self.threads}."
            ),
            "",
            f"| model | HR@10 | NDCG@10 | NDCG@10 95% CI |{pct_head} MRR@10 | coverage@10 | fit s | s/epoch (best / run) | eval s |",
            "| --- | --- | --- | --- |" + " --- |" * len(present) + " --- | --- | --- | --- | --- |",
        ]
        for row in rows:
            low, high = row["NDCG@10_ci"]
            pcts = "".join(f" {pct_cell(row, name)} |" for name in present)
            lines.append(
                f"| {row['model']} | {row['HR@10']:.4f} | {row['NDCG@10']:.4f} | [{low:.4f}, {high:.4f}] |{pcts} "
                f"{row['MRR@10']:.4f} | {row['coverage@10']:.3f} | {row['fit_seconds']:.2f} | {epoch_cell(row)} | "
                f"{row['eval_seconds']:.2f} |"
            )
        lines += ["", f"Machine: {self.meta.get('machine', '')}; date: {self.meta.get('date', '')}; command: `{self.meta.get('command', '')}`", ""]
        return "\n".join(lines)


def machine_meta(command: str, threads: int) -> dict[str, Any]:
    return {
        "machine": f"{platform.node() or 'host'} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "threads": threads,
    }


def run_models(
    dataset: Dataset,
    split: Split,
    models: Sequence[str],
    configs: dict[str, dict[str, Any]] | None = None,
    threads: int = 1,
    evaluate_valid: bool = True,
    on_event: Callable[[str, str], None] | None = None,
) -> Leaderboard:
    """Fit each model on ``split.train`` and evaluate it on validation and test.

    Every model's ``fit`` gets the dataset's item information and, for a synthetic world, its
    generator (which the oracles declare they need). ``on_event(model, message)`` reports progress.
    """
    set_threads(threads)
    configs = configs or {}
    popularity = split.train.item_counts()
    board = Leaderboard(dataset.name, split.name, split.description, dataset.exclude_history, threads)
    for name in models:
        model = build_model(name, configs.get(name), threads)
        if on_event:
            on_event(name, "fitting")
        start = time.perf_counter()
        fit_model(model, split, dataset)
        fit_seconds = time.perf_counter() - start
        if on_event:
            on_event(name, f"fitted in {fit_seconds:.1f}s; evaluating")
        valid = evaluate_model(model, split.valid, dataset.exclude_history, popularity) if evaluate_valid and len(split.valid) else None
        test = evaluate_model(model, split.test, dataset.exclude_history, popularity)
        board.runs.append(ModelRun(name, model, fit_seconds, valid, test))
        if on_event:
            on_event(name, f"test NDCG@10 {test.metrics['NDCG@10']:.4f}")
    return board


def fit_model(model: Recommender, split: Split, dataset: Dataset) -> Recommender:
    """Fit on the training data with the dataset's item information (and world, if it has one);
    models that early-stop also get the validation set."""
    if hasattr(model.config, "exclude_history"):
        model.config.exclude_history = dataset.exclude_history
    return model.fit(split.train, split.valid, items=dataset.item_info(), world=dataset.extras.get("world"))


def available_models(dataset: Dataset, requested: Sequence[str] | None = None) -> list[str]:
    """The requested models (default: every registered one this dataset can run).

    A model that needs the generator of a synthetic world (``capabilities.needs_world``) runs only
    on such a dataset: asked for by name elsewhere it is an error; in the default list it is left
    out. Unknown names are an error that lists the known ones.
    """
    names = list(requested) if requested else list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown model(s) {unknown}; known: {', '.join(sorted(REGISTRY))}")
    has_world = "world" in dataset.extras
    impossible = [n for n in names if REGISTRY[n].capabilities.needs_world and not has_world]
    if requested and impossible:
        raise ValueError(
            f"{', '.join(impossible)} need(s) the generator of a synthetic world, which dataset "
            f"{dataset.name!r} does not have (use --dataset shop)"
        )
    return [n for n in names if n not in impossible]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
