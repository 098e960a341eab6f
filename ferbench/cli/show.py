"""``ferbench show RUN_DIR``: what a run directory holds, and what it still lacks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from ferbench.cli.console import add_row, console, say, styled
from ferbench.errors import UserError
from ferbench.store import RunStore, load_jobs, load_plans


def add_parser(commands) -> None:
    """Register the ``show`` subcommand."""
    parser = commands.add_parser(
        "show", help="what a run directory contains: jobs done, failed and missing, leakage, fingerprints",
        description="Summarise a run directory: for each model and data set, the folds done, failed "
        "and still missing (against the last `ferbench run` there), the fold plans with their data "
        "fingerprints and leakage verdicts.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (for scripts)")
    parser.set_defaults(handler=command)


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON ({error}); re-run `ferbench run` with the same "
                        "arguments to rewrite it.") from None


def requested_seeds(request: dict[str, Any]) -> list[int]:
    """The seeds of a run's request (``config.json``; those written before repeats hold one)."""
    return list(request.get("seeds", [request["seed"]] if "seed" in request else []))


def seeds_text(seeds: list[int]) -> str:
    """``0-2`` for consecutive seeds, else ``0, 3, 7``."""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def run_overview(run_dir: str | Path) -> dict[str, Any]:
    """A plain summary of ``run_dir``: the last run's request, its fold plans (fingerprint,
    leakage verdict), per model × data set × protocol × recipe, the seeds (one fold plan
    each: requested or present), the folds done, failed, broken (predictions file missing or
    changed), stale (their plan was replaced) and missing over those seeds, and what is wrong
    with each broken one."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    config = _read(config_path) if config_path.exists() else {}
    jobs = load_jobs(run_dir)
    store = RunStore(run_dir)
    plans = []
    for plan in load_plans(run_dir).values():
        report = store.read_report(plan)
        plans.append({
            "plan": plan.key, "dataset": plan.dataset, "protocol": plan.protocol, "k": plan.k,
            "seed": plan.seed, "fingerprint": plan.fingerprint, "grouped_by": plan.grouped_by,
            "leakage": ("no report for this plan" if report is None else "LEAKY" if report.leaky else "clean"),
            "findings": [] if report is None else report.summary(warnings=False),
        })
    folds = {(p["dataset"], p["protocol"]): p["k"] for p in plans}
    rows: dict[tuple, dict[str, Any]] = {}
    wanted_recipe = config.get("recipe", "default")
    wanted_seeds = set(requested_seeds(config))
    for model in config.get("models", []):
        for dataset in config.get("datasets", []):
            key = (model, dataset, config.get("protocol"), wanted_recipe)
            rows[key] = {"seeds": set(wanted_seeds), "done": 0, "failed": 0, "broken": 0, "stale": 0, "leaky": False}
    if not jobs.empty:
        for (model, dataset, protocol, recipe), group in jobs.groupby(
                ["model", "dataset", "protocol", "recipe"], sort=True):
            row = rows.setdefault((model, dataset, protocol, recipe), {"seeds": set()})
            counts = group["status"].value_counts()
            row.update(done=int(counts.get("ok", 0)), failed=int(counts.get("failed", 0)),
                       broken=int(counts.get("broken", 0)), stale=int(counts.get("stale", 0)),
                       leaky=bool(group["leaky"].any()))
            row["seeds"] |= {int(seed) for seed in group["seed"]}
    table = []
    for (model, dataset, protocol, recipe), row in sorted(rows.items(), key=lambda item: tuple(map(str, item[0]))):
        k = folds.get((dataset, protocol), config.get("folds") if protocol == config.get("protocol") else None)
        seeds = sorted(row.pop("seeds"))
        expected = None if k is None else k * len(seeds)
        missing = None if expected is None else max(0, expected - row["done"] - row["failed"] - row["broken"])
        table.append({"model": model, "dataset": dataset, "protocol": protocol, "recipe": recipe, "k": k,
                      "seeds": seeds, **row, "missing": missing})
    broken = [] if jobs.empty else jobs.loc[jobs["status"] == "broken", "problem"].tolist()
    return {"run_dir": str(run_dir), "request": config, "plans": plans, "jobs": table, "broken": broken}


def command(args: argparse.Namespace) -> int:
    """Print the run's summary as rich tables (or JSON)."""
    overview = run_overview(args.run_dir)
    if args.json:
        print(json.dumps(overview, indent=1, default=str))
        return 0
    out = console()
    request = overview["request"]
    if request:
        seeds = requested_seeds(request)
        out.print(f"Last run here: models {', '.join(request.get('models', []))}; data sets "
                  f"{', '.join(request.get('datasets', []))}; protocol {request.get('protocol')}, "
                  f"k = {request.get('folds')}, seed{'s' if len(seeds) > 1 else ''} {seeds_text(seeds)}, "
                  f"recipe {request.get('recipe')}",
                  markup=False)
    plans = Table(title="Fold plans")
    for column in ("plan", "fingerprint", "grouped by", "leakage"):
        plans.add_column(column)
    for plan in overview["plans"]:
        verdict = (Text.assemble(("LEAKY", "bold red"), ": " + "; ".join(plan["findings"]))
                   if plan["leakage"] == "LEAKY" else plan["leakage"])
        add_row(plans, plan["plan"], plan["fingerprint"][:16], plan["grouped_by"] or "-", verdict)
    out.print(plans)
    jobs = Table(title="Jobs (folds)")
    for column in ("model", "dataset", "protocol", "recipe", "seeds", "folds"):
        jobs.add_column(column, no_wrap=column != "folds")
    for row in overview["jobs"]:
        protocol = styled(f"{row['protocol']} (LEAKY)", "bold red") if row["leaky"] else row["protocol"]
        folds = Text(f"{row['done']} done")
        for count in ("failed", "broken", "missing", "stale"):
            if row[count] is None or row[count]:
                folds.append(f", {'?' if row[count] is None else row[count]} {count}",
                             "red" if count in ("failed", "broken") else "")
        add_row(jobs, row["model"], row["dataset"], protocol, row["recipe"], seeds_text(row["seeds"]) or "-", folds)
    out.print(jobs)
    for problem in overview["broken"]:
        say(out, "[red]broken[/]: {}; the next `ferbench run` with the same arguments redoes that job.", problem)
    return 0
