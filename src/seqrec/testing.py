"""Tiny worlds with known answers, for seqrec's own tests and for anyone adding a model."""

from __future__ import annotations

import numpy as np

from seqrec.data.types import SequenceData


def cycle_world(n_users: int = 60, length: int = 12, seed: int = 0) -> SequenceData:
    """Two disjoint 'categories' of 5 items, each walked as a strict cycle.

    Users in group A walk 1 -> 2 -> 3 -> 4 -> 5 -> 1 ...; group B walks 6 -> ... -> 10 -> 6.
    Each user starts at a random point of the cycle. Item 11 is bought once, by user 0, so the
    catalog has a cold item. Known answers: after ... 3 in group A the next item is 4 (sequential
    models); a group-A history's neighbours are group-A items (order-agnostic models); the most
    popular items are the ones most often visited.
    """
    rng = np.random.default_rng(seed)
    sequences: list[list[int]] = []
    for user in range(n_users):
        base = 1 if user % 2 == 0 else 6
        start = int(rng.integers(0, 5))
        sequences.append([base + (start + step) % 5 for step in range(length)])
    sequences[0] = sequences[0] + [11]
    times = [[1_000 * u + 10 * t for t in range(len(s))] for u, s in enumerate(sequences)]
    return SequenceData.from_lists(sequences, n_items=11, timestamps=times)
