"""`ferbench report`: merging run directories, statistics in the tables, formats, escaping.

Most run directories here are written through ``RunStore`` with predictions whose accuracy we
choose, so which differences are significant is known; one test reports a real (tiny) run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from conftest import make_dataset, unpadded

import ferbench
from ferbench import stats
from ferbench.errors import UserError
from ferbench.job import Job, plan_digest
from ferbench.leakage import audit
from ferbench.protocols import assign_folds, with_clusters
from ferbench.record import JobRecord, JobResult
from ferbench.registry import get_registry
from ferbench.report import build_report, collect
from ferbench.scoring import metric_info, score
from ferbench.report.tables import escape_latex, escape_markdown
from ferbench.specs import Recipe
from ferbench.store import RunStore

HOSTILE = "<script>alert(1)</script>"
TEXY = "50%_&_{x}"


def write_run(root, accuracy: dict[str, float], *, protocol="subject", k=5, seed=0, n_subjects=10,
              plan=None, epochs=3, fail=(), band=None, card=None, dataset=None, correct=None):
    """A run directory whose model ``m`` answers correctly with probability ``accuracy[m]``.

    Each model's correctness is drawn independently per sample (seeded by the model name), so
    two models with the same accuracy differ only by chance; ``correct(model, test_index)``, if
    given, says instead which test samples a model gets right. ``fail`` lists (model, fold) jobs
    recorded as failed. ``band`` and ``card`` are recorded as a run records the data set's
    sanity band and the model card. The plan carries the data set's clusters, as a run's does.
    """
    dataset = dataset or make_dataset(n_subjects=n_subjects, per_subject=6, n_classes=3)
    plan = plan or with_clusters(assign_folds(dataset, protocol, k, seed), dataset)
    store = RunStore(root)
    store.save_plan(plan)
    report = audit(dataset, plan)
    store.save_report(report, plan)
    metrics = get_registry().select("metric", "all")
    for model, p in accuracy.items():
        rng = np.random.default_rng(sum(map(ord, model)))
        for fold in range(plan.k):
            job = Job(model=model, recipe_name="default", recipe=Recipe(epochs=epochs), dataset=dataset.name,
                      fingerprint=dataset.fingerprint, protocol=protocol, k=plan.k, fold=fold, run_seed=seed,
                      plan_digest=plan_digest(plan))
            info = {"device": "cpu", "threads": 2, "precision": "fp32", "leaky": report.leaky,
                    "metric_info": {m.name: metric_info(m) for m in metrics},
                    "selection": "fixed budget: last epoch", "classes": list(dataset.classes),
                    "versions": {"ferbench": "0.1.0", "ferbench_commit": "abc123", "torch": "2.x"},
                    "curves": {"train_loss": list(np.linspace(1.0, 0.5, epochs))}}
            if band is not None:
                info["sanity_band"] = band
            if card is not None:
                info["card"] = card
            if (model, fold) in fail:
                store.commit(JobResult(job, JobRecord(job.config(), job.config_hash, "failed",
                                                      error="RuntimeError: boom\n\ntraceback", **info)))
                continue
            index = plan.test_index(fold)
            y = dataset.labels[index]
            right = rng.random(len(index)) < p if correct is None else correct(model, index)
            predicted = np.where(right, y, (y + 1) % 3)
            proba = np.full((len(index), 3), 0.1)
            proba[np.arange(len(index)), predicted] = 0.8
            info |= {"n_train": int(len(plan.train_index(fold))), "n_test": int(len(index))}
            scores, _ = score({m.name: m.fn for m in metrics}, y, proba)
            store.commit(JobResult(job, JobRecord(job.config(), job.config_hash, "ok", scores, **info),
                                   index, y, proba))
    return plan


def test_report_writes_every_format_with_provenance(tmp_path):
    plan = write_run(tmp_path / "run", {"alpha-net": 0.9, "beta-net": 0.5})
    outcome = build_report([tmp_path / "run"], tmp_path / "out")
    names = {path.relative_to(tmp_path / "out").as_posix() for path in outcome.files}
    assert {"leaderboard.md", "leaderboard.csv", "pairwise.csv", "leaderboard.tex", "index.html"} <= names
    assert any(name.startswith("figures/") and name.endswith(".png") for name in names)
    for name in names:
        assert (tmp_path / "out" / name).stat().st_size > 0
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    for needle in ("subject protocol", "k = 5", "seed 0", plan.fingerprint[:16], "adam lr 0.001",
                   "3 epochs", "0.1.0 (commit abc123)", "cpu, 2 threads, precision fp32",
                   "fixed budget: last epoch", "corrected resampled t"):
        assert needle in md, needle
    table = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert list(table["label"]) == ["alpha-net", "beta-net"]
    assert set(table["fingerprint"]) == {plan.fingerprint} and not table["leaky"].any()
    tex = (tmp_path / "out" / "leaderboard.tex").read_text()
    assert all(rule in tex for rule in (r"\toprule", r"\midrule", r"\bottomrule"))
    html = (tmp_path / "out" / "index.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html


def test_html_can_link_the_figure_files_instead_of_embedding_them(tmp_path):
    write_run(tmp_path / "run", {"alpha-net": 0.9, "beta-net": 0.5})
    build_report([tmp_path / "run"], tmp_path / "embedded")
    build_report([tmp_path / "run"], tmp_path / "linked", html_figures="link")
    embedded = (tmp_path / "embedded" / "index.html").read_text()
    linked = (tmp_path / "linked" / "index.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', linked)
    assert len(sources) == embedded.count("<img ") >= 5 and "data:" not in "".join(sources)
    figures = {path.relative_to(tmp_path / "linked").as_posix()
               for path in (tmp_path / "linked" / "figures").rglob("*.png")}
    assert set(sources) == figures  # every figure file, each shown once, none missing
    assert len(linked) * 5 < len(embedded)
    with pytest.raises(ValueError, match="embed, link"):
        build_report([tmp_path / "run"], tmp_path / "bad", html_figures="inline")


def test_report_command_offers_the_figure_modes_build_report_accepts():
    from ferbench.cli import report as command
    from ferbench.report import HTML_FIGURES

    assert command.HTML_FIGURES == HTML_FIGURES


def test_tables_carry_the_statistics_module_numbers(tmp_path):
    write_run(tmp_path / "run", {"a": 0.8, "b": 0.6, "c": 0.55}, k=5)
    analysis = build_report([tmp_path / "run"], tmp_path / "out").analyses[0]
    board = analysis.board
    fold_scores = pd.DataFrame({label: board.entries[label].scores["accuracy"] for label in "abc"})
    ratio = board.test_train_ratio()
    assert ratio == pytest.approx(np.mean([board.entries["a"].n_test[f] / board.entries["a"].n_train[f]
                                           for f in range(5)]))
    row = analysis.pairs["accuracy"].set_index(["a", "b"]).loc[("a", "c")]
    direct = stats.corrected_ttest(fold_scores["a"], fold_scores["c"], ratio)
    assert row["nb_p"] == pytest.approx(direct.pvalue) and row["nb_t"] == pytest.approx(direct.statistic)
    raw = analysis.pairs["accuracy"]["nb_p"].to_numpy()
    assert analysis.pairs["accuracy"]["nb_p_holm"].to_numpy() == pytest.approx(stats.holm(raw))
    summary = stats.summarize(fold_scores["b"])
    assert analysis.summary.loc["b", "accuracy_mean"] == pytest.approx(summary.mean)
    assert analysis.summary.loc["b", "accuracy_t_low"] == pytest.approx(summary.t_low)
    pooled = board.entries["a"].predictions
    assert analysis.summary.loc["a", "accuracy_pooled"] == pytest.approx((pooled.y_true == pooled.y_pred).mean())
    correct = {m: board.entries[m].predictions.sort_values("index") for m in "ac"}
    right = [(c.y_true == c.y_pred).to_numpy() for c in correct.values()]
    _, subjects = board.plan.test_clusters(correct["a"]["index"].to_numpy())
    assert row["signflip_p"] == pytest.approx(stats.cluster_permutation_test(*right, subjects).pvalue)
    assert row["cmcnemar_p"] == pytest.approx(stats.clustered_mcnemar(*right, subjects).pvalue)
    assert np.isnan(row["mcnemar_p"])  # subjects hold several images: no per-image McNemar
    assert analysis.ranking.friedman.ranks.index[0] == "a"


def test_best_is_bold_only_where_the_difference_is_significant(tmp_path):
    write_run(tmp_path / "clear", {"strong": 0.95, "weak": 0.35}, k=10, n_subjects=20)
    build_report([tmp_path / "clear"], tmp_path / "clear-out")
    md = unpadded((tmp_path / "clear-out" / "leaderboard.md").read_text())
    strong_row = next(line for line in md.splitlines() if line.startswith("| strong"))
    assert strong_row.split("|")[3].strip().startswith("**")  # the accuracy cell
    assert not any(line.startswith("| weak") and "**" in line for line in md.splitlines())

    write_run(tmp_path / "tied", {"one": 0.6, "two": 0.6}, k=10, n_subjects=20)
    outcome = build_report([tmp_path / "tied"], tmp_path / "tied-out")
    assert outcome.analyses[0].best["accuracy"] is None
    md = unpadded((tmp_path / "tied-out" / "leaderboard.md").read_text())
    assert not any(line.startswith(("| one", "| two")) and "**" in line for line in md.splitlines())
    assert "(here: none)" in md


def test_leaky_results_are_marked_in_every_format(tmp_path):
    write_run(tmp_path / "run", {"m1": 0.9, "m2": 0.7}, protocol="image")
    outcome = build_report([tmp_path / "run"], tmp_path / "out")
    assert outcome.analyses[0].board.leaky
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert "image protocol, 5-fold, seed 0 — LEAKY" in md and "> **LEAKY**" in md
    assert all("**LEAKY**" in line for line in md.splitlines() if line.startswith(("| m1 | 5/5", "| m2 | 5/5")))
    assert pd.read_csv(tmp_path / "out" / "leaderboard.csv")["leaky"].all()
    tex = (tmp_path / "out" / "leaderboard.tex").read_text()
    assert r"\caption{\textbf{LEAKY}" in tex and tex.count(r"\textbf{LEAKY} & ") == 2
    html = (tmp_path / "out" / "index.html").read_text()
    assert html.count('<span class="leaky">LEAKY</span>') >= 3 and 'class="banner"' in html


def _rename_model(run_dir, old: str, new: str) -> None:
    """Rewrite stored records as if a plugin had named its model ``new``."""
    for path in run_dir.rglob("fold-*.json"):
        record = json.loads(path.read_text())
        if record["config"]["model"] == old:
            record["config"]["model"] = new
            path.write_text(json.dumps(record))


def test_names_from_plugins_are_escaped_in_html_latex_and_markdown(tmp_path):
    write_run(tmp_path / "run", {"evil": 0.8, "texy": 0.6})
    _rename_model(tmp_path / "run", "evil", HOSTILE)
    _rename_model(tmp_path / "run", "texy", TEXY)
    build_report([tmp_path / "run"], tmp_path / "out")
    html = (tmp_path / "out" / "index.html").read_text()
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # only ferbench's own sorting script
    tex = (tmp_path / "out" / "leaderboard.tex").read_text()
    assert TEXY not in tex and r"50\%\_\&\_\{x\}" in tex
    assert r"\textless{}script\textgreater{}" in tex
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert HOSTILE not in md and "&lt;script&gt;" in md
    assert escape_latex("a\\b~c^d$e#f") == r"a\textbackslash{}b\textasciitilde{}c\textasciicircum{}d\$e\#f"
    assert escape_markdown("a|b*c_d") == r"a\|b\*c\_d"


def test_html_escapes_free_text_such_as_errors(tmp_path):
    write_run(tmp_path / "run", {"m1": 0.8, "m2": 0.6}, fail={("m2", 1)})
    for path in (tmp_path / "run").rglob("fold-1.json"):
        record = json.loads(path.read_text())
        if record["status"] == "failed":
            record["error"] = f"ValueError: bad {HOSTILE}\n\ntraceback"
            path.write_text(json.dumps(record))
    outcome = build_report([tmp_path / "run"], tmp_path / "out")
    html = (tmp_path / "out" / "index.html").read_text()
    assert HOSTILE not in html and "m2, fold 1: failed (ValueError: bad &lt;script&gt;" in html
    analysis = outcome.analyses[0]
    assert analysis.board.complete() == ["m1"] and analysis.pairs["accuracy"].empty
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert "| m2 | 4/5 (1 failed) |" in md and "not compared" in md


def test_runs_on_the_same_folds_merge_into_one_board(tmp_path):
    plan = write_run(tmp_path / "first", {"old-model": 0.7})
    write_run(tmp_path / "later", {"new-model": 0.8}, plan=plan)
    boards = collect([tmp_path / "first", tmp_path / "later"])
    assert len(boards) == 1 and set(boards[0].entries) == {"old-model", "new-model"}
    assert boards[0].sources == [tmp_path / "first", tmp_path / "later"]
    outcome = build_report([tmp_path / "first", tmp_path / "later"], tmp_path / "out")
    assert len(outcome.analyses[0].pairs["accuracy"]) == 1


def test_results_on_different_fold_assignments_are_refused(tmp_path):
    plan = write_run(tmp_path / "first", {"m1": 0.7})
    shuffled = np.random.default_rng(1).permutation(plan.test_fold)
    other = type(plan)(**{**plan.__dict__, "test_fold": shuffled})
    write_run(tmp_path / "second", {"m2": 0.7}, plan=other)
    with pytest.raises(UserError, match="assign folds differently .* not paired"):
        collect([tmp_path / "first", tmp_path / "second"])


def test_two_different_results_for_one_job_are_refused(tmp_path):
    plan = write_run(tmp_path / "first", {"m1": 0.7})
    write_run(tmp_path / "second", {"m1": 0.7}, plan=plan, epochs=4)
    with pytest.raises(UserError, match="different results for m1 on fold 0"):
        collect([tmp_path / "first", tmp_path / "second"])
    assert len(collect([tmp_path / "first", tmp_path / "first"])[0].entries) == 1


def test_several_data_sets_are_ranked_with_data_sets_as_blocks(tmp_path):
    write_run(tmp_path / "run", {"a": 0.9, "b": 0.7, "c": 0.5})
    # A second "data set": the same fabricated results under another name and fingerprint.
    for path in sorted((tmp_path / "run").rglob("*.json")):
        text = path.read_text().replace('"tiny"', '"tiny2"')
        target = path.parent / path.name.replace("tiny-", "tiny2-")
        if "/jobs/" in path.as_posix():
            target = tmp_path / "run" / path.relative_to(tmp_path / "run").as_posix().replace("/tiny/", "/tiny2/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        if path.suffix == ".json" and "/jobs/" in path.as_posix():
            npz = path.with_suffix(".npz")
            target.with_suffix(".npz").write_bytes(npz.read_bytes())
    outcome = build_report([tmp_path / "run"], tmp_path / "out")
    assert [a.board.key for a in outcome.analyses] == ["tiny-subject-k5-s0", "tiny2-subject-k5-s0"]
    assert outcome.across is not None and outcome.across.independent
    assert outcome.across.friedman.n_blocks == 2 and list(outcome.across.friedman.ranks.index) == ["a", "b", "c"]
    assert (tmp_path / "out" / "figures" / "across-datasets-cd.png").exists()
    assert "## Across data sets" in (tmp_path / "out" / "leaderboard.md").read_text()


def test_report_command_prints_tables_and_names_bad_input(cli, tmp_path):
    write_run(tmp_path / "run", {"m1": 0.8, "m2": 0.6})
    status, out, _ = cli("report", tmp_path / "run", "--out", tmp_path / "out")
    assert status == 0 and "m1" in out and "pairwise on accuracy" in out and "wrote" in out
    status, _, err = cli("report", tmp_path / "nothing-here", "--out", tmp_path / "out")
    assert status == 2 and "nothing-here does not exist" in err
    status, _, err = cli("report", tmp_path / "run", "--out", tmp_path / "out", "--metric", "kappa")
    assert status == 2 and "metric 'kappa' is not in the results" in err
    status, _, err = cli("report", tmp_path / "run", "--out", tmp_path / "out", "--alpha", "5")
    assert status == 2 and "--alpha must be between 0 and 1" in err


@pytest.mark.slow
def test_report_of_a_real_run(cli, tmp_path):
    assert cli("run", "--models", "smallcnn", "--folds", "3", "--epochs", "1", "--out", tmp_path / "run")[0] == 0
    assert cli("run", "--models", "smallcnn", "--folds", "3", "--epochs", "1", "--lr", "0.01",
               "--out", tmp_path / "run2")[0] == 0
    status, _, err = cli("report", tmp_path / "run", tmp_path / "run2", "--out", tmp_path / "out")
    assert status == 2 and "different results for smallcnn" in err
    status, out, _ = cli("report", tmp_path / "run", "--out", tmp_path / "out")
    assert status == 0
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert "| smallcnn | 3/3 |" in md and "smallcnn: default (adam" in md
    assert (tmp_path / "out" / "figures" / "synthetic-subject-k3-s0" / "confusion-smallcnn.png").exists()


def test_scores_above_the_sanity_band_say_verify_protocol_in_every_format(tmp_path):
    band = {"accuracy": 0.7, "protocol": "subject-independent 10-fold", "source": "Someone 2024"}
    card = {"parameters": 1_700_000, "flops": 3.3e8, "pretraining": "none", "licence": "MIT"}
    write_run(tmp_path / "run", {"high": 0.95, "low": 0.5}, band=band, card=card)
    build_report([tmp_path / "run"], tmp_path / "out")
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    high = next(line for line in md.splitlines() if line.startswith("| high |"))
    low = next(line for line in md.splitlines() if line.startswith("| low |"))
    assert "**verify protocol (&gt; 70.0)**" in high
    assert "within (≤ 70.0)" in low and "verify" not in low
    assert "1.70 M" in high and "0.33 G" in high and "| none |" in high
    assert "best credible published accuracy 70.0 % (subject-independent 10-fold; Someone 2024)" in md
    tex = (tmp_path / "out" / "leaderboard.tex").read_text()
    assert tex.count(r"\textbf{verify protocol (\textgreater{} 70.0)}") == 1
    page = (tmp_path / "out" / "index.html").read_text()
    assert page.count('<span class="leaky">verify protocol (&gt; 70.0)</span>') == 1
    table = pd.read_csv(tmp_path / "out" / "leaderboard.csv").set_index("label")
    assert table.loc["high", "above_sanity_band"] and not table.loc["low", "above_sanity_band"]
    assert table.loc["high", "card_parameters"] == 1_700_000


def test_selection_mode_and_validation_curves_reach_the_leaderboard(cli, tmp_path):
    assert cli("run", "--models", "smallcnn", "--folds", "3", "--epochs", "2", "--selection", "best",
               "--out", tmp_path / "run")[0] == 0
    assert cli("report", tmp_path / "run", "--out", tmp_path / "out")[0] == 0
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert "best validation accuracy; validation part: about 10% of the training part" in md
    page = (tmp_path / "out" / "index.html").read_text()
    assert "Validation accuracy per epoch" in page and "Training curves" in page
    assert (tmp_path / "out" / "figures" / "synthetic-subject-k3-s0" / "validation-smallcnn.png").exists()


def _chromium():
    """Playwright driving Debian's chromium; where FERBENCH_REQUIRE_BROWSER is set (.ci/run) its absence fails."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if browser is None or sync_playwright is None:
        message = "needs Debian's chromium and the playwright package (.ci/run installs both)"
        if os.environ.get("FERBENCH_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return browser, sync_playwright


@pytest.mark.parametrize("html_figures", ["embed", "link"])
def test_html_page_opens_in_headless_chromium_sorts_and_shows_its_images(tmp_path, html_figures):
    browser, sync_playwright = _chromium()
    write_run(tmp_path / "run", {"zeta": 0.9, "alpha": 0.5, "mid": 0.7})
    _rename_model(tmp_path / "run", "mid", HOSTILE)
    build_report([tmp_path / "run"], tmp_path / "out", html_figures=html_figures)
    problems = []
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda message: problems.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
        page.on("request", lambda request: None if request.url.startswith(("file:", "data:"))
                else problems.append(f"network request: {request.url}"))
        page.goto((tmp_path / "out" / "index.html").as_uri())
        page.wait_for_load_state("load")

        def models() -> list[str]:
            return page.locator("table.leaderboard tbody tr td:first-child").all_inner_texts()

        assert models() == ["zeta", HOSTILE, "alpha"]  # best first; the hostile name is text
        header = page.locator("table.leaderboard th").nth(0)
        header.click()
        assert models() == sorted(models()) and models()[0] == HOSTILE
        header.click()
        assert models() == ["zeta", "alpha", HOSTILE]
        accuracy = page.locator("table.leaderboard th").nth(2)
        assert accuracy.inner_text() == "accuracy %"
        accuracy.click()
        assert models() == ["alpha", HOSTILE, "zeta"]
        images = page.locator("img")
        assert images.count() >= 7  # CD diagram, and a confusion matrix, ROC and curves per model
        for n in range(images.count()):  # lazy images load once near the viewport
            images.nth(n).scroll_into_view_if_needed()
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        widths = page.eval_on_selector_all("img", "images => images.map(i => i.complete && i.naturalWidth)")
        assert all(width > 100 for width in widths), widths
        page.screenshot(path=tmp_path / "leaderboard.png", full_page=True)
        chromium.close()
    assert problems == []
    assert (tmp_path / "leaderboard.png").read_bytes().startswith(b"\x89PNG")


def test_the_committed_example_is_what_report_makes_and_the_readme_shows_it(tmp_path):
    root = Path(__file__).resolve().parents[1]
    example = root / "leaderboards" / "synthetic-quick"
    build_report([example / "run"], tmp_path / "out")
    made = (tmp_path / "out" / "leaderboard.md").read_text()
    assert made == (example / "leaderboard.md").read_text()
    readme = (root / "README.md").read_text()
    shown = made.split("Training (from the stored curves")[0]  # the README shows the boards' tables
    tables = [line for line in shown.splitlines() if line.startswith("| ")]
    assert len(tables) >= 10 and all(line in readme for line in tables)


def test_one_data_set_under_two_protocols_is_compared_side_by_side(tmp_path, cli):
    write_run(tmp_path / "run", {"m1": 0.95, "m2": 0.8}, protocol="image")
    write_run(tmp_path / "run", {"m1": 0.7, "m2": 0.6}, protocol="subject")
    outcome = build_report([tmp_path / "run"], tmp_path / "out")
    (comparison,) = outcome.comparisons
    assert comparison.reference.board.plan.protocol == "subject"
    results = ferbench.load_results(tmp_path / "run")
    means = results[results.metric == "accuracy"].groupby(["model", "protocol"])["value"].mean()
    table = pd.read_csv(tmp_path / "out" / "protocols.csv")
    for model in ("m1", "m2"):
        rows = table[table.label == model].set_index("protocol")
        assert rows.loc["image", "gap_points"] == pytest.approx(100 * (means[model, "image"] - means[model, "subject"]))
        assert rows.loc["image", "leaky"] and not rows.loc["subject", "leaky"]
        assert np.isnan(rows.loc["subject", "gap_points"])
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    section = md.split("## tiny: protocols compared on accuracy")[1].split("\n## ")[0]
    assert "| model | epochs | image (5-fold, LEAKY) | subject (5-fold) | image − subject (points) |" in section
    gap = 100 * (means["m1", "image"] - means["m1", "subject"])
    assert f"| m1 | 3 | {100 * means['m1', 'image']:.1f} ± " in section and f"| {gap:+.1f} |" in section
    assert "- **image (5-fold, LEAKY)**: protocol 'image' itself puts frames" in section
    html = (tmp_path / "out" / "index.html").read_text()
    assert 'id="protocols-tiny"' in html and html.index('id="protocols-tiny"') < html.index("<section id=\"tiny-")
    status, out, _ = cli("report", tmp_path / "run", "--out", tmp_path / "again")
    assert status == 0 and "tiny: protocols compared on accuracy" in " ".join(out.split())


def test_protocols_testing_the_same_images_are_paired_image_by_image(tmp_path):
    from statsmodels.stats.multitest import multipletests

    write_run(tmp_path / "run", {"m1": 0.95, "m2": 0.8, "m3": 0.7}, protocol="image")
    write_run(tmp_path / "run", {"m1": 0.6, "m2": 0.75, "m3": 0.7}, protocol="subject", fail=[("m3", 2)])
    outcome = build_report([tmp_path / "run"], tmp_path / "out")
    (comparison,) = outcome.comparisons
    right = {}
    for analysis in comparison.analyses:  # every image is tested once under each 5-fold plan
        for label, entry in analysis.board.entries.items():
            rows = entry.predictions.set_index("index").sort_index()
            right[label, analysis.board.plan.protocol] = (rows["y_true"] == rows["y_pred"]).to_numpy()
    subjects = make_dataset(n_subjects=10, per_subject=6, n_classes=3).subjects
    expected = {}
    for model in ("m1", "m2"):  # the clustered McNemar test by hand: subjects hold six images each
        image, subject = right[model, "image"], right[model, "subject"]
        b, c = int(np.sum(image & ~subject)), int(np.sum(~image & subject))
        per_subject = pd.DataFrame({"s": subjects, "b": image & ~subject, "c": ~image & subject}).groupby("s").sum()
        chi2 = (b - c) ** 2 / ((per_subject["b"] - per_subject["c"]) ** 2).sum()
        expected[model] = (b, c, float(st.chi2.sf(chi2, 1)))
    holm_p = dict(zip(expected, multipletests([e[2] for e in expected.values()], method="holm")[1]))
    table = pd.read_csv(tmp_path / "out" / "protocols.csv").set_index(["label", "protocol"])
    for model, (b, c, p) in expected.items():
        row = table.loc[(model, "image")]
        assert (row["mcnemar_b"], row["mcnemar_c"]) == (b, c) and row["mcnemar_p"] == pytest.approx(p)
        assert row["mcnemar_p_holm"] == pytest.approx(holm_p[model])
        assert np.isnan(table.loc[(model, "subject"), "mcnemar_p"])  # the reference is not tested against itself
    assert expected["m1"][0] > expected["m1"][1] and table.loc[("m1", "image"), "mcnemar_p_holm"] < 0.05
    assert np.isnan(table.loc[("m3", "image"), "mcnemar_p"])  # a fold failed under subject: nothing to pair
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    section = md.split("## tiny: protocols compared on accuracy")[1].split("\n## ")[0]
    assert "| clustered McNemar image vs subject: b/c, p (Holm) |" in section
    b, c, _ = expected["m1"]
    assert f"| {b}/{c}, " in section and "a McNemar test pairs them image by image" in section
    assert [line for line in section.splitlines() if line.startswith("| m3 |")][0].endswith("| – |")


def test_three_protocols_are_shown_in_a_fixed_order_each_against_the_clean_one(tmp_path):
    for protocol, accuracy in (("dedup", 0.85), ("subject", 0.7), ("image", 0.95)):
        write_run(tmp_path / "run", {"m1": accuracy} | ({"m2": 0.5} if protocol != "dedup" else {}),
                  protocol=protocol)
    write_run(tmp_path / "run", {"m3": 0.9}, protocol="image")  # not under the reference: left out
    (comparison,) = build_report([tmp_path / "run"], tmp_path / "out").comparisons
    assert [a.board.plan.protocol for a in comparison.analyses] == ["image", "dedup", "subject"]
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    m2 = next(line for line in md.splitlines() if line.startswith("| m2 |")).split(" | ")
    assert m2[3] == m2[6] == "–" and m2[8] == "– |"  # not run under dedup: no value, gap or test
    assert re.fullmatch(r"[+-]\d+\.\d", m2[5]) and re.fullmatch(r"\d+/\d+, (&lt;)?[01]\.\d{3}", m2[7])
    assert "| m3 |" not in md.split("\n## ")[1]
    assert ("| model | epochs | image (5-fold, LEAKY) | dedup (5-fold, LEAKY) | subject (5-fold) "
            "| image − subject (points) "
            "| dedup − subject (points) | clustered McNemar image vs subject: b/c, p (Holm) "
            "| clustered McNemar dedup vs subject: b/c, p (Holm) |") in md


def test_a_single_protocol_has_no_comparison(tmp_path):
    write_run(tmp_path / "run", {"m1": 0.9, "m2": 0.7})
    outcome = build_report([tmp_path / "run"], tmp_path / "out")
    assert outcome.comparisons == [] and not (tmp_path / "out" / "protocols.csv").exists()
    assert "protocols compared" not in (tmp_path / "out" / "leaderboard.md").read_text()


def test_training_table_says_how_far_the_loss_still_fell(tmp_path):
    write_run(tmp_path / "run", {"alpha-net": 0.9, "beta-net": 0.7}, epochs=8)  # loss 1.0 → 0.5, linear
    build_report([tmp_path / "run"], tmp_path / "out")
    loss = np.linspace(1.0, 0.5, 8)
    fall = 100 * (loss[5] - loss[7]) / loss[5]  # the last quarter: epochs 6 → 8
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert "| model | epochs | final training loss | final training accuracy % | loss fall over the last quarter % |" in md
    assert f"| alpha-net | 8 | 0.500 | – | {fall:.0f} |" in md
    assert "<h3>Training</h3>" in (tmp_path / "out" / "index.html").read_text()


def test_accuracy_without_copied_test_images_is_reported(tmp_path):
    dataset = make_dataset(n_subjects=10, per_subject=6, n_classes=3)
    dataset.images[6:12] = dataset.images[0:6]  # subject S001 is a copy of S000, in another fold
    write_run(tmp_path / "run", {"m1": 0.9, "m2": 0.6}, dataset=dataset)
    outcome = build_report([tmp_path / "run"], tmp_path / "out")
    report = json.loads(next((tmp_path / "run" / "leakage").glob("*.json")).read_text())
    leaked = {row for check in report["checks"] if check["name"] == "exact duplicates" for row in check["leaked"]}
    assert leaked == set(range(12))
    predictions = ferbench.load_predictions(tmp_path / "run")
    summary = outcome.analyses[0].summary
    for model in ("m1", "m2"):
        mine = predictions[(predictions.model == model) & ~predictions["index"].isin(leaked)]
        expected = (mine.y_true == mine.y_pred).mean()
        assert summary.loc[model, "accuracy_uncopied"] == pytest.approx(expected)
        assert summary.loc[model, "uncopied_n"] == 48 and summary.loc[model, "tested_n"] == 60
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    assert "accuracy on test images without a copy in training %" in md
    assert f"{100 * summary.loc['m1', 'accuracy_uncopied']:.1f} (48/60)" in md
    table = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert "accuracy_uncopied" in table and "accuracy_uncopied" not in pd.read_csv(
        tmp_path / "out" / "pairwise.csv")


def test_figures_published_on_the_data_set_close_the_board_marked_reported_not_re_run(tmp_path):
    data = make_dataset(n_subjects=10, per_subject=6, n_classes=3)
    write_run(tmp_path / "ck", {"a": 0.9, "b": 0.6}, dataset=dataclasses.replace(data, name="ckplus"))
    write_run(tmp_path / "tiny", {"a": 0.9, "b": 0.6}, dataset=data)  # no plugin registers "tiny"
    build_report([tmp_path / "ck"], tmp_path / "out")
    md = unpadded((tmp_path / "out" / "leaderboard.md").read_text())
    section = md.split("## Published figures on ckplus (reported, not re-run)")[1]
    rows = get_registry().get("dataset", "ckplus").literature()
    assert len(rows) > 5 and rows[0]["role"] == "sanity band"
    for row in rows:  # every figure, in the registry's order, as its row prints it
        assert (f"| {row['role']} | {escape_markdown(row['model'])} | {row['accuracy %']} | "
                f"{escape_markdown(row['protocol'])} |") in section
    assert section.index(rows[0]["accuracy %"]) < section.index(rows[-1]["accuracy %"])
    assert "protocol not stated" in section
    page = (tmp_path / "out" / "index.html").read_text()
    assert page.count('<section id="published-ckplus">') == 1
    assert page.index("published-ckplus") > page.index('<section id="ckplus-subject-k5-s0">')
    build_report([tmp_path / "tiny"], tmp_path / "plain")
    assert "Published figures" not in (tmp_path / "plain" / "leaderboard.md").read_text()
    assert "published-" not in (tmp_path / "plain" / "index.html").read_text()
