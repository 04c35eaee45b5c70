"""run_models: several models at a time in worker processes give the one-at-a-time leaderboard."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    from my_models import MyPopularity

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


class SampledPopularity(Popularity):
    """Popularity that asks to be evaluated on 7 users, with a fresh popularity as its baseline."""

    name = "sampled-popularity"

    def evaluation_users(self) -> int | None:
        return 7

    def evaluation_baseline(self) -> Popularity:
        return self.baseline

    def _fit(self, train: SequenceData, valid: object) -> None:
        super()._fit(train, valid)
        self.baseline = Popularity().fit(train)


def test_a_model_can_ask_for_a_stated_sample_of_users_with_its_baseline_on_the_same_users() -> None:
    REGISTRY.register(SampledPopularity)
    try:
        dataset = make_shop_dataset("tiny", seed=0)
        split = leave_one_out(dataset.sequences)
        board = run_models(dataset, split, ["oracle", "sampled-popularity", "popularity"])
        sampled, full = board.runs[1], board.runs[2]
        assert sampled.users == 7 and len(sampled.test.per_user["rank"]) == 7
        assert full.users is None and len(full.test.per_user["rank"]) == len(split.test)
        assert sampled.baseline is not None and sampled.baseline[0] == "popularity"
        assert sampled.baseline[1].metrics == sampled.test.metrics  # the same model on the same users
        again = run_models(dataset, split, ["sampled-popularity"]).runs[0]
        np.testing.assert_array_equal(again.test.per_user["rank"], sampled.test.per_user["rank"])  # the same users
        rows = {row["model"]: row for row in board.rows(["oracle"])}
        assert rows["sampled-popularity"]["users"] == 7
        assert rows["sampled-popularity"]["baseline"]["model"] == "popularity"
        assert "NDCG@10_pct_of_oracle" not in rows["sampled-popularity"]  # 7 users are not all users
        assert "NDCG@10_pct_of_oracle" in rows["popularity"]
        assert "sampled-popularity: on a sample of 7 test users" in board.to_markdown(["oracle"])
    finally:
        REGISTRY.unregister("sampled-popularity")


class NeedsAPackage(Popularity):
    name = "needs-a-package"

    @classmethod
    def unavailable_reason(cls, config: Mapping[str, Any] | None = None) -> str | None:
        return None if (config or {}).get("installed") else "needs the package nothing-here: pip install nothing-here"


def test_default_lists_leave_out_models_that_cannot_run_here_and_say_why() -> None:
    from seqrec.experiment import runnable_models
    from seqrec.models.llm.backends import missing_requirements

    skipped: list[tuple[str, str]] = []
    names = ["popularity", "needs-a-package"]
    REGISTRY.register(NeedsAPackage)
    try:
        assert runnable_models(names, {}, requested=False, on_skip=lambda n, why: skipped.append((n, why))) == ["popularity"]
        assert skipped == [("needs-a-package", "left out: needs the package nothing-here: pip install nothing-here")]
        assert runnable_models(names, {"needs-a-package": {"installed": True}}, requested=False) == names
        assert runnable_models(names, {}, requested=True) == names  # asked for by name: it fails with the reason
    finally:
        REGISTRY.unregister("needs-a-package")
    assert missing_requirements("lexical") is None
    assert "no-such-llm-package" not in (missing_requirements("transformers", "a/local/folder") or "")
