"""Procedural synthetic grayscale faces that mimic the structure of CK+48.

Every subject has a random identity (face shape, tones, feature geometry, resting
offsets, expressiveness). Every (subject, expression) pair is one sequence that rises
from a neutral face to the expression's apex; like CK+48 only its last ``frames``
frames are kept, so frames of one sequence are near-duplicates of each other.
Drawing uses anti-aliased soft masks on a normalised coordinate grid (x right, y down,
both in [-1, 1]), so images stay smooth at 48x48. Pure numpy and fully deterministic.
"""

from __future__ import annotations

import numpy as np

EXPRESSIONS: tuple[str, ...] = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")

# Facial action parameters; an expression is an apex displacement of these.
_PARAMS: tuple[str, ...] = (
    "curve", "open", "width", "asym", "lip_raise", "press", "brow_raise",
    "brow_tilt", "eye_open", "wrinkle", "cheek", "forehead", "furrow",
)
_APEX: dict[str, dict[str, float]] = {
    "anger": dict(curve=-0.02, width=-0.08, press=1.0, brow_raise=-0.06, brow_tilt=-0.08, eye_open=-0.35, furrow=1.0),
    "contempt": dict(asym=0.08, width=-0.02, press=0.3, eye_open=-0.08),
    "disgust": dict(curve=-0.04, open=0.04, lip_raise=0.05, brow_raise=-0.04, brow_tilt=-0.03, eye_open=-0.35,
                    wrinkle=1.0, cheek=0.4, furrow=0.4),
    "fear": dict(curve=-0.03, open=0.1, width=0.15, brow_raise=0.07, brow_tilt=0.07, eye_open=0.45, forehead=0.6),
    "happiness": dict(curve=0.12, open=0.05, width=0.18, eye_open=-0.3, cheek=1.0),
    "sadness": dict(curve=-0.07, width=-0.04, press=0.3, brow_raise=0.01, brow_tilt=0.08, eye_open=-0.2),
    "surprise": dict(open=0.24, width=-0.15, brow_raise=0.11, eye_open=0.55, forehead=1.0),
}
_APEX_MATRIX = np.array([[_APEX[e].get(k, 0.0) for k in _PARAMS] for e in EXPRESSIONS])
_REST_SD = np.array([0.03, 0.0, 0.04, 0.015, 0.0, 0.0, 0.02, 0.03, 0.12, 0.0, 0.0, 0.0, 0.0])
_ASYM = _PARAMS.index("asym")


def _soft(d: np.ndarray, px: float) -> np.ndarray:
    """Coverage in [0, 1] of a signed distance (negative inside), anti-aliased over one pixel."""
    return np.clip(0.5 - d / px, 0.0, 1.0)


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, a: float, b: float) -> np.ndarray:
    """First-order signed distance to an axis-aligned ellipse."""
    u, v = (x - cx) / a, (y - cy) / b
    f = np.sqrt(u * u + v * v) + 1e-9
    return (f - 1.0) * f / (np.sqrt((u / a) ** 2 + (v / b) ** 2) + 1e-9)


def _stroke(x: np.ndarray, y: np.ndarray, pts: np.ndarray, radii: np.ndarray, px: float) -> np.ndarray:
    """Coverage of polylines ``pts`` ((B,) K, 2) stroked with per-vertex radii (K,), computed in their bounding box."""
    flat = pts.reshape(-1, 2)
    lo, hi = flat.min(0) - radii.max() - px, flat.max(0) + radii.max() + px
    box = (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1])
    out = np.zeros_like(x)
    rows, cols = np.flatnonzero(box.any((0, 2))), np.flatnonzero(box.any((0, 1)))
    if rows.size == 0:
        return out
    win = np.s_[:, rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    ax, ay = pts[..., :-1, 0, None, None], pts[..., :-1, 1, None, None]
    dx, dy = np.diff(pts[..., 0])[..., None, None], np.diff(pts[..., 1])[..., None, None]
    qx, qy = x[win][:, None] - ax, y[win][:, None] - ay
    h = np.clip((qx * dx + qy * dy) / (dx * dx + dy * dy + 1e-12), 0.0, 1.0)
    r = radii[:-1, None, None] + h * np.diff(radii)[:, None, None]
    out[win] = _soft((np.hypot(qx - h * dx, qy - h * dy) - r).min(axis=1), px)
    return out


def _quad(p0: tuple, p1: tuple, p2: tuple, n: int = 6) -> np.ndarray:
    """``n`` points ((B,) n, 2) on the quadratic Bezier curve p0-p1-p2 (coordinates scalars or (B,) arrays)."""
    t = np.linspace(0.0, 1.0, n)
    xs, ys = ((1 - t) ** 2 * np.asarray(a)[..., None] + 2 * t * (1 - t) * np.asarray(b)[..., None]
              + t * t * np.asarray(c)[..., None] for a, b, c in zip(p0, p1, p2))
    return np.stack(np.broadcast_arrays(xs, ys), -1)


def _paint(img: np.ndarray, alpha: np.ndarray, value: float | np.ndarray) -> None:
    """Alpha-blend ``value`` into ``img`` in place."""
    img += alpha * (value - img)


def _identity(seed: int, subject: int) -> dict[str, float | np.ndarray]:
    """Random but reproducible appearance of one subject."""
    rng = np.random.default_rng((seed, subject, 0))
    u = rng.uniform
    idn: dict[str, float | np.ndarray] = dict(
        face_rx=u(0.8, 0.95), face_ry=u(1.0, 1.12), face_cy=u(0.04, 0.14), skin=u(120, 200), shade=u(0.08, 0.2),
        bg=u(30, 220), bg_gx=u(-25, 25), bg_gy=u(-25, 25),
        eye_y=u(-0.22, -0.1), eye_dx=u(0.3, 0.4), eye_w=u(0.14, 0.18), eye_h=u(0.055, 0.075), iris=u(25, 70),
        brow_gap=u(0.14, 0.2), brow_r=u(0.035, 0.06), brow_dark=u(0.45, 0.8), brow_arch=u(0.0, 0.05),
        brow_len=u(0.18, 0.26), brow_in=u(0.08, 0.14),
        nose_len=u(0.3, 0.4), nose_w=u(0.07, 0.1), mouth_gap=u(0.2, 0.27), mouth_w=u(0.24, 0.32),
        lip_t=u(0.035, 0.06), lip_dark=u(0.25, 0.45), fold=u(0.0, 0.25),
        hair_y=u(-1.05, -0.6), hair_curv=u(0.1, 0.5), hair=u(15, 110),
        expressiveness=u(0.6, 1.0), rest=rng.normal(0.0, _REST_SD), tex=rng.normal(0.0, 1.0, (4, 4)),
    )
    idn["tip_y"] = idn["eye_y"] + idn["nose_len"]
    idn["mouth_y"] = idn["tip_y"] + idn["mouth_gap"]
    return idn


def _render(idn: dict, q: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
    """Draw a batch of faces of one identity: action parameters ``q`` (B,) on posed grids ``x``, ``y`` (B, S, S)."""
    p = {k: v[:, None, None] for k, v in q.items()}
    img = idn["bg"] + idn["bg_gx"] * x + idn["bg_gy"] * y
    rx, ry, cy = idn["face_rx"], idn["face_ry"], idn["face_cy"]
    fx, fy = x / rx, (y - cy) / ry
    tex = sum(3.0 * t[0] * np.cos(2.5 * (t[1] * x + t[2] * y) + 3.0 * t[3]) for t in idn["tex"])
    _paint(img, _soft(_ellipse(x, y, 0.0, cy, rx, ry), px), idn["skin"] * (1.0 - idn["shade"] * (fx * fx + fy * fy)) + tex)

    ey, ew, eh0, tip = idn["eye_y"], idn["eye_w"], idn["eye_h"], idn["tip_y"]
    by = ey - idn["brow_gap"] - q["brow_raise"]
    if q["forehead"].max() > 0.02:
        for k in range(3):
            f0 = by - 0.12 - 0.08 * k
            img *= 1.0 - 0.3 * p["forehead"] * _stroke(x, y, _quad((-0.35, f0 + 0.03), (0.0, f0 - 0.03), (0.35, f0 + 0.03), 5), np.full(5, 0.016), px)
    if q["furrow"].max() > 0.01:
        for s in (-1.0, 1.0):
            line = _quad((s * 0.035, by - 0.04), (s * 0.04, by + 0.015), (s * 0.045, by + 0.07), 3)
            img *= 1.0 - 0.45 * p["furrow"] * _stroke(x, y, line, np.full(3, 0.018), px)
    hair = _soft(_ellipse(x, y, 0.0, cy, rx * 1.06, ry * 1.04), px) * _soft(y - idn["hair_y"] - idn["hair_curv"] * x * x, px)
    _paint(img, hair, idn["hair"])

    eh = eh0 * np.clip(1.0 + p["eye_open"], 0.2, 2.0)
    tilt = q["brow_tilt"]
    for s in (-1.0, 1.0):
        ex = s * idn["eye_dx"]
        img *= 1.0 - 0.15 * np.exp(-(((x - ex) / (1.5 * ew)) ** 2 + ((y - ey) / (2.5 * eh0)) ** 2))
        d_eye = _ellipse(x, y, ex, ey, ew, eh)
        eye = _soft(d_eye, px)
        _paint(img, eye, min(idn["skin"] * 1.05 + 20.0, 235.0))
        _paint(img, eye * _soft(np.hypot(x - ex, y - ey) - 0.42 * ew, px), idn["iris"])
        img *= 1.0 - np.where(y < ey, 0.7, 0.35) * _soft(np.abs(d_eye) - 0.012, px)
        if q["cheek"].max() > 0.01:
            crease = _quad((ex - s * 0.8 * ew, ey + 1.6 * eh0), (ex, ey + 2.6 * eh0), (ex + s * 0.9 * ew, ey + 1.4 * eh0), 5)
            img *= 1.0 - 0.35 * p["cheek"] * _stroke(x, y, crease, np.full(5, 0.014), px)
            img += 16.0 * p["cheek"] * np.exp(-(((x - s * (idn["eye_dx"] + 0.03)) ** 2 + (y - ey - 0.3) ** 2) / 0.02))
        bi = idn["brow_in"]
        inner, outer = (s * bi, by - tilt), (s * (bi + idn["brow_len"]), by + 0.3 * tilt + 0.02)
        mid = (0.5 * (inner[0] + outer[0]), by - idn["brow_arch"] - 0.35 * tilt)
        br = idn["brow_r"] * np.linspace(1.0, 0.55, 6)
        img *= 1.0 - idn["brow_dark"] * _stroke(x, y, _quad(inner, mid, outer), br, px)

    nw = idn["nose_w"]
    for s in (-1.0, 1.0):
        img *= 1.0 - 0.08 * _stroke(x, y, np.array([[s * 0.55 * nw, ey + 0.08], [s * 0.6 * nw, tip - 0.04]]), np.full(2, 0.015), px)
        nostril = _ellipse(x, y, s * 0.55 * nw, tip + 0.01 - 0.4 * p["lip_raise"], 0.035 * (1 + 0.3 * p["wrinkle"]), 0.018)
        img *= 1.0 - 0.55 * _soft(nostril, px)
        if q["wrinkle"].max() > 0.01:
            for k in range(2):
                line = np.array([[s * 0.05, ey + 0.04 + 0.05 * k], [s * 0.13, ey + 0.1 + 0.05 * k]])
                img *= 1.0 - 0.4 * p["wrinkle"] * _stroke(x, y, line, np.full(2, 0.016), px)
    img += 15.0 * np.exp(-((x * x + (y - tip + 0.04) ** 2) / 0.003))
    img *= 1.0 - 0.12 * np.exp(-((x * x / 0.01 + (y - tip - 0.05) ** 2 / 0.002)))

    my, mw = idn["mouth_y"], idn["mouth_w"] * (1.0 + q["width"])
    strength = np.minimum(0.5 * (idn["fold"] + 0.5 * p["cheek"] + 0.3 * p["wrinkle"]), 0.5)
    for s in (-1.0, 1.0):
        corner = my - q["curve"] - q["asym"] * (s > 0)
        fold = _quad((s * (nw + 0.02), tip - 0.03), (s * (nw + 0.12), my - 0.1), (s * (mw + 0.05), corner + 0.05), 5)
        img *= 1.0 - strength * _stroke(x, y, fold, np.full(5, 0.016), px)
    mw = mw[:, None, None]
    t = np.clip(x / mw, -1.0, 1.0)
    taper = 1.0 - t * t
    yc = my - p["curve"] * t * t - p["asym"] * np.maximum(t, 0.0) ** 2
    gap = np.maximum(p["open"], 0.0) * taper ** 0.7
    yu = yc - 0.35 * gap - np.maximum(p["lip_raise"], 0.0) * taper
    yl = yc + 0.65 * gap
    inside = _soft(np.abs(x) - mw, px)
    lt = idn["lip_t"] * (1.0 - 0.75 * np.clip(p["press"], 0.0, 1.0)) * np.sqrt(taper)
    upper = _soft(yu - lt - y, px) * _soft(y - yu, px)
    lower = _soft(yl - y, px) * _soft(y - yl - 1.3 * lt, px)
    img *= 1.0 - idn["lip_dark"] * inside * np.maximum(upper, 0.8 * lower)
    cavity = inside * _soft(yu - 0.6 * px - y, px) * _soft(y - yl - 0.6 * px, px)
    _paint(img, cavity, 35.0)
    _paint(img, cavity * _soft(y - yu - np.minimum(0.4 * (yl - yu), 0.035), px) * (gap > 0.01), 190.0)
    return img


def _check(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}; pass {name}={minimum} or more.")


def generate_faces(
    subjects: int = 20, frames: int = 3, image_size: int = 48, neutral: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Generate a deterministic CK+48-like set of synthetic grayscale faces.

    One sequence per (subject, expression); each keeps its last ``frames`` frames of a
    rise from neutral to apex (intensities about 0.7..1.0). With ``neutral=True`` every
    sequence also contributes its first frame (frame 0), labelled "neutral".
    Rows are ordered by subject, then expression, then frame. Returns equal-length
    columns: "images" uint8 (N, image_size, image_size, 1), "labels", "subjects"
    (e.g. "S001"), "sequences" (e.g. "S001_003") as str arrays, and "frames" int64.
    """
    _check("subjects", subjects, 1)
    _check("frames", frames, 1)
    _check("image_size", image_size, 24)
    _check("seed", seed, 0)
    size = int(image_size)
    px = 2.0 / size
    grid = (np.arange(size) + 0.5) * px - 1.0
    gx, gy = np.meshgrid(grid, grid)
    kept = np.linspace(0.7, 1.0, frames) if frames > 1 else np.ones(1)
    images, labels, frame_ids = [], [], []
    for subject in range(int(subjects)):
        idn = _identity(seed, subject)
        for e, expression in enumerate(EXPRESSIONS):
            rng = np.random.default_rng((seed, subject, e + 1))
            length = frames + int(rng.integers(8, 30))
            style = np.clip(1.0 + rng.normal(0.0, 0.15, len(_PARAMS)), 0.5, 1.5)
            style[_ASYM] *= rng.choice((-1.0, 1.0))
            apex = _APEX_MATRIX[e] * style * idn["expressiveness"]
            shift, rot = rng.normal(0.0, 0.6 * px, 2), rng.normal(0.0, 0.035)
            scale, gain, offset = 1.0 + rng.normal(0.0, 0.02), 1.0 + rng.normal(0.0, 0.05), rng.normal(0.0, 5.0)
            light = rng.normal(0.0, 6.0, 2)
            index = np.arange(length - frames, length)
            intensity = kept
            if neutral:
                index, intensity = np.r_[0, index], np.r_[0.0, kept]
            jitter = np.array([np.random.default_rng((seed, subject, e + 1, i + 1)).normal(0.0, 1.0, 4) for i in index])
            dx, dy = (shift + jitter[:, :2] * 0.25 * px).T[..., None, None]
            a = (rot + 0.006 * jitter[:, 2])[:, None, None]
            c, s = np.cos(a) / scale, np.sin(a) / scale
            x, y = c * (gx - dx) + s * (gy - dy), -s * (gx - dx) + c * (gy - dy)
            q = dict(zip(_PARAMS, (idn["rest"] + intensity[:, None] * apex).T))
            img = _render(idn, q, x, y, px) * (gain + 0.01 * jitter[:, 3, None, None]) + offset + light[0] * gx + light[1] * gy
            img += np.random.default_rng((seed, subject, e + 1, 0)).normal(0.0, 2.0, img.shape)
            images.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
            labels += ["neutral"] * neutral + [expression] * frames
            frame_ids.append(index)
    n_seq = len(EXPRESSIONS) * len(frame_ids[0])
    subject_ids = np.repeat([f"S{i + 1:03d}" for i in range(int(subjects))], n_seq)
    sequence_ids = np.char.add(np.char.add(subject_ids, "_"), np.array([f"{e + 1:03d}" for e in range(len(EXPRESSIONS))]).repeat(len(frame_ids[0]))[np.arange(len(subject_ids)) % n_seq])
    return {
        "images": np.concatenate(images)[..., None],
        "labels": np.array(labels),
        "subjects": subject_ids,
        "sequences": sequence_ids,
        "frames": np.concatenate(frame_ids).astype(np.int64),
    }
