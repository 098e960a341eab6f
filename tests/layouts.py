"""Writers of small image files and data set trees in the real layouts, for the loader tests."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

#: The real data, when this checkout sits next to it (tests using it skip otherwise).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pixels(seed: int, size: tuple[int, int] = (48, 48), channels: int = 1) -> np.ndarray:
    """Deterministic random uint8 pixels (H, W) or (H, W, 3)."""
    shape = size if channels == 1 else (*size, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def write_image(path: Path, array: np.ndarray | None = None, mode: str | None = None,
                seed: int = 0, size: tuple[int, int] = (48, 48)) -> Path:
    """Save ``array`` (or random pixels) at ``path``; ``mode`` converts first (e.g. "P", "RGBA")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels(seed, size) if array is None else array)
    if mode:
        image = image.convert(mode)
    image.save(path)
    return path


def write_16bit(path: Path, array: np.ndarray) -> Path:
    """A 16-bit grayscale PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint16)).save(path)
    return path


def truncate(path: Path) -> Path:
    """Cut an image file in half."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def jpeg_bytes(size: tuple[int, int] = (100, 100), seed: int = 0) -> bytes:
    """A small RGB JPEG."""
    out = io.BytesIO()
    Image.fromarray(pixels(seed, size, 3)).save(out, format="JPEG", quality=50)
    return out.getvalue()


def copy_many(source: Path, targets: list[Path]) -> None:
    """Copy one file to many places (fast way to make thousands of images)."""
    for target in targets:
        shutil.copyfile(source, target)


def ckplus48(root: Path, sequences: dict[str, list[str]], frames: int = 3) -> Path:
    """CK+48: ``sequences`` maps a class folder to ``S###_###`` names; ``frames`` PNGs each."""
    for n, (folder, names) in enumerate(sequences.items()):
        for m, name in enumerate(names):
            for f in range(frames):
                write_image(root / folder / f"{name}_{f + 10:08d}.png", seed=100 * n + 10 * m + f)
    return root


def ckplus_original(root: Path, sequences: dict[str, tuple[int, float | str | None]],
                    size: tuple[int, int] = (50, 60)) -> Path:
    """Original CK+: ``sequences`` maps ``S###_###`` to (number of frames, emotion code or None)."""
    for n, (name, (frames, code)) in enumerate(sequences.items()):
        subject, seq = name.split("_")
        for f in range(1, frames + 1):
            write_image(root / "cohn-kanade-images" / subject / seq / f"{name}_{f:08d}.png",
                        seed=1000 + 50 * n + f, size=size)
        folder = root / "Emotion" / subject / seq
        folder.mkdir(parents=True, exist_ok=True)
        if code is not None:
            text = f"   {code:.7e}" if isinstance(code, float) else code
            (folder / f"{name}_{frames:08d}_emotion.txt").write_text(text + "\n")
    return root


def face_points(cx: float, cy: float, scale: float, tilt: float = 0.0,
                box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """68 iBUG-layout points (jaw, brows, nose, eyes, mouth) of a face centred at (cx, cy),
    ``scale`` pixels per unit, rotated by ``tilt`` degrees (clockwise on screen). With ``box``
    (left, top, right, bottom) the untilted points are stretched to exactly fill that box."""
    jaw = [(np.cos(a), np.sin(a)) for a in np.linspace(np.pi - 0.2, 0.2, 17)]
    brows = [(x, -0.55) for x in (*np.linspace(-0.8, -0.2, 5), *np.linspace(0.2, 0.8, 5))]
    nose = [(0.0, y) for y in np.linspace(-0.35, 0.1, 4)] + [(x, 0.2) for x in np.linspace(-0.2, 0.2, 5)]
    ring = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    eyes = [(side + 0.15 * np.cos(t), -0.3 + 0.06 * np.sin(t)) for side in (-0.4, 0.4) for t in ring]
    mouth = [(0.35 * np.cos(t), 0.55 + 0.12 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 12, endpoint=False)]
    mouth += [(0.25 * np.cos(t), 0.55 + 0.05 * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
    unit = np.array(jaw + brows + nose + eyes + mouth)
    if box is not None:
        low, high = unit.min(axis=0), unit.max(axis=0)
        return np.array(box[:2]) + (unit - low) / (high - low) * (np.array(box[2:]) - box[:2])
    angle = np.radians(tilt)
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    return np.array([cx, cy]) + scale * unit @ rotation


def draw_face(size: tuple[int, int], points: np.ndarray, background: int = 128) -> np.ndarray:
    """A grey (H, W) image of the face ``points`` describe: a light face, dark eye discs (value
    20, the only pixels below 60) and a mid-grey mouth."""
    from PIL import ImageDraw

    image = Image.new("L", (size[1], size[0]), background)
    draw = ImageDraw.Draw(image)
    outline = [tuple(p) for p in points[0:17]] + [tuple(p) for p in points[26:16:-1]]
    draw.polygon(outline, fill=210)
    radius = np.linalg.norm(points[36] - points[39]) / 3
    for eye in (points[36:42].mean(axis=0), points[42:48].mean(axis=0)):
        draw.ellipse([eye[0] - radius, eye[1] - radius, eye[0] + radius, eye[1] + radius], fill=20)
    draw.polygon([tuple(p) for p in points[48:60]], fill=90)
    return np.asarray(image)


def write_landmarks(path: Path, points: np.ndarray) -> Path:
    """A CK+ landmarks file: one ``x y`` line a point, in exponent notation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"   {x:.7e}   {y:.7e}\n" for x, y in points))
    return path


def ckplus_faces(root: Path, subjects: int = 4, frames: int = 4, size: tuple[int, int] = (160, 200),
                 without_landmarks: tuple[str, ...] = ()) -> Path:
    """Original CK+ with drawn faces (one template: near duplicates to the leakage audit) and
    their Landmarks files: ``subjects`` subjects, each with an anger (code 1) and a happiness
    (code 5) sequence of ``frames`` frames. Frames named
    in ``without_landmarks`` (file stems) get no landmarks file."""
    for s in range(subjects):
        subject = f"S{s + 10:03d}"
        for q, code in enumerate((1, 5)):
            seq = f"{q + 1:03d}"
            for f in range(1, frames + 1):
                stem = f"{subject}_{seq}_{f:08d}"
                points = face_points(size[1] / 2 + 3 * s, size[0] / 2 + 2 * f, 40 + 2 * q, tilt=4 * s - 6)
                write_image(root / "cohn-kanade-images" / subject / seq / f"{stem}.png", draw_face(size, points))
                if stem not in without_landmarks:
                    write_landmarks(root / "Landmarks" / subject / seq / f"{stem}_landmarks.txt", points)
            folder = root / "Emotion" / subject / seq
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{subject}_{seq}_{frames:08d}_emotion.txt").write_text(f"   {float(code):.7e}\n")
    return root
