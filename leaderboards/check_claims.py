"""Recompute every number the leaderboard READMEs quote, from the committed run data, and check
that each README states it.

    python leaderboards/check_claims.py

A claim is a README's wording with ``{}`` where each number goes, and the numbers as computed
here from ``leaderboards/<board>/run`` (job records, stored predictions, fold plans and leakage
reports), formatted the way the README writes them; what a claim says besides numbers (an order,
"significant for no model") is a condition on the same data. A claim passes when the README
holds its wording with those numbers and its condition holds. One line is printed per claim
(``ok``, or ``MISMATCH`` with what the README has and what the data give); the exit status is 1
if any claim fails.

Claims about the data sets themselves (CK+48's sequences, FER+'s ``label.csv`` test set, the
RAF-DB label file) read ``../shared/data`` (relative to the repository root) and are skipped
when it is absent. Figures quoted from the seed paper or other publications (its 100 % and
99.96 %, its Table 1 counts, the ROC AUCs it reports, its 200 epochs) are quotes, not
measurements, and are not checked.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from ferbench import stats
from ferbench.job import Init
from ferbench.leakage.report import Check, LeakageReport
from ferbench.protocols import HELD_OUT, PURGED, FoldPlan
from ferbench.record import JobRecord
from ferbench.report.collect import row_label
from ferbench.store import RunStore, load_plans, load_records, read_predictions

BOARDS = Path(__file__).resolve().parent
DATA = BOARDS.parent.parent / "shared" / "data"

TOP, CK, FP, SYN = "README.md", "ckplus48/README.md", "ferplus/README.md", "synthetic-quick/README.md"
LC = "ferplus-label-csv/README.md"
FUSION, R18, R50, CONVNEXT, SMALL = ("res-bilstm-fusion", "timm/resnet18", "timm/resnet50",
                                     "timm/convnext_atto", "smallcnn")
#: The CK+48 models that fitted their training images, and the three that did not.
FITTED = [R18, R50, FUSION, CONVNEXT, SMALL]
UNDERFITTED = ["timm/efficientnet_b0", "timm/vit_tiny_patch16_224", "timm/mobilenetv3_large_100"]
DEDUP = [R18, FUSION, CONVNEXT, SMALL]  # the CK+48 models also run under the dedup protocol
#: The CK+48 models run on three fold plans (seeds 0, 1, 2) under the image and subject protocols
#: (timm/resnet18's in repeats-resnet18/, the others' in repeats/).
REPEATED = [FUSION, R18, SMALL]
#: The rows run with seeds 0, 1 and 2 (three fold plans; on FER+'s one split, three training seeds), by
#: board and protocol; every other row with seed 0.
THREE_PLANS = {"ckplus48": {"image": REPEATED, "subject": REPEATED, "dedup": [FUSION, R18]},
               "ferplus": {"official": [FUSION, R18]}}
RESAMPLES = 9999  # bootstrap resamples of subjects, as the boards draw them
FERPLUS = [FUSION, R18, CONVNEXT]
#: The seed paper's Table 1 CK+ counts per class: a quote, the subject of a claim.
PAPER_CKPLUS = {"anger": 45, "contempt": 18, "disgust": 59, "fear": 25, "happiness": 69, "sadness": 28,
                "surprise": 25}


# --------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """One statement of a README: its wording with ``{}`` for each number, the numbers as
    computed here (formatted as the README writes them), and whether the data bear out what the
    statement says besides numbers."""

    readme: str  # path under leaderboards/
    wording: str
    values: tuple[str, ...] = ()
    holds: bool = True

    @property
    def expected(self) -> str:
        """The statement as the data say it."""
        return self.wording.format(*self.values)


#: What stands where a claim's wording has ``{}``: a number as the READMEs write them, else a word.
NUMBER = r"([−+<]?\d[\d.,]*\d|[−+<]?\d|\S+?)"


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def check(claim: Claim, readme: str) -> str | None:
    """None when the README text ``readme`` states ``claim`` and its condition holds, else
    what is wrong (with the README's numbers and the data's, where the wording is found)."""
    text = _squash(readme)
    if _squash(claim.expected) in text:
        return None if claim.holds else "the README states it, but the data do not bear it out"
    pattern = re.escape(_squash(claim.wording)).replace(r"\{\}", NUMBER)
    found = re.search(pattern, text)
    if found is None or not claim.values:
        return f'the README does not say "{claim.expected}"'
    return f"the README has {' | '.join(found.groups())}; the data give {' | '.join(claim.values)}"


# --------------------------------------------------------------------------- formatting


def pct(x: float, digits: int = 1) -> str:
    """A share as a percentage, as the tables write it (0.8144 -> '81.4')."""
    return f"{100 * x:.{digits}f}"


def signed(points: float, digits: int = 1) -> str:
    """Points with their sign, a minus sign for negatives (-0.84 -> '−0.8'; a value that rounds to
    zero is '0.0')."""
    text = f"{points:+.{digits}f}"
    return text[1:] if float(text) == 0 else text.replace("-", "−")


def count(n: int) -> str:
    """An integer with thousands separators (3152 -> '3,152')."""
    return f"{n:,}"


def pvalue(p: float) -> str:
    """A p-value as the READMEs write it: '<0.001', '1', or three decimals."""
    return "<0.001" if p < 0.001 else "1" if p == 1 else f"{p:.3f}"


def scientific(p: float) -> str:
    """A small p-value in short scientific notation (1.83e-08 -> '1.8e-8')."""
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def span(values: Iterable[float], fmt: Callable[[float], str]) -> tuple[str, str]:
    """The smallest and the largest of ``values``, each formatted."""
    values = list(values)
    return fmt(min(values)), fmt(max(values))


def whole(x: float) -> str:
    """A number rounded to a whole (91.7 -> '92')."""
    return f"{x:.0f}"


def decimal(x: float) -> str:
    """A number with one decimal (2.131 -> '2.1')."""
    return f"{x:.1f}"


def md(model: str) -> str:
    """A model name as the README tables escape it."""
    return model.replace("_", "\\_")


# --------------------------------------------------------------------------- run data


#: Where a board's page names the run directories it was made from.
SOURCES = re.compile(r"Generated \S+ by ferbench \S+ from (.+?)\.</p>")


class Run:
    """The committed run data of one board, from the run directories its page names
    (``run/``, and ``paper-run/`` or ``repeats/`` beside it): its successful job records, their
    pooled test predictions, and its fold plans and leakage reports, by protocol and seed
    (``plans``: the seed-0 plan of each protocol)."""

    def __init__(self, board: str) -> None:
        self.board = board
        page = BOARDS / board / "index.html"
        found = SOURCES.search(page.read_text()) if page.is_file() else None
        if found is None:
            raise SystemExit(f"{page} does not name its run directories; regenerate it with `ferbench report`.")
        self.folders = [BOARDS.parent / source for source in found.group(1).split(", ")]
        self.folder = self.folders[0]
        for folder in self.folders:
            if not (folder / "jobs").is_dir():
                raise SystemExit(f"{folder} holds no job results; restore the committed run data "
                                 f"(git checkout -- {folder.relative_to(BOARDS.parent)}).")
        self.records = [r for folder in self.folders for r in load_records(folder) if r.ok and not r.stale]
        self.all_plans: dict[tuple[str, int], tuple[FoldPlan, Path]] = {
            (plan.protocol, plan.seed): (plan, folder) for folder in self.folders[::-1]
            for plan in load_plans(folder).values()}
        self.plans: dict[str, FoldPlan] = {protocol: plan for (protocol, seed), (plan, _) in self.all_plans.items()
                                           if seed == 0}
        self._pooled: dict[tuple[str, str, int], pd.DataFrame] = {}
        self._pairwise: dict[str, pd.DataFrame] = {}

    def seeds(self, model: str, protocol: str) -> list[int]:
        """The fold plans (seeds) ``model`` ran on under ``protocol``."""
        return sorted({r.run_seed for r in self.records if row_label(r) == model and r.protocol == protocol})

    def jobs(self, model: str, protocol: str, seed: int = 0) -> list[JobRecord]:
        """The records of ``model`` under ``protocol``'s fold plan of ``seed``, by fold."""
        found = sorted((r for r in self.records if row_label(r) == model and r.protocol == protocol
                        and r.run_seed == seed), key=lambda r: r.fold)
        if not found:
            raise SystemExit(f"{self.folder} has no result of {model} under {protocol} (seed {seed}): a claim "
                             "in leaderboards/check_claims.py names a run that is not committed; correct it.")
        return found

    def models(self, protocol: str) -> list[str]:
        """The models with results under ``protocol``'s seed-0 fold plan."""
        return sorted({row_label(r) for r in self.records if r.protocol == protocol and r.run_seed == 0})

    def scratch(self, protocol: str) -> list[str]:
        """The models under ``protocol`` trained from scratch (not from ``--init`` weights) with
        their default recipe (a row of another recipe is labelled ``model (recipe)``)."""
        return [m for m in self.models(protocol) if "←" not in m and "(" not in m]

    def folds(self, model: str, protocol: str, metric: str = "accuracy", seed: int = 0) -> pd.Series:
        """One metric of every fold of the fold plan of ``seed``."""
        return pd.Series([r.metrics[metric] for r in self.jobs(model, protocol, seed)], dtype=float)

    def mean(self, model: str, protocol: str) -> float:
        """Mean accuracy over the folds of the seed-0 plan."""
        return float(self.folds(model, protocol).mean())

    def every_fold(self, model: str, protocol: str) -> pd.Series:
        """Accuracy on every fold of every fold plan ``model`` ran on under ``protocol``."""
        return pd.concat([self.folds(model, protocol, seed=seed) for seed in self.seeds(model, protocol)],
                         ignore_index=True)

    def pooled(self, model: str, protocol: str, seed: int = 0) -> pd.DataFrame:
        """The test predictions of every fold of the plan of ``seed``, ordered by data set row,
        with ``correct``."""
        key = (model, protocol, seed)
        if key not in self._pooled:
            frame = pd.concat([read_predictions(r)[0] for r in self.jobs(model, protocol, seed)])
            frame = frame.sort_values("index").reset_index(drop=True)
            self._pooled[key] = frame.assign(correct=(frame["y_true"] == frame["y_pred"]).to_numpy())
        return self._pooled[key]

    def paired(self, first: tuple[str, str], second: tuple[str, str], seeds: list[int] | None = None
               ) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray | None]:
        """The correctness of two (model, protocol) rows, paired image by image within each seed
        (fold plan, or training seed of one split) both ran with (or of ``seeds``), the seeds
        stacked: the seeds, the (images × 2) matrix, each row's cluster under the second row's plan
        (subject, copy group), and each row's seed for :func:`ferbench.stats.cluster_bootstrap`
        (None for one seed)."""
        seeds = seeds or sorted(set(self.seeds(*first)) & set(self.seeds(*second)))
        parts = []
        for seed in seeds:
            a, b = self.pooled(*first, seed), self.pooled(*second, seed)
            if not a["index"].equals(b["index"]):
                raise SystemExit(f"{first} and {second} of seed {seed} were not tested on the same images, so they "
                                 "cannot be paired.")
            parts.append(np.column_stack([a["correct"], b["correct"]]).astype(float))
        rows = self.pooled(*first, seeds[0])["index"].to_numpy()
        repeats = np.repeat(seeds, [len(part) for part in parts]) if len(seeds) > 1 else None
        return seeds, np.concatenate(parts), np.tile(self.clusters(second[1], rows), len(seeds)), repeats

    def per_plan(self, model: str, protocol: str, metric: str = "accuracy") -> np.ndarray:
        """``model``'s mean ``metric`` on each fold plan (seed) it ran on under ``protocol``, in %."""
        return np.array([100 * self.folds(model, protocol, metric, seed).mean() for seed in self.seeds(model, protocol)])

    def clusters(self, protocol: str, rows: np.ndarray) -> np.ndarray:
        """The cluster (subject, copy group) of each data set row, as the fold plan stores it."""
        return self.plans[protocol].test_clusters(rows)[1]

    def audit(self, protocol: str) -> LeakageReport:
        """The stored leakage report of ``protocol``'s fold plan."""
        plan, folder = self.all_plans[protocol, 0]
        report = RunStore(folder).read_report(plan)
        if report is None:
            raise SystemExit(f"{folder / 'leakage'} has no report for {plan.key}; "
                             f"restore the committed run data (git checkout -- leaderboards/{self.board}/run).")
        return report

    def pairwise(self, protocol: str) -> pd.DataFrame:
        """Every pair of models on accuracy, tested as the board's report tests them
        (:func:`ferbench.stats.pairwise` on fold scores and pooled predictions, clustered as
        the fold plan says, Holm over all pairs)."""
        if protocol not in self._pairwise:
            self._pairwise[protocol] = self._tests(protocol)
        return self._pairwise[protocol]

    def _tests(self, protocol: str) -> pd.DataFrame:
        models = self.models(protocol)
        rows = self.pooled(models[0], protocol)["index"].to_numpy()
        if not all(np.array_equal(self.pooled(m, protocol)["index"], rows) for m in models):
            raise SystemExit(f"{self.folder}: the models under {protocol} were not tested on the same images, "
                             "so their predictions cannot be paired; re-run the missing folds.")
        k = self.plans[protocol].k
        # Every fold plan a model ran on, NaN where it did not (the pair's shared folds are tested),
        # as the board's report passes them; the pooled predictions of the seed-0 plan all share.
        scores = pd.DataFrame({m: pd.concat([self.folds(m, protocol, seed=seed).set_axis(range(seed * k, (seed + 1) * k))
                                             for seed in self.seeds(m, protocol)]) for m in models})
        correct = pd.DataFrame({m: self.pooled(m, protocol)["correct"] for m in models})
        ratio = (float(np.mean([r.n_test / r.n_train for r in self.records
                                if r.protocol == protocol and row_label(r) in models]))
                 if self.plans[protocol].k > 1 else None)
        return stats.pairwise(scores, ratio, correct, clusters=self.clusters(protocol, rows))

    def pair(self, protocol: str, a: str, b: str) -> pd.Series:
        """The row of :meth:`pairwise` for models ``a`` and ``b``, in either order."""
        table = self.pairwise(protocol)
        return table[((table["a"] == a) & (table["b"] == b)) | ((table["a"] == b) & (table["b"] == a))].iloc[0]

    def difference(self, protocol: str, a: str, b: str) -> tuple[float, float, float]:
        """Pooled accuracy of ``a`` minus ``b`` in points, with the 95 % interval of the board's
        cluster bootstrap (:meth:`pairwise`)."""
        row = self.pair(protocol, a, b)
        if row["a"] == a:
            return 100 * row["pooled_difference"], 100 * row["diff_low"], 100 * row["diff_high"]
        return -100 * row["pooled_difference"], -100 * row["diff_high"], -100 * row["diff_low"]

    def against(self, protocol: str, reference: str, models: list[str], seeds: list[int] | None = None
                ) -> pd.DataFrame:
        """Each model under ``protocol`` against itself under ``reference`` on the same test
        images of every fold plan it ran on under both (or of ``seeds``), as the board's protocol
        table tests it: clustered McNemar over subjects (b, c, p) with p Holm-adjusted over
        ``models`` (the models run under both)."""
        rows = {}
        for model in models:
            _, right, subjects, _ = self.paired((model, protocol), (model, reference), seeds)
            test = stats.clustered_mcnemar(right[:, 0] > 0, right[:, 1] > 0, subjects)
            rows[model] = {"b": test.b, "c": test.c, "p": test.pvalue}
        frame = pd.DataFrame.from_dict(rows, orient="index")
        return frame.assign(p_holm=stats.holm(frame["p"].to_numpy()))


@cache
def run(board: str) -> Run:
    """The run data of ``leaderboards/<board>``, read once."""
    return Run(board)


def one(values: Iterable[object], what: str) -> object:
    """The single distinct value of ``values`` (a claim that names one), else an error."""
    distinct = sorted(set(values), key=str)
    if len(distinct) != 1:
        raise SystemExit(f"the run data give several {what} ({', '.join(map(str, distinct))}) where a "
                         "README names one; correct the claim in leaderboards/check_claims.py.")
    return distinct[0]


def _one_run_per_fold(board: Run) -> bool:
    """Whether every fold of every fold plan has one record per model, all on the seed-0 plans
    but for the rows of :data:`THREE_PLANS`, which ran with seeds 0, 1 and 2."""
    keys = [(row_label(r), r.protocol, r.fold, r.run_seed) for r in board.records]
    seeds = {(row_label(r), r.protocol): set() for r in board.records}
    for label, protocol, _, seed in keys:
        seeds[label, protocol].add(seed)
    three = THREE_PLANS.get(board.board, {})
    expected = {key: {0, 1, 2} if key[0] in three.get(key[1], []) else {0} for key in seeds}
    return len(keys) == len(set(keys)) and seeds == expected


def machines() -> list[Claim]:
    """Where every board was trained, and how many times."""
    boards = [run(board) for board in ("ckplus48", "ferplus", "ferplus-label-csv", "synthetic-quick")]
    cpu = all({r.device for r in board.records} == {"cpu"} and {r.threads for r in board.records} <= {1, 2}
              for board in boards)
    return [
        Claim(TOP, "All were trained on a 2-core CPU machine without a GPU", holds=cpu),
        Claim(TOP, "and, but for three CK+48 models trained on three fold plans (seeds 0, 1, 2) under the image and "
                   "subject protocols (two of them also under dedup) and two FER+ models trained under three seeds on "
                   "its official split, with one seed: each model was trained once per fold of each fold plan",
              holds=all(_one_run_per_fold(board) for board in boards)),
        *(Claim(readme, "on a 2-core CPU machine with no GPU", holds=cpu) for readme in (CK, FP, LC)),
        Claim(SYN, "run on a 2-core CPU machine, then reported", holds=cpu),
    ]


# --------------------------------------------------------------------------- CK+48


def ckplus_tables() -> list[Claim]:
    """The image / subject table of both READMEs, and the folds behind it."""
    ck = run("ckplus48")
    claims = []
    for model in FITTED + UNDERFITTED:
        epochs = one((r.config["recipe"]["epochs"] for r in ck.jobs(model, "subject")), "epoch budgets")
        image, subject = ck.folds(model, "image"), ck.folds(model, "subject")
        values = (pct(image.mean()), pct(image.std()), pct(subject.mean()), pct(subject.std()),
                  signed(100 * (image.mean() - subject.mean())))
        for readme, label in ((TOP, md(model) + (" (the paper's model)" if model == FUSION else "")),
                              (CK, md(model))):
            claims.append(Claim(readme, f"| {label} | {epochs} | {{}} ± {{}} | {{}} ± {{}} | {{}} |", values))
    k = str(one((plan.k for plan in ck.plans.values()), "fold counts"))
    return [
        *claims,
        Claim(TOP, "mean ranks of the {} models over the {} folds of the subject-independent protocol",
              (str(len(ck.models("subject"))), k)),
        Claim(TOP, "Accuracy in %, mean ± sd over {} folds, one training run per model and fold (seed 0)", (k,),
              holds=_one_run_per_fold(ck)),
        Claim(CK, "Accuracy in %, mean ± sd over the {} folds. Under the image protocol", (k,)),
    ]


def ckplus_intervals() -> list[Claim]:
    """The top README's pooled table: each protocol's accuracy over all 981 test images and the
    gap, with 95 % intervals from one bootstrap over subjects, and the training runs behind them."""
    ck = run("ckplus48")
    k = one((plan.k for plan in ck.plans.values()), "fold counts")
    claims = []
    for model in FITTED + UNDERFITTED:
        seeds, right, subjects, repeats = ck.paired((model, "image"), (model, "subject"))
        estimate, low, high = stats.cluster_bootstrap(np.column_stack([right, right[:, 0] - right[:, 1]]), subjects,
                                                      n_resamples=RESAMPLES, repeats=repeats)
        cells = [f"{fmt(100 * estimate[i])} [{fmt(100 * low[i])}, {fmt(100 * high[i])}]"
                 for i, fmt in ((0, decimal), (1, decimal), (2, signed))]
        runs = [len({(r.fold, r.run_seed) for seed in seeds for r in ck.jobs(model, p, seed)}) for p in ("image", "subject")]
        claims.append(Claim(TOP, f"| {md(model)} | {{}} | {{}} | {{}} | {{}} |", (*cells, f"{runs[0]} + {runs[1]}"),
                            holds=runs == [k * len(seeds)] * 2))
    return [*claims, Claim(TOP, "Each protocol's {} folds of a fold plan are {} training runs", (str(k), str(k)),
                           holds=_one_run_per_fold(ck))]


def ckplus_leaks() -> list[Claim]:
    """The audits' counts: totals over the ten folds and the range per fold."""
    ck = run("ckplus48")
    image, dedup = ck.audit("image"), ck.audit("dedup")
    plan = ck.plans["image"]
    size = span(np.bincount(plan.test_fold[plan.test_fold >= 0]), str)
    n, subjects = str(len(plan.test_fold)), str(len(np.unique(plan.clusters)))
    near, sequence, subject = (image.check(name) for name in ("near duplicates", "sequence overlap",
                                                             "subject overlap"))
    shared = dedup.check("subject overlap")
    clean = dedup.check("sequence overlap").leaks == 0 and dedup.check("near duplicates").leaks == 0

    def total(check: Check) -> tuple[str, str, str]:
        return (str(check.leaks), *span(check.per_fold, str))

    return [
        Claim(TOP, "| CK+48, {} images of {} subjects |", (n, subjects)),
        Claim(TOP, "in total over the ten folds, **{} of the {} test images with a near duplicate in training** "
                   "(another frame of the same sequence; {}–{} of the {}–{} test images of each fold), {} with a "
                   "frame of the same sequence ({}–{} a fold), and {} with an image of the same subject ({}–{} a "
                   "fold).",
              (str(near.leaks), n, *span(near.per_fold, str), *size, *total(sequence), *total(subject))),
        Claim(CK, "folds, {} of the {} test images have a frame of the same subject in training ({}–{} of the "
                  "{}–{} test images of each fold), {} a frame of the same sequence ({}–{} a fold), and {} a near "
                  "duplicate ({}–{} a fold;",
              (str(subject.leaks), n, *span(subject.per_fold, str), *size, *total(sequence), *total(near))),
        Claim(CK, "under the subject protocol the audit found no leak", holds=not ck.audit("subject").leaky),
        *(Claim(readme, "{} of the {} test images with their subject in training (in total over the ten folds; "
                        "{}–{} a fold)", (str(shared.leaks), n, *span(shared.per_fold, str)))
          for readme in (TOP, CK)),
        Claim(TOP, "finds no shared clip and no near duplicate in any fold", holds=clean),
        Claim(CK, "finds no shared sequence and no near duplicate in any fold", holds=clean),
    ]


def ckplus_perfect_folds() -> list[Claim]:
    """How many image-protocol folds each fitted model gets entirely right."""
    ck = run("ckplus48")
    perfect = {m: int((ck.folds(m, "image") == 1).sum()) for m in FITTED + UNDERFITTED}
    named = tuple(str(perfect[m]) for m in (R18, R50, FUSION, SMALL))
    others = all(perfect[m] == 0 for m in [CONVNEXT, *UNDERFITTED])
    return [
        Claim(TOP, "reaches 100 % on single folds: {} of the 10 for resnet18, {} for resnet50, {} for the fusion "
                   "model and {} for smallcnn.", named, holds=others),
        Claim(CK, "Under the image protocol resnet18 is right on every test image in {} of the 10 folds, resnet50 "
                  "in {}, res-bilstm-fusion in {} and smallcnn in {}.", named, holds=others),
    ]


def _training(model: str, protocol: str) -> tuple[float, float]:
    """Means over folds of the last epoch's training accuracy and of the training loss's fall
    over the last quarter of the epochs (relative to its value when that quarter began), both in %."""
    accuracy, falls = [], []
    for record in run("ckplus48").jobs(model, protocol):
        loss = np.asarray(record.curves["train_loss"], dtype=float)
        start = loss[len(loss) - 1 - len(loss) // 4]
        falls.append((start - loss[-1]) / start)
        accuracy.append(record.curves["train_accuracy"][-1])
    return 100 * float(np.mean(accuracy)), 100 * float(np.mean(falls))


def ckplus_fit_and_gap() -> list[Claim]:
    """The ranges the text quotes: accuracy under each protocol, the gaps, convergence."""
    ck = run("ckplus48")
    image = {m: 100 * ck.mean(m, "image") for m in FITTED + UNDERFITTED}
    subject = {m: 100 * ck.mean(m, "subject") for m in FITTED + UNDERFITTED}
    fitted = [_training(m, p) for m in FITTED for p in ck.plans if m in ck.models(p)]
    underfitted = [_training(m, p) for m in UNDERFITTED for p in ("image", "subject")]
    low, high = min(image[m] for m in FITTED), max(image[m] for m in FITTED)
    parameters = one((r.card["parameters"] for r in ck.jobs(SMALL, "subject")), "smallcnn parameter counts")
    fitted_accuracy = span((a for a, _ in fitted), whole)
    underfitted_accuracy = span((a for a, _ in underfitted), whole)
    roc = (pct(ck.folds(m, "image", "roc_auc_ovr").mean(), 2) for m in (FUSION, R18))
    return [
        Claim(TOP, "### CK+: an image-level split gives {}–{} %, and 100 % on some folds", (whole(low), decimal(high)),
              holds=any((ck.folds(m, "image") == 1).any() for m in FITTED)),
        Claim(TOP, "the image-level protocol already gives {}–{} % (means over folds) to every model that fitted",
              (decimal(low), decimal(high))),
        Claim(TOP, "including a {} M-parameter CNN", (f"{parameters / 1e6:.2f}",)),
        Claim(TOP, "gives them {}–{} %: {}–{} points less for each of the five",
              (*span((subject[m] for m in FITTED), decimal), *span((image[m] - subject[m] for m in FITTED), decimal))),
        Claim(TOP, "the training accuracy is {}–{} % at the last epoch", fitted_accuracy),
        Claim(CK, "at the last epoch the training accuracy is {}–{} %", fitted_accuracy),
        Claim(TOP, "remaining {}–{} points on test images", (decimal(100 - high), whole(100 - low))),
        Claim(TOP, "(training accuracy {}–{} % at the last epoch;", underfitted_accuracy),
        Claim(CK, "their training accuracy ends at {}–{} %, below the first five models' test accuracy",
              underfitted_accuracy, holds=max(a for a, _ in underfitted) < min(subject[m] for m in FITTED)),
        Claim(CK, "the training loss still fell by {}–{} % over the last quarter of the epochs",
              span((f for _, f in fitted), whole)),
        Claim(CK, "their loss fell only {}–{} % over the last quarter", span((f for _, f in underfitted), whole)),
        Claim(CK, "Their smaller gaps between the protocols ({} to {} points)",
              span((image[m] - subject[m] for m in UNDERFITTED), signed)),
        Claim(TOP, "ferbench's image-level runs, at {}–{} % accuracy, have a mean ROC AUC of {} % (fusion) and {} % "
                   "(resnet18)", (whole(low), decimal(high), *roc)),
    ]


def ckplus_dedup() -> list[Claim]:
    """The dedup protocol against the other two: means, the bootstrap over subjects, McNemar."""
    ck = run("ckplus48")
    image, dedup, subject = ({m: 100 * ck.folds(m, p) for m in DEDUP} for p in ("image", "dedup", "subject"))
    versus_subject = ck.against("dedup", "subject", DEDUP, seeds=[0])
    image_significant = bool((ck.against("image", "subject", ck.models("image")).loc[DEDUP, "p_holm"] < 0.001).all())
    interval, rows = {}, []
    for model in DEDUP:
        a, b = ck.pooled(model, "dedup"), ck.pooled(model, "subject")
        difference = a["correct"].to_numpy(float) - b["correct"].to_numpy(float)
        estimate, low, high = stats.cluster_bootstrap(difference, ck.clusters("subject", a["index"].to_numpy()),
                                                      n_resamples=RESAMPLES)
        interval[model] = (100 * estimate[0], 100 * low[0], 100 * high[0])
        test = versus_subject.loc[model]
        rows.append(Claim(CK, f"| {md(model)} | {{}} ± {{}} | {{}} ± {{}} | {{}} ± {{}} | {{}} | {{}} [{{}}, {{}}] | "
                              "{}/{}, {} |",
                          (decimal(image[model].mean()), decimal(image[model].std()), decimal(dedup[model].mean()),
                           decimal(dedup[model].std()), decimal(subject[model].mean()),
                           decimal(subject[model].std()), signed(dedup[model].mean() - subject[model].mean()),
                           *map(signed, interval[model]), str(int(test["b"])), str(int(test["c"])),
                           f"{test['p_holm']:.3f}")))
    three = THREE_PLANS["ckplus48"]["dedup"]
    stacked = ck.against("dedup", "subject", DEDUP)  # the board's protocol table: every plan both ran on
    over_plans = {}
    for model in three:
        seeds, right, clusters, repeats = ck.paired((model, "dedup"), (model, "subject"))
        estimate, low, high = stats.cluster_bootstrap(right[:, 0] - right[:, 1], clusters, n_resamples=RESAMPLES,
                                                      repeats=repeats)
        over_plans[model] = (100 * estimate[0], 100 * low[0], 100 * high[0])
        every = {p: 100 * ck.every_fold(model, p) for p in ("dedup", "subject")}
        test = stacked.loc[model]
        rows.append(Claim(CK, f"| {md(model)} | {{}} ± {{}} | {{}} ± {{}} | {{}} | {{}} [{{}}, {{}}] | {{}}/{{}}, {{}} |",
                          (decimal(every["dedup"].mean()), decimal(every["dedup"].std()),
                           decimal(every["subject"].mean()), decimal(every["subject"].std()),
                           signed(every["dedup"].mean() - every["subject"].mean()), *map(signed, over_plans[model]),
                           str(int(test["b"])), str(int(test["c"])), f"{test['p_holm']:.3f}"),
                          holds=seeds == [0, 1, 2] and len(every["dedup"]) == len(every["subject"]) == 30))
    identity = [dedup[m].mean() - subject[m].mean() for m in DEDUP]
    frames = span((image[m].mean() - dedup[m].mean() for m in DEDUP), decimal)
    bounds = {m: tuple(map(signed, interval[m][1:])) for m in DEDUP}
    upper = {m: interval[m][2] for m in DEDUP}
    wide = [m for m in DEDUP if upper[m] > 3]
    subjects = str(len(np.unique(ck.plans["subject"].clusters)))
    return [
        *rows,
        Claim(CK, "Four of the five models that fitted were run under it", holds=set(ck.models("dedup")) == set(DEDUP)),
        Claim(TOP, "it gives {}–{} %, within one point of their subject-independent means ({} to {};",
              (*span((dedup[m].mean() for m in DEDUP), decimal), *span(identity, signed)),
              holds=max(map(abs, identity)) < 1),
        Claim(TOP, "the clustered McNemar test over subjects pairing the two protocols image by image, Holm, p = 1 "
                   "for each)", holds=bool((versus_subject["p_holm"] == 1).all())),
        Claim(TOP, "while the image-level protocol is {}–{} points above the subject-independent means (p < 0.001 "
                   "for each) and {}–{} above the dedup ones.",
              (*span((image[m].mean() - subject[m].mean() for m in DEDUP), decimal), *frames),
              holds=image_significant),
        Claim(TOP, "a bootstrap over the {} subjects puts the pooled dedup − subject difference at [{}, {}] points "
                   "for the fusion model, [{}, {}] for resnet18, [{}, {}] for convnext\\_atto and [{}, {}] for "
                   "smallcnn.", (subjects, *bounds[FUSION], *bounds[R18], *bounds[CONVNEXT], *bounds[SMALL])),
        Claim(TOP, "a gain of up to {}–{} points from having seen the person is not excluded for three of the four "
                   "models from one plan", span((upper[m] for m in wide), decimal), holds=len(wide) == 3),
        Claim(CK, "with a percentile interval from {} resamples of the {} subjects", (count(RESAMPLES), subjects)),
        *(Claim(readme, "Over three fold plans (30 training runs per protocol and model, the bootstrap drawing the "
                        "plans as well as the subjects) the pooled dedup − subject difference is {} [{}, {}] points "
                        "for the fusion model and {} [{}, {}] for resnet18",
                (*map(signed, over_plans[FUSION]), *map(signed, over_plans[R18])), holds=three == [FUSION, R18])
          for readme in (TOP, CK)),
        Claim(CK, "Three plans narrow the intervals' upper ends from {} to {} points (fusion) and from {} to {} "
                  "(resnet18): a gain of about three points from having seen the person is still not excluded for "
                  "these two models.",
              tuple(signed(x) for m in (FUSION, R18) for x in (upper[m], over_plans[m][2])),
              holds=all(over_plans[m][2] < upper[m] and 2.5 <= over_plans[m][2] <= 3.5 for m in three)),
        Claim(TOP, "nor one of about three points for the two run on three.",
              holds=all(2.5 <= over_plans[m][2] <= 3.5 for m in three)),
        Claim(CK, "Seeing other clips of the test subject changes the mean score by {} to {} points, significant "
                  "for no model (the clustered McNemar test over subjects, Holm)",
              span(identity, signed), holds=bool((versus_subject["p_holm"] >= 0.05).all())),
        Claim(CK, "add {}–{} points (image against dedup; image against subject: p < 0.001 for each of these models",
              frames, holds=image_significant),
        Claim(CK, "the intervals' upper ends, {} to {} points for resnet18, res-bilstm-fusion and smallcnn ({} for "
                  "convnext\\_atto)",
              (*span((upper[m] for m in (R18, FUSION, SMALL)), signed), signed(upper[CONVNEXT])),
              holds=wide == [R18, FUSION, SMALL]),
    ]


def ckplus_models() -> list[Claim]:
    """The subject-protocol comparisons between models (top README)."""
    ck = run("ckplus48")
    pairs = ck.pairwise("subject")
    recipe = {m: ck.jobs(m, "subject")[0].config["recipe"] for m in (FUSION, R18)}
    budget = ("epochs", "batch_size", "schedule")
    optimiser = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}
    versus_r18, versus_r50, r18_r50 = (ck.pair("subject", a, b) for a, b in ((FUSION, R18), (FUSION, R50), (R18, R50)))
    fitted = pairs[pairs["a"].isin(FITTED) & pairs["b"].isin(FITTED)]
    raw = {frozenset((a, b)) for a, b, p in fitted[["a", "b", "cmcnemar_p"]].itertuples(index=False) if p < 0.05}
    small = [ck.pair("subject", SMALL, m) for m in (R18, R50)]
    across = pairs[(pairs["a"].isin(FITTED) & pairs["b"].isin(UNDERFITTED))
                   | (pairs["a"].isin(UNDERFITTED) & pairs["b"].isin(FITTED))]
    ahead = all(ck.mean(f, "subject") > ck.mean(u, "subject") for f in FITTED for u in UNDERFITTED)
    band = one((r.sanity_band["accuracy"] for r in ck.records), "sanity bands")
    disagree = sorted((int(r18_r50["mcnemar_b"]), int(r18_r50["mcnemar_c"])), reverse=True)
    folds = {m: len(ck.every_fold(m, "subject")) for m in REPEATED}
    return [
        Claim(TOP, "({} epochs, batch {}, {} schedule, each with its own default optimiser: {} with weight decay {} "
                   "for the fusion model, {} with {} for ResNet-18): {} against {} %",
              (*(str(recipe[R18][key]) for key in budget), optimiser[recipe[FUSION]["optimizer"]],
               f"{recipe[FUSION]['weight_decay']:g}", optimiser[recipe[R18]["optimizer"]],
               f"{recipe[R18]['weight_decay']:g}", pct(ck.mean(FUSION, "subject")), pct(ck.mean(R18, "subject"))),
              holds=all(recipe[FUSION][key] == recipe[R18][key] for key in budget)),
        Claim(TOP, "on the seed-0 plan, {} against {} % over the {} folds of the three plans; the corrected repeated "
                   "k-fold t-test on the {} folds the two share, Holm over the {} pairs of {} models, p = {} (raw {}); "
                   "the clustered McNemar test over subjects on the seed-0 plan's pooled predictions, Holm, p = {}. "
                   "Nor is it better than ResNet-50 ({} %, seed-0 plan only; p = {} and {}).",
              (*(pct(ck.every_fold(m, "subject").mean()) for m in (FUSION, R18)), str(folds[FUSION]),
               str(int(versus_r18["folds"])), str(len(pairs)), str(len(ck.models("subject"))),
               pvalue(versus_r18["nb_p_holm"]), pvalue(versus_r18["nb_p"]), pvalue(versus_r18["cmcnemar_p_holm"]),
               pct(ck.mean(R50, "subject")), pvalue(versus_r50["nb_p_holm"]), pvalue(versus_r50["cmcnemar_p_holm"])),
              holds=folds[FUSION] == folds[R18] == int(versus_r18["folds"]) and ck.seeds(R50, "subject") == [0]),
        Claim(TOP, "none is significantly better than another under either test after Holm",
              holds=bool((fitted[["nb_p_holm", "cmcnemar_p_holm"]] >= 0.05).all().all())),
        Claim(TOP, "puts resnet18 and resnet50 ahead of smallcnn before the correction for {} pairs (raw p = {} and "
                   "{}, Holm {} and {})",
              (str(len(pairs)), *(pvalue(s["cmcnemar_p"]) for s in small),
               *(pvalue(s["cmcnemar_p_holm"]) for s in small)),
              holds=raw == {frozenset((SMALL, R18)), frozenset((SMALL, R50))}),
        Claim(TOP, "resnet18 and resnet50 disagree on {} images, {} against {}.",
              (str(sum(disagree)), *map(str, disagree))),
        Claim(TOP, "those five is significantly ahead of the three underfitted ones under both tests (Holm p < 0.01)",
              holds=ahead and bool((across[["nb_p_holm", "cmcnemar_p_holm"]] < 0.01).all().all())),
        Claim(TOP, "Each comparison rests on one training run per model and fold: those among res-bilstm-fusion, "
                   "resnet18 and smallcnn on {} folds, the others on the seed-0 plan's {}.",
              (str(folds[FUSION]), str(len(ck.folds(R50, "subject")))),
              holds=all(folds[m] == folds[FUSION] for m in REPEATED) and _one_run_per_fold(ck)),
        Claim(TOP, "subject-independent CK+ figure on record is {} %", (pct(band),)),
    ]


def ckplus_provenance() -> list[Claim]:
    """Which commit, recipe, input size and precision each group of runs used."""
    ck = run("ckplus48")

    def commit(*groups: tuple[list[str], list[str]]) -> str:
        return one((r.versions["ferbench_commit"][:7] for models, protocols in groups for m in models
                    for p in protocols for r in ck.jobs(m, p)), "commits")

    both = ["image", "subject"]
    commits = (commit(([FUSION, R18, CONVNEXT, SMALL], both)), commit((UNDERFITTED, both), ([R50], ["subject"])),
               commit((DEDUP, ["dedup"]), ([R50], ["image"])))
    vit = "timm/vit_tiny_patch16_224"
    size = {m: one((r.card["input_size"] for r in ck.records if row_label(r) == m), "input sizes")
            for m in ck.scratch("image")}
    recipes = {m: ck.jobs(m, "subject")[0].config["recipe"] for m in ck.scratch("subject")}
    bf16 = {r.model for r in ck.records if r.precision == "bf16"}
    fp32 = {r.model for r in ck.records if r.precision == "fp32"}
    plan = ck.plans["subject"]
    return [
        Claim(CK, "at ferbench commit `{}` (res-bilstm-fusion, resnet18, convnext_atto, smallcnn under the image and "
                  "subject protocols), `{}` (mobilenetv3_large_100, efficientnet_b0, vit_tiny_patch16_224; resnet50 "
                  "under the subject protocol) or `{}` (every `dedup` run; resnet50 under the image protocol)",
              commits),
        Claim(CK, "Each model ran with its own default recipe ({} epochs, batch {}, cosine schedule, from scratch; "
                  "smallcnn {} epochs; vit_tiny at {} px, the others at CK+48's {} px)",
              (str(recipes[R18]["epochs"]), str(recipes[R18]["batch_size"]), str(recipes[SMALL]["epochs"]),
               str(size[vit]), str(one((s for m, s in size.items() if m != vit), "input sizes"))),
              holds=all(r["schedule"] == "cosine" and r["batch_size"] == recipes[R18]["batch_size"]
                        and (m == SMALL or r["epochs"] == recipes[R18]["epochs"]) for m, r in recipes.items())
              and not any(r.config["pretrained"] for r in ck.records)),
        Claim(CK, "(bf16 for res-bilstm-fusion, resnet18, resnet50 and smallcnn, fp32 for the others), seed 0",
              holds=bf16 == {FUSION, R18, R50, SMALL} and fp32 == set(ck.scratch("image")) - bf16
              and _one_run_per_fold(ck)),
        Claim(CK, "({} images, {} subjects,", (str(len(plan.test_fold)), str(len(np.unique(plan.clusters))))),
        Claim(TOP, "as 45/18/59/25/69/28/25, {} in all:", (str(sum(PAPER_CKPLUS.values())),)),
    ]


def ckplus_data(data: Path) -> list[Claim]:
    """CK+48's sequences, against the paper's Table 1 (needs the data set)."""
    from ferbench.factory import get_dataset

    dataset = get_dataset("ckplus", root=data / "ckplus48")
    _same_data(dataset.fingerprint, run("ckplus48").plans["subject"], data / "ckplus48")
    sequences = pd.Series(dataset.sequences)
    per_class = sequences.groupby(np.asarray(dataset.classes)[dataset.labels]).nunique()
    first_six = all(per_class[c] == n for c, n in PAPER_CKPLUS.items() if c != "surprise")
    total = str(sequences.nunique())
    return [
        Claim(TOP, "CK+48 keeps the last three frames of each of the {} labelled sequences", (total,)),
        Claim(TOP, "neither CK+48's {} sequences nor its {} images. The first six are CK+'s numbers of sequences of "
                   "anger, contempt, disgust, fear, happiness and sadness, but surprise has {} sequences, not 25,",
              (total, str(len(dataset)), str(per_class["surprise"])), holds=first_six),
        Claim(CK, "subjects, {} sequences; not in this", (total,)),
    ]


def _same_data(fingerprint: str, plan: FoldPlan, folder: Path) -> None:
    """Stop unless the data set read from ``folder`` is the one the board's fold plan was made on."""
    if fingerprint != plan.fingerprint:
        raise SystemExit(f"{folder} is not the data set the board ran on (fingerprint {fingerprint[:16]}, the fold "
                         f"plan {plan.key} says {plan.fingerprint[:16]}); point ../shared/data at that copy.")


# --------------------------------------------------------------------------- FER+


def _copied(fp: Run, frame: pd.DataFrame) -> np.ndarray:
    """Whether each prediction of ``frame`` tests an image with a copy in Train or Valid (the
    rows the ``official`` audit counted)."""
    return frame["index"].isin(fp.audit("official").copied_rows()).to_numpy()


def ferplus_board() -> list[Claim]:
    """The official-split table, the audit's counts and the tests between models."""
    fp = run("ferplus")
    audit, plan = fp.audit("official"), fp.plans["official"]
    exact, near = audit.check("exact duplicates").leaks, audit.check("near duplicates").leaks
    labels = audit.check("label consistency").leaks
    splits = tuple(count(int((plan.test_fold == code).sum())) for code in (-1, HELD_OUT, 0))  # train, valid, test
    frames = {m: fp.pooled(m, "official") for m in FERPLUS}
    accuracy = {m: 100 * frames[m]["correct"].mean() for m in FERPLUS}
    uncopied = {m: 100 * frames[m]["correct"][~_copied(fp, frames[m])].mean() for m in FERPLUS}
    clean = count(int((~_copied(fp, frames[FUSION])).sum()))
    rows = []
    for model in FERPLUS:
        record = fp.jobs(model, "official")[0]
        rows.append(Claim(FP, f"| {md(model)} | {{}} | {{}} | {{}} ({{}} images) | {{}} |",
                          (pct(record.metrics["accuracy"]), pct(record.metrics["macro_f1"]), decimal(uncopied[model]),
                           clean, str(record.validation["selected_epoch"]))))
    pairs = fp.pairwise("official")
    separated = bool((pairs["cmcnemar_p_holm"] < 0.001).all())
    order = sorted(FERPLUS, key=accuracy.get, reverse=True) == [FUSION, R18, CONVNEXT]
    f1 = {m: fp.jobs(m, "official")[0].metrics["macro_f1"] for m in FERPLUS}
    bold = all(fp.pair("official", FUSION, m)["signflip_p_holm"] < 0.05 for m in (R18, CONVNEXT))
    ahead, low, high = fp.difference("official", FUSION, R18)
    groups = len(np.unique(fp.clusters("official", frames[FUSION]["index"].to_numpy())))
    shift = {m: accuracy[m] - uncopied[m] for m in FERPLUS}
    purged = [accuracy[m] - 100 * fp.pooled(m, "official-purged")["correct"].mean() for m in FERPLUS]
    moves = (*span(shift.values(), decimal), decimal(shift[R18]), *span(purged, decimal))
    epochs = str(one((r.config["recipe"]["epochs"] for r in fp.records), "epoch budgets"))
    return [
        *rows,
        Claim(FP, "# FER+ on its official split (majority-vote labels, {} classes)",
              (str(one((len(r.classes) for r in fp.records), "class counts")),)),
        Claim(FP, "| model | accuracy % | macro F1 % | accuracy without copied test images % | best epoch (of {}) |",
              (epochs,)),
        Claim(TOP, "With {} epochs on a CPU, in their seed-0 runs,", (epochs,), holds=_one_run_per_fold(fp)),
        Claim(FP, "trains on FER2013Train ({} images with a majority label), keeps the epoch that does best on "
                  "FER2013Valid ({}), and is tested once on FER2013Test ({}).", splits),
        Claim(TOP, "ferbench loads {} ({} train, {} valid, {} test)", (count(len(plan.test_fold)), *splits)),
        Claim(FP, "finds {} test images with an exact copy and {} more with a near copy", (str(exact), str(near))),
        Claim(FP, "and {} duplicate pairs with different labels", (str(labels),)),
        Claim(FP, "adds each model's accuracy on the {} test images that have no copy outside the test set", (clean,)),
        Claim(TOP, "**{} of the {} test images (majority labels) with an exact copy, and {} more with a near copy, in "
                   "FER2013Train or FER2013Valid**, and {} duplicate pairs", (str(exact), splits[2], str(near),
                                                                             str(labels))),
        Claim(TOP, "the board adds each model's accuracy on the {} test images without a copy.", (clean,),
              holds=all(r.leaky for r in fp.records if r.protocol == "official")),
        Claim(TOP, "the paper's fusion model reaches {} % on FER2013Test ({} % on the test images without a copy), "
                   "ResNet-18 {} % ({} %) and ConvNeXt-atto, the furthest from converged, {} % ({} %).",
              tuple(decimal(x) for m in FERPLUS for x in (accuracy[m], uncopied[m]))),
        Claim(TOP, "The clustered McNemar test over copy groups separates every pair (Holm p < 0.001)",
              holds=separated),
        Claim(FP, "The clustered McNemar test on the {} paired test predictions, over the {} copy groups (Holm): every "
                  "pair differs at p < 0.001 (fusion > resnet18 > convnext_atto on accuracy), while resnet18 has the "
                  "higher macro F1", (splits[2], count(groups)),
              holds=separated and order and f1[R18] == max(f1.values())),
        Claim(FP, "stay ahead of resnet18 ({} points here, 95 % interval over copy groups {} to {}) in another run",
              (decimal(ahead), signed(low), signed(high)), holds=bold),
        Claim(TOP, "Leaving out the copied test images moves these numbers by {}–{} points ({} for ResNet-18), and "
                   "training without the copies (below) by {}–{} points", moves),
        Claim(FP, "without the copied test images the models score {}–{} points lower ({} for resnet18), and trained "
                  "without the copies (below) {}–{} points lower.", moves,
              holds=min(shift.values()) > 0 and min(purged) > 0),
    ]


def ferplus_seeds() -> list[Claim]:
    """FER+'s official split trained under three seeds: each run's accuracy, the spread over runs,
    fusion − resnet18 run by run, the paired t over the seeds, and the pooled difference with an
    interval over runs and copy groups."""
    fp = run("ferplus")
    three = THREE_PLANS["ferplus"]["official"]
    claims, accuracy = [], {}
    for model in three:
        seeds = fp.seeds(model, "official")
        accuracy[model], f1 = fp.per_plan(model, "official"), fp.per_plan(model, "official", "macro_f1")
        claims.append(Claim(FP, f"| {md(model)} | {{}} | {{}} | {{}} | {{}} ± {{}} | {{}} ± {{}} |",
                            (*map(decimal, accuracy[model]), decimal(accuracy[model].mean()),
                             decimal(accuracy[model].std(ddof=1)), decimal(f1.mean()), decimal(f1.std(ddof=1))),
                            holds=seeds == [0, 1, 2]))
    gaps = accuracy[FUSION] - accuracy[R18]
    _, right, groups, runs = fp.paired((FUSION, "official"), (R18, "official"))
    estimate, low, high = stats.cluster_bootstrap(right[:, 0] - right[:, 1], groups, n_resamples=RESAMPLES,
                                                  repeats=runs)
    pair = fp.pair("official", FUSION, R18)
    sign = 1 if pair["a"] == FUSION else -1
    return [
        *claims,
        Claim(FP, "fusion − resnet18: {}, {} and {} points in the three runs; the paired t over the three seeds "
                  "p = {} (Holm over the board's pairs: {}); pooled over the three runs {} points, 95 % interval "
                  "[{}, {}] from {} resamples drawing the runs and the {} copy groups",
              (*map(signed, gaps), pvalue(pair["ttest_p"]), pvalue(pair["ttest_p_holm"]), signed(100 * estimate[0]),
               signed(100 * low[0]), signed(100 * high[0]), count(RESAMPLES), count(len(np.unique(groups)))),
              holds=bool(np.isclose(sign * 100 * pair["mean_difference"], gaps.mean()))),
        Claim(FP, "The fusion model was ahead in each run, but with three runs the test over training runs does not "
                  "reach α = 0.05, so `leaderboard.md`, which merges the three runs (`ferplus-official-k1-s0+1+2`), "
                  "bolds no model; convnext\\_atto, trained once, has no test over training runs at all.",
              holds=bool((gaps > 0).all()) and pair["ttest_p_holm"] >= 0.05 and fp.seeds(CONVNEXT, "official") == [0]
              and np.isnan(fp.pair("official", FUSION, CONVNEXT)["ttest_p"])),
        Claim(FP, "the fusion model's seed-2 run is {} points below its seed-0 run.",
              (decimal(accuracy[FUSION][0] - accuracy[FUSION][2]),)),
        Claim(TOP, "while the fusion model's three `official` runs alone span {} points",
              (decimal(accuracy[FUSION].max() - accuracy[FUSION].min()),)),
        Claim(TOP, "Trained under three seeds, the fusion model scores {} ± {} % and ResNet-18 {} ± {} %: the fusion "
                   "model is ahead in each run, by {}–{} points, but the paired t over the three seeds gives p = {}, "
                   "so the board does not call it the better model.",
              (decimal(accuracy[FUSION].mean()), decimal(accuracy[FUSION].std(ddof=1)), decimal(accuracy[R18].mean()),
               decimal(accuracy[R18].std(ddof=1)), *span(gaps, decimal), pvalue(pair["ttest_p_holm"])),
              holds=bool((gaps > 0).all()) and pair["ttest_p_holm"] >= 0.05),
    ]


def ferplus_label_csv() -> list[Claim]:
    """The board trained and tested on the ``label.csv`` labels: its split and audit, each model's
    scores beside the ``fer2013new.csv`` board's seed-0 runs, and the tests between models."""
    lc, fp = run("ferplus-label-csv"), run("ferplus")
    audit, plan = lc.audit("official"), lc.plans["official"]
    splits = tuple(count(int((plan.test_fold == code).sum())) for code in (-1, HELD_OUT, 0))
    copied = audit.copied_rows() or set()
    claims, ours, theirs, uncopied = [], {}, {}, {}
    for model in FERPLUS:
        record, frame = lc.jobs(model, "official")[0], lc.pooled(model, "official")
        clean = ~frame["index"].isin(copied).to_numpy()
        uncopied[model] = int(clean.sum())
        ours[model], theirs[model] = 100 * record.metrics["accuracy"], 100 * fp.folds(model, "official").iloc[0]
        claims += [
            Claim(LC, f"| {md(model)} | {{}} | {{}} | {{}} ({{}} images) | {{}} |",
                  (pct(record.metrics["accuracy"]), pct(record.metrics["macro_f1"]),
                   decimal(100 * frame["correct"][clean].mean()), count(uncopied[model]),
                   str(record.validation["selected_epoch"]))),
            Claim(LC, f"| {md(model)} | {{}} | {{}} | {{}} |",
                  (decimal(ours[model]), decimal(theirs[model]), signed(ours[model] - theirs[model]))),
        ]
    pairs = lc.pairwise("official")
    spread = fp.per_plan(FUSION, "official")
    order = sorted(FERPLUS, key=ours.get, reverse=True) == sorted(FERPLUS, key=theirs.get, reverse=True)
    check = {name: audit.check(name).leaks for name in ("exact duplicates", "near duplicates",
                                                        "selection on copies of test images", "label consistency")}
    epochs = str(one((r.config["recipe"]["epochs"] for r in lc.records), "epoch budgets"))
    return [
        *claims,
        Claim(LC, "Each model trains on FER2013Train ({} images with a majority label), keeps the epoch that does "
                  "best on FER2013Valid ({}), and is tested once on FER2013Test ({}).", splits,
              holds=plan.fingerprint != fp.plans["official"].fingerprint),  # ferplus_data: the label.csv data
        Claim(LC, "Same budget and recipes as the `fer2013new.csv` board ({} epochs, each model's default recipe, "
                  "48×48 grey, precision `auto`), seed 0: one training run per model, one CPU thread each",
              (epochs,), holds=_one_run_per_fold(lc) and {r.threads for r in lc.records} == {1}
              and {r.device for r in lc.records} == {"cpu"}),
        Claim(LC, "finds {} test images with an exact copy and {} more with a near copy in FER2013Train, {} test "
                  "images with a copy in FER2013Valid, on which the epoch is selected, and {} duplicate pairs with "
                  "different labels", tuple(map(str, check.values())), holds=all(r.leaky for r in lc.records)),
        Claim(LC, "adds each model's accuracy on the {} test images with no copy in Train or Valid",
              (count(one(uncopied.values(), "counts of uncopied test images")),)),
        Claim(LC, "the models keep their order, and each moves by {} to {} points", 
              span((ours[m] - theirs[m] for m in FERPLUS), signed), holds=order),
        Claim(LC, "the fusion model's three training runs on the `fer2013new.csv` board span {} points, so "
                  "differences of this size are within what another training run gives.",
              (decimal(float(np.ptp(spread))),),
              holds=max(abs(ours[m] - theirs[m]) for m in FERPLUS) <= float(np.ptp(spread))),
        Claim(LC, "with one training run per model `leaderboard.md` bolds no model.",
              holds="No bold: one training run per model on one split." in (BOARDS / "ferplus-label-csv"
                                                                             / "leaderboard.md").read_text()),
        Claim(LC, "The clustered McNemar test over the {} copy groups separates every pair (Holm p < 0.001)",
              (count(len(np.unique(lc.clusters("official", lc.pooled(FUSION, "official")["index"].to_numpy())))),),
              holds=bool((pairs["cmcnemar_p_holm"] < 0.001).all())),
        Claim(TOP, "Trained and tested on the `label.csv` labels instead ([`ferplus-label-csv/`](ferplus-label-csv/), "
                   "one training run each), the fusion model scores {} %, ResNet-18 {} % and ConvNeXt-atto {} % on "
                   "the 3,137 test images",
              tuple(decimal(ours[m]) for m in FERPLUS), holds=len(plan.test_index(0)) == 3137),
    ]


def ferplus_training() -> list[Claim]:
    """Budget, precision, commits, convergence and the sanity band of the FER+ board."""
    fp = run("ferplus")
    curves = {m: fp.jobs(m, "official")[0].curves for m in FERPLUS}
    rising = all(c["val_accuracy"][-1] == max(c["val_accuracy"]) and c["val_accuracy"][-1] > c["val_accuracy"][-2]
                 for c in curves.values())
    train = {m: 100 * curves[m]["train_accuracy"][-1] for m in FERPLUS}
    commits = {m: one((r.versions["ferbench_commit"][:7] for r in fp.jobs(m, "official")), "commits")
               for m in FERPLUS}
    purged = one((r.versions["ferbench_commit"][:7] for r in fp.records if r.protocol == "official-purged"),
                 "commits")
    bf16 = {r.model for r in fp.records if r.precision == "bf16"}
    band = pct(one((r.sanity_band["accuracy"] for r in fp.records), "sanity bands"))
    recipes = [r.config["recipe"] for r in fp.records]
    return [
        Claim(FP, "Budget: {} epochs, each model's default recipe otherwise (batch {}, cosine schedule), 48×48 grey, "
                  "precision `auto` (bf16 for the fusion model and resnet18, fp32 for convnext_atto), seed 0: one "
                  "training run per model and protocol; on the official split res-bilstm-fusion and resnet18 were "
                  "also trained under seeds 1 and 2",
              (str(one((r["epochs"] for r in recipes), "epoch budgets")),
               str(one((r["batch_size"] for r in recipes), "batch sizes"))),
              holds=bf16 == {FUSION, R18} and _one_run_per_fold(fp)
              and {r["schedule"] for r in recipes} == {"cosine"}
              and {r.card["input_size"] for r in fp.records} == {48}),
        Claim(FP, "validation accuracy was still rising at epoch {} for every model (fusion {} %, resnet18 {} %, "
                  "convnext_atto {} % on FER2013Valid)",
              (str(len(curves[FUSION]["val_accuracy"])), *(pct(curves[m]["val_accuracy"][-1]) for m in FERPLUS)),
              holds=rising),
        Claim(FP, "(training accuracy {} % at the last epoch, against {}–{} % for the other two)",
              (whole(train[CONVNEXT]), *span((train[FUSION], train[R18]), whole))),
        Claim(FP, "The best credible published result is {} %", (band,)),
        Claim(TOP, "({} %, the sanity band on the board)", (band,)),
        Claim(FP, "The run's records name two ferbench commits:", holds=len(set(commits.values())) == 2),
        Claim(FP, "the fusion model trained at `{}`, resnet18 and convnext_atto at `{}`",
              (commits[FUSION], one((commits[R18], commits[CONVNEXT]), "commits"))),
        Claim(FP, "Same budget and recipe as above, one training run per model, at ferbench commit `{}`", (purged,)),
    ]


def ferplus_purged() -> list[Claim]:
    """``official-purged``: what was dropped, the accuracy on the copied and the other test
    images, and McNemar between the two protocols."""
    fp = run("ferplus")
    official, purged = fp.plans["official"].test_fold, fp.plans["official-purged"].test_fold
    dropped = purged == PURGED
    from_train, from_valid = int((dropped & (official == -1)).sum()), int((dropped & (official == HELD_OUT)).sum())
    rows, subsets, copied = [], {}, {}
    for model in FERPLUS:
        copied[model] = _copied(fp, fp.pooled(model, "official"))
        a, b = (100 * fp.pooled(model, p)["correct"].to_numpy(float) for p in ("official", "official-purged"))
        mask = copied[model]
        subsets[model] = (a.mean(), b.mean(), a[mask].mean(), b[mask].mean(), a[~mask].mean(), b[~mask].mean())
        rows.append(Claim(FP, f"| {md(model)} | {{}} | {{}} | {{}} → {{}} | {{}} → {{}} |",
                          tuple(map(decimal, subsets[model]))))
    gap = {m: s[0] - s[1] for m, s in subsets.items()}
    on_copied = {m: s[2] - s[3] for m, s in subsets.items()}
    on_other = {m: s[4] - s[5] for m, s in subsets.items()}
    tests = fp.against("official", "official-purged", FERPLUS)
    n_copied = count(int(one((int(c.sum()) for c in copied.values()), "copied counts")))
    n_other = count(int(one((int((~c).sum()) for c in copied.values()), "uncopied counts")))
    trained = int((official == -1).sum())
    return [
        *rows,
        Claim(FP, "drops from FER2013Train and FER2013Valid every image that is an exact or near copy of a test "
                  "image: {} of the {} ({} from Train, which leaves {} training images, and {} from Valid).",
              (count(int(dropped.sum())), count(int((official < 0).sum())), count(from_train),
               count(int((purged == -1).sum())), count(from_valid))),
        Claim(TOP, "the same split minus the {} Train and Valid images that copy a test image, which the audit then "
                   "finds clean)", (count(int(dropped.sum())),), holds=not fp.audit("official-purged").leaky),
        Claim(FP, "(the {} rows the `official` audit counted):", (n_copied,)),
        Claim(FP, "| on the {} copied test images | on the other {} |", (n_copied, n_other)),
        Claim(FP, "costs the three models {}–{} points on the test images that had a copy, against {}–{} points on "
                  "the others; over the whole test split the official number is {}–{} points higher.",
              (*span(on_copied.values(), decimal), *span(on_other.values(), decimal), *span(gap.values(), decimal))),
        Claim(TOP, "gives the fusion model {} %, ResNet-18 {} % and ConvNeXt-atto {} % on the whole FER2013Test, {}, "
                   "{} and {} points below their seed-0 official-split numbers; on the {} test images that had a copy they "
                   "lose {}, {} and {} points, on the others {}, {} and {}.",
              (*(decimal(subsets[m][1]) for m in FERPLUS), *(decimal(gap[m]) for m in FERPLUS), n_copied,
               *(decimal(on_copied[m]) for m in FERPLUS), *(decimal(on_other[m]) for m in FERPLUS))),
        Claim(TOP, "finds every difference significant (Holm p < 0.01)", holds=bool((tests["p_holm"] < 0.01).all())),
        Claim(FP, "raw p = {} (fusion), {} (resnet18), {} (convnext_atto), all below 0.05 after Holm.",
              (scientific(tests.loc[FUSION, "p"]), scientific(tests.loc[R18, "p"]), f"{tests.loc[CONVNEXT, 'p']:.3f}"),
              holds=bool((tests["p_holm"] < 0.05).all())),
        Claim(FP, "and from the {} % fewer training images; the fusion model's {}-point drop on the uncopied images",
              (whole(100 * from_train / trained), decimal(on_other[FUSION]))),
    ]


def ferplus_data(data: Path) -> list[Claim]:
    """The ``label.csv`` test set, and the board's predictions re-scored on it (needs the data
    set): row -> file from the ``ferplus`` loader, as the run used it; labels by FER+'s majority
    rule on each ``label.csv`` vote vector, as the loader applies it with ``votes="label.csv"``."""
    from ferbench_datasets.ferplus import VOTES, majority_labels

    from ferbench.factory import get_dataset

    fp = run("ferplus")
    root = data / "ferplus"
    board = get_dataset("ferplus", root=root)  # the rows the run's predictions index
    _same_data(board.fingerprint, fp.plans["official"], root)
    other = get_dataset("ferplus", root=root, votes="label.csv")
    _same_data(other.fingerprint, run("ferplus-label-csv").plans["official"], root)
    published = pd.Series(other.labels[other.split == "Test"], index=other.paths[other.split == "Test"])
    tested = board.paths[board.split == "Test"]
    shared = np.isin(tested, published.index)
    untested = published.index[~published.index.isin(tested)]
    differ = int((published.reindex(tested[shared]).to_numpy() != board.labels[board.split == "Test"][shared]).sum())
    table = pd.read_csv(root / "fer2013new.csv", dtype=str, keep_default_na=False)
    votes = (table[table["Usage"] == "PrivateTest"].drop_duplicates("Image name", keep="last")
             .set_index("Image name")[list(VOTES)].astype(np.int64))
    rule = majority_labels(votes.loc[[Path(p).name for p in untested]].to_numpy())
    no_majority, not_a_face = int((rule == -1).sum()), int((rule == VOTES.index("NF")).sum())
    rows, moves = [], []
    for protocol in ("official", "official-purged"):
        for model in FERPLUS:
            frame = fp.pooled(model, protocol)
            paths = board.paths[frame["index"].to_numpy()]
            keep = np.isin(paths, published.index)
            right = int((published.reindex(paths[keep]).to_numpy() == frame["y_pred"].to_numpy()[keep]).sum())
            moves.append(abs(right / keep.sum() - frame["correct"].mean()))
            rows.append(Claim(FP, f"| {md(model)} | {protocol} | {{}} | {{}} | {{}}–{{}} |",
                              (pct(frame["correct"].mean()), pct(right / keep.sum()), pct(right / len(published)),
                               pct((right + len(untested)) / len(published)))))
    n, n_shared = count(len(published)), count(int(shared.sum()))
    return [
        *rows,
        Claim(TOP, "FER2013, which FER+ relabels, has {} images;", (count(len(table)),)),
        Claim(TOP, "with {} contempt, {} disgust and {} fear.",
              tuple(str(int((board.labels == board.classes.index(c)).sum())) for c in ("contempt", "disgust", "fear"))),
        Claim(TOP, "which give the {}-image test set papers report on.", (n,)),
        Claim(TOP, "re-scores the same predictions against the `label.csv` labels on the {} images the two test sets "
                   "share: the accuracies move by {} points or less.", (n_shared, pct(max(moves)))),
        Claim(FP, "predictions re-scored on the {}-image test set of the `label.csv` files.", (n,)),
        Claim(FP, "`FER2013Test/label.csv` keeps {} test images, the test set papers report on;", (n,)),
        Claim(FP, "The {} are not a subset of the board's {}: the two share {} images ({} of them with a different "
                  "majority label), {} of the board's images are not among the {}, and {} of the {} were never tested "
                  "here (their `fer2013new.csv` votes give {} of them no majority and mark {} as not a face).",
              (n, count(len(tested)), n_shared, str(differ), str(int((~shared).sum())), n, str(len(untested)), n,
               str(no_majority), str(not_a_face)), holds=no_majority + not_a_face == len(untested)),
        Claim(FP, "against the `label.csv` labels on the {} shared images.", (n_shared,)),
        Claim(LC, "the two test sets share {} images", (n_shared,)),
        Claim(FP, "the {} untested images are left out, and counting them all wrong or all right bounds the accuracy "
                  "on the whole {}.", (str(len(untested)), n)),
        Claim(FP, "| model | protocol | {} images, `fer2013new.csv` labels (the board) | {} shared images, `label.csv` "
                  "labels | all {}, `label.csv` labels (bounds) |", (count(len(tested)), n_shared, n)),
    ]


def rafdb_data(data: Path) -> list[Claim]:
    """RAF-DB's label file (needs the data)."""
    table = pd.read_csv(data / "rafdb" / "raf-basic" / "EmoLabel" / "list_patition_label.txt", sep=" ",
                        header=None, names=["name", "label"])
    train = table["name"].str.startswith("train")
    return [
        Claim(TOP, "lists {} images ({} train, {} test) in seven classes",
              (count(len(table)), count(int(train.sum())), count(int((~train).sum()))),
              holds=table["label"].nunique() == 7),
        Claim(TOP, "with {} fear images.", (str(int((table["label"] == 2).sum())),)),  # RAF-DB label 2: fear
    ]


# --------------------------------------------------------------------------- synthetic


def synthetic() -> list[Claim]:
    """The quick synthetic board: what the tests find between the four models."""
    syn = run("synthetic-quick")
    pairs = syn.pairwise("subject")
    lead = [100 * (syn.mean(R18, "subject") - syn.mean(m, "subject")) for m in syn.models("subject") if m != R18]
    found = pairs[(pairs["signflip_p_holm"] < 0.05) | (pairs["cmcnemar_p_holm"] < 0.05)]
    named = syn.pair("subject", R18, CONVNEXT)
    subjects = len(np.unique(syn.plans["subject"].clusters))
    return [
        Claim(SYN, "({} identities, {} expressions)",
              (str(subjects), str(one((len(r.classes) for r in syn.records), "class counts")))),
        Claim(SYN, "no model is significantly best on accuracy under the corrected resampled t-test (Holm), although "
                   "resnet18 leads the others by {} to {} points in the mean over folds;",
              span(lead, decimal), holds=bool((pairs["nb_p_holm"] >= 0.05).all()) and min(lead) > 0),
        Claim(SYN, "tests over the {} subjects on the pooled predictions (the sign-flip test and the clustered McNemar "
                   "test) find one difference after Holm, resnet18 against convnext_atto (p = {} and {})",
              (str(subjects), pvalue(named["signflip_p_holm"]), pvalue(named["cmcnemar_p_holm"])),
              holds=len(found) == 1 and {found.iloc[0]["a"], found.iloc[0]["b"]} == {R18, CONVNEXT}
              and max(named["signflip_p_holm"], named["cmcnemar_p_holm"]) < 0.05),
        Claim(SYN, "Each model was trained once per fold (seed 0).", holds=_one_run_per_fold(syn)),
        Claim(SYN, "the records show two ferbench commits",
              holds=len({r.versions["ferbench_commit"] for r in syn.records}) == 2),
        Claim(SYN, "trained in fp32 on the CPU",
              holds={(r.precision, r.device) for r in syn.records} == {("fp32", "cpu")}),
        Claim(SYN, "so the parameter, FLOP and pretraining columns are empty here",
              holds=not any(r.card for r in syn.records)),
    ]


# --------------------------------------------------------------------------- checking


#: Claim groups on the committed run data, and on the data sets in ``../shared/data``.
def _starts(model: str) -> tuple[str, str, str]:
    """A model's three CK+48 rows: from scratch, and from its FER+ weights with the finetune and
    the default recipe."""
    return model, f"{model} ← ferplus (finetune)", f"{model} ← ferplus"


def ckplus_pretrained() -> list[Claim]:
    """The rows started from FER+ weights against the from-scratch ones: both protocols, the gap,
    the tests, and what the pretraining audit found."""
    ck = run("ckplus48")
    protocols = ck.against("image", "subject", ck.models("image"), seeds=[0])
    subjects = ck.clusters("subject", ck.pooled(FUSION, "subject")["index"].to_numpy())
    claims = []
    for model in (FUSION, R18):
        scratch = model
        for label in [label for label in _starts(model) if label in ck.models("subject")]:
            image, subject = 100 * ck.folds(label, "image"), 100 * ck.folds(label, "subject")
            test = protocols.loc[label]
            epochs = one((r.config["recipe"]["epochs"] for r in ck.jobs(label, "subject")), "epoch counts")
            claims.append(Claim(CK, f"| {md(label)} | {{}} | {{}} | {{}} ± {{}} | {{}} ± {{}} | {{}} | {{}}/{{}}, {{}} |",
                                (str(epochs), whole(_training(label, "subject")[0]), decimal(image.mean()),
                                 decimal(image.std()), decimal(subject.mean()), decimal(subject.std()),
                                 signed(image.mean() - subject.mean()), str(int(test["b"])), str(int(test["c"])),
                                 pvalue(test["p_holm"]))))
            if label == scratch:
                continue
            difference = ck.difference("subject", label, scratch)
            claims.append(Claim(CK, f"{md(label)} against {md(scratch)}, subject protocol: {{}} points [{{}}, {{}}], "
                                    "sign-flip test over subjects p = {} (Holm)",
                                (*map(signed, difference), pvalue(ck.pair("subject", label, scratch)["signflip_p_holm"]))))
            gaps = [ck.pooled(name, "image")["correct"].to_numpy(float) - ck.pooled(name, "subject")["correct"].to_numpy(float)
                    for name in (label, scratch)]
            estimate, low, high = stats.cluster_bootstrap(gaps[0] - gaps[1], subjects, n_resamples=RESAMPLES)
            claims.append(Claim(CK, f"{md(label)}: the image − subject gap minus the from-scratch gap is {{}} points "
                                    "[{}, {}]", tuple(signed(100 * v[0]) for v in (estimate, low, high))))
    finetuned = [(m, f"{m} ← ferplus (finetune)") for m in (FUSION, R18)]
    claims.append(Claim(CK, "The `finetune` rows did not fit their training images (their training-accuracy column), "
                            "and score below the from-scratch ones under both protocols",
                        holds=all(_training(f, "subject")[0] < 90 < _training(m, "subject")[0]
                                  and all(ck.mean(f, p) < ck.mean(m, p) for p in ("image", "subject"))
                                  for m, f in finetuned)))
    pretrained = f"{FUSION} ← ferplus"
    fusion = 100 * ck.folds(pretrained, "subject").mean(), ck.difference("subject", pretrained, FUSION)
    gap = 100 * ck.folds(pretrained, "image").mean() - fusion[0]
    claims.append(Claim(TOP, "the fusion model reaches {} % under the subject-independent protocol ({} points more "
                             "than from scratch, 95 % interval [{}, {}] over subjects), and the image-level protocol "
                             "is still {} points above that",
                        (decimal(fusion[0]), decimal(fusion[1][0]), *map(signed, fusion[1][1:]), decimal(gap)),
                        holds=fusion[1][1] > 0 and gap > 0))
    audit = RunStore(ck.folder).read_pretraining(_init(ck, pretrained), "ckplus")
    leaky = {label: sum(r.leaky for r in ck.jobs(label, "subject")) for m in (FUSION, R18) for label in _starts(m)[1:]
             if label in ck.models("subject")}
    frames = sorted(int(e["ckplus"].rsplit("_", 1)[1].split(".")[0]) for e in audit.examples)
    claims.append(Claim(CK, "`{}` is near-identical to frames {}, {} and {} of CK+ sequence {} (scores {}–{})",
                        (audit.examples[0]["ferplus"].rsplit("/", 1)[1], *map(str, frames),
                         audit.examples[0]["ckplus"].split("/")[1].rsplit("_", 1)[0],
                         *span((e["score"] for e in audit.examples), lambda v: f"{v:.3f}")),
                        holds=audit.exact == 0 and audit.near == len(frames) == audit.test_copies()
                        and len({e["ferplus"] for e in audit.examples}) == 1 and set(leaky.values()) == {1}))
    return claims


def ckplus_repeats() -> list[Claim]:
    """The three models run on three fold plans: each plan's mean, all folds', and how far the
    plan means spread."""
    ck = run("ckplus48")
    claims = []
    for model in REPEATED:
        for protocol in ("image", "subject"):
            seeds = ck.seeds(model, protocol)
            per_plan = [100 * ck.folds(model, protocol, seed=seed) for seed in seeds]
            every = 100 * ck.every_fold(model, protocol)
            cells = [f"{decimal(f.mean())} ± {decimal(f.std())}" for f in per_plan]
            claims.append(Claim(CK, f"| {md(model)} | {protocol} | {{}} | {{}} | {{}} | {{}} ± {{}} | {{}} |",
                                (*cells, decimal(every.mean()), decimal(every.std()),
                                 decimal(float(np.std([f.mean() for f in per_plan], ddof=1)))),
                                holds=seeds == [0, 1, 2] and all(len(f) == 10 for f in per_plan)))

    def width(model: str, protocol: str) -> str:
        return decimal(float(np.ptp(ck.per_plan(model, protocol))))

    claims.append(Claim(CK, "The three plans' means span {} points for res-bilstm-fusion, {} for timm/resnet18 and {} for "
                            "smallcnn under the subject protocol (smallcnn {}–{} %), {}, {} and {} under the image protocol",
                        (*(width(m, "subject") for m in REPEATED), *span(ck.per_plan(SMALL, "subject"), decimal),
                         *(width(m, "image") for m in REPEATED)),
                        holds=REPEATED == [FUSION, R18, SMALL]))
    fitted = [100 * ck.mean(m, "subject") for m in FITTED]
    claims.append(Claim(CK, "the {} points between the best and the worst fitted model on the seed-0 plan ({}–{} %)",
                        (decimal(max(fitted) - min(fitted)), *span(fitted, decimal))))
    return claims


PAPER = f"{FUSION} (paper)"


def ckplus_paper() -> list[Claim]:
    """The seed paper's recipe (``paper-run/``) beside the default recipe's row: both protocols,
    the gap, the tests, the pooled differences, the perfect folds, and what it cost."""
    ck = run("ckplus48")
    protocols = ck.against("image", "subject", ck.models("image"), seeds=[0])
    subjects = ck.clusters("subject", ck.pooled(FUSION, "subject")["index"].to_numpy())
    claims = []
    for label in (FUSION, PAPER):
        image, subject = 100 * ck.folds(label, "image"), 100 * ck.folds(label, "subject")
        test = protocols.loc[label]
        recipe = one((r.recipe_name for r in ck.jobs(label, "subject")), "recipes")
        epochs = one((r.config["recipe"]["epochs"] for r in ck.jobs(label, "subject")), "epoch counts")
        training = span((100 * r.curves["train_accuracy"][-1] for p in ("image", "subject")
                         for r in ck.jobs(label, p)), decimal)
        claims.append(Claim(CK, f"| {md(label)} | {recipe} | {{}} | {{}}–{{}} | {{}} ± {{}} | {{}} ± {{}} | {{}} | "
                                "{}/{}, {} |",
                            (str(epochs), *training, decimal(image.mean()), decimal(image.std()),
                             decimal(subject.mean()), decimal(subject.std()), signed(image.mean() - subject.mean()),
                             str(int(test["b"])), str(int(test["c"])), pvalue(test["p_holm"]))))
    for protocol in ("image", "subject"):
        paper, default = (ck.pooled(label, protocol)["correct"].to_numpy(float) for label in (PAPER, FUSION))
        estimate, low, high = stats.cluster_bootstrap(np.column_stack([paper, default, paper - default]), subjects,
                                                      n_resamples=RESAMPLES)
        pair = ck.pair(protocol, PAPER, FUSION)
        claims.append(Claim(CK, f"{protocol} protocol: the paper recipe {{}} % [{{}}, {{}}], the default {{}} % "
                                "[{}, {}]; paper − default {} points [{}, {}], {} errors against {}; sign-flip test "
                                "over subjects p = {} (Holm), corrected resampled t p = {} (Holm)",
                            (*(decimal(100 * v[0]) for v in (estimate, low, high)),
                             *(decimal(100 * v[1]) for v in (estimate, low, high)),
                             *(signed(100 * v[2]) for v in (estimate, low, high)),
                             str(int((1 - paper).sum())), str(int((1 - default).sum())),
                             pvalue(pair["signflip_p_holm"]), pvalue(pair["nb_p_holm"]))))
    perfect = {p: int((ck.folds(PAPER, p) == 1).sum()) for p in ("image", "subject")}
    means = {(label, p): pct(ck.mean(label, p)) for label in (PAPER, FUSION) for p in ("image", "subject")}
    significant = any(ck.pair(p, PAPER, FUSION)[column] < 0.05 for p in ("image", "subject")
                      for column in ("signflip_p_holm", "nb_p_holm"))
    claims.append(Claim(TOP, "it gives the fusion model {} % under the image-level protocol (100 % on {} of the 10 "
                             "folds) and {} % under the subject-independent one, against {} and {} % with 20 epochs; "
                             "neither difference is significant",
                        (means[PAPER, "image"], str(perfect["image"]), means[PAPER, "subject"],
                         means[FUSION, "image"], means[FUSION, "subject"]),
                        holds=not significant and one((r.config["recipe"]["epochs"] for r in ck.jobs(FUSION, "image")),
                                                      "epochs") == 20))
    minutes = {p: sum(r.fit_seconds for r in ck.jobs(PAPER, p)) / 60 for p in ("image", "subject")}
    per_fold = span((r.fit_seconds / 60 for p in ("image", "subject") for r in ck.jobs(PAPER, p)), whole)
    threads = one(((r.threads, r.device) for r in ck.jobs(PAPER, "image") + ck.jobs(PAPER, "subject")), "thread counts")
    claims += [
        Claim(CK, "The paper's recipe reaches 100 % on {} of the 10 image-protocol folds and {} of the 10 "
                  "subject-protocol folds", (str(perfect["image"]), str(perfect["subject"]))),
        Claim(CK, "{} and {} minutes of training in total over the folds (image, subject), {}–{} minutes a fold, "
                  "two folds side by side on one thread each",
              (whole(minutes["image"]), whole(minutes["subject"]), *per_fold), holds=threads == (1, "cpu")),
    ]
    return claims


def _init(board: Run, label: str) -> Init:
    """The starting point of a row started from pretrained weights (one for all its folds)."""
    configs = {json.dumps(r.config["init"], sort_keys=True) for r in board.jobs(label, "subject")}
    return Init(**json.loads(str(one(configs, "starting points"))))


# --------------------------------------------------------------------------- training time


def _recipe(record: JobRecord) -> str:
    return record.config.get("recipe_name") or record.config["recipe"].get("name", "")


def time_rows(board: str) -> list[tuple[str, str, str, int, str]]:
    """Each row of a board (model as labelled, protocol, recipe) with its number of folds and
    its training time: ``fit_seconds`` summed over the folds, in whole minutes."""
    records = run(board).records
    keys = sorted({(row_label(r), r.protocol, _recipe(r)) for r in records})
    rows = []
    for label, protocol, recipe in keys:
        mine = [r for r in records if (row_label(r), r.protocol, _recipe(r)) == (label, protocol, recipe)]
        rows.append((label, protocol, recipe, len(mine), whole(sum(r.fit_seconds for r in mine) / 60)))
    return rows


def time_table(board: str) -> str:
    """The README table of :func:`time_rows`, as the board READMEs hold it."""
    lines = ["| model | protocol | recipe | folds | training time, total over folds (min) |", "|---|---|---|---|---|"]
    lines += [f"| {md(label)} | {protocol} | {recipe} | {folds} | {minutes} |"
              for label, protocol, recipe, folds, minutes in time_rows(board)]
    return "\n".join(lines)


def training_times() -> list[Claim]:
    """How long each row of every board trained here."""
    return [Claim(readme, f"| {md(label)} | {protocol} | {recipe} | {{}} | {{}} |", (str(folds), minutes))
            for board, readme in (("ckplus48", CK), ("ferplus", FP), ("ferplus-label-csv", LC), ("synthetic-quick", SYN))
            for label, protocol, recipe, folds, minutes in time_rows(board)]


# --------------------------------------------------------------------------- published figures

#: The columns of a board's table of published figures.
PUBLISHED = ("role", "model", "accuracy %", "protocol", "source", "note")


def _literature(dataset: str) -> list[dict[str, str]]:
    from ferbench.registry import get_registry

    return get_registry().get("dataset", dataset).literature()


def published_table(dataset: str) -> str:
    """The README table of the accuracies ``dataset``'s plugin says were published."""
    lines = ["| " + " | ".join(PUBLISHED) + " |", "|" + "---|" * len(PUBLISHED)]
    lines += ["| " + " | ".join(row[c] for c in PUBLISHED) + " |" for row in _literature(dataset)]
    return "\n".join(lines)


def published() -> list[Claim]:
    """Each board lists its data set's published figures as its plugin's registry gives them."""
    return [Claim(readme, "| " + " | ".join(row[c] for c in PUBLISHED) + " |")
            for dataset, readme in (("ckplus", CK), ("ferplus", FP)) for row in _literature(dataset)]


RUN_GROUPS: list[Callable[[], list[Claim]]] = [
    machines, ckplus_tables, ckplus_intervals, ckplus_leaks, ckplus_perfect_folds, ckplus_fit_and_gap, ckplus_dedup, ckplus_models,
    ckplus_provenance, ckplus_pretrained, ckplus_paper, ckplus_repeats, ferplus_board, ferplus_seeds, ferplus_label_csv, ferplus_training, ferplus_purged, synthetic, training_times,
    published]
DATA_GROUPS: list[Callable[[Path], list[Claim]]] = [ckplus_data, ferplus_data, rafdb_data]


def verify(claims: list[Claim]) -> list[tuple[Claim, str | None]]:
    """Each claim with what is wrong with it (None where its README states what the data give)."""
    texts = {name: (BOARDS / name).read_text() for name in {claim.readme for claim in claims}}
    return [(claim, check(claim, texts[claim.readme])) for claim in claims]


def results(data: Path | None = DATA) -> list[tuple[Claim, str | None]]:
    """:func:`verify` on every claim: those on the run data, and those on the data sets
    themselves where ``data`` is a folder."""
    claims = [claim for group in RUN_GROUPS for claim in group()]
    if data is not None and data.is_dir():
        claims += [claim for group in DATA_GROUPS for claim in group(data)]
    return verify(claims)


def main() -> int:
    """Print one line per claim; 1 if any fails."""
    outcome = results(DATA)
    for claim, problem in outcome:
        print(f"{'ok' if problem is None else 'MISMATCH':<8}  {claim.readme}: {claim.expected}"
              + ("" if problem is None else f"\n          {problem}"))
    if not DATA.is_dir():
        print("skipped: no ../shared/data (the claims on the data sets themselves)")
    failed = sum(problem is not None for _, problem in outcome)
    print(f"{len(outcome) - failed} of {len(outcome)} claims hold" + (f"; {failed} do not" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
