"""Caser: convolutional sequence embedding.

Tang, J. & Wang, K. (2018). *Personalized Top-N Sequential Recommendation via Convolutional
Sequence Embedding.* WSDM 2018. Official code: github.com/graytowne/caser_pytorch.

The network (the paper's model section, official ``caser.py``) reads the embeddings of the last
``L`` items as an ``L x D`` "image" ``E``:

* **horizontal** filters of every height ``h = 1..L`` (``n_h`` of each) slide down ``E``; each
  filter sees ``h`` consecutive items (a union-level or point-level sequential pattern), is
  activated by ReLU and max-pooled over its ``L - h + 1`` placements;
* **vertical** filters (``n_v`` of them, ``L x 1``) take weighted sums of the ``L`` rows, one
  per embedding column, without activation (official code);
* both are concatenated, dropped out (0.5) and mapped to ``D`` by a ReLU layer, ``z``;
* the prediction layer scores ``y_i = W'_i · [z; P_u] + b'_i`` with separate output embeddings
  ``W'`` (``2D`` wide) and a per-item bias ``b'``.

How this fits the shared trainer:

* **Causal use via sliding L-windows** (``Objective.CAUSAL``). The paper trains each user's
  sequence as sliding windows of ``L`` items, each predicting the ``T`` items that follow. Here
  every position ``t`` of a training window gets the Caser representation of its own L-window
  (inputs ``t - L + 1 .. t``, zero embeddings before the sequence start), so all windows of a
  sequence train in one pass. The network never reads the future: the convolutions are padded
  on the left only and pooled over placements that end at or before ``t``. (``Objective.LAST``
  would train the same windows, one prefix per example, at ``max_len`` times the cost.)
* **No user embedding.** ``P_u`` is a free vector per training user, which would make the
  model unable to score a new history (the walkthrough's persona, a user who is not in
  ``train``). With ``history_summary`` (the default) it is replaced by the mean of a second,
  "long-term" embedding table over every input item up to ``t`` (at most ``max_len`` of them),
  the FISM/Fossil way of writing a user as the items they consumed; without it the output is
  ``z`` alone (``W'`` is then ``D`` wide).

Deviations:

* ``T = 1``: every position predicts its next item only; the paper's "skip" targets
  (``T = 3`` in the official code) are not used;
* the paper's loss is binary cross-entropy with 3 sampled negatives per target; the shared
  trainer's loss is selectable (full softmax by default; ``loss="bce"`` is the paper's, with
  negatives shared by a batch);
* positions before the sequence start are zero vectors; the official code pads with item 0,
  which has a learned embedding there.

:meth:`CaserNetwork.encode` computes every window at once with convolutions over the whole
sequence (the fast path); :meth:`CaserNetwork.encode_reference` cuts each window out and runs
the paper's per-window computation (the slow, obviously correct path). The tests check that
they agree.

Explanation: the most activated horizontal filters for the final position's window, with the
history positions and items each one's best placement covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqrec.data.types import PADDING
from seqrec.models.base import ContractSettings, Explanation, ExplanationKind, help_field
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.network import Objective, SequenceNetwork
from seqrec.models.neural.recommender import NeuralRecommender


class CaserNetwork(SequenceNetwork):
    """Horizontal + vertical convolutions over the last ``window`` item embeddings."""

    objective: ClassVar[Objective] = Objective.CAUSAL

    def __init__(self, n_items: int, config: CaserConfig) -> None:
        super().__init__(n_items, config.max_len)
        dim, window, history_summary = config.dim, config.window, config.history_summary
        n_vertical, n_horizontal = config.n_vertical, config.n_horizontal
        if window < 1 or n_vertical < 0 or n_horizontal < 0 or n_vertical + n_horizontal == 0:
            raise ValueError(
                f"Caser needs window >= 1 and at least one filter; got window={window}, "
                f"n_vertical={n_vertical}, n_horizontal={n_horizontal}"
            )
        self.dim = dim
        self.window = window
        self.n_vertical = n_vertical
        self.n_horizontal = n_horizontal
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=PADDING)
        # Conv2d(1, n_v, (L, 1)) of the paper = one weight per window row, shared by all columns.
        self.vertical = nn.Conv1d(1, n_vertical, kernel_size=window) if n_vertical else None
        # Conv2d(1, n_h, (h, D)) = a 1-D convolution over time with D input channels.
        self.horizontal = nn.ModuleList(
            nn.Conv1d(dim, n_horizontal, kernel_size=h) for h in range(1, window + 1)
        )
        self.dropout = nn.Dropout(config.dropout)
        # z = ReLU(W [o; õ] + b) of the horizontal o and vertical õ features
        self.fully_connected = nn.Linear(n_vertical * dim + n_horizontal * window, dim)
        self.summary_embedding = (
            nn.Embedding(n_items + 1, dim, padding_idx=PADDING) if history_summary else None
        )
        output_dim = 2 * dim if history_summary else dim
        self.output_embedding = nn.Embedding(n_items + 1, output_dim)  # W'
        self.output_bias = nn.Parameter(torch.zeros(n_items + 1))  # b'
        self._init_weights(output_dim)

    def _init_weights(self, output_dim: int) -> None:
        # N(0, 1/d) embeddings and zero output bias, as in the official code.
        with torch.no_grad():
            self.item_embedding.weight.normal_(0.0, 1.0 / self.dim)
            self.item_embedding.weight[PADDING].zero_()
            if self.summary_embedding is not None:
                self.summary_embedding.weight.normal_(0.0, 1.0 / self.dim)
                self.summary_embedding.weight[PADDING].zero_()
            self.output_embedding.weight.normal_(0.0, 1.0 / output_dim)

    # -- the fast path: every window of the sequence at once --------------------------------
    def encode(self, input_ids: Tensor) -> Tensor:
        embedded = self.item_embedding(input_ids)  # [B, T, D]
        features = [self._vertical_all(embedded), self._horizontal_all(embedded)]
        z = self._fully_connected([f for f in features if f is not None])  # [B, T, D]
        return self._with_summary(z, input_ids)

    def _vertical_all(self, embedded: Tensor) -> Tensor | None:
        """Vertical features ``[B, T, n_v * D]`` of the window ending at each position."""
        if self.vertical is None:
            return None
        batch, length, dim = embedded.shape
        columns = embedded.transpose(1, 2).reshape(batch * dim, 1, length)  # [B*D, 1, T]
        columns = F.pad(columns, (self.window - 1, 0))  # left only: causal
        out = self.vertical(columns).view(batch, dim, self.n_vertical, length)  # [B, D, n_v, T]
        out = out.permute(0, 3, 2, 1)  # [B, T, n_v, D]
        return out.reshape(batch, length, self.n_vertical * dim)  # [B, T, n_v*D]

    def _horizontal_all(self, embedded: Tensor) -> Tensor | None:
        """Max-pooled horizontal features ``[B, T, n_h * L]`` of the window ending at each ``t``."""
        if not self.n_horizontal:
            return None
        channels = F.pad(embedded.transpose(1, 2), (self.window - 1, 0))  # [B, D, T + L - 1]
        pooled = []
        for height, conv in enumerate(self.horizontal, start=1):
            maps = F.relu(
                conv(channels)
            )  # [B, n_h, T + L - height]: placement j covers t = j-L+1 .. j-L+height
            # The window ending at t holds the L - height + 1 placements j = t .. t + L - height.
            pooled.append(
                F.max_pool1d(maps, kernel_size=self.window - height + 1, stride=1)
            )  # [B, n_h, T]
        return torch.cat(pooled, dim=1).transpose(1, 2)  # [B, T, n_h * L]

    def _fully_connected(self, features: list[Tensor]) -> Tensor:
        return F.relu(self.fully_connected(self.dropout(torch.cat(features, dim=-1))))  # z

    def history_summary(self, input_ids: Tensor) -> Tensor | None:
        """``s_t [B, T, D]`` for ``P_u``: the mean long-term embedding of the inputs up to ``t``."""
        if self.summary_embedding is None:
            return None
        real = (input_ids != PADDING).unsqueeze(-1).float()  # [B, T, 1]
        running_sum = torch.cumsum(self.summary_embedding(input_ids), dim=1)  # [B, T, D]
        return running_sum / torch.cumsum(real, dim=1).clamp(min=1.0)  # [B, T, D]

    def _with_summary(self, z: Tensor, input_ids: Tensor) -> Tensor:
        """``[z; s_t]`` (the paper's ``[z; P_u]``), or ``z`` alone without a summary."""
        summary = self.history_summary(input_ids)
        return z if summary is None else torch.cat([z, summary], dim=-1)  # [B, T, 2D]

    # -- the slow path: the paper's computation, one window at a time ----------------------------
    def window_embeddings(self, input_ids: Tensor, position: int) -> Tensor:
        """The ``L x D`` image ``[B, L, D]`` of the window ending at ``position``."""
        first = position - self.window + 1
        padding = max(0, -first)
        ids = input_ids[:, max(0, first) : position + 1]  # [B, <= L]
        return F.pad(self.item_embedding(ids), (0, 0, padding, 0))  # [B, L, D]

    def horizontal_maps(self, windows: Tensor) -> list[Tensor]:
        """Activated horizontal feature maps of each height: ``[N, n_h, L - h + 1]``."""
        channels = windows.transpose(1, 2)  # [N, D, L]
        return [F.relu(conv(channels)) for conv in self.horizontal]

    def window_features(self, windows: Tensor) -> Tensor:
        """Concatenated vertical and max-pooled horizontal features ``[N, n_v*D + n_h*L]``."""
        features = []
        if self.vertical is not None:
            weights = self.vertical.weight[:, 0, :]  # [n_v, L]
            assert self.vertical.bias is not None
            vertical = (
                torch.einsum("fl,nld->nfd", weights, windows) + self.vertical.bias[None, :, None]
            )
            features.append(vertical.flatten(1))  # [N, n_v * D]
        if self.n_horizontal:
            features.append(
                torch.cat([maps.max(dim=2).values for maps in self.horizontal_maps(windows)], dim=1)
            )
        return torch.cat(features, dim=1)

    def encode_reference(self, input_ids: Tensor) -> Tensor:
        """As :meth:`encode`, one L-window per position; slow, for tests and explanations."""
        per_position = [
            F.relu(
                self.fully_connected(
                    self.dropout(self.window_features(self.window_embeddings(input_ids, t)))
                )
            )
            for t in range(input_ids.shape[1])
        ]
        return self._with_summary(torch.stack(per_position, dim=1), input_ids)  # [B, T, D or 2D]

    def item_embeddings(self) -> Tensor:
        return self.output_embedding.weight  # [n_items + 1, D or 2D]

    def item_bias(self) -> Tensor:
        return self.output_bias  # [n_items + 1]


@dataclass
class CaserConfig(NeuralConfig):
    window: int = help_field(
        5, "L: how many recent items each convolution window reads (paper: 5)."
    )
    n_vertical: int = help_field(4, "Vertical filters n_v (official code: 4).")
    n_horizontal: int = help_field(
        16, "Horizontal filters n_h of each height 1..L (official code: 16)."
    )
    dropout: float = help_field(
        0.5, "Dropout before the fully-connected layer (official code: 0.5)."
    )
    history_summary: bool = help_field(
        True,
        "Replace the user embedding by the mean long-term embedding of the history (else drop it).",
    )


class Caser(NeuralRecommender[CaserConfig]):
    """Caser (Tang & Wang 2018) on the shared trainer, causal over sliding L-windows."""

    name: ClassVar[str] = "caser"
    contract = ContractSettings(
        {"dim": 16, "max_len": 8, "window": 3, "dropout": 0.1, "epochs": 20, "batch_size": 32, "lr": 1e-2, "progress": False},
    )
    Config: ClassVar[type] = CaserConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [32, 64, 128]),
            "window": trial.suggest_int("window", 2, 9),
            "n_horizontal": trial.suggest_categorical("n_horizontal", [4, 8, 16, 32]),
            "n_vertical": trial.suggest_categorical("n_vertical", [1, 2, 4, 8]),
            "dropout": trial.suggest_float("dropout", 0.1, 0.6),
            "lr": trial.suggest_float("lr", 5e-4, 5e-3, log=True),
        }

    def build_network(self, n_items: int) -> CaserNetwork:
        return CaserNetwork(n_items, self.config)

    def explain(self, history: Sequence[int], item: int, top: int = 5) -> Explanation:
        """The ``top`` most activated horizontal filters of the final window, and what they cover.

        Each row gives the filter's height and index, its max-pooled activation, its contribution
        to the item's score (activation x gradient of the score with respect to it) and the history
        positions and items of its strongest placement.
        """
        network, inputs = self.explain_inputs(history, item)
        assert isinstance(network, CaserNetwork)
        last = inputs.shape[1] - 1
        windows = network.window_embeddings(inputs, last)  # [1, L, D]
        maps = [m.detach() for m in network.horizontal_maps(windows)]  # [1, n_h, L - h + 1] each
        pooled = torch.cat([m.max(dim=2).values for m in maps], dim=1)  # [1, n_h * L]
        pooled.requires_grad_(True)
        score = self._score_from_pooled(network, inputs, pooled, int(item))
        (gradient,) = torch.autograd.grad(score, pooled)
        rows = self._filter_rows(
            network, maps, pooled.detach()[0], gradient[0], list(history), inputs.shape[1]
        )
        rows = sorted(rows, key=lambda row: -row["activation"])[:top]
        summary = f"Caser scores item {item} at {float(score.detach()):.3f}"
        if rows:
            best = rows[0]
            summary += (
                f"; its most activated horizontal filter (height {best['height']}) fires on items "
                f"{best['items']} at history positions {best['positions']}"
            )
        return Explanation(
            model=self.name, item=int(item), summary=summary + ".", kind=ExplanationKind.FILTERS, evidence=rows
        )

    @staticmethod
    def _score_from_pooled(
        network: CaserNetwork, inputs: Tensor, pooled: Tensor, item: int
    ) -> Tensor:
        """The final position's score of ``item`` from given pooled horizontal features."""
        windows = network.window_embeddings(inputs, inputs.shape[1] - 1)  # [1, L, D]
        features = network.window_features(windows)  # [1, n_v*D + n_h*L]
        n_vertical_features = network.n_vertical * network.dim
        features = torch.cat([features[:, :n_vertical_features], pooled], dim=1)
        hidden = F.relu(network.fully_connected(features))  # [1, D]
        summary = network.history_summary(inputs)
        if summary is not None:
            hidden = torch.cat([hidden, summary[:, -1]], dim=-1)  # [1, 2D]
        return network.logits_of(hidden, torch.tensor([item], device=inputs.device))[0, 0]

    @staticmethod
    def _filter_rows(
        network: CaserNetwork,
        maps: list[Tensor],
        pooled: Tensor,
        gradient: Tensor,
        history: list[int],
        input_length: int,
    ) -> list[dict[str, Any]]:
        rows = []
        window_start = len(history) - network.window  # history index of the window's first row
        for height_index, height_maps in enumerate(maps):
            height = height_index + 1
            for filter_index in range(network.n_horizontal):
                flat = height_index * network.n_horizontal + filter_index
                placement = int(height_maps[0, filter_index].argmax())
                positions = [
                    p
                    for p in range(window_start + placement, window_start + placement + height)
                    if p >= 0
                ]
                rows.append(
                    {
                        "height": height,
                        "filter": filter_index,
                        "activation": float(pooled[flat]),
                        "contribution": float(pooled[flat] * gradient[flat]),
                        "positions": positions,
                        "items": [int(history[p]) for p in positions],
                    }
                )
        return rows
