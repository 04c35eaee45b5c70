"""Streamed shop worlds (xl, xxl): deterministic parts, equal to the in-memory generator's shoppers,
independent of the number of processes, resumable, and refused when a folder holds another world.

Part sizes are tiny (20-30 shoppers) so that the tests run in seconds; the xl plan is the real one
(220,000 shoppers) of which only the first part is generated.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqrec.data import shop, shop_parts
from seqrec.data.errors import DataError
from seqrec.data.shop import STREAMED_SIZES, build_shop_world, make_shop_dataset
from seqrec.data.shop_parts import (
    WorldPlan,
    batch_hash,
    generate_world,
    load_streamed_world,
    load_world_batch,
    load_world_sequences,
    read_manifest,
)
from seqrec.experiment import available_models

N_ITEMS = shop.build_catalog().n_items


def test_xl_first_part_is_deterministic_and_is_the_in_memory_prefix(tmp_path: Path) -> None:
    plan = WorldPlan(STREAMED_SIZES["xl"], seed=0, part_shoppers=30)
    assert generate_world(plan, tmp_path / "a", parts=[0]) is None  # no manifest: 7,333 parts left
    assert generate_world(plan, tmp_path / "b", parts=[0]) is None
    records = [json.loads((tmp_path / f / "part-00000.json").read_text()) for f in "ab"]
    assert records[0]["hash"] == records[1]["hash"]
    assert (records[0]["first"], records[0]["last"]) == (0, 30)
    stored = load_world_batch(tmp_path / "a", 0)
    world = build_shop_world(30, seed=0)  # shopper u of xl is shopper u of every smaller world
    ends = world.sequences.offsets
    assert np.array_equal(stored.offsets, ends)
    assert np.array_equal(stored.items, world.sequences.items)
    assert np.array_equal(stored.timestamps, world.sequences.timestamps)
    assert np.array_equal(stored.due_times, world.due_times)
    assert np.array_equal(stored.join_times, world.join_times)
    assert np.array_equal(stored.phase_offsets, world.phase_offsets)
    assert np.array_equal(stored.phase_categories, world.phase_categories)
    assert np.array_equal(stored.phase_rates, world.phase_rates)
    assert batch_hash(stored) == records[0]["hash"]


def test_another_seed_gives_another_part(tmp_path: Path) -> None:
    for seed in (0, 1):
        generate_world(
            WorldPlan(STREAMED_SIZES["xl"], seed, part_shoppers=20), tmp_path / str(seed), parts=[0]
        )
    hashes = {json.loads((tmp_path / s / "part-00000.json").read_text())["hash"] for s in "01"}
    assert len(hashes) == 2


def test_the_world_does_not_depend_on_jobs_and_loads_as_in_memory(tmp_path: Path) -> None:
    plan = WorldPlan(45, seed=0, part_shoppers=20)  # parts of 20, 20 and 5 shoppers
    serial = generate_world(plan, tmp_path / "serial", jobs=1)
    parallel = generate_world(plan, tmp_path / "parallel", jobs=2)
    assert serial is not None and parallel is not None
    assert serial["hash"] == parallel["hash"]
    assert [p["last"] for p in serial["parts"]] == [20, 40, 45]
    sequences, manifest = load_world_sequences(tmp_path / "parallel", N_ITEMS)
    world = build_shop_world(45, seed=0)
    assert sequences.fingerprint() == world.sequences.fingerprint()
    assert manifest["n_purchases"] == world.sequences.n_interactions


def test_a_rerun_reuses_finished_parts_and_ignores_half_written_ones(tmp_path: Path) -> None:
    plan = WorldPlan(40, seed=0, part_shoppers=20)
    generate_world(plan, tmp_path, parts=[0])
    first_record = (tmp_path / "part-00000.json").read_text()
    # A crash while part 1 was written: a temporary file, and a Parquet file without its record.
    (tmp_path / ".tmp-4242-part-00001.purchases.parquet").write_bytes(b"half a file")
    (tmp_path / "part-00001.purchases.parquet").write_bytes(b"not a parquet file")
    assert not (tmp_path / "manifest.json").exists()
    with pytest.raises(DataError, match="not \\(fully\\) generated"):
        read_manifest(tmp_path)
    manifest = generate_world(plan, tmp_path)
    assert manifest is not None
    assert (tmp_path / "part-00000.json").read_text() == first_record  # reused, not redone
    assert not list(tmp_path.glob(".tmp-*"))
    sequences, _ = load_world_sequences(tmp_path, N_ITEMS)
    assert sequences.fingerprint() == build_shop_world(40, seed=0).sequences.fingerprint()
    assert generate_world(plan, tmp_path) == manifest  # finished: returned as it is


@pytest.mark.parametrize(
    ("other", "field"),
    [
        (WorldPlan(40, seed=1, part_shoppers=20), "seed"),
        (WorldPlan(40, seed=0, part_shoppers=10), "part_shoppers"),
        (WorldPlan(41, 0, 20), "n_shoppers"),
    ],
)
def test_a_folder_of_another_world_is_refused(tmp_path: Path, other: WorldPlan, field: str) -> None:
    finished, partial = tmp_path / "finished", tmp_path / "partial"
    generate_world(WorldPlan(40, seed=0, part_shoppers=20), finished)
    generate_world(WorldPlan(40, seed=0, part_shoppers=20), partial, parts=[0])
    for folder, file in ((finished, "manifest.json"), (partial, "plan.json")):
        with pytest.raises(DataError, match=f"holds {field}=") as caught:
            generate_world(other, folder)
        assert caught.value.field == field and caught.value.path is not None
        assert caught.value.path.name == file


def test_a_manifest_that_disagrees_with_the_parts_is_an_error(tmp_path: Path) -> None:
    manifest = generate_world(WorldPlan(20, seed=0, part_shoppers=20), tmp_path)
    assert manifest is not None
    manifest["n_purchases"] += 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="manifest says") as caught:
        load_world_sequences(tmp_path, N_ITEMS)
    assert caught.value.field == "n_purchases"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"n_shoppers": 0, "seed": 0}, "n_shoppers"),
        ({"n_shoppers": 5, "seed": -1}, "seed"),
        ({"n_shoppers": 5, "seed": 0, "part_shoppers": 0}, "part_shoppers"),
    ],
)
def test_bad_plans_name_the_field(arguments: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} must be"):
        WorldPlan(**arguments)


def test_bad_jobs_and_parts_are_errors(tmp_path: Path) -> None:
    plan = WorldPlan(40, seed=0, part_shoppers=20)
    with pytest.raises(ValueError, match="jobs must be"):
        generate_world(plan, tmp_path, jobs=0)
    with pytest.raises(ValueError, match=r"parts \[2\] outside 0..1"):
        generate_world(plan, tmp_path, parts=[2])


def test_a_streamed_dataset_keeps_the_persona_and_says_why_there_is_no_oracle(
    tmp_path: Path,
) -> None:
    dataset = load_streamed_world(25, seed=0, folder=tmp_path, part_shoppers=20, jobs=1)
    in_memory = make_shop_dataset("tiny")
    assert "world" not in dataset.extras
    assert (
        "not built for a streamed shop world of 25 shoppers" in dataset.extras["world_unavailable"]
    )
    persona = dataset.extras["personas"]["blog_author"]
    assert np.array_equal(persona.items, in_memory.extras["personas"]["blog_author"].items)
    assert list(dataset.user_labels[:2]) == ["shopper_000000", "shopper_000001"]
    assert dataset.exclude_history is False
    assert np.array_equal(dataset.item_info().texts, in_memory.item_info().texts)
    assert "oracle" not in available_models(dataset)
    assert "oracle" in available_models(in_memory)
    with pytest.raises(ValueError, match="need\\(s\\) the generator of a synthetic world"):
        available_models(dataset, ["oracle"])


def test_shop_of_size_streams_the_big_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(shop.STREAMED_SIZES, "xl", 30)  # the dispatch, not 220,000 shoppers
    lines: list[str] = []
    dataset = shop_parts.shop_of_size("xl", cache_dir=tmp_path, jobs=1, report=lines.append)
    assert dataset.extras["size"] == "xl"
    assert Path(dataset.extras["world_folder"]) == shop_parts.world_folder(30, 0, tmp_path)
    assert dataset.sequences.fingerprint() == build_shop_world(30).sequences.fingerprint()
    assert lines and "generating 1 on 1 process" in lines[0]
    again: list[str] = []
    shop_parts.shop_of_size("xl", cache_dir=tmp_path, jobs=1, report=again.append)
    assert again == []  # finished world: read, not generated
    with pytest.raises(ValueError, match="'xl' is streamed from Parquet parts and has no oracle"):
        make_shop_dataset("xl")  # the in-memory builder says where the streamed sizes are made


def test_unknown_sizes_list_the_streamed_ones() -> None:
    with pytest.raises(ValueError, match="choose from tiny, small, default, large, xl, xxl$"):
        make_shop_dataset("huge")
