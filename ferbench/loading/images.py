"""Decoding image files into uint8 arrays, and a Dataset from them.

A loader hands its list of files to :func:`build_dataset` (or :func:`load_images` for the
arrays alone), which decodes each file once (through :mod:`ferbench.loading.cache`), converts
it to the data set's channels and size, and records what it had to do in the loader's
:class:`~ferbench.loading.report.LoadReport`:

- a zero-byte, truncated, corrupt or missing file is a counted *skip* (an error naming the file
  with ``strict=True``);
- a palette, RGBA, 16-bit or other-mode image is converted (16-bit values are scaled, not
  clipped) and counted once per kind;
- an image of another size is resized (bilinear, with antialiasing) and counted once per size;
- with a :class:`~ferbench.loading.faces.FaceCrop`, the face is cropped first (by landmarks or
  by detection, see :mod:`ferbench.loading.faces.crop`) and each outcome is counted: cropped by
  landmarks, by detection, fell back to detection, no face found, several faces.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ferbench.data import Dataset
from ferbench.errors import UserError
from ferbench.loading import cache
from ferbench.loading.faces import FaceCrop
from ferbench.loading.faces import crop as facecrop
from ferbench.loading.faces import detect as facedetect
from ferbench.loading.folders import relative_path
from ferbench.loading.report import LoadReport

_MODE_NAMES = {"P": "palette", "PA": "palette+alpha", "RGBA": "RGBA", "LA": "grayscale+alpha",
               "1": "1-bit", "RGB": "RGB", "L": "grayscale", "CMYK": "CMYK", "F": "float"}
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# Worker processes pay off only for many small images: measured on 2 cores, 28,558 48×48 PNGs
# decode 1.25× faster with 2 workers, while 15,339 100×100 RGB JPEGs decode 1.4× slower
# (moving their pixels out of the workers costs more than decoding them).
_PARALLEL_FROM = 4000            # files
_PARALLEL_MAX_PIXELS = 64 * 64   # values per image (H × W × C)
# Cropping faces costs far more than moving the crop out (a full frame is decoded and, for
# detection, searched), so it is spread over the cores from a few dozen files.
_PARALLEL_FROM_FACES = 32


def _to_array(image: Image.Image, channels: int) -> tuple[np.ndarray, str | None]:
    """The pixels as uint8 (H, W, channels), and the conversion done (None if none)."""
    target = "L" if channels == 1 else "RGB"
    kind = _MODE_NAMES.get(image.mode, image.mode)
    name = "grayscale" if channels == 1 else "RGB"
    if image.mode == target:
        return np.asarray(image).reshape(image.height, image.width, channels), None
    if image.mode in _SIXTEEN_BIT:
        wide = np.asarray(image).astype(np.int64)
        pixels = (np.clip(wide, 0, 65535) * 255 + 32767) // 65535
        pixels = np.repeat(pixels[..., None], channels, axis=2).astype(np.uint8)
        return pixels, f"16-bit images to 8-bit {name}"
    if image.mode in ("P", "PA") and "transparency" in image.info:
        image = image.convert("RGBA")  # converting a transparent palette directly warns
    converted = image.convert(target)
    return np.asarray(converted).reshape(image.height, image.width, channels), f"{kind} images to {name}"


def decode_file(path: str | Path, channels: int, size: tuple[int, int] | None,
                face: FaceCrop | None = None, points: np.ndarray | None = None
                ) -> tuple[np.ndarray | None, list[tuple[str, str]], str]:
    """Decode one file: ``(pixels or None, events, content digest)``; with ``face``, crop the
    face (by ``points``, its landmarks, where given) before resizing to ``size``.

    Events are ``("skip", reason)``, ``("convert", kind)``, ``("resize", "WxH")``,
    ``("face", outcome)`` (see :data:`ferbench.loading.faces.crop.OUTCOMES`) or ``("drop", reason)``.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None, [("skip", "missing")], ""
    except OSError as error:
        return None, [("skip", f"unreadable: {error.strerror or error}")], ""
    digest = cache.file_digest(data)
    if not data:
        return None, [("skip", "zero-byte")], digest
    events = []
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            pixels, conversion = _to_array(image, channels)
    except UnidentifiedImageError:
        return None, [("skip", "corrupt: not a decodable image")], digest
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        text = str(error).lower()
        reason = "truncated" if "truncat" in text or "broken" in text else "corrupt"
        return None, [("skip", reason)], digest
    if conversion:
        events.append(("convert", conversion))
    if face is not None:
        pixels, outcomes = facecrop.crop(pixels, face, points)
        events += [("face", outcome) for outcome in outcomes]
        if pixels is None:
            return None, events + [("drop", "no face found; face_crop no_face='skip'")], digest
        return (pixels if pixels.shape[:2] == tuple(size) else _resize(pixels, size)), events, digest
    if size is not None and pixels.shape[:2] != tuple(size):
        events.append(("resize", f"{pixels.shape[1]}x{pixels.shape[0]}"))
        pixels = _resize(pixels, size)
    return pixels, events, digest


def _resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    out = np.asarray(image.resize((size[1], size[0]), Image.Resampling.BILINEAR))
    return out.reshape(size[0], size[1], pixels.shape[2])


_shared: np.ndarray | None = None  # the output array that forked workers write into


def _decode_into(args: tuple[int, list[str], int, tuple[int, int], FaceCrop | None, list]) -> list:
    start, paths, channels, size, face, points = args
    out = []
    for row, path in enumerate(paths, start):
        pixels, events, digest = decode_file(path, channels, size, face, points[row - start])
        if pixels is not None:
            _shared[row] = pixels
        out.append((pixels is not None, events, digest))
    return out


def _decode_all(paths: list[str], channels: int, size: tuple[int, int], face: FaceCrop | None = None,
                points: list[np.ndarray | None] | None = None
                ) -> tuple[np.ndarray, list[tuple[bool, list, str]]]:
    """Pixels (N, H, W, C) of every path (zeros where a file was skipped) and, per path,
    (decoded, events, digest). Large sets, and every set whose faces are cropped, are decoded by
    forked workers writing into shared memory, so no pixels travel through pipes."""
    global _shared
    shape = (len(paths), *size, channels)
    points = points if points is not None else [None] * len(paths)
    workers = min(os.cpu_count() or 1, 8)
    small = (len(paths) < _PARALLEL_FROM_FACES if face is not None else
             len(paths) < _PARALLEL_FROM or int(np.prod(shape[1:])) > _PARALLEL_MAX_PIXELS)
    if small or workers < 2 or sys.platform != "linux":
        _shared = np.zeros(shape, np.uint8)
        try:
            return _shared, _decode_into((0, paths, channels, size, face, points))
        finally:
            _shared = None
    buffer = mmap.mmap(-1, int(np.prod(shape)))  # anonymous and shared: the workers inherit it
    step = max(16 if face is not None else 256, len(paths) // (workers * 8))
    chunks = [(i, paths[i:i + step], channels, size, face, points[i:i + step])
              for i in range(0, len(paths), step)]
    try:
        _shared = np.frombuffer(buffer, np.uint8).reshape(shape)
        # fork: workers start at once (no re-import of torch) and use only PIL and numpy.
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = [item for part in pool.imap(_decode_into, chunks) for item in part]
        images = _shared.copy()
    finally:
        _shared = None
    buffer.close()
    return images, results


def _common_size(paths: Sequence[str]) -> tuple[int, int] | None:
    """The most frequent (H, W) among the readable files (headers only)."""
    sizes: Counter[tuple[int, int]] = Counter()
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes[(image.height, image.width)] += 1
        except (OSError, SyntaxError, ValueError):
            continue
    return sizes.most_common(1)[0][0] if sizes else None


def load_images(paths: Sequence[str | Path], *, channels: int, size: tuple[int, int] | None,
                report: LoadReport, verify: bool = False, labels: Sequence[str] | None = None,
                face: FaceCrop | None = None, landmarks: Sequence[np.ndarray | None] | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``paths`` (cached) into uint8 (N_kept, H, W, channels) and a boolean kept mask.

    ``size`` (H, W) None means the most common size among the files; others are resized to it.
    ``labels`` (display names, one per path) replace the paths in skip messages when given.
    ``face`` crops each image's face first (``size`` is then required); ``landmarks`` gives each
    path's points (None where it has none) for ``face.method == "landmarks"``. The settings and
    the points are part of the cache key: a changed setting crops again, the same never twice.
    """
    if face is not None and size is None:
        raise ValueError("load_images: face cropping needs the output size")
    given = [str(p) for p in paths]
    order = np.argsort(np.asarray(given, dtype=object), kind="stable") if given else np.zeros(0, int)
    paths = [given[i] for i in order]  # decoded and cached in sorted order: one entry per file set
    points = None if landmarks is None else [landmarks[i] for i in order]
    options = {"channels": channels, "size": list(size) if size else None}
    if face is not None:
        options["face"] = face.to_dict()
        options["landmarks"] = _points_digest(points)
        report.face_settings = face.describe(size)
    key = cache.cache_key(paths, options)
    hit = cache.lookup(key, paths, verify=verify)
    if hit is not None:
        images, meta = hit
    else:
        if face is not None and face.method == "detect":
            facedetect.require_opencv()
        elif face is not None:
            missing = len(paths) if points is None else sum(p is None for p in points)
            if missing:
                facedetect.require_opencv(f"face_crop='landmarks' falls back to detection for the {missing} "
                                          "image(s) without a landmarks file, and detection")
        target = tuple(size) if size else _common_size(paths) or (1, 1)
        images, decoded = _decode_all(paths, channels, target, face, points)
        ok = np.array([done for done, _, _ in decoded], dtype=bool)
        images = images if ok.all() else images[ok]
        meta = {"events": {str(i): ev for i, (_, ev, _) in enumerate(decoded) if ev},
                "digests": [digest for _, _, digest in decoded], "size": list(target)}
        cache.store(key, images, meta)
    names = list(labels) if labels is not None else given
    decoded_sorted = np.ones(len(paths), dtype=bool)
    for position, events in sorted(meta["events"].items(), key=lambda item: int(item[0])):
        for kind, info in events:
            if kind == "skip":
                decoded_sorted[int(position)] = False
                report.skip(info, names[order[int(position)]])
            elif kind == "convert":
                report.convert(info)
            elif kind == "face":
                report.faces[info] += 1
            elif kind == "drop":
                decoded_sorted[int(position)] = False
                report.drop(info, 1)
            else:
                report.resized[info] += 1
                report.resized_to = "{1}x{0}".format(*meta["size"])
    if (order == np.arange(len(paths))).all():
        return images, decoded_sorted
    rank = np.empty(len(paths), dtype=np.int64)
    rank[order] = np.arange(len(paths))
    mask = decoded_sorted[rank]
    row = np.cumsum(decoded_sorted) - 1
    return images[row[rank][mask]], mask


def _points_digest(points: Sequence[np.ndarray | None] | None) -> str:
    digest = hashlib.sha256()
    for item in points or ():
        digest.update(b"-" if item is None else np.asarray(item, "<f8").tobytes())
    return digest.hexdigest()[:16]


def build_dataset(name: str, classes: Sequence[str], paths: Sequence[str | Path], root: Path,
                  columns: Mapping[str, Any], *, channels: int, size: tuple[int, int] | None,
                  report: LoadReport, verify: bool = False, keep: np.ndarray | None = None,
                  face: FaceCrop | None = None, landmarks: Sequence[np.ndarray | None] | None = None
                  ) -> Dataset:
    """Decode ``paths`` and make the Dataset from ``columns`` (labels, subjects, ... one entry
    per path), keeping the rows whose image decoded and, where given, whose ``keep`` is True
    (every path is decoded, so that one cache entry serves every labelling of the same files).
    Paths are stored relative to ``root``. ``face`` and ``landmarks`` crop faces (see
    :func:`load_images`); the settings and counts become the Dataset's ``face_crop``."""
    shown = [relative_path(p, root) for p in paths]
    images, decoded = load_images(paths, channels=channels, size=size, report=report,
                                  verify=verify, labels=shown, face=face, landmarks=landmarks)
    if not decoded.any():
        raise UserError(f"data set {name!r}: none of the {len(paths)} image files under {root} "
                        f"could be read ({'; '.join(report.lines())}). Check --data-dir {name}=PATH.")
    rows = decoded if keep is None else decoded & np.asarray(keep, dtype=bool)
    cut = {k: None if v is None else np.asarray(v)[rows] for k, v in columns.items()}
    report.log()
    provenance = None if face is None else {**face.to_dict(), "size": list(size),
                                            "counts": {k: report.faces[k] for k in facecrop.OUTCOMES}}
    return Dataset(name=name, classes=tuple(classes), images=images[rows[decoded]],
                   paths=np.asarray(shown, dtype=object)[rows], notes=report.lines(),
                   face_crop=provenance, **cut)


def parse_size(image_size: int | Sequence[int] | None, dataset: str) -> tuple[int, int] | None:
    """An ``image_size`` option (an int for a square, or (H, W)) as (H, W)."""
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, int) and s >= 8 for s in size):
        raise UserError(f"data set {dataset!r}: image_size must be an int >= 8 or (height, width), "
                        f"got {image_size!r}.")
    return size


def check_channels(channels: int, dataset: str) -> int:
    """A ``channels`` option: 1 (grayscale) or 3 (RGB)."""
    if channels not in (1, 3):
        raise UserError(f"data set {dataset!r}: channels must be 1 (grayscale) or 3 (RGB), got {channels!r}.")
    return channels
