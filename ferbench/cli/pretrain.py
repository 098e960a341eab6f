"""``ferbench pretrain``: train one model on one data set's training split and keep its weights,
as a starting point for ``ferbench run --init``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ferbench.cli.console import console, say
from ferbench.cli.options import add_data_arguments, add_recipe_arguments, data_arguments
from ferbench.errors import UserError
from ferbench.factory import load_dataset, with_face_crop
from ferbench.registry import get_registry

#: Recipe fields ``ferbench pretrain`` can override (it always keeps the last epoch).
PRETRAIN_OVERRIDES = ("epochs", "batch_size", "lr", "weight_decay", "optimizer", "schedule", "input_size",
                      "precision")


def add_parser(commands) -> None:
    """Register the ``pretrain`` subcommand."""
    parser = commands.add_parser(
        "pretrain", help="train a model on a data set's training split and keep its weights for --init",
        description="Train MODEL on DATASET's official training split (all of DATASET where it has "
        "none) for its recipe's fixed budget, selecting nothing on any validation or test split, and "
        "write OUT/<model>.safetensors and its card OUT/<model>.json (model, recipe, data set and "
        "fingerprint, the rows trained on, curves, versions, the file's SHA-256). `ferbench run "
        "--init OUT` then starts models from these weights, audits the pretraining images against "
        "the evaluated data set, and refuses to test on the pretraining data set's own images.",
    )
    parser.add_argument("--model", required=True, help="the model to pretrain")
    parser.add_argument("--dataset", required=True, help="the data set to pretrain on")
    parser.add_argument("--out", type=Path, required=True, help="folder for the weights and their card")
    parser.add_argument("--recipe", default="default", help="the model's training recipe (default: default)")
    add_data_arguments(parser)
    add_recipe_arguments(parser, "recipe overrides (default: the recipe's)")
    parser.add_argument("--exclude-copies-of", action="append", default=[], metavar="DATASET",
                        help="leave out every training image with an exact or near copy (look-alikes "
                        "included) of an image of DATASET, the data set the weights will be evaluated "
                        "on (repeatable; give its --data-dir); the card lists what was left out")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--force", action="store_true", help="replace existing weights in --out")
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    """Pretrain with a progress bar, then say where the weights are."""
    # Imported here: training needs torch, which other commands do not.
    import torch

    from ferbench.engine.device import select_device
    from ferbench.engine.pretrain import pretrain
    from ferbench.run.plan import resolve_recipe

    registry = get_registry()
    spec = registry.get("model", args.model)
    registry.get("dataset", args.dataset)
    recipe = resolve_recipe(spec, args.recipe, {name: getattr(args, name) for name in PRETRAIN_OVERRIDES})
    recipe = recipe.for_dataset(args.dataset)
    device = select_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    data_dirs, dataset_options = data_arguments(args)
    dataset = load_dataset(args.dataset, data_dirs.get(args.dataset),
                           with_face_crop(args.dataset, dataset_options.get(args.dataset), args.face_crop),
                           args.strict)
    exclude = []
    for name in args.exclude_copies_of:
        registry.get("dataset", name)
        if name == args.dataset:
            raise UserError(f"--exclude-copies-of {name} names the data set being pretrained on; name the one "
                            "the weights will be evaluated on.")
        exclude.append(load_dataset(name, data_dirs.get(name), dataset_options.get(name), args.strict))
    out = console()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=out) as progress:
        task = progress.add_task(f"pretrain {spec.name} on {dataset.name}", total=recipe.epochs)
        weights = pretrain(spec, dataset, recipe, args.recipe, args.out, device=device, seed=args.seed,
                           force=args.force, exclude=exclude,
                           on_epoch=lambda epoch, _epochs, _loss: progress.update(task, completed=epoch))
    say(out, "weights: {} (card beside it); start a run from them with `ferbench run --init {}`",
        weights, weights)
    return 0
