"""The configs every peer runner shares: the matched settings and the stopping rule.

Pure data (no imports beyond the standard library), so the runners in all three virtual
environments read the same table. Each runner translates these neutral names into its library's
own keys (the translation is in the runner, next to the library's documentation of each key).

* ``MATCHED``: one architecture and optimiser setting per model that every library runs as
  closely as its options allow (cross-entropy over the full catalogue, the same width, depth,
  heads, dropout, history length, batch size and learning rate).
* ``defaults``: each library's own default hyper-parameters for the model (seqrec's: its config
  class's defaults), untouched, except for the stopping rule below.
* ``STOPPING``: the same for every row: at most ``max_epochs`` epochs, stop after ``patience``
  epochs without a better validation NDCG@10 (seqrec's metric: full ranking, history excluded,
  pessimistic ties) and keep the best epoch; a wall-time cap ends training at the first epoch end
  past the cap (the best epoch so far is kept).
"""

from __future__ import annotations

from typing import Any

MODELS = ("sasrec", "gru4rec", "bert4rec")
CONFIGS = ("defaults", "matched")

MATCHED: dict[str, dict[str, Any]] = {
    "sasrec": {
        "dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2, "max_len": 50,
        "batch_size": 128, "lr": 1e-3, "loss": "ce",
    },
    "gru4rec": {
        "dim": 128, "n_layers": 1, "dropout": 0.2, "max_len": 50,
        "batch_size": 128, "lr": 1e-3, "loss": "ce",
    },
    "bert4rec": {
        "dim": 64, "n_layers": 2, "n_heads": 2, "dropout": 0.2, "mask_prob": 0.2, "max_len": 50,
        "batch_size": 128, "lr": 1e-3, "loss": "ce",
    },
}

STOPPING: dict[str, int] = {"max_epochs": 200, "patience": 10}
"""One early-stopping rule for every library, model and config (RecBole's and seqrec's default
patience is 10; RecTools has no early stopping of its own and trains 3 epochs by default)."""
