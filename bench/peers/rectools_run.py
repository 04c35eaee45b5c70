"""Train one RecTools 0.19 model on seqrec's exported ML-100K split and save its test scores.

Runs in ``bench/peers/.venv-rectools`` (``setup_rectools.sh``). RecTools is used as a library:
``SASRecModel`` / ``BERT4RecModel`` with their own data preparators, lightning modules, losses and
``recommend``. GRU4Rec is not in RecTools 0.19 (its sequential models are the transformers
SASRec, BERT4Rec and HSTU), so ``--model gru4rec`` exits with a message and no run.

What the harness sets:

* **data**: ``fit`` gets the exported training and validation rows; ``Columns.Datetime`` is the
  exported ``time_key`` read as milliseconds (the original second plus a tie-breaking millisecond,
  strictly increasing within a user), so RecTools' stable time sort keeps seqrec's order.
* **validation fold**: ``get_val_mask_func`` marks exactly seqrec's validation row of each user
  (matched on user and time key), so RecTools trains without it and keeps it as its validation
  fold. After ``fit`` the runner checks RecTools' validation targets and histories, its training
  sessions and the test histories it recommends from against seqrec's split; any difference ends
  the run.
* **early stopping**: a lightning callback scores the validation users after every epoch through
  ``model.recommend`` (the same call as the test, on the training rows, ``filter_viewed=False``,
  every item) and ranks them with seqrec's ``evaluate_scores`` (history excluded, pessimistic
  ties); patience, maximum epochs and the wall-time cap are ``peer_configs.STOPPING`` and
  ``--cap-minutes``; the best epoch's weights are restored after ``fit``. RecTools' own
  validation loss still runs on its validation fold every epoch (it is part of its loop).
* **test**: ``model.recommend(users, dataset=train+valid rows, k=every item, filter_viewed=True)``;
  its scores are written in seqrec's item ids (items it does not return: ``-inf``).

Known difference: RecTools trains on each user's last ``session_max_len + 1`` interactions only
and builds its item vocabulary from them, so an item seen only earlier in every history cannot be
recommended (the count is recorded as ``unknown_items``).

Patches: none. ``get_trainer_func`` is RecTools' documented hook for a custom lightning Trainer.

usage: bench/peers/.venv-rectools/bin/python bench/peers/rectools_run.py --model sasrec
           [--config matched|defaults] [--seed 0] [--threads 1] [--cap-minutes 60] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as common
import peer_configs as configs

RECTOOLS_MODELS = {"sasrec": "SASRecModel", "bert4rec": "BERT4RecModel"}
NOT_IN_RECTOOLS = {"gru4rec": "GRU4Rec is not in RecTools 0.19 (its sequential models are SASRec, BERT4Rec and HSTU)"}


def matched_settings(model: str) -> dict[str, Any]:
    """``peer_configs.MATCHED`` in RecTools' constructor arguments."""
    matched = configs.MATCHED[model]
    settings: dict[str, Any] = {
        "n_factors": matched["dim"],
        "n_blocks": matched["n_layers"],
        "n_heads": matched["n_heads"],
        "dropout_rate": matched["dropout"],
        "session_max_len": matched["max_len"],
        "batch_size": matched["batch_size"],
        "lr": matched["lr"],
        "loss": "softmax",  # cross-entropy over the whole catalogue
    }
    if model == "bert4rec":
        settings["mask_prob"] = matched["mask_prob"]
    return settings


def frame(data: common.PeerData, *parts: str) -> Any:
    """A RecTools interactions table (external ids = seqrec's ids) of the rows in ``parts``."""
    import pandas as pd
    from rectools import Columns

    mask = data.rows(*parts)
    return pd.DataFrame(
        {
            Columns.User: data.user[mask],
            Columns.Item: data.item[mask],
            Columns.Weight: np.ones(int(mask.sum()), dtype=np.float32),
            Columns.Datetime: pd.to_datetime(data.time_key[mask], unit="ms"),
        }
    )


def valid_row_mask(interactions: Any, users: list[int], time_keys: list[int]) -> np.ndarray:
    """``get_val_mask_func``: True on exactly seqrec's validation row of each user (matched on user
    and time key; RecTools wants a module-level function and JSON-ready keyword arguments)."""
    import pandas as pd
    from rectools import Columns

    wanted = pd.MultiIndex.from_arrays([np.asarray(users, dtype=np.int64), np.asarray(time_keys, dtype=np.int64)])
    keys = pd.MultiIndex.from_arrays(
        [
            interactions[Columns.User].to_numpy(dtype=np.int64),
            interactions[Columns.Datetime].to_numpy().astype("datetime64[ms]").astype(np.int64),
        ]
    )
    return np.asarray(keys.isin(wanted))


def dense_scores(reco: Any, data: common.PeerData) -> np.ndarray:
    """A recommend() table as scores [eval users, n_items + 1] in seqrec's ids (-inf: not returned)."""
    from rectools import Columns

    row_of = {user: row for row, user in enumerate(data.eval_users.tolist())}
    rows = np.array([row_of[user] for user in reco[Columns.User].tolist()], dtype=np.int64)
    out = np.full((len(row_of), data.n_items + 1), -np.inf, dtype=np.float32)
    out[rows, reco[Columns.Item].to_numpy(dtype=np.int64)] = reco[Columns.Score].to_numpy(dtype=np.float32)
    return out


def make_stopping_callback(
    model_ref: dict[str, Any], valid_history: Any, fit_dataset: Any, data: common.PeerData, cap_seconds: float
) -> Any:
    """The lightning callback that checks the split once RecTools has prepared its data, then
    validates with seqrec's metric after every epoch, stops, and keeps the best weights."""
    import pytorch_lightning as pl

    class SeqrecValidation(pl.Callback):
        def __init__(self) -> None:
            self.stopper = common.EarlyStopping(configs.STOPPING["patience"], configs.STOPPING["max_epochs"], cap_seconds)
            self.best_state: dict[str, Any] | None = None
            self.split_check: dict[str, Any] = {}

        def __deepcopy__(self, memo: dict[int, Any]) -> SeqrecValidation:
            return self  # RecTools deep-copies its Trainer before fit: keep this one instance

        def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            model = model_ref["model"]
            kept = model.session_max_len + model.data_preparator.train_session_max_len_addition
            self.split_check = check_split(model, data, fit_dataset, kept)  # SystemExit on a difference
            print(f"split check passed: {self.split_check}", flush=True)
            self.stopper.start = time.perf_counter()

        def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            self.stopper.begin_epoch()

        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            model = model_ref["model"]
            fitted, model.is_fitted = model.is_fitted, True  # recommend() refuses a model mid-fit
            try:
                reco = model.recommend(
                    users=data.eval_users, dataset=valid_history, k=data.n_items, filter_viewed=False
                )
            finally:
                model.is_fitted = fitted
            pl_module.train()  # recommend() put the network in eval mode
            metrics = common.validation_metrics(dense_scores(reco, data), data)
            loss = trainer.callback_metrics.get("train_loss")
            if self.stopper.end_epoch(metrics, None if loss is None else float(loss)):
                self.best_state = copy.deepcopy(pl_module.torch_model.state_dict())
            if self.stopper.should_stop:
                trainer.should_stop = True

    return SeqrecValidation()


def sessions(interactions: Any, user_map: Any, item_map: Any, weight: int | None = None) -> dict[int, list[int]]:
    """``{seqrec user: [seqrec items in time order]}`` of a RecTools internal-id interactions table."""
    from rectools import Columns

    table = interactions if weight is None else interactions[(interactions[Columns.Weight] > 0) == bool(weight)]
    table = table.sort_values(Columns.Datetime, kind="stable")
    users = user_map.convert_to_external(table[Columns.User].to_numpy())
    items = item_map.convert_to_external(table[Columns.Item].to_numpy())
    out: dict[int, list[int]] = {}
    for user, item in zip(users.tolist(), items.tolist(), strict=True):
        out.setdefault(int(user), []).append(int(item))
    return out


def check_split(model: Any, data: common.PeerData, fit_dataset: Any, kept: int) -> dict[str, Any]:
    """RecTools' training sessions, validation fold and test histories against seqrec's split."""
    preparator = model.data_preparator
    train = preparator.train_dataset
    users = data.eval_users.tolist()
    known = {int(item) for item in preparator.get_known_item_ids().tolist()}
    ours_train = data.histories("train")
    # RecTools drops a validation row whose item is outside its vocabulary (built from the kept
    # training windows): every other user's row must be seqrec's validation item.
    ours_valid = data.targets("valid")
    with_known = [u for u, item in zip(users, ours_valid.tolist(), strict=True) if item in known]
    valid_targets = sessions(preparator.val_interactions, train.user_id_map, train.item_id_map, weight=1)
    common.check_equal("valid users (validation item known to RecTools)", sorted(with_known), sorted(valid_targets))
    common.check_equal(
        "valid items",
        [item for item in ours_valid.tolist() if item in known],
        [valid_targets[u][0] for u in with_known],
    )
    common.check_equal("valid rows per user", [1] * len(with_known), [len(valid_targets[u]) for u in with_known])
    valid_histories = sessions(preparator.val_interactions, train.user_id_map, train.item_id_map, weight=0)
    expected = [h[-kept:] for h in ours_train]
    common.check_equal(
        "valid histories",
        [h for u, h in zip(users, expected, strict=True) if u in valid_targets],
        [valid_histories[u] for u in with_known],
    )
    train_sessions = sessions(train.interactions.df, train.user_id_map, train.item_id_map)
    common.check_equal("training sessions", expected, [train_sessions[u] for u in users])
    test_dataset = preparator.transform_dataset_u2i(fit_dataset, data.eval_users)
    test_histories = sessions(test_dataset.interactions.df, test_dataset.user_id_map, test_dataset.item_id_map)
    ours_test = data.histories("train", "valid")
    dropped = sum(int(np.sum(~np.isin(h, list(known)))) for h in ours_test)
    common.check_equal(
        "test histories (known items)",
        [[i for i in h.tolist() if i in known] for h in ours_test],
        [test_histories[u] for u in users],
    )
    return {
        "passed": True,
        "checked": "validation fold (one row per user whose validation item RecTools knows, seqrec's item, "
        "history = the last kept training rows); training sessions; test histories (train + valid rows, "
        "items known to RecTools); validation and test items RecTools does not know are misses",
        "kept_per_user": kept,
        "unknown_items": int(data.n_items - len(known)),
        "valid_items_unknown": len(users) - len(with_known),
        "test_items_unknown": int(sum(item not in known for item in data.targets("test").tolist())),
        "test_history_rows_of_unknown_items": dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=sorted([*RECTOOLS_MODELS, *NOT_IN_RECTOOLS]))
    parser.add_argument("--config", default="matched", choices=configs.CONFIGS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cap-minutes", type=float, default=60.0, help="wall-time cap on training")
    parser.add_argument("--data", default=str(common.DATA), help="exported folder (export.py)")
    parser.add_argument("--out", default=None, help="run folder (default: work/runs/<name>)")
    args = parser.parse_args()
    if args.model in NOT_IN_RECTOOLS:
        print(f"skipped: {NOT_IN_RECTOOLS[args.model]}")
        return
    common.set_thread_env(args.threads)

    import pytorch_lightning as pl
    import rectools
    import torch
    from rectools.dataset import Dataset
    from rectools.models import BERT4RecModel, SASRecModel

    warnings.filterwarnings("ignore", module="pytorch_lightning")
    torch.set_num_threads(args.threads)
    name = common.run_name("rectools", args.model, args.config, args.seed)
    out = Path(args.out) if args.out else common.RUNS / name
    data = common.load_peer_data(Path(args.data))
    header = common.run_header(
        args.threads,
        {"rectools": rectools.__version__, "pytorch_lightning": pl.__version__, "torch": torch.__version__, "numpy": np.__version__},
    )
    pl.seed_everything(args.seed, workers=True, verbose=False)
    fit_dataset = Dataset.construct(frame(data, "train", "valid"))
    valid_history = Dataset.construct(frame(data, "train"))

    model_ref: dict[str, Any] = {}
    callback = make_stopping_callback(model_ref, valid_history, fit_dataset, data, args.cap_minutes * 60)

    def get_trainer() -> pl.Trainer:
        return pl.Trainer(
            max_epochs=configs.STOPPING["max_epochs"],
            min_epochs=1,
            accelerator="cpu",
            devices=1,
            callbacks=[callback],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            logger=False,
        )

    settings = matched_settings(args.model) if args.config == "matched" else {}
    model_class = {"sasrec": SASRecModel, "bert4rec": BERT4RecModel}[args.model]
    model = model_class(
        **settings,
        get_val_mask_func=valid_row_mask,
        get_val_mask_func_kwargs={
            "users": data.user[data.rows("valid")].tolist(),
            "time_keys": data.time_key[data.rows("valid")].tolist(),
        },
        get_trainer_func=get_trainer,
        recommend_torch_device="cpu",
    )
    model_ref["model"] = model
    start = time.perf_counter()
    model.fit(fit_dataset)
    fit_seconds = time.perf_counter() - start
    if callback.best_state is not None:
        model.lightning_model.torch_model.load_state_dict(callback.best_state)
    kept = model.session_max_len + model.data_preparator.train_session_max_len_addition
    reco = model.recommend(users=data.eval_users, dataset=fit_dataset, k=data.n_items, filter_viewed=True)
    test_scores = dense_scores(reco, data)

    keys = ("n_factors", "n_blocks", "n_heads", "dropout_rate", "session_max_len", "batch_size", "lr",
            "loss", "mask_prob", "use_causal_attn", "use_key_padding_mask", "train_min_user_interactions")
    record = {
        "library": "RecTools",
        "library_version": rectools.__version__,
        "model": args.model,
        "library_model": RECTOOLS_MODELS[args.model],
        "config_name": args.config,
        "config": {key: getattr(model, key) for key in keys if hasattr(model, key)},
        "seed": args.seed,
        "threads": args.threads,
        **header,
        "data_fingerprint": data.manifest["fingerprint"],
        "split_check": callback.split_check,
        "patches": [],
        "fit_seconds": round(fit_seconds, 2),
        "training": callback.stopper.summary(),
        "notes": f"trains on each user's last {kept} interactions (RecTools' session_max_len + shift)",
    }
    common.write_run(out, record, test_scores)


if __name__ == "__main__":
    main()
