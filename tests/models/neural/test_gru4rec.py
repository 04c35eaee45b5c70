"""GRU4Rec: causality, padding invariance, the cycle world, gradient x input explanations."""

from __future__ import annotations

import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural.gru4rec import GRU4Rec, GRU4RecConfig, GRU4RecNetwork
from seqrec.testing import cycle_world

TINY = {"max_len": 8, "dim": 16, "batch_size": 16, "lr": 1e-2, "threads": 1, "progress": False, "n_negatives": 8}


def network() -> GRU4RecNetwork:
    torch.manual_seed(0)
    config = GRU4RecConfig(
        max_len=6, dim=8, n_layers=2, dropout_embed=0.0, dropout_hidden=0.0,
        constrained_embedding=True, embedding_dim=0,
    )
    return GRU4RecNetwork(20, config).eval()


def test_position_t_never_sees_the_future() -> None:
    gru = network()
    inputs = torch.tensor([[0, 3, 7, 1, 9, 4], [2, 5, 8, 11, 13, 17]])
    changed = inputs.clone()
    changed[:, 3] = 15  # perturb the item at position t + 1 = 3
    with torch.no_grad():
        before, after = gru.encode(inputs), gru.encode(changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_the_recurrence_starts_at_the_first_real_item() -> None:
    gru = network()
    with torch.no_grad():
        short = gru.encode(torch.tensor([[5, 6, 7]]))
        padded = gru.encode(torch.tensor([[0, 0, 0, 5, 6, 7], [1, 2, 3, 4, 5, 6]]))
    torch.testing.assert_close(padded[:1, 3:], short)  # padding neither feeds nor delays the GRU
    assert float(padded[0, :3].abs().max()) == 0.0


@pytest.fixture(scope="module")
def model() -> GRU4Rec:
    return GRU4Rec(TINY, epochs=30).fit(cycle_world())


def test_learns_the_deterministic_cycle(model: GRU4Rec) -> None:
    histories = SequenceData.from_lists([[1, 2, 3], [4, 5], [2, 3, 4, 5, 1], [9, 10, 6], [7]], n_items=11)
    assert model.recommend(histories, k=1)[:, 0].tolist() == [4, 1, 2, 7, 8]


def test_gradient_times_input_is_a_first_order_estimate(model: GRU4Rec) -> None:
    """Scaling input t's embedding by (1 - eps) changes the score by about eps * contribution_t."""
    history, item, eps = [2, 3, 4], 5, 1e-3
    contributions = model.gradient_times_input(history, item)
    gru = model.require_network()
    assert isinstance(gru, GRU4RecNetwork)
    inputs = torch.tensor([[0] * 5 + history])  # max_len 8, left-padded
    with torch.no_grad():
        embedded = gru.embed(inputs)
        base = gru.logits(gru.encode_embedded(embedded, inputs)[:, -1])[0, item]
        for offset in range(3):
            shrunk = embedded.clone()
            shrunk[0, 5 + offset] *= 1 - eps
            changed = gru.logits(gru.encode_embedded(shrunk, inputs)[:, -1])[0, item]
            assert float(base - changed) / eps == pytest.approx(float(contributions[offset]), rel=0.02, abs=1e-3)


def test_explanation_rows_name_history_positions(model: GRU4Rec) -> None:
    explanation = model.explain([2, 3, 4], 5)
    assert explanation.kind == "gradient_x_input"
    assert sorted((row["position"], row["item"]) for row in explanation.evidence) == [(0, 2), (1, 3), (2, 4)]


def test_output_dense_is_a_linear_map_of_the_gru_output() -> None:
    """``output_dense``: the hidden state is ``W h + b`` of the plain network's, zeros at padding."""
    torch.manual_seed(0)
    config = GRU4RecConfig(max_len=6, dim=8, dropout_embed=0.0, dropout_hidden=0.0, output_dense=True)
    dense = GRU4RecNetwork(20, config).eval()
    assert dense.output_dense is not None
    plain = GRU4RecNetwork(20, GRU4RecConfig(max_len=6, dim=8, dropout_embed=0.0, dropout_hidden=0.0)).eval()
    plain.load_state_dict({k: v for k, v in dense.state_dict().items() if not k.startswith("output_dense.")})
    with torch.no_grad():
        dense.output_dense.bias.normal_()
        inputs = torch.tensor([[0, 0, 3, 7, 1, 9], [2, 5, 8, 11, 13, 17]])
        hidden, reference = dense.encode(inputs), plain.encode(inputs)
    expected = reference @ dense.output_dense.weight.T + dense.output_dense.bias
    torch.testing.assert_close(hidden[1], expected[1])
    torch.testing.assert_close(hidden[0, 2:], expected[0, 2:])
    assert float(hidden[0, :2].abs().max()) == 0.0


def test_without_output_bias_scores_are_the_dot_products_alone() -> None:
    """``output_bias=False``: no ``By`` parameter, and each score is the biased network's minus its bias."""
    torch.manual_seed(0)
    small = {"max_len": 6, "dim": 8, "dropout_embed": 0.0, "dropout_hidden": 0.0}
    biased = GRU4RecNetwork(20, GRU4RecConfig(**small)).eval()
    plain = GRU4RecNetwork(20, GRU4RecConfig(**small, output_bias=False)).eval()
    assert plain.item_bias() is None and "output_bias" not in plain.state_dict()
    with torch.no_grad():
        biased.output_bias.normal_()
    plain.load_state_dict({k: v for k, v in biased.state_dict().items() if k != "output_bias"})
    inputs = torch.tensor([[0, 0, 3, 7, 1, 9], [2, 5, 8, 11, 13, 17]])
    with torch.no_grad():
        with_bias = biased.logits(biased.encode(inputs)[:, -1])
        without = plain.logits(plain.encode(inputs)[:, -1])
    torch.testing.assert_close(without, with_bias - biased.output_bias)
    torch.testing.assert_close(without, plain.encode(inputs)[:, -1] @ plain.item_embeddings().T)
