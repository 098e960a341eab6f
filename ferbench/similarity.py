"""Exact and near image search: content hashes, and a two-stage near-duplicate search.

The fold protocols (``dedup``, ``official-purged``) group or purge the copies it finds, and the
leakage checks count those that cross the sides of a fold or two data sets.

Exact duplicates share a hash of their decoded pixels (not file bytes: a PNG and a JPEG of the
same pixels match; a re-encoded JPEG does not, and is found by the near-duplicate search).

Near duplicates are copies that were re-encoded, noised, shifted or cropped by a few pixels,
rotated by a few degrees (their uncovered border filled with black, white, the mean or the
edge), brightened or contrast-changed, or mirrored. A single 64-bit perceptual hash misses most
of them at 48×48 (2-px shifts and 5° rotations move too many hash bits), so the search has two
stages, both on the image without a margin, where filled borders lie:

1. **Candidates.** Every image without ``coarse_margin`` (1/16 of each side) becomes a
   ``coarse_size``² grey thumbnail under a centred Gaussian window; its low Fourier magnitudes
   (unit length, projected on ``coarse_dims`` principal axes) ignore shifts. Cosine
   similarities of all pairs, mirrored copies included, are tiled matrix products; each image
   keeps its most similar images above ``candidate_similarity``: ``neighbours`` of them, or more
   where ``pair_budget`` allows (small data sets are searched nearly exhaustively).
2. **Verification.** Each candidate pair is compared on ``fine_size``² band-pass thumbnails
   (difference of Gaussians) of the image without ``margin`` (1/8 of each side): the highest Pearson correlation over shifts of up to
   ``max_shift`` pixels (refined between pixels), mirrored or not, after the data set's
   ``shared_components`` leading principal axes are damped to ``shared_keep`` of their weight.
   Those axes hold what look-alikes share (pose, lighting, background, the average face); a
   copy matches in the rest too. Pairs scoring from ``align_from`` up to ``threshold`` are
   searched again over ``rotations`` × ``scales``. A pair at or above ``threshold`` is a near
   duplicate.

Everything is numpy and scipy (no torch: ``ferbench leakage`` starts without it). Resizing,
blurring, window sums and the inverse transforms at the searched shifts are matrix products,
each checked against the library operation it stands for in ``tests/test_similarity.py``. The
products and FFTs use the processors not already busy; the summation order, and so the last
digits of a score, can differ with their number (on FER+: one pair in 8,429 at the threshold).

How it was chosen (verification scores of planted copies of 60-80 images each of CK+48, FER+ and
the synthetic set, against the 6,000 highest-scoring cross-subject candidate pairs of three
look-alike sets: CK+48 faces composited on one background, synthetic portraits with one pose
and background, and plain CK+48; see ``benchmarks/lookalikes.py``). Highest look-alike scores
(composited / portraits / CK+48) and what each approach cost:

- full frame, 32-px band-pass (before): 0.983 / 0.991 / 0.959; black-filled 2-px shifts score
  0.60-0.91 (5th percentile; the old threshold was 0.96).
- inner region only: filled borders fixed (5th percentiles >= 0.955), look-alikes 0.966 /
  0.984 / 0.975.
- minus the data set's mean image: look-alikes 0.946 / 0.967 / 0.893, but 2-px shifts drop to
  0-60 % found (the mean does not move with the copy).
- finer band (0.5-2 px instead of 0.8-4): 0.943 / 0.969 / 0.935, but 3-px crops of synthetic
  faces drop to 58 % and FER+ rotations to 87 %.
- 8 shared axes removed: 0.764 / 0.885 / 0.836, but copies lose as much (CK+48 2-px shifts
  75-89 % above 0.89).
- 8 shared axes kept at 0.3 of their weight, 36-px thumbnails, ±4 px (chosen): 0.851 / 0.937 /
  0.867, and no pair of different synthetic subjects above 0.93, hence the threshold 0.93.
  Costs: the 8 axes (the leading eigenvectors of at most 4,096 thumbnails' Gram matrix) and
  each window's projection on them (one matrix product for all images and shifts), and 36-px
  instead of 32-px thumbnails. Written with torch and full inverse FFTs, this search took
  24-28 s for all 31,408 FER+ images on two idle cores against 15-16 s for the earlier
  full-frame search; written as below it takes less than the earlier one (figures in the README).

The candidate stage uses Fourier magnitudes because an 8² pixel thumbnail keeps a diagonally
2-px shifted CK+48 face among its candidates only 12-60 % of the time (CK+48 faces are aligned
and alike). The window and the smaller margin came from the rank of 200 planted copies of each
kind among their original's neighbours (31,408 FER+ images; 981 CK+48): a 2-px shifted copy is
among the 8 nearest in 95-99 % (FER+) and 79-88 % (CK+48) of cases, against 77-81 % and 58-63 %
without the window at margin 1/8; a sd of 3/16 of the side or no margin lost it on CK+48
(32-47 %), 45 instead of 32 axes gained 0-3 points at 40 % more products.

Constant images (no contrast) have no direction to compare and are found only as exact copies.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from ferbench.errors import UserError

@dataclass(frozen=True)
class DuplicateSearch:
    """Parameters of the near-duplicate search (see the module docstring for each stage)."""

    threshold: float = 0.93
    neighbours: int = 8
    pair_budget: int = 250_000
    candidate_similarity: float = 0.6
    coarse_size: int = 16
    coarse_dims: int = 32
    coarse_margin: float = 0.0625
    coarse_window: float = 0.25
    fine_size: int = 36
    max_shift: int = 4
    align_from: float = 0.8
    rotations: tuple[float, ...] = (-5.0, 0.0, 5.0)
    scales: tuple[float, ...] = (0.95, 1.0, 1.05)
    flips: bool = True
    block: int = 256
    margin: float = 0.125
    shared_components: int = 8
    shared_keep: float = 0.3

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise UserError(f"near-duplicate threshold must be a correlation in [-1, 1], got {self.threshold}.")
        features = (2 * (self.coarse_size // 4) + 1) * (self.coarse_size // 4 + 1)
        if self.coarse_size < 4 or not 1 <= self.coarse_dims <= features:
            raise UserError(f"near-duplicate search: coarse_size must be >= 4 and coarse_dims in [1, {features}].")
        if self.neighbours < 1 or self.block < 1:
            raise UserError("near-duplicate search: neighbours and block must be >= 1.")
        if not 0 <= self.max_shift < self.fine_size // 4:
            raise UserError(f"near-duplicate search: max_shift must be in [0, {self.fine_size // 4}).")
        for name in ("margin", "coarse_margin"):
            if not 0 <= getattr(self, name) < 0.25:
                raise UserError(f"near-duplicate search: {name} is a share of each side in [0, 0.25), "
                                f"got {getattr(self, name)}.")
        if self.coarse_window <= 0:
            raise UserError(f"near-duplicate search: coarse_window must be > 0, got {self.coarse_window}.")
        if self.shared_components < 0 or not 0 <= self.shared_keep <= 1:
            raise UserError("near-duplicate search: shared_components must be >= 0 and shared_keep in [0, 1].")

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain JSON (tuples as lists), stored with every leakage report."""
        return json.loads(json.dumps(asdict(self)))


@dataclass(frozen=True)
class Pairs:
    """Duplicate pairs ``(first[i], second[i])`` with their score and whether one is mirrored.

    Within one data set ``first < second``; between two data sets ``first`` indexes the first
    and ``second`` the other.
    """

    first: np.ndarray
    second: np.ndarray
    score: np.ndarray
    flipped: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    @classmethod
    def empty(cls) -> Pairs:
        """No pairs."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32),
                   np.zeros(0, bool))

    def without(self, other: Pairs) -> Pairs:
        """These pairs minus those also in ``other``."""
        mine = self.first * (1 << 32) + self.second
        keep = ~np.isin(mine, other.first * (1 << 32) + other.second)
        return Pairs(self.first[keep], self.second[keep], self.score[keep], self.flipped[keep])


def components(n: int, *pairs: Pairs) -> np.ndarray:
    """Connected components of ``n`` images linked by ``pairs``: one label per image.

    Copies of copies count: if A's top neighbours hold B's JPEG but not B's shifted copy, the
    shifted copy still joins A through the JPEG.
    """
    first = np.concatenate([p.first for p in pairs]) if pairs else np.zeros(0, np.int64)
    second = np.concatenate([p.second for p in pairs]) if pairs else np.zeros(0, np.int64)
    graph = coo_matrix((np.ones(len(first), np.int8), (first, second)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def content_hashes(images: np.ndarray) -> np.ndarray:
    """A 16-byte BLAKE2b digest of each image's decoded pixels and shape, as (N, 16) uint8."""
    shape = repr(images.shape[1:]).encode()
    digests = b"".join(hashlib.blake2b(shape + np.ascontiguousarray(image).tobytes(),
                                       digest_size=16).digest() for image in images)
    return np.frombuffer(digests, np.uint8).reshape(len(images), 16)


def exact_pairs(images: np.ndarray, other: np.ndarray | None = None) -> Pairs:
    """Every pair of pixel-identical images (within ``images``, or between it and ``other``),
    ordered by ``first``, then ``second``."""
    mine = content_hashes(images)
    digests = mine if other is None else np.concatenate([mine, content_hashes(other)])
    unique, copy = np.unique(digests, axis=0, return_inverse=True)
    copy = copy.reshape(-1)
    group = copy[:len(mine)]
    theirs = group if other is None else copy[len(mine):]
    order = np.argsort(theirs, kind="stable")  # the images of each copy group together, in order
    size = np.bincount(theirs, minlength=len(unique))
    end = np.cumsum(size)
    if other is None:  # only the later copies of each image: first < second
        begin = np.empty_like(order)
        begin[order] = np.arange(1, len(order) + 1)
    else:
        begin = end[group] - size[group]
    count = end[group] - begin
    first = np.repeat(np.arange(len(group)), count)
    second = order[np.repeat(begin - (np.cumsum(count) - count), count) + np.arange(len(first))]
    return Pairs(first, second.astype(np.int64), np.ones(len(first), np.float32),
                 np.zeros(len(first), bool))


def _grey(images: np.ndarray) -> np.ndarray:
    """(N, H, W) float32 grey levels of (N, H, W, C) images (ITU-R 601 weights for colour)."""
    x = np.asarray(images, dtype=np.float32)
    return x @ np.array([0.299, 0.587, 0.114], np.float32) if x.shape[-1] == 3 else x[..., 0]


def _frozen(matrix: np.ndarray) -> np.ndarray:
    matrix.flags.writeable = False  # cached: shared by every call
    return matrix


@functools.cache
def _blur_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size) Gaussian blur with replicated borders, so that ``M @ X @ M.T`` blurs X.

    Two small matrix products blur a whole stack about 20x faster than a convolution with the
    wide kernels of the band's lower edge (0.4 s against 9 s for 31,408 thumbnails at 32 px).
    """
    radius = int(3 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-offsets**2 / (2 * sigma * sigma))
    weights /= weights.sum()
    matrix = np.zeros((size, size))
    for row in range(size):
        np.add.at(matrix[row], np.clip(row + offsets, 0, size - 1), weights)
    return _frozen(matrix.astype(np.float32))


@functools.cache
def _area_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) means over adaptive windows, as adaptive average pooling takes them."""
    matrix = np.zeros((size_out, size_in), np.float32)
    for i in range(size_out):
        start, stop = i * size_in // size_out, -(-(i + 1) * size_in // size_out)
        matrix[i, start:stop] = 1 / (stop - start)
    return _frozen(matrix)


@functools.cache
def _resize_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) bilinear resampling, antialiased when shrinking (a triangle filter
    widened by the scale, as PIL and torch's ``antialias=True`` do); the identity for equal sizes."""
    scale = size_in / size_out
    centres = (np.arange(size_out) + 0.5) * scale
    weights = np.clip(1 - np.abs(np.arange(size_in)[None] + 0.5 - centres[:, None]) / max(scale, 1.0), 0, None)
    return _frozen((weights / weights.sum(1, keepdims=True)).astype(np.float32))


@functools.cache
def _band_matrix(size: int, window: int) -> np.ndarray:
    """(size, size - window + 1) 0/1 matrix B: ``B.T @ X @ B`` sums every ``window``² square of X."""
    offsets = np.arange(size)[:, None] - np.arange(size - window + 1)[None]
    return _frozen(((offsets >= 0) & (offsets < window)).astype(np.float32))


def _sandwich(left: np.ndarray, x: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left @ m @ right.T`` for every matrix m of the stack ``x`` (N, h, w), as two large matrix
    products rather than 2N small ones (numpy calls BLAS once per matrix of a stack)."""
    n, h, w = x.shape
    y = (np.ascontiguousarray(x).reshape(n * h, w) @ right.T).reshape(n, h, -1)
    z = left @ y.transpose(1, 0, 2).reshape(h, -1)
    return np.ascontiguousarray(z.reshape(len(left), n, -1).transpose(1, 0, 2))


def _unit(t: np.ndarray) -> np.ndarray:
    t = t.reshape(len(t), -1)
    t = t - t.mean(1, keepdims=True)
    return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-6)


def _normalised(t: np.ndarray) -> np.ndarray:
    return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)


def _spectral_rows(search: DuplicateSearch) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the kept low frequencies in an ``rfft2`` of a ``coarse_size``² thumbnail, and the
    rows they move to when the image is mirrored (vertical frequency ``k`` becomes ``-k``)."""
    size, reach = search.coarse_size, search.coarse_size // 4
    rows = np.concatenate([np.arange(0, reach + 1), np.arange(size - reach, size)])
    return rows, (size - rows) % size


def _coarse(grey: np.ndarray, search: DuplicateSearch,
            basis: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shift-tolerant signatures of each image and its mirror: the square roots of the low
    Fourier magnitudes of its inner ``coarse_size``² thumbnail (without ``coarse_margin``) under
    a centred Gaussian window (sd ``coarse_window`` of the side), unit length, projected on the
    ``coarse_dims`` leading principal axes (computed here unless given). Magnitudes ignore
    circular shifts; the window makes a real shift, whose content enters at one edge and leaves
    at the other, nearly circular. A 2-px shifted FER+ copy is among its image's 8 nearest of
    31,408 in 95-99 % of cases with the window, 77-81 % without (60-63 % and 79-88 % on CK+48,
    whose aligned faces crowd each other's neighbourhoods)."""
    import scipy.fft

    size = search.coarse_size
    inner = _inner(grey, search.coarse_margin)
    thumbs = _sandwich(_area_matrix(inner.shape[1], size), inner, _area_matrix(inner.shape[2], size))
    centred = np.arange(size) - (size - 1) / 2
    profile = np.exp(-centred**2 / (2 * (search.coarse_window * size) ** 2)).astype(np.float32)
    thumbs = (thumbs - thumbs.mean((1, 2), keepdims=True)) * np.outer(profile, profile)
    magnitudes = np.sqrt(np.abs(scipy.fft.rfft2(thumbs)))
    reach = size // 4
    rows, mirrored_rows = _spectral_rows(search)
    plain = _unit(magnitudes[:, rows, :reach + 1])
    mirrored = _unit(magnitudes[:, mirrored_rows, :reach + 1])
    if basis is None:
        _, vectors = np.linalg.eigh(plain.T.astype(np.float64) @ plain)
        basis = vectors[:, -search.coarse_dims:].astype(np.float32)
    return _normalised(plain @ basis), _normalised(mirrored @ basis), basis


def _inner(grey: np.ndarray, margin: float) -> np.ndarray:
    """The images without a ``margin`` (share of each side) all round, where a shifted or rotated
    copy has its filled border."""
    h, w = grey.shape[-2:]
    dy, dx = round(margin * h), round(margin * w)
    return grey[..., dy:h - dy, dx:w - dx]


def _fine(grey: np.ndarray, size: int, margin: float = 0.0) -> np.ndarray:
    """Band-pass (difference of Gaussians) ``size``² thumbnails of the images without ``margin``."""
    inner = _inner(grey, margin)
    rows, columns = _resize_matrix(inner.shape[1], size), _resize_matrix(inner.shape[2], size)
    scale = size / 24  # the band was chosen at 24 px: 0.8 to 4 px there
    fine, coarse = _blur_matrix(size, 0.8 * scale), _blur_matrix(size, 4.0 * scale)
    return (_sandwich(fine @ rows, inner, fine @ columns)
            - _sandwich(coarse @ rows, inner, coarse @ columns))


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a sparse 2-D boolean mask whose size is a multiple of 8, scanning it 8
    bytes at a time: 4.7x faster on the candidate stage's tiles (256 x 4096, a few hits each)."""
    flat = np.ascontiguousarray(mask).ravel()
    if flat.size % 8:
        return np.nonzero(mask)
    words = np.flatnonzero(flat.view(np.uint64))
    within = np.nonzero(flat.reshape(-1, 8)[words])
    return np.divmod(words[within[0]] * 8 + within[1], mask.shape[1])


#: Columns of one tile of the candidate stage: a tile of ``block`` rows (256 by default, 4 MB of
#: similarities) is compared and updated while in the processor's cache, not written to memory
#: whole (1,024 rows of all 31,408 FER+ columns are 128 MB). Tiled, the FER+ candidates took
#: 2.3-2.6 s on one thread against 3.2-7.4 s for whole rows (measured with torch, before numpy).
_TILE_COLUMNS = 4096


def _candidates(query: np.ndarray, query_flipped: np.ndarray, base: np.ndarray,
                search: DuplicateSearch, same: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each query image's ``k`` most similar base images (mirrors included) above
    ``candidate_similarity``, as pairs. Tiles after the first only update rows where some
    similarity beats the row's current k-th best, so most of the N² similarities are only
    compared, never sorted."""
    n, m = len(query), len(base)
    k = min(max(search.neighbours, search.pair_budget // max(n, 1)), m - (1 if same else 0))
    if k < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    width = max(_TILE_COLUMNS, k)
    firsts, seconds = [], []
    for start in range(0, n, search.block):
        stop = min(start + search.block, n)
        rows = stop - start
        both = np.concatenate([query[start:stop], query_flipped[start:stop]])
        top_values = np.empty((rows, k), np.float32)
        top_index = np.empty((rows, k), np.int64)
        for left in range(0, m, width):
            sims = both @ base[left:left + width].T
            sims = np.maximum(sims[:rows], sims[rows:])
            if same and left < stop and start < left + sims.shape[1]:
                diagonal = np.arange(max(start, left), min(stop, left + sims.shape[1]))
                sims[diagonal - start, diagonal - left] = -np.inf
            if left == 0:
                index = np.argpartition(sims, sims.shape[1] - k, axis=1)[:, -k:]
                top_values[:], top_index[:] = np.take_along_axis(sims, index, 1), index
                continue
            row, column = _nonzero(sims > top_values.min(1, keepdims=True))
            if not len(row):
                continue
            owner = np.concatenate([np.repeat(np.arange(rows), k), row])
            values = np.concatenate([top_values.ravel(), sims[row, column]])
            index = np.concatenate([top_index.ravel(), column + left])
            order = np.lexsort((-values, owner))
            rank = np.arange(len(order)) - np.searchsorted(owner[order], owner[order])
            kept = order[rank < k]
            top_values[:], top_index[:] = values[kept].reshape(rows, k), index[kept].reshape(rows, k)
        keep = top_values >= search.candidate_similarity
        firsts.append(np.broadcast_to(np.arange(start, stop)[:, None], keep.shape)[keep])
        seconds.append(top_index[keep])
    first, second = np.concatenate(firsts), np.concatenate(seconds)
    if same:
        first, second = np.minimum(first, second), np.maximum(first, second)
        unique = np.unique(first * (1 << 32) + second)
        first, second = unique >> 32, unique & ((1 << 32) - 1)
    return first.astype(np.int64), second.astype(np.int64)


@dataclass(frozen=True)
class _Views:
    """Spectra of thumbnails (plain and mirrored) and the norm of each shifted window in them."""

    spectra: np.ndarray
    norms: np.ndarray

    @classmethod
    def of(cls, thumbs: np.ndarray, search: DuplicateSearch, axes: np.ndarray | None = None) -> _Views:
        import scipy.fft

        views = np.stack([thumbs, thumbs[..., ::-1]], 1) if search.flips else thumbs[:, None]
        size, window = thumbs.shape[-1], thumbs.shape[-1] - 2 * search.max_shift
        reach = 2 * search.max_shift + 1
        flat = views.reshape(-1, size, size)
        band = _band_matrix(size, window)
        total, power = _sandwich(band.T, flat, band.T), _sandwich(band.T, flat * flat, band.T)
        energy = (power - total * total / window**2).reshape(*views.shape[:2], reach, reach)
        spectra = scipy.fft.rfft2(views)
        if axes is not None and len(axes):
            # Each window's projections on the shared axes, as one product of the spectra with
            # the axes' correlation kernels at every shift: 8 axes of all 31,408 FER+
            # thumbnails and their mirrors in about a second, against 11-12 s for a full
            # inverse FFT per axis and view.
            shared = _padded_spectra(axes, size, search).reshape(len(axes), 1, -1)
            basis = _real_basis((shared * _inverse_kernels(size, reach)).reshape(-1, shared.shape[-1]))
            along = np.concatenate([_real_product(chunk, basis) for chunk in np.array_split(
                spectra, max(1, len(spectra) // 4096))]).reshape(*views.shape[:2], len(axes), reach, reach)
            energy = energy - (1 - search.shared_keep**2) * (along * along).sum(2)
        return cls(spectra, np.maximum(np.sqrt(np.maximum(energy, 0)), 1e-6))


def _zero_mean_centres(thumbs: np.ndarray, search: DuplicateSearch) -> np.ndarray:
    size, shift = thumbs.shape[-1], search.max_shift
    centre = thumbs[:, shift:size - shift, shift:size - shift].reshape(len(thumbs), -1)
    return centre - centre.mean(1, keepdims=True)


def _shared_axes(thumbs: np.ndarray, search: DuplicateSearch) -> np.ndarray:
    """The ``shared_components`` leading principal axes of the thumbnails' centres, (k, D), from
    an eigen-decomposition of the centres' Gram matrix (at most 4,096 centres)."""
    centres = _zero_mean_centres(thumbs[:: max(1, len(thumbs) // 4096)], search)
    k = min(search.shared_components, len(centres) - 1, centres.shape[1])
    if k < 1:
        return centres[:0]
    from scipy.linalg import eigh

    gram = centres.T.astype(np.float64) @ centres
    # Only the k leading eigenvectors (LAPACK's syevr): 0.05 s against 0.5-3 s for all 784.
    _, vectors = eigh(gram, subset_by_index=[len(gram) - k, len(gram) - 1], driver="evr")
    axes = vectors[:, ::-1].T.astype(np.float32)
    return axes - axes.mean(1, keepdims=True)


def _padded_spectra(flat: np.ndarray, size: int, search: DuplicateSearch) -> np.ndarray:
    """Conjugate spectra of (n, window²) centres zero-padded to ``size``²."""
    import scipy.fft

    window = size - 2 * search.max_shift
    padded = np.zeros((len(flat), size, size), np.float32)
    padded[:, :window, :window] = flat.reshape(-1, window, window)
    return np.conj(scipy.fft.rfft2(padded))


def _centres(thumbs: np.ndarray, search: DuplicateSearch, shared: np.ndarray | None = None) -> np.ndarray:
    """Conjugate spectra of each thumbnail's centre, zero-mean, with the ``shared`` axes
    damped, unit-length, zero-padded."""
    centre = _zero_mean_centres(thumbs, search)
    norm = np.linalg.norm(centre, axis=1, keepdims=True)
    if shared is not None and len(shared):
        along = centre @ shared.T
        damp = 1 - search.shared_keep**2
        norm = np.sqrt(np.maximum(norm**2 - damp * (along**2).sum(1, keepdims=True), 0))
        centre = centre - damp * along @ shared
    return _padded_spectra(centre / np.maximum(norm, 1e-6), thumbs.shape[-1], search)


def _verify(centres: np.ndarray, views: _Views, size: int,
            search: DuplicateSearch) -> tuple[np.ndarray, np.ndarray]:
    """Best Pearson correlation of each centre over the other's shifted windows, and whether the
    best was mirrored, from the precomputed spectra: the product's inverse transform at the
    (2 ``max_shift`` + 1)² shifts only (``_shift_inverse``)."""
    dots = _shift_inverse(centres[:, None] * views.spectra, size, 2 * search.max_shift + 1)
    peaks = _subpixel_peak(dots / views.norms)
    return peaks.max(1), peaks.argmax(1).astype(bool)


@functools.cache
def _inverse_kernels(size: int, reach: int) -> np.ndarray:
    """(reach², size (size // 2 + 1)) complex g with ``Re(g @ spectrum.ravel())`` equal to
    ``irfft2(spectrum, s=(size, size))[:reach, :reach].ravel()``."""
    y = np.arange(reach)
    rows = np.exp(2j * np.pi * y[:, None] * np.arange(size) / size)  # (y, r): inverse along rows
    k = np.arange(size // 2 + 1)
    weight = np.where((k == 0) | (2 * k == size), 1.0, 2.0) / (size * size)  # the Hermitian halves
    columns = weight[:, None] * np.exp(2j * np.pi * k[:, None] * y[None] / size)  # (k, x)
    return _frozen((rows[:, None, :, None] * columns.T[None, :, None, :]).reshape(reach * reach, -1))


def _real_basis(kernels: np.ndarray) -> np.ndarray:
    """(2 K, M) float32 B with ``spectra.view(float32) @ B == Re(spectra @ kernels.T)`` for
    complex (M, K) ``kernels`` (``view`` interleaves real and imaginary parts)."""
    basis = np.empty((2 * kernels.shape[1], len(kernels)), np.float32)
    basis[0::2], basis[1::2] = kernels.real.T, -kernels.imag.T  # Re(z g) = z.re g.re - z.im g.im
    return basis


@functools.cache
def _inverse_basis(size: int, reach: int) -> np.ndarray:
    return _frozen(_real_basis(_inverse_kernels(size, reach)))


def _real_product(spectra: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``Re(spectra @ kernels.T)`` over the last two axes of ``spectra`` flattened, for the
    ``_real_basis`` of the kernels."""
    flat = np.ascontiguousarray(spectra, dtype=np.complex64).view(np.float32)
    return flat.reshape(-1, basis.shape[0]) @ basis


def _shift_inverse(spectra: np.ndarray, size: int, reach: int) -> np.ndarray:
    """``irfft2(spectra, s=(size, size))[..., :reach, :reach]`` as one real matrix product that
    computes only the ``reach``² outputs the shift search reads, equal to it within 1e-6. At 36
    px and reach 9 it is 1.5-2.5x faster than two complex products (one per axis, whose inner
    dimensions of 19 and 9 leave BLAS idle) and 7x faster than the full inverse FFT."""
    return _real_product(spectra, _inverse_basis(size, reach)).reshape(*spectra.shape[:-2], reach, reach)


def _subpixel_peak(scores: np.ndarray) -> np.ndarray:
    """The peak of each (reach, reach) correlation surface, refined between pixels by a parabola
    through the best shift and its neighbours on each axis. A copy shifted by a fraction of a
    thumbnail pixel (2 px at 48 are 1.33 px at 32) otherwise loses up to 0.03 of its score."""
    reach = scores.shape[-1]
    flat = scores.reshape(*scores.shape[:-2], -1)
    where = flat.argmax(-1)
    peak = np.take_along_axis(flat, where[..., None], -1)[..., 0]
    row, col = where // reach, where % reach

    def at(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        index = np.clip(r, 0, reach - 1) * reach + np.clip(c, 0, reach - 1)
        return np.take_along_axis(flat, index[..., None], -1)[..., 0]

    refined = peak.copy()
    for before, after in ((at(row - 1, col), at(row + 1, col)), (at(row, col - 1), at(row, col + 1))):
        curvature = 2 * peak - before - after
        gain = (before - after) ** 2 / (8 * np.maximum(curvature, 1e-6))
        refined += np.where(curvature > 1e-6, np.minimum(gain, 0.05), 0)
    return np.minimum(refined, 1.0)


@functools.cache
def _warp_matrices(rotations: tuple[float, ...], scales: tuple[float, ...], size: int) -> list[csr_matrix]:
    """Sparse (size², size²) bilinear resamplings of a flattened ``size``² image, one for every
    (rotation, scale) of the alignment search but the identity; pixel centres at
    ``(2i + 1) / size - 1``, coordinates outside clamped to the border."""
    centres = (2 * np.arange(size) + 1) / size - 1
    y, x = np.meshgrid(centres, centres, indexing="ij")
    points = np.stack([x.ravel(), y.ravel()], 1)
    out = []
    for degrees in rotations:
        for scale in scales:
            if degrees == 0 and scale == 1:
                continue
            c, s = math.cos(math.radians(degrees)) / scale, math.sin(math.radians(degrees)) / scale
            pixels = np.clip(((points @ np.array([[c, s], [-s, c]]) + 1) * size - 1) / 2, 0, size - 1)
            low = np.floor(pixels).astype(int)
            frac = pixels - low
            high = np.minimum(low + 1, size - 1)
            columns, weights = [], []
            for ys, wy in ((low[:, 1], 1 - frac[:, 1]), (high[:, 1], frac[:, 1])):
                for xs, wx in ((low[:, 0], 1 - frac[:, 0]), (high[:, 0], frac[:, 0])):
                    columns.append(ys * size + xs)
                    weights.append(wy * wx)
            rows = np.tile(np.arange(size * size), 4)
            out.append(csr_matrix((np.concatenate(weights), (rows, np.concatenate(columns))),
                                  shape=(size * size, size * size), dtype=np.float32))
    return out


def _aligned(fine: np.ndarray, views: _Views, search: DuplicateSearch, best: np.ndarray,
             axes: np.ndarray | None = None) -> np.ndarray:
    """Raise ``best`` to the best score over rotated and scaled versions of thumbnails ``fine``
    against one view each of the other images (the orientation that scored best unwarped); pairs
    stop being searched once they reach the threshold. The first image of each pair is warped,
    so the other's window norms are reused: 3-4x faster than warping the second, whose shared-axis
    norms would be recomputed for every warp."""
    best = best.copy()
    size = fine.shape[-1]
    flat = fine.reshape(len(fine), -1).T
    one_view = replace(search, flips=False)
    for warp in _warp_matrices(tuple(search.rotations), tuple(search.scales), size):
        todo = np.nonzero(best < search.threshold)[0]
        if not len(todo):
            break
        warped = np.asarray(warp @ flat[:, todo]).T.reshape(-1, size, size)
        score, _ = _verify(_centres(warped, search, axes), _Views(views.spectra[todo], views.norms[todo]),
                           size, one_view)
        best[todo] = np.maximum(best[todo], score)
    return best


def _free_processors() -> int:
    """Processors this process may use that are not already busy (one-minute load average), at
    least one. BLAS threads wait for each other at every product: with another process computing
    on both cores of a 2-core machine, the FER+ search took 37 s with two threads, 11 s with one."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(usable, round(usable - busy)))


#: Candidate pairs verified at once: their spectra (about 16 KB a pair) stay within a few tens of MB.
_PAIR_CHUNK = 4096


def near_pairs(images: np.ndarray, other: np.ndarray | None = None,
               search: DuplicateSearch | None = None) -> Pairs:
    """Near-duplicate pairs within ``images`` (N, H, W, C), or between it and ``other``.

    Exact copies are included (score 1). Images of different sizes are compared on thumbnails.
    """
    import scipy.fft
    from threadpoolctl import threadpool_limits

    threads = _free_processors()
    with threadpool_limits(limits=threads, user_api="blas"), scipy.fft.set_workers(threads):
        return _near_pairs(images, other, search or DuplicateSearch())


def _near_pairs(images: np.ndarray, other: np.ndarray | None, search: DuplicateSearch) -> Pairs:
    same = other is None
    grey = _grey(images)
    other_grey = grey if same else _grey(other)
    query, query_flipped, basis = _coarse(grey, search)
    base = query if same else _coarse(other_grey, search, basis)[0]
    first, second = _candidates(query, query_flipped, base, search, same)
    if not len(first):
        return Pairs.empty()
    fine = _fine(grey, search.fine_size, search.margin)
    other_fine = fine if same else _fine(other_grey, search.fine_size, search.margin)
    axes = _shared_axes(fine if same else np.concatenate([fine, other_fine]), search)
    centres, views = _centres(fine, search, axes), _Views.of(other_fine, search, axes)
    scores, flips = [], []
    for start in range(0, len(first), _PAIR_CHUNK):
        a, b = first[start:start + _PAIR_CHUNK], second[start:start + _PAIR_CHUNK]
        score, flipped = _verify(centres[a], _Views(views.spectra[b], views.norms[b]), search.fine_size, search)
        band = np.nonzero((score >= search.align_from) & (score < search.threshold))[0]
        if len(band):
            view = flipped[band].astype(int)
            chosen = _Views(views.spectra[b[band], view][:, None], views.norms[b[band], view][:, None])
            score[band] = _aligned(fine[a[band]], chosen, search, score[band], axes)
        scores.append(score)
        flips.append(flipped)
    score, flipped = np.concatenate(scores), np.concatenate(flips)
    keep = score >= search.threshold
    return Pairs(first[keep], second[keep], score[keep].astype(np.float32), flipped[keep])


def copy_pairs(images: np.ndarray, search: DuplicateSearch) -> tuple[Pairs, Pairs]:
    """The exact-duplicate pairs within ``images``, and the near-duplicate pairs that are not exact."""
    exact = exact_pairs(images)
    return exact, near_pairs(images, search=search).without(exact)


def copy_groups(images: np.ndarray, search: DuplicateSearch) -> np.ndarray:
    """One label per image: images joined by a chain of exact or near copies share a label."""
    return components(len(images), *copy_pairs(images, search))
