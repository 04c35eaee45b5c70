"""Where HSTU looks on the shop world's re-buy targets: does its time bias find the item that is due?

``bench/hstu_shop.py`` measures that HSTU's re-buys are hardly better than SASRec's although the
purchase times hold the answer (its re-buy rule reaches 0.85 NDCG@10 on re-buy targets). This
script asks the trained networks why. It retrains, with one seed, the three HSTU rows that
``bench/hstu_shop.py`` chose on validation (their configs are read from
``bench/results/hstu_shop.json``: the official bias, the key-dependent bias of our extension, and
the network without time), and for every test target that is a re-buy (at least
``REBUY_SHARE`` of the target's probability comes from the generator's re-buy part) it reads the
pointwise attention of each block's final query (averaged over heads) over the history and
reports

* the rank of the due item's most recent purchase among the history positions the network sees,
  by attention weight (1 = the most attended position), as a median and as the share ranked first;
* the same rank under the re-buy rule's score (how soon each position's item falls due), which is
  what reading the clock would give;
* the target's rank in the network's scores (NDCG@10 on these targets) and the size of the learned
  time weights (the largest official bucket weight and, with the extension, the largest key-dependent
  term over these histories).

If the time bias read the clock, the due item's purchase would be among the most attended
positions with time and not without it.

usage: python bench/hstu_shop_attention.py [--seed 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np
import torch
from _common import RESULTS, machine_info, write_results
from hstu_shop import COMMON, item_cycles, part_shares

from seqrec.data.shop import make_shop_dataset
from seqrec.data.splits import leave_one_out
from seqrec.evaluation.metrics import ndcg, pessimistic_ranks
from seqrec.models.neural.hstu import (
    HSTU,
    NORM_EPS,
    HSTUNetwork,
    attention_allowed,
)

REBUY_SHARE = 0.95
"""A test target counts as a re-buy when the re-buy part holds at least this share of its probability."""
ROWS = ("HSTU", "HSTU + key-dependent time bias (ours)", "HSTU without time")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return parser.parse_args()


def rank_of(values: np.ndarray, position: int) -> int:
    """1 + the number of positions with a strictly larger value (optimistic about ties)."""
    return 1 + int((values > values[position]).sum())


def largest_keyed_term(network: HSTUNetwork, inputs: torch.Tensor, times: torch.Tensor) -> float:
    """The largest ``|a_j · G[bucket]|`` of the first block over one history (0 without the extension)."""
    bias = network.blocks[0].relative_bias
    if bias.time_key is None or bias.time_profile is None:
        return 0.0
    buckets = network.time_buckets(times)
    normed = torch.nn.functional.layer_norm(
        network._embed(inputs), (network.dim,), eps=NORM_EPS
    )  # the first block's normalised input (network.eval(): no dropout)
    term = bias.key_time_term(buckets, normed)  # [1, L, L]
    allowed = attention_allowed(inputs)
    return float(term[allowed].detach().abs().max())


def diagnose(
    model: HSTU, split: Any, rows: np.ndarray, cycles: np.ndarray, tolerance: np.ndarray
) -> dict[str, Any]:
    histories, targets = split.test.histories, split.test.targets
    network = model.require_network()
    assert isinstance(network, HSTUNetwork)
    scores = model.checked_scores(histories)
    ranks = pessimistic_ranks(scores[rows], targets[rows])
    attention: list[list[int]] = [[] for _ in network.blocks]
    rule, keyed, seen_counts = [], [], []
    skipped = 0
    for row in rows.tolist():
        start, end = int(histories.offsets[row]), int(histories.offsets[row + 1])
        items, stamps = (
            histories.items[start:end].tolist(),
            histories.timestamps[start:end].tolist(),
        )
        _net, inputs, times = model.timed_history_input(items, stamps)
        ids, seen = inputs[0].tolist(), times[0].tolist()
        target = int(targets[row])
        positions = [p for p, item in enumerate(ids) if item == target]
        if not positions:
            skipped += 1  # the due item's purchase lies before the window the network reads
            continue
        due = positions[-1]
        with torch.no_grad():
            _, weights = network.encode_with_attention(inputs, times)
            keyed.append(largest_keyed_term(network, inputs, times))
        real = [p for p, item in enumerate(ids) if item != 0]
        seen_counts.append(len(real))
        for block, block_weights in enumerate(weights):
            final = block_weights[0, :, -1, :].mean(dim=0).numpy()  # [L]
            attention[block].append(rank_of(final[real], real.index(due)))
        # the rule (bench/hstu_shop.py): an item's latest purchase, if the item has a cycle and is
        # not overdue past its tolerance, ranks by how soon it falls due; everything else below
        now = seen[-1]
        latest = {item: when for item, when in zip(ids, seen) if item != 0}
        due_in = np.array(
            [
                -(latest[ids[p]] + cycles[ids[p]] - now)
                if seen[p] == latest[ids[p]]
                and not np.isnan(cycles[ids[p]])
                and now - seen[p] <= tolerance[ids[p]]
                else -np.inf
                for p in real
            ]
        )
        rule.append(rank_of(due_in, real.index(due)))
    out: dict[str, Any] = {
        "targets": len(rows),
        "due_item_outside_window": skipped,
        "NDCG@10_on_these": round(float(ndcg(ranks, 10).mean()), 4),
        "positions_seen_median": int(np.median(seen_counts)),
        "rule_rank_median": float(np.median(rule)),
        "rule_rank_first_share": round(float(np.mean(np.array(rule) == 1)), 4),
        "blocks": [
            {
                "attention_rank_median": float(np.median(ranks_)),
                "attention_rank_first_share": round(float(np.mean(np.array(ranks_) == 1)), 4),
                "largest_bucket_weight": round(
                    float(block.relative_bias.time_weight.detach().abs().max())
                    if block.relative_bias.time_weight is not None
                    else 0.0,
                    4,
                ),
            }
            for ranks_, block in zip(attention, network.blocks)
        ],
        "largest_keyed_term_median": round(float(np.median(keyed)), 4),
    }
    return out


def markdown(report: dict[str, Any]) -> str:
    meta = report["meta"]
    lines = [
        "# Where HSTU looks on the shop world's re-buy targets",
        "",
        (
            f"{meta['date']} · {meta['machine']} · threads {meta['threads']} · load at start "
            f"{meta['load_at_start']} · `{meta['command']}`"
        ),
        "",
        (
            f"Seed {report['seed']}; {report['rows']['HSTU']['targets']} test targets that are re-buys "
            f"(re-buy share >= {REBUY_SHARE}); the networks read the last {report['max_len']} purchases "
            f"(median {report['rows']['HSTU']['positions_seen_median']} positions per history). Ranks are among "
            "those positions, 1 = most attended (the final query of each block, heads averaged); the re-buy "
            "rule ranks the positions by how soon their item falls due."
        ),
        "",
        (
            "| network | NDCG@10 on these targets | due item's rank by attention, block 1 (median; share first) "
            "| block 2 | by the re-buy rule | largest bucket weight (block 1) | largest key-dependent term (median over histories) |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, row in report["rows"].items():
        blocks = row["blocks"]
        cells = [
            f"{b['attention_rank_median']:.0f}; {100 * b['attention_rank_first_share']:.0f}%"
            for b in blocks
        ]
        lines.append(
            f"| {label} `{json.dumps(report['configs'][label])}` | {row['NDCG@10_on_these']:.4f} | "
            + " | ".join(cells)
            + f" | {row['rule_rank_median']:.0f}; {100 * row['rule_rank_first_share']:.0f}% | "
            f"{blocks[0]['largest_bucket_weight']:.3f} | {row['largest_keyed_term_median']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    chosen = json.loads((RESULTS / "hstu_shop.json").read_text())["final"]
    configs = {label: chosen[label]["config"] for label in ROWS}
    dataset = make_shop_dataset("default")
    split = leave_one_out(dataset.sequences)
    shares = part_shares(dataset.extras["world"], split.test)
    rows = np.flatnonzero(shares[:, 0] >= REBUY_SHARE)
    cycles, tolerance = item_cycles(split.train)
    meta = machine_info(args.threads)
    report: dict[str, Any] = {"meta": meta, "seed": args.seed, "configs": configs, "rows": {}}
    for label, overrides in configs.items():
        config = {
            **COMMON,
            **overrides,
            "seed": args.seed,
            "threads": args.threads,
            "progress": False,
            "exclude_history": False,
        }
        model = HSTU(config)
        started = time.perf_counter()
        model.fit(split.train, split.valid)
        report["rows"][label] = diagnose(model, split, rows, cycles, tolerance) | {
            "fit_seconds": round(time.perf_counter() - started, 1),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        report["max_len"] = model.config.max_len
        print(label, json.dumps(report["rows"][label]), flush=True)
    write_results("hstu_shop_attention", report, markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
