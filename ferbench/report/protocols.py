"""One data set under several protocols, side by side: what a leaky protocol adds to a score.

Boards on the same data (same fingerprint) under different protocols are compared model by
model: the mean and sd over folds under each protocol and the gap to the *reference*, the
protocol whose plan the audit found clean (``subject`` where there are several); each
protocol's leakage verdict stands beside it as the explanation. The gap and the paired test use
the fold plans (seeds) a model ran on under both protocols, so a model with three plans under
one protocol and one under the other is compared on the one they share. Where a model's pooled
test predictions under both protocols cover the same images (k-fold plans test every image once;
the official and official-purged plans share the test split), a McNemar test pairs them image by
image, Holm-adjusted over the models: the clustered McNemar test (Durkalski et al. 2003) where
the data set's clusters (subjects, clips, copies) hold several test images, or where several
shared plans test each image more than once (each image then a cluster), the exact test where
each image is its own unit. It sees test-image variation only, not the variation between
training runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from ferbench.protocols import PROTOCOLS
from ferbench.report.analysis import BoardAnalysis, correctness
from ferbench.stats import clustered_mcnemar, holm, mcnemar_test
from ferbench.report.tables import (LEAKY, csv_text, escape_markdown, leak_reason, markdown_table, metric_label,
                                    percent, pvalue)


@dataclass
class ProtocolComparison:
    """One data set's boards under different protocols."""

    dataset: str
    fingerprint: str
    metric: str
    analyses: list[BoardAnalysis]  # one per protocol, in PROTOCOLS order, the reference last
    reference: BoardAnalysis

    @property
    def labels(self) -> list[str]:
        """Models present under the reference and at least one other protocol, best under the
        reference first."""
        others = set().union(*(set(a.summary.index) for a in self.analyses[:-1]))
        common = set(self.reference.summary.index) & others
        means = self.reference.summary[f"{self.metric}_mean"]
        return sorted(common, key=lambda label: (-_number(means.get(label)), label))

    def frame(self) -> pd.DataFrame:
        """One row per (model, protocol): mean, sd, folds, leaky, gap to the reference (points,
        on the ``gap_seeds``: the fold plans the model ran on under both), and McNemar's paired
        test against the reference on the same plans (``mcnemar_b``: images right here and wrong
        under the reference, ``mcnemar_c`` the reverse, p raw and Holm over the models; empty
        where the predictions do not cover the same images)."""
        paired = self.paired
        rows = []
        for label in self.labels:
            for analysis in self.analyses:
                if label not in analysis.summary.index:
                    continue
                row = analysis.summary.loc[label]
                protocol = analysis.board.plan.protocol
                seeds = None if analysis is self.reference else self.shared(analysis, label)
                gap = None if seeds is None else 100 * (_mean(analysis, label, self.metric, seeds)
                                                        - _mean(self.reference, label, self.metric, seeds))
                rows.append({
                    "dataset": self.dataset, "label": label, "protocol": protocol,
                    "k": analysis.board.plan.k, "seed": analysis.board.plan.seed, "metric": self.metric,
                    "mean": row[f"{self.metric}_mean"], "sd": row[f"{self.metric}_sd"], "folds": int(row["folds"]),
                    "fold_plans": int(row["fold_plans"]),
                    "leaky": analysis.board.leaky,
                    "gap_points": gap,
                    "gap_seeds": None if seeds is None else "+".join(map(str, seeds)),
                    "reference": self.reference.board.plan.protocol, "paired_test": self.test_name,
                    **paired.get((label, protocol), dict.fromkeys(PAIRED_COLUMNS)),
                })
        return pd.DataFrame(rows)

    def shared(self, analysis: BoardAnalysis, label: str) -> list[int]:
        """The seeds of the fold plans ``label`` ran on under both ``analysis``'s protocol and the
        reference's."""
        return sorted(set(_seeds(analysis, label)) & set(_seeds(self.reference, label)))

    @property
    def clustered(self) -> bool:
        """Whether the reference's clusters hold several test images (the test is then clustered)."""
        units = self.reference.units
        return units is not None and units.clustered

    @cached_property
    def stacked(self) -> bool:
        """Whether some model is paired on several shared fold plans, each image then tested
        more than once (the test is then clustered, each image at least a cluster)."""
        return any(len(self.shared(a, label)) > 1 for a in self.analyses[:-1] for label in self.labels)

    @property
    def test_name(self) -> str:
        return "clustered McNemar" if self.clustered or self.stacked else "McNemar"

    @cached_property
    def paired(self) -> dict[tuple[str, str], dict[str, float]]:
        """The McNemar test (:attr:`test_name`) of each model under each other protocol against the
        reference, keyed by (model, protocol), where both pooled predictions cover the same test
        images."""
        out: dict[tuple[str, str], dict[str, float]] = {}
        for analysis in self.analyses[:-1]:
            tested = {}
            for label in self.labels:
                seeds = self.shared(analysis, label)
                pair = [_correct(a, label, seeds) for a in (analysis, self.reference)]
                if pair[0] is not None and pair[1] is not None and pair[0].index.equals(pair[1].index):
                    x, y = pair[0].to_numpy(), pair[1].to_numpy()
                    rows = pair[0].index.get_level_values("index").to_numpy()
                    if self.clustered:
                        tested[label] = clustered_mcnemar(x, y, self.reference.board.plan.test_clusters(rows)[1])
                    elif self.stacked:
                        tested[label] = clustered_mcnemar(x, y, rows)
                    else:
                        tested[label] = mcnemar_test(x, y)
            adjusted = holm([test.pvalue for test in tested.values()]) if tested else []
            for (label, test), p_holm in zip(tested.items(), adjusted):
                out[(label, analysis.board.plan.protocol)] = {
                    "mcnemar_b": test.b, "mcnemar_c": test.c, "mcnemar_p": test.pvalue,
                    "mcnemar_p_holm": float(p_holm)}
        return out


#: The paired-test columns of :meth:`ProtocolComparison.frame`.
PAIRED_COLUMNS = ("mcnemar_b", "mcnemar_c", "mcnemar_p", "mcnemar_p_holm")


def _seeds(analysis: BoardAnalysis, label: str) -> list[int]:
    """The seeds of the fold plans ``label`` ran on, on ``analysis``'s board."""
    board = analysis.board
    return [board.plans[repeat].seed for repeat in board.run_repeats(label)] if label in board.entries else []


def _mean(analysis: BoardAnalysis, label: str, metric: str, seeds: list[int]) -> float:
    """``label``'s mean ``metric`` over the folds of the fold plans of ``seeds``."""
    board = analysis.board
    scores = board.entries[label].scores
    if metric not in scores:
        return math.nan
    on = [board.plans[fold // board.plan.k].seed in seeds for fold in scores.index]
    return float(scores.loc[on, metric].mean())


def _correct(analysis: BoardAnalysis, label: str, seeds: list[int]) -> pd.Series | None:
    """Per-image correctness of a model's predictions on the fold plans of ``seeds`` (each tests
    every image once: pairing by (seed, data set row) is one to one), indexed by seed and data set
    row in order; None unless every fold of those plans has a result."""
    board = analysis.board
    if label not in board.complete() or not seeds:
        return None
    repeats = [repeat for repeat, plan in enumerate(board.plans) if plan.seed in seeds]
    right = correctness(board, [label], repeats)[label]
    seed = [board.plans[repeat].seed for repeat in right.index.get_level_values("repeat")]
    return right.set_axis(pd.MultiIndex.from_arrays([seed, right.index.get_level_values("index")],
                                                    names=["seed", "index"]))


def _number(value: object) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return -math.inf
    return -math.inf if math.isnan(number) else number


def compare_protocols(analyses: list[BoardAnalysis]) -> list[ProtocolComparison]:
    """A comparison for every data set (by fingerprint) that has boards under two or more
    protocols, on each board's primary metric."""
    groups: dict[tuple[str, str], list[BoardAnalysis]] = {}
    for analysis in analyses:
        plan = analysis.board.plan
        groups.setdefault((plan.dataset, plan.fingerprint), []).append(analysis)
    out = []
    for (dataset, fingerprint), group in groups.items():
        if len({a.board.plan.protocol for a in group}) < 2:
            continue
        clean = [a for a in group if not a.board.leaky]
        if not clean:
            continue
        reference = next((a for a in clean if a.board.plan.protocol == "subject"), clean[0])
        ordered = sorted((a for a in group if a is not reference),
                         key=lambda a: list(PROTOCOLS).index(a.board.plan.protocol)) + [reference]
        comparison = ProtocolComparison(dataset, fingerprint, reference.primary, ordered, reference)
        if comparison.labels:
            out.append(comparison)
    return out


def _heading(analysis: BoardAnalysis) -> str:
    plan = analysis.board.plan
    return f"{plan.protocol} ({plan.design}{', ' + LEAKY if analysis.board.leaky else ''})"


def table(comparison: ProtocolComparison) -> tuple[list[str], list[list[str]]]:
    """Header and rows: model, epochs, mean ± sd under each protocol (the value alone on a single
    split), then each gap to the reference, and McNemar's paired test against it where run."""
    others = comparison.analyses[:-1]
    reference = comparison.reference.board.plan.protocol
    flat = comparison.frame()
    tested = [a for a in others if flat.loc[flat["protocol"] == a.board.plan.protocol, "mcnemar_p"].notna().any()]
    frame = flat.set_index(["label", "protocol"])
    header = (["model", "epochs"] + [_heading(a) for a in comparison.analyses]
              + [f"{a.board.plan.protocol} − {reference} (points)" for a in others]
              + [f"{comparison.test_name} {a.board.plan.protocol} vs {reference}: b/c, p (Holm)" for a in tested])
    rows = []
    for label in comparison.labels:
        present = [a for a in comparison.analyses if label in a.board.entries]
        epochs = dict.fromkeys(str(a.board.entries[label].recipe["epochs"]) for a in present)
        cells = [label, " / ".join(epochs)]
        for analysis in comparison.analyses:
            if analysis not in present:
                cells.append("–")
                continue
            row = frame.loc[(label, analysis.board.plan.protocol)]
            expected = row["k"] * row["fold_plans"]
            done = "" if row["folds"] == expected else f" ({row['folds']}/{expected} folds)"
            spread = "" if row["k"] == 1 else f" ± {percent(row['sd'])}"
            plans = "" if row["fold_plans"] == 1 else f" ({row['fold_plans']} fold plans)"
            cells.append(f"{percent(row['mean'])}{spread}{done}{plans}")
        cells += [_gap(frame, label, a.board.plan.protocol, reference) if a in present else "–" for a in others]
        for analysis in tested:
            row = frame.loc[(label, analysis.board.plan.protocol)] if analysis in present else None
            cells.append("–" if row is None or pd.isna(row["mcnemar_p"]) else
                         f"{int(row['mcnemar_b'])}/{int(row['mcnemar_c'])}, {pvalue(row['mcnemar_p_holm'], '.3f')}")
        rows.append(cells)
    return header, rows


def _gap(frame: pd.DataFrame, label: str, protocol: str, reference: str) -> str:
    """The gap cell: points, and the seeds of the plans it is on where the model ran on more under
    either protocol."""
    row = frame.loc[(label, protocol)]
    seeds = str(row["gap_seeds"]).split("+") if row["gap_seeds"] else []
    plans = max(row["fold_plans"], frame.loc[(label, reference), "fold_plans"])
    if not seeds or pd.isna(row["gap_points"]):
        return "–"
    named = "" if len(seeds) == plans else f" (seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)})"
    return f"{row['gap_points']:+.1f}{named}"


def explanation(comparison: ProtocolComparison) -> list[tuple[str, str]]:
    """(protocol, leakage verdict) for each protocol, the reference last."""
    return [(_heading(a), leak_reason(a)) for a in comparison.analyses]


def title(comparison: ProtocolComparison) -> str:
    """Section title of a comparison."""
    return (f"{comparison.dataset}: protocols compared on {metric_label(comparison.metric)} "
            f"(fingerprint {comparison.fingerprint[:16]})")


def csv(comparisons: list[ProtocolComparison]) -> str:
    """Every comparison as one tidy CSV (gap in points; empty for the reference row)."""
    if not comparisons:
        return ""
    return csv_text(pd.concat([c.frame() for c in comparisons], ignore_index=True))


NOTE = ("Each gap is a difference of means over folds, on the fold plans the model ran on under both "
        "protocols (named where they are fewer than its plans under either). Where a model's predictions "
        "under both protocols cover the same test images, a McNemar test pairs them image by image on the "
        "same plans (b: right under the first protocol and wrong under the reference; c: the reverse; Holm "
        "over the models), clustered (Durkalski et al. 2003) where a subject, clip or chain of copies holds "
        "several test images or several plans test each image: it sees test-image variation only, not the "
        "variation between training runs. The leakage verdicts below say what the leaky protocol lets into "
        "training.")


def markdown(comparisons: list[ProtocolComparison]) -> list[str]:
    """The comparisons as Markdown lines (a section each)."""
    out = []
    for comparison in comparisons:
        header, rows = table(comparison)
        out += [f"## {escape_markdown(title(comparison))}", ""]
        out += markdown_table(pd.DataFrame(rows, columns=header))
        out += ["", NOTE, ""]
        out += [f"- **{escape_markdown(name)}**: {escape_markdown(text)}" for name, text in explanation(comparison)]
        out.append("")
    return out
