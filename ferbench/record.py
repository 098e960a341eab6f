"""The record of one job: every field ferbench stores for it, typed, and the one place that
writes and reads ``fold-<i>.json``.

A record is written by the job's process (``ferbench.engine.job.run_job``), committed by the
store, and read back by ``show``, ``load_*`` and ``report``. Everything a report needs is in it
(metric directions and functions, class names, the leakage verdict), so a report renders from
what the run stored, not from what is installed when it runs. No torch here.

Records carry :data:`SCHEMA_VERSION`. Older records are migrated when read (see
:data:`MIGRATIONS`), never rewritten on disk, so published run directories keep loading.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from ferbench.errors import UserError
from ferbench.job import Job, config_hash, model_label, plan_folder, plan_key

SCHEMA_VERSION = 3

Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class MetricInfo:
    """How to read one stored metric: its direction, and the function that computed it
    (``module:qualname``, None where it cannot be imported by name), so pooled predictions can
    be re-scored with the same function."""

    higher_is_better: bool = True
    function: str | None = None


@dataclass(frozen=True)
class Predictions:
    """The job's ``.npz`` (test index, labels, probabilities) as the record names it.

    ``tag`` is written inside the npz too (the job's config hash when it was written); ``bytes``
    and ``sha256`` are the file's size and content hash (None in records migrated from schema 1,
    which did not store them).
    """

    file: str
    tag: str
    bytes: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class FittedStatistic:
    """One statistic the training code fitted on data, with the rows it was fitted on.

    ``rows`` counts the data set rows; ``rows_sha256`` hashes them (sorted, int64 little
    endian) so two records can be compared; ``test_rows`` counts the fold's test rows among
    them (anything above 0 is a leak, and the job is marked leaky).
    """

    statistic: str
    rows: int
    test_rows: int
    rows_sha256: str


@dataclass
class JobRecord:
    """Everything stored about one job (``fold-<i>.json``).

    Identity and outcome: ``config`` (the job's configuration, :meth:`ferbench.job.Job.config`),
    ``config_hash``, ``status`` (``ok`` or ``failed``), ``metrics`` (name -> value on the test
    part), ``error`` (the exception and traceback of a failed job), ``metric_errors`` (a metric
    that raised: its error; its value is NaN).

    How to read it: ``classes`` (class names, in label order), ``metric_info`` (per metric:
    direction and function), ``predictions`` (the npz; None for a failed job).

    Honesty: ``leaky_protocol`` (the protocol lets a subject or clip reach both sides),
    ``leaky`` (the audit, pretraining overlap or the fitted-rows check found a leak),
    ``leakage`` (check name -> ``clean``/``leak``/..., from the plan's audit), ``cross_dataset``
    (why the model's pretraining data holds this data set's images), ``fitted`` (what ``fit``
    fitted, on which rows), ``sanity_band`` (the data set's best credible published result),
    ``selection`` and ``validation`` (which weights were evaluated, chosen on what).

    How it ran: ``started``/``finished`` (UTC, ISO 8601), ``device``, ``threads``,
    ``precision`` (resolved) and ``precision_requested``, ``channels_last``, ``versions``,
    ``oom_retry`` (the batch it fell back to), ``clips`` (clip models: lengths and the rule),
    ``face_crop`` (the face step's settings and counts).

    What it produced: ``n_train``, ``n_test``, ``curves`` (name -> one value per epoch:
    ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy``), ``normalisation``
    (fitted mean/std), ``card`` (the model card at the input used: parameters, FLOPs, ...),
    ``init`` (the card of the weights it started from, ``--init``, and what happened to the head),
    ``parameters``, ``resumed_after`` (the epoch a killed job's training resumed after, from its
    checkpoint; None: trained in one go), ``stacked`` (``--stacked``: the folds trained side by
    side, how many were, and why not where they fell back to one at a time; None: trained
    alone), ``fit_seconds`` (a stacked fit's time shared out evenly), ``predict_seconds``.

    ``path`` and ``stale`` are not stored: where the record was read from, and whether its fold
    plan was replaced since (``--force``).
    """

    config: dict[str, Any]
    config_hash: str
    status: Status
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    metric_errors: dict[str, str] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    metric_info: dict[str, MetricInfo] = field(default_factory=dict)
    predictions: Predictions | None = None
    leaky_protocol: bool = False
    leaky: bool = False
    leakage: dict[str, str] = field(default_factory=dict)
    cross_dataset: str | None = None
    fitted: list[FittedStatistic] = field(default_factory=list)
    sanity_band: dict[str, Any] | None = None
    selection: str | None = None
    validation: dict[str, Any] | None = None
    started: str | None = None
    finished: str | None = None
    device: str | None = None
    threads: int | None = None
    precision: str | None = None
    precision_requested: str | None = None
    channels_last: bool | None = None
    versions: dict[str, str] = field(default_factory=dict)
    oom_retry: dict[str, Any] | None = None
    clips: dict[str, Any] | None = None
    face_crop: dict[str, Any] | None = None
    n_train: int | None = None
    n_test: int | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)
    normalisation: dict[str, Any] | None = None
    card: dict[str, Any] = field(default_factory=dict)
    init: dict[str, Any] | None = None
    parameters: int | None = None
    resumed_after: int | None = None
    stacked: dict[str, Any] | None = None
    fit_seconds: float | None = None
    predict_seconds: float | None = None
    schema_version: int = SCHEMA_VERSION
    path: Path | None = field(default=None, compare=False)
    stale: bool = field(default=False, compare=False)

    # -- identity -------------------------------------------------------------------------
    @property
    def model(self) -> str:
        """The model's registered name."""
        return self.config["model"]

    @property
    def recipe_name(self) -> str:
        """The recipe's name (``default``, ``paper``, ...)."""
        return self.config["recipe_name"]

    @property
    def dataset(self) -> str:
        """The data set's registered name."""
        return self.config["dataset"]

    @property
    def protocol(self) -> str:
        """The fold protocol."""
        return self.config["protocol"]

    @property
    def k(self) -> int:
        """The number of folds of the plan."""
        return self.config["k"]

    @property
    def fold(self) -> int:
        """The fold this job tested on."""
        return self.config["fold"]

    @property
    def run_seed(self) -> int:
        """The run's seed (the fold plan's)."""
        return self.config["run_seed"]

    @property
    def plan_key(self) -> str:
        """The key of the fold plan this job is a fold of."""
        return plan_key(self.dataset, self.protocol, self.k, self.run_seed)

    @property
    def plan_digest(self) -> str:
        """The digest of the fold plan the job ran on."""
        return self.config["plan_digest"]

    @property
    def ok(self) -> bool:
        """Whether the job succeeded."""
        return self.status == "ok"

    @property
    def run_dir(self) -> Path | None:
        """The run directory the record was read from."""
        if self.path is None:
            return None
        return self.path.parents[len(Path(job_folder(self)).parts)]

    # -- serialisation --------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The model as tables name it (``timm/resnet18 ← ferplus`` from pretrained weights)."""
        return model_label(self.model, self.config.get("init"))

    def to_dict(self) -> dict[str, Any]:
        """The stored form (plain JSON; ``path`` and ``stale`` left out)."""
        stored = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _NOT_STORED}
        stored["metric_info"] = {name: dataclasses.asdict(info) for name, info in self.metric_info.items()}
        stored["predictions"] = None if self.predictions is None else dataclasses.asdict(self.predictions)
        stored["fitted"] = [dataclasses.asdict(f) for f in self.fitted]
        return stored

    def to_json(self) -> str:
        """The stored form as JSON text."""
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, stored: dict[str, Any], path: Path | None = None) -> JobRecord:
        """A record from its stored form, migrated to :data:`SCHEMA_VERSION` first.

        Raises :class:`UserError` naming ``path`` when the record is from a newer ferbench or
        is not a job record.
        """
        where = path or "a job record"
        stored = migrate(dict(stored), where)
        names = {f.name for f in dataclasses.fields(cls)} - _NOT_STORED
        unknown = set(stored) - names
        if unknown:
            raise UserError(f"{where} has field(s) {sorted(unknown)} that this ferbench does not know; "
                            "read it with the ferbench version that wrote it.")
        try:
            record = cls(**stored, path=path)
        except TypeError as error:
            raise UserError(f"{where} is not a job record ({error}); delete it and re-run the same "
                            "`ferbench run` command to redo that job.") from None
        record.metric_info = {name: MetricInfo(**info) for name, info in record.metric_info.items()}
        if record.predictions is not None:
            record.predictions = Predictions(**record.predictions)
        record.fitted = [FittedStatistic(**f) for f in record.fitted]
        return record

    @classmethod
    def read(cls, path: Path) -> JobRecord:
        """Read and migrate ``path``; a :class:`UserError` naming the file and the fix if it is
        unreadable."""
        try:
            stored = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UserError(f"{path} is not valid JSON ({error}); delete it and re-run the same "
                            "`ferbench run` command to redo that job.") from None
        if not isinstance(stored, dict):
            raise UserError(f"{path} is not a job record; delete it and re-run to redo that job.")
        return cls.from_dict(stored, path)


_NOT_STORED = {"path", "stale"}


def new_record(job: Job, status: Status = "failed", error: str | None = None, **fields: Any) -> JobRecord:
    """A record of ``job`` with only its identity, status and ``fields`` set."""
    return JobRecord(config=job.config(), config_hash=job.config_hash, status=status, error=error, **fields)


@dataclass
class JobResult:
    """What a job's process hands the store: the job and its record, and for a successful job
    the test part's data set rows, true labels and predicted probabilities (N, classes)."""

    job: Job
    record: JobRecord
    test_index: np.ndarray | None = None
    y_true: np.ndarray | None = None
    proba: np.ndarray | None = None

    @property
    def status(self) -> Status:
        """``ok`` or ``failed``."""
        return self.record.status

    @property
    def metrics(self) -> dict[str, float]:
        """The record's metrics."""
        return self.record.metrics

    @property
    def error(self) -> str | None:
        """The record's error (a failed job's exception and traceback)."""
        return self.record.error


def _safe(name: str) -> str:
    return name.replace("/", "--")


def job_folder(record_or_config: JobRecord | dict[str, Any]) -> str:
    """``jobs/<model>/<dataset>/<plan>/<recipe>``: where a job's files live in a run directory
    (``<model>--from-<data set>-<hash>`` for a model started from ``--init`` weights)."""
    config = record_or_config.config if isinstance(record_or_config, JobRecord) else record_or_config
    plan = plan_folder(config["protocol"], config["k"], config["run_seed"])
    init = config.get("init")
    model = _safe(config["model"]) + (f"--from-{init['dataset']}-{init['sha256'][:10]}" if init else "")
    return f"jobs/{model}/{_safe(config['dataset'])}/{plan}/{_safe(config['recipe_name'])}"


# -- migrations ---------------------------------------------------------------------------

#: Recipe fields added to schema 1 after its first results, with the value those results ran
#: with (schema 1 left them out of the configuration at that value, to keep its hash).
_SCHEMA1_RECIPE_DEFAULTS = {"precision": "fp32", "selection": "last", "val_fraction": 0.1, "patience": 0}
#: Job fields schema 1 stored only when set, with their unset value.
_SCHEMA1_JOB_DEFAULTS = {"pretrained": False, "compile_mode": "none"}
#: The metrics every schema-1 result was scored with (ferbench's built-in metric plugin).
_SCHEMA1_METRICS = {name: MetricInfo(True, f"ferbench_metrics.classification:{name}")
                    for name in ("accuracy", "macro_f1", "macro_precision", "macro_recall", "roc_auc_ovr")}


def _from_schema1(stored: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 -> 2: every configuration field present (the hash recomputed over all of them),
    the npz named with the hash it carries, metric directions and functions stored."""
    config = dict(stored["config"])
    config["recipe"] = {**_SCHEMA1_RECIPE_DEFAULTS, **config["recipe"]}
    config = {**config, **{k: v for k, v in _SCHEMA1_JOB_DEFAULTS.items() if k not in config}}
    old_hash = stored["config_hash"]
    stored["config"] = config
    stored["config_hash"] = config_hash(config)
    stored["predictions"] = ({"file": f"fold-{config['fold']}.npz", "tag": old_hash}
                             if stored["status"] == "ok" else None)
    stored["metric_info"] = {name: dataclasses.asdict(_SCHEMA1_METRICS.get(name, MetricInfo(True, None)))
                             for name in stored.get("metrics", {})}
    stored["schema_version"] = 2
    return stored


def _from_schema2(stored: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 -> 3: the configuration gains ``init`` (starting weights; None before it
    existed), the hash recomputed; the predictions keep the tag they were written with."""
    config = {**stored["config"], "init": None}
    return {**stored, "config": config, "config_hash": config_hash(config), "schema_version": 3}


#: schema version -> the function that lifts a stored record of that version by one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_schema1, 2: _from_schema2}


def migrate(stored: dict[str, Any], where: object = "a job record") -> dict[str, Any]:
    """``stored`` (a record's JSON) lifted to :data:`SCHEMA_VERSION`, one migration at a time."""
    version = stored.get("schema_version")
    if not isinstance(version, int) or "config" not in stored:
        raise UserError(f"{where} is not a ferbench job record (no schema_version or config); "
                        "delete it and re-run to redo that job.")
    if version > SCHEMA_VERSION:
        raise UserError(f"{where} has result schema {version}; this ferbench reads schema "
                        f"{SCHEMA_VERSION} and older. Upgrade ferbench to read it.")
    while version < SCHEMA_VERSION:
        stored = MIGRATIONS[version](stored)
        version = stored["schema_version"]
    return stored
