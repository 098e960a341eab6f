"""Plugins come in through real entry points (a .dist-info on sys.path, as pip lays it out)."""

import re

import pytest

from ferbench import UserError
from ferbench.registry import get_registry, load_registry

from conftest import install_plugin

THIRD_PARTY = """
    import ferbench
    from torch import nn
    from ferbench.specs import MetricSpec, ModelSpec, Recipe

    def build(num_classes, in_chans, image_size):
        return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * image_size * image_size, num_classes))

    @ferbench.hookimpl
    def ferbench_models():
        return [ModelSpec("acme-linear", build=build, description="ACME's linear probe",
                          recipes={"default": Recipe(epochs=1, batch_size=64)})]

    @ferbench.hookimpl
    def ferbench_metrics():
        return [MetricSpec("acme_top2", lambda y, p: float((p.argsort(1)[:, -2:] == y[:, None]).any(1).mean()))]
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_builtins_come_through_the_entry_point_group():
    registry = load_registry()
    assert {p.name for p in registry.plugins} >= {"datasets", "models", "metrics"}
    assert all(p.distribution == "ferbench" for p in registry.plugins if p.name in ("datasets", "models"))
    assert "synthetic" in registry.names("dataset")
    assert "smallcnn" in registry.names("model")
    assert registry.providers[("model", "smallcnn")].name == "models"


def test_third_party_plugin_is_discovered(site):
    install_plugin(site, "acme-fer", "acme_fer", THIRD_PARTY)
    registry = load_registry()
    assert registry.get("model", "acme-linear").description == "ACME's linear probe"
    assert "acme_top2" in registry.names("metric")
    assert registry.providers[("model", "acme-linear")].distribution == "acme-fer"


def test_entry_point_names_need_only_be_unique_per_distribution(site):
    install_plugin(site, "acme-fer", "acme_fer", THIRD_PARTY, entry_name="models")
    registry = load_registry()
    assert {"smallcnn", "acme-linear"} <= set(registry.names("model")) and not registry.broken


def test_duplicate_name_names_both_providers(site):
    install_plugin(site, "dupe-fer", "dupe_fer", """
        import ferbench
        from ferbench.specs import ModelSpec
        @ferbench.hookimpl
        def ferbench_models():
            return [ModelSpec("smallcnn", build=print)]
    """)
    with pytest.raises(UserError) as error:
        load_registry()
    message = str(error.value)
    assert "'smallcnn'" in message and "ferbench 0.1.0" in message and "dupe-fer 0.1.0" in message
    assert "FERBENCH_DISABLE_PLUGINS" in message


def test_broken_import_is_reported_and_others_load(site):
    install_plugin(site, "broken-fer", "broken_fer", "import not_a_real_module_xyz\n")
    registry = load_registry()
    (broken,) = registry.broken
    assert broken.name == "broken_fer" and broken.distribution == "broken-fer"
    assert "ModuleNotFoundError" in broken.error and "not_a_real_module_xyz" in broken.error
    assert "smallcnn" in registry.names("model")


def test_hook_that_raises_or_returns_garbage_is_reported(site):
    install_plugin(site, "raising-fer", "raising_fer", """
        import ferbench
        @ferbench.hookimpl
        def ferbench_models():
            raise RuntimeError("boom in hook")
    """)
    install_plugin(site, "garbage-fer", "garbage_fer", """
        import ferbench
        @ferbench.hookimpl
        def ferbench_datasets():
            return ["not a spec"]
    """)
    registry = load_registry()
    errors = {p.name: p.error for p in registry.broken}
    assert "boom in hook" in errors["raising_fer"]
    assert "must return a list of DatasetSpec" in errors["garbage_fer"]
    assert "synthetic" in registry.names("dataset")


def test_misspelled_hook_is_reported(site):
    install_plugin(site, "typo-fer", "typo_fer", """
        import ferbench
        @ferbench.hookimpl
        def ferbench_model():
            return []
    """)
    (broken,) = load_registry().broken
    assert "ferbench_model" in broken.error


def test_disable_env_skips_a_plugin(site, monkeypatch):
    install_plugin(site, "broken-fer", "broken_fer", "raise SystemError('never imported')\n")
    monkeypatch.setenv("FERBENCH_DISABLE_PLUGINS", "broken_fer")
    assert load_registry().broken == []


def test_unknown_name_suggests_and_lists():
    with pytest.raises(UserError) as error:
        get_registry().get("model", "smalcnn")
    assert "Did you mean 'smallcnn'" in str(error.value)
    assert re.search(r"Known models: [\w, +./-]*smallcnn", str(error.value))


def test_select_all_and_lists():
    registry = get_registry()
    assert [s.name for s in registry.select("model", "all")] == registry.names("model")
    assert [s.name for s in registry.select("metric", "macro_f1, accuracy")] == ["macro_f1", "accuracy"]
    with pytest.raises(UserError, match="no metric given"):
        registry.select("metric", " , ")
