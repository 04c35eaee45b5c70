"""Train one RecBole 1.2.1 model on seqrec's exported ML-100K split and save its test scores.

Runs in ``bench/peers/.venv-recbole`` (``setup_recbole.sh``). RecBole is used as a library: its
Config, SequentialDataset, data_preparation, model classes and its Trainer's ``_train_epoch``
(optimiser, loss, batching are all RecBole's). What the harness changes:

* **data**: ``interactions.tsv`` is written as the RecBole atomic file
  ``<work>/recbole/data/seqrec_ml100k/seqrec_ml100k.inter`` (``user_id:token``,
  ``item_id:token``, ``timestamp:float``). The timestamp is the global dense rank of the exported
  ``time_key`` (strictly increasing within a user; below 2**24, so RecBole's float32 time column
  holds it exactly), so RecBole's ``LS`` leave-one-out split with ``order: TO`` cannot reorder
  same-second interactions. After ``data_preparation`` the runner checks that RecBole's
  validation and test rows hold exactly seqrec's validation and test item per user, with exactly
  seqrec's history (its last ``MAX_ITEM_LIST_LENGTH`` items), and that RecBole's training rows
  are exactly the prefixes of seqrec's training sequences; any difference ends the run.
* **validation and early stopping**: RecBole's own full-sort evaluation of sequential models does
  not remove history items (its ``FullSortEvalDataLoader`` builds no history for them) and breaks
  ties by ``torch.topk``. Each epoch the runner scores the validation rows with the model's
  ``full_sort_predict`` and ranks them with seqrec's ``evaluate_scores`` (history excluded,
  pessimistic ties); patience, maximum epochs and the wall-time cap are ``peer_configs.STOPPING`` and
  ``--cap-minutes``. The best epoch's weights are kept in memory and restored (RecBole's
  checkpoint file is never written or read).
* **test**: ``full_sort_predict`` on the test rows, mapped to seqrec's item ids, saved as
  ``test_scores.npy`` for ``score.py``.

Patches for current torch and for driving RecBole as a library, applied at run time (never by
editing site-packages):

1. ``recbole.trainer.trainer.get_tensorboard`` -> a no-op writer: RecBole's Trainer opens a
   TensorBoard ``SummaryWriter`` under ``./log_tensorboard`` in its constructor; the harness does
   not log to TensorBoard (the runner also works in ``<work>/recbole`` so RecBole's ``log/`` and
   ``saved/`` folders land there).
2. ``sys.argv`` is emptied while ``Config`` is built: RecBole's Config reads ``--key=value``
   arguments from the command line and would take the runner's own flags as RecBole settings.
3. torch >= 2.4 deprecates ``torch.cuda.amp.GradScaler`` (what RecBole's ``_train_epoch`` calls
   through ``import torch.cuda.amp as amp``) in favour of ``torch.amp.GradScaler("cuda")``;
   where the old name is gone or warns, the module's ``amp`` is replaced with a shim that builds
   the new one (the scaler is disabled on the CPU either way).
4. ``torch.load`` (weights_only=True by default since torch 2.6) would refuse RecBole's own
   checkpoints, which pickle the Config; the runner never calls RecBole's checkpoint loader
   (``Trainer.evaluate(load_best_model=True)``, ``resume_checkpoint``), so it is not patched.

usage: bench/peers/.venv-recbole/bin/python bench/peers/recbole_run.py --model sasrec
           [--config matched|defaults] [--seed 0] [--threads 1] [--cap-minutes 60] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
import time
import types
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as common
import peer_configs as configs

RECBOLE_MODELS = {"sasrec": "SASRec", "gru4rec": "GRU4Rec", "bert4rec": "BERT4Rec"}
DATASET = "seqrec_ml100k"


def matched_settings(model: str) -> dict[str, Any]:
    """``peer_configs.MATCHED`` in RecBole's keys (its ``properties/model/<Model>.yaml`` names)."""
    matched = configs.MATCHED[model]
    settings: dict[str, Any] = {
        "MAX_ITEM_LIST_LENGTH": matched["max_len"],
        "train_batch_size": matched["batch_size"],
        "learning_rate": matched["lr"],
        "loss_type": "CE",
        "weight_decay": 0.0,
    }
    if model == "gru4rec":
        settings.update(
            embedding_size=matched["dim"], hidden_size=matched["dim"], num_layers=matched["n_layers"],
            dropout_prob=matched["dropout"],
        )
    else:
        settings.update(
            hidden_size=matched["dim"], inner_size=matched["dim"] * 4, n_layers=matched["n_layers"],
            n_heads=matched["n_heads"], hidden_dropout_prob=matched["dropout"],
            attn_dropout_prob=matched["dropout"],
        )
    if model == "bert4rec":
        settings["mask_ratio"] = matched["mask_prob"]
    return settings


def harness_settings(work: Path, seed: int) -> dict[str, Any]:
    """What every RecBole run gets: our data, RecBole's LS split, and no GPU, logging or files."""
    return {
        "data_path": str(work / "data"),
        "dataset": DATASET,
        "checkpoint_dir": str(work / "saved"),
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        # Cross-entropy over the catalogue needs no sampled negatives (RecBole refuses them with CE).
        "train_neg_sample_args": None,
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "epochs": configs.STOPPING["max_epochs"],
        "stopping_step": configs.STOPPING["patience"],
        "valid_metric": "NDCG@10",
        "metrics": ["Hit", "NDCG"],
        "topk": [10],
        "seed": seed,
        "reproducibility": True,
        "use_gpu": False,
        "gpu_id": "",
        "show_progress": False,
        "save_dataset": False,
        "save_dataloaders": False,
        "state": "WARNING",
        "worker": 0,
    }


def write_atomic(data: common.PeerData, work: Path) -> Path:
    """The RecBole ``.inter`` file: every interaction with a tie-free time order."""
    folder = work / "data" / DATASET
    folder.mkdir(parents=True, exist_ok=True)
    _, rank = np.unique(data.time_key, return_inverse=True)  # dense rank, < 2**24 rows
    if rank.max() >= 2**24:
        raise SystemExit("too many distinct times for RecBole's float32 time column")
    path = folder / f"{DATASET}.inter"
    with path.open("w") as handle:
        handle.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user, item, key in zip(data.user.tolist(), data.item.tolist(), rank.tolist(), strict=True):
            handle.write(f"{user}\t{item}\t{key}\n")
    return path


# -- patches -------------------------------------------------------------------------------------
class _NoTensorBoard:
    """Stands in for RecBole's SummaryWriter (patch 1)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def apply_patches() -> list[str]:
    """Patches 1 and 3 of the module docstring; returns what was applied."""
    import torch
    from recbole.trainer import trainer as recbole_trainer

    applied = []
    recbole_trainer.get_tensorboard = lambda logger: _NoTensorBoard()
    applied.append("get_tensorboard -> no-op writer")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            torch.cuda.amp.GradScaler(enabled=False)
            old_scaler_ok = True
        except (AttributeError, FutureWarning, DeprecationWarning):
            old_scaler_ok = False
    if not old_scaler_ok:
        shim = types.SimpleNamespace(GradScaler=lambda **kwargs: torch.amp.GradScaler("cuda", **kwargs))
        recbole_trainer.amp = shim
        applied.append("torch.cuda.amp.GradScaler -> torch.amp.GradScaler('cuda')")
    return applied


@contextmanager
def without_command_line():
    """Patch 2: RecBole's Config must not read the runner's own arguments."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


# -- the split check ------------------------------------------------------------------------------
class IdMaps:
    """RecBole's internal ids <-> seqrec's ids (RecBole remaps tokens; 0 is its padding)."""

    def __init__(self, dataset: Any) -> None:
        user_tokens = dataset.field2id_token["user_id"]
        item_tokens = dataset.field2id_token["item_id"]
        self.user = np.array([-1] + [int(token) for token in user_tokens[1:]], dtype=np.int64)
        self.item = np.array([0] + [int(token) for token in item_tokens[1:]], dtype=np.int64)


def rows_of(feature: Any, maps: IdMaps) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(our users [R], our targets [R], our histories) of a RecBole sequential Interaction."""
    users = maps.user[feature["user_id"].numpy()]
    targets = maps.item[feature["item_id"].numpy()]
    lists = feature["item_id_list"].numpy()
    lengths = feature["item_length"].numpy()
    histories = [maps.item[row[:length]] for row, length in zip(lists, lengths, strict=True)]
    return users, targets, histories


def check_split(data: common.PeerData, built: tuple[Any, Any, Any], maps: IdMaps, max_len: int) -> dict[str, Any]:
    """RecBole's train/valid/test rows against seqrec's split; SystemExit on any difference."""
    train_ds, valid_ds, test_ds = built
    eval_users = data.eval_users
    for part, dataset, history_parts in (("valid", valid_ds, ("train",)), ("test", test_ds, ("train", "valid"))):
        users, targets, histories = rows_of(dataset.inter_feat, maps)
        order = {user: row for row, user in enumerate(users.tolist())}
        common.check_equal(f"{part} users", sorted(eval_users.tolist()), sorted(order))
        rows = [order[user] for user in eval_users.tolist()]
        common.check_equal(f"{part} items", data.targets(part), targets[rows])
        ours = [history[-max_len:] for history in data.histories(*history_parts)]
        common.check_equal(f"{part} histories", ours, [histories[row] for row in rows])
    users, targets, histories = rows_of(train_ds.inter_feat, maps)
    expected_targets, expected_histories = [], []
    for sequence in data.histories("train"):
        expected_targets.extend(sequence[1:].tolist())
        expected_histories.extend(sequence[max(0, t - max_len) : t] for t in range(1, len(sequence)))
    by_user = np.argsort(users, kind="stable")  # RecBole's rows are user-major already
    common.check_equal("training targets", expected_targets, targets[by_user].tolist())
    common.check_equal("training histories", expected_histories, [histories[row] for row in by_user])
    return {
        "passed": True,
        "checked": "valid and test item and history (last MAX_ITEM_LIST_LENGTH items) of every user; "
        "every training row (target and history)",
        "valid_rows": len(valid_ds.inter_feat),
        "test_rows": len(test_ds.inter_feat),
        "train_rows": len(train_ds.inter_feat),
    }


# -- scoring ---------------------------------------------------------------------------------------
def score_rows(model: Any, feature: Any, maps: IdMaps, data: common.PeerData, batch_size: int = 256) -> np.ndarray:
    """Scores [eval users, n_items + 1] in seqrec's ids and ``eval_users`` order (-inf where RecBole
    has no item) from ``full_sort_predict`` on the rows of a validation or test Interaction."""
    import torch

    users = maps.user[feature["user_id"].numpy()]
    position = {user: row for row, user in enumerate(users.tolist())}
    out = np.full((len(users), data.n_items + 1), -np.inf, dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            batch = feature[start : start + batch_size]
            scores = model.full_sort_predict(batch).reshape(len(batch), -1).float().numpy()  # [b, RecBole items]
            out[start : start + len(batch), maps.item[1:]] = scores[:, 1 : len(maps.item)]
    rows = [position[user] for user in data.eval_users.tolist()]
    return out[rows]


class FirstBatches:
    """The first ``n`` batches of a RecBole training loader (``--max-batches``, smoke tests only)."""

    def __init__(self, loader: Any, n: int) -> None:
        self.loader, self.n = loader, n
        self.shuffle = loader.shuffle

    def __iter__(self) -> Any:
        return itertools.islice(iter(self.loader), self.n)

    def __len__(self) -> int:
        return min(self.n, len(self.loader))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=sorted(RECBOLE_MODELS))
    parser.add_argument("--config", default="matched", choices=configs.CONFIGS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cap-minutes", type=float, default=60.0, help="wall-time cap on training")
    parser.add_argument("--data", default=str(common.DATA), help="exported folder (export.py)")
    parser.add_argument("--out", default=None, help="run folder (default: work/runs/<name>)")
    parser.add_argument(
        "--max-batches", type=int, default=0,
        help="smoke tests only: train on the first N batches of each epoch (0 = all; the run is marked smoke)",
    )
    args = parser.parse_args()
    common.set_thread_env(args.threads)

    import recbole
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.trainer import Trainer
    from recbole.utils import get_model, init_seed

    torch.set_num_threads(args.threads)
    name = common.run_name("recbole", args.model, args.config, args.seed)
    out = Path(args.out) if args.out else common.RUNS / name
    work = common.WORK / "recbole"
    work.mkdir(parents=True, exist_ok=True)
    data = common.load_peer_data(Path(args.data))
    header = common.run_header(args.threads, {"recbole": recbole.__version__, "torch": torch.__version__, "numpy": np.__version__})
    write_atomic(data, work)
    patches = apply_patches()

    settings = harness_settings(work, args.seed)
    if args.config == "matched":
        settings.update(matched_settings(args.model))
    with without_command_line():
        config = Config(model=RECBOLE_MODELS[args.model], dataset=DATASET, config_dict=settings)
    init_seed(config["seed"], config["reproducibility"])
    setup_start = time.perf_counter()
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    maps = IdMaps(dataset)
    max_len = int(config["MAX_ITEM_LIST_LENGTH"])
    split_check = check_split(data, (train_data.dataset, valid_data.dataset, test_data.dataset), maps, max_len)
    print(f"split check passed: {split_check}", flush=True)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = Trainer(config, model)
    setup_seconds = time.perf_counter() - setup_start

    stopper = common.EarlyStopping(configs.STOPPING["patience"], configs.STOPPING["max_epochs"], args.cap_minutes * 60)
    best_state = copy.deepcopy(model.state_dict())
    epoch_data = FirstBatches(train_data, args.max_batches) if args.max_batches > 0 else train_data
    for epoch_index in range(stopper.max_epochs):
        stopper.begin_epoch()
        loss = trainer._train_epoch(epoch_data, epoch_index, show_progress=False)
        loss_value = float(sum(loss)) if isinstance(loss, tuple) else float(loss)
        metrics = common.validation_metrics(score_rows(model, valid_data.dataset.inter_feat, maps, data), data)
        if stopper.end_epoch(metrics, loss_value / max(1, len(epoch_data))):
            best_state = copy.deepcopy(model.state_dict())
        if stopper.should_stop:
            break
    model.load_state_dict(best_state)
    test_scores = score_rows(model, test_data.dataset.inter_feat, maps, data)

    keys = ("MAX_ITEM_LIST_LENGTH", "train_batch_size", "learning_rate", "loss_type", "weight_decay",
            "embedding_size", "hidden_size", "inner_size", "num_layers", "n_layers", "n_heads",
            "dropout_prob", "hidden_dropout_prob", "attn_dropout_prob", "hidden_act", "mask_ratio",
            "ft_ratio", "learner", "initializer_range")
    record = {
        "library": "RecBole",
        "library_version": recbole.__version__,
        "model": args.model,
        "library_model": RECBOLE_MODELS[args.model],
        "config_name": args.config,
        "config": {key: config[key] for key in keys if config[key] is not None},
        "seed": args.seed,
        "threads": args.threads,
        **header,
        "data_fingerprint": data.manifest["fingerprint"],
        "split_check": split_check,
        "patches": patches + ["sys.argv emptied while Config is built"],
        "setup_seconds": round(setup_seconds, 2),
        "training": {**stopper.summary(), "batches_per_epoch": len(epoch_data), "full_batches_per_epoch": len(train_data)},
        "smoke": args.max_batches > 0,
        "notes": "one training row per prefix (RecBole's data augmentation); CE loss on the last position"
        + (f"; SMOKE: {len(epoch_data)} of {len(train_data)} batches per epoch" if args.max_batches > 0 else ""),
    }
    common.write_run(out, record, test_scores)


if __name__ == "__main__":
    main()
