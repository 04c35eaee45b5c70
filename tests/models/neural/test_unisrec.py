"""UniSRec: the whitening experts and their gates, the two modes, and cold items scored by text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.neural.unisrec import (
    MoEAdaptor,
    ParametricWhitening,
    UniSRec,
    UniSRecConfig,
    UniSRecNetwork,
)
from seqrec.testing import cycle_world

CAT = ["cat litter", "cat water fountain", "cat scratching post", "cat treats", "cat carrier"]
BAKING = ["baking sheet pan", "baking silicone mat", "baking piping bags", "baking cake turntable", "baking mixer bowl"]
COLD = ["cat toy mouse", "baking flour sifter"]  # items 11 and 12: never bought in training
TINY = {"max_len": 8, "dim": 16, "batch_size": 16, "lr": 5e-3, "epochs": 20, "threads": 1, "progress": False}


def text_items(texts: list[str]) -> ItemInfo:
    labels = np.array(["<pad>", *map(str, range(1, len(texts) + 1))], dtype=object)
    titles = np.array(["<pad>", *texts], dtype=object)
    return ItemInfo(labels, titles, np.array(["", *["shop"] * len(texts)], dtype=object), np.full(len(texts) + 1, "", dtype=object))


# -- the adaptor ------------------------------------------------------------------------------------
def test_whitening_is_x_minus_b_times_w() -> None:
    layer = ParametricWhitening(3, 2, dropout=0.0)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([1.0, 0.0, -1.0]))
        layer.projection.weight.copy_(torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]))  # W^T [2, 3]
    x = torch.tensor([[2.0, 1.0, 1.0]])  # x - b = [1, 1, 2]
    torch.testing.assert_close(layer(x), torch.tensor([[3.0, 3.0]]))


def test_moe_shapes_and_gates_that_sum_to_one() -> None:
    torch.manual_seed(0)
    adaptor = MoEAdaptor(n_experts=4, in_dim=6, out_dim=3, dropout=0.0)
    x = torch.randn(2, 5, 6)  # [B, L, T]
    adaptor.eval()
    gates = adaptor.gates(x)
    assert adaptor(x).shape == (2, 5, 3) and gates.shape == (2, 5, 4)
    torch.testing.assert_close(gates, torch.full((2, 5, 4), 0.25))  # zero-initialised gate: uniform
    with torch.no_grad():
        adaptor.gate.normal_()
    gates = adaptor.gates(x)
    torch.testing.assert_close(gates.sum(dim=-1), torch.ones(2, 5))
    expected = sum(gates[..., k : k + 1] * adaptor.experts[k](x) for k in range(4))  # eq. 4 by hand
    torch.testing.assert_close(adaptor(x), expected)


def test_gating_noise_only_in_training() -> None:
    torch.manual_seed(0)
    adaptor = MoEAdaptor(n_experts=3, in_dim=4, out_dim=2, dropout=0.0)
    x = torch.randn(7, 4)
    adaptor.eval()
    torch.testing.assert_close(adaptor.gates(x), adaptor.gates(x))
    adaptor.train()
    noisy = adaptor.gates(x)
    torch.testing.assert_close(noisy.sum(dim=-1), torch.ones(7))
    assert not torch.allclose(noisy, torch.full((7, 3), 1 / 3))  # softplus(0) + 0.01 noise scale


# -- the network ------------------------------------------------------------------------------------
def test_inductive_network_has_no_id_embedding_and_scores_are_cosines_over_tau() -> None:
    torch.manual_seed(0)
    text = torch.randn(13, 6)
    text[0] = 0
    inductive = UniSRecNetwork(12, UniSRecConfig(max_len=5, dim=8, mode="inductive"), text).eval()
    transductive = UniSRecNetwork(12, UniSRecConfig(max_len=5, dim=8, mode="transductive"), text).eval()
    assert not any(name.startswith("item_embedding") for name in inductive.state_dict())
    assert "text_embeddings" not in inductive.state_dict()  # saved once by the recommender
    torch.testing.assert_close(transductive.item_embedding.weight, torch.zeros(13, 8))  # new items = their text
    with torch.no_grad():
        scores = inductive.logits(inductive.encode(torch.tensor([[0, 0, 3, 4, 5]]))[:, -1])
    assert scores.shape == (1, 13) and float(scores.abs().max()) <= 1 / 0.07 + 1e-4


def test_items_never_bought_are_left_out_of_the_training_softmax_only() -> None:
    text = torch.randn(5, 4)
    network = UniSRecNetwork(4, UniSRecConfig(max_len=4, dim=8), text)
    network.on_fit_start(SequenceData.from_lists([[1, 2, 1]], n_items=4))
    network.train()
    bias = network.item_bias()
    assert bias is not None and bias[1:].tolist() == [0.0, 0.0, -np.inf, -np.inf]
    assert network.eval().item_bias() is None  # scoring masks nothing
    official = UniSRecNetwork(4, UniSRecConfig(max_len=4, dim=8, unseen_negatives=True), text)
    official.on_fit_start(SequenceData.from_lists([[1, 2, 1]], n_items=4))
    assert official.train().item_bias() is None


# -- cold items, by text ------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["inductive", "transductive"])
def fitted(request: pytest.FixtureRequest) -> UniSRec:
    world = cycle_world()  # items 1..5 (cat) and 6..10 (baking) cycle; 11 is bought once
    train = SequenceData.from_lists([list(world.sequence(u)[world.sequence(u) <= 10]) for u in range(len(world))], n_items=12)
    items = text_items(CAT + BAKING + COLD)  # item 11 is renamed a cat toy: now nobody buys 11 or 12
    return UniSRec({**TINY, "mode": request.param, "text_encoder": "hashing", "text_cache": "none"}).fit(train, items=items)


def test_an_item_never_bought_ranks_by_how_well_its_text_matches(fitted: UniSRec) -> None:
    histories = SequenceData.from_lists([[1, 2, 3], [4, 5, 1, 2], [6, 7, 8], [9, 10, 6]], n_items=12)
    scores = fitted.checked_scores(histories)
    assert np.isfinite(scores[:, 11:]).all()  # cold items are scored, not masked
    cat_toy, flour_sifter = scores[:, 11], scores[:, 12]
    assert (cat_toy[:2] > flour_sifter[:2]).all() and (flour_sifter[2:] > cat_toy[2:]).all(), scores[:, 11:]
    ranked = fitted.recommend(histories, k=12)
    assert set(ranked[0].tolist()) >= {11, 12}


def test_the_cycle_is_still_learned(fitted: UniSRec) -> None:
    histories = SequenceData.from_lists([[1, 2, 3], [6, 7]], n_items=12)
    assert fitted.recommend(histories, k=1)[:, 0].tolist() == [4, 8]


def test_needs_item_info_and_explains_by_attention() -> None:
    from seqrec.models.base import CapabilityError

    model = UniSRec({**TINY, "epochs": 1, "text_encoder": "hashing", "text_cache": "none"})
    with pytest.raises(CapabilityError, match="item information"):
        model.fit(cycle_world())
    model.fit(cycle_world(), items=ItemInfo.ids_only(11))
    explanation = model.explain([1, 2, 3], 4)
    assert explanation.kind == "attention" and explanation.summary.startswith("UniSRec scores item 4")
