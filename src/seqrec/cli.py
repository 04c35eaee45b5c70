"""The ``seqrec`` command: parse, call the library, print.

Every command's errors go through one place, :class:`~seqrec.data.cli.UserErrors`: bad input
(data, config, model names, sizes, thread counts, an output folder that cannot be written) is one
``error: <message>`` line on stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
DEFAULT_JOBS = min(2, os.cpu_count() or 1)
JOBS_HELP = "Models fitted at a time, each in its own process with --threads threads (same results for any value)."


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
    size: str = typer.Option("default", help="Shop world size: tiny, small, default or large (the streamed xl and xxl have no oracle)."),
    seed: int = typer.Option(0, help="Seed of the shop world."),
    models: str | None = typer.Option(None, help="Comma-separated model names (default: all registered)."),
    config: Path | None = typer.Option(
        None, help="Per-model settings (TOML); default: the walkthrough's own seqrec/walkthrough/shop.toml."
    ),
    threads: int = typer.Option(1, help=THREADS_HELP),
    jobs: int = typer.Option(DEFAULT_JOBS, help=JOBS_HELP),
) -> None:
    """The main job: one shopper through every model, with reasons and a leaderboard."""
    from seqrec.data.shop import make_shop_dataset
    from seqrec.experiment import check_jobs, check_out_folder, check_threads
    from seqrec.walkthrough.history import load_persona
    from seqrec.walkthrough.run import run_walkthrough, walkthrough_configs, write_reports

    start = time.perf_counter()
    check_threads(threads)
    check_jobs(jobs)
    check_out_folder(out)
    dataset = make_shop_dataset(size=size, seed=seed)
    persona = load_persona(dataset, history)
    configs = walkthrough_configs(config, _names(models))
    console.print(
        f"[bold]shop world[/bold] ({size}): {dataset.n_users} shoppers, {dataset.n_items} items, "
        f"{dataset.sequences.n_interactions} purchases; persona [bold]{persona.name}[/bold] with {len(persona.items)} purchases"
    )
    report = run_walkthrough(dataset, persona, _names(models), configs, threads, _command_line(), _progress, jobs)
    _print_persona_tables(report)
    report["meta"]["total_seconds"] = round(time.perf_counter() - start, 1)
    json_path, html_path = write_reports(report, out)
    console.print(f"wrote {json_path} and {html_path} in {report['meta']['total_seconds']:.0f}s (threads={threads}, jobs={jobs})")


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
    from seqrec.experiment import epoch_cell, pct_cell, sample_notes

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
    for note in sample_notes(rows):
        console.print(f"  {escape(note)}", highlight=False)


@app.command()
def benchmark(
    dataset: str = typer.Option("ml-100k", help="Dataset name or path."),
    split: str = typer.Option("loo", help=SPLIT_HELP),
    models: str | None = typer.Option(None, help="Comma-separated model names (default: all that can run)."),
    config: Path | None = typer.Option(None, help="Per-model settings (TOML/JSON); default configs/<dataset>.toml if present."),
    tuned: bool = typer.Option(False, help="Use configs saved by `seqrec tune` where present."),
    out: Path = typer.Option(Path("bench/results"), help="Folder for the leaderboard JSON and Markdown."),
    threads: int = typer.Option(1, help=THREADS_HELP),
    jobs: int = typer.Option(1, help=JOBS_HELP + " Timings are cleanest with 1."),
    cache_dir: Path | None = typer.Option(None, help="Data cache folder."),
) -> None:
    """Train the registered models on one dataset and split; print and save the leaderboard."""
    from seqrec.data.datasets import load_dataset
    from seqrec.data.splits import make_split
    from seqrec.experiment import (
        available_models,
        check_jobs,
        check_out_folder,
        check_threads,
        experiment_configs,
        machine_meta,
        references_in,
        run_models,
        runnable_models,
        write_leaderboard,
    )

    check_threads(threads)
    check_jobs(jobs)
    check_out_folder(out)
    data = load_dataset(dataset, cache_dir=cache_dir)
    names = available_models(data, _names(models))
    chosen_split = make_split(split, data.sequences, source=data.name)
    configs = experiment_configs(data.name, names, split, config, tuned)
    names = runnable_models(names, configs, bool(models), _progress)
    console.print(f"[bold]{data.name}[/bold] {chosen_split.description}; history {'excluded' if data.exclude_history else 'kept'}")
    board = run_models(data, chosen_split, names, configs, threads, on_event=_progress, jobs=jobs)
    board.meta = {**machine_meta(_command_line(), threads), "jobs": jobs, "configs": board.configs()}
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


ANN_HELP = (
    "Also build an approximate inner-product index of the item vectors (faiss, stored in the artifact) "
    "and recommend through it: for models whose scores are dot products (ALS, BPR, the neural models)."
)
HOLDOUT_HELP = (
    "Hold out each user's last two items (leave-one-out), report the validation and test metrics and "
    "store them in the artifact. Default: train on every user's whole history, with no metrics; a "
    "neural model then has no validation set and trains for its configured epochs."
)
DDP_HELP = (
    "Neural models: train with PyTorch DistributedDataParallel on --nproc-per-node local worker processes "
    "(gloo on the CPU, NCCL on CUDA), started by torch's elastic launcher; batch_size stays the global batch. "
    "Under torchrun (`torchrun ... -m seqrec train ...`) the workers join torchrun's group with or without it."
)
DDP_TIMEOUT_SECONDS = 600.0
"""``seqrec.models.neural.distributed.DEFAULT_TIMEOUT_SECONDS``, repeated so the CLI imports no torch."""


@app.command()
def train(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Registered model name (see `seqrec models`)."),
    dataset: str = typer.Option(..., help="Dataset name or path (as for benchmark)."),
    out: Path = typer.Option(..., help="Artifact folder to write; one already there is replaced, any other folder is refused."),
    config: Path | None = typer.Option(None, help="Settings (TOML/JSON, a [model] table); default configs/<dataset>.toml if present."),
    tuned: bool = typer.Option(False, help="Use the config saved by `seqrec tune` (leave-one-out) where present."),
    holdout: bool = typer.Option(False, help=HOLDOUT_HELP),
    threads: int = typer.Option(1, help=THREADS_HELP),
    checkpoint_dir: Path | None = typer.Option(None, help="Neural models: write a checkpoint here every epoch."),
    resume: bool = typer.Option(False, help="Neural models: continue the interrupted run in --checkpoint-dir."),
    cache_dir: Path | None = typer.Option(None, help="Data cache folder."),
    ann: bool = typer.Option(False, "--ann", help=ANN_HELP),
    ddp: bool = typer.Option(False, "--ddp", help=DDP_HELP),
    nproc_per_node: int = typer.Option(2, "--nproc-per-node", help="With --ddp: worker processes on this machine (one per GPU)."),
    ddp_timeout: float = typer.Option(
        DDP_TIMEOUT_SECONDS, help="Distributed runs: seconds a rank waits for the others before failing (must exceed one validation pass)."
    ),
) -> None:
    """Train one model for use and save it as an artifact folder (for `seqrec recommend` and `seqrec.load`)."""
    worker = "RANK" in os.environ and "WORLD_SIZE" in os.environ  # started by torchrun / the launcher
    if ddp or worker:
        _check_distributed(model, ddp_timeout)
    if ddp and not worker:  # start the workers: each runs this same command, and joins as a worker
        _launch_workers(model, out, threads, ann, nproc_per_node, _command_arguments(ctx))
        return
    from seqrec.data.datasets import load_dataset
    from seqrec.experiment import (
        available_models,
        check_out_folder,
        check_threads,
        experiment_configs,
        train_to_deploy,
    )
    from seqrec.models import get_model_class
    from seqrec.serving.ann import require_faiss
    from seqrec.serving.artifact import check_ann, check_saveable, check_target, save_artifact

    start = time.perf_counter()
    rank = int(os.environ["RANK"]) if worker else 0
    if rank != 0:
        console.quiet = True  # rank 0 prints and writes the artifact
    check_threads(threads)
    check_saveable(get_model_class(model))
    if ann:
        check_ann(get_model_class(model))
        require_faiss()
    if rank == 0:
        check_out_folder(check_target(out))
    data = load_dataset(dataset, cache_dir=cache_dir)
    available_models(data, [model])
    settings = experiment_configs(data.name, [model], "loo", config, tuned).get(model, {})
    settings = {**settings, **_checkpoint_settings(model, checkpoint_dir, resume)}
    what = "the leave-one-out split" if holdout else "every user's whole history"
    console.print(f"[bold]{data.name}[/bold]: {data.n_users} users, {data.n_items} items; training {model} on {what}", highlight=False)
    with _worker_group(worker, settings, ddp_timeout) as world_size:
        trained = train_to_deploy(data, model, settings, threads, holdout, on_event=_progress)
    if rank != 0:
        return
    training = {**trained.training, "command": _command_line(), "dataset_argument": dataset}
    if world_size > 1:
        training["distributed"] = {"world_size": world_size, "backend": _backend(settings)}
    path = save_artifact(
        trained.model, out, data.item_info(), dataset_name=data.name, fingerprint=data.sequences.fingerprint(), training=training,
        ann=ann, threads=threads,
    )
    if ann:
        console.print("  retrieval: ann:faiss (approximate top-k from the stored index)", highlight=False)
    for part in ("valid", "test"):
        if part in training:
            console.print(f"  {part}: HR@10 {training[part]['HR@10']:.4f}  NDCG@10 {training[part]['NDCG@10']:.4f}", highlight=False)
    size = sum(f.stat().st_size for f in path.iterdir())
    console.print(f"wrote {path} ({size / 1e6:.2f} MB) in {time.perf_counter() - start:.1f}s", highlight=False)


def _check_distributed(model: str, timeout: float) -> None:
    """Distributed training is the shared neural trainer's: refuse other models before any work."""
    from seqrec.models import get_model_class
    from seqrec.models.neural.distributed import check_timeout
    from seqrec.models.neural.recommender import NeuralRecommender

    check_timeout(timeout)
    if not issubclass(get_model_class(model), NeuralRecommender):
        raise CapabilityError(f"--ddp / torchrun: {model} is not trained by the shared neural trainer; only the neural models train distributed")


def _launch_workers(model: str, out: Path, threads: int, ann: bool, nproc_per_node: int, arguments: list[str]) -> None:
    """``seqrec train --ddp``: check what can be checked here, then run the workers and wait."""
    from seqrec.experiment import check_out_folder, check_threads
    from seqrec.models import get_model_class
    from seqrec.models.neural.distributed import launch
    from seqrec.serving.ann import require_faiss
    from seqrec.serving.artifact import check_ann, check_saveable, check_target

    start = time.perf_counter()
    check_threads(threads)
    check_saveable(get_model_class(model))
    if ann:
        check_ann(get_model_class(model))
        require_faiss()
    check_out_folder(check_target(out))
    console.print(f"starting {nproc_per_node} DDP worker processes (rank 0 reports)", highlight=False)
    launch(nproc_per_node, ["-m", "seqrec", *arguments])
    console.print(f"distributed training on {nproc_per_node} processes done in {time.perf_counter() - start:.1f}s", highlight=False)


def _command_arguments(ctx: typer.Context) -> list[str]:
    """The command words that run this command again with the values it was given (the workers'
    command line: the same options, so they parse exactly what this process parsed)."""
    words = [str(ctx.info_name)]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.param_type_name == "argument":
            words.append(str(value))
        elif getattr(param, "is_flag", False):
            names = param.opts if value else param.secondary_opts
            words += names[:1]
        elif value is not None:
            words += [param.opts[0], str(value)]
    return words


@contextmanager
def _worker_group(worker: bool, settings: dict[str, Any], timeout: float) -> Iterator[int]:
    """In a launched worker, the process group (left on exit); yields the world size (1: none)."""
    if not worker:
        yield 1
        return
    from seqrec.models.neural.distributed import process_group

    with process_group(str(settings.get("device", "cpu")), timeout) as world:
        yield 1 if world is None else world.size


def _backend(settings: dict[str, Any]) -> str:
    from seqrec.models.neural.distributed import backend_for

    return backend_for(str(settings.get("device", "cpu")))


def _checkpoint_settings(model: str, checkpoint_dir: Path | None, resume: bool) -> dict[str, Any]:
    """The config fields behind --checkpoint-dir/--resume, for models trained in epochs."""
    from seqrec.models import get_model_class

    if checkpoint_dir is None and not resume:
        return {}
    if "checkpoint_dir" not in getattr(get_model_class(model).Config, "__dataclass_fields__", {}):
        raise ValueError(f"--checkpoint-dir/--resume: {model} is not trained in epochs with checkpoints (the neural models are)")
    if checkpoint_dir is None:
        raise ValueError("--resume needs --checkpoint-dir: the folder of the interrupted run's checkpoints")
    return {"checkpoint_dir": str(checkpoint_dir), "resume": resume}


@app.command()
def recommend(
    artifact: Path = typer.Argument(..., help="Artifact folder written by `seqrec train`."),
    history: Path | None = typer.Option(None, help="One history: CSV/Parquet with an 'item' column (original id or exact title), optionally 'timestamp'."),
    users: Path | None = typer.Option(None, help="Many histories: CSV/Parquet with user,item[,timestamp] rows; one list per user."),
    user: list[str] | None = typer.Option(
        None, help="A user of the training data (original id; repeat for several): their whole history, read from --dataset."
    ),
    dataset: str | None = typer.Option(None, help="With --user: the dataset the model was trained on (default: the name in the artifact)."),
    cache_dir: Path | None = typer.Option(None, help="With --user: the data cache folder."),
    k: int = typer.Option(10, "-k", "--k", help="Recommendations per history."),
    format_name: str | None = typer.Option(
        None, "--format", help="table, json, csv or parquet (default: a table on the terminal, or what the --out name ends with)."
    ),
    exclude_seen: bool = typer.Option(False, help="Leave out items already in the history."),
    strict: bool = typer.Option(False, help="Stop with exit code 2 on an item that is neither an id nor an exact title (default: skip it, with a warning)."),
    out: Path | None = typer.Option(None, help="Write the results to this file (atomically) instead of printing them."),
) -> None:
    """Recommend for new histories with a trained artifact: one history, or one list per user."""
    from rich.progress import Progress

    from seqrec.serving.artifact import load_artifact
    from seqrec.serving.batch import (
        dataset_histories,
        output_format,
        read_histories,
        recommend_histories,
        render_text,
        table_rows,
        unknown_summary,
        write_recommendations,
    )

    if sum(option is not None for option in (history, users, user)) != 1:
        raise ValueError("give one of --history FILE (one history), --users FILE (one history per user) or --user ID (a known user)")
    fmt = output_format(format_name, out)
    predictor = load_artifact(artifact)
    if user is not None:
        from seqrec.data.datasets import load_dataset

        trained_on = predictor.manifest.get("dataset", {})
        data = load_dataset(dataset or str(trained_on.get("name")), cache_dir=cache_dir)
        histories = dataset_histories(data, user, trained_on.get("fingerprint"))
    else:
        source = history if history is not None else users
        assert source is not None  # exactly one of the three was given
        histories = read_histories(source, per_user=users is not None)
    stderr = Console(stderr=True)
    with Progress(console=stderr, transient=True, disable=len(histories) < 1000) as bar:
        task = bar.add_task(f"{predictor.name}: recommending", total=len(histories))
        lists = recommend_histories(predictor, histories, k, exclude_seen, strict, on_chunk=lambda n: bar.advance(task, n))
    warning = unknown_summary(lists)
    if warning:
        typer.echo(f"{typer.style('warning:', fg='yellow')} {warning}", err=True)
    names = histories.users if users is not None or user is not None else None
    if out is not None:
        write_recommendations(out, names, lists, fmt)
        stderr.print(f"wrote {len(lists)} list(s) of {k} to {out}", highlight=False)
    elif fmt == "table":
        _print_rows(table_rows(names, lists))
    else:
        typer.echo(render_text(names, lists, fmt), nl=False)


def _print_rows(rows: list[dict[str, Any]]) -> None:
    table = Table()
    for column in rows[0] if rows else ():
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if value is None else f"{value:.4g}" if isinstance(value, float) else escape(str(value)) for value in row.values()))
    console.print(table)


@app.command()
def serve(
    artifacts: list[Path] = typer.Argument(..., help="Artifact folders written by `seqrec train` (one model each)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on (0: any free port)."),
    api_key: str | None = typer.Option(
        None, envvar="SEQREC_API_KEY", help="Require this key in the X-API-Key header (default: $SEQREC_API_KEY, else none)."
    ),
    batch_wait_ms: float = typer.Option(2.0, help="How long concurrent requests wait to be scored together."),
    threads: int = typer.Option(1, help="CPU threads for torch and BLAS."),
) -> None:
    """Serve trained models over HTTP (/recommend, /recommend/batch, /explain, /health, /model) and
    the playground page at /."""
    from seqrec.experiment import check_threads, set_threads
    from seqrec.serving.server import load_predictors
    from seqrec.serving.server import serve as run_server

    check_threads(threads)
    set_threads(threads)
    run_server(load_predictors(artifacts), host, port, api_key=api_key, batch_wait_ms=batch_wait_ms)


@app.command()
def export(
    artifact: Path = typer.Argument(..., help="Artifact folder written by `seqrec train` (a neural model)."),
    format_name: str = typer.Option("onnx", "--format", help="Export format: onnx."),
    out: Path | None = typer.Option(None, help="File to write (default: <artifact>.onnx beside the folder)."),
    users: Path | None = typer.Option(None, help="Real histories (user,item[,timestamp] rows) to check the export on, besides random ones."),
) -> None:
    """Export a trained network to ONNX (item ids [B, max_len] in, scores [B, n_items + 1] out), checked against PyTorch."""
    from seqrec.serving.export import TOLERANCE, export_artifact

    result = export_artifact(artifact, out, fmt=format_name, users=users)
    console.print(
        f"wrote {result.path} ({result.bytes / 1e6:.2f} MB, {result.exporter} exporter, {result.seconds:.1f}s): "
        f"{result.model}, input input_ids int64 [batch, {result.max_len}] left-padded, output scores [batch, {result.n_items + 1}]",
        highlight=False,
        markup=False,
    )
    real = "" if result.max_abs_diff_real is None else f", {result.max_abs_diff_real:.3g} on the histories of {users}"
    console.print(
        f"max abs difference onnxruntime vs PyTorch: {result.max_abs_diff_random:.3g} on random histories{real} "
        f"(tolerance {TOLERANCE:g})",
        highlight=False,
        markup=False,
    )


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


@app.command("semantic-ids")
def semantic_ids_report(
    dataset: str = typer.Option("shop", help="Dataset name or path."),
    method: str = typer.Option("rqvae", help="rqvae (TIGER's RQ-VAE) or rkmeans (residual k-means)."),
    encoder: str = typer.Option("all-MiniLM-L6-v2", help="Text encoder of the item documents, or 'hashing'."),
    levels: int = typer.Option(3, help="Quantiser levels (one more makes every ID unique)."),
    codebook_size: int = typer.Option(0, help="Codes per level (0: chosen for the catalogue size)."),
    epochs: int = typer.Option(300, help="RQ-VAE training epochs."),
    seed: int = typer.Option(0, help="Seed of the quantiser."),
    threads: int = typer.Option(1, help=THREADS_HELP),
    out: Path | None = typer.Option(None, help="Folder for semantic_ids_<dataset>.json and .md (default: print only)."),
    cache_dir: Path | None = typer.Option(None, help="Data cache folder."),
) -> None:
    """Semantic IDs of a catalogue's item texts: per-level codebook use, entropy, collisions, category purity."""
    from seqrec.data.datasets import load_dataset
    from seqrec.experiment import check_threads
    from seqrec.models.llm.semantic_ids import (
        METHODS,
        RQVAESettings,
        catalogue_report,
        write_report,
    )

    check_threads(threads)
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if levels < 1 or codebook_size < 0 or epochs < 0:
        raise ConfigError("--levels must be >= 1, --codebook-size and --epochs >= 0")
    data = load_dataset(dataset, cache_dir=cache_dir)
    settings = RQVAESettings(epochs=epochs, threads=threads)
    _, report = catalogue_report(data.item_info(), data.name, method, encoder, levels, codebook_size, seed, settings)
    typer.echo(report.to_markdown())
    if out is not None:
        json_path, markdown_path = write_report(report, out, f"semantic_ids_{data.name}")
        console.print(f"wrote {json_path} and {markdown_path}", highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
