"""What a job is, and every name and number derived from it: plan keys, plan digests, seeds,
the configuration and its hash. Plain data, no torch: the read path imports this module.

A job is one (model, recipe, data set, fold of one fold plan). Its configuration is every input
that decides its result; two jobs with the same configuration hash are the same job, wherever
and whenever they run (invariant 4 of an honest evaluation).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ferbench.specs import Recipe


class Assignment(Protocol):
    """What a plan digest is made of (a :class:`ferbench.protocols.FoldPlan` has both)."""

    fingerprint: str
    test_fold: np.ndarray


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from any parts, stable across processes and platforms (not ``hash()``)."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def plan_folder(protocol: str, k: int, seed: int | str) -> str:
    """``<protocol>-k<k>-s<seed>``: a fold plan's name below its data set's folder (job folders),
    and the default run directory's name (``seed`` is text there for several seeds, ``0-2``)."""
    return f"{protocol}-k{k}-s{seed}"


def plan_key(dataset: str, protocol: str, k: int, seed: int | str) -> str:
    """The name of a fold plan in a run directory: ``<dataset>-<protocol>-k<k>-s<seed>`` (and of a
    board merging several seeds, ``seed`` then their text: ``0+1+2``).

    Made here only: fold plans, leakage reports and boards are filed under it.
    """
    return f"{dataset}-{plan_folder(protocol, k, seed)}"


def plan_digest(plan: Assignment) -> str:
    """SHA-256 of a fold plan's assignment and data set fingerprint."""
    digest = hashlib.sha256(plan.fingerprint.encode())
    digest.update(plan.test_fold.astype("<i8").tobytes())
    return digest.hexdigest()


def config_hash(config: dict[str, Any]) -> str:
    """SHA-256 of a job configuration (:meth:`Job.config`) in canonical JSON."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Init:
    """A job's starting weights: a file written by ``ferbench pretrain`` (``--init``).

    Its identity is the file's SHA-256 and what its card says it was trained as and on: the
    model, the recipe, the data set (name and fingerprint) and the rows. ``path`` is where this
    machine reads it; it is not part of a job's configuration (moving the file changes nothing).
    """

    sha256: str
    model: str
    recipe_name: str
    dataset: str
    fingerprint: str
    rows_sha256: str
    path: str = field(default="", compare=False)

    def config(self) -> dict[str, Any]:
        """The starting point as a job's configuration holds it (``path`` left out)."""
        return {"sha256": self.sha256, "model": self.model, "recipe_name": self.recipe_name,
                "dataset": self.dataset, "fingerprint": self.fingerprint, "rows_sha256": self.rows_sha256}

    @property
    def tag(self) -> str:
        """``<data set>-<first 10 hex digits of the file's hash>``: names its folders and reports."""
        return f"{self.dataset}-{self.sha256[:10]}"


def model_label(model: str, init: dict[str, Any] | None) -> str:
    """A model as tables name it: ``timm/resnet18``, or ``timm/resnet18 ← ferplus`` when it
    started from weights pretrained on FER+ (a pretrained and a from-scratch model are two rows)."""
    return model if not init else f"{model} ← {init['dataset']}"


@dataclass(frozen=True)
class Job:
    """What to run: one model on one fold of one data set's fold plan."""

    model: str
    recipe_name: str
    recipe: Recipe
    dataset: str
    fingerprint: str
    protocol: str
    k: int
    fold: int
    run_seed: int
    plan_digest: str
    pretrained: bool = False
    compile_mode: str = "none"
    init: Init | None = None
    stacked: bool = False

    @property
    def seed(self) -> int:
        """The job's seed: from (run seed, data set, fold) only, so it is the same wherever it runs."""
        return derive_seed(self.run_seed, self.dataset, self.fold)

    @property
    def plan_key(self) -> str:
        """The key of the fold plan this job is a fold of."""
        return plan_key(self.dataset, self.protocol, self.k, self.run_seed)

    def config(self) -> dict[str, Any]:
        """Everything that determines the result, as plain JSON: every field, and ``stacked``
        (trained side by side with every other fold of its plan, ``--stacked``) where it is set,
        so the results of runs without it keep their hashes."""
        config = {
            "model": self.model,
            "recipe_name": self.recipe_name,
            "recipe": self.recipe.to_dict(),
            "dataset": self.dataset,
            "dataset_fingerprint": self.fingerprint,
            "protocol": self.protocol,
            "k": self.k,
            "fold": self.fold,
            "run_seed": self.run_seed,
            "job_seed": self.seed,
            "plan_digest": self.plan_digest,
            "pretrained": self.pretrained,
            "compile_mode": self.compile_mode,
            "init": None if self.init is None else self.init.config(),
        }
        return {**config, "stacked": True} if self.stacked else config

    @property
    def config_hash(self) -> str:
        """SHA-256 of :meth:`config`; a stored result counts as done only if this matches."""
        return config_hash(self.config())
