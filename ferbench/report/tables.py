"""Leaderboard tables as Markdown, CSV and LaTeX (booktabs), from :mod:`ferbench.report.analysis`.

Every table carries its provenance (protocol, k, seed, data fingerprint, recipes, ferbench
version and commit, device, precision) and marks a leaky board in its title and on every row.
Names and text from plugins are escaped for each format: a model named ``50%_&_{x}`` or
``<script>`` is printed as text. pandas writes the tables (``DataFrame.to_markdown``, and
``Styler.to_latex`` with its LaTeX escaping); Markdown escaping, which pandas leaves to the
caller, and the LaTeX captions are done here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from ferbench.protocols import PROTOCOLS
from ferbench.report import convergence
from ferbench.report.analysis import BoardAnalysis, Ranking
from ferbench.report.collect import Board

LABELS = {"accuracy": "accuracy", "macro_f1": "macro F1", "macro_recall": "macro recall",
          "macro_precision": "macro precision", "roc_auc_ovr": "ROC AUC (OvR)"}
LEAKY = "LEAKY"
VERIFY = "verify protocol"


def metric_label(metric: str) -> str:
    """Human name of a metric column."""
    return LABELS.get(metric, metric)


def percent(value: float, digits: int = 1) -> str:
    """A fraction as a percentage without the sign ("87.3"); "–" for NaN."""
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.{digits}f}"


def pvalue(value: float, spec: str = ".3g") -> str:
    """A p-value in format ``spec`` (three significant figures), "<0.001" below that; "–" for NaN."""
    if value is None or not math.isfinite(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:{spec}}"


def recipe_text(recipe: dict[str, Any]) -> str:
    """One line describing a training recipe."""
    size = f", input {recipe['input_size']} px" if recipe.get("input_size") else ""
    return (f"{recipe['optimizer']} lr {recipe['lr']:g}, weight decay {recipe['weight_decay']:g}, "
            f"{recipe['schedule']} schedule, {recipe['epochs']} epoch{'' if recipe['epochs'] == 1 else 's'}, batch {recipe['batch_size']}{size}")


def _seeds_text(board: Board) -> str:
    """The seed of a board's one fold plan, or its fold plans' seeds (on one split: training seeds)."""
    seeds = ", ".join(map(str, board.seeds))
    if board.repeats == 1:
        return f"seed {board.plan.seed}"
    return (f"one split, {board.repeats} training seeds ({seeds})" if board.plan.k == 1 else
            f"{board.repeats} fold plans (seeds {seeds})")


def provenance(analysis: BoardAnalysis) -> list[tuple[str, str]]:
    """(field, value) lines that say exactly what was run on a board."""
    board = analysis.board
    plan = board.plan
    entries = board.entries.values()

    def merged(name: str) -> str:  # each entry's value already joins its folds' distinct values
        parts = (part for entry in entries for part in str(entry.provenance[name]).split(" / "))
        return " / ".join(dict.fromkeys(parts))

    lines = [
        ("data set", f"{plan.dataset} (fingerprint {plan.fingerprint[:16]})"),
        ("protocol", f"{plan.protocol}: {PROTOCOLS.get(plan.protocol, ('?',))[0]}"),
        ("folds", f"k = {plan.k}, {_seeds_text(board)}" + (f", grouped by {plan.grouped_by}" if plan.grouped_by else "")),
        ("recipes", "; ".join(f"{entry.label}: {entry.recipe_name} ({recipe_text(entry.recipe)})"
                              for entry in entries)),
        ("selection", merged("selection")),
        ("ferbench", f"{merged('ferbench')} (commit {merged('commit')}), torch {merged('torch')}"),
        ("device", f"{merged('device')}, {merged('threads')} threads, precision {merged('precision')}"),
        ("leakage", leakage_text(analysis)),
        ("significance", f"{analysis.test}, α = {_alpha(analysis):g}" if analysis.test else
         "no test of which model is best: one training run per model on one split"),
    ]
    if analysis.units is not None:
        lines.insert(3, ("independent units", analysis.units.describe()))
    lines += [(f"{LEAKY} ({entry.label})", entry.cross_dataset) for entry in entries if entry.cross_dataset]
    band = next((entry.band for entry in entries if entry.band is not None), None)
    if band is not None:
        lines.append(("sanity band", f"best credible published accuracy {percent(band['accuracy'])} % "
                      f"({band['protocol']}; {band['source']}); a score above it says: {VERIFY}"))
    if any(entry.provenance["face_crop"] != "none" for entry in entries):
        lines.append(("face crop", merged("face_crop")))
    if any(entry.provenance["pretrained"] == "True" for entry in entries):
        lines.append(("pretrained", ", ".join(e.label for e in entries if e.provenance["pretrained"] == "True")))
    for entry in entries:
        if entry.provenance.get("init", "none") != "none":
            lines.append((f"starting weights ({entry.label})", entry.provenance["init"]))
        if entry.pretraining is not None:
            audit = entry.pretraining
            lines.append((f"pretraining audit ({entry.label})",
                          f"of the {audit.n} {audit.dataset} images, {audit.exact} have an exact and {audit.near} "
                          f"a near copy (score >= {audit.search.get('threshold')}) among the {audit.n_against} "
                          f"{audit.against} images it was pretrained on: {audit.test_copies()} count as "
                          f"copies (exact, or near from {audit.blocking}), {audit.suspected()} as suspected "
                          "copies (look-alikes or copies; not a leak)"))
    return lines


def _alpha(analysis: BoardAnalysis) -> float:
    return analysis.ranking.nemenyi.alpha if analysis.ranking else 0.05


def leakage_text(analysis: BoardAnalysis) -> str:
    """The leakage verdict of a board in one line."""
    board = analysis.board
    if board.leakage is None:
        return (f"{LEAKY}: {PROTOCOLS[board.plan.protocol][0]}" if board.plan.leaky
                else "no stored audit (run directory from an older ferbench)")
    if board.leaky:
        return f"{LEAKY}: " + "; ".join(board.leakage.summary(warnings=False))
    return "audited, no leak found" + ("; " + "; ".join(board.leakage.summary()) if board.leakage.summary() else "")


def leak_reason(analysis: BoardAnalysis) -> str:
    """:func:`leakage_text` without its leading "LEAKY: ", for places that say LEAKY already."""
    return leakage_text(analysis).removeprefix(f"{LEAKY}: ")


#: What a LEAKY board's banner adds after the leak's description.
LEAKY_NOTE = "These scores do not estimate the accuracy on faces the model has not seen."


def title(analysis: BoardAnalysis) -> str:
    """Board title: data set, protocol, k, and LEAKY when it leaks."""
    plan = analysis.board.plan
    board = analysis.board
    seeds = f"seed {plan.seed}" if board.repeats == 1 else f"{board.repeats} seeds"
    text = f"{plan.dataset}, {plan.protocol} protocol, {plan.design}, {seeds}"
    return f"{text} — {LEAKY}" if analysis.board.leaky else text


def _order(analysis: BoardAnalysis) -> pd.Index:
    """Labels of the board's entries, best on the primary metric first."""
    return analysis.summary.sort_values(f"{analysis.primary}_mean", ascending=False, na_position="last").index


def main_table(analysis: BoardAnalysis) -> list[dict[str, Any]]:
    """Rows of the leaderboard, best first: display strings plus ``bold`` (metric -> bool)."""
    summary = analysis.summary
    primary = analysis.primary
    order = _order(analysis)
    board = analysis.board
    rows = []
    for label in order:
        row = summary.loc[label]
        cells: dict[str, Any] = {
            "model": label,
            "folds": f"{int(row['folds'])}/{board.plan.k * int(row['fold_plans'])}" + (f" ({int(row['failed'])} failed)" if row["failed"] else ""),
        }
        for metric in analysis.metrics:
            mean, sd = row.get(f"{metric}_mean"), row.get(f"{metric}_sd")
            cells[metric] = percent(mean) + ("" if sd is None or not math.isfinite(sd) else f" ± {percent(sd)}")
        cells["t_ci"] = _interval(row, primary, "t")
        cells["boot_ci"] = _interval(row, primary, "boot")
        cells["pooled"] = percent(row.get(f"{primary}_pooled"))
        cells["pooled_ci"] = _interval(row, "accuracy", None)
        if board.repeats > 1:
            cells["repeat_sd"] = percent(row.get(f"{primary}_repeat_sd"))
        cells["min_recall"] = percent(row.get("min_recall"))
        cells["ece"] = percent(row.get("ece"))
        order_f1 = row.get("macro_f1_order", math.nan)
        cells["f1_order"] = "–" if not math.isfinite(order_f1) else f"{int(order_f1)}"
        if "accuracy_uncopied" in summary:
            cells["uncopied"] = (f"{percent(row['accuracy_uncopied'])} "
                                 f"({int(row['uncopied_n'])}/{int(row['tested_n'])})")
        cells["rank"] = "–" if not math.isfinite(row["rank"]) else f"{row['rank']:.2f}"
        entry = analysis.board.entries[label]
        cells["leakage"] = LEAKY if analysis.board.leaky or entry.cross_dataset else "clean"
        cells["band"] = band_text(entry, row.get("accuracy_mean", math.nan))
        cells["parameters"] = _scaled(entry.card.get("parameters"), 1e6, "M")
        cells["flops"] = _scaled(entry.card.get("flops"), 1e9, "G")
        cells["pretraining"] = str(entry.card.get("pretraining", "–"))
        cells["bold"] = {metric: analysis.best.get(metric) == label for metric in analysis.metrics}
        rows.append(cells)
    return rows


def band_text(entry, accuracy: float) -> str:
    """The sanity-band cell: ``verify protocol`` above the data set's best credible published
    accuracy, ``within`` at or below it, ``–`` where the data set gives none."""
    if entry.band is None:
        return "–"
    best = percent(entry.band["accuracy"])
    return f"{VERIFY} (> {best})" if entry.above_band(accuracy) else f"within (≤ {best})"


def _scaled(value: float | None, unit: float, suffix: str) -> str:
    return "–" if value is None else f"{value / unit:.2f} {suffix}"


def emphasised(key: str, text: str) -> bool:
    """Whether a leaderboard cell is a warning to print in bold or red: LEAKY, verify protocol."""
    return (key == "leakage" and text == LEAKY) or (key == "band" and text.startswith(VERIFY))


def _interval(row: pd.Series, metric: str, kind: str | None) -> str:
    prefix = metric if kind is None else f"{metric}_{kind}"
    low, high = row.get(f"{prefix}_low"), row.get(f"{prefix}_high")
    if low is None or not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    return f"{percent(low)}–{percent(high)}"


def columns(analysis: BoardAnalysis) -> list[tuple[str, str]]:
    """(key, header) of the leaderboard's columns."""
    primary = metric_label(analysis.primary)
    unit = analysis.units.unit if analysis.units is not None and analysis.units.clustered else "image"
    return ([("model", "model"), ("folds", "folds")]
            + [(m, f"{metric_label(m)} %") for m in analysis.metrics]
            + ([("repeat_sd", f"{primary} sd over repeats")] if analysis.board.repeats > 1 else [])
            + [("t_ci", f"{primary} 95% CI (t over folds)"),
               ("boot_ci", f"{primary} 95% CI (bootstrap over folds)"),
               ("pooled", f"pooled {primary} %")]
            + ([("pooled_ci", f"pooled accuracy 95% CI (by {unit})")] if "accuracy_low" in analysis.summary else [])
            + [("min_recall", "lowest class recall %"), ("ece", "ECE % (15 bins)")]
            + ([("f1_order", "macro-F1 order")] if "macro_f1_order" in analysis.summary else [])
            + ([("uncopied", "accuracy on test images without a copy in training %")]
               if "accuracy_uncopied" in analysis.summary else [])
            + [("rank", "mean rank"), ("parameters", "parameters"),
               ("flops", "FLOPs (forward)"), ("pretraining", "pretraining"), ("leakage", "leakage"),
               ("band", "sanity band")])


def pair_table(analysis: BoardAnalysis) -> list[dict[str, str]]:
    """Pairwise comparisons on the primary metric, raw and Holm-adjusted p-values."""
    pairs = analysis.pairs.get(analysis.primary)
    if pairs is None or pairs.empty:
        return []

    def points(value: float) -> str:
        return f"{100 * value:+.1f}" if math.isfinite(value) else "–"

    def share(value: float) -> str:
        return f"{value:.2f}" if math.isfinite(value) else "–"

    return [{
        "a": row["a"], "b": row["b"],
        "difference": points(row["mean_difference"]),
        "folds": str(int(row["folds"])),
        "nb": pvalue(row["nb_p"]), "nb_holm": pvalue(row["nb_p_holm"]),
        "wilcoxon": pvalue(row["wilcoxon_p"]), "wilcoxon_holm": pvalue(row["wilcoxon_p_holm"]),
        "bayes": (f"{share(row['bayes_a'])} / {share(row['bayes_rope'])} / {share(row['bayes_b'])}"
                  if math.isfinite(row["bayes_a"]) else "–"),
        "diff_ci": ("–" if not math.isfinite(row["diff_low"])
                    else f"{points(row['diff_low'])} to {points(row['diff_high'])}"),
        "signflip": pvalue(row["signflip_p"]), "signflip_holm": pvalue(row["signflip_p_holm"]),
        "cmcnemar": pvalue(row["cmcnemar_p"]), "cmcnemar_holm": pvalue(row["cmcnemar_p_holm"]),
        "mcnemar_bc": ("–" if not math.isfinite(row["mcnemar_b"])
                       else f"{int(row['mcnemar_b'])}/{int(row['mcnemar_c'])}"),
        "mcnemar": pvalue(row["mcnemar_p"]), "mcnemar_holm": pvalue(row["mcnemar_p_holm"]),
        "ttest": pvalue(row["ttest_p"]), "ttest_holm": pvalue(row["ttest_p_holm"]),
    } for _, row in pairs.iterrows()]


def pair_columns(analysis: BoardAnalysis) -> list[tuple[str, str]]:
    """(key, header) of the pairwise table: fold-level tests, the Bayesian test, and the tests
    on pooled predictions at the board's independent unit."""
    units = analysis.units
    fold_test = "corrected repeated t" if units is not None and units.repeats > 1 else "corrected t"
    extra = [("ttest", "paired t p (uncorrected; extra)")]
    if analysis.board.plan.k == 1:  # one split: no folds; with several seeds, the paired t over them
        columns = [("a", "A"), ("b", "B"), ("difference", "A − B (points, mean over seeds)"), ("folds", "seeds"),
                   ("ttest", "paired t over seeds p"), ("ttest_holm", "paired t over seeds p (Holm)")]
        extra = []
    else:
        columns = [("a", "A"), ("b", "B"), ("difference", "A − B (points, mean over folds)"), ("folds", "folds"),
                   ("nb", f"{fold_test} p"), ("nb_holm", f"{fold_test} p (Holm)"),
                   ("wilcoxon", "Wilcoxon p"), ("wilcoxon_holm", "Wilcoxon p (Holm)"),
                   ("bayes", f"P(A better / within ±{100 * analysis.rope:g} / B better)")]
    if analysis.primary != "accuracy" or units is None:
        return columns + extra
    if units.clustered:
        columns += [("diff_ci", f"pooled A − B 95% CI (by {units.unit})"),
                    ("signflip", f"sign-flip over {units.unit}s p"),
                    ("signflip_holm", f"sign-flip over {units.unit}s p (Holm)"),
                    ("mcnemar_bc", "b/c (images)"),
                    ("cmcnemar", "clustered McNemar p"), ("cmcnemar_holm", "clustered McNemar p (Holm)")]
    else:
        columns += [("diff_ci", "pooled A − B 95% CI (bootstrap)"),
                    ("mcnemar_bc", "McNemar b/c"), ("mcnemar", "McNemar p (test images only)"),
                    ("mcnemar_holm", "McNemar p (Holm)")]
    return columns + extra


def recall_frame(analysis: BoardAnalysis) -> pd.DataFrame:
    """Per-class recall in % (pooled test predictions), one row per entry in leaderboard order;
    a 0 % cell is written ``0.0 (!)``."""
    cells = analysis.recall.loc[_order(analysis)].map(
        lambda value: "–" if not math.isfinite(value) else ("0.0 (!)" if value == 0 else percent(value)))
    return cells.reset_index(names="model")


def ranking_text(ranking: Ranking | None) -> str:
    """One paragraph: Friedman, Iman–Davenport, Nemenyi CD, and how independent the blocks are."""
    if ranking is None:
        return ""
    f, n = ranking.friedman, ranking.nemenyi
    caveat = ("" if ranking.independent else
              " Folds of one data set share training data, so these blocks are not independent: "
              "read the ranks as indicative, and the corrected t-tests above as the test.")
    return (f"Friedman over {f.n_blocks} blocks ({ranking.blocks}), {f.n_models} models, on "
            f"{metric_label(ranking.metric)}: χ²_F = {f.chi2:.3f}, p = {pvalue(f.chi2_pvalue)}; "
            f"Iman–Davenport F = {f.f:.3f}, p = {pvalue(f.f_pvalue)}. Nemenyi critical difference "
            f"(α = {n.alpha:g}) = {n.cd:.3f} ranks." + caveat)


# ---------------------------------------------------------------- escaping

_MD = str.maketrans({"|": r"\|", "\\": "\\\\", "*": r"\*", "_": r"\_", "`": r"\`", "[": r"\[",
                     "]": r"\]", "<": "&lt;", ">": "&gt;", "&": "&amp;", "#": r"\#", "$": r"\$"})
_TEX = str.maketrans({"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                      "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"})
_TEX_SIGNS = {"<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}", "±": r"$\pm$", "–": "--",
              "−": "$-$", "α": r"$\alpha$", "χ²": r"$\chi^2$", "—": "---", "²": r"\textsuperscript{2}",
              "≤": r"$\leq$", "←": r"$\leftarrow$", "\n": " ", "\r": " "}


def escape_markdown(text: str) -> str:
    """``text`` as literal Markdown (also safe where Markdown is rendered to HTML)."""
    return str(text).translate(_MD).replace("\n", " ")


def latex_signs(text: str) -> str:
    """LaTeX-escaped ``text`` with what LaTeX escaping leaves alone (``<``, ``>``, ``|``, and
    the few non-ASCII signs we print) written so that any LaTeX font prints it."""
    for plain, tex in _TEX_SIGNS.items():
        text = text.replace(plain, tex)
    return text


def escape_latex(text: str) -> str:
    """``text`` as literal LaTeX text, for the captions (Styler escapes cells and headers only)."""
    return latex_signs(str(text).translate(_TEX))


# ---------------------------------------------------------------- renderers

def markdown_table(frame: pd.DataFrame, strong: pd.DataFrame | None = None) -> list[str]:
    """``frame`` as the lines of a Markdown table, its headers and cells escaped, in bold where
    ``strong`` is True. Cells are printed as given (tabulate would print "1.70" as 1.7)."""
    cells = frame.map(escape_markdown)
    if strong is not None:
        cells = cells.mask(strong, "**" + cells + "**")
    return cells.rename(columns=escape_markdown).to_markdown(index=False, disable_numparse=True).splitlines()


def leaderboard_frame(analysis: BoardAnalysis, keys: list[tuple[str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leaderboard's cells under the (key, header) columns ``keys``, and which to print in
    bold: the significantly best, and the warnings (:func:`emphasised`)."""
    rows = main_table(analysis)
    headers = [header for _, header in keys]
    text = pd.DataFrame([[row[key] for key, _ in keys] for row in rows], columns=headers, dtype=object)
    strong = pd.DataFrame([[bool(row["bold"].get(key)) or emphasised(key, row[key]) for key, _ in keys]
                           for row in rows], columns=headers, dtype=bool)
    return text, strong


def markdown(analyses: list[BoardAnalysis], across: Ranking | None = None,
             figures: Callable[[BoardAnalysis], dict[str, str]] | None = None,
             first: list[str] | None = None, last: list[str] | None = None) -> str:
    """The whole leaderboard as Markdown; ``figures`` maps a board to {caption: relative path};
    ``first`` are lines that go before the boards (the protocol comparisons), ``last`` after
    everything else (the published figures)."""
    out = ["# ferbench leaderboard", "", *(first or [])]
    for analysis in analyses:
        out += [f"## {escape_markdown(title(analysis))}", ""]
        if analysis.board.leaky:
            out += [f"> **{LEAKY}**: {escape_markdown(leak_reason(analysis))}. {LEAKY_NOTE}", ""]
        out += [f"- **{name}**: {escape_markdown(value)}" for name, value in provenance(analysis)]
        out.append("")
        out += markdown_table(*leaderboard_frame(analysis, columns(analysis)))
        out += ["", bold_note(analysis), ""]
        if not analysis.recall.empty:
            out += ["Recall per class, % of each class's test images (pooled predictions; (!) marks 0 %):", ""]
            out += markdown_table(recall_frame(analysis))
            out.append("")
        pairs = pair_table(analysis)
        if pairs:
            keys = pair_columns(analysis)
            out += [f"Pairwise comparisons on {metric_label(analysis.primary)} (p-values; Holm "
                    f"adjusts within each test's family of pairs; {PAIR_NOTE}):", ""]
            out += markdown_table(pd.DataFrame(pairs)[[key for key, _ in keys]].rename(columns=dict(keys)))
            out.append("")
        if analysis.ranking:
            out += [escape_markdown(ranking_text(analysis.ranking)), ""]
        header, training = convergence.rows(analysis.board)
        if training:
            out += ["Training (from the stored curves of every fold):", ""]
            out += markdown_table(pd.DataFrame(training, columns=header))
            out += ["", convergence.NOTE, ""]
        out += [f"- {escape_markdown(note)}" for note in analysis.notes]
        if figures:
            out += [f"![{escape_markdown(caption)}]({path})" for caption, path in figures(analysis).items()]
        out.append("")
    if across is not None:
        out += ["## Across data sets", "", escape_markdown(ranking_text(across)), ""]
        out += markdown_table(pd.DataFrame({"model": across.friedman.ranks.index,
                                            "mean rank": [f"{rank:.2f}" for rank in across.friedman.ranks]}))
        out.append("")
    out += last or []
    return "\n".join(out).rstrip() + "\n"


#: How to read the pairwise table's Bayesian column and its intervals.
PAIR_NOTE = ("the Bayesian column is the correlated Bayesian t-test's posterior probability that A is "
             "better, that the two are practically equivalent, or that B is better")


def _spread(k: int, repeats: int, plans: pd.Series) -> str:
    """What the ± of the main table is over: folds, fold plans or training seeds (``plans``: how
    many fold plans each model ran on)."""
    runs = "training seeds of one split" if k == 1 else "folds"
    if k == 1 and repeats == 1:
        return "Scores on the split's test part, in % (one split, one training run: no sd)."
    if repeats == 1:
        return "Mean ± sd over folds, in %."
    if (plans == repeats).all():
        return (f"Mean ± sd over the {repeats} {runs}, in %." if k == 1 else
                f"Mean ± sd over all {repeats} × {k} folds, in %.")
    return f"Mean ± sd over each model's {runs} (the folds column), in %."


def bold_note(analysis: BoardAnalysis) -> str:
    bold = [metric_label(m) for m, label in analysis.best.items() if label]
    where = f" (here: {', '.join(bold)})" if bold else " (here: none)"
    plans = analysis.summary["fold_plans"] if "fold_plans" in analysis.summary else pd.Series([1])
    spread = _spread(analysis.board.plan.k, analysis.board.repeats, plans)
    k = analysis.board.plan.k
    runs = ("" if (plans > 1).all() else
            " One training run per model and fold: the variation between training runs is not covered."
            if (plans == 1).all() else
            " Models with one seed: one training run, the variation between training runs not covered." if k == 1 else
            " Models on one fold plan: one training run per fold, the variation between training runs not covered.")
    if analysis.units is not None and not analysis.test:
        return (f"No bold: one training run per model on one split. The tests below cover the sampling of "
                f"test images, not the variation between training runs, so they cannot say which model is "
                f"better. {spread}")
    return (f"Bold: the best model in a column, only where it beats every other model significantly "
            f"({analysis.test or 'no test applies'}, α = {_alpha(analysis):g}){where}. {spread}{runs}")


def csv(analyses: list[BoardAnalysis]) -> str:
    """Every number of every board, one row per model per board, with provenance columns."""
    frames = []
    for analysis in analyses:
        plan = analysis.board.plan
        frame = analysis.summary.reset_index()
        frame.insert(0, "seed", plan.seed)
        frame.insert(0, "k", plan.k)
        frame.insert(0, "protocol", plan.protocol)
        frame.insert(0, "dataset", plan.dataset)
        frame.insert(4, "repeats", analysis.board.repeats)
        frame["leaky"] = analysis.board.leaky
        frame["fingerprint"] = plan.fingerprint
        if analysis.units is not None:
            frame["cluster_unit"] = analysis.units.unit
            frame["clusters"] = analysis.units.clusters
        for name in analysis.recall.columns:
            frame[f"recall_{name}"] = analysis.recall.loc[frame["label"], name].to_numpy()
        for metric in analysis.metrics:
            frame[f"{metric}_best_significant"] = frame["label"] == analysis.best.get(metric)
        for name in ("ferbench", "commit", "torch", "device", "threads", "precision", "selection", "face_crop", "init"):
            frame[name] = [analysis.board.entries[label].provenance[name] for label in frame["label"]]
        frame["recipe_details"] = [recipe_text(analysis.board.entries[label].recipe) for label in frame["label"]]
        entries = [analysis.board.entries[label] for label in frame["label"]]
        for name in ("parameters", "flops", "input_size", "channels", "pretraining", "licence", "citation"):
            frame[f"card_{name}"] = [entry.card.get(name) for entry in entries]
        frame["sanity_band"] = [None if e.band is None else e.band["accuracy"] for e in entries]
        frame["above_sanity_band"] = [e.above_band(m) for e, m in zip(entries, frame.get(
            "accuracy_mean", pd.Series([math.nan] * len(frame))))]
        frames.append(frame)
    return csv_text(pd.concat(frames, ignore_index=True))


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as CSV, with text cells that a spreadsheet would run as a formula (starting with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return: plugin texts can hold anything) kept
    as text by a leading apostrophe; numbers are written as they are."""

    def defuse(value: object) -> object:
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            try:
                float(value)
            except ValueError:
                return "'" + value
        return value

    return frame.map(defuse).to_csv(index=False)


def pairs_csv(analyses: list[BoardAnalysis]) -> str:
    """Every pairwise test of every board and metric."""
    frames = [pairs.assign(dataset=a.board.plan.dataset, protocol=a.board.plan.protocol, k=a.board.plan.k,
                           seed=a.board.plan.seed, repeats=a.board.repeats, metric=metric,
                           cluster_unit=a.units.unit if a.units is not None else "image")
              for a in analyses for metric, pairs in a.pairs.items() if not pairs.empty]
    if not frames:
        return "no pairwise comparisons (fewer than two complete models on every board)\n"
    frame = pd.concat(frames, ignore_index=True)
    first = ["dataset", "protocol", "k", "seed", "repeats", "metric", "cluster_unit"]
    return csv_text(frame[first + [c for c in frame.columns if c not in first]])


def latex(analyses: list[BoardAnalysis]) -> str:
    """One booktabs ``table`` per board (needs ``\\usepackage{booktabs}``)."""
    out = ["% ferbench leaderboard; needs \\usepackage{booktabs}", ""]
    for analysis in analyses:
        keys = [(key, header) for key, header in columns(analysis)
                if key not in ("t_ci", "boot_ci", "min_recall", "ece", "f1_order")]
        caption = escape_latex(title(analysis)) + ". " + escape_latex(
            "; ".join(f"{name}: {value}" for name, value in provenance(analysis))) + ". " + escape_latex(
            bold_note(analysis))
        if analysis.board.leaky:
            caption = r"\textbf{" + LEAKY + "}: " + caption
        text, strong = leaderboard_frame(analysis, keys)
        tabular = (text.style.hide(axis="index")
                   .format(latex_signs, escape="latex").format_index(latex_signs, escape="latex", axis=1)
                   .apply(lambda _: strong.map(lambda bold: "textbf: --rwrap;" if bold else ""), axis=None)
                   .to_latex(hrules=True, column_format="l" + "r" * (len(keys) - 1)))
        # The float by hand: Styler writes its table styles after \caption, and \small is to set the caption too.
        out += [r"\begin{table}[t]", r"\centering", r"\small", r"\caption{" + caption + "}",
                tabular.rstrip("\n"), r"\end{table}", ""]
    return "\n".join(out)
