"""HSTU: pointwise attention by hand, time buckets by hand, causality, the reference path, the
time plumbing of the trainer (training and scoring), explanations and config errors."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor

from seqrec.data.types import SequenceData
from seqrec.models.base import ConfigError
from seqrec.models.neural.batching import TrainingWindows, history_timestamps, make_batch
from seqrec.models.neural.hstu import (
    HSTU,
    HSTUConfig,
    HSTUNetwork,
    RelativeAttentionBias,
    attention_allowed,
    attention_scale,
    latest_purchases,
    pointwise_attention,
    query_timestamps,
    reference_pointwise_attention,
    relative_time_buckets,
    time_buckets,
)
from seqrec.models.neural.losses import LossFunction
from seqrec.models.neural.network import Objective
from seqrec.models.neural.sasrec import SASRecConfig, SASRecNetwork

TINY: dict[str, Any] = {
    "max_len": 8,
    "dim": 16,
    "batch_size": 16,
    "lr": 5e-3,
    "threads": 1,
    "progress": False,
}


def silu(x: float) -> float:
    return x / (1.0 + math.exp(-x))


def network(seed: int = 0, **config: Any) -> HSTUNetwork:
    torch.manual_seed(seed)
    settings = {"max_len": 6, "dim": 8, "n_layers": 2, "n_heads": 2, "dropout": 0.0, **config}
    return HSTUNetwork(20, HSTUConfig(**settings)).eval()


# -- the attention, by hand -------------------------------------------------------------------------
def hand_case() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One head, scalar queries/keys/values over 3 positions; one bias entry (query 2, key 0) = 1."""
    q = torch.tensor([1.0, 1.0, 2.0]).view(1, 1, 3, 1)
    k = torch.tensor([0.0, 1.0, 1.0]).view(1, 1, 3, 1)
    v = torch.tensor([10.0, 20.0, 30.0]).view(1, 1, 3, 1)
    bias = torch.zeros(1, 3, 3)
    bias[0, 2, 0] = 1.0
    return q, k, v, bias


def test_pointwise_attention_matches_a_hand_computed_case() -> None:
    q, k, v, bias = hand_case()
    scale = attention_scale(attention_allowed(torch.tensor([[5, 6, 7]])), "max_len", 3)
    out, weights = pointwise_attention(q, k, v, bias, scale)
    # logits q_i k_j + b_ij on and below the diagonal: row 0: [0]; row 1: [0, 1]; row 2: [0 + 1, 2, 2];
    # divided by n = 3, the padded length (not the number of keys a row sees).
    expected = [
        0.0,
        (silu(0.0) * 10 + silu(1.0) * 20) / 3,  # = 4.8737
        (silu(1.0) * 10 + silu(2.0) * 20 + silu(2.0) * 30) / 3,  # = 31.7968
    ]
    assert expected[1] == pytest.approx(4.873724, abs=1e-6) and expected[2] == pytest.approx(
        31.796764, abs=1e-6
    )
    torch.testing.assert_close(out.view(3), torch.tensor(expected))
    assert (
        float(weights[0, 0, 0, 1]) == 0.0 and float(weights[0, 0, 1, 2]) == 0.0
    )  # the future is masked
    assert float(weights[0, 0, 2, 0]) == pytest.approx(silu(1.0) / 3)


def test_padding_keys_are_ignored_and_visible_norm_divides_by_what_a_query_sees() -> None:
    q, k, v, bias = hand_case()
    allowed = attention_allowed(torch.tensor([[0, 6, 7]]))  # position 0 is padding
    out, _ = pointwise_attention(q, k, v, bias, attention_scale(allowed, "visible", 3))
    # row 0 (padding) reads nothing; row 1 reads key 1 only (n = 1); row 2 reads keys 1, 2 (n = 2).
    expected = [0.0, silu(1.0) * 20, (silu(2.0) * 20 + silu(2.0) * 30) / 2]
    torch.testing.assert_close(out.view(3), torch.tensor(expected))


def test_reference_attention_equals_the_fast_one() -> None:
    generator = torch.Generator().manual_seed(3)
    q, k = (
        torch.randn(2, 2, 5, 3, generator=generator),
        torch.randn(2, 2, 5, 3, generator=generator),
    )
    v, bias = (
        torch.randn(2, 2, 5, 4, generator=generator),
        torch.randn(2, 5, 5, generator=generator),
    )
    ids = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    for norm in ("max_len", "visible"):
        scale = attention_scale(attention_allowed(ids), norm, 5)
        fast, fast_weights = pointwise_attention(q, k, v, bias, scale)
        slow, slow_weights = reference_pointwise_attention(q, k, v, bias, scale)
        torch.testing.assert_close(fast, slow)
        torch.testing.assert_close(fast_weights, slow_weights)


@pytest.mark.parametrize(
    "options",
    [{}, {"time_key_rank": 3}, {"time_key_rank": 2, "time_bucket_width": 0.1, "n_time_buckets": 300}],
)
def test_the_reference_path_of_the_whole_network_equals_the_fast_one(options: dict[str, Any]) -> None:
    net = network(n_heads=2, **options)
    buckets = options.get("n_time_buckets", 128)
    for block in net.blocks:
        assert isinstance(block.relative_bias, RelativeAttentionBias)
        assert block.relative_bias.time_weight is not None
        assert block.relative_bias.time_weight.shape == (buckets + 1,)
    ids = torch.tensor([[0, 0, 3, 7, 1, 9], [2, 5, 8, 1, 3, 4]])
    times = torch.tensor([[0, 0, 10, 500, 90_000, 90_001], [1, 2, 3, 10**6, 10**7, 10**7]])
    with torch.no_grad():
        fast, fast_weights = net.encode_with_attention(ids, times)
        slow, slow_weights = net.encode_with_attention(ids, times, reference=True)
    torch.testing.assert_close(fast, slow)
    for a, b in zip(fast_weights, slow_weights):
        torch.testing.assert_close(a, b)


# -- time buckets and the relative bias ----------------------------------------------------------------
def test_time_buckets_by_hand() -> None:
    gaps = torch.tensor([0, 1, 2, 10, 86_400, 10**6, -10, 10**18])
    # floor(ln(max(|dt|, 1)) / 0.301): ln 1 = 0; ln 2 / 0.301 = 2.30; ln 10 / 0.301 = 7.65;
    # ln 86400 / 0.301 = 37.76; ln 1e6 / 0.301 = 45.90; |-10| as 10; ln 1e18 / 0.301 = 137.7 -> 128.
    assert time_buckets(gaps).tolist() == [0, 0, 2, 7, 37, 45, 7, 128]
    # Finer buckets: ln 2 / 0.1 = 6.9; ln 10 / 0.1 = 23.0 -> 23; ln 86400 / 0.1 = 113.7 -> capped at 100.
    assert time_buckets(gaps, 0.1, 100).tolist() == [0, 0, 6, 23, 100, 100, 23, 100]


def test_query_time_is_the_next_timestamp_and_the_last_one_is_duplicated() -> None:
    times = torch.tensor([[0, 5, 7, 20]])
    assert query_timestamps(times, "next").tolist() == [[5, 7, 20, 20]]
    assert query_timestamps(times, "current").tolist() == [[0, 5, 7, 20]]
    request = torch.tensor([31])  # the time the next item is asked for
    assert query_timestamps(times, "next", request).tolist() == [[5, 7, 20, 31]]
    assert query_timestamps(times, "current", request).tolist() == [[0, 5, 7, 20]]


def test_relative_bias_adds_a_position_weight_and_a_time_bucket_weight() -> None:
    bias = RelativeAttentionBias(max_len=4, with_time=True)
    with torch.no_grad():
        bias.position_weight.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))  # by distance i - j
        assert bias.time_weight is not None
        bias.time_weight.copy_(torch.arange(129, dtype=torch.float32))  # weight = bucket number
    times = torch.tensor([[100, 102, 112]])
    buckets = relative_time_buckets(times, "next")
    # query times (next): [102, 112, 112]. Row 1 (query time 112): key 0 gap 12 -> ln 12 / 0.301 =
    # 8.26 -> 8; key 1 gap 10 -> 7. Row 2 (112, its own): key 0 gap 12 -> 8, key 1 gap 10 -> 7, key 2 -> 0.
    assert buckets[0, 1, :2].tolist() == [8, 7] and buckets[0, 2].tolist() == [8, 7, 0]
    value = bias(3, buckets)
    assert value[0, 2].tolist() == pytest.approx([0.3 + 8, 0.2 + 7, 0.1 + 0])
    assert value[0, 1, 0].item() == pytest.approx(0.2 + 8)


def test_keyed_time_bias_adds_each_keys_own_time_profile() -> None:
    bias = RelativeAttentionBias(max_len=4, with_time=True, dim=2, key_rank=2)
    assert bias.time_key is not None and bias.time_profile is not None
    with torch.no_grad():
        bias.position_weight.zero_()
        assert bias.time_weight is not None
        bias.time_weight.zero_()
        bias.time_key.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))  # a_j = (x_j0, 2 x_j1)
        bias.time_profile.copy_(torch.stack([torch.arange(129.0), -torch.ones(129)], dim=1))  # G[b] = (b, -1)
    times = torch.tensor([[100, 102, 112]])
    # "current": row 1 (102): key 0 gap 2 -> ln 2 / 0.301 = 2.3 -> 2, key 1 -> 0; row 2 (112): 8, 7, 0.
    buckets = relative_time_buckets(times, "current")
    keys = torch.tensor([[[1.0, 0.0], [0.5, 1.0], [0.0, 3.0]]])  # [B, L, D]
    value = bias(3, buckets, keys)
    # a = [(1, 0), (0.5, 2), (0, 6)]: a_j . G[b_2j] = 1*8 + 0; 0.5*7 - 2; 0*0 - 6.
    assert value[0, 2].tolist() == pytest.approx([8.0, 1.5, -6.0])
    assert value[0, 1, :2].tolist() == pytest.approx([1.0 * 2, 0.5 * 0 - 2])


def test_the_keyed_time_bias_is_off_by_default_and_keeps_causality() -> None:
    plain = network()
    for block in plain.blocks:
        assert isinstance(block.relative_bias, RelativeAttentionBias)
        assert block.relative_bias.time_key is None
    net = network(time_reference="current", time_key_rank=3)
    changed = IDS.clone()
    changed[0, 3] = 15
    later = TIMES.clone()
    later[0, 3] = 10**8
    before = encode(net, IDS, TIMES)
    for ids, times in ((changed, TIMES), (IDS, later)):  # the item, then the time, at t + 1 = 3
        after = encode(net, ids, times)
        torch.testing.assert_close(before[:, :3], after[:, :3])
        assert not torch.allclose(before[:, 3:], after[:, 3:])


# -- the repeat term (an extension) -----------------------------------------------------------------
def test_latest_purchases_by_hand() -> None:
    """Items 0 | 5 7 5 2 7: query 3 sees 7 (col 2) and 5 (col 3, not col 1); query 5 sees 5 (3), 2, 7 (5)."""
    latest = latest_purchases(torch.tensor([[0, 5, 7, 5, 2, 7]]))[0]
    expected = {1: [1], 2: [1, 2], 3: [2, 3], 4: [2, 3, 4], 5: [3, 4, 5]}
    assert latest[0].sum() == 0  # a padding query sees nothing
    for query, keys in expected.items():
        assert torch.nonzero(latest[query]).flatten().tolist() == keys


def test_the_repeat_term_adds_the_weighted_embeddings_of_the_latest_purchases() -> None:
    """hidden = the plain network's output + sum over latest purchases of r_item · P[bucket] · Ê_item."""
    plain = network(time_reference="current")
    net = network(time_reference="current", repeat_rank=2)
    assert plain.repeat is None and net.repeat is not None
    net.load_state_dict({**plain.state_dict(), **{k: v for k, v in net.state_dict().items() if k.startswith("repeat.")}})
    torch.testing.assert_close(encode(net, IDS, TIMES), encode(plain, IDS, TIMES))  # P starts at zero
    with torch.no_grad():
        net.repeat.profile.normal_()
    ids, times = torch.tensor([[3, 7, 3, 9]]), torch.tensor([[0, 10, 1_000, 100_000]])
    hidden, reference = encode(net, ids, times), encode(plain, ids, times)
    table = net.item_embedding.weight
    expected = reference.clone()
    for query, keys in {0: [0], 1: [0, 1], 2: [1, 2], 3: [1, 2, 3]}.items():  # latest purchases by hand
        for key in keys:
            gap = int(times[0, query] - times[0, key])
            bucket = min(max(math.floor(math.log(max(gap, 1)) / 0.301), 0), 128)
            with torch.no_grad():
                weight = float(net.repeat.item_rank.weight[ids[0, key]] @ net.repeat.profile[bucket])
                expected[0, query] += weight * table[ids[0, key]] / table[ids[0, key]].norm()
    torch.testing.assert_close(hidden, expected)


def test_the_repeat_term_keeps_causality() -> None:
    net = network(time_reference="current", repeat_rank=3)
    with torch.no_grad():
        net.repeat.profile.normal_()
    changed = IDS.clone()
    changed[0, 3] = 3  # a repeat of column 1's item at t + 1 = 3
    later = TIMES.clone()
    later[0, 3] = 10**8
    before = encode(net, IDS, TIMES)
    for ids, times in ((changed, TIMES), (IDS, later)):
        after = encode(net, ids, times)
        torch.testing.assert_close(before[:, :3], after[:, :3])
        assert not torch.allclose(before[:, 3:], after[:, 3:])


# -- causality and exact trimming ------------------------------------------------------------------------
IDS = torch.tensor([[0, 3, 7, 1, 9, 4]])
TIMES = torch.tensor([[0, 100, 200, 5_000, 90_000, 10**6]])


def encode(net: HSTUNetwork, ids: Tensor, times: Tensor) -> Tensor:
    with torch.no_grad():
        return net.encode_timed(ids, times)


def test_position_t_never_sees_a_later_item() -> None:
    net = network()
    changed = IDS.clone()
    changed[0, 3] = 15  # the item at t + 1 = 3
    before, after = encode(net, IDS, TIMES), encode(net, changed, TIMES)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_next_time_reference_reads_only_the_next_timestamp() -> None:
    net = network()
    later = TIMES.clone()
    later[0, 3] = 10**8  # the time of t + 1 = 3 (the item position 2 predicts)
    before, after = encode(net, IDS, TIMES), encode(net, IDS, later)
    # The official bias measures from the *next* timestamp: position 2 sees it, earlier ones do not.
    torch.testing.assert_close(before[:, :2], after[:, :2])
    assert not torch.allclose(before[:, 2], after[:, 2])
    much_later = TIMES.clone()
    much_later[0, 4] = 10**8  # the time of t + 2 = 4: nothing up to t = 2 may change
    torch.testing.assert_close(before[:, :3], encode(net, IDS, much_later)[:, :3])


def test_current_time_reference_sees_no_later_timestamp() -> None:
    net = network(time_reference="current")
    later = TIMES.clone()
    later[0, 3] = 10**8
    before, after = encode(net, IDS, TIMES), encode(net, IDS, later)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


@pytest.mark.parametrize("options", [{"attention_norm": "max_len"}, {"attention_norm": "visible"}, {"repeat_rank": 2}])
def test_leading_padding_can_be_dropped_without_changing_anything(options: dict[str, Any]) -> None:
    net = network(**options)
    if net.repeat is not None:
        with torch.no_grad():
            net.repeat.profile.normal_()
    ids = torch.tensor([[0, 0, 0, 5, 6, 5]])
    times = torch.tensor([[0, 0, 0, 10, 5_000, 10**6]])
    torch.testing.assert_close(
        encode(net, ids, times)[:, 3:], encode(net, ids[:, 3:], times[:, 3:])
    )


def test_outputs_and_item_table_are_unit_vectors() -> None:
    net = network()
    hidden = encode(net, IDS, TIMES)[0, 1:]  # real positions
    torch.testing.assert_close(hidden.norm(dim=-1), torch.ones(5))
    table = net.item_embeddings().detach()
    torch.testing.assert_close(table[1:].norm(dim=-1), torch.ones(20))
    assert float(table[0].abs().sum()) == 0.0  # padding row


def test_plain_encode_refuses_to_run_without_timestamps() -> None:
    with pytest.raises(TypeError, match="timestamps"):
        network().encode(IDS)
    with pytest.raises(ValueError, match="timestamps"):
        network().encode_inputs(IDS)


# -- the time plumbing ----------------------------------------------------------------------------------
def gap_world(n_users: int = 60) -> tuple[SequenceData, SequenceData, list[int]]:
    """Every user buys 1 then 4; the next item is 2 when 4 came 5 s after 1, 3 when it came 1e6 s after.
    The item sequences are identical, so only the time gap tells the answer."""
    rng = np.random.default_rng(0)
    sequences, times, histories, history_times, answers = [], [], [], [], []
    for user in range(n_users):
        short = user % 2 == 0
        gap = 5 if short else 10**6
        start = int(rng.integers(0, 10**5))
        sequences.append([1, 4, 2 if short else 3])
        times.append([start, start + gap, start + gap])  # the answer comes in the same second as 4
    for short in (True, False, True, False):
        gap = 5 if short else 10**6
        histories.append([1, 4])
        history_times.append([7, 7 + gap])
        answers.append(2 if short else 3)
    train = SequenceData.from_lists(sequences, n_items=5, timestamps=times)
    return train, SequenceData.from_lists(histories, n_items=5, timestamps=history_times), answers


def test_only_time_tells_the_answer_and_hstu_finds_it() -> None:
    train, histories, answers = gap_world()
    timed = HSTU(TINY, epochs=40).fit(train)
    assert timed.recommend(histories, k=1)[:, 0].tolist() == answers
    # Without the time bias the identical item sequences get identical answers: half are wrong.
    blind = HSTU(TINY, epochs=40, relative_bias="position").fit(train)
    top = blind.recommend(histories, k=1)[:, 0].tolist()
    assert len(set(top)) == 1 and sum(a == b for a, b in zip(top, answers)) == 2


class SpyNetwork(HSTUNetwork):
    """Records the timestamps the trainer hands over."""

    calls: ClassVar[list[tuple[bool, Tensor, Tensor]]] = []

    def encode_timed(self, input_ids: Tensor, timestamps: Tensor) -> Tensor:
        SpyNetwork.calls.append((self.training, input_ids.clone(), timestamps.clone()))
        return super().encode_timed(input_ids, timestamps)


class SpyHSTU(HSTU):
    def build_network(self, n_items: int) -> HSTUNetwork:
        return SpyNetwork(n_items, self.config)


def test_timestamps_reach_the_network_in_training_and_in_scoring() -> None:
    train = SequenceData.from_lists(
        [[1, 2, 3], [4, 5]], n_items=5, timestamps=[[10, 20, 30], [7, 99]]
    )
    SpyNetwork.calls.clear()
    model = SpyHSTU({**TINY, "max_len": 4, "batch_size": 2}, epochs=1).fit(train)
    training_calls = [call for call in SpyNetwork.calls if call[0]]
    assert len(training_calls) == 1
    _, ids, times = training_calls[0]
    # Causal windows: inputs are all but the last item, times aligned, left-padded with 0 (rows
    # sorted by length within the batch, then leading all-padding columns dropped).
    rows = {tuple(row): tuple(t) for row, t in zip(ids.tolist(), times.tolist())}
    assert rows == {(1, 2): (10, 20), (0, 4): (0, 7)}
    SpyNetwork.calls.clear()
    histories = SequenceData.from_lists(
        [[2, 3, 4], [5]], n_items=5, timestamps=[[100, 200, 300], [42]]
    )
    scores = model.checked_scores(histories)
    (_, ids, times), *_ = SpyNetwork.calls
    rows = {tuple(row): tuple(t) for row, t in zip(ids.tolist(), times.tolist())}
    assert rows == {(0, 0, 5): (0, 0, 42), (2, 3, 4): (100, 200, 300)}
    moved = SequenceData.from_lists(
        [[2, 3, 4], [5]], n_items=5, timestamps=[[100, 200, 10**7], [42]]
    )
    assert not np.allclose(model.checked_scores(moved)[0], scores[0])  # scoring reads the times
    through_vectors = (
        model.query_vectors(moved) @ model.item_vectors().T
    )  # the ANN path reads the times too
    np.testing.assert_allclose(
        through_vectors[:, 1:], model.checked_scores(moved)[:, 1:], atol=1e-5
    )


def test_history_timestamps_are_aligned_with_the_inputs() -> None:
    histories = SequenceData.from_lists(
        [[1, 2, 3, 4], [5]], n_items=6, timestamps=[[1, 2, 3, 4], [9]]
    )
    assert history_timestamps(histories, 3, Objective.CAUSAL).tolist() == [[2, 3, 4], [0, 0, 9]]
    # A masked-LM input ends in the [mask]; it gets the last history timestamp.
    assert history_timestamps(histories, 3, Objective.MASKED).tolist() == [[3, 4, 4], [0, 9, 9]]


def test_networks_that_read_no_time_get_no_timestamps() -> None:
    train = SequenceData.from_lists([[1, 2, 3]], n_items=3, timestamps=[[5, 6, 7]])
    windows = TrainingWindows(train, 4, Objective.CAUSAL, "sliding")
    rows = torch.tensor([0])
    assert windows.timestamps is None and windows.gather_timestamps(rows) is None
    batch = make_batch(
        windows.gather(rows),
        Objective.CAUSAL,
        3,
        0.2,
        torch.Generator(),
        windows.gather_timestamps(rows),
    )
    assert batch.timestamps is None
    timed = TrainingWindows(train, 4, Objective.CAUSAL, "sliding", with_time=True)
    timed_batch = make_batch(
        timed.gather(rows),
        Objective.CAUSAL,
        3,
        0.2,
        torch.Generator(),
        timed.gather_timestamps(rows),
    )
    assert timed_batch.input_ids.tolist() == [[0, 0, 1, 2]] and timed_batch.timestamps is not None
    assert timed_batch.timestamps.tolist() == [
        [0, 0, 5, 6]
    ]  # the last target's time (7) is not given
    torch.manual_seed(0)
    sasrec = SASRecNetwork(3, SASRecConfig(max_len=4, dim=8, dropout=0.0)).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            sasrec.encode_inputs(batch.input_ids, None), sasrec.encode(batch.input_ids)
        )


# -- the loss temperature ------------------------------------------------------------------------------
def test_the_loss_divides_scores_by_the_network_temperature() -> None:
    train = SequenceData.from_lists([[1, 2, 3]], n_items=3)
    net = network(temperature=0.25)
    hidden = torch.nn.functional.normalize(
        torch.randn(4, 8, generator=torch.Generator().manual_seed(1)), dim=-1
    )
    targets = torch.tensor([1, 2, 3, 1])
    table = net.item_embeddings().detach()
    with torch.no_grad():
        loss = LossFunction(HSTUConfig(loss="softmax", max_len=6, dim=8), train)(
            net, hidden, targets, torch.Generator()
        )
    cosines = (hidden @ table[1:4].T).double()  # [4, 3]: the 3 items of the training data
    by_hand = -np.mean(
        [
            float(cosines[n, targets[n] - 1] / 0.25 - torch.logsumexp(cosines[n] / 0.25, 0))
            for n in range(4)
        ]
    )
    assert float(loss) == pytest.approx(by_hand, rel=1e-5)


# -- explanations and config ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted() -> HSTU:
    from seqrec.testing import cycle_world

    return HSTU(TINY, epochs=10).fit(cycle_world())


def test_explanation_gives_each_history_item_its_weight_and_time_gap(fitted: HSTU) -> None:
    history, times = [3, 4, 5, 1], [0, 3_600, 86_400, 2 * 86_400]
    explanation = fitted.explain(history, 2, timestamps=times)
    assert explanation.kind == "attention" and explanation.item == 2
    rows = sorted(explanation.evidence, key=lambda row: row["position"])
    assert [row["item"] for row in rows] == history
    assert [row["seconds_before_last"] for row in rows] == [
        2 * 86_400,
        2 * 86_400 - 3_600,
        86_400,
        0,
    ]
    network_, inputs, input_times = fitted.timed_history_input(history, times)
    assert isinstance(network_, HSTUNetwork)
    with torch.no_grad():
        _, weights = network_.encode_with_attention(inputs, input_times)
    final = weights[-1][0, :, -1, -4:].mean(dim=0).tolist()
    assert [row["weight"] for row in rows] == pytest.approx(final)
    assert (
        "days before the last purchase" in explanation.summary
        or "s before the last purchase" in explanation.summary
    )
    with pytest.raises(ValueError, match="timestamps"):
        fitted.explain(history, 2, timestamps=[1, 2])
    assert fitted.repeat_weights(history, times) is None
    assert all("repeat_weight" not in row for row in explanation.evidence)


def test_explanation_gives_the_repeat_weight_of_each_latest_purchase() -> None:
    from seqrec.testing import cycle_world

    model = HSTU({**TINY, "repeat_rank": 2}, epochs=2).fit(cycle_world())
    network_ = model.require_network()
    assert isinstance(network_, HSTUNetwork) and network_.repeat is not None
    with torch.no_grad():
        network_.repeat.profile.normal_()
    history, times = [3, 4, 3, 1], [0, 3_600, 86_400, 2 * 86_400]
    weights = model.repeat_weights(history, times)
    assert weights is not None and weights[0] == 0.0 and (weights[1:] != 0).all()  # item 3's first purchase is not its latest
    explanation = model.explain(history, 3, timestamps=times)
    rows = sorted(explanation.evidence, key=lambda row: row["position"])
    assert [row["repeat_weight"] for row in rows] == pytest.approx(weights.tolist())
    assert f"repeat term adds {weights[2]:+.3f}" in explanation.summary and "1.0 days before the last" in explanation.summary


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"dim": 10, "n_heads": 3}, "divisible"),
        ({"temperature": 0.0}, "temperature"),
        ({"dropout": 1.0}, "dropout"),
        ({"n_layers": 0}, "n_layers"),
        ({"attention_dim": -1}, "attention_dim"),
        ({"attention_norm": "length"}, "attention_norm"),
        ({"time_reference": "later"}, "time_reference"),
        ({"time_key_rank": -1}, "time_key_rank"),
        ({"time_bucket_width": 0.0}, "time_bucket_width"),
        ({"n_time_buckets": 0}, "n_time_buckets"),
        ({"time_key_rank": 4, "relative_bias": "position"}, "time_key_rank"),
        ({"repeat_rank": -1}, "repeat_rank"),
        ({"repeat_rank": 4, "relative_bias": "position"}, "repeat_rank"),
    ],
)
def test_bad_config_values_are_config_errors(values: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        HSTU(values)
