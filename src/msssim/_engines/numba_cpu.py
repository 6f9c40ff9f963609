"""The TF-CPU Numba engine (``numerics="tensorflow-cpu"``): fused,
multi-threaded CPU kernels with TensorFlow's float32 arithmetic, digit for digit.

Per scale, one parallel kernel walks each (image, channel) plane in blocks of
output rows. For each input row it forms x, y, x² + y² and x·y once (in a ring
of ``filter_size`` rows), applies the 2-D gaussian to the four of them in TF's
order (taps row-major, one fused multiply-add each, or a product and a sum
where TF's kernels are Eigen's), and turns them into
luminance and cs a row at a time (vectorised); full-size moment maps are never
written. Integer images are read directly and scaled on the fly, and the first
downsampled scale is never stored: its pixels are the 2×2 means of the input,
made as they are read, so a memory-mapped image is streamed, never copied.

The H×W means follow TF's reduction (see ``reference.mean_hw``): with one
channel, per-row float64 sums; with several, TF adds each channel's pixels one
by one in float32, which needs them in order: a task that owns a whole plane
adds them as it goes, and when there are too few planes to share out (one RGB
image on four or more threads) the planes are split by rows, the per-pixel values
go to a map, and a second pass sums it in order.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from msssim import _window
from msssim._engines._numpy_ops import (  # noqa: F401  (the engine's share of the interface)
    all_finite,
    concat,
    first_nonfinite,
    float32,
    mean,
    meta,
    pairs,
    power,
    prod,
    relu,
    stack,
)
from msssim._ssim import ScaleStatistics
from msssim._validate import thread_count
from msssim._window import gaussian_window as make_window  # noqa: F401  (TF's, rounding included)

# Numba's default thread pool (workqueue) must not be entered from two threads
# at once; one call at a time also keeps the cores from being oversubscribed.
_LOCK = threading.Lock()


def _forked() -> None:
    """A forked child's own lock (the parent's may have been held at the fork)."""
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)

# A threading layer that survives a fork, unless the user chose one: GNU
# OpenMP's, Numba's pick where TBB is not installed, ends a forked child that
# uses it ("Terminating: fork() called from a process already using GNU
# OpenMP"), and a multiprocessing pool then waits for ever. (Where another
# layer is running already, it stays: Numba fixes its layer when it starts it.)
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "forksafe"


@contextmanager
def session(count: int | None):
    """Hold the engine for one call, with ``count`` threads (``None``: Numba's
    setting, ``NUMBA_NUM_THREADS``)."""
    count = thread_count(count)
    with _LOCK:
        previous = numba.get_num_threads()
        numba.set_num_threads(count)
        try:
            yield
        finally:
            numba.set_num_threads(previous)


_TILE = 1024  # output columns per pass of the filter, kept in L1


class Image(NamedTuple):
    """An image as the kernels take it: values ``float32(pixels) * scale``, in
    any real dtype; with ``halved``, the 2×2 means of those values (step 5), made
    as the kernels read them, so the first downsampled scale is never stored."""

    pixels: np.ndarray  # [..., H, W, C], native byte order
    scale: np.float32
    halved: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the values this image stands for."""
        *batch, height, width, channels = self.pixels.shape
        if self.halved:
            height, width = (height + 1) // 2, (width + 1) // 2
        return (*batch, height, width, channels)


def convert_image(img: np.ndarray, scale: np.float32) -> Image:
    """No copy: the kernels convert as they read. Numba has no float16 or
    bfloat16, and big-endian input must be swapped: those are converted once."""
    if img.dtype.itemsize == 2 and img.dtype.kind not in "iu":
        img = img.astype(np.float32)
    elif not img.dtype.isnative:
        img = img.astype(img.dtype.newbyteorder("="))
    return Image(img, np.float32(scale))


def _planes(img: Image) -> np.ndarray:
    """The pixels as ``[N, H, W, C]`` (a view where the batch dims allow)."""
    return img.pixels.reshape((-1,) + img.pixels.shape[-3:])


@njit(cache=True, nogil=True, inline="always")
def _add_across(acc, row, taps, start):
    """``acc[w] += Σ_j taps[j] · row[start + w + j]``, the taps in order, each
    added with one rounding where the caller contracts them to fused
    multiply-adds, with two where it does not. Four taps go per pass, so the
    running sums stay in registers for four multiply-adds; the order of the
    additions is unchanged."""
    k, n = taps.shape[0], acc.shape[0]
    j = 0
    while j + 4 <= k:
        t0, t1, t2, t3 = taps[j], taps[j + 1], taps[j + 2], taps[j + 3]
        s0 = row[start + j : start + j + n]
        s1 = row[start + j + 1 : start + j + 1 + n]
        s2 = row[start + j + 2 : start + j + 2 + n]
        s3 = row[start + j + 3 : start + j + 3 + n]
        for w in range(n):
            acc[w] = (((acc[w] + t0 * s0[w]) + t1 * s1[w]) + t2 * s2[w]) + t3 * s3[w]
        j += 4
    while j < k:
        tap = taps[j]
        src = row[start + j : start + j + n]
        for w in range(n):
            acc[w] += tap * src[w]
        j += 1


@njit(cache=True, nogil=True, inline="always")
def _filter(out, ring, first, kernel):
    """``out[w] = Σ kernel[i, j] · ring[(first + i) % k, w + j]``, taps row-major
    (TF's order), a tile of ``_TILE`` columns at a time."""
    k = kernel.shape[0]
    for start in range(0, out.shape[0], _TILE):
        acc = out[start : start + _TILE]
        acc[:] = 0
        for i in range(k):
            _add_across(acc, ring[(first + i) % k], kernel[i], start)


@njit(fastmath={"contract"}, cache=True, nogil=True)
def _filter_fused(out, ring, first, kernel):
    """:func:`_filter`, each tap a fused multiply-add (oneDNN's convolution)."""
    _filter(out, ring, first, kernel)


@njit(cache=True, nogil=True)
def _filter_rounded(out, ring, first, kernel):
    """:func:`_filter`, each product rounded before it is added (Eigen's)."""
    _filter(out, ring, first, kernel)


@njit(cache=True, nogil=True)
def _filter_row(out, ring, first, kernel, fused):
    """:func:`_filter_fused` or :func:`_filter_rounded`, as TF's kernels add the taps."""
    if fused:
        _filter_fused(out, ring, first, kernel)
    else:
        _filter_rounded(out, ring, first, kernel)


@njit(cache=True, nogil=True)
def _read_row(raw, n, h, c, scale, halved, out):
    """Row ``h`` of channel ``c`` of an :class:`Image` into ``out``: the values
    ``float32(raw) * scale``, or with ``halved`` the 2×2 means TF's pad-and-pool
    gives (the four summed row-major, then × 0.25)."""
    if not halved:
        src = raw[n, h, :, c]
        for w in range(out.shape[0]):
            out[w] = np.float32(src[w]) * scale
        return
    top, bottom = raw[n, 2 * h, :, c], raw[n, min(2 * h + 1, raw.shape[1] - 1), :, c]
    pairs = raw.shape[2] // 2  # columns with a right neighbour; an odd last one pairs with itself
    for w in range(pairs):
        total = np.float32(top[2 * w]) * scale + np.float32(top[2 * w + 1]) * scale
        total = total + np.float32(bottom[2 * w]) * scale
        out[w] = (total + np.float32(bottom[2 * w + 1]) * scale) * np.float32(0.25)
    if out.shape[0] > pairs:
        last = raw.shape[2] - 1
        total = np.float32(top[last]) * scale + np.float32(top[last]) * scale
        total = total + np.float32(bottom[last]) * scale
        out[pairs] = (total + np.float32(bottom[last]) * scale) * np.float32(0.25)


@njit(cache=True, nogil=True)
def _moment_row(x, y, nx, ny, h, c, scale_x, scale_y, halved, slot, rx, ry, rs, rp):
    """x, y, x² + y² and x·y of one row, in float32 as TF rounds them."""
    _read_row(x, nx, h, c, scale_x, halved, rx[slot])
    _read_row(y, ny, h, c, scale_y, halved, ry[slot])
    a, b = rx[slot], ry[slot]
    for w in range(a.shape[0]):
        rs[slot, w] = a[w] * a[w] + b[w] * b[w]
        rp[slot, w] = a[w] * b[w]


@njit(cache=True, nogil=True)
def _load_row(x, y, nx, ny, h, c, scale_x, scale_y, halved, rx, ry, rs, rp):
    """Input row ``h``'s moments into slot ``h % k`` of the rings."""
    _moment_row(x, y, nx, ny, h, c, scale_x, scale_y, halved, h % rx.shape[0], rx, ry, rs, rp)


@njit(cache=True, nogil=True, error_model="numpy")
def _luminance_cs_row(mx, my, ms, mp, c1, c2, values):
    """Step 4's formulas (``_ssim.luminance_cs``) along one row of filtered
    moments: ``values[0]`` SSIM, ``values[1]`` cs, ``values[2]`` luminance.
    IEEE division (``error_model="numpy"``: 0/0 is NaN, as in TF, and the loop
    vectorises)."""
    two = np.float32(2.0)
    ssim, cs, luminance = values[0], values[1], values[2]
    for w in range(mx.shape[0]):
        luminance[w] = (mx[w] * my[w] * two + c1) / (mx[w] * mx[w] + my[w] * my[w] + c1)
    for w in range(mx.shape[0]):
        num0 = mx[w] * my[w] * two
        cs[w] = (mp[w] * two - num0 + c2) / (ms[w] - (mx[w] * mx[w] + my[w] * my[w]) + c2)
    for w in range(mx.shape[0]):
        ssim[w] = luminance[w] * cs[w]


@njit(fastmath={"reassoc"}, cache=True, nogil=True)
def _sum64(row):
    """A float64 sum of a float32 row, in any order (vectorised)."""
    total = 0.0
    for w in range(row.shape[0]):
        total += np.float64(row[w])
    return total


@njit(parallel=True, cache=True)
def _scale_kernel(
    x,
    y,
    ix,
    iy,
    scale_x,
    scale_y,
    halved,
    height,
    width,
    kernel,
    fused,
    c1,
    c2,
    blocks,
    keep_maps,
    maps,
    row_sums,
    plane_sums,
):
    """Per pixel: luminance and cs (step 4), for SSIM, cs, luminance (q = 0, 1, 2):
    ``row_sums[q, n, c, r]``, float64 sums of each row; ``plane_sums[q, n, c]``,
    TF's sequential float32 sums of each plane (whole only when ``blocks == 1``);
    and where ``keep_maps``, ``maps[q, n, r, w, c]``, the values themselves.
    The filter is the 2-D ``kernel``, in TF's order, its taps ``fused``
    multiply-adds or not (``_window.fused_taps``)."""
    k = kernel.shape[0]
    channels = x.shape[3]
    h_out, w_out = height - k + 1, width - k + 1
    per_block = (h_out + blocks - 1) // blocks
    for task in prange(ix.shape[0] * channels * blocks):
        n = task // (channels * blocks)
        c = (task // blocks) % channels
        first, last = (task % blocks) * per_block, min((task % blocks + 1) * per_block, h_out)
        if first >= last:
            continue
        rx = np.empty((k, width), np.float32)
        ry = np.empty((k, width), np.float32)
        rs = np.empty((k, width), np.float32)
        rp = np.empty((k, width), np.float32)
        mx = np.empty(w_out, np.float32)
        my = np.empty(w_out, np.float32)
        ms = np.empty(w_out, np.float32)
        mp = np.empty(w_out, np.float32)
        values = np.empty((3, w_out), np.float32)  # SSIM, cs, luminance of one output row
        seq_ssim, seq_cs, seq_lum = np.float32(0.0), np.float32(0.0), np.float32(0.0)
        for h in range(first, first + k - 1):
            _load_row(x, y, ix[n], iy[n], h, c, scale_x, scale_y, halved, rx, ry, rs, rp)
        for r in range(first, last):
            _load_row(x, y, ix[n], iy[n], r + k - 1, c, scale_x, scale_y, halved, rx, ry, rs, rp)
            _filter_row(mx, rx, r % k, kernel, fused)
            _filter_row(my, ry, r % k, kernel, fused)
            _filter_row(ms, rs, r % k, kernel, fused)
            _filter_row(mp, rp, r % k, kernel, fused)
            _luminance_cs_row(mx, my, ms, mp, c1, c2, values)
            if channels == 1:
                row_sums[0, n, c, r] = _sum64(values[0])
                row_sums[1, n, c, r] = _sum64(values[1])
                row_sums[2, n, c, r] = _sum64(values[2])
            elif blocks == 1:  # TF's order: each pixel added to the plane's float32 sum
                for w in range(w_out):
                    seq_ssim += values[0, w]
                    seq_cs += values[1, w]
                    seq_lum += values[2, w]
            if keep_maps:
                for q in range(3):
                    maps[q, n, r, :, c] = values[q]
        plane_sums[0, n, c] = seq_ssim
        plane_sums[1, n, c] = seq_cs
        plane_sums[2, n, c] = seq_lum


@njit(parallel=True, cache=True)
def _sequential_means(maps):
    """TF's multi-channel mean: each plane's pixels added in order, in float32."""
    quantities, count, height, width, channels = maps.shape
    out = np.empty((quantities, count, channels), np.float32)
    for task in prange(quantities * count * channels):
        q, n, c = task // (count * channels), (task // channels) % count, task % channels
        total = np.float32(0.0)
        for r in range(height):
            for w in range(width):
                total += maps[q, n, r, w, c]
        out[q, n, c] = total / np.float32(height * width)
    return out


@njit(parallel=True, cache=True)
def _downsample_kernel(x, scale, halved, out):
    """Symmetric pad at the bottom/right, then 2×2 mean, summed row-major like TF."""
    source_height = (x.shape[1] + 1) // 2 if halved else x.shape[1]
    source_width = (x.shape[2] + 1) // 2 if halved else x.shape[2]
    for task in prange(out.shape[0] * out.shape[1]):
        n, i = task // out.shape[1], task % out.shape[1]
        top = np.empty(source_width, np.float32)
        bottom = np.empty(source_width, np.float32)
        for c in range(out.shape[3]):
            _read_row(x, n, 2 * i, c, scale, halved, top)
            _read_row(x, n, min(2 * i + 1, source_height - 1), c, scale, halved, bottom)
            for j in range(out.shape[2]):
                left, right = 2 * j, min(2 * j + 1, source_width - 1)
                total = top[left] + top[right]
                total = total + bottom[left]
                out[n, i, j, c] = (total + bottom[right]) * np.float32(0.25)


def downsample_2x(img: Image, dims: int) -> Image:
    """The first halving is a view (:class:`Image` ``halved``); the next one is
    computed from it and stored as float32, and so on, alternately (``dims``
    is 2: TF has no volumes)."""
    if not img.halved:
        return Image(img.pixels, img.scale, halved=True)
    *batch, height, width, channels = img.shape
    out = np.empty((*batch, (height + 1) // 2, (width + 1) // 2, channels), np.float32)
    _downsample_kernel(_planes(img), img.scale, True, out.reshape((-1,) + out.shape[-3:]))
    return Image(out, np.float32(1.0))


def _blocks(planes: int, rows: int, channels: int) -> int:
    """Row blocks per plane: enough tasks to keep every thread busy. Several
    channels need their planes whole (or maps, measured slower even with three
    planes on two threads), so they split only when some thread would idle."""
    threads = numba.get_num_threads()
    if channels > 1 and planes >= threads:
        return 1
    wanted = -(-4 * threads // max(planes, 1))
    return max(1, min(wanted, rows // 8 or 1))


def scale_statistics(x: Image, y: Image, window, c1, c2, index_map=False, only_cs=False) -> ScaleStatistics:
    """Step 4 for one scale, fused (all three terms, whatever ``only_cs`` says:
    TF's sums of a colour map need them in one pass)."""
    batch, ix, iy = pairs(x.pixels.shape[:-3], y.pixels.shape[:-3])
    height, width, channels = x.shape[-3:]
    k = window.shape[0]
    h_out, w_out = height - k + 1, width - k + 1
    count = ix.shape[0]
    blocks = _blocks(count * channels, h_out, channels)
    keep_maps = (channels > 1 and blocks > 1) or index_map
    maps = np.empty((3, count, h_out, w_out, channels) if keep_maps else (3, 0, 0, 0, 0), np.float32)
    row_sums = np.empty((3, count, channels, h_out))
    plane_sums = np.empty((3, count, channels), np.float32)
    _scale_kernel(
        _planes(x),
        _planes(y),
        ix,
        iy,
        x.scale,
        y.scale,
        x.halved,
        height,
        width,
        window,
        _window.fused_taps(),
        np.float32(c1),
        np.float32(c2),
        blocks,
        keep_maps,
        maps,
        row_sums,
        plane_sums,
    )
    if channels == 1:
        means = (row_sums.sum(axis=-1) / (h_out * w_out)).astype(np.float32)
    elif blocks == 1:
        means = plane_sums / np.float32(h_out * w_out)
    else:
        means = _sequential_means(maps)
    means = means.reshape((3,) + batch + (channels,))
    return ScaleStatistics(
        ssim=means[0],
        cs=means[1],
        luminance=means[2],
        index_map=maps[0].reshape(batch + (h_out, w_out, channels)) if index_map else None,
    )
