"""CL4SRec and DuoRec: augmentations, InfoNCE by hand, the same-target index, the cycle world."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.models.neural.cl4srec import CL4SRec, augmented_views, crop, info_nce, mask, reorder
from seqrec.models.neural.duorec import DuoRec, DuoRecNetwork, SameTargetIndex
from seqrec.models.neural.network import TrainingBatch
from seqrec.testing import cycle_world

torch.set_num_threads(1)

ENCODER = {
    "dim": 16,
    "max_len": 8,
    "n_heads": 1,
    "inner_size": 32,
    "dropout": 0.1,
    "attention_dropout": 0.1,
}
TRAINING = {"batch_size": 32, "lr": 1e-2, "progress": False}
WALKS = [[base + (start + step) % 5 for step in range(3)] for base in (1, 6) for start in range(5)]
SUCCESSORS = [base + (start + 3) % 5 for base in (1, 6) for start in range(5)]

SEQUENCE = [0, 0, 0, 5, 6, 7, 8, 9]  # five items, left-padded to 8
MASK_ID = 12
DRAWS = 400


def repeated(row: list[int] = SEQUENCE, times: int = DRAWS) -> torch.Tensor:
    return torch.tensor([row] * times)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def as_set(batch: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(row) for row in batch.tolist()}


# -- CL4SRec's augmentations on a hand-written sequence --------------------------------------------
def test_crop_keeps_a_contiguous_sixty_percent() -> None:
    # floor(0.6 * 5) = 3 items, starting at item 0, 1 or 2 of the five: exactly three crops exist.
    crops = as_set(crop(repeated(), 0.6, generator()))
    assert crops == {
        (0, 0, 0, 0, 0, 5, 6, 7),
        (0, 0, 0, 0, 0, 6, 7, 8),
        (0, 0, 0, 0, 0, 7, 8, 9),
    }


def test_mask_hides_thirty_percent_of_the_items() -> None:
    # floor(0.3 * 5) = 1 item replaced by the mask token; padding is never masked.
    masked = mask(repeated(), 0.3, MASK_ID, generator())
    assert ((masked == MASK_ID).sum(dim=1) == 1).all()
    unmasked = torch.where(masked == MASK_ID, repeated(), masked)
    assert (unmasked == repeated()).all()
    assert set((masked == MASK_ID).nonzero()[:, 1].tolist()) == {3, 4, 5, 6, 7}


def test_reorder_shuffles_a_contiguous_sixty_percent() -> None:
    # floor(0.6 * 5) = 3 consecutive items permuted in place, the rest untouched: 3 spans x 6
    # orders = 18, less the identity counted thrice (-2) and the swaps 6<->7 and 7<->8, each
    # reachable from two overlapping spans (-2): 14 distinct results.
    expected = set()
    items = SEQUENCE[3:]
    for begin in range(3):
        for order in itertools.permutations(items[begin : begin + 3]):
            expected.add(tuple([0, 0, 0] + items[:begin] + list(order) + items[begin + 3 :]))
    assert len(expected) == 14
    assert as_set(reorder(repeated(), 0.6, generator())) == expected


def test_augmentations_are_reproducible_from_the_generator() -> None:
    first = augmented_views(repeated(times=8), 0.6, 0.3, 0.6, MASK_ID, generator(3))
    second = augmented_views(repeated(times=8), 0.6, 0.3, 0.6, MASK_ID, generator(3))
    assert all((a == b).all() for a, b in zip(first, second))


def _kind(view: list[int]) -> str:
    real = [i for i in view if i != 0]
    if len(real) == 3:
        return "crop"
    if MASK_ID in real:
        return "mask"
    assert sorted(real) == [5, 6, 7, 8, 9]
    return "reorder"


def test_the_two_views_use_two_different_augmentations() -> None:
    first, second = augmented_views(repeated(), 0.6, 0.3, 0.6, MASK_ID, generator())
    pairs = [(_kind(a), _kind(b)) for a, b in zip(first.tolist(), second.tolist())]
    assert all(a != b for a, b in pairs)
    assert {a for a, _ in pairs} == {"crop", "mask", "reorder"}


def test_a_one_item_sequence_is_not_augmented() -> None:
    single = repeated([0, 0, 0, 0, 0, 0, 0, 4], times=10)
    first, second = augmented_views(single, 0.6, 0.3, 0.6, MASK_ID, generator())
    assert (first == single).all() and (second == single).all()


# -- InfoNCE by hand -------------------------------------------------------------------------------
def test_info_nce_of_two_identical_orthogonal_pairs() -> None:
    # Views a1 = b1 = (1, 0), a2 = b2 = (0, 1). Anchor a1: positive b1 (dot 1), negatives a2, b2
    # (dot 0): loss -log(e / (e + 1 + 1)); the same for all four anchors.
    loss = info_nce(torch.eye(2), torch.eye(2))
    assert float(loss) == pytest.approx(math.log((math.e + 2) / math.e), rel=1e-6)


def test_info_nce_of_swapped_pairs_with_a_temperature() -> None:
    # a1 = (1, 0), b1 = (0, 1); a2 = (0, 1), b2 = (1, 0). Anchor a1: positive b1 (dot 0),
    # negatives a2 (0) and b2 (1). With tau = 0.5 the dots double: -log(1 / (1 + 1 + e^2)).
    loss = info_nce(torch.eye(2), torch.eye(2).flip(0), temperature=0.5)
    assert float(loss) == pytest.approx(math.log(2 + math.e**2), rel=1e-6)


def test_info_nce_with_cosine_similarity_ignores_the_norm() -> None:
    loss = info_nce(torch.eye(2) * 3.0, torch.eye(2) * 0.5, similarity="cos")
    assert float(loss) == pytest.approx(math.log((math.e + 2) / math.e), rel=1e-6)


# -- DuoRec's same-target index --------------------------------------------------------------------
TRAIN = SequenceData.from_lists([[1, 2, 3], [2, 3, 1, 3]], n_items=3)


def test_same_target_index_groups_every_prefix_by_its_next_item() -> None:
    index = SameTargetIndex(TRAIN)
    assert index.group(3) == [[1, 2], [2], [2, 3, 1]]
    assert index.group(1) == [[2, 3]]
    assert index.group(2) == [[1]]


def test_same_target_positive_is_another_sequence_when_there_is_one() -> None:
    index = SameTargetIndex(TRAIN)
    # Rows: [1, 2] (followed by 3), [2, 3] (followed by 1), and a stranger followed by 3.
    own = torch.tensor([[0, 0, 1, 2], [0, 0, 2, 3], [0, 0, 9, 9]] * 50)
    targets = torch.tensor([3, 1, 3] * 50)
    positives = index.sample(targets, own, generator())
    assert as_set(positives[0::3]) == {(0, 0, 0, 2), (0, 2, 3, 1)}  # never [1, 2] itself
    assert as_set(positives[1::3]) == {(0, 0, 2, 3)}  # the only prefix followed by 1 is itself
    assert as_set(positives[2::3]) == {(0, 0, 1, 2), (0, 0, 0, 2), (0, 2, 3, 1)}


def test_duorec_needs_its_index_before_training() -> None:
    network = DuoRec(ENCODER).build_network(3)
    assert isinstance(network, DuoRecNetwork)
    batch = TrainingBatch(torch.tensor([[0, 1, 2]]), torch.tensor([[0, 2, 3]]), generator())
    with pytest.raises(RuntimeError, match="on_fit_start"):
        network.extra_loss(batch, network.encode(batch.input_ids))


# -- training on the cycle world -------------------------------------------------------------------
@pytest.mark.parametrize(("model_class", "epochs"), [(CL4SRec, 40), (DuoRec, 15)])
def test_learns_the_cycle_world(model_class: type, epochs: int) -> None:
    model = model_class({**ENCODER, **TRAINING, "epochs": epochs}).fit(cycle_world())
    top1 = model.recommend(SequenceData.from_lists(WALKS, n_items=11), k=1)[:, 0]
    assert (top1 == np.array(SUCCESSORS)).mean() >= 0.8, top1
    explanation = model.explain([1, 2, 3], 4)
    assert explanation.kind == "attention"
    assert {row["position"]: row["item"] for row in explanation.evidence} == {0: 1, 1: 2, 2: 3}
    assert sum(row["weight"] for row in explanation.evidence) == pytest.approx(1.0, abs=1e-5)
