"""The Numba engine: fused, multi-threaded CPU kernels with TensorFlow's arithmetic.

Per scale, one parallel kernel walks each (image, channel) plane in blocks of
output rows. For each input row it forms x, y, x² + y² and x·y once (in a ring
of ``filter_size`` rows), applies the 2-D gaussian to the four of them in TF's
order (taps row-major, one fused multiply-add each), and turns them into
luminance and cs pixel by pixel; full-size moment maps are never written.
Integer images are read directly and scaled on the fly.

The H×W means follow TF's reduction (see ``reference.mean_hw``): with one
channel, per-row float64 sums; with several, TF adds each channel's pixels one
by one in float32, which needs them in order, so the per-pixel values go to a
map that a second pass sums sequentially.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from msssim._ssim import ScaleStatistics

_LOCK = threading.Lock()  # Numba's default thread pool must not be entered twice at once
_TILE = 256  # output columns per pass of the filter, kept in L1


class Image(NamedTuple):
    """An image as the kernels take it: any real dtype, values ``pixels * scale``."""

    pixels: np.ndarray  # [..., H, W, C], native byte order
    scale: np.float32


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


@njit(fastmath={"contract"}, cache=True, nogil=True)
def _filter_row(out, ring, first, kernel):
    """``out[w] = Σ kernel[i, j] · ring[(first + i) % k, w + j]``, taps row-major,
    each added with one rounding (contracted to a fused multiply-add).

    Four taps go per pass over a tile, so the running sums stay in registers
    for four multiply-adds; the order of the additions is unchanged."""
    k = kernel.shape[0]
    width = out.shape[0]
    for start in range(0, width, _TILE):
        n = min(_TILE, width - start)
        acc = out[start : start + n]
        acc[:] = 0
        for i in range(k):
            row = ring[(first + i) % k]
            j = 0
            while j + 4 <= k:
                t0, t1, t2, t3 = kernel[i, j], kernel[i, j + 1], kernel[i, j + 2], kernel[i, j + 3]
                s0 = row[start + j : start + j + n]
                s1 = row[start + j + 1 : start + j + 1 + n]
                s2 = row[start + j + 2 : start + j + 2 + n]
                s3 = row[start + j + 3 : start + j + 3 + n]
                for w in range(n):
                    acc[w] = (((acc[w] + t0 * s0[w]) + t1 * s1[w]) + t2 * s2[w]) + t3 * s3[w]
                j += 4
            while j < k:
                tap = kernel[i, j]
                src = row[start + j : start + j + n]
                for w in range(n):
                    acc[w] += tap * src[w]
                j += 1


@njit(cache=True, nogil=True)
def _moment_row(xs, ys, scale_x, scale_y, slot, rx, ry, rs, rp):
    """x, y, x² + y² and x·y of one input row, in float32 as TF rounds them."""
    for w in range(xs.shape[0]):
        a = np.float32(xs[w]) * scale_x
        b = np.float32(ys[w]) * scale_y
        rx[slot, w] = a
        ry[slot, w] = b
        rs[slot, w] = a * a + b * b
        rp[slot, w] = a * b


@njit(parallel=True, cache=True)
def _scale_kernel(x, y, ix, iy, scale_x, scale_y, kernel, c1, c2, blocks, keep_maps, maps, row_sums):
    """Per pixel: luminance and cs (step 4). ``maps[q, n, r, w, c]`` gets
    SSIM, cs, luminance where ``keep_maps``; ``row_sums[q, n, c, r]`` their
    float64 row sums."""
    k = kernel.shape[0]
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    h_out, w_out = height - k + 1, width - k + 1
    per_block = (h_out + blocks - 1) // blocks
    two = np.float32(2.0)
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
        for h in range(first, first + k - 1):
            _moment_row(x[ix[n], h, :, c], y[iy[n], h, :, c], scale_x, scale_y, h % k, rx, ry, rs, rp)
        for r in range(first, last):
            h = r + k - 1
            _moment_row(x[ix[n], h, :, c], y[iy[n], h, :, c], scale_x, scale_y, h % k, rx, ry, rs, rp)
            _filter_row(mx, rx, r % k, kernel)
            _filter_row(my, ry, r % k, kernel)
            _filter_row(ms, rs, r % k, kernel)
            _filter_row(mp, rp, r % k, kernel)
            sum_ssim, sum_cs, sum_lum = 0.0, 0.0, 0.0
            for w in range(w_out):
                num0 = mx[w] * my[w] * two
                den0 = mx[w] * mx[w] + my[w] * my[w]
                luminance = (num0 + c1) / (den0 + c1)
                cs = (mp[w] * two - num0 + c2) / (ms[w] - den0 + c2)
                ssim = luminance * cs
                sum_ssim += ssim
                sum_cs += cs
                sum_lum += luminance
                if keep_maps:
                    maps[0, n, r, w, c] = ssim
                    maps[1, n, r, w, c] = cs
                    maps[2, n, r, w, c] = luminance
            row_sums[0, n, c, r] = sum_ssim
            row_sums[1, n, c, r] = sum_cs
            row_sums[2, n, c, r] = sum_lum


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
def _downsample_kernel(x, scale, out):
    """Symmetric pad at the bottom/right, then 2×2 mean, summed row-major like TF."""
    height, width = x.shape[1], x.shape[2]
    quarter = np.float32(0.25)
    for task in prange(out.shape[0] * out.shape[1]):
        n, i = task // out.shape[1], task % out.shape[1]
        top, bottom = 2 * i, min(2 * i + 1, height - 1)
        for j in range(out.shape[2]):
            left, right = 2 * j, min(2 * j + 1, width - 1)
            for c in range(out.shape[3]):
                total = np.float32(x[n, top, left, c]) * scale + np.float32(x[n, top, right, c]) * scale
                total = total + np.float32(x[n, bottom, left, c]) * scale
                total = total + np.float32(x[n, bottom, right, c]) * scale
                out[n, i, j, c] = total * quarter


def _threads() -> int:
    return numba.get_num_threads()


def downsample_2x(img: Image) -> Image:
    pixels = img.pixels
    height, width, channels = pixels.shape[-3:]
    out = np.empty(pixels.shape[:-3] + ((height + 1) // 2, (width + 1) // 2, channels), np.float32)
    with _LOCK:
        _downsample_kernel(_planes(img), img.scale, out.reshape((-1,) + out.shape[-3:]))
    return Image(out, np.float32(1.0))


def _blocks(planes: int, rows: int) -> int:
    """Row blocks per plane: enough tasks to keep every thread busy."""
    wanted = -(-4 * _threads() // max(planes, 1))
    return max(1, min(wanted, rows // 8 or 1))


def scale_statistics(x: Image, y: Image, taps, c1, c2, index_map=False) -> ScaleStatistics:
    batch = np.broadcast_shapes(x.pixels.shape[:-3], y.pixels.shape[:-3])
    height, width, channels = x.pixels.shape[-3:]
    k = len(taps)
    h_out, w_out = height - k + 1, width - k + 1
    kernel = np.outer(taps.astype(np.float64), taps).astype(np.float32)
    ix = np.broadcast_to(np.arange(int(np.prod(x.pixels.shape[:-3]))).reshape(x.pixels.shape[:-3]), batch).ravel()
    iy = np.broadcast_to(np.arange(int(np.prod(y.pixels.shape[:-3]))).reshape(y.pixels.shape[:-3]), batch).ravel()
    count = ix.shape[0]
    keep_maps = channels > 1 or index_map
    maps = np.empty((3, count, h_out, w_out, channels) if keep_maps else (3, 0, 0, 0, 0), np.float32)
    row_sums = np.empty((3, count, channels, h_out))
    with _LOCK:
        _scale_kernel(
            _planes(x), _planes(y), ix, iy, x.scale, y.scale, kernel, np.float32(c1), np.float32(c2),
            _blocks(count * channels, h_out), keep_maps, maps, row_sums,
        )
        if channels > 1:
            means = _sequential_means(maps)
        else:
            means = (row_sums.sum(axis=-1) / (h_out * w_out)).astype(np.float32)
    means = means.reshape((3,) + batch + (channels,))
    return ScaleStatistics(
        ssim=means[0],
        cs=means[1],
        luminance=means[2],
        index_map=maps[0].reshape(batch + (h_out, w_out, channels)) if index_map else None,
    )

