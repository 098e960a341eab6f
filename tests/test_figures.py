import io
import itertools
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import cbook
from PIL import Image
from sklearn.metrics import confusion_matrix, roc_auc_score

from ferbench.report import figures as F

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = ["angry", "happy", "sad", "contempt"]  # "contempt" never occurs below
Y_TRUE = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 1, 0, 1, 1, 2, 1, 2, 0, 3])
PROBA = np.array([
    [.7, .1, .1, .1], [.3, .5, .1, .1], [.6, .2, .1, .1], [.1, .8, .05, .05], [.2, .6, .1, .1],
    [.1, .3, .5, .1], [.1, .7, .1, .1], [.1, .1, .7, .1], [.5, .1, .3, .1], [.1, .1, .3, .5],
])
WEIRD = [
    "$x$", "50%_&_{x}", "<script>alert(1)</script>", "m" * 40, r"$\frac{$", "a$b$c\\",
    "back\\slash", "under_score^2", "line\nbreak", "resnet18", "vit_b16", "tab\tbed",
]


@pytest.fixture
def strict():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def ranks_for(names):
    # average ranks in [1, k], with a tie, as a Friedman test would give them
    k = len(names)
    r = np.linspace(1.2, k - 0.3, k) if k > 2 else np.array([1.25, 1.75])
    if k > 3:
        r[2] = r[1]
    return dict(zip(names, r.tolist()))


def draw_each():
    ranks = ranks_for(WEIRD[:5])
    return {
        "confusion": lambda: F.confusion_matrix_png(Y_TRUE, Y_PRED, CLASSES, "cm $x$"),
        "roc": lambda: F.roc_png(Y_TRUE, PROBA, CLASSES, "roc 50%_&_{x}"),
        "cd": lambda: F.cd_diagram_png(ranks, 1.3, [WEIRD[:3], WEIRD[2:5]], "cd <script>"),
        "curves": lambda: F.curves_png({"fold 0": [1.0, .5, .3], "fold 1": [.9, .6]}, "t", "loss"),
    }


@pytest.mark.parametrize("kind", sorted(draw_each()))
def test_png_bytes_decodable_and_deterministic(kind, strict):
    draw = draw_each()[kind]
    first = draw()
    assert isinstance(first, bytes) and first.startswith(PNG)
    image = Image.open(io.BytesIO(first))
    image.load()
    assert image.format == "PNG"
    assert 150 <= image.width <= 3000 and 100 <= image.height <= 3000
    assert draw() == first


def test_output_ignores_the_callers_rc_settings_and_leaves_them_alone():
    expected = draw_each()["cd"]()
    with matplotlib.rc_context({"font.size": 23, "text.usetex": True, "lines.linewidth": 9}):
        assert draw_each()["cd"]() == expected
        assert matplotlib.rcParams["font.size"] == 23
        assert matplotlib.rcParams["text.usetex"] is True


# ------------------------------------------------------------------------ literal text


@pytest.mark.parametrize("text", WEIRD)
def test_literal_text_is_never_mathtext(text):
    literal = F._literal(text)
    assert not cbook.is_math_text(literal)
    assert "\n" not in literal and "\t" not in literal
    # what matplotlib draws for plain text is the original, $ and all
    assert literal.replace(r"\$", "$") == text.replace("\n", " ").replace("\t", " ")


# -------------------------------------------------------------------- confusion matrix


def test_confusion_values_match_sklearn_with_an_empty_class(strict):
    matrix, support = F._confusion(Y_TRUE, Y_PRED, len(CLASSES), normalize=True)
    expected = confusion_matrix(Y_TRUE, Y_PRED, labels=range(4), normalize="true")
    assert not np.isnan(matrix).any()
    np.testing.assert_allclose(matrix, expected)
    np.testing.assert_array_equal(matrix[3], 0.0)
    np.testing.assert_allclose(matrix[:3].sum(axis=1), 1.0)
    assert support.tolist() == [3, 4, 3, 0]
    counts, _ = F._confusion(Y_TRUE, Y_PRED, len(CLASSES), normalize=False)
    np.testing.assert_array_equal(counts, confusion_matrix(Y_TRUE, Y_PRED, labels=range(4)))


def test_confusion_figure_shows_drawn_values_and_counts(strict):
    with matplotlib.style.context("default"):
        fig = F._confusion_figure(Y_TRUE, Y_PRED, CLASSES, "t", True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "angry (n=3)", "happy (n=4)", "sad (n=3)", "contempt (n=0)"
    ]
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert all(t.get_rotation() == 45 for t in ax.get_xticklabels())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    expected = confusion_matrix(Y_TRUE, Y_PRED, labels=range(4), normalize="true")
    drawn = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(drawn, expected)
    cells = {t.get_text() for t in ax.texts}
    assert {"0.67", "0.75", "0.00"} <= cells


def test_confusion_counts_unnormalised(strict):
    png = F.confusion_matrix_png(Y_TRUE, Y_PRED, CLASSES, "counts", normalize=False)
    assert png.startswith(PNG)


# ----------------------------------------------------------------------------------- ROC


def test_roc_skips_a_class_without_samples_without_warnings(strict):
    with matplotlib.style.context("default"):
        fig = F._roc_figure(Y_TRUE, PROBA, CLASSES, "roc")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "contempt: no AUC (one class only)" in legend
    auc_happy = roc_auc_score(Y_TRUE == 1, PROBA[:, 1])
    assert f"happy  AUC {auc_happy:.2f}" in legend
    assert sum("AUC" in t and "no AUC" not in t for t in legend) == 3
    assert F.roc_png(Y_TRUE, PROBA, CLASSES, "roc").startswith(PNG)


def test_roc_with_a_single_class_in_y_true_draws_no_curve(strict):
    y = np.zeros(4, dtype=int)
    png = F.roc_png(y, PROBA[:4], CLASSES, "one class")
    assert png.startswith(PNG)


# ---------------------------------------------------------------------------- CD diagram


@pytest.mark.parametrize("k", [2, 5, 12])
@pytest.mark.parametrize("clique_kind", ["none", "overlapping"])
def test_cd_diagram_draws_any_names(k, clique_kind, strict):
    names = WEIRD[:k]
    ranks = ranks_for(names)
    cliques = [] if clique_kind == "none" else [names[: k // 2 + 1], names[k // 3:], names[:2]]
    png = F.cd_diagram_png(ranks, 2.0, cliques, f"CD $k$ = {k}")
    image = Image.open(io.BytesIO(png))
    assert image.width > 300


def test_cd_diagram_accepts_a_series_and_a_cd_longer_than_the_axis(strict):
    ranks = pd.Series({"a": 1.4, "b": 1.6, "c": 3.0})
    assert F.cd_diagram_png(ranks, 5.0, [["a", "b"]], "").startswith(PNG)


def test_cd_figure_height_grows_with_models():
    heights = [F._cd_layout(ranks_for(WEIRD[:k]), []).height for k in (2, 5, 12)]
    assert heights[0] < heights[1] < heights[2]


def _text_boxes(fig):
    renderer = fig.canvas.get_renderer()
    return [(t, t.get_window_extent(renderer)) for t in fig.axes[0].texts if t.get_text()]


@pytest.mark.parametrize("k", [2, 5, 12])
def test_cd_layout_keeps_labels_apart(k):
    names = WEIRD[:k]
    ranks = ranks_for(names)
    cliques = [names[: k // 2 + 1], names[k // 3:], names[1:3]]
    layout = F._cd_layout(ranks, cliques)
    assert sorted(label.name for label in layout.labels) == sorted(names)
    for side in ("left", "right"):
        ys = sorted(label.y for label in layout.labels if label.side == side)
        assert all(b - a >= F._CD_TEXT_HEIGHT for a, b in itertools.pairwise(ys))
    # the better half is on the left
    left = [label.rank for label in layout.labels if label.side == "left"]
    right = [label.rank for label in layout.labels if label.side == "right"]
    assert len(left) == (k + 1) // 2 and (not right or max(left) <= min(right))
    # every label row lies below every clique bar
    assert all(lab.y > bar.y for lab in layout.labels for bar in layout.bars)
    # bars sharing a lane do not touch
    for a, b in itertools.combinations(layout.bars, 2):
        if a.y == b.y:
            assert a.hi < b.lo or b.hi < a.lo

    # and as drawn: no two texts of the figure overlap
    with matplotlib.style.context("default"):
        fig = F._cd_figure(ranks, 1.5, cliques, "title $x$")
        boxes = _text_boxes(fig)
    labels = [box for t, box in boxes if t.get_gid() == "cd-label"]
    assert len(labels) == k
    # the height the layout reserves per label really holds a drawn label
    assert all(box.height <= F._CD_TEXT_HEIGHT * fig.dpi for box in labels)
    for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (ta.get_text(), tb.get_text())


def test_cd_layout_stacks_overlapping_cliques_and_drops_degenerate_ones():
    ranks = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    layout = F._cd_layout(ranks, [["a", "c"], ["b", "d"], ["c", "a"], ["d"], ["c", "d"]])
    assert len(layout.bars) == 3  # the repeated clique and the single model are dropped
    lanes = {bar.members: bar.y for bar in layout.bars}
    # each overlaps the ones before it, so each gets a lane of its own, further down
    assert lanes[("a", "c")] < lanes[("b", "d")] < lanes[("c", "d")]
    # a clique clear of another shares its lane
    layout = F._cd_layout(ranks, [["a", "b"], ["c", "d"]])
    assert layout.bars[0].y == layout.bars[1].y


# --------------------------------------------------------------------------------- curves


def test_curves_many_lines_of_different_lengths(strict):
    curves = {f"fold {i} $x$": np.linspace(1, 0.1 * i, 5 + i) for i in range(9)}
    with matplotlib.style.context("default"):
        fig = F._curves_figure({k: np.asarray(v) for k, v in curves.items()}, "t", "loss")
    legend = fig.axes[0].get_legend()
    assert legend.get_bbox_to_anchor() is not None and len(legend.get_texts()) == 9
    assert F.curves_png(curves, "budget", "val loss").startswith(PNG)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: F.confusion_matrix_png(Y_TRUE, Y_PRED[:-1], CLASSES, "t"),
         r"same length; got 10 and 9"),
        (lambda: F.confusion_matrix_png(np.array([], int), np.array([], int), CLASSES, "t"),
         r"y_true is empty"),
        (lambda: F.confusion_matrix_png(Y_TRUE, Y_PRED, [], "t"), r"classes is empty"),
        (lambda: F.confusion_matrix_png(Y_TRUE, Y_PRED + 1, CLASSES, "t"),
         r"class index 4, outside 0..3"),
        (lambda: F.confusion_matrix_png(Y_TRUE.reshape(2, 5), Y_PRED, CLASSES, "t"),
         r"1-D array .* shape \(2, 5\)"),
        (lambda: F.confusion_matrix_png(Y_TRUE + 0.5, Y_PRED, CLASSES, "t"), r"non-integer"),
        (lambda: F.roc_png(Y_TRUE, PROBA[:, 0], CLASSES, "t"), r"2-D .* shape \(10,\)"),
        (lambda: F.roc_png(Y_TRUE, PROBA[:, :3], CLASSES, "t"),
         r"3 columns but 4 classes"),
        (lambda: F.roc_png(Y_TRUE[:5], PROBA, CLASSES, "t"),
         r"same number of samples; got 5 labels and proba of shape \(10, 4\)"),
        (lambda: F.roc_png(Y_TRUE, np.where(PROBA > .6, np.nan, PROBA), CLASSES, "t"), r"NaN"),
        (lambda: F.roc_png(np.array([], int), np.zeros((0, 4)), CLASSES, "t"), r"empty"),
        (lambda: F.cd_diagram_png({}, 1.0, [], "t"), r"has 0 models; .* at least 2"),
        (lambda: F.cd_diagram_png({"a": 1.0}, 1.0, [], "t"), r"has 1 model; .* at least 2"),
        (lambda: F.cd_diagram_png({"a": 1.0, "b": 2.5}, 1.0, [], "t"),
         r"rank of 'b' is 2.5; .* \[1, 2\]"),
        (lambda: F.cd_diagram_png({"a": 1.0, "b": float("nan")}, 1.0, [], "t"), r"rank of 'b'"),
        (lambda: F.cd_diagram_png({"a": 1.0, "b": 2.0}, -1.0, [], "t"), r"cd is -1.0"),
        (lambda: F.cd_diagram_png({"a": 1.0, "b": 2.0}, 1.0, [["a", "zz"]], "t"),
         r"names 'zz', which is not in ranks"),
        (lambda: F.cd_diagram_png({"a": 1.0, "b": 2.0}, 1.0, ["ab"], "t"), r"got the string"),
        (lambda: F.cd_diagram_png(pd.Series([1.0, 2.0], index=["a", "a"]), 1.0, [], "t"),
         r"'a' more than once"),
        (lambda: F.curves_png({}, "t", "y"), r"curves is empty"),
        (lambda: F.curves_png({"f": []}, "t", "y"), r"curve 'f' is empty"),
        (lambda: F.curves_png({"f": [[1, 2]]}, "t", "y"), r"curve 'f' must be 1-D"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
