"""The decoded-image cache: each image file is decoded once, then read back as one array.

Two levels: a process-level dict (a data set loaded twice in one process costs a copy) and
``.npy`` files in the user's cache directory (``$FERBENCH_CACHE_DIR``, else
``$XDG_CACHE_HOME/ferbench`` or ``~/.cache/ferbench``), each with a JSON sidecar. An entry is
keyed by the list of files with their sizes and modification times and by the decoding options,
so a changed, added or removed file gives a new key. The sidecar also keeps a digest of every
file's bytes: ``verify=True`` re-reads the files and decodes again when any digest differs
(a file rewritten with the same size and time). Writes go to a temporary file in the same
folder, then ``os.replace``; the sidecar is written last and marks the entry complete (not
fsynced: an entry cut short by a crash fails the shape check and is decoded again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("ferbench.data")

#: Bump when the decoding changes, so entries written by an older ferbench are not reused.
FORMAT_VERSION = 1
#: Entries kept in memory (most recently used last).
MEMORY_ENTRIES = 4
_memory: OrderedDict[str, tuple[np.ndarray, dict[str, Any]]] = OrderedDict()


def cache_dir() -> Path:
    """Where decoded images are kept on disk."""
    if os.environ.get("FERBENCH_CACHE_DIR"):
        return Path(os.environ["FERBENCH_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ferbench"


def cache_key(paths: Sequence[str | Path], options: Mapping[str, Any]) -> str:
    """A key for decoding ``paths`` (in this order) with ``options``: names, sizes, mtimes."""
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, dict(options)], sort_keys=True).encode())
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:32]


def file_digest(data: bytes) -> str:
    """The content digest kept per file for ``verify=True``."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def content_digests(paths: Sequence[str | Path]) -> list[str]:
    """Digest of each file's bytes ("" where it cannot be read)."""
    out = []
    for path in paths:
        try:
            out.append(file_digest(Path(path).read_bytes()))
        except OSError:
            out.append("")
    return out


def _entry(key: str) -> tuple[Path, Path]:
    folder = cache_dir() / "images"
    return folder / f"{key}.npy", folder / f"{key}.json"


def _read_disk(key: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    array_path, meta_path = _entry(key)
    try:
        meta = json.loads(meta_path.read_text())
        images = np.load(array_path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if meta.get("version") != FORMAT_VERSION or list(images.shape) != meta.get("shape"):
        return None
    return np.array(images), meta


def lookup(key: str, paths: Sequence[str | Path] | None = None,
           verify: bool = False) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The cached ``(images, meta)`` for ``key``, or None.

    With ``verify`` the files in ``paths`` are read again and their digests compared with
    those stored at write time; any difference counts as a miss.
    """
    hit = _memory.get(key)
    if hit is not None:
        _memory.move_to_end(key)
    else:
        hit = _read_disk(key)
        if hit is None:
            return None
        _remember(key, *hit)
    images, meta = hit
    if verify and paths is not None:
        changed = sum(a != b for a, b in zip(content_digests(paths), meta.get("digests", [])))
        if changed or len(paths) != len(meta.get("digests", [])):
            log.info("image cache: %d file(s) changed content since they were cached; decoding again",
                     changed)
            _memory.pop(key, None)
            return None
    return images.copy(), meta


def _remember(key: str, images: np.ndarray, meta: dict[str, Any]) -> None:
    _memory[key] = (images, meta)
    _memory.move_to_end(key)
    while len(_memory) > MEMORY_ENTRIES:
        _memory.popitem(last=False)


def _atomic_write(path: Path, write) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store(key: str, images: np.ndarray, meta: Mapping[str, Any]) -> None:
    """Keep ``images`` under ``key`` in memory and on disk (a warning, not an error, when the
    cache folder cannot be written: the data set still loads, it is just decoded again next time)."""
    meta = {**meta, "version": FORMAT_VERSION, "shape": list(images.shape)}
    _remember(key, images.copy(), meta)  # a copy: the caller may change its array
    array_path, meta_path = _entry(key)
    try:
        array_path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(array_path, lambda out: np.save(out, np.ascontiguousarray(images)))
        _atomic_write(meta_path, lambda out: out.write(json.dumps(meta).encode()))
    except OSError as error:
        log.warning("image cache: cannot write %s (%s); set FERBENCH_CACHE_DIR to a writable folder "
                    "to load faster next time", array_path.parent, error)


def clear_memory() -> None:
    """Forget the in-memory entries (the files on disk stay)."""
    _memory.clear()
