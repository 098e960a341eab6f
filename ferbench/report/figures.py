"""PNG figures for a published leaderboard: confusion matrix, ROC curves, CD diagram, curves.

Every public function draws on a fresh :class:`matplotlib.figure.Figure` with an Agg canvas
(never pyplot, so nothing needs a display and no global figure state is left behind) and
returns the PNG as bytes, which the caller can write to disk or embed base64 in an HTML page.
Drawing happens under matplotlib's default style, at a fixed dpi, and without the
``Software`` PNG metadata, so the same input gives byte-identical PNGs.

All text that comes from callers (titles, class names, model names, legend labels) may come
from third-party plugins; it goes through :func:`_literal`, which makes it render literally
instead of as mathtext.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["cd_diagram_png", "confusion_matrix_png", "curves_png", "roc_png"]

DPI = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------- helpers


def _literal(text: object) -> str:
    """``text`` as a string matplotlib draws literally.

    An unescaped pair of ``$`` would switch matplotlib to mathtext (and a malformed formula
    raises while drawing), so every ``$`` is escaped; matplotlib turns ``\\$`` back into ``$``
    in plain text, and every other character (``_``, ``%``, ``\\``, ``{``, ``<``) is drawn as
    it is outside mathtext. Line breaks and tabs become spaces so that one label stays one
    line (the layouts below reserve one line per label).
    """
    s = str(text)
    for ch in "\r\n\t\v\f":
        s = s.replace(ch, " ")
    return s.replace("$", r"\$")


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(
        buf,
        format="png",
        dpi=DPI,
        metadata={"Software": None},
        bbox_inches="tight",
        pad_inches=0.1,
        facecolor="white",
    )
    return buf.getvalue()


def _render(draw, *args, **kwargs) -> bytes:
    """Call ``draw(*args, **kwargs) -> Figure`` and save it, all under the default style.

    The style context makes the output independent of the user's matplotlibrc (``text.usetex``
    in particular, under which escaping ``$`` would not be enough) and restores the caller's
    rcParams afterwards.
    """
    with matplotlib.style.context("default"):
        return _png(draw(*args, **kwargs))


def _shape(a: np.ndarray) -> str:
    return str(tuple(int(d) for d in a.shape))


def _labels_array(name: str, values: object, n_classes: int) -> np.ndarray:
    """``values`` as a 1-D int array of class indices in ``range(n_classes)``."""
    a = np.asarray(values)
    if a.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of class indices; got an array of shape {_shape(a)}"
        )
    if a.size == 0:
        raise ValueError(f"{name} is empty; expected at least one sample")
    if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold integer class indices 0..{n_classes - 1}; got dtype {a.dtype}"
        )
    if a.dtype.kind == "f" and not (np.all(np.isfinite(a)) and np.all(a == np.round(a))):
        raise ValueError(
            f"{name} must hold integer class indices 0..{n_classes - 1}; got non-integer values"
        )
    a = a.astype(np.int64)
    bad = a[(a < 0) | (a >= n_classes)]
    if bad.size:
        raise ValueError(
            f"{name} holds class index {int(bad[0])}, outside 0..{n_classes - 1} "
            f"({n_classes} classes were given)"
        )
    return a


def _classes_list(classes: Sequence[str]) -> list[str]:
    if isinstance(classes, str):
        raise ValueError(f"classes must be a sequence of class names; got the string {classes!r}")
    names = [str(c) for c in classes]
    if not names:
        raise ValueError("classes is empty; expected at least one class name")
    return names


def _colors(n: int) -> list:
    """``n`` distinct colours: the default cycle up to 10, tab20 up to 20, then viridis."""
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    if n <= 20:
        cmap = matplotlib.colormaps["tab20"]
        return [cmap(i) for i in range(n)]
    cmap = matplotlib.colormaps["viridis"]
    return [cmap(i / (n - 1)) for i in range(n)]


# ------------------------------------------------------------------------ confusion matrix


def _confusion(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, normalize: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The confusion matrix (rows = true class) and the number of samples per true class.

    Normalised per row when ``normalize``; a class without samples gets a row of zeros.
    """
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
    support = counts.sum(axis=1)
    if not normalize:
        return counts, support
    matrix = np.zeros(counts.shape, dtype=float)
    np.divide(counts, support[:, None], out=matrix, where=support[:, None] > 0)
    return matrix, support


def confusion_matrix_png(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    classes: Sequence[str],
    title: str,
    normalize: bool = True,
) -> bytes:
    """A confusion matrix as PNG: rows are true classes (with their sample counts), columns
    predicted classes; cells show the fraction of each true class when ``normalize`` (the
    default), else raw counts."""
    names = _classes_list(classes)
    t = _labels_array("y_true", y_true, len(names))
    p = _labels_array("y_pred", y_pred, len(names))
    if t.shape[0] != p.shape[0]:
        raise ValueError(
            f"y_true and y_pred must have the same length; got {t.shape[0]} and {p.shape[0]}"
        )
    return _render(_confusion_figure, t, p, names, title, normalize)


def _confusion_figure(
    y_true: np.ndarray, y_pred: np.ndarray, names: list[str], title: str, normalize: bool
) -> Figure:
    from sklearn.metrics import ConfusionMatrixDisplay

    n = len(names)
    matrix, support = _confusion(y_true, y_pred, n, normalize)
    side = max(4.0, 0.6 * n + 2.0)
    fig = _new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    im_kw = {"vmin": 0.0, "vmax": 1.0} if normalize else {"vmin": 0}
    display = ConfusionMatrixDisplay(matrix, display_labels=[_literal(c) for c in names])
    display.plot(
        ax=ax,
        colorbar=False,
        values_format=".2f" if normalize else "d",
        cmap="Blues",
        im_kw=im_kw,
        text_kw={"fontsize": 9 if n <= 10 else 7},
    )
    ax.set_yticks(
        np.arange(n), [_literal(f"{c} (n={int(s)})") for c, s in zip(names, support)]
    )
    ax.set_xticks(np.arange(n), [_literal(c) for c in names])
    for label in ax.get_xticklabels():
        label.set_rotation(45)
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(_literal(title))
    return fig


# ------------------------------------------------------------------------------------- ROC


def roc_png(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str], title: str) -> bytes:
    """One-vs-rest ROC curves, one per class, with each class's AUC in the legend.

    A class with no positive or no negative sample in ``y_true`` has no ROC curve; it is
    listed in the legend as ``"<name>: no AUC (one class only)"``.
    """
    names = _classes_list(classes)
    scores = np.asarray(proba)
    if scores.ndim != 2:
        raise ValueError(
            "proba must be a 2-D array (samples x classes); "
            f"got an array of shape {_shape(scores)}"
        )
    if scores.shape[1] != len(names):
        raise ValueError(
            f"proba has {scores.shape[1]} columns but {len(names)} classes were given; "
            "expected one column per class"
        )
    t = _labels_array("y_true", y_true, len(names))
    if scores.shape[0] != t.shape[0]:
        raise ValueError(
            f"y_true and proba must have the same number of samples; got {t.shape[0]} labels "
            f"and proba of shape {_shape(scores)}"
        )
    if scores.dtype.kind not in "iufb":
        raise ValueError(f"proba must be numeric; got dtype {scores.dtype}")
    scores = scores.astype(float)
    if not np.all(np.isfinite(scores)):
        raise ValueError("proba holds NaN or infinite values; expected finite scores")
    return _render(_roc_figure, t, scores, names, title)


def _roc_figure(y_true: np.ndarray, scores: np.ndarray, names: list[str], title: str) -> Figure:
    from sklearn.metrics import auc, roc_curve

    fig = _new_figure(6.0, 5.5)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
    for c, (name, color) in enumerate(zip(names, _colors(len(names)))):
        positive = y_true == c
        if positive.all() or not positive.any():
            ax.plot([], [], linestyle="none", label=_literal(f"{name}: no AUC (one class only)"))
            continue
        fpr, tpr, _ = roc_curve(positive, scores[:, c])
        ax.plot(fpr, tpr, color=color, linewidth=1.5,
                label=_literal(f"{name}  AUC {auc(fpr, tpr):.2f}"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(_literal(title))
    ax.legend(loc="lower right", fontsize="small" if len(names) <= 10 else "x-small")
    return fig


# ------------------------------------------------------------------------------ CD diagram

_CD_FONTSIZE = 10  # model labels, points
_CD_TEXT_HEIGHT = 1.25 * _CD_FONTSIZE / 72  # inches a label line takes, descenders included
_CD_ROW = 1.6 * _CD_FONTSIZE / 72  # inches between label rows
_CD_TITLE_Y = 0.2  # every y below is in inches from the top of the drawing
_CD_BAR_Y = 0.62  # the CD bar
_CD_AXIS_Y = 1.0  # the rank axis
_CD_LANE0 = 0.18  # first clique lane, below the axis
_CD_LANE = 0.1  # between clique lanes
_CD_LABELS0 = 0.28  # first label row, below the axis or the last clique lane
_CD_BOTTOM = 0.25  # below the last label row
_CD_CLIQUE_PAD = 0.06  # inches a clique bar reaches past its outermost members


@dataclass(frozen=True)
class _CDLabel:
    name: str  # as the caller gave it (not escaped)
    rank: float
    side: str  # "left" (the better half) or "right"
    y: float  # inches from the top


@dataclass(frozen=True)
class _CDBar:
    members: tuple[str, ...]
    lo: float  # rank of the best member
    hi: float  # rank of the worst member
    y: float  # inches from the top


@dataclass(frozen=True)
class _CDLayout:
    k: int
    labels: tuple[_CDLabel, ...]
    bars: tuple[_CDBar, ...]
    axis_width: float  # inches from rank 1 to rank k
    height: float  # inches

    @property
    def inches_per_rank(self) -> float:
        return self.axis_width / (self.k - 1)


def _cd_inputs(
    ranks: Mapping[str, float] | pd.Series, cd: float, cliques: Sequence[Sequence[str]]
) -> tuple[dict[str, float], float, list[tuple[str, ...]]]:
    """Validated ``ranks`` (name -> average rank), ``cd`` and cliques (tuples of names)."""
    if isinstance(ranks, pd.Series):
        if not ranks.index.is_unique:
            dup = ranks.index[ranks.index.duplicated()][0]
            raise ValueError(f"ranks has the model {dup!r} more than once; expected unique names")
        items = list(ranks.items())
    elif isinstance(ranks, Mapping):
        items = list(ranks.items())
    else:
        raise ValueError(
            f"ranks must be a mapping or pandas Series of model name -> average rank; "
            f"got {type(ranks).__name__}"
        )
    table: dict[str, float] = {}
    for name, value in items:
        key = str(name)
        if key in table:
            raise ValueError(f"ranks has the model {key!r} more than once; expected unique names")
        try:
            rank = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"rank of {key!r} is {value!r}; expected a number") from None
        table[key] = rank
    k = len(table)
    if k < 2:
        raise ValueError(
            f"ranks has {k} model{'s' if k != 1 else ''}; a CD diagram needs at least 2"
        )
    for key, rank in table.items():
        if not math.isfinite(rank) or not 1 - 1e-9 <= rank <= k + 1e-9:
            raise ValueError(
                f"rank of {key!r} is {rank}; average ranks of {k} models lie in [1, {k}]"
            )
    try:
        cd = float(cd)
    except (TypeError, ValueError):
        raise ValueError(f"cd is {cd!r}; expected a non-negative number") from None
    if not math.isfinite(cd) or cd < 0:
        raise ValueError(f"cd is {cd}; expected a finite non-negative critical difference")
    if isinstance(cliques, (str, bytes)):
        raise ValueError("cliques must be a sequence of groups of model names; got a string")
    groups: list[tuple[str, ...]] = []
    for clique in cliques:
        if isinstance(clique, (str, bytes)):
            raise ValueError(
                f"each clique must be a sequence of model names; got the string {clique!r}"
            )
        members = tuple(dict.fromkeys(str(m) for m in clique))
        unknown = [m for m in members if m not in table]
        if unknown:
            raise ValueError(
                f"clique {list(members)!r} names {unknown[0]!r}, which is not in ranks "
                f"(models: {', '.join(repr(n) for n in list(table)[:10])}"
                f"{', ...' if k > 10 else ''})"
            )
        groups.append(members)
    return table, cd, groups


def _cd_layout(ranks: Mapping[str, float], cliques: Sequence[Sequence[str]]) -> _CDLayout:
    """Where each label row and clique bar of a CD diagram goes (validated inputs).

    The better half of the models (by rank) is labelled on the left, best on the top row;
    the rest on the right, worst on the top row. So no label line crosses another and each
    label has a row of its own, ``_CD_ROW`` (more than a text line) below the previous one on
    its side. Cliques (groups of at least two distinct models; duplicates dropped) go in lanes
    under the axis: each bar in the first lane where it clears every bar already there.
    """
    order = sorted(ranks, key=lambda n: (ranks[n], n))
    k = len(order)
    axis_width = max(4.0, 0.5 * (k - 1))
    per_rank = axis_width / (k - 1)
    pad = _CD_CLIQUE_PAD / per_rank  # in ranks
    gap = 2 * pad  # least space between two bars in one lane, in ranks

    spans = []
    seen: set[frozenset[str]] = set()
    for clique in cliques:
        members = tuple(dict.fromkeys(clique))
        key = frozenset(members)
        if len(members) < 2 or key in seen:
            continue
        seen.add(key)
        rs = [ranks[m] for m in members]
        spans.append((min(rs), max(rs), tuple(sorted(members, key=lambda n: (ranks[n], n)))))
    spans.sort(key=lambda s: (s[0], s[1], s[2]))
    lane_ends: list[float] = []  # right end (rank) of the last bar in each lane
    bars = []
    for lo, hi, members in spans:
        for lane, end in enumerate(lane_ends):
            if lo - pad > end + gap:
                break
        else:
            lane = len(lane_ends)
            lane_ends.append(-math.inf)
        lane_ends[lane] = hi + pad
        bars.append(_CDBar(members, lo, hi, _CD_AXIS_Y + _CD_LANE0 + lane * _CD_LANE))

    below = _CD_AXIS_Y + (_CD_LANE0 + (len(lane_ends) - 1) * _CD_LANE if lane_ends else 0.0)
    first_row = below + _CD_LABELS0
    n_left = (k + 1) // 2
    left = order[:n_left]
    right = order[n_left:][::-1]
    labels = [_CDLabel(n, ranks[n], "left", first_row + i * _CD_ROW) for i, n in enumerate(left)]
    labels += [
        _CDLabel(n, ranks[n], "right", first_row + i * _CD_ROW) for i, n in enumerate(right)
    ]
    height = first_row + (len(left) - 1) * _CD_ROW + _CD_BOTTOM
    return _CDLayout(k, tuple(labels), tuple(bars), axis_width, height)


def cd_diagram_png(
    ranks: Mapping[str, float] | pd.Series,
    cd: float,
    cliques: Sequence[Sequence[str]],
    title: str,
) -> bytes:
    """A critical-difference diagram (Demšar 2006) as PNG.

    ``ranks`` maps each model to its average rank over the data sets (1 = best), ``cd`` is the
    critical difference of the post-hoc test, and each of ``cliques`` is a group of models
    that are not significantly different, drawn as a thick bar joining them. Best rank is on
    the left.
    """
    table, cd, groups = _cd_inputs(ranks, cd, cliques)
    return _render(_cd_figure, table, cd, groups, title)


def _cd_figure(
    ranks: Mapping[str, float], cd: float, cliques: Sequence[Sequence[str]], title: str
) -> Figure:
    layout = _cd_layout(ranks, cliques)
    k = layout.k
    per_rank = layout.inches_per_rank
    margin = 0.45  # inches beside each end of the axis, for the label lines
    width = layout.axis_width + 2 * margin
    fig = _new_figure(width, layout.height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(1 - margin / per_rank, k + margin / per_rank)
    ax.set_ylim(layout.height, 0.0)

    def line(xs, ys, **kw):
        ax.plot(xs, ys, color="black", clip_on=False, solid_capstyle="butt", **kw)

    if title:
        ax.text((1 + k) / 2, _CD_TITLE_Y, _literal(title), ha="center", va="center",
                fontsize=12, gid="cd-title")

    # the CD bar, from rank 1; one longer than the axis (no two models can differ) is cut at
    # the axis end, left open there, and says so
    longer = cd > k - 1
    end = k if longer else 1 + cd
    line([1, end], [_CD_BAR_Y, _CD_BAR_Y], linewidth=1.5)
    for x in (1,) if longer else (1, end):
        line([x, x], [_CD_BAR_Y - 0.05, _CD_BAR_Y + 0.05], linewidth=1.5)
    value = f"CD = {cd:.2f}" + (" (longer than the axis)" if longer else "")
    ax.text((1 + end) / 2, _CD_BAR_Y - 0.08, value, ha="center", va="bottom", fontsize=9,
            gid="cd-value")

    # the rank axis, ticks up, labelled at the integers
    line([1, k], [_CD_AXIS_Y, _CD_AXIS_Y], linewidth=1.2)
    for i in range(1, k + 1):
        line([i, i], [_CD_AXIS_Y - 0.08, _CD_AXIS_Y], linewidth=1)
        ax.text(i, _CD_AXIS_Y - 0.11, str(i), ha="center", va="bottom", fontsize=9,
                gid="cd-tick")
    for i in range(1, k):
        line([i + 0.5, i + 0.5], [_CD_AXIS_Y - 0.04, _CD_AXIS_Y], linewidth=0.8)

    # clique bars
    pad = _CD_CLIQUE_PAD / per_rank
    for bar in layout.bars:
        line([bar.lo - pad, bar.hi + pad], [bar.y, bar.y], linewidth=4)

    # one line from each model's rank down to its label row, then out to its side
    text_gap = 0.06 / per_rank
    for label in layout.labels:
        if label.side == "left":
            edge, text_x, ha = 1 - margin / per_rank, 1 - margin / per_rank - text_gap, "right"
            text = f"{label.name} ({label.rank:.2f})"
        else:
            edge, text_x, ha = k + margin / per_rank, k + margin / per_rank + text_gap, "left"
            text = f"({label.rank:.2f}) {label.name}"
        line([label.rank, label.rank, edge], [_CD_AXIS_Y, label.y, label.y], linewidth=0.9)
        ax.text(text_x, label.y, _literal(text), ha=ha, va="center", fontsize=_CD_FONTSIZE,
                gid="cd-label")
    return fig


# --------------------------------------------------------------------------------- curves


def curves_png(curves: Mapping[str, Sequence[float]], title: str, ylabel: str) -> bytes:
    """Training curves: one line per label (a fold, a model), against epochs 1..n."""
    if not isinstance(curves, Mapping):
        raise ValueError(
            f"curves must be a mapping of label -> values per epoch; got {type(curves).__name__}"
        )
    if not curves:
        raise ValueError("curves is empty; expected at least one label -> values per epoch")
    series: dict[str, np.ndarray] = {}
    for label, values in curves.items():
        try:
            a = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(
                f"curve {str(label)!r} must be a sequence of numbers; got {values!r:.80}"
            ) from None
        if a.ndim != 1:
            raise ValueError(
                f"curve {str(label)!r} must be 1-D (one value per epoch); "
                f"got an array of shape {_shape(a)}"
            )
        if a.size == 0:
            raise ValueError(f"curve {str(label)!r} is empty; expected one value per epoch")
        series[str(label)] = a
    return _render(_curves_figure, series, title, ylabel)


def _curves_figure(series: Mapping[str, np.ndarray], title: str, ylabel: str) -> Figure:
    n = len(series)
    many = n > 6
    fig = _new_figure(8.0 if many else 6.5, 4.5)
    ax = fig.add_subplot()
    longest = max(a.size for a in series.values())
    marker = "o" if longest <= 25 else None
    for (label, a), color in zip(series.items(), _colors(n)):
        ax.plot(np.arange(1, a.size + 1), a, color=color, linewidth=1.4, marker=marker,
                markersize=3, label=_literal(label))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0.5, longest + 0.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel(_literal(ylabel))
    ax.set_title(_literal(title))
    ax.grid(True, linewidth=0.5, alpha=0.5)
    if many:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  fontsize="x-small", ncols=math.ceil(n / 24), frameon=False)
    else:
        ax.legend(loc="best", fontsize="small")
    return fig


# --------------------------------------------------------------------------------- calibration


def reliability_png(tables: Mapping[str, pd.DataFrame], title: str) -> bytes:
    """Reliability diagram: accuracy against mean confidence per confidence bin, one line per
    model (``tables``: label -> :func:`ferbench.report.calibration.reliability`), the diagonal
    for perfect calibration."""
    if not tables:
        raise ValueError("tables is empty; expected label -> reliability table")
    return _render(_reliability_figure, dict(tables), title)


def _reliability_figure(tables: dict[str, pd.DataFrame], title: str) -> Figure:
    fig = _new_figure(6.0, 5.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="0.6", linewidth=1, linestyle="--", label="perfectly calibrated")
    for (label, table), color in zip(tables.items(), _colors(len(tables))):
        ax.plot(table["confidence"], table["accuracy"], color=color, marker="o", markersize=3,
                linewidth=1.3, label=_literal(label))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean confidence (top class probability) in the bin")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(_literal(title))
    ax.grid(True, linewidth=0.5, alpha=0.5)
    ax.legend(loc="upper left", fontsize="x-small")
    return fig
