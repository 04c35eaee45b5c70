"""SR-GNN: session-based recommendation with graph neural networks.

Wu, S., Tang, Y., Zhu, Y., Wang, L., Xie, X. & Tan, T. (2019). *Session-based Recommendation
with Graph Neural Networks.* AAAI 2019. Official code: github.com/CRIPAC-DIG/SR-GNN
(``pytorch_code/model.py`` and ``utils.py``).

The network (paper Sec. 3):

* **Session graph** (Sec. 3.2): the distinct items of the session (here: the last ``max_len``
  items of a history) are nodes; each consecutive pair ``v_i -> v_{i+1}`` is a directed edge.
  Two normalised adjacency matrices drive message passing: the *outgoing* matrix divides each
  edge by its source's out-degree, the *incoming* one by its target's in-degree. For the paper's
  example ``v1, v2, v3, v2, v4``, node ``v2`` sends half a message to ``v3`` and half to ``v4``
  and receives half from ``v1`` and half from ``v3``.
* **Gated graph neural network** (eq. 1-5): ``steps`` rounds of
  ``a = [A_in (H W_in) + b_in ; A_out (H W_out) + b_out]`` followed by a GRU update of every
  node state with ``a`` as the input.
* **Session representation** (Sec. 3.4): the local interest ``s_l`` is the last item's node
  state; the global one is the soft attention ``s_g = Σ_i α_i v_i`` with
  ``α_i = qᵀ σ(W1 v_n + W2 v_i + c)`` over the session's positions (eq. 6); the hybrid is
  ``s_h = W3 [s_l; s_g]`` (eq. 7).
* **Scores** ``ẑ_i = s_hᵀ v_i`` with the input item embeddings (eq. 8); ``Objective.LAST``,
  every prefix of every training sequence being a session (the paper's augmentation).

Slot layout (how a padded batch holds graphs of different sizes): node slot ``j`` of a row is the
position ``j`` where an item first occurs in that row's input; later occurrences point to it
through ``alias``. Unused slots (padding, repeated occurrences) have no edges and are never read.
:func:`session_graph` builds all graphs of a batch at once; :func:`session_graph_reference`
builds one graph the way the official ``utils.py`` does (nodes = sorted distinct items), and the
tests check that they agree.

Deviations and choices:

* Edges are binary, as in the official code (a transition repeated within a session counts
  once); the paper's text divides edge *occurrences* by the out-degree. Both agree whenever no
  transition repeats, as in the paper's own example.
* The GRU update follows the official code (PyTorch's GRU convention: the reset gate multiplies
  ``U h + b`` after the linear map and ``v = (1 - z) ṽ + z v``), equivalent to eq. 2-5 up to
  the naming of the gate ``z``.
* All weights are drawn from ``U(-1/sqrt(D), 1/sqrt(D))`` as in the official code; the
  official step decay of the learning rate (x0.1 every 3 epochs) and its L2 penalty are left to
  the shared trainer's AdamW settings (``weight_decay``), with early stopping.

Explanation: the session graph (each node's normalised out- and in-edges) and the attention
weight ``α`` each node receives (summed over its occurrences).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from seqrec.data.types import PADDING
from seqrec.models.base import ContractSettings, Explanation, ExplanationKind, help_field
from seqrec.models.neural.config import NeuralConfig
from seqrec.models.neural.network import Objective, SequenceNetwork
from seqrec.models.neural.recommender import NeuralRecommender


# -- the session graph ----------------------------------------------------------------------
def session_graph(input_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The session graphs of a left-padded batch ``[B, L]``, in slot layout (module docstring).

    Returns ``alias [B, L]`` (the node slot of each position), ``incoming [B, L, L]`` with
    ``incoming[b, v, u] = A[u, v] / in_degree(v)`` and ``outgoing [B, L, L]`` with
    ``outgoing[b, u, v] = A[u, v] / out_degree(u)``, ``A`` the binary transition matrix.
    """
    batch, length = input_ids.shape
    real = input_ids != PADDING  # [B, L]
    same_item = (input_ids[:, :, None] == input_ids[:, None, :]) & real[:, None, :]  # [B, L, L]
    alias = same_item.to(torch.int8).argmax(dim=2)  # [B, L]: first position holding the same item
    sources, targets = alias[:, :-1], alias[:, 1:]  # [B, L - 1]
    is_transition = (real[:, :-1] & real[:, 1:]).to(torch.float32)  # [B, L - 1]
    counts = torch.zeros(batch, length * length, device=input_ids.device)
    counts.scatter_add_(1, sources * length + targets, is_transition)
    adjacency = (counts.view(batch, length, length) > 0).float()  # [B, L, L] binary A[u, v]
    in_degree = adjacency.sum(dim=1).clamp(min=1.0)  # [B, L]
    out_degree = adjacency.sum(dim=2).clamp(min=1.0)  # [B, L]
    incoming = adjacency.transpose(1, 2) / in_degree[:, :, None]  # [B, L(v), L(u)]
    outgoing = adjacency / out_degree[:, :, None]  # [B, L(u), L(v)]
    return alias, incoming, outgoing


def session_graph_reference(session: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One session's graph as the official ``utils.py`` builds it, with loops (the slow reference).

    Returns ``nodes`` (the sorted distinct items), ``incoming`` and ``outgoing`` ``[n, n]`` in
    the order of ``nodes``, with the conventions of :func:`session_graph`.
    """
    nodes = np.unique(np.asarray(session, dtype=np.int64))
    index = {int(item): i for i, item in enumerate(nodes)}
    adjacency = np.zeros((len(nodes), len(nodes)))
    for source, target in itertools.pairwise(session):
        adjacency[index[int(source)], index[int(target)]] = 1.0
    in_degree = np.maximum(adjacency.sum(axis=0), 1.0)
    out_degree = np.maximum(adjacency.sum(axis=1), 1.0)
    incoming = adjacency.T / in_degree[:, None]
    outgoing = adjacency / out_degree[:, None]
    return nodes, incoming, outgoing


# -- the network ----------------------------------------------------------------------------
class GatedGraphCell(nn.Module):
    """One propagation step of the gated GNN (eq. 1-5, official ``GNNCell``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.edge_in = nn.Linear(dim, dim)
        self.edge_out = nn.Linear(dim, dim)
        self.bias_in = nn.Parameter(torch.zeros(dim))
        self.bias_out = nn.Parameter(torch.zeros(dim))
        self.input_gates = nn.Linear(2 * dim, 3 * dim)  # W_z, W_r, W_o applied to a (eq. 2-4)
        self.hidden_gates = nn.Linear(dim, 3 * dim)  # U_z, U_r, U_o applied to v (eq. 2-4)

    def forward(self, nodes: Tensor, incoming: Tensor, outgoing: Tensor) -> Tensor:
        """Node states ``[B, L, D]`` after one step; ``incoming``/``outgoing`` ``[B, L, L]``."""
        messages_in = incoming @ self.edge_in(nodes) + self.bias_in  # [B, L, D]
        messages_out = outgoing @ self.edge_out(nodes) + self.bias_out  # [B, L, D]
        activation = torch.cat([messages_in, messages_out], dim=-1)  # a (eq. 1) [B, L, 2D]
        input_reset, input_update, input_new = self.input_gates(activation).chunk(3, dim=-1)
        hidden_reset, hidden_update, hidden_new = self.hidden_gates(nodes).chunk(3, dim=-1)
        reset = torch.sigmoid(input_reset + hidden_reset)  # r (eq. 3)
        update = torch.sigmoid(input_update + hidden_update)  # z (eq. 2)
        candidate = torch.tanh(input_new + reset * hidden_new)  # ṽ (eq. 4)
        # (1 - z) ṽ + z v: eq. 5 with the official code's naming of the gate
        return candidate + update * (nodes - candidate)


class SRGNNNetwork(SequenceNetwork):
    """Gated GNN over the session graph + soft-attention/last-item readout (Wu et al. 2019)."""

    objective: ClassVar[Objective] = Objective.LAST

    def __init__(self, n_items: int, config: SRGNNConfig) -> None:
        super().__init__(n_items, config.max_len)
        dim, steps, hybrid = config.dim, config.steps, config.hybrid
        if steps < 1:
            raise ValueError(f"SR-GNN needs at least one propagation step, got steps={steps}")
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=PADDING)
        self.cell = GatedGraphCell(dim)
        self.steps = steps
        self.hybrid = hybrid
        self.last_projection = nn.Linear(dim, dim)  # W1 (its bias and W2's make c, eq. 6)
        self.node_projection = nn.Linear(dim, dim)  # W2
        self.attention_vector = nn.Linear(dim, 1, bias=False)  # q
        self.hybrid_projection = nn.Linear(2 * dim, dim) if hybrid else None  # W3 (eq. 7)
        bound = 1.0 / math.sqrt(dim)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.uniform_(-bound, bound)
            self.item_embedding.weight[PADDING].zero_()

    def position_states(self, input_ids: Tensor) -> Tensor:
        """The node state ``[B, L, D]`` of each position's item after the GNN steps."""
        alias, incoming, outgoing = session_graph(input_ids)
        nodes = self.item_embedding(input_ids)  # [B, L, D]: slot j starts as item j's embedding
        for _ in range(self.steps):
            nodes = self.cell(nodes, incoming, outgoing)
        states = nodes.gather(1, alias[:, :, None].expand(-1, -1, nodes.shape[-1]))  # [B, L, D]
        return states * (input_ids != PADDING).unsqueeze(-1).to(states.dtype)

    def readout(self, input_ids: Tensor) -> tuple[Tensor, Tensor]:
        """The session representation ``[B, D]`` and the attention weights ``α [B, L]``."""
        states = self.position_states(input_ids)  # [B, L, D]
        last = states[:, -1]  # s_l = v_n [B, D]: left padding puts the last click last
        energies = self.attention_vector(
            torch.sigmoid(self.last_projection(last)[:, None, :] + self.node_projection(states))
        ).squeeze(-1)  # [B, L] α (eq. 6)
        weights = energies * (input_ids != PADDING).to(energies.dtype)  # [B, L]
        global_interest = (weights[:, :, None] * states).sum(dim=1)  # s_g [B, D]
        if self.hybrid_projection is None:
            return global_interest, weights
        hybrid = self.hybrid_projection(torch.cat([last, global_interest], dim=-1))  # s_h (eq. 7)
        return hybrid, weights

    def encode(self, input_ids: Tensor) -> Tensor:
        return self.readout(input_ids)[0][:, None, :]  # [B, 1, D]

    def item_embeddings(self) -> Tensor:
        # [n_items + 1, D]: eq. 8 scores with the node embeddings
        return self.item_embedding.weight


@dataclass
class SRGNNConfig(NeuralConfig):
    steps: int = help_field(1, "Gated GNN propagation steps per session (official default: 1).")
    hybrid: bool = help_field(
        True, "Combine the last item with the attention readout (False = global only)."
    )


class SRGNN(NeuralRecommender[SRGNNConfig]):
    """SR-GNN (Wu et al. 2019) on the shared trainer."""

    name: ClassVar[str] = "srgnn"
    contract = ContractSettings(
        {"dim": 16, "max_len": 8, "epochs": 10, "batch_size": 64, "lr": 1e-2, "progress": False},
    )
    Config: ClassVar[type] = SRGNNConfig

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "dim": trial.suggest_categorical("dim", [32, 64, 128]),
            "steps": trial.suggest_int("steps", 1, 3),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
            "lr": trial.suggest_float("lr", 5e-4, 5e-3, log=True),
        }

    def build_network(self, n_items: int) -> SRGNNNetwork:
        return SRGNNNetwork(n_items, self.config)

    def explain(self, history: Sequence[int], item: int) -> Explanation:
        """The session graph of the last ``max_len`` history items and each node's attention."""
        network, inputs = self.explain_inputs(history, item)
        assert isinstance(network, SRGNNNetwork)
        with torch.no_grad():
            session, weights = network.readout(inputs)
            score = float(
                network.logits_of(session, torch.tensor([int(item)], device=session.device))[0, 0]
            )
        session_items = [int(i) for i in inputs[0] if int(i) != PADDING]
        shown = weights[0, inputs.shape[1] - len(session_items) :].cpu().numpy().astype(np.float64)
        evidence = graph_evidence(session_items, shown)
        summary = f"SR-GNN scores item {item} at {score:.3f} from a graph of {len(evidence)} items"
        if session_items:
            top = evidence[0]
            summary += (
                f"; the last item is {session_items[-1]} and the soft attention weighs item "
                f"{top['item']} most (alpha {top['attention']:.2f})"
            )
        return Explanation(
            model=self.name,
            item=int(item),
            summary=summary + ".",
            kind=ExplanationKind.SESSION_GRAPH,
            evidence=evidence,
        )


def graph_evidence(session: list[int], attention: np.ndarray) -> list[dict[str, Any]]:
    """One row per node: its attention (summed over occurrences) and its normalised edges."""
    if not session:
        return []
    nodes, incoming, outgoing = session_graph_reference(session)
    rows = []
    for i, node in enumerate(nodes):
        occurrences = [j for j, item in enumerate(session) if item == node]
        rows.append(
            {
                "item": int(node),
                "attention": float(sum(attention[j] for j in occurrences)),
                "occurrences": len(occurrences),
                "successors": [
                    {"item": int(nodes[j]), "weight": float(outgoing[i, j])}
                    for j in np.flatnonzero(outgoing[i])
                ],
                "predecessors": [
                    {"item": int(nodes[j]), "weight": float(incoming[i, j])}
                    for j in np.flatnonzero(incoming[i])
                ],
            }
        )
    return sorted(rows, key=lambda row: -abs(row["attention"]))
