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
