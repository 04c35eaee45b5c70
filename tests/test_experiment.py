"""run_models: several models at a time in worker processes give the one-at-a-time leaderboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqrec.data.shop import make_shop_dataset
from seqrec.data.splits import leave_one_out
from seqrec.data.types import SequenceData
from seqrec.experiment import check_jobs, run_models
from seqrec.models import REGISTRY
from seqrec.models.popularity import Popularity

MODELS = ["popularity", "markov", "sasrec", "item-knn"]
CONFIGS = {"sasrec": {"epochs": 2, "dim": 16, "max_len": 10, "progress": False}}


def test_jobs_give_the_same_models_metrics_and_order() -> None:
    dataset = make_shop_dataset("tiny", seed=0)
    split = leave_one_out(dataset.sequences)
    one = run_models(dataset, split, MODELS, CONFIGS, threads=1, jobs=1)
    events: list[tuple[str, str]] = []
    two = run_models(dataset, split, MODELS, CONFIGS, threads=1, jobs=2, on_event=lambda name, message: events.append((name, message)))
    assert [run.name for run in two.runs] == MODELS  # the requested order, whatever finished first
    histories = SequenceData.from_lists([[1, 2, 3], [5, 8]], dataset.n_items)
    for a, b in zip(one.runs, two.runs):
        assert a.test.metrics == b.test.metrics, a.name
        assert a.valid is not None and b.valid is not None and a.valid.metrics == b.valid.metrics, a.name
        np.testing.assert_array_equal(a.model.recommend(histories, 10), b.model.recommend(histories, 10))
    assert {name for name, message in events if message.startswith("fitted in")} == set(MODELS)


USER_MODULE = """
from seqrec.models.popularity import Popularity


class MyPopularity(Popularity):
    name = "my-popularity"
"""


def test_a_model_registered_in_this_process_reaches_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_models.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers get this process's sys.path
    from my_models import MyPopularity  # type: ignore[import-not-found]

    REGISTRY.register(MyPopularity)
    try:
        dataset = make_shop_dataset("tiny", seed=0)
        board = run_models(dataset, leave_one_out(dataset.sequences), ["my-popularity", "popularity"], jobs=2)
        assert [run.name for run in board.runs] == ["my-popularity", "popularity"]
        assert board.runs[0].test.metrics == board.runs[1].test.metrics
    finally:
        REGISTRY.unregister("my-popularity")


def test_a_registered_model_workers_cannot_import_is_a_clear_error() -> None:
    model_class = type("LocalPopularity", (Popularity,), {"name": "local-popularity", "__module__": "nowhere_to_be_found"})
    REGISTRY.register(model_class)
    try:
        dataset = make_shop_dataset("tiny", seed=0)
        with pytest.raises(ValueError, match="local-popularity.*use jobs=1"):
            run_models(dataset, leave_one_out(dataset.sequences), ["local-popularity", "popularity"], jobs=2)
    finally:
        REGISTRY.unregister("local-popularity")


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_jobs_must_be_a_positive_whole_number(jobs: object) -> None:
    with pytest.raises(ValueError, match="jobs must be a whole number of at least 1"):
        check_jobs(jobs)  # type: ignore[arg-type]
