"""Caser: the sliding L-windows, causality, fast path = reference path, and the cycle world."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural.caser import Caser, CaserConfig, CaserNetwork
from seqrec.testing import cycle_world

torch.set_num_threads(1)

TINY = {
    "dim": 16,
    "max_len": 8,
    "window": 3,
    "dropout": 0.1,
    "epochs": 20,
    "batch_size": 32,
    "lr": 1e-2,
    "progress": False,
}
WALKS = [[base + (start + step) % 5 for step in range(3)] for base in (1, 6) for start in range(5)]
SUCCESSORS = [base + (start + 3) % 5 for base in (1, 6) for start in range(5)]
INPUTS = torch.tensor([[0, 0, 3, 1, 4, 1, 5, 9], [0, 0, 0, 0, 0, 6, 7, 8]])


def network(history_summary: bool = True, n_vertical: int = 2) -> CaserNetwork:
    torch.manual_seed(0)
    return CaserNetwork(
        11,
        CaserConfig(
            max_len=8,
            dim=6,
            window=3,
            n_vertical=n_vertical,
            n_horizontal=4,
            dropout=0.0,
            history_summary=history_summary,
        ),
    ).eval()


@pytest.fixture(scope="module")
def fitted() -> Caser:
    model = Caser(TINY)
    model.fit(cycle_world())
    return model


@pytest.mark.parametrize("history_summary", [True, False])
@pytest.mark.parametrize("n_vertical", [2, 0])
def test_fast_path_equals_the_per_window_reference(history_summary: bool, n_vertical: int) -> None:
    net = network(history_summary, n_vertical)
    with torch.no_grad():
        fast, slow = net.encode(INPUTS), net.encode_reference(INPUTS)
    assert fast.shape == (2, 8, 12 if history_summary else 6)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("position", range(7))
def test_never_reads_the_future(position: int) -> None:
    net = network()
    perturbed = INPUTS.clone()
    perturbed[:, position + 1] = 10
    with torch.no_grad():
        before, after = net.encode(INPUTS), net.encode(perturbed)
    torch.testing.assert_close(after[:, : position + 1], before[:, : position + 1], rtol=0, atol=0)
    assert (after[:, position + 1] - before[:, position + 1]).abs().max() > 0


def test_each_position_pools_its_own_window_of_l_items() -> None:
    # Item i is embedded as (i, 0, ...); a height-1 filter reading the first coordinate then
    # max-pools to the largest item id in the window of the last L = 3 inputs (0 = padding).
    net = CaserNetwork(
        9,
        CaserConfig(
            max_len=7,
            dim=2,
            window=3,
            n_vertical=0,
            n_horizontal=1,
            dropout=0.0,
            history_summary=False,
        ),
    )
    with torch.no_grad():
        net.item_embedding.weight.zero_()
        net.item_embedding.weight[:, 0] = torch.arange(10, dtype=torch.float32)
        for conv in net.horizontal:
            assert isinstance(conv, torch.nn.Conv1d) and conv.bias is not None
            conv.weight.zero_()
            conv.bias.zero_()
            if conv.kernel_size == (1,):
                conv.weight[0, 0, 0] = 1.0  # the height-1 filter reads the first coordinate
        pooled = net._horizontal_all(net.item_embedding(torch.tensor([[0, 0, 3, 1, 4, 1, 5]])))
    # columns: the height-1 filter, then the (silent) height-2 and height-3 filters
    assert pooled is not None
    assert pooled[0, :, 0].tolist() == [0, 0, 3, 3, 4, 4, 5]
    assert pooled[0, :, 1:].abs().max() == 0


def test_history_summary_is_the_running_mean_of_long_term_embeddings() -> None:
    net = network()
    inputs = torch.tensor([[0, 0, 2, 5, 2]])
    assert net.summary_embedding is not None
    with torch.no_grad():
        summary = net.history_summary(inputs)
        table = net.summary_embedding.weight
    assert summary is not None
    torch.testing.assert_close(summary[0, 3], (table[2] + table[5]) / 2)
    torch.testing.assert_close(summary[0, 4], (2 * table[2] + table[5]) / 3)


def test_learns_the_cycle_world(fitted: Caser) -> None:
    top1 = fitted.recommend(SequenceData.from_lists(WALKS, n_items=11), k=1)[:, 0]
    assert (top1 == np.array(SUCCESSORS)).mean() >= 0.8, top1


def test_explanation_names_the_window_of_the_strongest_filters(fitted: Caser) -> None:
    history = [6, 7, 1, 2, 3]
    explanation = fitted.explain(history, 4, top=3)
    assert explanation.kind == "filters" and len(explanation.evidence) == 3
    activations = [row["activation"] for row in explanation.evidence]
    assert activations == sorted(activations, reverse=True)
    for row in explanation.evidence:
        # the final window holds the last L = 3 history positions
        assert len(row["positions"]) == row["height"]
        assert all(2 <= p <= 4 for p in row["positions"])
        assert row["items"] == [history[p] for p in row["positions"]]
