"""TIGER: trie-constrained beam search only emits real items (random histories, random networks),
k distinct ones without the excluded items; a beam as wide as the catalogue is the exact ranking by
the code log-probabilities; the explanation names the code path; state round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqrec.data.types import ItemInfo, SequenceData
from seqrec.models.base import ExplanationKind
from seqrec.models.llm.tiger import START_TOKEN, Tiger, training_examples
from seqrec.ranking import Exclusion
from seqrec.testing import cycle_world

TINY = {**Tiger.contract.config, "epochs": 2}


@pytest.fixture(scope="module")
def fitted() -> Tiger:
    train = cycle_world()
    return Tiger(TINY).fit(train, items=ItemInfo.ids_only(train.n_items))


def random_histories(rng: np.random.Generator, n_items: int, rows: int = 12) -> SequenceData:
    return SequenceData.from_lists([rng.integers(1, n_items + 1, size=int(rng.integers(0, 10))).tolist() for _ in range(rows)], n_items)


def scramble(model: Tiger, seed: int) -> None:
    """Random weights (large, so the logits are far from uniform): random logits for the decoder."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model._require_network().parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)


def brute_force(model: Tiger, history: list[int]) -> dict[int, float]:
    """Every item's code log-probability by teacher forcing (what a full-width beam must rank by)."""
    network, tokens, n_items = model._require_network(), model._item_tokens(), model.require_fitted()
    histories = SequenceData.from_lists([history], n_items)
    source = torch.from_numpy(model._source_tokens(histories.padded(model.config.max_len)))
    with torch.no_grad():
        memory, padding = network.encode(source.expand(n_items, -1))
        prefix = torch.cat([torch.full((n_items, 1), START_TOKEN), torch.from_numpy(tokens[1:, :-1])], dim=1)
        log_probs = network.decode(prefix, memory, padding).double().numpy()  # [n_items, L + 1, V]
    picked = np.take_along_axis(log_probs, tokens[1:, :, None], axis=2)[:, :, 0].sum(axis=1)
    return {item + 1: float(value) for item, value in enumerate(picked)}


@pytest.mark.parametrize("seed", range(6))
def test_constrained_beam_search_emits_only_real_distinct_items_without_excluded_ones(fitted: Tiger, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = Tiger(TINY).restore(*fitted.state())
    if seed:
        scramble(model, seed)
    n_items = model.require_fitted()
    histories = random_histories(rng, n_items)
    extra = [rng.choice(np.arange(1, n_items + 1), size=int(rng.integers(0, 4)), replace=False).tolist() for _ in range(len(histories))]
    valid_codes = {tuple(row) for row in model.codes[1:].tolist()}
    for k in (1, 3, 5):
        top = model.recommend(histories, k, exclude=Exclusion(history=True, items=extra))
        banned_rows = [set(histories.sequence(row).tolist()) | set(extra[row]) for row in range(len(histories))]
        assert top.shape == (len(histories), min(k, *(n_items - len(banned) for banned in banned_rows)))
        for row, items in enumerate(top.tolist()):
            banned = banned_rows[row]
            assert len(items) == len(set(items))
            assert all(1 <= item <= n_items for item in items)
            assert not set(items) & banned
            assert all(tuple(model.codes[item].tolist()) in valid_codes for item in items)
    for row, ranked in enumerate(model.decode(histories, 4)):
        assert len({item for item, _ in ranked}) == len(ranked) == min(model.config.beam_width, n_items)


@pytest.mark.parametrize("seed", range(3))
def test_a_beam_as_wide_as_the_catalogue_is_the_exact_ranking(fitted: Tiger, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    model = Tiger({**TINY, "beam_width": fitted.require_fitted()}).restore(*fitted.state())
    scramble(model, 10 + seed)
    history = rng.integers(1, 12, size=5).tolist()
    ranked = model.decode(SequenceData.from_lists([history], 11), 11)[0]
    exact = brute_force(model, history)
    assert sorted(item for item, _ in ranked) == list(range(1, 12))
    for item, score in ranked:
        assert score == pytest.approx(exact[item], abs=1e-4)
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)


def test_a_narrow_beam_still_fills_k_when_items_are_excluded(fitted: Tiger) -> None:
    model = Tiger({**TINY, "beam_width": 1}).restore(*fitted.state())
    histories = SequenceData.from_lists([[1, 2, 3, 4], [6, 7]], 11)
    top = model.recommend(histories, 6, exclude=True)
    assert top.shape == (2, 6)
    assert not set(top[0].tolist()) & {1, 2, 3, 4}


def test_everything_excluded_gives_what_is_left(fitted: Tiger) -> None:
    histories = SequenceData.from_lists([list(range(1, 11))], 11)
    assert fitted.recommend(histories, 3, exclude=True).tolist() == [[11]]


def test_explanation_names_the_code_path_and_first_level_siblings(fitted: Tiger) -> None:
    item = int(fitted.recommend(SequenceData.from_lists([[1, 2, 3]], 11), 1)[0, 0])
    explanation = fitted.explain([1, 2, 3], item)
    assert explanation.kind == ExplanationKind.RANKED_LIST
    assert len(explanation.evidence) == fitted.codes.shape[1]
    first = explanation.evidence[0]
    siblings = {i for i in range(1, 12) if fitted.codes[i, 0] == fitted.codes[item, 0]}
    assert first["items_with_this_prefix"] == len(siblings) and set(first["examples"]) == siblings
    assert explanation.evidence[-1]["items_with_this_prefix"] == 1
    assert "ranks it #1" in explanation.summary


def test_codes_are_unique_and_the_state_round_trips(fitted: Tiger) -> None:
    assert len({tuple(row) for row in fitted.codes[1:].tolist()}) == 11
    arrays, values = fitted.state()
    assert {"codes", "level_sizes"} <= set(arrays) and any(name.startswith("network.") for name in arrays)
    again = Tiger(TINY).restore(arrays, values)
    histories = SequenceData.from_lists([[1, 2], [7, 8, 9]], 11)
    np.testing.assert_array_equal(again.recommend(histories, 5, exclude=True), fitted.recommend(histories, 5, exclude=True))


def test_training_examples_are_every_next_item_with_a_left_padded_window() -> None:
    windows, targets = training_examples(SequenceData.from_lists([[1, 2, 3], [4]], 5), max_len=2)
    assert targets.tolist() == [2, 3]
    assert windows.tolist() == [[0, 1], [1, 2]]


def test_rqvae_semantic_ids_also_fit() -> None:
    train = cycle_world()
    model = Tiger({**TINY, "semantic_method": "rqvae", "rqvae_epochs": 5}).fit(train, items=ItemInfo.ids_only(train.n_items))
    assert model.recommend(SequenceData.from_lists([[1]], 11), 3).shape == (1, 3)


def test_patience_picks_the_epoch_on_validation_and_keeps_its_weights() -> None:
    from seqrec.data.splits import leave_one_out
    from seqrec.evaluation.protocol import evaluate_model

    split = leave_one_out(cycle_world())
    items = ItemInfo.ids_only(split.train.n_items)
    model = Tiger({**Tiger.contract.config, "epochs": 12, "patience": 2}).fit(split.train, split.valid, items=items)
    records = model.training.records
    assert records and all("NDCG@10" in record.metrics for record in records)
    best = model.training.best_epoch
    assert records[best - 1].metrics["NDCG@10"] == max(record.metrics["NDCG@10"] for record in records)
    assert len(records) == 12 or len(records) - best == 2  # stopped after 2 epochs without a better one
    again = evaluate_model(model, split.valid, True, split.train.item_counts()).metrics["NDCG@10"]
    assert again == pytest.approx(records[best - 1].metrics["NDCG@10"])  # the best epoch's weights are back
    unvalidated = Tiger({**Tiger.contract.config, "epochs": 3}).fit(split.train, split.valid, items=items)
    assert [record.metrics for record in unvalidated.training.records] == [{}, {}, {}]
    assert unvalidated.training.best_epoch == 3
