"""Semantic IDs of the shop and ML-100K catalogues: RQ-VAE (TIGER's) and residual k-means (GRID's
default) over all-MiniLM-L6-v2 item documents; per-level codebook use, entropy, collisions and
first-level category purity. Writes bench/results/semantic_ids_{shop,ml-100k}.{json,md}.

    .venv/bin/python bench/semantic_ids.py [--datasets shop,ml-100k] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from seqrec.data.datasets import load_dataset
from seqrec.models.base import json_default
from seqrec.models.llm.semantic_ids import METHODS, RQVAESettings, catalogue_report

OUT = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="shop,ml-100k")
    parser.add_argument("--encoder", default="all-MiniLM-L6-v2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.datasets.split(","):
        data = load_dataset(name)
        reports = {}
        for method in METHODS:
            _, report = catalogue_report(
                data.item_info(), data.name, method, args.encoder, seed=args.seed, rqvae=RQVAESettings(epochs=args.epochs, threads=args.threads)
            )
            reports[method] = report
            print(report.to_markdown(), flush=True)
        meta = {"command": " ".join(["python", *sys.argv]), "python": platform.python_version(), "torch": torch.__version__, "threads": args.threads}
        payload = {"dataset": data.name, "meta": meta, "reports": {method: report.to_dict() for method, report in reports.items()}}
        (OUT / f"semantic_ids_{data.name}.json").write_text(json.dumps(payload, indent=2, default=json_default) + "\n")
        markdown = "\n".join(report.to_markdown() for report in reports.values())
        (OUT / f"semantic_ids_{data.name}.md").write_text(f"<!-- {meta['command']} -->\n{markdown}")
        print(f"wrote {OUT / f'semantic_ids_{data.name}.json'} and .md", flush=True)


if __name__ == "__main__":
    main()
