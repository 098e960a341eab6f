"""`ferbench new`: scaffolded plugin packages install, are listed, and their own tests pass."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from ferbench.scaffold import scaffold
from layouts import write_image


def _run(*command, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_scaffolded_packages_install_are_listed_and_their_tests_pass(cli, tmp_path):
    for kind, name in (("model", "my-net"), ("dataset", "my-faces"), ("metric", "my_score")):
        status, out, err = cli("new", kind, name, "--dir", tmp_path)
        assert status == 0, err
    packages = sorted(p for p in tmp_path.iterdir() if p.name.startswith("ferbench-"))
    assert [p.name for p in packages] == ["ferbench-my-faces", "ferbench-my-net", "ferbench-my-score"]
    site = tmp_path / "site"  # installed here, not into the test environment, to leave it as it was
    installed = _run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                     "--target", str(site), *map(str, packages))
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listed = _run(sys.executable, "-m", "ferbench", "list", env={**env, "COLUMNS": "200"})
    assert listed.returncode == 0 and all(n in listed.stdout for n in ("my-net", "my-faces", "my_score"))
    tests = _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 *[str(p / "tests") for p in packages], env=env)
    assert tests.returncode == 0 and "3 passed" in tests.stdout, tests.stdout + tests.stderr


def test_new_refuses_to_overwrite_and_checks_names(cli, tmp_path):
    target = scaffold("model", "my-net", tmp_path)
    (target / "ferbench_my_net" / "__init__.py").write_text("# mine\n")
    status, _, err = cli("new", "model", "my-net", "--dir", tmp_path)
    assert status == 2 and "already exists; ferbench new never overwrites" in " ".join(err.split())
    assert (target / "ferbench_my_net" / "__init__.py").read_text() == "# mine\n"
    assert "model name must start with a letter" in " ".join(cli("new", "model", "../x", "--dir", tmp_path)[2].split())
    assert "a metric name becomes a result column" in " ".join(cli("new", "metric", "my-score", "--dir", tmp_path)[2].split())


def test_scaffolded_dataset_loader_is_written_with_ferbench_loading(tmp_path):
    target = scaffold("dataset", "my-faces", tmp_path)
    source = target / "ferbench_my_faces" / "__init__.py"
    assert "from ferbench.loading import" in source.read_text()
    spec = importlib.util.spec_from_file_location("ferbench_my_faces_scaffolded", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for subject in ("S1", "S2"):
        for folder in ("happy", "sadness"):
            write_image(tmp_path / "data" / folder / f"{subject}_0.png", size=(64, 64))
    (tmp_path / "data" / "happy" / "readme.txt").write_text("not an image")
    data = module.load(tmp_path / "data")
    assert data.classes == ("happiness", "sadness") and data.images.shape == (4, 48, 48, 1)
    assert sorted(set(data.subjects)) == ["S1", "S2"]
    assert any("not an image file" in note for note in data.notes)
