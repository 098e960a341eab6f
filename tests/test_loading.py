"""ferbench.loading is the declared surface for loaders: every name documented, the manual's
example runs, and the helpers live nowhere else."""

import inspect
import re
import textwrap
from pathlib import Path

import numpy as np

import ferbench.loading as loading
from layouts import write_image


def test_every_public_name_exists_and_is_documented():
    assert len(set(loading.__all__)) == len(loading.__all__)
    for name in loading.__all__:
        obj = getattr(loading, name)
        assert (obj.__doc__ or "").strip(), f"ferbench.loading.{name} has no docstring"
        assert re.search(rf"\b{name}\b", loading.__doc__), f"the manual does not mention {name}"
        if inspect.isfunction(obj):
            signature = inspect.signature(obj)
            untyped = [p for p in signature.parameters.values() if p.annotation is inspect.Parameter.empty]
            assert not untyped and signature.return_annotation is not inspect.Signature.empty, name


def test_the_manuals_example_loads_a_class_folder_tree(tmp_path):
    example = textwrap.dedent(loading.__doc__.split("::\n", 1)[1].split("\n1. ", 1)[0])
    namespace: dict = {}
    exec(compile(example, "ferbench.loading example", "exec"), namespace)
    for subject in ("S01", "S02"):
        for i, folder in enumerate(("happy", "sad")):
            write_image(tmp_path / folder / f"{subject}_{i:04d}.png", seed=i, size=(64, 64))
    (tmp_path / "happy" / "notes.txt").write_text("not an image")
    data = namespace["load"](tmp_path)
    assert data.classes == ("happiness", "sadness") and data.images.shape == (4, 48, 48, 1)
    assert sorted(set(data.subjects)) == ["S01", "S02"] and np.bincount(data.labels).tolist() == [2, 2]
    assert any("not an image file" in note for note in data.notes)
    assert any("resized 4 images to 48x48" in note for note in data.notes)


def test_the_helpers_have_no_second_home():
    package = Path(loading.__file__).parents[1]
    assert not [old for old in ("imagefiles.py", "imagecache.py", "faces") if (package / old).exists()]
