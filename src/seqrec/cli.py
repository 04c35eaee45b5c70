"""The ``seqrec`` command: parse, call the library, print.

Every command's errors go through one place, :class:`~seqrec.data.cli.UserErrors`: bad input
(data, config, model names, sizes, thread counts, an output folder that cannot be written) is one
``error: <message>`` line on stderr and exit code 2.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seqrec.data.cli import UserErrors, data_app
from seqrec.models.base import CapabilityError, ConfigError


class _Commands(UserErrors):
    user_errors = (*UserErrors.user_errors, ConfigError, CapabilityError)


app = typer.Typer(
    cls=_Commands, help="Sequential recommendation, from Markov chains to transformers.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
console = Console()

SPLIT_HELP = "loo (leave-one-out) or temporal (one global cut-off)."
THREADS_HELP = "CPU threads for torch and BLAS (at least 1)."


def _command_line() -> str:
    return "seqrec " + " ".join(sys.argv[1:])


def _names(models: str | None) -> list[str] | None:
    return models.split(",") if models else None


def _progress(name: str, message: str) -> None:
    console.print(f"  [bold]{name}[/bold]: {message}", highlight=False)


@app.command()
def walkthrough(
    out: Path = typer.Option(Path("walkthrough_out"), help="Folder for walkthrough.json and walkthrough.html."),
    history: Path | None = typer.Option(None, help="CSV with 'timestamp' and 'item' (id or exact title)."),
    size: str = typer.Option("default", help="Shop world size: tiny, small, default or large."),
    seed: int = typer.Option(0, help="Seed of the shop world."),
    models: str | None = typer.Option(None, help="Comma-separated model names (default: all registered)."),
    config: Path | None = typer.Option(
        None, help="Per-model settings (TOML); default: the walkthrough's own seqrec/walkthrough/shop.toml."
    ),
    threads: int = typer.Option(1, help=THREADS_HELP),
) -> None:
    """The main job: one shopper through every model, with reasons and a leaderboard."""
    from seqrec.data.shop import make_shop_dataset
    from seqrec.experiment import check_out_folder, check_threads
    from seqrec.walkthrough.history import load_persona
    from seqrec.walkthrough.run import run_walkthrough, walkthrough_configs, write_reports

    start = time.perf_counter()
    check_threads(threads)
    check_out_folder(out)
    dataset = make_shop_dataset(size=size, seed=seed)
    persona = load_persona(dataset, history)
    configs = walkthrough_configs(config, _names(models))
    console.print(
        f"[bold]shop world[/bold] ({size}): {dataset.n_users} shoppers, {dataset.n_items} items, "
        f"{dataset.sequences.n_interactions} purchases; persona [bold]{persona.name}[/bold] with {len(persona.items)} purchases"
    )
    report = run_walkthrough(dataset, persona, _names(models), configs, threads, _command_line(), _progress)
    _print_persona_tables(report)
    report["meta"]["total_seconds"] = round(time.perf_counter() - start, 1)
    json_path, html_path = write_reports(report, out)
    console.print(f"wrote {json_path} and {html_path} in {report['meta']['total_seconds']:.0f}s (threads={threads})")


def _print_persona_tables(report: dict[str, Any]) -> None:
    history = report["persona"]["history"]
    console.print(f"\n[bold]{report['persona']['name']}[/bold]'s last purchases: " + escape(" → ".join(r["title"] for r in history[-5:])))
    table = Table(title="Top-10 for the persona, by model: category shares and first pick")
    with_truth = any("hit_probability" in model for model in report["models"].values())
    categories = report["persona"]["categories"]
    columns = ("model", *categories, *(("P(next in top-10)",) if with_truth else ()), "first pick")
    for column in columns:
        table.add_column(column, overflow="fold")
    for name, model in report["models"].items():
        share = model["category_share"]
        truth = (f"{model['hit_probability']:.2f}",) if with_truth else ()
        table.add_row(
            name,
            *(f"{share[c]:.0%}" for c in categories),
            *truth,
            escape(model["top10"][0]["title"]),
        )
    console.print(table)
    console.print("[bold]Why each model's first pick[/bold]")
    for name, model in report["models"].items():
        console.print(f"  [bold]{name}[/bold]: {escape(model['explanation']['summary_titled'])}", highlight=False)
    _print_leaderboard(report["leaderboard"], report.get("references", []), "Leaderboard: each shopper's held-out last purchase")


def _print_leaderboard(rows: list[dict[str, Any]], references: list[str], title: str) -> None:
    from seqrec.experiment import epoch_cell, pct_cell

    table = Table(title=title)
    columns = ["model", "HR@10", "NDCG@10", "NDCG@10 95% CI", "MRR@10", "coverage@10", "fit s", "s/epoch (best/run)"]
    for offset, reference in enumerate(references):
        columns.insert(4 + offset, f"% of {reference}")
    for column in columns:
        table.add_column(column)
    for row in rows:
        low, high = row["NDCG@10_ci"]
        cells = [row["model"], f"{row['HR@10']:.4f}", f"{row['NDCG@10']:.4f}", f"[{low:.4f}, {high:.4f}]"]
        cells += [pct_cell(row, reference) for reference in references]
        cells += [f"{row['MRR@10']:.4f}", f"{row['coverage@10']:.3f}", f"{row['fit_seconds']:.2f}", epoch_cell(row)]
        table.add_row(*cells)
    console.print(table)


@app.command()
def benchmark(
    dataset: str = typer.Option("ml-100k", help="Dataset name or path."),
    split: str = typer.Option("loo", help=SPLIT_HELP),
    models: str | None = typer.Option(None, help="Comma-separated model names (default: all that can run)."),
    config: Path | None = typer.Option(None, help="Per-model settings (TOML/JSON); default configs/<dataset>.toml if present."),
    tuned: bool = typer.Option(False, help="Use configs saved by `seqrec tune` where present."),
    out: Path = typer.Option(Path("bench/results"), help="Folder for the leaderboard JSON and Markdown."),
    threads: int = typer.Option(1, help=THREADS_HELP),
    cache_dir: Path | None = typer.Option(None, help="Data cache folder."),
) -> None:
    """Train the registered models on one dataset and split; print and save the leaderboard."""
    from seqrec.data.datasets import load_dataset
    from seqrec.data.splits import make_split
    from seqrec.experiment import (
        available_models,
        check_out_folder,
        check_threads,
        experiment_configs,
        machine_meta,
        references_in,
        run_models,
        write_leaderboard,
    )

    check_threads(threads)
    check_out_folder(out)
    data = load_dataset(dataset, cache_dir=cache_dir)
    names = available_models(data, _names(models))
    chosen_split = make_split(split, data.sequences, source=data.name)
    configs = experiment_configs(data.name, names, split, config, tuned)
    console.print(f"[bold]{data.name}[/bold] {chosen_split.description}; history {'excluded' if data.exclude_history else 'kept'}")
    board = run_models(data, chosen_split, names, configs, threads, on_event=_progress)
    board.meta = {**machine_meta(_command_line(), threads), "configs": board.configs()}
    references = references_in(names)
    _print_leaderboard(board.rows(references), references, f"{data.name} — {split}")
    json_path, markdown_path = write_leaderboard(board, out, references)
    console.print(f"wrote {json_path} and {markdown_path}")


@app.command()
def tune(
    model: str = typer.Argument(..., help="Registered model name."),
    dataset: str = typer.Option("ml-100k", help="Dataset name or path."),
    split: str = typer.Option("loo", help=SPLIT_HELP),
    trials: int = typer.Option(20, help="Optuna trials (each fits once and scores the validation split)."),
    timeout: float | None = typer.Option(None, help="Wall-time budget in seconds: no new trial starts after it."),
    config: Path | None = typer.Option(None, help="Base settings (TOML/JSON; default configs/<dataset>.toml); the search space overrides them."),
    threads: int = typer.Option(1, help=THREADS_HELP),
    seed: int = typer.Option(0, help="Seed of the TPE sampler."),
    cache_dir: Path | None = typer.Option(None, help="Data cache folder."),
) -> None:
    """Search a model's declared space on the validation split only; save the best config."""
    from seqrec.data.datasets import load_dataset
    from seqrec.data.splits import make_split
    from seqrec.experiment import check_threads, experiment_configs
    from seqrec.models import get_model_class
    from seqrec.tuning import save_tuned
    from seqrec.tuning import tune as run_tune

    check_threads(threads)
    get_model_class(model)
    data = load_dataset(dataset, cache_dir=cache_dir)
    chosen_split = make_split(split, data.sequences, source=data.name)
    base = experiment_configs(data.name, [model], split, config).get(model)

    def report(number: int, value: float, overrides: dict[str, Any]) -> None:
        console.print(f"  trial {number}: valid NDCG@10 {value:.4f}  {overrides}", highlight=False)

    result = run_tune(model, data, chosen_split, trials, base, threads, seed, on_trial=report, timeout=timeout)
    path = save_tuned(result, data.name, split)
    console.print(f"best valid NDCG@10 {result['value']:.4f} with {result['config']}; saved {path}")


@app.command("models")
def list_models() -> None:
    """List the registered models and their settings."""
    from seqrec.models import REGISTRY
    from seqrec.models.base import config_help

    for name, model_class in REGISTRY.items():
        table = Table(title=f"{name} (era {model_class.era}, {'sequential' if model_class.sequential else 'order-agnostic'})")
        for column in ("field", "default", "help"):
            table.add_column(column)
        for field_name, default, help_text in config_help(model_class.Config):
            table.add_row(field_name, repr(default), help_text)
        console.print(table)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
