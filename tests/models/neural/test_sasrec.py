"""SASRec: causality, exactness of trimmed batches, the cycle world, attention explanations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural.sasrec import SASRec, SASRecConfig, SASRecNetwork
from seqrec.testing import cycle_world

TINY = {"max_len": 8, "dim": 16, "batch_size": 16, "lr": 5e-3, "threads": 1, "progress": False}


def test_position_t_never_sees_the_future() -> None:
    torch.manual_seed(0)
    network = SASRecNetwork(20, SASRecConfig(max_len=6, dim=8, n_layers=2, n_heads=2, dropout=0.0)).eval()
    inputs = torch.tensor([[0, 3, 7, 1, 9, 4]])
    changed = inputs.clone()
    changed[0, 3] = 15  # perturb the item at position t + 1 = 3
    with torch.no_grad():
        before, after = network.encode(inputs), network.encode(changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])  # positions <= t unchanged
    assert not torch.allclose(before[:, 3:], after[:, 3:])  # the perturbed item and later do change


def test_leading_padding_can_be_dropped_without_changing_anything() -> None:
    torch.manual_seed(0)
    network = SASRecNetwork(20, SASRecConfig(max_len=6, dim=8, n_layers=2, n_heads=1, dropout=0.0)).eval()
    full = torch.tensor([[0, 0, 0, 5, 6, 7]])
    with torch.no_grad():
        torch.testing.assert_close(network.encode(full)[:, 3:], network.encode(full[:, 3:]))


@pytest.fixture(scope="module")
def model() -> SASRec:
    return SASRec(TINY, epochs=25).fit(cycle_world())


def test_learns_the_deterministic_cycle(model: SASRec) -> None:
    histories = SequenceData.from_lists([[1, 2, 3], [4, 5], [2, 3, 4, 5, 1], [9, 10, 6], [7]], n_items=11)
    assert model.recommend(histories, k=1)[:, 0].tolist() == [4, 1, 2, 7, 8]


def test_explanation_is_attention_over_the_history(model: SASRec) -> None:
    history = [3, 4, 5, 1, 2]
    explanation = model.explain(history, 3)
    assert explanation.kind == "attention" and explanation.item == 3
    rows = explanation.evidence
    assert sorted(row["position"] for row in rows) == [0, 1, 2, 3, 4]
    assert all(history[row["position"]] == row["item"] for row in rows)
    assert sum(row["weight"] for row in rows) == pytest.approx(1.0, abs=1e-5)  # a distribution
    weights = [row["weight"] for row in rows]
    assert weights == sorted(weights, reverse=True)


def test_attention_reads_only_the_last_max_len_items(model: SASRec) -> None:
    history = [1, 2, 3, 4, 5] * 3  # 15 items, max_len 8
    weights = model.attention_over_history(history)
    assert weights.shape == (8,)
    positions = [row["position"] for row in model.explain(history, 1).evidence]
    assert min(positions) == 7 and max(positions) == 14
    assert np.isfinite(weights).all()
