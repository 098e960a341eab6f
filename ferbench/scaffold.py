"""Where new plugins start: ``scaffold`` writes an installable plugin package for a model, a data
set or a metric, with the hook implemented, a documented skeleton and a test that runs it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from ferbench.data import EMOTIONS
from ferbench.errors import UserError
from ferbench.specs import check_name

KINDS = ("model", "dataset", "metric")

_PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A ferbench {kind} plugin: {name}"
requires-python = ">=3.10"
dependencies = ["ferbench"]

[project.optional-dependencies]
dev = ["pytest"]

# ferbench finds plugins through this entry-point group, exactly as it finds its own.
[project.entry-points.ferbench]
{module} = "{module}"

[tool.setuptools]
packages = ["{module}"]
'''

_MODEL = '''\
"""{name}: a ferbench model plugin. Replace ``build`` with your network.

ferbench owns everything around the network: normalisation (fitted on each fold's training
part), augmentation, the optimiser, device and precision, seeding. ``build`` only returns a
fresh module; see ``ferbench/hookspecs.py`` (``ferbench_models``) for the whole contract.
"""

from __future__ import annotations

from torch import nn

import ferbench
from ferbench.specs import Augment, ModelCard, ModelSpec, Recipe


def build(num_classes: int, in_chans: int, image_size: int) -> nn.Module:
    """A fresh, untrained network: float batches (B, in_chans, image_size, image_size), already
    normalised, to logits (B, num_classes)."""
    return nn.Sequential(
        nn.Conv2d(in_chans, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64, num_classes),
    )


@ferbench.hookimpl
def ferbench_models() -> list[ModelSpec]:
    """The models this package provides."""
    return [ModelSpec(
        name="{name}",
        build=build,
        description="describe {name} in one line",
        recipes={{
            # How the model is trained by default; `ferbench run --recipe NAME` picks another.
            "default": Recipe(optimizer="adam", lr=1e-3, weight_decay=1e-4, epochs=20, batch_size=32,
                              schedule="cosine", augment=Augment(hflip=True, rotate=10, crop=0.1)),
        }},
        # Parameters and FLOPs are computed by ferbench; say what the weights start from.
        card=ModelCard(pretraining="none", licence="MIT", citation=""),
    )]
'''

_MODEL_TEST = '''\
"""{name} trains and is scored on ferbench's synthetic set (two folds, one epoch)."""

import ferbench


def test_{module}_runs_on_the_synthetic_set(tmp_path):
    outcome = ferbench.run_benchmark("{name}", "synthetic", folds=2, out=tmp_path / "run",
                                     overrides={{"epochs": 1}})
    assert not outcome.failed, outcome.failed[0].error if outcome.failed else ""
    assert outcome.jobs["accuracy"].between(0, 1).all() and len(outcome.jobs) == 2
'''

_DATASET = '''\
"""{name}: a ferbench data set plugin. Adapt ``load`` to your files.

This skeleton reads ``ROOT/<class>/<subject>_<anything>.png`` (or another image format; class
folders named with ferbench's vocabulary: {emotions}; or a common alias such as happy, angry,
sad), taking the subject from the file name so that the default ``subject`` protocol keeps each
person on one side of every fold. The helpers come from ``ferbench.loading``, whose docstring
is the loader author's manual: they decode each file once into the image cache, convert and
resize it, and count what they skip in the data set's notes. See ``ferbench/hookspecs.py``
(``ferbench_datasets``) for the whole contract.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ferbench
from ferbench.data import Dataset
from ferbench.loading import LoadReport, build_dataset, folder_tree
from ferbench.specs import DatasetSpec

NAME = "{name}"
SIZE = 48


def load(root: Path, strict: bool = False, verify: bool = False) -> Dataset:
    """Every ``ROOT/<class>/<image>``, as grey SIZE×SIZE images. ``strict`` turns skipped files
    into errors; ``verify`` checks the image cache against the files' contents."""
    root = Path(root)
    report = LoadReport(NAME, strict)
    classes, files, labels = folder_tree(root, NAME, report)
    subjects = [path.stem.split("_")[0] for path in files]
    return build_dataset(NAME, classes, files, root, {{"labels": np.array(labels), "subjects": subjects}},
                         channels=1, size=(SIZE, SIZE), report=report, verify=verify)


@ferbench.hookimpl
def ferbench_datasets() -> list[DatasetSpec]:
    """The data sets this package provides."""
    return [DatasetSpec(name=NAME, load=load, image_size=(SIZE, SIZE), channels=1, has_subjects=True,
                        description="describe {name} in one line", citation="", licence="")]
'''

_DATASET_TEST = '''\
"""{name} loads a folder in its layout, and a model trains on it under subject-wise folds."""

import numpy as np
from PIL import Image

import ferbench


def test_{module}_loads_and_runs(tmp_path):
    rng = np.random.default_rng(0)
    for subject in range(6):
        for label in ("happiness", "surprise", "sadness"):
            folder = tmp_path / "data" / label
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (48, 48), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"S{{subject}}_{{label}}.png")
    data = ferbench.get_dataset("{name}", root=tmp_path / "data")
    assert len(data) == 18 and len(set(data.subjects)) == 6
    outcome = ferbench.run_benchmark("smallcnn", "{name}", folds=3, out=tmp_path / "run",
                                     data_dirs={{"{name}": tmp_path / "data"}}, overrides={{"epochs": 1}})
    assert not outcome.failed and len(outcome.jobs) == 3
'''

_METRIC = '''\
"""{name}: a ferbench metric plugin. Replace ``score`` with your metric.

Every registered metric is computed for every job from the test labels and the predicted
probabilities; see ``ferbench/hookspecs.py`` (``ferbench_metrics``) for the contract.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score

import ferbench
from ferbench.specs import MetricSpec


def score(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Int labels (N,) and probabilities (N, n_classes) of one test fold -> a float (NaN where
    the metric is undefined on that fold)."""
    return float(balanced_accuracy_score(y_true, proba.argmax(1)))


@ferbench.hookimpl
def ferbench_metrics() -> list[MetricSpec]:
    """The metrics this package provides."""
    return [MetricSpec("{name}", score, higher_is_better=True, description="describe {name} in one line")]
'''

_METRIC_TEST = '''\
"""{name} is computed for every job of a run on the synthetic set."""

import ferbench


def test_{module}_is_scored(tmp_path):
    outcome = ferbench.run_benchmark("smallcnn", "synthetic", folds=2, out=tmp_path / "run",
                                     overrides={{"epochs": 1}})
    assert not outcome.failed and outcome.jobs["{name}"].between(0, 1).all()
'''

_TEMPLATES = {"model": (_MODEL, _MODEL_TEST), "dataset": (_DATASET, _DATASET_TEST),
              "metric": (_METRIC, _METRIC_TEST)}


def module_name(name: str) -> str:
    """The import name of the plugin package for ``name``: ``ferbench_`` and the name in snake case."""
    return "ferbench_" + re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def scaffold(kind: str, name: str, directory: str | Path = ".") -> Path:
    """Write the plugin package for a new ``kind`` (model, dataset or metric) called ``name``
    into ``directory/<distribution name>``; returns that folder. Refuses to overwrite."""
    if kind not in KINDS:
        raise UserError(f"ferbench new makes one of {', '.join(KINDS)}, not {kind!r}.")
    try:
        check_name(name, kind)
    except ValueError as error:
        raise UserError(str(error)) from None
    module = module_name(name)
    if kind == "metric" and not name.isidentifier():
        raise UserError(f"a metric name becomes a result column: use letters, digits and '_' "
                        f"(e.g. {module[len('ferbench_'):]!r}), not {name!r}.")
    dist = module.replace("_", "-")
    target = Path(directory) / dist
    if target.exists():
        raise UserError(f"{target} already exists; ferbench new never overwrites. Pick another name "
                        "or --dir, or remove that folder.")
    fields = {"name": name, "module": module, "dist": dist, "kind": kind, "emotions": ", ".join(EMOTIONS)}
    source, test = _TEMPLATES[kind]
    files = {
        "pyproject.toml": _PYPROJECT.format(**fields),
        f"{module}/__init__.py": source.format(**fields),
        f"tests/test_{module}.py": test.format(**fields),
        "README.md": textwrap.dedent(f"""\
            # {dist}

            A ferbench {kind} plugin providing `{name}`.

            ```bash
            pip install -e '.[dev]'   # registers it through the `ferbench` entry-point group
            ferbench list {kind}s      # {name} is listed
            pytest                    # runs it on ferbench's synthetic set
            ```
            """),
    }
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target
