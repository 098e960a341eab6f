"""Planning a run: which models, data sets and recipes; each data set loaded, its folds
assigned and audited; the jobs expanded. Nothing here trains."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ferbench.data import Dataset
from ferbench.errors import UserError
from ferbench.factory import create_model, load_dataset, with_face_crop
from ferbench.job import Init, Job, plan_digest
from ferbench.leakage import LeakageReport, audit, audit_settings
from ferbench.leakage.duplicates import block_threshold
from ferbench.leakage.crossdata import CrossReport, pretraining_overlap, scan
from ferbench.pretraining import PRETRAINING_CHECK, card_path, read_card, resolve_inits, rows_digest, with_init
from ferbench.protocols import FoldPlan, assign_folds, with_clusters
from ferbench.registry import Registry, get_registry
from ferbench.run.config import RunConfig
from ferbench.specs import DatasetSpec, ModelSpec, Recipe


def resolve_recipe(spec: ModelSpec, name: str, overrides: Mapping[str, Any]) -> Recipe:
    """The model's recipe ``name`` with command-line overrides applied (None keeps the recipe's)."""
    if name not in spec.recipes:
        raise UserError(
            f"model {spec.name!r} has no recipe {name!r}; it has: {', '.join(sorted(spec.recipes))}."
        )
    try:
        return spec.recipes[name].with_overrides(**overrides)
    except ValueError as error:
        raise UserError(f"model {spec.name!r}, recipe {name!r}: {error}") from None


@dataclass(frozen=True)
class Selection:
    """The registered things a run uses, every name checked; loader options resolved."""

    models: list[ModelSpec]
    datasets: list[DatasetSpec]
    recipes: dict[str, Recipe]
    dataset_options: dict[str, dict[str, Any]]
    inits: dict[str, Init] = field(default_factory=dict)


def select(config: RunConfig, registry: Registry) -> Selection:
    """Check every name of ``config`` against ``registry``, before any data is loaded.

    Models asked for with ``pretrained`` are built once with their weights, so missing weight
    files fail here. ``--init`` files are read with their cards; each such model's card then
    names the pretraining data set in ``pretrained_on``.
    """
    models = registry.select("model", config.models)
    datasets = registry.select("dataset", config.datasets)
    registry.select("metric", "all")  # fails now, not after training, when no metric is registered
    registry.get("executor", config.executor)
    for name in (*config.data_dirs, *config.dataset_options):
        registry.get("dataset", name)
    options = {}
    for spec in datasets:  # before jobs take their options with them to worker processes
        resolved = with_face_crop(spec.name, config.dataset_options.get(spec.name), config.face_crop)
        if resolved:
            options[spec.name] = resolved
    recipes = {spec.name: resolve_recipe(spec, config.recipe, config.overrides) for spec in models}
    if config.pretrained:
        for spec in models:
            create_model(spec, num_classes=7, in_chans=1, image_size=48, pretrained=True)
    inits = resolve_inits(config.init, [spec.name for spec in models])
    if inits:
        from ferbench.engine.weights import check_init_fits  # torch: only runs with --init need it

        for spec in models:
            if spec.name in inits:
                check_init_fits(spec, inits[spec.name])
    models = [with_init(spec, inits.get(spec.name)) for spec in models]
    return Selection(models, datasets, recipes, options, inits)


@dataclass(frozen=True)
class Planned:
    """One fold plan of a run (a data set under one seed): the data set, loaded; the plan; its
    leakage report (``audited``: made now, not read back from the run directory)."""

    dataset: Dataset
    plan: FoldPlan
    report: LeakageReport
    audited: bool
    notes: tuple[str, ...] = ()


def run_selection(selection: Selection) -> str:
    """``best`` when any selected model chooses its weights on a validation part, else ``last``."""
    return "best" if any(recipe.selection == "best" for recipe in selection.recipes.values()) else "last"


def plan_dataset(config: RunConfig, spec: DatasetSpec, options: dict[str, Any] | None,
                 stored_report: Callable[[FoldPlan, dict[str, Any]], LeakageReport | None],
                 selection: str = "last",
                 stored_plan: Callable[[str], FoldPlan | None] = lambda key: None) -> list[Planned]:
    """Load ``spec``'s data set once, assign its folds under each of ``config.seeds`` and audit
    each plan (``stored_report`` returns a report already kept for this exact plan, search and
    audit settings, which is then reused). ``selection``: ``best`` when a model of the run selects
    on the validation part. An official split is the same under every seed: it is assigned and
    audited once, and only the seed differs between its plans (and the training seeds of its jobs).

    ``stored_plan`` returns the plan a run directory already holds under a key. Where the same
    data now get a different assignment (``dedup`` and ``official-purged`` follow the copy search,
    which may have changed since), the stored plan is kept, so that new results stay paired with
    the stored ones, and audited with the current search; a note says so."""
    dataset = load_dataset(spec.name, config.data_dirs.get(spec.name), options, config.strict)
    settings = audit_settings(config.search, config.strict_copies, selection)
    planned: list[Planned] = []
    for seed in config.seeds:
        first = planned[0] if planned and planned[0].plan.official else None
        plan = (replace(first.plan, seed=seed) if first
                else with_clusters(assign_folds(dataset, config.protocol, config.folds, seed, config.search),
                                   dataset, config.search))
        plan, notes = _kept(plan, stored_plan(plan.key))
        report = stored_report(plan, settings)
        if report is not None:
            planned.append(Planned(dataset, plan, report, audited=False, notes=notes))
        elif first:
            planned.append(Planned(dataset, plan, replace(first.report, seed=seed), audited=True, notes=notes))
        else:
            report = audit(dataset, plan, config.search, fitted_on_all=spec.fitted_on_all,
                           strict_copies=config.strict_copies, selection=selection)
            planned.append(Planned(dataset, plan, report, audited=True, notes=notes))
    return planned


def _kept(plan: FoldPlan, stored: FoldPlan | None) -> tuple[FoldPlan, tuple[str, ...]]:
    """The stored plan of the same key and data where it differs from ``plan``, with a note."""
    if stored is None or stored.fingerprint != plan.fingerprint or np.array_equal(stored.test_fold, plan.test_fold):
        return plan, ()
    moved = int((stored.test_fold != plan.test_fold).sum())
    if stored.clusters is None:
        stored = replace(stored, cluster_unit=plan.cluster_unit, clusters=plan.clusters)
    return stored, (f"kept the run directory's fold plan {plan.key}: the folds assigned now would place "
                    f"{moved} of {len(plan.test_fold)} images in another fold (the copy search or the "
                    "splitter changed since it was saved), and results of one run directory are compared "
                    "on one plan; the current search audits it. --force assigns anew and redoes every job.",)


def _pretraining_rows(config: RunConfig, init: Init, options: dict[str, Any] | None) -> Dataset:
    """The images ``init`` was pretrained on: its data set loaded again, checked against the card."""
    spec = get_registry().get("dataset", init.dataset)
    root = config.data_dirs.get(init.dataset)
    if root is None and spec.needs_root:
        raise UserError(f"--init {init.path} was pretrained on {init.dataset}; its images are checked for "
                        f"copies of the evaluated ones before training: give --data-dir {init.dataset}=PATH.")
    dataset = load_dataset(init.dataset, root, options, config.strict)
    if dataset.fingerprint != init.fingerprint:
        raise UserError(f"--init {init.path} was pretrained on {init.dataset} with fingerprint "
                        f"{init.fingerprint[:12]}, but --data-dir {init.dataset}={root} loads fingerprint "
                        f"{dataset.fingerprint[:12]} (other files, labels or loader options). Point it at the "
                        "copy the weights were pretrained on, with the same --dataset-option values.")
    rows = np.asarray(read_card(Path(init.path))["rows"], dtype=np.int64)
    if rows_digest(rows) != init.rows_sha256:
        raise UserError(f"{card_path(Path(init.path))}: its row list does not match its rows_sha256; pretrain again.")
    return dataset.subset(rows)


def audit_pretraining(config: RunConfig, selection: Selection, datasets: Mapping[str, Dataset],
                      stored: Callable[[Init, Dataset], CrossReport | None]) -> dict[tuple[str, str], CrossReport]:
    """Scan each ``--init`` file's pretraining rows for exact and near copies of the images of
    each evaluated data set, by (weights SHA-256, data set name). ``stored`` returns a kept audit
    of the same weights, data set and search, which is then reused (its blocking score set anew).
    Data sets the name guard already refuses (the pretraining set itself, or one with the same
    images) are not scanned.
    Near pairs leak from the audit's stricter threshold (:func:`block_threshold`: look-alike faces
    of different people reach the search's own); below it they are suspected copies."""
    audits: dict[tuple[str, str], CrossReport] = {}
    inits = {init.sha256: init for init in selection.inits.values()}
    for init in inits.values():
        pretraining = None
        for name, dataset in datasets.items():
            spec = get_registry().get("dataset", name)
            if init.dataset in {name, *spec.same_images_as}:
                continue
            report = stored(init, dataset)
            if report is None:
                if pretraining is None:
                    pretraining = _pretraining_rows(config, init, config.dataset_options.get(init.dataset))
                report = scan(dataset, pretraining, config.search)
            report.blocking = block_threshold(config.search, config.strict_copies)
            audits[init.sha256, name] = report
    return audits


def pretraining_leaks(selection: Selection, planned: Mapping[tuple[str, int], Planned],
                      audits: Mapping[tuple[str, str], CrossReport], where: Callable[[Init, str], Path]) -> list[str]:
    """One line per (``--init`` file, data set) whose pretraining rows hold copies of test images
    (exact, or near at or above the report's blocking score)."""
    lines = []
    for (sha, name), report in audits.items():
        plans = [part.plan for (dataset, _), part in planned.items() if dataset == name]
        tested = sum(report.test_copies(plan.test_index(fold)) for plan in plans for fold in range(plan.k))
        if tested:
            init = next(i for i in selection.inits.values() if i.sha256 == sha)
            models = ", ".join(m for m, i in selection.inits.items() if i.sha256 == sha)
            lines.append(f"check {PRETRAINING_CHECK!r}: {tested} test image(s) of {name} (over all folds) have an "
                         f"exact or near copy (score >= {report.blocking}) among the {report.n_against} "
                         f"{init.dataset} images {models} was pretrained on (report: {where(init, name)})")
    return lines


def cross_dataset_leaks(selection: Selection) -> list[str]:
    """Why a selected model's pretraining data holds a selected data set's images, one line each."""
    return [line for model in selection.models for spec in selection.datasets
            if (line := pretraining_overlap(model, spec))]


#: What to do about a check that fired, shown under it when a run is refused.
HINTS = {
    "near duplicates": "near copies at or above the blocking threshold; `ferbench leakage --pairs FILE` "
                       "lists every pair with its score",
    "selection on copies of test images": "--selection best would choose its epoch on them; use "
                                          "--protocol official-purged, or --selection last",
}


def refuse_leaky(reports: list[tuple[LeakageReport, Path]], cross: list[str], allow_leaky: bool,
                 pretraining: list[str] = ()) -> None:
    """Stop before any training when a plan leaks, a model was pretrained on the images it would
    be tested on (declared, or found by the ``--init`` audit: ``pretraining``), and leaks were
    not allowed."""
    leaky = [(report, path) for report, path in reports if report.leaky]
    if not (leaky or cross or pretraining) or allow_leaky:
        return
    lines = []
    for report, path in leaky:
        lines.append(f"{report.dataset} under --protocol {report.protocol} leaks (report: {path}):")
        if report.protocol_leaky:
            lines.append(f"  - protocol {report.protocol!r} itself puts frames of one subject and one clip "
                         "on both sides of a fold")
        for check in report.checks:
            if check.status == "leak":
                hit = sum(1 for n in check.per_fold if n)
                folds = f" in {hit}/{len(check.per_fold)} folds" if check.per_fold else ""
                lines.append(f"  - check {check.name!r} found {check.leaks} {check.details.get('unit', '')}{folds}"
                             + (f" ({HINTS[check.name]})" if check.name in HINTS else ""))
    lines += [f"{line} (its model card's pretrained_on)" for line in cross]
    lines += list(pretraining)
    if not leaky:
        raise UserError("\n".join(lines) + "\nA model tested on images it was pretrained on (or copies of "
                        "them) is scored on what it has seen. Start it from weights pretrained on another "
                        "data set, or add --allow-leaky to run anyway: every such result is marked LEAKY.")
    raise UserError(
        "\n".join(lines) + "\nA test image that the model has seen in training (itself, a copy, its "
        "clip or its subject) inflates the score. For an honest number use --protocol subject "
        "(whole subjects or clips per fold), or --protocol official where the data set has its own "
        "split (official-purged where that split itself holds copies of test images); to reproduce "
        "this protocol anyway, add --allow-leaky and every result is marked LEAKY."
    )


def expand_jobs(config: RunConfig, selection: Selection, planned: Mapping[tuple[str, int], Planned]) -> list[Job]:
    """Every (seed, data set, fold, model) job of the plans in ``planned`` (by data set name and
    seed): seed by seed, fold by fold, with the models side by side (an interrupted run leaves
    every model at a similar point). Clip models run only on data sets with sequences."""
    return [
        Job(model=model.name, recipe_name=config.recipe, recipe=selection.recipes[model.name].for_dataset(name),
            dataset=name, fingerprint=part.dataset.fingerprint, protocol=config.protocol, k=config.folds,
            fold=fold, run_seed=seed, plan_digest=plan_digest(part.plan), pretrained=config.pretrained,
            compile_mode=config.compile_mode, init=selection.inits.get(model.name), stacked=config.stacked)
        for seed in config.seeds
        for (name, plan_seed), part in planned.items() if plan_seed == seed
        for fold in range(config.folds)
        for model in selection.models
        if model.input == "image" or part.dataset.sequences is not None
    ]
