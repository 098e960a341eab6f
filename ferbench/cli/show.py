"""``ferbench show RUN_DIR``: what a run directory holds, and what it still lacks."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

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


def run_overview(run_dir: str | Path) -> dict[str, Any]:
    """A plain summary of ``run_dir``: the last run's request, its fold plans (fingerprint,
    leakage verdict) and, per model × data set × protocol × recipe, the folds done, failed,
    stale (their plan was replaced) and missing."""
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
    for model in config.get("models", []):
        for dataset in config.get("datasets", []):
            key = (model, dataset, config.get("protocol"), wanted_recipe)
            rows[key] = {"done": 0, "failed": 0, "stale": 0, "leaky": False}
    if not jobs.empty:
        for (model, dataset, protocol, recipe), group in jobs.groupby(
                ["model", "dataset", "protocol", "recipe"], sort=True):
            row = rows.setdefault((model, dataset, protocol, recipe), {})
            counts = group["status"].value_counts()
            row.update(done=int(counts.get("ok", 0)), failed=int(counts.get("failed", 0)),
                       stale=int(counts.get("stale", 0)), leaky=bool(group["leaky"].any()))
    table = []
    for (model, dataset, protocol, recipe), row in sorted(rows.items(), key=lambda item: tuple(map(str, item[0]))):
        k = folds.get((dataset, protocol), config.get("folds") if protocol == config.get("protocol") else None)
        missing = None if k is None else max(0, k - row["done"] - row["failed"])
        table.append({"model": model, "dataset": dataset, "protocol": protocol, "recipe": recipe, "k": k,
                      **row, "missing": missing})
    return {"run_dir": str(run_dir), "request": config, "plans": plans, "jobs": table}


def command(args: argparse.Namespace) -> int:
    """Print the run's summary as rich tables (or JSON)."""
    overview = run_overview(args.run_dir)
    if args.json:
        print(json.dumps(overview, indent=1, default=str))
        return 0
    console = Console()
    request = overview["request"]
    if request:
        console.print(f"Last run here: models {', '.join(request.get('models', []))}; data sets "
                      f"{', '.join(request.get('datasets', []))}; protocol {request.get('protocol')}, "
                      f"k = {request.get('folds')}, seed {request.get('seed')}, recipe {request.get('recipe')}",
                      highlight=False)
    plans = Table(title="Fold plans")
    for column in ("plan", "fingerprint", "grouped by", "leakage"):
        plans.add_column(column)
    for plan in overview["plans"]:
        verdict = "[bold red]LEAKY[/]: " + "; ".join(plan["findings"]) if plan["leakage"] == "LEAKY" \
            else plan["leakage"]
        plans.add_row(plan["plan"], plan["fingerprint"][:16], str(plan["grouped_by"] or "-"), verdict)
    console.print(plans)
    jobs = Table(title="Jobs (folds)")
    for column in ("model", "dataset", "protocol", "recipe", "done", "failed", "missing", "stale"):
        jobs.add_column(column, overflow="fold",
                        justify="right" if column in ("done", "failed", "missing", "stale") else "left")
    for row in overview["jobs"]:
        protocol = f"[bold red]{row['protocol']} (LEAKY)[/]" if row["leaky"] else str(row["protocol"])
        jobs.add_row(row["model"], row["dataset"], protocol, row["recipe"], str(row["done"]),
                     f"[red]{row['failed']}[/]" if row["failed"] else "0",
                     "?" if row["missing"] is None else str(row["missing"]), str(row["stale"]))
    console.print(jobs)
    return 0
