"""The decoded-image cache: memory and disk hits, changed files noticed, verify, atomic files."""

import os
from pathlib import Path

import numpy as np
import pytest

from ferbench.loading import LoadReport, load_images
from ferbench.loading import cache as image_cache
from ferbench.loading import images as decoding
from layouts import write_image


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("FERBENCH_CACHE_DIR", str(folder))
    image_cache.clear_memory()
    yield folder
    image_cache.clear_memory()


@pytest.fixture
def decodes(monkeypatch):
    """Counts the files actually decoded."""
    calls = []
    real = decoding._decode_all

    def counting(paths, channels, size, *face):
        calls.extend(paths)
        return real(paths, channels, size, *face)

    monkeypatch.setattr(decoding, "_decode_all", counting)
    return calls


def _load(paths, verify=False):
    return load_images(paths, channels=1, size=(48, 48), report=LoadReport("t"), verify=verify)


def _files(tmp_path, n=4):
    return [write_image(tmp_path / "img" / f"{i}.png", seed=i) for i in range(n)]


def test_second_load_decodes_nothing_from_memory_or_disk(tmp_path, cache, decodes):
    paths = _files(tmp_path)
    first, _ = _load(paths)
    assert len(decodes) == 4
    again, _ = _load(paths)
    image_cache.clear_memory()  # a new process: only the disk entry is left
    from_disk, _ = _load(paths)
    assert len(decodes) == 4
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, from_disk)
    entries = sorted(p.suffix for p in (cache / "images").iterdir())
    assert entries == [".json", ".npy"]  # no temporary files left behind
    assert np.load(next((cache / "images").glob("*.npy")), mmap_mode="r").shape == (4, 48, 48, 1)


def test_returned_arrays_do_not_share_memory_with_the_cache(tmp_path, cache):
    paths = _files(tmp_path, 2)
    first, _ = _load(paths)
    first[:] = 0
    again, _ = _load(paths)
    assert again.any()


def test_a_changed_file_gives_a_new_key(tmp_path, cache, decodes):
    paths = _files(tmp_path)
    before, _ = _load(paths)
    write_image(paths[1], seed=99, size=(48, 48))
    stat = paths[1].stat()
    os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after, _ = _load(paths)
    assert len(decodes) == 8
    assert not np.array_equal(before[1], after[1]) and np.array_equal(before[0], after[0])


def test_verify_notices_new_content_with_the_same_size_and_time(tmp_path, cache, decodes):
    # PGM files have a fixed size for a given image size, so new pixels keep size and time.
    paths = [write_image(tmp_path / f"{i}.pgm", seed=i) for i in range(3)]
    before, _ = _load(paths)
    _load(paths, verify=True)
    assert len(decodes) == 3  # unchanged content: verify finds nothing
    stat = paths[2].stat()
    write_image(paths[2], seed=7)
    os.utime(paths[2], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert paths[2].stat().st_size == stat.st_size
    stale, _ = _load(paths)
    assert len(decodes) == 3  # the cheap key (name, size, time) cannot see it
    np.testing.assert_array_equal(stale, before)
    fresh, _ = _load(paths, verify=True)
    assert len(decodes) == 6 and not np.array_equal(fresh[2], before[2])


def test_skips_are_remembered_with_the_images(tmp_path, cache, decodes):
    paths = _files(tmp_path, 2)
    empty = tmp_path / "img" / "empty.png"
    empty.write_bytes(b"")
    _load([*paths, empty])
    image_cache.clear_memory()
    report = LoadReport("t")
    images, kept = load_images([*paths, empty], channels=1, size=(48, 48), report=report)
    assert len(decodes) == 3 and kept.tolist() == [True, True, False]
    assert report.lines() == (f"skipped 1 file (zero-byte: {empty})",)


def test_unwritable_cache_folder_warns_and_still_loads(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FERBENCH_CACHE_DIR", str(blocker))
    image_cache.clear_memory()
    images, _ = _load(_files(tmp_path, 2))
    assert len(images) == 2 and "cannot write" in caplog.text


def test_cache_folder_defaults_to_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("FERBENCH_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert image_cache.cache_dir() == Path(tmp_path) / ".cache" / "ferbench"
    monkeypatch.setenv("FERBENCH_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert image_cache.cache_dir() == tmp_path / "elsewhere"
