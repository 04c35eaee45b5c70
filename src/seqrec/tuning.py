"""Fair tuning: every model searches its declared space on the validation split only.

Dacrema et al. (2019) and Ludewig et al. (2021) showed that untuned baselines make new models look
better than they are, so ``seqrec tune`` gives every model the same budget of Optuna trials (TPE,
seeded). Each trial fits on ``split.train`` and is scored by NDCG@10 on ``split.valid``; the test
targets are never touched. The best config is saved as JSON (atomically) where ``seqrec
benchmark --tuned`` finds it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqrec.data.splits import Split
from seqrec.data.types import Dataset
from seqrec.evaluation.protocol import evaluate_model
from seqrec.experiment import (
    TUNED_DIR,
    build_model,
    fit_model,
    json_default,
    set_threads,
    tuned_config_path,
    write_atomic,
)
from seqrec.models import get_model_class


def tune(
    model_name: str,
    dataset: Dataset,
    split: Split,
    trials: int,
    base_config: dict[str, Any] | None = None,
    threads: int = 1,
    seed: int = 0,
    metric: str = "NDCG@10",
    on_trial: Callable[[int, float, dict[str, Any]], None] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Search the model's space; returns ``{"config", "value", "trials": [...]}``.

    ``timeout`` (seconds) stops starting new trials once that much wall time has passed (the
    trial running then finishes), so models of very different cost can get the same budget; trial 0
    (the base config) always runs.
    """
    import optuna

    model_class = get_model_class(model_name)
    if trials < 1:
        raise ValueError("trials must be at least 1")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout}")
    set_threads(threads)
    popularity = split.train.item_counts()
    history: list[dict[str, Any]] = []

    def evaluate(number: int, overrides: dict[str, Any]) -> float:
        model = build_model(model_name, overrides, threads)
        start = time.perf_counter()
        fit_model(model, split, dataset)
        result = evaluate_model(model, split.valid, dataset.exclude_history, popularity)
        value = result.metrics[metric]
        history.append({"number": number, "value": value, "config": overrides, "seconds": time.perf_counter() - start})
        if on_trial is not None:
            on_trial(number, value, overrides)
        return value

    def objective(trial: optuna.Trial) -> float:
        return evaluate(trial.number + 1, {**(base_config or {}), **model_class.search_space(trial)})

    started = time.perf_counter()
    # Trial 0 is the base config as it is, so tuning can only match or beat it. It runs outside
    # Optuna: a default need not lie inside the searched ranges (a weight decay of 0 on a log
    # scale) nor be one of its parameters (NextItNet searches a block count, not dilations).
    evaluate(0, dict(base_config or {}))
    left = None if timeout is None else timeout - (time.perf_counter() - started)
    if trials > 1 and (left is None or left > 0):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(objective, n_trials=trials - 1, timeout=left)
    best = max(history, key=lambda row: row["value"])
    return {
        "model": model_name,
        "metric": f"valid {metric}",
        "value": best["value"],
        "config": best["config"],
        "budget": {"trials": trials, "timeout_seconds": timeout, "threads": threads, "seed": seed},
        "trials": history,
    }


def save_tuned(result: dict[str, Any], dataset: str, split: str, root: Path = TUNED_DIR) -> Path:
    path = tuned_config_path(dataset, result["model"], split, root)
    write_atomic(path, json.dumps(result, indent=2, default=json_default) + "\n")
    return path
