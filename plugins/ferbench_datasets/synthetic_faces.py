"""Procedural synthetic grayscale faces laid out like CK+48.

Every subject has a random identity (face shape, tones, feature geometry, resting offsets such
as a slight natural smile, expressiveness). Every (subject, expression) pair is one sequence
rising from a neutral face to the expression's apex; like CK+48 only its last ``frames`` frames
are kept, so the frames of one sequence are near-duplicates of each other. Faces are drawn with
anti-aliased soft masks on a normalised grid (x right, y down, both in [-1, 1]), so they stay
smooth at 48x48. Pure numpy and deterministic.
"""

from __future__ import annotations

import numpy as np

EXPRESSIONS: tuple[str, ...] = ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")

# Facial actions; lengths are in grid units (half the image), eye_open is relative.
_PARAMS: tuple[str, ...] = (
    "curve", "open", "width", "asym", "lip_raise", "press", "brow_raise",
    "brow_tilt", "eye_open", "wrinkle", "cheek", "forehead", "furrow",
)
_APEX: dict[str, dict[str, float]] = {
    "anger": dict(curve=-0.04, width=-0.12, press=1.0, brow_raise=-0.1, brow_tilt=-0.15, eye_open=-0.5,
                  furrow=1.0),
    "contempt": dict(asym=0.15, width=-0.04, press=0.5, eye_open=-0.12),
    "disgust": dict(curve=-0.06, open=0.08, lip_raise=0.1, brow_raise=-0.06, brow_tilt=-0.05, eye_open=-0.5,
                    wrinkle=1.0, cheek=0.5, furrow=0.5),
    "fear": dict(curve=-0.05, open=0.18, width=0.25, brow_raise=0.12, brow_tilt=0.12, eye_open=0.6,
                 forehead=0.8),
    "happiness": dict(curve=0.21, open=0.09, width=0.27, eye_open=-0.45, cheek=1.0),
    "sadness": dict(curve=-0.14, width=-0.06, press=0.4, brow_raise=0.02, brow_tilt=0.15, eye_open=-0.3),
    "surprise": dict(open=0.4, width=-0.22, brow_raise=0.19, eye_open=0.75, forehead=1.0),
}
_APEX_MATRIX = np.array([[_APEX[e].get(k, 0.0) for k in _PARAMS] for e in EXPRESSIONS])
_REST = dict(curve=0.04, width=0.05, asym=0.025, brow_raise=0.03, brow_tilt=0.04, eye_open=0.15)
_REST_SD = np.array([_REST.get(k, 0.0) for k in _PARAMS])  # spread of a subject's resting face
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
    """Coverage of polylines ``pts`` ((B,) K, 2) with vertex radii (K,), evaluated in their bounding box."""
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
    """``n`` points ((B,) n, 2) on the quadratic Bezier p0-p1-p2; coordinates are scalars or (B,) arrays."""
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
        face_rx=u(0.86, 1.0), face_ry=u(1.02, 1.15), face_cy=u(0.04, 0.14), skin=u(140, 180),
        shade=u(0.08, 0.2), bg=u(70, 170), bg_gx=u(-10, 10), bg_gy=u(-10, 10),
        eye_y=u(-0.24, -0.08), eye_dx=u(0.3, 0.4), eye_w=u(0.14, 0.18), eye_h=u(0.055, 0.075), iris=u(25, 70),
        brow_gap=u(0.14, 0.2), brow_r=u(0.035, 0.06), brow_dark=u(0.45, 0.8), brow_arch=u(0.0, 0.05),
        brow_len=u(0.18, 0.26), brow_in=u(0.08, 0.14),
        nose_len=u(0.28, 0.42), nose_w=u(0.07, 0.1), mouth_gap=u(0.18, 0.3), mouth_w=u(0.24, 0.32),
        lip_t=u(0.035, 0.06), lip_dark=u(0.25, 0.45), fold=u(0.0, 0.25),
        hair_y=u(-1.05, -0.6), hair_curv=u(0.1, 0.5), hair=u(30, 80),
        expressiveness=u(0.6, 1.0), rest=rng.normal(0.0, _REST_SD), tex=rng.normal(0.0, 1.0, (4, 4)),
    )
    idn["tip_y"] = idn["eye_y"] + idn["nose_len"]
    idn["mouth_y"] = idn["tip_y"] + idn["mouth_gap"]
    return idn


def _render(idn: dict, q: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, px: float) -> np.ndarray:
    """Draw faces of one identity with action parameters ``q`` (B,) on posed grids ``x``, ``y`` (B, S, S)."""
    p = {k: v[:, None, None] for k, v in q.items()}
    img = idn["bg"] + idn["bg_gx"] * x + idn["bg_gy"] * y
    rx, ry, cy = idn["face_rx"], idn["face_ry"], idn["face_cy"]
    fx, fy = x / rx, (y - cy) / ry
    tex = sum(2.0 * t[0] * np.cos(2.5 * (t[1] * x + t[2] * y) + 3.0 * t[3]) for t in idn["tex"])
    skin = idn["skin"] * (1.0 - idn["shade"] * (fx * fx + fy * fy)) + tex
    _paint(img, _soft(_ellipse(x, y, 0.0, cy, rx, ry), px), skin)

    ey, ew, eh0, tip = idn["eye_y"], idn["eye_w"], idn["eye_h"], idn["tip_y"]
    by = ey - idn["brow_gap"] - q["brow_raise"]
    if q["forehead"].max() > 0.02:
        for k in range(3):
            f0 = by - 0.12 - 0.08 * k
            arc = _quad((-0.35, f0 + 0.03), (0.0, f0 - 0.03), (0.35, f0 + 0.03), 5)
            img *= 1.0 - 0.3 * p["forehead"] * _stroke(x, y, arc, np.full(5, 0.016), px)
    if q["furrow"].max() > 0.01:
        for s in (-1.0, 1.0):
            line = _quad((s * 0.035, by - 0.04), (s * 0.04, by + 0.015), (s * 0.045, by + 0.07), 3)
            img *= 1.0 - 0.45 * p["furrow"] * _stroke(x, y, line, np.full(3, 0.018), px)
    hairline = _soft(y - idn["hair_y"] - idn["hair_curv"] * x * x, px)
    _paint(img, _soft(_ellipse(x, y, 0.0, cy, rx * 1.06, ry * 1.04), px) * hairline, idn["hair"])

    eh = eh0 * np.clip(1.0 + p["eye_open"], 0.2, 2.0)
    tilt = q["brow_tilt"]
    for s in (-1.0, 1.0):
        ex = s * idn["eye_dx"]
        img *= 1.0 - 0.15 * np.exp(-(((x - ex) / (1.5 * ew)) ** 2 + ((y - ey) / (2.5 * eh0)) ** 2))
        d_eye = _ellipse(x, y, ex, ey, ew, eh)
        eye = _soft(d_eye, px)
        _paint(img, eye, min(idn["skin"] * 1.05 + 20.0, 235.0))
        _paint(img, eye * _soft(np.hypot(x - ex, y - ey) - 0.42 * ew, px), idn["iris"])
        img *= 1.0 - np.where(y < ey, 0.7, 0.35) * _soft(np.abs(d_eye) - 0.012, px)  # lids and lashes
        if q["cheek"].max() > 0.01:
            crease = _quad((ex - s * 0.8 * ew, ey + 1.6 * eh0), (ex, ey + 2.6 * eh0),
                           (ex + s * 0.9 * ew, ey + 1.4 * eh0), 5)
            img *= 1.0 - 0.35 * p["cheek"] * _stroke(x, y, crease, np.full(5, 0.014), px)
            cheek = np.exp(-((x - s * (idn["eye_dx"] + 0.03)) ** 2 + (y - ey - 0.3) ** 2) / 0.02)
            img += 16.0 * p["cheek"] * cheek
        inner = (s * idn["brow_in"], by - tilt)
        outer = (s * (idn["brow_in"] + idn["brow_len"]), by + 0.3 * tilt + 0.02)
        mid = (0.5 * (inner[0] + outer[0]), by - idn["brow_arch"] - 0.35 * tilt)
        radii = idn["brow_r"] * np.linspace(1.0, 0.55, 6)
        img *= 1.0 - idn["brow_dark"] * _stroke(x, y, _quad(inner, mid, outer), radii, px)

    nw = idn["nose_w"]
    for s in (-1.0, 1.0):
        side = np.array([[s * 0.55 * nw, ey + 0.08], [s * 0.6 * nw, tip - 0.04]])
        img *= 1.0 - 0.08 * _stroke(x, y, side, np.full(2, 0.015), px)
        nostril = _ellipse(x, y, s * 0.55 * nw, tip + 0.01 - 0.4 * p["lip_raise"],
                           0.035 * (1 + 0.3 * p["wrinkle"]), 0.018)
        img *= 1.0 - 0.55 * _soft(nostril, px)
        if q["wrinkle"].max() > 0.01:
            for k in range(2):
                line = np.array([[s * 0.05, ey + 0.04 + 0.05 * k], [s * 0.13, ey + 0.1 + 0.05 * k]])
                img *= 1.0 - 0.4 * p["wrinkle"] * _stroke(x, y, line, np.full(2, 0.016), px)
    img += 15.0 * np.exp(-(x * x + (y - tip + 0.04) ** 2) / 0.003)  # highlight on the tip
    img *= 1.0 - 0.12 * np.exp(-(x * x / 0.01 + (y - tip - 0.05) ** 2 / 0.002))  # shadow under it

    my, mw = idn["mouth_y"], idn["mouth_w"] * (1.0 + q["width"])
    fold_dark = np.minimum(0.5 * (idn["fold"] + 0.5 * p["cheek"] + 0.3 * p["wrinkle"]), 0.5)
    for s in (-1.0, 1.0):
        corner = my - q["curve"] - np.abs(q["asym"]) * (s * q["asym"] > 0)
        fold = _quad((s * (nw + 0.02), tip - 0.03), (s * (nw + 0.12), my - 0.1),
                     (s * (mw + 0.05), corner + 0.05), 5)
        img *= 1.0 - fold_dark * _stroke(x, y, fold, np.full(5, 0.016), px)
    mw = mw[:, None, None]
    t = np.clip(x / mw, -1.0, 1.0)
    taper = 1.0 - t * t
    yc = my - p["curve"] * t * t - np.abs(p["asym"]) * np.maximum(np.sign(p["asym"]) * t, 0.0) ** 2
    gap = p["open"] * taper ** 0.7
    yu, yl = yc - 0.35 * gap - p["lip_raise"] * taper, yc + 0.65 * gap
    inside = _soft(np.abs(x) - mw, px)
    lip = idn["lip_t"] * np.clip(1.0 - 0.75 * p["press"], 0.1, 1.0) * np.sqrt(taper)  # pressed lips thin
    upper = _soft(yu - lip - y, px) * _soft(y - yu, px)
    lower = _soft(yl - y, px) * _soft(y - yl - 1.3 * lip, px)
    img *= 1.0 - idn["lip_dark"] * inside * np.maximum(upper, 0.8 * lower)
    cavity = inside * _soft(yu - 0.6 * px - y, px) * _soft(y - yl - 0.6 * px, px)
    _paint(img, cavity, 35.0)
    teeth = cavity * _soft(y - yu - np.minimum(0.4 * (yl - yu), 0.035), px) * (gap > 0.01)
    _paint(img, teeth, 190.0)
    return img


def _check(name: str, value: int, minimum: int) -> None:
    """Reject anything but an integer >= ``minimum`` with a message saying what to pass."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}; pass e.g. {name}={minimum}")


def generate_faces(
    subjects: int = 20, frames: int = 3, image_size: int = 48, neutral: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Generate a deterministic CK+48-like set of synthetic grayscale faces.

    One sequence per (subject, expression); each keeps its last ``frames`` frames of a
    rise from neutral to apex (intensities about 0.7..1.0). With ``neutral=True`` every
    sequence also contributes its first frame (frame 0), labelled "neutral". Identities,
    sequences and frames are seeded from (seed, subject, expression, frame), so a subject
    looks the same whatever ``subjects`` is.
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
    images, labels, subject_ids, sequence_ids, frame_ids = [], [], [], [], []
    for subject in range(int(subjects)):
        idn = _identity(seed, subject)
        sid = f"S{subject + 1:03d}"
        for e, expression in enumerate(EXPRESSIONS):
            rng = np.random.default_rng((seed, subject, e + 1))
            length = frames + int(rng.integers(8, 30))
            style = np.clip(1.0 + rng.normal(0.0, 0.15, len(_PARAMS)), 0.5, 1.5)
            style[_ASYM] *= rng.choice((-1.0, 1.0))  # contempt may raise either lip corner
            apex = _APEX_MATRIX[e] * style * idn["expressiveness"]
            # Pose and lighting of the sequence; its frames only add tiny jitter around them.
            shift, rot = rng.normal(0.0, px, 2), rng.normal(0.0, 0.04)
            scale = 1.0 + rng.normal(0.0, 0.03)
            gain, offset, light = 1.0 + rng.normal(0.0, 0.04), rng.normal(0.0, 4.0), rng.normal(0.0, 4.0, 2)
            index, intensity = np.arange(length - frames, length), kept
            if neutral:
                index, intensity = np.r_[0, index], np.r_[0.0, kept]
            frame_rngs = [np.random.default_rng((seed, subject, e + 1, int(i) + 1)) for i in index]
            jitter = np.array([r.normal(0.0, 1.0, 4) for r in frame_rngs])
            dx, dy = (shift + 0.25 * px * jitter[:, :2]).T[..., None, None]
            angle = (rot + 0.006 * jitter[:, 2])[:, None, None]
            c, s = np.cos(angle) / scale, np.sin(angle) / scale
            x, y = c * (gx - dx) + s * (gy - dy), c * (gy - dy) - s * (gx - dx)
            q = dict(zip(_PARAMS, (idn["rest"] + intensity[:, None] * apex).T))
            img = _render(idn, q, x, y, px) * (gain + 0.01 * jitter[:, 3, None, None])
            img += offset + light[0] * gx + light[1] * gy
            img += np.array([r.normal(0.0, 2.0, gx.shape) for r in frame_rngs])  # sensor noise
            images.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
            labels += [expression if k > 0 else "neutral" for k in intensity]
            subject_ids += [sid] * len(index)
            sequence_ids += [f"{sid}_{e + 1:03d}"] * len(index)
            frame_ids.append(index)
    return {
        "images": np.concatenate(images)[..., None],
        "labels": np.array(labels),
        "subjects": np.array(subject_ids),
        "sequences": np.array(sequence_ids),
        "frames": np.concatenate(frame_ids).astype(np.int64),
    }
