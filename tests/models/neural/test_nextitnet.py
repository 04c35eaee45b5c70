"""NextItNet: causal dilated convolutions, the receptive field, padding, and the cycle world."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural.nextitnet import NextItNet, NextItNetConfig, NextItNetNetwork
from seqrec.testing import cycle_world

torch.set_num_threads(1)

TINY = {
    "dim": 16,
    "max_len": 8,
    "dilations": (1, 2),
    "epochs": 15,
    "batch_size": 32,
    "lr": 1e-2,
    "progress": False,
}
WALKS = [[base + (start + step) % 5 for step in range(3)] for base in (1, 6) for start in range(5)]
SUCCESSORS = [base + (start + 3) % 5 for base in (1, 6) for start in range(5)]


def network(dilations: tuple[int, ...] = (1, 4), max_len: int = 8) -> NextItNetNetwork:
    torch.manual_seed(0)
    net = NextItNetNetwork(
        11, NextItNetConfig(max_len=max_len, dim=8, kernel_size=3, dilations=dilations)
    ).eval()
    with torch.no_grad():  # larger weights than the 0.02 init, so that every path carries signal
        for parameter in net.parameters():
            parameter.normal_(0.0, 0.5)
    return net


@pytest.fixture(scope="module")
def fitted() -> NextItNet:
    model = NextItNet(TINY)
    model.fit(cycle_world())
    return model


@pytest.mark.parametrize("position", range(7))
def test_never_reads_the_future(position: int) -> None:
    net = network()
    inputs = torch.tensor([[0, 0, 3, 1, 4, 1, 5, 9]])
    perturbed = inputs.clone()
    perturbed[0, position + 1] = 10
    with torch.no_grad():
        before, after = net.encode(inputs), net.encode(perturbed)
    torch.testing.assert_close(after[:, : position + 1], before[:, : position + 1], rtol=0, atol=0)
    assert (after[:, position + 1] - before[:, position + 1]).abs().max() > 0


def test_receptive_field_of_the_official_dilations_is_61_items() -> None:
    # dilations 1, 4, 1, 4 -> convolutions 1, 2, 4, 8, 1, 2, 4, 8 of width 3: 1 + 2 * 30 = 61.
    # Which inputs reach the last position is read off the gradient (in float64, because the
    # farthest paths cross eight LayerNorm/ReLU layers and their effect is tiny but not zero).
    net = network(dilations=(1, 4, 1, 4), max_len=70).double()
    assert net.receptive_field == 61
    inputs = torch.randint(1, 12, (1, 70), generator=torch.Generator().manual_seed(1))
    embedded = net.item_embedding(inputs).detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(net.encode_embedded(embedded, inputs)[0, -1].sum(), embedded)
    reached = (gradient[0].abs().sum(dim=-1) > 0).nonzero().flatten().tolist()
    assert reached == list(range(70 - 61, 70))


def test_hidden_states_do_not_depend_on_the_amount_of_padding() -> None:
    net = network()
    with torch.no_grad():
        short = net.encode(torch.tensor([[0, 0, 3, 1, 4, 1, 5, 9]]))
        long = net.encode(torch.tensor([[0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 4, 1, 5, 9]]))
    torch.testing.assert_close(long[:, -6:], short[:, -6:], rtol=1e-5, atol=1e-5)


def test_learns_the_cycle_world(fitted: NextItNet) -> None:
    top1 = fitted.recommend(SequenceData.from_lists(WALKS, n_items=11), k=1)[:, 0]
    assert (top1 == np.array(SUCCESSORS)).mean() >= 0.8, top1


def test_explanation_attributes_the_score_to_history_positions(fitted: NextItNet) -> None:
    history = [8, 9, 1, 2, 3]
    score, attributions = fitted.attributions(history, 4)
    assert attributions.shape == (5,)
    assert score == pytest.approx(
        float(fitted.checked_scores(SequenceData.from_lists([history], 11))[0, 4]), rel=1e-4
    )
    explanation = fitted.explain(history, 4)
    assert explanation.kind == "attribution"
    assert {row["position"]: row["item"] for row in explanation.evidence} == dict(
        enumerate(history)
    )
    magnitudes = [abs(row["weight"]) for row in explanation.evidence]
    assert magnitudes == sorted(magnitudes, reverse=True)
    np.testing.assert_allclose(
        [row["weight"] for row in sorted(explanation.evidence, key=lambda r: r["position"])],
        attributions,
    )
