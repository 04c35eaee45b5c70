"""Shared fixtures: tiny worlds where the right answer is known (see ``seqrec.testing``)."""

from __future__ import annotations

import pytest
import torch

from seqrec.data.types import SequenceData
from seqrec.testing import cycle_world

torch.set_num_threads(1)


@pytest.fixture
def cycles() -> SequenceData:
    return cycle_world()
