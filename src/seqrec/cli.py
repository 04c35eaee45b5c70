"""The ``seqrec`` command: parse, build a config, call the library, print."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seqrec.data.cli import data_app
from seqrec.data.errors import DataError

app = typer.Typer(help="Sequential recommendation, from Markov chains to transformers.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()
errors = Console(stderr=True)

# The walkthrough's settings ship inside the package, so it runs in 2 minutes from any folder.
WALKTHROUGH_CONFIG = Path(__file__).parent / "walkthrough" / "shop.toml"
SPLIT_HELP = "loo (leave-one-out) or temporal (one global cut-off)."


def fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code=2)


def _command_line() -> str:
    return "seqrec " + " ".join(sys.argv[1:])


def _load(name: str, cache_dir: Path | None) -> Any:
    from seqrec.data.datasets import load_dataset

    try:
        return load_dataset(name, cache_dir=cache_dir)
    except (DataError, FileNotFoundError, KeyError) as error:
        raise fail(str(error).strip("'\""))


def _configs(config: Path | None) -> dict[str, dict[str, Any]]:
    from seqrec.experiment import load_config_file

    try:
        return load_config_file(config)
    except (FileNotFoundError, ValueError) as error:
        raise fail(str(error))


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
    threads: int = typer.Option(1, help="CPU threads for torch and BLAS."),
) -> None:
    """The main job: one shopper through every model, with reasons and a leaderboard."""
    from seqrec.data.shop import make_shop_dataset
    from seqrec.walkthrough.history import HistoryFileError, read_history
    from seqrec.walkthrough.run import PersonaHistory, run_walkthrough, write_reports

    start = time.perf_counter()
    dataset = make_shop_dataset(size=size, seed=seed)
    if history is not None:
        try:
            persona = read_history(history, dataset)
        except HistoryFileError as error:
            raise fail(str(error))
    else:
        seed_persona = dataset.extras["personas"]["blog_author"]
        persona = PersonaHistory("blog_author", list(map(int, seed_persona.items)), list(map(int, seed_persona.timestamps)))
    console.print(
        f"[bold]shop world[/bold] ({size}): {dataset.n_users} shoppers, {dataset.n_items} items, "
        f"{dataset.sequences.n_interactions} purchases; persona [bold]{persona.name}[/bold] with {len(persona.items)} purchases"
    )
    chosen = models.split(",") if models else None
    file_configs = _configs(config if config is not None else WALKTHROUGH_CONFIG)
    try:
        report = run_walkthrough(dataset, persona, chosen, file_configs, threads, _command_line(), _progress)
    except KeyError as error:
        raise fail(str(error).strip("'\""))
    _print_persona_tables(report)
    report["meta"]["total_seconds"] = round(time.perf_counter() - start, 1)
    json_path, html_path = write_reports(report, out)
    console.print(f"wrote {json_path} and {html_path} in {report['meta']['total_seconds']:.0f}s (threads={threads})")


def _print_persona_tables(report: dict[str, Any]) -> None:
    history = report["persona"]["history"]
    console.print(f"\n[bold]{report['persona']['name']}[/bold]'s last purchases: " + escape(" → ".join(r["title"] for r in history[-5:])))
    table = Table(title="Top-10 for the persona, by model: category shares and first pick")
    with_truth = any("hit_probability" in model for model in report["models"].values())
    columns = ("model", "cat", "baking", "fitness", "other", *(("P(next in top-10)",) if with_truth else ()), "first pick")
    for column in columns:
        table.add_column(column, overflow="fold")
    for name, model in report["models"].items():
        share = model["category_share"]
        truth = (f"{model['hit_probability']:.2f}",) if with_truth else ()
        table.add_row(
            name,
            *(f"{share[c]:.0%}" for c in ("cat supplies", "baking", "fitness", "other")),
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
    threads: int = typer.Option(1, help="CPU threads for torch and BLAS."),
    cache_dir: Path | None = typer.Option(None, help="Data cache folder."),
) -> None:
    """Train the registered models on one dataset and split; print and save the leaderboard."""
    from seqrec.data.splits import make_split
    from seqrec.experiment import (
        available_models,
        machine_meta,
        references_in,
        run_models,
        tuned_config,
        write_atomic,
    )

    data = _load(dataset, cache_dir)
    try:
        names = available_models(data, models.split(",") if models else None)
        chosen_split = make_split(split, data.sequences)
    except (KeyError, ValueError) as error:
        raise fail(str(error).strip("'\""))
    default_config = Path("configs") / f"{data.name}.toml"
    configs = _configs(config if config is not None else (default_config if default_config.exists() else None))
    if tuned:
        for name in names:
            # Temporal runs reuse the leave-one-out tuning when none was made for them.
            best = tuned_config(data.name, name, split) or tuned_config(data.name, name, "loo")
            if best is not None:
                configs[name] = {**configs.get(name, {}), **best}
    console.print(f"[bold]{data.name}[/bold] {chosen_split.description}; history {'excluded' if data.exclude_history else 'kept'}")
    board = run_models(data, chosen_split, names, configs, threads, on_event=_progress)
    board.meta = machine_meta(_command_line(), threads)
    board.meta["configs"] = {run.name: _plain(run.model.config) for run in board.runs}
    references = references_in(names)
    _print_leaderboard(board.rows(references), references, f"{data.name} — {split}")
    stem = out / f"{data.name}-{split}"
    write_atomic(stem.with_suffix(".json"), json.dumps(board.to_json(references), indent=2) + "\n")
    write_atomic(stem.with_suffix(".md"), board.to_markdown(references))
    console.print(f"wrote {stem}.json and {stem}.md")


def _plain(config: Any) -> dict[str, Any]:
    import dataclasses

    return {k: v for k, v in dataclasses.asdict(config).items() if isinstance(v, (int, float, str, bool, type(None), list))}


@app.command()
def tune(
    model: str = typer.Argument(..., help="Registered model name."),
    dataset: str = typer.Option("ml-100k", help="Dataset name or path."),
    split: str = typer.Option("loo", help=SPLIT_HELP),
    trials: int = typer.Option(20, help="Optuna trials (each fits once and scores the validation split)."),
    timeout: float | None = typer.Option(None, help="Wall-time budget in seconds: no new trial starts after it."),
    config: Path | None = typer.Option(None, help="Base settings (TOML/JSON; default configs/<dataset>.toml); the search space overrides them."),
    threads: int = typer.Option(1, help="CPU threads for torch and BLAS."),
    seed: int = typer.Option(0, help="Seed of the TPE sampler."),
    cache_dir: Path | None = typer.Option(None, help="Data cache folder."),
) -> None:
    """Search a model's declared space on the validation split only; save the best config."""
    from seqrec.data.splits import make_split
    from seqrec.models import get_model_class
    from seqrec.tuning import save_tuned
    from seqrec.tuning import tune as run_tune

    try:
        get_model_class(model)
    except KeyError as error:
        raise fail(str(error).strip("'\""))
    data = _load(dataset, cache_dir)
    try:
        chosen_split = make_split(split, data.sequences)
    except ValueError as error:
        raise fail(str(error))
    default_config = Path("configs") / f"{data.name}.toml"
    base = _configs(config if config is not None else (default_config if default_config.exists() else None)).get(model)

    def report(number: int, value: float, overrides: dict[str, Any]) -> None:
        console.print(f"  trial {number}: valid NDCG@10 {value:.4f}  {overrides}", highlight=False)

    try:
        result = run_tune(model, data, chosen_split, trials, base, threads, seed, on_trial=report, timeout=timeout)
    except ValueError as error:
        raise fail(str(error))
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
