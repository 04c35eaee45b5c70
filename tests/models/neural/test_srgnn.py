"""SR-GNN: the session graph of the paper's example, batched = reference, and the cycle world."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural.srgnn import (
    SRGNN,
    SRGNNConfig,
    SRGNNNetwork,
    session_graph,
    session_graph_reference,
)
from seqrec.testing import cycle_world

torch.set_num_threads(1)

TINY = {"dim": 16, "max_len": 8, "epochs": 10, "batch_size": 64, "lr": 1e-2, "progress": False}
WALKS = [[base + (start + step) % 5 for step in range(3)] for base in (1, 6) for start in range(5)]
SUCCESSORS = [base + (start + 3) % 5 for base in (1, 6) for start in range(5)]

# The paper's example session v1, v2, v3, v2, v4 (Wu et al. 2019), nodes in the order v1..v4.
# Outgoing: each edge over its source's out-degree; v2 -> v3 and v2 -> v4 share v2's one unit.
PAPER_OUTGOING = np.array(
    [
        [0, 1, 0, 0],
        [0, 0, 1 / 2, 1 / 2],
        [0, 1, 0, 0],
        [0, 0, 0, 0],
    ]
)
# Incoming, row = receiving node: v2 hears half from v1 and half from v3.
PAPER_INCOMING = np.array(
    [
        [0, 0, 0, 0],
        [1 / 2, 0, 1 / 2, 0],
        [0, 1, 0, 0],
        [0, 1, 0, 0],
    ]
)


@pytest.fixture(scope="module")
def fitted() -> SRGNN:
    model = SRGNN(TINY)
    model.fit(cycle_world())
    return model


def test_reference_graph_of_the_papers_example() -> None:
    nodes, incoming, outgoing = session_graph_reference([1, 2, 3, 2, 4])
    assert nodes.tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(outgoing, PAPER_OUTGOING)
    np.testing.assert_allclose(incoming, PAPER_INCOMING)


def test_batched_graph_of_the_papers_example_after_padding() -> None:
    alias, incoming, outgoing = session_graph(torch.tensor([[0, 0, 0, 1, 2, 3, 2, 4]]))
    # Node slots are first occurrences: item 1 at column 3, 2 at 4, 3 at 5, 4 at 7; the second 2
    # points back to slot 4.
    assert alias[0, 3:].tolist() == [3, 4, 5, 4, 7]
    slots = [3, 4, 5, 7]
    np.testing.assert_allclose(outgoing[0][np.ix_(slots, slots)].numpy(), PAPER_OUTGOING)
    np.testing.assert_allclose(incoming[0][np.ix_(slots, slots)].numpy(), PAPER_INCOMING)
    # every other slot (padding, the repeated 2) is isolated
    others = [0, 1, 2, 6]
    assert outgoing[0][others].abs().sum() == 0 and outgoing[0][:, others].abs().sum() == 0
    assert incoming[0][others].abs().sum() == 0 and incoming[0][:, others].abs().sum() == 0


def test_repeated_transitions_count_once_as_in_the_official_code() -> None:
    # 1 -> 2 happens twice and 1 -> 3 once: binary edges give 1 half to each successor.
    nodes, _, outgoing = session_graph_reference([1, 2, 1, 2, 1, 3])
    assert nodes.tolist() == [1, 2, 3]
    np.testing.assert_allclose(outgoing[0], [0, 1 / 2, 1 / 2])


def test_batched_graphs_equal_the_reference_on_random_sessions() -> None:
    generator = np.random.default_rng(0)
    sessions = [generator.integers(1, 6, size=generator.integers(1, 9)).tolist() for _ in range(20)]
    inputs = torch.from_numpy(SequenceData.from_lists(sessions, n_items=5).padded(8))
    alias, incoming, outgoing = session_graph(inputs)
    for row, session in enumerate(sessions):
        nodes, reference_in, reference_out = session_graph_reference(session)
        first = 8 - len(session)
        slot_of = {int(inputs[row, j]): int(alias[row, j]) for j in range(first, 8)}
        slots = [slot_of[int(node)] for node in nodes]
        np.testing.assert_allclose(
            outgoing[row][np.ix_(slots, slots)].numpy(), reference_out, atol=1e-7
        )
        np.testing.assert_allclose(
            incoming[row][np.ix_(slots, slots)].numpy(), reference_in, atol=1e-7
        )


def test_representation_ignores_padding() -> None:
    torch.manual_seed(0)
    net = SRGNNNetwork(5, SRGNNConfig(max_len=12, dim=6, steps=2, hybrid=True)).eval()
    with torch.no_grad():
        short = net.encode(torch.tensor([[0, 0, 1, 2, 3, 2, 4]]))
        long = net.encode(torch.tensor([[0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 2, 4]]))
    torch.testing.assert_close(long, short, rtol=1e-5, atol=1e-6)


def test_learns_the_cycle_world(fitted: SRGNN) -> None:
    top1 = fitted.recommend(SequenceData.from_lists(WALKS, n_items=11), k=1)[:, 0]
    assert (top1 == np.array(SUCCESSORS)).mean() >= 0.8, top1


def test_explanation_is_the_session_graph_with_attention(fitted: SRGNN) -> None:
    explanation = fitted.explain([1, 2, 3, 2, 4], 5)
    assert explanation.kind == "session_graph"
    rows = {row["item"]: row for row in explanation.evidence}
    assert sorted(rows) == [1, 2, 3, 4]
    assert rows[2]["occurrences"] == 2
    assert rows[2]["successors"] == [{"item": 3, "weight": 0.5}, {"item": 4, "weight": 0.5}]
    assert rows[2]["predecessors"] == [{"item": 1, "weight": 0.5}, {"item": 3, "weight": 0.5}]
    assert rows[4]["successors"] == [] and rows[1]["predecessors"] == []
    # per-node attention is the sum of the per-position weights alpha
    network = fitted.require_network()
    assert isinstance(network, SRGNNNetwork)
    with torch.no_grad():
        _, alpha = network.readout(torch.tensor([[0, 0, 0, 1, 2, 3, 2, 4]]))
    assert rows[2]["attention"] == pytest.approx(float(alpha[0, 4] + alpha[0, 6]), rel=1e-5)
