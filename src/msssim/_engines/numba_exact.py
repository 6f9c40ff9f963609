"""The exact engine (``numerics="exact"``, the default): TF's formula, every
score within 1e-6 of a float64 evaluation, in float32 where that is enough.

Float32 fails the formula as written in one place: ``σ² = f(x²) − μ²`` is a
small difference of large numbers where the image is flat, and ``cs`` divides
by it (plus ``c2``). So no moment is taken about zero. The kernel filters ``u
= x + y`` and ``v = x − y`` (``2σxy`` and ``σx² + σy²`` are half the difference
and half the sum of their variances) in two 1-D passes, each about its output's
own centre: along W, each output gets the mean ``uc + Σ t·(u − uc)`` and the
spread ``Σ t·(u − uc)² − (Σ t·(u − uc))²`` of its row of the window (``uc`` the
centre pixel); along H, the window's variance is the mean of its rows' spreads
plus the spread of their means, again about the centre row. Every subtraction
is then of numbers no larger than the window's own variation (the centre tap
bounds the correction), so the relative error stays a few float32 ulps on any
image; the H×W means are float64 sums. (What float32 cannot hold is a pixel's
own rounding in the stored coarser scales: ~6e-8 of its size, which for pixels
far outside ``[0, max_val]`` reaches the score, 1e-6 at ~30× ``max_val``.)

Work is split into bands of output rows (cut into runs of column tiles when
there are few), run on a pool of threads (the kernels release the GIL). A task
reads its band of both images as float32 rows, channels interleaved: float32
input with contiguous rows in place, anything else converted as it is read
(any real dtype, or the 2×2 means of an integer image's first halving, which is
never stored, so a memory-mapped image is streamed). One kernel, compiled once
per filter size, does the rest in a few hundred KiB, and the task halves the
rows it read into the next scale.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import llvmlite.binding
import numba
import numpy as np
from numba import njit

from msssim._engines._numpy_ops import (  # noqa: F401  (the engine's share of the interface)
    all_finite,
    clip,
    concat,
    first_nonfinite,
    float32,
    meta,
    pairs,
)
from msssim._ssim import ScaleStatistics
from msssim._validate import thread_count
from msssim._window import exact_window as make_window  # noqa: F401  (step 3, float64)
from msssim._window import separable

# The kernels' tap loops must be unrolled completely before LLVM can vectorise
# along the row, and their bodies are larger than LLVM's default unrolling
# budget (8x slower without it); a loop that writes four rows needs more
# run-time overlap checks than LLVM's default allows. These are process-wide:
# they only let LLVM unroll larger loops and check more pointers, in any Numba
# code compiled from now on.
llvmlite.binding.set_option("msssim", "-unroll-threshold=3000")
llvmlite.binding.set_option("msssim", "-vectorize-memory-check-threshold=256")

_TILE = 128  # output columns filtered together (their rows' statistics stay in the L1/L2 caches)
_BAND = 128  # output rows per task
_FAST = {"contract", "reassoc", "nsz", "arcp"}  # rounding need not be TF's here: any order, fused multiply-adds

_LOCK = threading.Lock()  # one call at a time: the cores are never oversubscribed


def mean(x, axis: int):
    """Means of the combination step (over channels), accurate."""
    return np.asarray(x, np.float64).mean(axis=axis).astype(np.float32)


@contextmanager
def session(count: int | None):
    """Hold the engine for one call, with ``count`` threads (``None``: Numba's
    setting, ``NUMBA_NUM_THREADS``, by default one per core)."""
    count = thread_count(count)
    with _LOCK:
        global _threads
        _threads = count
        yield


_threads = 1
_pool: ThreadPoolExecutor | None = None


def _run(jobs) -> list:
    """Run the callables ``jobs`` on the engine's threads, results in order."""
    global _pool
    if _threads == 1 or len(jobs) == 1:
        return [job() for job in jobs]
    if _pool is None or _pool._max_workers < _threads:
        _pool = ThreadPoolExecutor(max_workers=numba.config.NUMBA_NUM_THREADS, thread_name_prefix="msssim")
    return [future.result() for future in [_pool.submit(job) for job in jobs]]


def _forked() -> None:
    """In a forked child (a multiprocessing pool, a DataLoader's workers), the
    parent's pool has no threads and its lock may be held: new ones, made on
    first use (the jobs submitted to the old pool waited for ever)."""
    global _pool, _LOCK
    _pool, _LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


# -- Reading: any input into float32 rows ----------------------------------------------------


@dataclass
class Level:
    """One scale of an image batch as the kernels read it: the values
    ``float32(pixels) * scale``, or with ``halved`` the 2×2 means of those
    (step 5, made as they are read, so an integer image's first downsampled
    scale is never stored). ``half`` is the next scale, stored as float32 by
    :func:`scale_statistics` from the rows it read anyway."""

    pixels: np.ndarray  # [..., H, W, C], C-contiguous, native byte order
    scale: np.float32
    halved: bool = False
    half: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the values this level stands for."""
        *batch, height, width, channels = self.pixels.shape
        if self.halved:
            height, width = (height + 1) // 2, (width + 1) // 2
        return (*batch, height, width, channels)

    @property
    def plain(self) -> bool:
        """float32 values as they are, read in place."""
        return self.pixels.dtype == np.float32 and self.scale == 1 and not self.halved


def convert_image(img: np.ndarray, scale: np.float32) -> Level:
    """The kernels convert as they read, from C-contiguous rows of any real
    dtype but float16/bfloat16 (converted once), in native byte order; other
    arrays are copied into that form, in their own dtype."""
    if img.dtype.itemsize == 2 and img.dtype.kind not in "iu":
        img = img.astype(np.float32)
    elif not img.dtype.isnative:
        img = img.astype(img.dtype.newbyteorder("="))
    return Level(np.ascontiguousarray(img), np.float32(scale))


@njit(cache=True, nogil=True)
def _fill_band(raw, n, first, scale, halved, out):
    """Rows ``first, first + 1, ...`` of image ``n`` (``[N, H, W, C]``,
    C-contiguous, any real dtype) into ``out[rows, :W·C]``, channels interleaved
    as in the input, as float32 ``value * scale``; with ``halved``, rows of its
    2×2 means, the bottom/right edge repeated for odd sizes (TF's symmetric
    pad). Rows past the image are left as they are."""
    channels, width = raw.shape[3], raw.shape[2]
    height = (raw.shape[1] + 1) // 2 if halved else raw.shape[1]
    values = width * channels
    pairs = width // 2
    sums = np.empty(values if halved else 0, np.float32)
    quarter = np.float32(0.25)
    for i in range(min(out.shape[0], height - first)):
        h = first + i
        row = out[i]
        if not halved:
            source = raw[n, h].reshape(values)
            for j in range(values):
                row[j] = np.float32(source[j]) * scale
            continue
        top, bottom = raw[n, 2 * h].reshape(values), raw[n, min(2 * h + 1, raw.shape[1] - 1)].reshape(values)
        for j in range(values):
            sums[j] = np.float32(top[j]) * scale + np.float32(bottom[j]) * scale
        if channels == 1:
            for w in range(pairs):
                row[w] = (sums[2 * w] + sums[2 * w + 1]) * quarter
        else:
            for w in range(pairs):
                for c in range(channels):
                    row[w * channels + c] = (sums[2 * w * channels + c] + sums[(2 * w + 1) * channels + c]) * quarter
        if width % 2:
            for c in range(channels):
                row[pairs * channels + c] = (sums[(width - 1) * channels + c] * np.float32(2.0)) * quarter


def _values(img: Level) -> np.ndarray:
    """The level's float32 values (stored, or converted once)."""
    if img.halved:
        msg = "a level made by downsample_2x's integer view has no stored values to transform"
        raise ValueError(msg)
    return img.pixels if img.plain else img.pixels.astype(np.float32) * img.scale


def transform(img: Level, function) -> Level:
    """``function`` of the level's float32 values, as a new level (for other
    libraries' conventions, which reshape the images between scales)."""
    return Level(np.ascontiguousarray(function(_values(img)), dtype=np.float32), np.float32(1.0))


def data_range(x: Level, y: Level) -> float:
    """The larger of the two levels' ranges (max - min) (torchmetrics' data_range=None)."""
    return max(float(np.ptp(_values(level))) for level in (x, y))


def downsample_2x(img: Level, dims: int) -> Level:
    """Step 5: the next scale that :func:`scale_statistics` stored, or, for an
    integer image's first halving, a view of it (``Level.halved``); else made
    from the rows the reader gives (``dims`` is 2: volumes have
    ``numba_volume``)."""
    if img.half is not None:
        return Level(img.half, np.float32(1.0))
    if not img.halved and img.pixels.dtype.itemsize < 4:
        return Level(img.pixels, img.scale, halved=True)
    *batch, height, width, channels = img.shape
    out = np.zeros((*batch, (height + 1) // 2, (width + 1) // 2, channels), np.float32)
    planes, flat = _planes(img), out.reshape((-1,) + out.shape[-3:])
    rows = np.empty((height, width * channels), np.float32)
    for n in range(len(flat)):
        _fill_band(planes, n, 0, img.scale, img.halved, rows)
        _halve_rows(rows, 0, 0, height, 0, width, height, width, flat[n])
    return Level(out, np.float32(1.0))


@njit(cache=True, nogil=True, fastmath=_FAST)
def _halve_rows(rows, offset, first, last, left, right, height, width, out):
    """The 2×2 means (step 5) of an image ``height × width`` pixels, from its
    float32 rows ``offset, offset + 1, ...`` in ``rows`` (channels interleaved):
    the means of its rows ``first:last`` and columns ``left:right`` (``first``
    and ``left`` even) into ``out`` (``[H', W', C]``); an odd last row or column
    is repeated, as TF's symmetric pad does. (Rows first, as :func:`_fill_band`
    adds them: integer and float input give the same bits.)"""
    channels = out.shape[2]
    quarter = np.float32(0.25)
    pairs = min(right, width - width % 2) // 2  # columns with a right neighbour, up to ``right``
    start, stop = left * channels, 2 * pairs * channels
    sums = np.empty(stop - start, np.float32)
    for i in range(first // 2, (last + 1) // 2):
        top = rows[2 * i - offset, start:stop]  # slices: loops from 0 vectorise
        bottom = rows[min(2 * i + 1, height - 1) - offset, start:stop]
        for m in range(sums.shape[0]):
            sums[m] = top[m] + bottom[m]
        row = out[i].reshape(out.shape[1] * channels)[start // 2 :]
        if channels == 1:
            for j in range(pairs - left // 2):
                row[j] = (sums[2 * j] + sums[2 * j + 1]) * quarter
        elif channels == 3:  # RGB, spelt out so that the loop vectorises
            for j in range(pairs - left // 2):
                row[3 * j] = (sums[6 * j] + sums[6 * j + 3]) * quarter
                row[3 * j + 1] = (sums[6 * j + 1] + sums[6 * j + 4]) * quarter
                row[3 * j + 2] = (sums[6 * j + 2] + sums[6 * j + 5]) * quarter
        else:
            for j in range(pairs - left // 2):
                for c in range(channels):
                    row[j * channels + c] = (sums[2 * j * channels + c] + sums[(2 * j + 1) * channels + c]) * quarter
        if right == width and width % 2:  # the last column, repeated
            edge = rows[2 * i - offset, (width - 1) * channels : width * channels]
            below = rows[min(2 * i + 1, height - 1) - offset, (width - 1) * channels : width * channels]
            for c in range(channels):
                row[(pairs - left // 2) * channels + c] = ((edge[c] + below[c]) + (edge[c] + below[c])) * quarter


def _planes(img: Level) -> np.ndarray:
    return img.pixels.reshape((-1,) + img.pixels.shape[-3:])


# -- The kernel, one per filter size ---------------------------------------------------------


# The filters and formulas, inlined into the kernel, where the tap count ``k`` is
# a constant: LLVM unrolls the taps and vectorises along the row. Each loop
# writes few arrays, so LLVM can check them for overlap with what it reads.
@njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _sum_and_difference(u, v, x, y):
    """``u = x + y``, ``v = x - y``."""
    for i in range(u.shape[0]):
        u[i] = x[i] + y[i]
        v[i] = x[i] - y[i]


@njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _spread_across(mean_u, mean_v, spread_u, spread_v, u, v, taps, stride, k):
    """Along W, about each output's centre pixel ``uc``: the mean of the 1-D
    window, ``uc + Σ t·(u - uc)``, and its spread, ``Σ t·(u - uc)² - (Σ t·(u -
    uc))²``; sums of small numbers where the image is flat, never a small
    difference of large ones. The same for ``v``."""
    for i in range(spread_u.shape[0]):
        uc, vc = u[i + (k // 2) * stride], v[i + (k // 2) * stride]
        su = np.float32(0.0)
        sv = np.float32(0.0)
        suu = np.float32(0.0)
        svv = np.float32(0.0)
        for j in range(k):
            if j == k // 2:
                continue  # the centre adds nothing about itself
            du, dv = u[i + j * stride] - uc, v[i + j * stride] - vc
            tu, tv = taps[j] * du, taps[j] * dv
            su += tu
            sv += tv
            suu += tu * du
            svv += tv * dv
        mean_u[i] = uc + su
        mean_v[i] = vc + sv
        spread_u[i] = suu - su * su
        spread_v[i] = svv - sv * sv


@njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _terms_down(cs, luminance, mean_u, mean_v, spread_u, spread_v, r, taps, c1, c2, excess, k):
    """Along H, about each output's centre row: a window's variance is the mean
    of its rows' spreads plus the spread of their means (rows paired by the
    symmetric taps; for an even ``k``, the centre row is the one just past the
    middle). Then step 4's ``cs`` and, where ``luminance`` is not empty, the
    luminance term, from the means
    ``μu``, ``μv`` and variances ``σu²``, ``σv²`` of ``u = x + y`` and ``v = x -
    y``: ``2σxy = (σu² - σv²) / 2``, ``σx² + σy² = (σu² + σv²) / 2``, and so
    ``cs = (σu² - σv² + 2·c2) / (σu² + σv² + 2·c2)``; likewise the luminance.
    ``excess`` is 0 for a window that sums to 1; for one that sums to ``s``
    (scale_statistics), ``1 - s``: the variances of the window as it is are
    ``s·(σ² + excess·μ²)``, and ``s`` is folded into the constants."""
    c1, c2 = np.float32(2.0) * c1, np.float32(2.0) * c2
    for i in range(cs.shape[0]):
        mu, mv = mean_u[r + k // 2, i], mean_v[r + k // 2, i]
        au = np.float32(0.0)
        av = np.float32(0.0)
        auu = np.float32(0.0)
        avv = np.float32(0.0)
        within_u = np.float32(0.0)
        within_v = np.float32(0.0)
        for j in range(k // 2):  # the taps are symmetric: a pair of rows at a time
            far = k - 1 - j
            within_u += taps[j] * (spread_u[r + j, i] + spread_u[r + far, i])
            within_v += taps[j] * (spread_v[r + j, i] + spread_v[r + far, i])
            du, du2 = mean_u[r + j, i] - mu, mean_u[r + far, i] - mu
            dv, dv2 = mean_v[r + j, i] - mv, mean_v[r + far, i] - mv
            au += taps[j] * (du + du2)
            av += taps[j] * (dv + dv2)
            auu += taps[j] * (du * du + du2 * du2)
            avv += taps[j] * (dv * dv + dv2 * dv2)
        if k % 2:  # the centre row: its spread only (its mean is the centre)
            within_u += taps[k // 2] * spread_u[r + k // 2, i]
            within_v += taps[k // 2] * spread_v[r + k // 2, i]
        variance_u = within_u + (auu - au * au)
        variance_v = within_v + (avv - av * av)
        su, sv = (mu + au) * (mu + au), (mv + av) * (mv + av)
        cs[i] = (variance_u - variance_v + excess * (su - sv) + c2) / (
            variance_u + variance_v + excess * (su + sv) + c2
        )
        if luminance.shape[0]:
            luminance[i] = (su - sv + c1) / (su + sv + c1)


@njit(cache=True, nogil=True, fastmath=_FAST, inline="always")
def _accumulate(totals, values, factors, product=False):
    """``totals[i] += values[i]`` (``values[i] · factors[i]`` with ``product``), in float64."""
    for i in range(totals.shape[0]):
        totals[i] += np.float64(values[i] * factors[i] if product else values[i])


@functools.cache
def _band_kernel(k: int):
    """The kernel for a ``k``-tap window (compiled, and cached on disk, once per
    ``k``). Rows hold the channels interleaved, as the input does, so a tap is
    ``channels`` floats along."""

    @njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
    def kernel(bx, by, taps, c1, c2, excess, rows_out, w_out, tiles, full, sums, slot, n, first, index_map):
        """Output rows ``first .. first + rows_out`` of image ``n``, in the
        column tiles ``tiles[0] .. tiles[1]``, from its input rows in ``bx``,
        ``by`` (``[rows_out + k - 1, ≥ W·C]`` float32, at least ``_TILE + k -
        1`` pixels wide): the float64 sums of cs (and with ``full`` of SSIM and
        luminance) per channel into ``sums[1, slot, c]`` (``sums[0]``,
        ``sums[2]``); where ``index_map`` is not empty, the SSIM of each pixel
        into ``index_map[n, row, w, c]``."""
        channels = sums.shape[2]
        rows_in = rows_out + k - 1
        wide, span = _TILE * channels, (_TILE + k - 1) * channels
        u = np.empty(span, np.float32)  # x + y and x - y along a row of the tile
        v = np.empty(span, np.float32)
        across_w = np.empty((4, rows_in, wide), np.float32)  # 1-D means and spreads of u and v
        terms = np.empty((2, wide), np.float32)  # cs, luminance
        totals = np.empty((3, wide))  # SSIM, cs, luminance, summed down the band
        for tile in range(tiles[0] * _TILE, min(tiles[1] * _TILE, w_out), _TILE):
            # The last tile ends at the last column, overlapping the one before.
            start = max(min(tile, w_out - _TILE), 0)
            skip = tile - start
            count = min(_TILE, w_out - start)
            totals[:] = 0.0
            for h in range(rows_in):
                _sum_and_difference(
                    u,
                    v,
                    bx[h, start * channels : start * channels + span],
                    by[h, start * channels : start * channels + span],
                )
                _spread_across(across_w[0, h], across_w[1, h], across_w[2, h], across_w[3, h], u, v, taps, channels, k)
                r = h - k + 1
                if r < 0:
                    continue
                luminance = terms[1] if full else terms[1, :0]
                _terms_down(
                    terms[0], luminance, across_w[0], across_w[1], across_w[2], across_w[3], r, taps, c1, c2, excess, k
                )
                _accumulate(totals[1], terms[0], terms[0])
                if full:
                    _accumulate(totals[2], terms[1], terms[1])
                    _accumulate(totals[0], terms[1], terms[0], True)
                if index_map.shape[0]:
                    row = index_map[n, first + r]
                    for w in range(skip, count):
                        for c in range(channels):
                            row[start + w, c] = terms[1, w * channels + c] * terms[0, w * channels + c]
            for q in range(3 if full else 2):
                for c in range(channels):
                    total = 0.0
                    for w in range(skip, count):
                        total += totals[q, w * channels + c]
                    sums[q, slot, c] += total

    return kernel


def scale_statistics(x: Level, y: Level, window, c1, c2, index_map=False, only_cs=False) -> ScaleStatistics:
    """Step 4 for one scale; with ``only_cs``, the cs term alone (MS-SSIM's
    finer scales use nothing else, and are followed by another scale: the next
    one is stored, as ``Level.half``, from the rows read here)."""
    batch, ix, iy = pairs(x.pixels.shape[:-3], y.pixels.shape[:-3])
    height, width, channels = x.shape[-3:]
    k = window.shape[0]
    h_out, w_out = height - k + 1, width - k + 1
    # Tasks: bands of rows, cut into runs of column tiles where there are too
    # few bands to keep every thread busy.
    bands, tiles = range(0, h_out, _BAND), -(-w_out // _TILE)
    pieces = min(tiles, -(-4 * _threads // max(len(ix) * len(bands), 1)))
    runs = [(tiles * i // pieces, tiles * (i + 1) // pieces) for i in range(pieces)]
    tasks = [(n, first, run) for n in range(len(ix)) for first in bands for run in runs]
    sums = np.zeros((3, len(tasks), channels))
    maps = np.zeros((len(ix), h_out, w_out, channels) if index_map else (0, 0, 0, 0), np.float32)
    # A window that sums to s != 1 (another library's rounded taps): the kernels
    # filter with the normalised taps, and the sum enters as _terms_down says.
    total = float(np.sum(window, dtype=np.float64))
    total = 1.0 if abs(total - 1.0) < 1e-12 else total
    kernel, taps = _band_kernel(k), (separable(window) / np.sqrt(total)).astype(np.float32)
    excess = np.float32(1.0 - total)
    c1, c2 = np.float32(float(c1) / total**2), np.float32(float(c2) / total)
    halves = []
    for level, index in ((x, ix), (y, iy)):
        store = only_cs and (level.halved or level.pixels.dtype.itemsize >= 4)  # integers: a view (downsample_2x)
        shape = level.pixels.shape[:-3] + ((height + 1) // 2, (width + 1) // 2, channels)
        level.half = np.empty(shape, np.float32) if store else None  # every pixel is written
        owner = np.zeros(len(index), bool)  # the first pair that reads each image halves it
        owner[np.unique(index, return_index=True)[1]] = True
        halves.append((level.half.reshape((-1,) + level.half.shape[-3:]) if store else None, owner))
    px, py = _planes(x), _planes(y)
    direct = w_out >= _TILE and x.plain and y.plain
    width_in = max(width, _TILE + k - 1) * channels  # narrow images: zero columns, never counted

    def work(shares):
        bx = by = None
        for slot in shares:
            n, first, (start, end) = tasks[slot]
            rows_out = min(_BAND, h_out - first)
            rows_in = rows_out + k - 1
            if direct:
                bx = px[ix[n], first : first + rows_in].reshape(rows_in, width * channels)
                by = py[iy[n], first : first + rows_in].reshape(rows_in, width * channels)
            else:
                if bx is None:
                    bx = np.zeros((_BAND + k - 1, width_in), np.float32)
                    by = np.zeros((_BAND + k - 1, width_in), np.float32)
                for level, planes, image, rows in ((x, px, ix[n], bx), (y, py, iy[n], by)):
                    if level.plain:  # narrower than a tile: copied into the zero-padded rows
                        rows[:rows_in, : width * channels] = planes[image, first : first + rows_in].reshape(rows_in, -1)
                    else:
                        _fill_band(planes, image, first, level.scale, level.halved, rows)
            kernel(bx, by, taps, c1, c2, excess, rows_out, w_out, (start, end), not only_cs, sums, slot, n, first, maps)
            last_row = height if first + rows_out == h_out else first + rows_out
            right = width if end == tiles else end * _TILE
            for rows, (half, owner), image in ((bx, halves[0], ix[n]), (by, halves[1], iy[n])):
                if half is not None and owner[n]:
                    _halve_rows(rows, first, first, last_row, start * _TILE, right, height, width, half[image])

    shares = min(_threads, len(tasks))
    with _compiling((k, px.dtype.str, py.dtype.str, direct)):
        _run([functools.partial(work, range(i, len(tasks), shares)) for i in range(shares)])
    per_image = sums.reshape(3, len(ix), len(bands) * pieces, channels).sum(axis=2)
    means = (per_image / (h_out * w_out)).reshape((3,) + batch + (channels,))
    return ScaleStatistics(
        ssim=None if only_cs else means[0],
        cs=means[1],
        luminance=None if only_cs else means[2],
        index_map=maps.reshape(batch + maps.shape[1:]) if index_map else None,
    )


_compiled: set = set()


@contextmanager
def _compiling(key):
    """One line on stderr if the first call with these kernels takes over a
    second: Numba is compiling them (once; they are cached on disk)."""
    if key in _compiled:
        yield
        return
    notice = threading.Timer(
        1.0, lambda: print("msssim: compiling kernels for this input (once, then cached) ...", file=sys.stderr)
    )
    notice.daemon = True
    notice.start()
    try:
        yield
    finally:
        notice.cancel()
        _compiled.add(key)


# The combination of step 6, in float64.
def relu(x):
    return np.maximum(np.asarray(x, np.float64), 0.0)


def stack(arrays, axis: int):
    return np.stack(arrays, axis=axis)


def power(x, exponents):
    return np.asarray(x, np.float64) ** np.asarray(exponents, np.float64)


def prod(x, axis: int):
    return np.prod(x, axis=axis)
