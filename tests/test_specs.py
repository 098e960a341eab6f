import pytest

from ferbench.specs import Augment, DatasetSpec, MetricSpec, ModelSpec, Recipe


def test_overrides_replace_given_fields_and_keep_the_rest():
    recipe = Recipe(lr=0.01, epochs=5)
    changed = recipe.with_overrides(epochs=2, lr=None, batch_size=None)
    assert changed.epochs == 2 and changed.lr == 0.01 and changed.batch_size == recipe.batch_size


@pytest.mark.parametrize("field,value,message", [
    ("epochs", 0, "epochs must be >= 1"),
    ("lr", -1.0, "lr must be a finite number > 0"),
    ("lr", float("nan"), "lr must be a finite number > 0"),
    ("weight_decay", float("inf"), "weight_decay must be a finite number"),
    ("optimizer", "rmsprop", "optimizer must be one of"),
    ("batch_size", 0, "batch_size must be >= 1"),
])
def test_recipe_validation_names_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**{field: value})


def test_unknown_override_is_rejected():
    with pytest.raises(ValueError, match="no field"):
        Recipe().with_overrides(epoch=3)


def test_augment_active_and_validation():
    assert not Augment().active and Augment(hflip=True).active
    with pytest.raises(ValueError, match="rotate"):
        Augment(rotate=-1)


def test_minimal_specs_need_only_name_and_callable():
    assert ModelSpec("m", build=lambda **kw: None).recipes["default"] == Recipe()
    assert DatasetSpec("d", load=lambda root: None).needs_root


def test_spec_checks():
    with pytest.raises(ValueError, match="no 'default'"):
        ModelSpec("m", build=print, recipes={"paper": Recipe()})
    with pytest.raises(ValueError, match="canonical"):
        DatasetSpec("d", load=print, classes=("happy",))
    for bad in ("a,b", "../x", " m", "a//b", ""):
        with pytest.raises(ValueError, match="start with a letter or digit"):
            ModelSpec(bad, build=print)
    assert ModelSpec("timm/resnet18", build=print).name == "timm/resnet18"
    with pytest.raises(ValueError, match="reserved"):
        MetricSpec("fold", fn=print)


def test_per_data_set_input_sizes_resolve_and_a_global_override_wins():
    recipe = Recipe(input_size=48, input_sizes={"rafdb": 100})
    assert recipe.for_dataset("rafdb").input_size == 100 and recipe.for_dataset("ckplus").input_size == 48
    assert recipe.for_dataset("rafdb").input_sizes == {}
    assert recipe.with_overrides(input_size=64).for_dataset("rafdb").input_size == 64
    assert recipe.with_overrides(epochs=3).for_dataset("rafdb").input_size == 100
    assert recipe.to_dict()["input_sizes"] == {"rafdb": 100}
    with pytest.raises(ValueError, match="input size for 'rafdb' must be >= 8"):
        Recipe(input_sizes={"rafdb": 4})
    with pytest.raises(ValueError, match="crop must be below 1"):
        Augment(crop=1.0)
