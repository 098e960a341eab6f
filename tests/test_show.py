"""`ferbench show RUN_DIR`: done, failed and missing folds, plans, leakage, as a table or JSON."""

from __future__ import annotations

import json

from test_cli import SMALL, records


def test_show_counts_done_failed_and_missing_folds(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("run", *SMALL, "--out", out)[0] == 0
    paths = sorted(records(out))
    (out / paths[0]).unlink()
    failed = out / paths[1]
    record = json.loads(failed.read_text())
    failed.write_text(json.dumps({**record, "status": "failed", "error": "RuntimeError: boom"}))
    status, text, _ = cli("show", out, "--json")
    overview = json.loads(text)
    assert status == 0 and overview["request"]["models"] == ["smallcnn"]
    [row] = overview["jobs"]
    assert (row["model"], row["dataset"], row["k"]) == ("smallcnn", "synthetic", 3)
    assert (row["done"], row["failed"], row["missing"], row["leaky"]) == (1, 1, 1, False)
    [plan] = overview["plans"]
    assert plan["plan"] == "synthetic-subject-k3-s0" and plan["leakage"] == "clean" and len(plan["fingerprint"]) > 16
    status, text, _ = cli("show", out)
    assert status == 0 and "Fold plans" in text and "smallcnn" in text and "synthetic-subject-k3-s0" in text


def test_show_names_a_leaky_plan_and_a_directory_that_is_no_run(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("run", *SMALL, "--protocol", "image", "--allow-leaky", "--out", out)[0] == 0
    overview = json.loads(cli("show", out, "--json")[1])
    assert overview["plans"][0]["leakage"] == "LEAKY" and overview["jobs"][0]["leaky"]
    assert any("overlap" in finding for finding in overview["plans"][0]["findings"])
    status, _, err = cli("show", tmp_path / "nothing")
    assert status == 2 and "not a ferbench run directory" in err
