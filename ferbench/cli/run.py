"""``ferbench run``: train and evaluate models under identical cross-validation folds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ferbench.cli import config
from ferbench.cli.console import add_row, console, say, styled
from ferbench.cli.options import (add_data_arguments, add_recipe_arguments, add_search_arguments, data_arguments,
                                  search_argument)
from ferbench.errors import UserError
from ferbench.job import Job
from ferbench.pretraining import EVERY_MODEL
from ferbench.protocols import PROTOCOLS
from ferbench.registry import get_registry
from ferbench.run.config import OVERRIDABLE, RunConfig, resolve_seeds
from ferbench.run.task import Outcome
from ferbench.specs import COMPILE_MODES, SELECTIONS

if TYPE_CHECKING:
    import pandas as pd

SUMMARY_METRICS = ("accuracy", "macro_f1", "roc_auc_ovr")


def _init(text: str) -> tuple[str, Path]:
    """``--init``'s ``MODEL=PATH`` or ``PATH`` (every model: key ``*``)."""
    name, sep, path = text.partition("=")
    if sep and (not name.strip() or not path.strip()):
        raise argparse.ArgumentTypeError(f"expected PATH or MODEL=PATH, got {text!r}")
    return (name.strip(), Path(path).expanduser()) if sep else (EVERY_MODEL, Path(text).expanduser())


def add_parser(commands) -> None:
    """Register the ``run`` subcommand."""
    parser = commands.add_parser(
        "run", help="train and evaluate models under k-fold cross-validation",
        description="Train and evaluate every selected model on every selected data set under "
        "one fold plan per seed (identical folds for every model). Each finished fold is saved at once; "
        "re-running the same command trains only what is missing.",
    )
    parser.add_argument("--models", default="all", help="'all' or comma-separated model names (default: all)")
    parser.add_argument("--datasets", default="synthetic",
                        help="'all' or comma-separated data set names (default: synthetic)")
    parser.add_argument("--protocol", default="subject", choices=sorted(PROTOCOLS),
                        help="fold protocol: " + "; ".join(f"{k}: {v[0]}" for k, v in PROTOCOLS.items()))
    parser.add_argument("--folds", type=int, default=10, help="number of folds k (default: 10)")
    parser.add_argument("--seed", type=config.whole_numbers, default=(0,), metavar="SEED[,SEED...]",
                        help="run seed: folds and training (default: 0); a comma-separated list "
                        "(0,1,2) runs one fold plan per seed, every model on each (repeated "
                        "cross-validation). Under an official protocol the split is the same for "
                        "every seed and only the training seeds differ: repeats measure how much "
                        "training runs vary")
    parser.add_argument("--repeats", type=int, metavar="R",
                        help="run R fold plans with consecutive seeds from --seed's (--seed 5 "
                        "--repeats 3: seeds 5, 6, 7); default 1")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default: runs/<protocol>-k<folds>-s<seed>; several "
                        "seeds: -s<first>-<last> when consecutive, e.g. s0-2, else -s0_3_7)")
    add_data_arguments(parser)
    parser.add_argument("--allow-leaky", action="store_true",
                        help="train even where the leakage checks find a leak (e.g. to reproduce "
                        "--protocol image); every such result is marked LEAKY")
    add_search_arguments(parser)
    parser.add_argument("--recipe", default="default", help="named training recipe of each model (default: default)")
    recipe = add_recipe_arguments(parser, "recipe overrides (default: each model's recipe)")
    recipe.add_argument("--selection", choices=SELECTIONS,
                        help="which weights are evaluated: last (fixed budget, the last epoch) or best "
                        "(best accuracy on a validation part carved from the training part, grouped "
                        "by subject, or the official validation split); never the test part")
    recipe.add_argument("--val-fraction", type=float,
                        help="share of the training part held out for --selection best (default 0.1)")
    recipe.add_argument("--patience", type=int,
                        help="--selection best: stop after this many epochs without a better one (0: run all)")
    parser.add_argument("--pretrained", action="store_true",
                        help="start from pretrained weights, read from local files only (models that "
                        "have them, e.g. timm/<name>: see README); nothing is downloaded")
    parser.add_argument("--init", type=_init, action="append", default=[], metavar="[MODEL=]PATH",
                        help="start from weights written by `ferbench pretrain`: PATH (a weights file, or "
                        "the --out folder of `ferbench pretrain` holding one per model) for every model, "
                        "MODEL=PATH for one (repeatable). The head is re-initialised where the classes "
                        "differ; the pretraining images are audited against the evaluated data set, and "
                        "results name their starting point (timm/resnet18 ← ferplus)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    parser.add_argument("--compile", default="none", choices=COMPILE_MODES, dest="compile_mode",
                        help="train through torch.compile with this mode (reduce-overhead: CUDA graphs, "
                        "for the paper's launch-bound batch of 4 on a GPU); default none")
    parser.add_argument("--stacked", action="store_true",
                        help="train the k folds of each model and fold plan side by side in one process, one "
                        "vectorised step for all (for small batches on a GPU; on this kind of 2-core CPU "
                        "one-thread workers are faster). Each fold keeps its data order and seed; results "
                        "are marked stacked and never mixed with unstacked ones")
    where = parser.add_argument_group("where jobs run")
    where.add_argument("--executor", default="local",
                       help="local (this machine, default) or slurm (a cluster, through submitit); "
                       "plugins may add others: `ferbench list executors`")
    where.add_argument("--workers", type=int,
                       help="local: worker processes (default: one per GPU, else 1; on the CPU with "
                       "every batch 4 or less, one per core, with one thread each)")
    where.add_argument("--threads", type=int,
                       help="torch CPU threads per local worker or Slurm job (default: the CPU cores "
                       "shared out; slurm: its cpus); "
                       "CPU results are bit-identical for the same seed and thread count")
    where.add_argument("--executor-option", action="append", default=[], metavar="KEY=VALUE",
                       help="an option of the executor, repeatable; slurm: partition, time (minutes), "
                       "gpus, cpus, mem (GB), parallel, account, qos, constraint; cluster=local runs "
                       "the Slurm path on this machine")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="read options from a TOML file (keys as the options: folds = 5, batch_size = "
                        "64, models = \"smallcnn\"); flags given here win. Each run saves its options "
                        "as RUN_DIR/config.toml, which reproduces it")
    parser.add_argument("--force", action="store_true",
                        help="redo every requested job, replacing finished results "
                        "(also those of another configuration)")
    parser.set_defaults(handler=command)


class RichReporter:
    """Two progress bars: jobs, and epochs of the current job (a
    :class:`ferbench.run.coordinator.Reporter`)."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.jobs = progress.add_task("jobs", total=0)
        self.epochs = progress.add_task("epochs", total=1, visible=False)

    def planned(self, total: int, done: int) -> None:
        self.progress.update(self.jobs, total=total, completed=done,
                             description=f"jobs ({done} already done)" if done else "jobs")

    def job_started(self, job: Job) -> None:
        self.progress.update(self.epochs, completed=0, total=job.recipe.epochs, visible=True,
                             description=f"{job.model} · {job.dataset} · fold {job.fold}")

    def note(self, message: str) -> None:
        say(self.progress.console, "[yellow]note[/] {}", message)

    def epoch(self, epoch: int, epochs: int, loss: float) -> None:
        self.progress.update(self.epochs, completed=epoch)

    def job_finished(self, result: Outcome) -> None:
        self.progress.advance(self.jobs)
        if result.status != "ok":
            first_line = (result.error or "").splitlines()[0]
            say(self.progress.console, "[red]failed[/] {} · {} · fold {}: {}", result.job.model,
                result.job.dataset, result.job.fold, first_line)


def summary_table(jobs: pd.DataFrame, folds: int, repeats: int = 1) -> Table:
    """Mean ± standard deviation over folds (of every repeat) per model and data set."""
    import pandas as pd

    design = f"{folds}-fold cross-validation" + (f" × {repeats} repeats; mean ± sd over all folds"
                                                 if repeats > 1 else "; mean ± sd over folds")
    table = Table(title=f"Results in % ({design})")
    for column in ("model", "dataset"):
        table.add_column(column, no_wrap=True)
    table.add_column("protocol")
    for column in ("folds ok", *SUMMARY_METRICS):
        table.add_column(column, justify="right")
    for (model, dataset, protocol), group in jobs.groupby(["model", "dataset", "protocol"], sort=True):
        ok = group[group["status"] == "ok"]
        leaky = bool(group["leaky"].any())
        cells = []
        for metric in SUMMARY_METRICS:
            values = ok[metric] if metric in ok else pd.Series(dtype=float)
            cells.append(f"{100 * values.mean():.1f} ± {100 * values.std(ddof=1):.1f}" if len(values) > 1
                         else (f"{100 * values.mean():.1f}" if len(values) else "-"))
        add_row(table, model, dataset, styled(f"{protocol} (LEAKY)", "bold red") if leaky else protocol,
                      f"{len(ok)}/{len(group)}", *cells)
    return table


def executor_options(args: argparse.Namespace) -> dict[str, str | int]:
    """``--workers``, ``--threads`` (when given) and every ``--executor-option KEY=VALUE``."""
    options: dict[str, str | int] = {name: getattr(args, name) for name in ("workers", "threads")
                                     if getattr(args, name) is not None}
    for item in args.executor_option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--executor-option takes KEY=VALUE (e.g. partition=gpu), got {item!r}.")
        options[key.strip()] = value.strip()
    return options


#: Repeatable options: destination -> flag.
REPEATABLE = {"data_dir": "--data-dir", "dataset_option": "--dataset-option", "executor_option": "--executor-option",
              "init": "--init"}


def init_arguments(pairs: list[tuple[str, Path]]) -> dict[str, Path]:
    """``--init`` values as model -> path; a model (or every model) named twice is an error."""
    paths = dict(pairs)
    if len(paths) != len(pairs):
        raise UserError("--init gives one model (or every model) two starting points; give each once.")
    return paths


def _run_parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(prog="ferbench").add_subparsers()
    add_parser(commands)
    return commands.choices["run"]


def given(tokens: list[str], flag: str) -> list[str]:
    """Every value given to ``flag`` in ``tokens`` (as ``FLAG VALUE`` or ``FLAG=VALUE``)."""
    values = []
    for i, token in enumerate(tokens):
        if token == flag and i + 1 < len(tokens):
            values.append(tokens[i + 1])
        elif token.startswith(flag + "="):
            values.append(token[len(flag) + 1:])
    return values


def with_config(argv: list[str]) -> list[str]:
    """``ferbench run`` arguments with those of ``--config FILE`` put first (the command line
    wins), and ``--config`` itself taken out."""
    files = given(argv, "--config")
    if not files:
        return argv
    if len(files) > 1:
        raise UserError("--config may be given once.")
    rest = [t for i, t in enumerate(argv) if t != "--config" and not t.startswith("--config=")
            and not (i and argv[i - 1] == "--config")]
    parser = _run_parser()
    return [rest[0], *config.merge(config.file_arguments(Path(files[0]), parser), rest[1:], parser)]


def command(args: argparse.Namespace) -> int:
    """Run the benchmark with progress bars, then print the summary table."""
    # Imported here: training needs torch and the engine, which other commands do not.
    from ferbench.run.coordinator import run

    data_dirs, dataset_options = data_arguments(args)
    seeds = (resolve_seeds(args.seed[0], None, args.repeats) if len(args.seed) == 1
             else resolve_seeds(None, args.seed, args.repeats))
    saved = argparse.Namespace(**{**vars(args), "seed": seeds[0] if len(seeds) == 1 else list(seeds),
                                  "repeats": None})
    run_config = RunConfig(
        models=args.models, datasets=args.datasets, protocol=args.protocol, folds=args.folds, seeds=seeds,
        out=args.out, recipe=args.recipe, overrides={name: getattr(args, name) for name in OVERRIDABLE},
        device=args.device, data_dirs=data_dirs, force=args.force, dataset_options=dataset_options,
        strict=args.strict, face_crop=args.face_crop, allow_leaky=args.allow_leaky,
        search=search_argument(args), strict_copies=args.strict_copies, pretrained=args.pretrained,
        init=init_arguments(args.init),
        executor=args.executor, executor_options=executor_options(args), compile_mode=args.compile_mode,
        stacked=args.stacked,
        config_toml=config.dump(saved, _run_parser(), {dest: given(args.argv, flag) for dest, flag in
                                                      REPEATABLE.items()}),
    )
    out = console()
    for plugin in get_registry().broken:
        say(console(stderr=True), "[yellow]warning[/]: plugin {} failed to load; `ferbench list plugins` "
            "shows why.", plugin.provider)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=out, transient=False) as progress:
        outcome = run(run_config, RichReporter(progress))
    out.print(summary_table(outcome.jobs, run_config.folds, run_config.repeats))
    say(out, "{} job(s) trained, {} already done; results in {}", outcome.ran, outcome.skipped, outcome.run_dir)
    if outcome.jobs["leaky"].any():
        say(out, "[bold red]LEAKY[/]: test images of these results, their copies, clips or subjects were seen "
            "in training or pretraining, or selected on (each record's `leakage` names the check; reports in "
            "{}).", outcome.run_dir / "leakage")
    if outcome.failed:
        say(out, "[red]{} job(s) failed[/]; their errors are in the run directory's JSON files; re-run "
            "to retry them.", len(outcome.failed))
        return 1
    return 0
