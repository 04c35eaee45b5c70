"""Train one of seqrec's own networks the way the peer runners train theirs, and save its test scores.

Runs in seqrec's environment. The data is ``load_dataset("ml-100k")`` and ``leave_one_out``; the
runner checks that it is exactly what ``export.py`` gave the peers (the fingerprints and the
evaluated users of the manifest). Validation is seqrec's trainer's own (every epoch, full ranking
through ``evaluate_model``, history excluded, pessimistic ties; the best epoch's weights are
restored); patience and maximum epochs are ``peer_configs.STOPPING`` for every config, and the
wall-time cap is an epoch callback that lowers ``config.epochs`` to the current epoch once the cap
is passed, so the trainer ends after that epoch and restores the best one as usual.

Configs:

* ``matched``: ``peer_configs.MATCHED`` in seqrec's config names;
* ``bench``: the config ``bench/neural_ml100k.py`` chose on validation
  (``bench/results/neural_ml100k_<model>.json``, ``chosen_config``);
* ``defaults``: the model's config class defaults;
* ``recipe``: the model's section of ``configs/recipes/ml-100k.toml``, the training recipe chosen
  on the 3-seed mean of validation NDCG@10 (``bench/results/recipes_ml100k.md``), with the
  harness's stopping rule (``seqrec benchmark --dataset ml-100k --config
  configs/recipes/ml-100k.toml`` trains the same recipes with their own patience).

usage: .venv/bin/python bench/peers/seqrec_run.py --model sasrec
           [--config matched|bench|recipe|defaults] [--seed 0] [--threads 1] [--cap-minutes 60] [--out DIR]
           [--set JSON (overrides on top of --config)] [--label NAME (the table's config name)]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as common
import peer_configs as configs

BENCH_RESULTS = common.REPO / "bench" / "results"
RECIPES = common.REPO / "configs" / "recipes" / "ml-100k.toml"


def matched_settings(model: str) -> dict[str, Any]:
    """``peer_configs.MATCHED`` in seqrec's config names."""
    matched = configs.MATCHED[model]
    settings: dict[str, Any] = {
        "dim": matched["dim"],
        "n_layers": matched["n_layers"],
        "max_len": matched["max_len"],
        "batch_size": matched["batch_size"],
        "lr": matched["lr"],
    }
    if model == "gru4rec":
        settings.update(loss="softmax", dropout_embed=matched["dropout"], dropout_hidden=matched["dropout"])
    else:
        settings.update(n_heads=matched["n_heads"], dropout=matched["dropout"])
    if model == "sasrec":
        settings["loss"] = "softmax"
    if model == "bert4rec":
        settings.update(attention_dropout=matched["dropout"], mask_prob=matched["mask_prob"])
    return settings


def bench_settings(model: str) -> dict[str, Any]:
    """The config ``bench/neural_ml100k.py`` chose on validation for ``model``."""
    path = BENCH_RESULTS / f"neural_ml100k_{model}.json"
    chosen = json.loads(path.read_text()).get("chosen_config")
    if not chosen:
        raise SystemExit(f"{path} has no chosen_config")
    return {key: value for key, value in chosen.items() if key not in ("epochs", "patience")}


def recipe_settings(model: str) -> dict[str, Any]:
    """The model's section of ``configs/recipes/ml-100k.toml`` (without its own epochs and patience)."""
    from seqrec.experiment import load_config_file

    section = load_config_file(RECIPES, [model]).get(model)
    if not section:
        raise SystemExit(f"{RECIPES} has no [{model}] section")
    return {key: value for key, value in section.items() if key not in ("epochs", "patience")}


def training_summary(training: Any, cap_seconds: float, capped: bool) -> dict[str, Any]:
    """seqrec's TrainingResult in the fields every runner writes (``common.EarlyStopping.summary``)."""
    epochs = [
        {
            "epoch": record.epoch,
            "seconds": round(record.seconds, 3),
            "elapsed": round(record.elapsed, 3),
            "valid_ndcg10": round(record.metrics["NDCG@10"], 6),
            "valid_hr10": round(record.metrics["HR@10"], 6),
            "loss": round(record.loss, 6),
        }
        for record in training.records
    ]
    seconds = [epoch["seconds"] for epoch in epochs]
    if capped:
        reason = f"wall-time cap ({cap_seconds:.0f} s)"
    elif training.stopped_early:
        reason = f"patience ({configs.STOPPING['patience']} epochs without a better valid NDCG@10)"
    else:
        reason = f"max_epochs ({configs.STOPPING['max_epochs']})"
    return {
        "epochs": epochs,
        "epochs_run": len(epochs),
        "best_epoch": training.best_epoch,
        "valid_ndcg10": round(training.best_metric, 6),
        "mean_epoch_seconds": round(float(np.mean(seconds)), 3) if seconds else None,
        "seconds_to_best": round(training.seconds_to_best, 3),
        "train_seconds": round(training.seconds, 3),
        "stop_reason": reason,
        "capped": capped,
        "patience": configs.STOPPING["patience"],
        "max_epochs": configs.STOPPING["max_epochs"],
        "cap_seconds": cap_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=configs.MODELS)
    parser.add_argument("--config", default="matched", choices=[*configs.CONFIGS, "bench", "recipe"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cap-minutes", type=float, default=60.0, help="wall-time cap on training")
    parser.add_argument("--data", default=str(common.DATA), help="exported folder (export.py)")
    parser.add_argument("--out", default=None, help="run folder (default: work/runs/<name>)")
    parser.add_argument("--set", default="{}", help="config overrides (JSON) on top of --config")
    parser.add_argument("--label", default="", help="the config's name in the table (default: --config)")
    args = parser.parse_args()
    overrides = json.loads(args.set)
    common.set_thread_env(args.threads)

    import torch

    import seqrec
    from seqrec.data.datasets import load_dataset
    from seqrec.data.splits import leave_one_out
    from seqrec.evaluation.protocol import evaluate_model
    from seqrec.models.neural.bert4rec import BERT4Rec
    from seqrec.models.neural.gru4rec import GRU4Rec
    from seqrec.models.neural.sasrec import SASRec

    torch.set_num_threads(args.threads)
    name = common.run_name("seqrec", args.model, args.config, args.seed)
    out = Path(args.out) if args.out else common.RUNS / name
    manifest = json.loads((Path(args.data) / "manifest.json").read_text())
    header = common.run_header(args.threads, {"seqrec": getattr(seqrec, "__version__", "dev"), "torch": torch.__version__, "numpy": np.__version__})
    dataset = load_dataset("ml-100k")
    split = leave_one_out(dataset.sequences, source=dataset.name)
    if dataset.sequences.fingerprint() != manifest["fingerprint"] or split.train.fingerprint() != manifest["train_fingerprint"]:
        raise SystemExit("seqrec's ML-100K differs from the exported one: run export.py again")
    if split.test.histories.users.tolist() != manifest["eval_users"]:
        raise SystemExit("seqrec's evaluated users differ from the exported ones")

    chooser = {"matched": matched_settings, "bench": bench_settings, "recipe": recipe_settings, "defaults": lambda model: {}}
    settings = {**chooser[args.config](args.model), **overrides}
    config = {
        **settings,
        "epochs": configs.STOPPING["max_epochs"],
        "patience": configs.STOPPING["patience"],
        "seed": args.seed,
        "threads": args.threads,
        "progress": False,
        "exclude_history": dataset.exclude_history,
    }
    model_class = {"sasrec": SASRec, "gru4rec": GRU4Rec, "bert4rec": BERT4Rec}[args.model]
    model = model_class(config)
    effective_config = {
        key: value for key, value in model.config_dict().items() if key not in ("progress", "checkpoint_dir", "resume")
    }
    cap_seconds = args.cap_minutes * 60
    capped = {"hit": False}

    def cap(record: Any) -> None:
        print(f"  epoch {record.epoch}: {record.seconds:.1f} s, valid NDCG@10 {record.metrics['NDCG@10']:.4f}"
              + (" *" if record.improved else ""), flush=True)
        if record.elapsed >= cap_seconds and record.epoch < model.config.epochs:
            # The trainer reads config.epochs in its loop condition: it ends after this epoch and
            # restores the best epoch's weights as it does after early stopping.
            model.config.epochs = record.epoch
            capped["hit"] = True

    start = time.perf_counter()
    model.fit(split.train, split.valid, callbacks=[cap])
    fit_seconds = time.perf_counter() - start
    training = model.training
    assert training is not None
    test_scores = model.checked_scores(split.test.histories)  # [eval users, n_items + 1]
    # The model evaluated directly: score.py must get the same numbers from the saved scores.
    own = evaluate_model(model, split.test, dataset.exclude_history, split.train.item_counts())
    record = {
        "library": "seqrec",
        "library_version": getattr(seqrec, "__version__", "dev"),
        "model": args.model,
        "library_model": model_class.__name__,
        "config_name": args.label or args.config,
        "overrides": overrides,
        "config": effective_config,
        "seed": args.seed,
        "threads": args.threads,
        **header,
        "data_fingerprint": manifest["fingerprint"],
        "split_check": {"passed": True, "checked": "the same load_dataset + leave_one_out; fingerprints and users equal the manifest's"},
        "patches": [],
        "fit_seconds": round(fit_seconds, 2),
        "training": training_summary(training, cap_seconds, capped["hit"]),
        "notes": "",
        "own_test": {key: own.metrics[key] for key in ("HR@10", "NDCG@10")},
    }
    common.write_run(out, record, test_scores)


if __name__ == "__main__":
    main()
