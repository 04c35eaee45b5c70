"""Train several models on one split and rank them: the engine behind benchmark and walkthrough.

Configs come from a TOML/JSON file with one table per model (``[als] factors = 64``), by default
``configs/<dataset>.toml``; a tuned config saved by ``seqrec tune``
(``configs/tuned/<dataset>/<split>/<model>.json``) overrides the file when asked for
(:func:`experiment_configs`). Every section is checked against its model's config when it is read,
so a typo stops the run before any model trains. Thread counts are checked and applied once here
and recorded with every timing; :func:`check_out_folder` proves the output folder writable up front.
:func:`train_to_deploy` trains one model for ``seqrec train``: on every user's whole history, or
on the leave-one-out split with its validation and test metrics.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from seqrec.data.splits import Split, make_split
from seqrec.data.types import Dataset, SequenceData
from seqrec.evaluation.protocol import EvalResult, evaluate_model
from seqrec.models import REGISTRY, get_model_class
from seqrec.models.base import (
    ConfigError,
    Recommender,
    json_default,  # noqa: F401  (re-exported for the results files' JSON)
)

CONFIG_DIR = Path("configs")
"""Per-dataset settings, ``configs/<dataset>.toml``, relative to the working folder."""
TUNED_DIR = CONFIG_DIR / "tuned"


def check_threads(threads: int) -> int:
    """``threads`` if it is a whole number of at least 1; a ``ValueError`` otherwise."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a whole number of at least 1, got {threads!r}")
    return threads


def set_threads(threads: int) -> None:
    """One place that sets the thread count of torch and of the BLAS behind numpy."""
    check_threads(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:  # threadpoolctl ships with scikit-learn / implicit; optional
        pass


def load_config_file(path: str | Path | None, models: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{model: {field: value}}`` from a TOML or JSON file (``None`` -> empty).

    Every section must name a registered model; the sections of ``models`` (default: all) are
    checked against their model's config (:func:`check_config`), so a misspelt field or a wrong
    type stops a run before any model trains. Only those models' modules are imported.
    """
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
    return {
        name: check_config(name, values, path) if models is None or name in models else values
        for name, values in data.items()
    }


def check_config(model: str, values: Any, source: str | Path) -> dict[str, Any]:
    """``values`` as a dict once they build ``model``'s config; a :class:`ConfigError` naming the
    source file, the model section and the field otherwise (``bad.toml, [als]: ... 'factor' ...``)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{source}, [{model}]: expected a table of settings, got {values!r}")
    try:
        get_model_class(model)(values)  # the constructor only stores (and checks) the settings
    except ConfigError as error:
        raise ConfigError(f"{source}, [{model}]: {error}") from None
    return dict(values)


def default_config_file(dataset: str, root: Path = CONFIG_DIR) -> Path | None:
    """The dataset's own settings, ``configs/<dataset>.toml``, when that file exists."""
    path = root / f"{dataset}.toml"
    return path if path.exists() else None


def tuned_config_path(dataset: str, model: str, split: str = "loo", root: Path = TUNED_DIR) -> Path:
    """Where ``seqrec tune`` saves the best config of this dataset, split and model."""
    return root / dataset / split / f"{model}.json"


def tuned_config(dataset: str, model: str, split: str = "loo", root: Path = TUNED_DIR) -> dict[str, Any] | None:
    """The best config ``seqrec tune`` saved for this dataset, split and model, if any."""
    path = tuned_config_path(dataset, model, split, root)
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not a tuned config saved by seqrec tune (cannot parse: {error})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
        raise ConfigError(f"{path}: not a tuned config saved by seqrec tune (no 'config' table)")
    return dict(saved["config"])


def experiment_configs(
    dataset: str,
    models: Sequence[str],
    split: str = "loo",
    config_file: str | Path | None = None,
    tuned: bool = False,
    root: Path = CONFIG_DIR,
) -> dict[str, dict[str, Any]]:
    """``{model: settings}`` for a run: ``config_file`` (default :func:`default_config_file`), then,
    with ``tuned``, each model's config saved by ``seqrec tune`` merged over its section.

    A temporal run without its own tuning reuses the leave-one-out one. Tuned values are checked
    like the file's, so a stale tuned file stops the run before any model trains.
    """
    configs = load_config_file(config_file if config_file is not None else default_config_file(dataset, root), models)
    if not tuned:
        return configs
    for name in models:
        for tuned_split in dict.fromkeys((split, "loo")):
            best = tuned_config(dataset, name, tuned_split, root / "tuned")
            if best is not None:
                source = tuned_config_path(dataset, name, tuned_split, root / "tuned")
                configs[name] = check_config(name, {**configs.get(name, {}), **best}, source)
                break
    return configs


def check_out_folder(folder: str | Path) -> Path:
    """Fail now, before any model trains, when ``folder`` cannot be created or written to.

    Creates the folder, writes and removes a probe file, then removes the folders it created, so
    that a run failing later leaves nothing behind; an ``OSError`` that names the folder otherwise.
    """
    folder = Path(folder)
    chain = (folder, *folder.parents)
    blocker = next((path for path in chain if path.exists() and not path.is_dir()), None)
    if blocker is not None:
        raise NotADirectoryError(f"output folder {folder}: {blocker} is a file, not a folder")
    created = [path for path in chain if not path.exists()]  # deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".seqrec-probe-"):
            pass
    except OSError as error:
        raise OSError(f"output folder {folder} cannot be written: {error.strerror or error}") from None
    finally:
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()
    return folder


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
    users: int | None = None
    """Test users evaluated when the model asked for a sample (``evaluation_users``); ``None``: all."""
    baseline: tuple[str, EvalResult] | None = None
    """The model it refines (its retriever) on the same sampled users: name and result."""


SAMPLE_SEED = 0
"""Seed of the test users drawn for a model that evaluates on a sample (the same users every run)."""


def sample_rows(n_rows: int, size: int | None) -> np.ndarray | None:
    """``size`` of ``n_rows`` row indices, sorted, drawn with :data:`SAMPLE_SEED`; ``None`` when
    ``size`` is ``None`` or covers every row."""
    if size is None or size >= n_rows:
        return None
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(n_rows, size, replace=False))


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
            if run.users is not None:
                row["users"] = run.users
            if run.baseline is not None:
                base_name, base = run.baseline
                row["baseline"] = {"model": base_name, **{key: round(base.metrics[key], 6) for key in ("HR@10", "NDCG@10")}}
            for ref in refs if run.users is None else ():  # a sample is not comparable with all users
                for metric in ("HR@10", "NDCG@10"):
                    denominator = ref.test.metrics[metric]
                    row[f"{metric}_pct_of_{ref.name}"] = round(100 * run.test.metrics[metric] / denominator, 1) if denominator else None
            rows.append(row)
        return rows

    def configs(self) -> dict[str, dict[str, Any]]:
        """Each model's settings as plain JSON values (for the record of a run)."""
        plain = (int, float, str, bool, type(None), list)
        return {
            run.name: {k: v for k, v in dataclasses.asdict(run.model.config).items() if isinstance(v, plain)}
            for run in self.runs
        }

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
        notes = sample_notes(rows)
        if notes:
            lines += ["", *(f"* {note}" for note in notes)]
        lines += ["", f"Machine: {self.meta.get('machine', '')}; date: {self.meta.get('date', '')}; command: `{self.meta.get('command', '')}`", ""]
        return "\n".join(lines)


def sample_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence per leaderboard row evaluated on a sample of users: how many, and its baseline
    on the same users (the row's metrics are not comparable with the full-test rows above it)."""
    notes = []
    for row in rows:
        if "users" not in row:
            continue
        note = f"{row['model']}: on a sample of {row['users']} test users (seed {SAMPLE_SEED})"
        if "baseline" in row:
            base = row["baseline"]
            note += f"; {base['model']} alone on the same users: HR@10 {base['HR@10']:.4f}, NDCG@10 {base['NDCG@10']:.4f}"
        notes.append(note)
    return notes


def write_leaderboard(board: Leaderboard, out_dir: Path, references: Sequence[str] = ()) -> tuple[Path, Path]:
    """``<dataset>-<split>.json`` and ``.md`` in ``out_dir`` (each written atomically)."""
    stem = out_dir / f"{board.dataset}-{board.split}"
    json_path, markdown_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    write_atomic(json_path, json.dumps(board.to_json(references), indent=2) + "\n")
    write_atomic(markdown_path, board.to_markdown(references))
    return json_path, markdown_path


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
    jobs: int = 1,
    on_run: Callable[[ModelRun], None] | None = None,
) -> Leaderboard:
    """Fit each model on ``split.train`` and evaluate it on validation and test.

    ``on_run(run)`` is called in this process as each model finishes (in the order they finish),
    so per-model work (the walkthrough's persona report) overlaps the models still training.

    Every model's ``fit`` gets the dataset's item information and, for a synthetic world, its
    generator (which the oracles declare they need). ``on_event(model, message)`` reports progress.

    ``jobs > 1`` fits that many models at a time, each in its own worker process with ``threads``
    threads (``jobs * threads`` cores in all). Each model is seeded by its own config, so the
    fitted models and the leaderboard are those of ``jobs=1``, in the same order; workers start
    with ``spawn`` (a fork of a process that has run OpenMP or torch threads can hang), and the
    slow kinds (eras 2 and up) are handed out first so the workers finish together.
    """
    check_jobs(jobs)
    set_threads(threads)
    configs = configs or {}
    board = Leaderboard(dataset.name, split.name, split.description, dataset.exclude_history, threads)
    if jobs == 1 or len(models) < 2:
        for name in models:
            board.runs.append(_fit_and_evaluate(name, dataset, split, configs, threads, evaluate_valid, on_event))
            if on_run:
                on_run(board.runs[-1])
        return board
    board.runs.extend(_run_in_workers(dataset, split, models, configs, threads, evaluate_valid, on_event, jobs, on_run))
    return board


def check_jobs(jobs: int) -> int:
    """``jobs`` if it is a whole number of at least 1; a ``ValueError`` otherwise."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    return jobs


def _fit_and_evaluate(
    name: str,
    dataset: Dataset,
    split: Split,
    configs: dict[str, dict[str, Any]],
    threads: int,
    evaluate_valid: bool,
    on_event: Callable[[str, str], None] | None,
    quiet: bool = False,
) -> ModelRun:
    overrides = dict(configs.get(name) or {})
    if quiet and "progress" in getattr(get_model_class(name).Config, "__dataclass_fields__", {}):
        overrides.setdefault("progress", False)  # bars from several processes would interleave
    model = build_model(name, overrides, threads)
    if on_event:
        on_event(name, "fitting")
    start = time.perf_counter()
    fit_model(model, split, dataset)
    fit_seconds = time.perf_counter() - start
    if on_event:
        on_event(name, f"fitted in {fit_seconds:.1f}s; evaluating")
    popularity = split.train.item_counts()
    valid_set, test_set = split.valid, split.test
    test_rows = sample_rows(len(test_set), model.evaluation_users())
    if test_rows is not None:  # a stated sample of users, the same for the model and its baseline
        test_set = test_set.rows(test_rows)
        valid_rows = sample_rows(len(valid_set), model.evaluation_users())
        valid_set = valid_set if valid_rows is None else valid_set.rows(valid_rows)
        if on_event:
            on_event(name, f"evaluating on {len(test_set)} of {len(split.test)} test users (seed {SAMPLE_SEED})")
    valid = evaluate_model(model, valid_set, dataset.exclude_history, popularity) if evaluate_valid and len(valid_set) else None
    test = evaluate_model(model, test_set, dataset.exclude_history, popularity)
    baseline = None
    reference = model.evaluation_baseline()
    if test_rows is not None and reference is not None:
        baseline = (reference.name, evaluate_model(reference, test_set, dataset.exclude_history, popularity))
    if on_event:
        on_event(name, f"test NDCG@10 {test.metrics['NDCG@10']:.4f}")
    return ModelRun(name, model, fit_seconds, valid, test, len(test_set) if test_rows is not None else None, baseline)


_WORKER: dict[str, Any] = {}
"""A worker process's share of :func:`run_models`' arguments (unpacked on its first model)."""


def _worker_start(payload: bytes) -> None:
    _WORKER["payload"] = payload


def _worker_run(name: str) -> bytes:
    import pickle

    if "dataset" not in _WORKER:
        # Unpacked here, not in the initializer, so that a class that cannot be imported in this
        # process is an ordinary error that reaches the parent, not a broken pool.
        _WORKER.update(pickle.loads(_WORKER.pop("payload")))
        for model_class in _WORKER["registered"]:
            if model_class.name not in REGISTRY:
                REGISTRY.register(model_class)
        set_threads(_WORKER["threads"])
    w = _WORKER
    run = _fit_and_evaluate(name, w["dataset"], w["split"], w["configs"], w["threads"], w["evaluate_valid"], None, quiet=True)
    return pickle.dumps(run, protocol=pickle.HIGHEST_PROTOCOL)  # plain pickle: no shared-memory tensors


def _run_in_workers(
    dataset: Dataset,
    split: Split,
    models: Sequence[str],
    configs: dict[str, dict[str, Any]],
    threads: int,
    evaluate_valid: bool,
    on_event: Callable[[str, str], None] | None,
    jobs: int,
    on_run: Callable[[ModelRun], None] | None = None,
) -> list[ModelRun]:
    import multiprocessing
    import pickle
    from concurrent.futures import ProcessPoolExecutor, as_completed

    classes = {name: get_model_class(name) for name in models}  # an unknown name fails here, before any worker starts
    # Classes added with REGISTRY.register in this process travel by reference (module and name).
    registered = [model_class for name, model_class in classes.items() if not REGISTRY.builtin(name)]
    try:
        payload = pickle.dumps(
            {"dataset": dataset, "split": split, "configs": configs, "threads": threads, "evaluate_valid": evaluate_valid, "registered": registered},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        names = ", ".join(model_class.name for model_class in registered) or "none"
        raise ValueError(
            f"cannot hand the data or a model registered in this process (registered: {names}) to worker "
            f"processes: {error}; define the model in an importable module, or use jobs=1"
        ) from error
    order = sorted(models, key=lambda name: -get_model_class(name).era)  # stable: slow eras first
    runs: dict[str, ModelRun] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(jobs, len(models)), mp_context=context, initializer=_worker_start, initargs=(payload,)) as pool:
        futures = {pool.submit(_worker_run, name): name for name in order}
        if on_event:
            on_event(", ".join(order), f"fitting in {min(jobs, len(models))} worker processes")
        for future in as_completed(futures):
            name = futures[future]
            try:
                run = pickle.loads(future.result())
            except ImportError as error:
                if not registered:
                    raise
                names = ", ".join(model_class.name for model_class in registered)
                raise ValueError(
                    f"a worker process could not import a model registered in this process only ({names}: {error}); "
                    "define it in an importable module, or use jobs=1"
                ) from error
            runs[name] = run
            if on_run:
                on_run(run)
            if on_event:
                on_event(name, f"fitted in {run.fit_seconds:.1f}s; test NDCG@10 {run.test.metrics['NDCG@10']:.4f}")
    return [runs[name] for name in models]


def fit_model(model: Recommender, split: Split, dataset: Dataset) -> Recommender:
    """Fit on the training data with the dataset's item information (and world, if it has one);
    models that early-stop also get the validation set."""
    return fit_on(model, dataset, split.train, split.valid)


def fit_on(model: Recommender, dataset: Dataset, train: SequenceData, valid: Any = None) -> Recommender:
    """Fit on ``train`` (and ``valid`` for early stopping) with the dataset's item information,
    world and history-exclusion setting."""
    if hasattr(model.config, "exclude_history"):
        model.config.exclude_history = dataset.exclude_history
    return model.fit(train, valid, items=dataset.item_info(), world=dataset.extras.get("world"))


@dataclass
class TrainedModel:
    """A model trained for use, and the facts an artifact records about its training."""

    model: Recommender
    training: dict[str, Any]


def train_to_deploy(
    dataset: Dataset,
    name: str,
    config: dict[str, Any] | None,
    threads: int = 1,
    holdout: bool = False,
    on_event: Callable[[str, str], None] | None = None,
) -> TrainedModel:
    """Train model ``name`` for use on new histories.

    By default on every user's whole history (nothing held out: no metrics, and a model that
    early-stops has no validation set, so it trains for its configured epochs). With ``holdout``,
    on the leave-one-out split through :func:`run_models`, recording its validation and test
    metrics. ``training`` holds the split, the metrics, the fit time, epochs, threads and the
    training data's size and fingerprint.
    """
    set_threads(threads)
    if holdout:
        split = make_split("loo", dataset.sequences)
        run = run_models(dataset, split, [name], {name: dict(config or {})}, threads, on_event=on_event).runs[0]
        model, train, fit_seconds = run.model, split.train, run.fit_seconds
        facts: dict[str, Any] = {"split": split.description, "test": run.test.summary()}
        if run.valid is not None:
            facts["valid"] = run.valid.summary()
    else:
        model, train = build_model(name, config, threads), dataset.sequences
        if on_event:
            on_event(name, f"fitting on every history ({train.n_interactions} interactions, nothing held out)")
        start = time.perf_counter()
        fit_on(model, dataset, train)
        fit_seconds = time.perf_counter() - start
        facts = {"split": "none: every user's whole history"}
    training = {
        "holdout": holdout,
        **facts,
        "fit_seconds": round(fit_seconds, 3),
        **epoch_summary(model),
        "threads": threads,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "exclude_history": dataset.exclude_history,
        "train_data": {"users": len(train), "interactions": train.n_interactions, "fingerprint": train.fingerprint()},
    }
    return TrainedModel(model, training)


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
        why = dataset.extras.get("world_unavailable") or "use --dataset shop"  # a streamed world says why
        raise ValueError(
            f"{', '.join(impossible)} need(s) the generator of a synthetic world, which dataset "
            f"{dataset.name!r} does not have ({why})"
        )
    return [n for n in names if n not in impossible]


def runnable_models(
    names: Sequence[str],
    configs: dict[str, dict[str, Any]] | None,
    requested: bool,
    on_skip: Callable[[str, str], None] | None = None,
) -> list[str]:
    """``names`` without the models that cannot run here with their configs (an optional package
    missing: :meth:`~seqrec.models.base.Recommender.unavailable_reason`), each reported through
    ``on_skip(name, reason)``. Models the user ``requested`` by name are all kept: they fail with
    the reason when they run, instead of silently disappearing."""
    if requested:
        return list(names)
    kept = []
    for name in names:
        reason = get_model_class(name).unavailable_reason((configs or {}).get(name))
        if reason is None:
            kept.append(name)
        elif on_skip:
            on_skip(name, f"left out: {reason}")
    return kept


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def replace_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` a temporary file beside ``path``, then rename it to ``path``; the temporary
    file is removed if writing fails, so ``path`` is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

