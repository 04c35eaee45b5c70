"""Score every peer run with seqrec's own evaluation and write the side-by-side table.

Runs in seqrec's environment. Each run folder (``<runs>/<library>_<model>_<config>_seed<k>/``)
holds ``run.json`` (what the runner recorded) and ``test_scores.npy``: float32
``[evaluated users, n_items + 1]`` in seqrec's item ids and the manifest's user order, history
items *not* removed (an item a library never scores is ``-inf``). Every library's scores go through
the same function, :func:`seqrec.evaluation.protocol.evaluate_model` on its dense path (the
leaderboard's own code): history items removed with seqrec's exclusion rule, the target's rank
pessimistic (every item scoring at least as high is ranked before it), full ranking over the
catalogue. A run made on other data (its fingerprint differs from seqrec's ML-100K) is refused.

Writes ``<out>/<name>.json`` and ``<out>/<name>.md`` (default ``bench/results/peers.*``; smoke
runs: ``--out bench/peers/work/smoke``).

usage: .venv/bin/python bench/peers/score.py [--runs bench/peers/work/runs] [--extra FOLDER ...]
                                            [--out bench/results] [--name peers]

``--extra`` adds run folders kept elsewhere (``bench/recipes_ml100k.py`` writes its candidates'
runs to ``bench/peers/work/recipes/``; the chosen recipe's three are passed here). The last
section compares seqrec's recipe (or best config) with each peer's strongest row: ratio of mean
test NDCG@10, paired bootstrap CI and permutation p of the per-user difference, time to best.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_common as common
import peer_configs as configs

from seqrec.data.datasets import load_dataset
from seqrec.data.splits import Split, leave_one_out
from seqrec.data.types import SequenceData
from seqrec.evaluation.protocol import evaluate_model
from seqrec.experiment import write_atomic
from seqrec.ranking import Capabilities

NOT_AVAILABLE = {("RecTools", "gru4rec"): "not in RecTools 0.19"}
LIBRARIES = ("seqrec", "RecBole", "RecTools")


class SavedScores:
    """A run's saved test scores as something :func:`evaluate_model` can rank (dense path)."""

    name: ClassVar[str] = "saved-scores"
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, scores: np.ndarray, histories: SequenceData) -> None:
        self.scores = scores
        self.histories_fingerprint = histories.fingerprint()
        self.n_items = histories.n_items

    def require_fitted(self) -> int:
        return self.n_items

    def checked_scores(self, histories: SequenceData) -> np.ndarray:
        if histories.fingerprint() != self.histories_fingerprint or len(histories) != len(self.scores):
            raise ValueError("saved scores are for the whole test set, in one chunk")
        scores = np.array(self.scores, dtype=np.float32, copy=True)
        scores[:, 0] = -np.inf  # padding
        return scores

    def recommend(self, histories: SequenceData, k: int, exclude: Any = None) -> np.ndarray:
        raise TypeError("saved scores are evaluated on the dense path (evaluate_model uses checked_scores)")


def score_run(folder: Path, split: Split, exclude_history: bool, fingerprint: str) -> dict[str, Any]:
    record = json.loads((folder / "run.json").read_text())
    if record.get("data_fingerprint") != fingerprint:
        raise SystemExit(f"{folder}: made on other data (fingerprint {record.get('data_fingerprint')})")
    scores = np.load(folder / "test_scores.npy")
    expected = (len(split.test), split.train.n_items + 1)
    if scores.shape != expected:
        raise SystemExit(f"{folder}: test scores have shape {scores.shape}, expected {expected}")
    result = evaluate_model(
        SavedScores(scores, split.test.histories),
        split.test,
        exclude_history,
        split.train.item_counts(),
        chunk_size=len(split.test),
        use_lists=False,
    )
    own = record.get("own_test")  # seqrec's runner evaluated its model directly: must agree
    if own and any(abs(own[key] - result.metrics[key]) > 1e-9 for key in own):
        raise SystemExit(f"{folder}: saved scores give {result.metrics}, the model gave {own}")
    per_user = np.asarray(result.per_user["NDCG@10"], dtype=np.float64)  # [eval users], kept out of the json
    return {**record, "run": folder.name, "test": result.summary(), "eval_path": result.extra["path"], "_per_user": per_user}


def comparisons(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model: seqrec's recipe (else its best config by mean test NDCG@10) against each peer
    library's best config (by mean test NDCG@10: the strongest peer row, chosen generously on
    test), with the ratio of means, a paired bootstrap CI of the per-user difference (each side's
    per-user NDCG@10 averaged over its seeds) and the ratio of mean seconds to the best epoch."""
    from seqrec.evaluation.stats import paired_test

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[(run["library"], run["model"], run["config_name"])].append(run)

    def mean_of(members: list[dict[str, Any]], key: str) -> float:
        return float(np.mean([m["test"]["NDCG@10"] if key == "ndcg" else m["training"]["seconds_to_best"] for m in members]))

    out = []
    for model in configs.MODELS:
        ours = {config: members for (library, m, config), members in groups.items() if library == "seqrec" and m == model}
        if not ours:
            continue
        recipes = [config for config in ours if config.startswith("recipe")]
        chosen = recipes[0] if recipes else max(ours, key=lambda config: mean_of(ours[config], "ndcg"))
        mine = ours[chosen]
        for library in LIBRARIES[1:]:
            theirs = {config: members for (lib, m, config), members in groups.items() if lib == library and m == model}
            if not theirs:
                continue
            best = max(theirs, key=lambda config: mean_of(theirs[config], "ndcg"))
            peer = theirs[best]
            a = np.mean([m["_per_user"] for m in mine], axis=0)
            b = np.mean([m["_per_user"] for m in peer], axis=0)
            test = paired_test(a, b, seed=0)
            out.append({
                "model": model,
                "seqrec_config": chosen,
                "seqrec_seeds": len(mine),
                "peer": library,
                "peer_config": best,
                "peer_seeds": len(peer),
                "seqrec_ndcg10": round(mean_of(mine, "ndcg"), 4),
                "peer_ndcg10": round(mean_of(peer, "ndcg"), 4),
                "ratio": round(mean_of(mine, "ndcg") / mean_of(peer, "ndcg"), 3),
                "difference_ci": [round(float(x), 4) for x in test.ci],
                "p_value_permutation": round(test.p_value_permutation, 4),
                "seqrec_seconds_to_best": round(mean_of(mine, "seconds"), 0),
                "peer_seconds_to_best": round(mean_of(peer, "seconds"), 0),
                "time_ratio": round(mean_of(mine, "seconds") / mean_of(peer, "seconds"), 3),
                "peer_capped": any(m["training"]["capped"] for m in peer),
            })
    return out


def mean_std(values: list[float], digits: int = 4) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"


def group_row(runs: list[dict[str, Any]]) -> str:
    first = runs[0]
    training = [run["training"] for run in runs]
    config = first["config_name"] + (" (SMOKE)" if any(run.get("smoke") for run in runs) else "")
    loads = [run["load_average_start"][0] for run in runs] + [run["load_average_end"][0] for run in runs]
    epochs = ", ".join(f"{t['best_epoch']}/{t['epochs_run']}" + (" cap" if t["capped"] else "") for t in training)
    return (
        f"| {first['library']} {first['library_version']} | {first['model']} | {config} | {len(runs)} "
        f"| {mean_std([run['test']['HR@10'] for run in runs])} | {mean_std([run['test']['NDCG@10'] for run in runs])} "
        f"| {mean_std([t['valid_ndcg10'] for t in training if t['valid_ndcg10'] is not None])} "
        f"| {mean_std([t['mean_epoch_seconds'] for t in training if t['mean_epoch_seconds'] is not None], 1)} "
        f"| {epochs} | {mean_std([t['seconds_to_best'] for t in training if t['seconds_to_best'] is not None], 0)} "
        f"| {max(run['peak_rss_mb'] for run in runs):.0f} | {first['threads']} "
        f"| {min(loads):.1f}–{max(loads):.1f} | {'yes' if all(run['split_check']['passed'] for run in runs) else 'NO'} |"
    )


def markdown(report: dict[str, Any]) -> str:
    data = report["data"]
    lines = [
        "# seqrec, RecBole and RecTools on the same ML-100K split",
        "",
        f"- scored: {report['date']} by `{report['command']}`",
        (
            f"- data: seqrec's `load_dataset(\"ml-100k\")` ({data['users']} users, {data['n_items']} items, "
            f"{data['interactions']} interactions, 5-core), {data['split']}; fingerprint `{data['fingerprint'][:16]}`. "
            "Every library is fed exactly these sequences (`bench/peers/export.py`) and its runner checks that "
            "its own split holds seqrec's validation and test item and history for every user (column *split check*)."
        ),
        (
            "- protocol: every library's test scores are ranked by seqrec's `evaluate_model` (dense path): full "
            "ranking over the catalogue, history items excluded, pessimistic ties (a target tied with other items "
            "ranks below all of them); HR@10 and NDCG@10 on the test item."
        ),
        (
            f"- training: early stopping on validation NDCG@10 computed the same way (seqrec's metric function), "
            f"patience {configs.STOPPING['patience']}, at most {configs.STOPPING['max_epochs']} epochs, the best "
            "epoch's weights kept; a wall-time cap ends training at the first epoch end past the cap "
            "(`cap` in *best/run epochs*). s/epoch includes the validation ranking."
        ),
        (
            "- configs: *defaults* = the library's own default hyper-parameters for the model; *matched* = "
            "`bench/peers/peer_configs.py` MATCHED in each library's names; *bench* (seqrec only) = the config "
            "`bench/neural_ml100k.py` chose on validation; *recipe ...* (seqrec only) = the training recipe chosen "
            "on the 3-seed mean of validation NDCG@10 by `bench/recipes_ml100k.py` (`bench/results/recipes_ml100k.md`), "
            "the model's section of `configs/recipes/ml-100k.toml`."
        ),
        (
            "- peak RSS: `ru_maxrss` of the training process (MB); load: 1-minute load average at start and end of "
            "runs. Seconds depend on the load: a row with load ≈ 2 ran while one other 1-thread job used the "
            "machine's second core, which slows these jobs by 1.5–2.5× (RecBole most); compare times within a load."
        ),
        "",
        (
            "| library | model | config | seeds | test HR@10 | test NDCG@10 | valid NDCG@10 | s/epoch "
            "| best/run epochs | s to best | peak RSS MB | threads | load | split check |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in report["runs"]:
        groups[(run["library"], run["model"], run["config_name"])].append(run)
    models = [model for model in configs.MODELS if any(key[1] == model for key in groups)]
    for model in models:
        for library in LIBRARIES:
            if (library, model) in NOT_AVAILABLE:
                lines.append(f"| {library} | {model} | — | — | {NOT_AVAILABLE[(library, model)]} |" + " |" * 9)
                continue
            named = (*configs.CONFIGS, "bench")
            others = sorted(c for (lib, m, c) in groups if lib == library and m == model and c not in named)
            for config in (*named, *others):
                if (library, model, config) in groups:
                    lines.append(group_row(groups[(library, model, config)]))
    if report.get("comparisons"):
        lines += [
            "",
            "## seqrec against each peer's strongest row",
            "",
            ("seqrec's recipe (its 3 seeds' per-user NDCG@10 averaged) against the peer config with the higher "
            "mean test NDCG@10 (chosen on test, in the peer's favour); CI: paired bootstrap over the users of "
            "the per-user difference (95%); p: sign-flip permutation test; time ratio: seqrec's mean seconds "
            "to its best epoch over the peer's (*cap*: the peer's run was cut by the wall-time cap, so its best "
            "epoch may have come later)."),
            "",
            "| model | seqrec config | peer | peer config | seqrec NDCG@10 | peer NDCG@10 | ratio | difference 95% CI | p | s to best (seqrec / peer) | time ratio |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for c in report["comparisons"]:
            lines.append(
                f"| {c['model']} | {c['seqrec_config']} ({c['seqrec_seeds']} seeds) | {c['peer']} | {c['peer_config']} "
                f"({c['peer_seeds']} seed{'s' if c['peer_seeds'] > 1 else ''}) | {c['seqrec_ndcg10']:.4f} | {c['peer_ndcg10']:.4f} "
                f"| {c['ratio']:.3f} | [{c['difference_ci'][0]:+.4f}, {c['difference_ci'][1]:+.4f}] | {c['p_value_permutation']:.3f} "
                f"| {c['seqrec_seconds_to_best']:.0f} / {c['peer_seconds_to_best']:.0f}{' cap' if c['peer_capped'] else ''} "
                f"| {c['time_ratio']:.3f} |"
            )
    lines += ["", "## Runs", ""]
    for run in report["runs"]:
        training = run["training"]
        lines.append(
            f"- **{run['run']}**: {run['date']}, `{run['command']}`; stop: {training['stop_reason']}; "
            f"cap {training['cap_seconds']:.0f} s; config `{json.dumps(run['config'])}`"
            + (f"; patches: {'; '.join(run['patches'])}" if run["patches"] else "")
            + (f"; {run['notes']}" if run.get("notes") else "")
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=str(common.RUNS), help="folder of run folders")
    parser.add_argument("--extra", nargs="*", default=[], help="more run folders (e.g. the chosen recipe's runs)")
    parser.add_argument("--data", default=str(common.DATA), help="exported folder (export.py)")
    parser.add_argument("--out", default=str(common.REPO / "bench" / "results"), help="output folder")
    parser.add_argument("--name", default="peers", help="base name of the result files")
    args = parser.parse_args()
    manifest = json.loads((Path(args.data) / "manifest.json").read_text())
    dataset = load_dataset("ml-100k")
    split = leave_one_out(dataset.sequences, source=dataset.name)
    fingerprint = dataset.sequences.fingerprint()
    if fingerprint != manifest["fingerprint"] or split.test.histories.users.tolist() != manifest["eval_users"]:
        raise SystemExit("seqrec's ML-100K differs from the exported one: export and run the peers again")
    folders = sorted(path.parent for path in Path(args.runs).glob("*/run.json")) + [Path(extra) for extra in args.extra]
    if not folders:
        raise SystemExit(f"no runs under {args.runs}")
    runs = [score_run(folder, split, dataset.exclude_history, fingerprint) for folder in folders]
    for run in runs:
        print(
            f"{run['run']}: test HR@10 {run['test']['HR@10']:.4f} NDCG@10 {run['test']['NDCG@10']:.4f} "
            f"(best epoch {run['training']['best_epoch']}/{run['training']['epochs_run']}, "
            f"{run['training']['mean_epoch_seconds']} s/epoch, {run['training']['stop_reason']})"
        )
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(part) for part in [sys.executable, *sys.argv]),
        "data": {key: manifest[key] for key in ("users", "n_items", "interactions", "split", "fingerprint", "exclude_history")},
        "runs": runs,
        "comparisons": comparisons(runs),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stored = {**report, "runs": [{k: v for k, v in run.items() if k != "_per_user"} for run in runs]}
    write_atomic(out / f"{args.name}.json", json.dumps(stored, indent=2) + "\n")
    write_atomic(out / f"{args.name}.md", markdown(report))
    print(f"wrote {out / args.name}.json and .md")


if __name__ == "__main__":
    main()
