"""Executors: worker processes and submitit give the serial results; crashes lose nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import install_plugin

import ferbench
from ferbench.job import Job
from ferbench.record import migrate
from ferbench.specs import Recipe
from ferbench.store import RunStore

GRID = ("--models", "smallcnn", "--folds", "3", "--epochs", "1", "--threads", "1")


def processes() -> dict[int, tuple[str, int, str]]:
    """pid -> (state, parent pid, command line) of every process, read from /proc (Linux)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        found[int(stat.parent.name)] = (fields[0], int(fields[1]), command)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (a zombie has ended; only its exit status is left)."""
    table = processes()
    return {pid for pid in pids if pid in table and table[pid][0] != "Z"}


def children(pid: int) -> set[int]:
    """The running child processes of ``pid``, but multiprocessing's resource tracker (one per
    process that used multiprocessing, which lives as long as that process)."""
    return {child for child, (state, parent, command) in processes().items()
            if parent == pid and state != "Z" and "multiprocessing.resource_tracker" not in command}


def outliving(pids: set[int], seconds: float) -> set[int]:
    """Those of ``pids`` still running after up to ``seconds``; they are killed, so that a
    failing test leaves no process behind either."""
    deadline = time.time() + seconds
    while (left := alive(pids)) and time.time() < deadline:
        time.sleep(0.1)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.fixture(autouse=True)
def no_process_outlives_its_test():
    """A test leaves no child process behind (worker processes end with their run)."""
    if not sys.platform.startswith("linux"):
        yield
        return
    before = children(os.getpid())
    yield
    left = outliving(children(os.getpid()) - before, 5)
    assert not left, f"child processes {sorted(left)} outlived the test"


def results(run_dir) -> dict:
    """(model, fold) -> (metrics, probabilities) of every successful job."""
    table = ferbench.load_predictions(run_dir)
    jobs = ferbench.load_jobs(run_dir)
    out = {}
    for (model, fold), group in table.groupby(["model", "fold"]):
        metrics = jobs[(jobs.model == model) & (jobs.fold == fold)].iloc[0]
        out[(model, fold)] = (round(float(metrics["accuracy"]), 12), np.stack(group["proba"].to_numpy()))
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        assert a[key][0] == b[key][0], key
        assert np.array_equal(a[key][1], b[key][1]), key


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The reference: the grid run in this process, one thread."""
    from ferbench.cli import main

    out = tmp_path_factory.mktemp("serial") / "run"
    assert main(["run", *GRID, "--out", str(out)]) == 0
    return results(out)


@pytest.mark.slow
def test_worker_processes_give_the_serial_results(cli, tmp_path, serial):
    status, out, _ = cli("run", *GRID, "--workers", "2", "--out", tmp_path / "run")
    assert status == 0 and "running 3 jobs in 2 worker processes, 1 CPU thread(s) each" in " ".join(out.split())
    assert_same(results(tmp_path / "run"), serial)
    records = [json.loads(p.read_text()) for p in (tmp_path / "run" / "jobs").rglob("fold-*.json")]
    assert {r["threads"] for r in records} == {1}


@pytest.mark.slow
def test_submitit_local_executor_gives_the_serial_results(cli, tmp_path, serial):
    status, out, _ = cli("run", *GRID, "--executor", "slurm", "--executor-option", "cluster=local",
                         "--executor-option", "cpus=1", "--executor-option", "poll=0.5", "--out", tmp_path / "run")
    assert status == 0, out
    assert "submitted 3 jobs (local)" in " ".join(out.split())
    assert_same(results(tmp_path / "run"), serial)
    assert list((tmp_path / "run" / "slurm").glob("*_submitted.pkl"))  # it went through submitit's pickles


@pytest.mark.slow
def test_a_killed_worker_fails_only_its_job_and_a_raising_plugin_only_its_own(cli, tmp_path, monkeypatch, serial):
    monkeypatch.syspath_prepend(str(tmp_path))  # spawned workers inherit sys.path, so they see the plugins
    install_plugin(tmp_path, "rogue-fer", "rogue_fer", """
        import os, signal
        import ferbench
        from ferbench.specs import ModelSpec, Recipe

        def die(num_classes, in_chans, image_size):
            os.kill(os.getpid(), signal.SIGKILL)

        def fail(num_classes, in_chans, image_size):
            raise ValueError("this plugin is broken")

        @ferbench.hookimpl
        def ferbench_models():
            recipe = {"default": Recipe(epochs=1)}
            return [ModelSpec("assassin", build=die, recipes=recipe),
                    ModelSpec("broken", build=fail, recipes=recipe)]
    """)
    args = ("run", "--models", "assassin,broken,smallcnn", *GRID[2:], "--workers", "2", "--out", tmp_path / "run")
    status, out, _ = cli(*args)
    assert status == 1 and "6 job(s) failed" in " ".join(out.split())
    jobs = ferbench.load_jobs(tmp_path / "run").set_index(["model", "fold"])
    assert jobs.loc["assassin", "error"].str.startswith("WorkerDied: the worker process running this job died").all()
    assert jobs.loc["assassin", "error"].str.contains(rf"\(pid \d+ on {re.escape(socket.gethostname())}\)").all()
    assert jobs.loc["broken", "error"].str.contains("ValueError: this plugin is broken").all()
    assert_same(results(tmp_path / "run"), serial)  # smallcnn: every fold, as if nothing had happened
    assert not list((tmp_path / "run" / "claims").glob("*.json"))


@pytest.mark.slow
def test_a_worker_killed_in_a_rerun_fails_every_job_anew_naming_the_dead_worker(cli, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    install_plugin(tmp_path, "turncoat-fer", "turncoat_fer", """
        import os, signal
        import ferbench
        from ferbench.specs import ModelSpec, Recipe

        def build(num_classes, in_chans, image_size):
            if os.environ.get("TURNCOAT_KILLS"):
                os.kill(os.getpid(), signal.SIGKILL)
            raise ValueError("not today")

        @ferbench.hookimpl
        def ferbench_models():
            return [ModelSpec("turncoat", build=build, recipes={"default": Recipe(epochs=1)})]
    """)
    args = ("run", "--models", "turncoat", *GRID[2:], "--out", tmp_path / "run")
    assert cli(*args)[0] == 1  # in this process: three failed jobs
    paths = sorted((tmp_path / "run" / "jobs").rglob("fold-*.json"))
    before = {path: path.read_bytes() for path in paths}
    assert len(paths) == 3 and all(b"ValueError: not today" in data for data in before.values())
    # Two workers die on folds 0 and 1 while fold 2, failed before, has not started.
    monkeypatch.setenv("TURNCOAT_KILLS", "1")
    status, out, _ = cli(*args, "--workers", "2")
    assert status == 1 and "3 job(s) failed" in " ".join(out.split())
    assert "not today" not in out, "the failure of the earlier run was reported as this run's"
    dead = re.compile(r"WorkerDied: the worker process running this job died .*"
                      rf"\(pid (\d+) on {re.escape(socket.gethostname())}\)")
    pids = set()
    for path in paths:
        assert path.read_bytes() != before[path], f"{path.name} was not rerun"
        pids.add(dead.match(json.loads(path.read_text())["error"]).group(1))
    assert len(pids) == 3 and str(os.getpid()) not in pids
    assert not list((tmp_path / "run" / "claims").glob("*.json"))


WORKER = """
import sys, time
from ferbench_executors import local
if sys.argv[2] == "watchdog":
    local._parent_death_signal = lambda: False  # as where there is no prctl
local._die_with(int(sys.argv[1]))
print("ready", flush=True)
time.sleep(60)
"""

COORDINATOR = """
import os, subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), sys.argv[2]], stdout=subprocess.PIPE)
print(worker.pid, worker.stdout.readline().decode().strip(), flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["signal", "watchdog"])
def test_a_worker_dies_with_its_coordinator_and_never_starts_without_it(how):
    coordinator = subprocess.Popen([sys.executable, "-c", COORDINATOR, WORKER, how], stdout=subprocess.PIPE)
    pid, ready = coordinator.stdout.readline().decode().split()
    coordinator.kill()
    coordinator.wait()
    assert ready == "ready" and not outliving({int(pid)}, 5), f"the worker outlived its coordinator ({how})"
    orphan = subprocess.run([sys.executable, "-c", WORKER, "1", how], capture_output=True, text=True, timeout=60)
    # Told that its coordinator is pid 1, not its parent: as when the coordinator died first.
    assert orphan.returncode == 1 and "ready" not in orphan.stdout


@pytest.mark.slow
def test_coordinator_killed_mid_run_takes_its_workers_along_and_a_rerun_gives_the_serial_results(tmp_path, serial):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ferbench", "run", *GRID, "--workers", "2", "--out", str(out)]
    env = {**os.environ, "COLUMNS": "120"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("jobs/**/fold-*.json")):
        time.sleep(0.05)
    workers = children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(workers) == 2, "kill came too late to catch both workers running"
    assert not outliving(workers, 5), "worker processes outlived their coordinator"
    done = len(list(out.glob("jobs/**/fold-*.json")))
    assert 1 <= done < 3, "kill came too late to test resuming"
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert_same(results(out), serial)


def test_a_second_run_on_a_busy_run_directory_is_refused(cli, tmp_path):
    with RunStore(tmp_path / "run").lock():
        status, _, err = cli("run", *GRID, "--out", tmp_path / "run")
    assert status == 2
    assert "is in use by another `ferbench run` (pid" in err and "use another --out" in " ".join(err.split())
    assert not (tmp_path / "run" / "jobs").exists()


@pytest.mark.parametrize("args, message", [
    (("--workers", "0"), "--workers and --threads must be at least 1"),
    (("--executor", "pbs"), "unknown executor 'pbs'"),
    (("--executor", "slurm", "--executor-option", "queue=fast"), "--executor slurm has no option(s) ['queue']"),
    (("--executor", "slurm", "--executor-option", "time=soon"), "take whole numbers"),
    (("--executor-option", "oops"), "--executor-option takes KEY=VALUE"),
])
def test_bad_executor_options_are_clear_errors(cli, tmp_path, args, message):
    status, _, err = cli("run", *GRID, "--out", tmp_path / "run", *args)
    assert status == 2 and message in " ".join(err.split())


def test_compile_mode_trains_through_torch_compile_and_is_part_of_the_config(cli, tmp_path, monkeypatch):
    import torch

    modes = []

    def fake_compile(module, mode=None):
        modes.append(mode)
        return module  # the wiring is under test here, not inductor (minutes to build on a CPU)

    monkeypatch.setattr(torch, "compile", fake_compile)
    status, _, _ = cli("run", "--models", "smallcnn", "--folds", "2", "--epochs", "1", "--compile",
                       "reduce-overhead", "--out", tmp_path / "run")
    assert status == 0 and modes == ["reduce-overhead", "reduce-overhead"]
    records = [json.loads(p.read_text()) for p in (tmp_path / "run" / "jobs").rglob("fold-*.json")]
    assert {r["config"]["compile_mode"] for r in records} == {"reduce-overhead"}
    plain = Job(model="m", recipe_name="default", recipe=Recipe(precision="fp32"), dataset="d",
                fingerprint="f", protocol="subject", k=2, fold=0, run_seed=0, plan_digest="p")
    schema1 = {k: v for k, v in plain.config().items() if k not in ("compile_mode", "pretrained")}
    migrated = migrate({"schema_version": 1, "config": schema1, "config_hash": "old", "status": "failed"})
    assert migrated["config_hash"] == plain.config_hash  # results from before this option are the same job
    with pytest.raises(SystemExit):
        cli("run", "--models", "smallcnn", "--compile", "fast", "--out", tmp_path / "bad")
