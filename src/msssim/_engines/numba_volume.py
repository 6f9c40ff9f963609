"""The exact engine of volumes (``spatial_dims=3``, ``numerics="exact"``):
TF's formula with one more spatial axis, in float64, streamed slice by slice.

The 3-D gaussian is separable: each input slice (D) is filtered along W, then
H, into the four moments of ``u = x + y`` and ``v = x - y`` (their means and
mean squares); a ring of the last ``k`` filtered slices gives, along D, the
moments of each output slice, and from them cs and the luminance (``2σxy =
(σu² - σv²) / 2``, as in ``numba_exact``). Everything after the read is
float64, so the moments can be taken about zero: the variances' cancellation
costs ~1e-16 of the pixels' scale, and every score is within 1e-9 of a float64
evaluation.

A task is a run of output slices of one volume, cut into bands of output rows
where a slice is wide; it reads only the slices and rows it needs, converting
as it reads (any real dtype, in native byte order), so a memory-mapped volume
is streamed, and holds a ring of ``k`` slices of its band (a few tens of MiB).
The next scale (2x2x2 means) is stored as float32, an eighth of the voxels;
an integer volume's first one is never stored but read as the 2x2x2 means of
its voxels, as the 2-D engine does.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from msssim._engines import numba_exact
from msssim._engines._numpy_ops import (  # noqa: F401  (the engine's share of the interface)
    all_finite,
    concat,
    first_nonfinite,
    float32,
    meta,
    pairs,
)
from msssim._engines.numba_exact import (  # noqa: F401  (the same threads, lock and combination)
    _FAST,
    Level,
    _compiling,
    _run,
    clip,
    convert_image,
    data_range,
    mean,
    power,
    prod,
    relu,
    session,
    stack,
    transform,
)
from msssim._ssim import ScaleStatistics
from msssim._window import exact_window as make_window  # noqa: F401  (step 3, float64; _ssim spreads it to 3-D)
from msssim._window import separable

_RING_BYTES = 32 << 20  # a task's ring of filtered slices: output rows per band are chosen to fit


@njit(cache=True, nogil=True, inline="always")
def _voxel(raw, n, s, r, q, c, scale, halved):
    """A value of volume ``n`` of ``raw`` (``[N, D, H, W, C]``): TF's float32
    ``value * scale``; with ``halved``, the float32 mean of the 2x2x2 block at
    ``(s, r, q)`` of the next scale (odd sizes repeat their last slice, row
    and column), summed in float64. As float64."""
    if not halved:
        return np.float64(np.float32(raw[n, s, r, q, c]) * scale)
    depth, height, width = raw.shape[1], raw.shape[2], raw.shape[3]
    total = 0.0
    for d in (2 * s, min(2 * s + 1, depth - 1)):
        for h in (2 * r, min(2 * r + 1, height - 1)):
            for w in (2 * q, min(2 * q + 1, width - 1)):
                total += np.float64(np.float32(raw[n, d, h, w, c]) * scale)
    return np.float64(np.float32(total / 8.0))


@njit(cache=True, nogil=True)
def _read_row(raw, n, s, h, scale, halved, out):
    """Row ``h`` of slice ``s`` of volume ``n`` (of its halving, with
    ``halved``) into ``out`` as float64 (:func:`_voxel`), channels interleaved."""
    channels = raw.shape[4]
    if not halved:
        row = raw[n, s, h].reshape(out.shape[0])
        for j in range(out.shape[0]):
            out[j] = np.float64(np.float32(row[j]) * scale)
        return
    for j in range(out.shape[0]):
        out[j] = _voxel(raw, n, s, h, j // channels, j % channels, scale, True)


@functools.cache
def _slab_kernel(k: int):
    """The kernel for a ``k``-tap window (compiled, and cached on disk, once per ``k``)."""

    @njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
    def kernel(px, py, nx, ny, sx, sy, hx, hy, width, taps, c1, c2, first, last, top, bottom, sums, slot, index_map, n):
        """Output slices ``first .. last`` and rows ``top .. bottom`` of the
        pair (volume ``nx`` of ``px``, ``ny`` of ``py``, or of their halvings,
        ``hx``, ``hy``; ``width`` voxels wide): the float64 sums of SSIM, cs
        and luminance per channel into ``sums[:, slot]``; where ``index_map``
        is not empty, each voxel's SSIM into ``index_map[n]``."""
        channels = px.shape[4]
        wide = (width - k + 1) * channels  # output values of a row
        rows_out = bottom - top
        rows_in = rows_out + k - 1
        x = np.empty(width * channels)
        y = np.empty(width * channels)
        line = np.empty((4, width * channels))  # u, v, u², v² of an input row
        across = np.empty((4, rows_in, wide))  # filtered along W
        ring = np.zeros((k, 4, rows_out, wide))  # filtered along W and H, the last k slices
        moments = np.empty((4, wide))  # filtered along D too, one output row
        c1, c2 = 2.0 * c1, 2.0 * c2
        for s in range(first, last + k - 1):
            for r in range(rows_in):
                _read_row(px, nx, s, top + r, sx, hx, x)
                _read_row(py, ny, s, top + r, sy, hy, y)
                for j in range(width * channels):
                    u, v = x[j] + y[j], x[j] - y[j]
                    line[0, j], line[1, j], line[2, j], line[3, j] = u, v, u * u, v * v
                for q in range(4):
                    out = across[q, r]
                    out[:] = 0.0
                    for t in range(k):
                        weight, source = taps[t], line[q, t * channels : t * channels + wide]
                        for j in range(wide):
                            out[j] += weight * source[j]
            here = ring[s % k]
            here[:] = 0.0
            for q in range(4):
                for t in range(k):
                    weight = taps[t]
                    for r in range(rows_out):
                        out, source = here[q, r], across[q, r + t]
                        for j in range(wide):
                            out[j] += weight * source[j]
            d = s - k + 1  # the output slice whose window ends here
            if d < first:
                continue
            for r in range(rows_out):
                moments[:] = 0.0
                for t in range(k):
                    weight = taps[t]
                    plane = ring[(d + t) % k]
                    for q in range(4):
                        out, source = moments[q], plane[q, r]
                        for j in range(wide):
                            out[j] += weight * source[j]
                for j in range(wide):
                    mu, mv = moments[0, j], moments[1, j]
                    su, sv = mu * mu, mv * mv
                    variance_u, variance_v = moments[2, j] - su, moments[3, j] - sv
                    cs = (variance_u - variance_v + c2) / (variance_u + variance_v + c2)
                    luminance = (su - sv + c1) / (su + sv + c1)
                    c = j % channels
                    sums[0, slot, c] += luminance * cs
                    sums[1, slot, c] += cs
                    sums[2, slot, c] += luminance
                    if index_map.shape[0]:
                        index_map[n, d, top + r, j // channels, c] = luminance * cs

    return kernel


def scale_statistics(x: Level, y: Level, window, c1, c2, index_map=False, only_cs=False) -> ScaleStatistics:
    """Step 4 for one scale of two volume batches ``[..., D, H, W, C]``
    (``window`` is the 3-D gaussian; its 1-D taps are used)."""
    batch, ix, iy = pairs(x.pixels.shape[:-4], y.pixels.shape[:-4])
    depth, height, width, channels = _sides(x)
    taps = separable(np.asarray(window, np.float64))
    k = len(taps)
    d_out, h_out, w_out = depth - k + 1, height - k + 1, width - k + 1
    band = max(8, _RING_BYTES // (k * 4 * w_out * channels * 8))
    bands = [(top, min(top + band, h_out)) for top in range(0, h_out, band)]
    # Runs of output slices: enough tasks for the threads, each run long
    # enough that re-filtering its first k - 1 slices costs little.
    runs = max(1, min(-(-numba_exact._threads // (len(ix) * len(bands))), d_out // (4 * k)))
    slabs = [(d_out * i // runs, d_out * (i + 1) // runs) for i in range(runs)]
    tasks = [(n, slab, rows) for n in range(len(ix)) for slab in slabs for rows in bands]
    sums = np.zeros((3, len(tasks), channels))
    maps = np.zeros((len(ix), d_out, h_out, w_out, channels) if index_map else (0,) * 5, np.float32)
    px, py = _volumes(x), _volumes(y)
    kernel = _slab_kernel(k)

    def work(slot):
        n, (first, last), (top, bottom) = tasks[slot]
        kernel(
            px, py, ix[n], iy[n], x.scale, y.scale, x.halved, y.halved, width, taps, c1, c2, first, last, top, bottom,
            sums, slot, maps, n,
        )  # fmt: skip

    with _compiling(("volume", k, px.dtype.str, py.dtype.str)):  # (compiled once for halved levels too)
        _run([functools.partial(work, slot) for slot in range(len(tasks))])
    per_volume = sums.reshape(3, len(ix), len(slabs) * len(bands), channels).sum(axis=2)
    means = (per_volume / (d_out * h_out * w_out)).reshape((3,) + batch + (channels,))
    return ScaleStatistics(
        ssim=None if only_cs else means[0],
        cs=means[1],
        luminance=None if only_cs else means[2],
        index_map=maps.reshape(batch + maps.shape[1:]) if index_map else None,
    )


def _volumes(img: Level) -> np.ndarray:
    return img.pixels.reshape((-1,) + img.pixels.shape[-4:])


def _sides(img: Level) -> tuple[int, int, int, int]:
    """D, H, W and C of the values the level stands for."""
    *sides, channels = img.pixels.shape[-4:]
    return (*((n + 1) // 2 if img.halved else n for n in sides), channels)


@njit(cache=True, nogil=True)
def _halve_slices(raw, n, scale, halved, first, last, out):
    """Slices ``first .. last`` of the 2x2x2 means of volume ``n`` of ``raw``
    (of its halving, with ``halved``) into ``out[n]`` (float32); odd sizes
    repeat their last slice, row and column."""
    depth, height, width = raw.shape[1], raw.shape[2], raw.shape[3]
    if halved:  # the source is the halving of raw
        depth, height, width = (depth + 1) // 2, (height + 1) // 2, (width + 1) // 2
    for d in range(first, last):
        for h in range(out.shape[2]):
            for w in range(out.shape[3]):
                for c in range(raw.shape[4]):
                    total = 0.0
                    for s in (2 * d, min(2 * d + 1, depth - 1)):
                        for r in (2 * h, min(2 * h + 1, height - 1)):
                            for q in (2 * w, min(2 * w + 1, width - 1)):
                                total += _voxel(raw, n, s, r, q, c, scale, halved)
                    out[n, d, h, w, c] = total / 8.0


def downsample_2x(img: Level, dims: int) -> Level:
    """Step 5 for volumes (``dims`` is 3): odd sizes padded by repeating their
    last slice, row or column, then the 2x2x2 means. An integer volume's first
    halving is a view, read as the kernels go (``Level.halved``: a memory-mapped
    volume is streamed, never copied); others are stored as float32."""
    if not img.halved and img.pixels.dtype.itemsize < 4:
        return Level(img.pixels, img.scale, halved=True)
    raw = _volumes(img)
    depth, height, width, channels = _sides(img)
    out = np.empty((len(raw), (depth + 1) // 2, (height + 1) // 2, (width + 1) // 2, channels), np.float32)
    runs = max(1, numba_exact._threads)
    jobs = [
        functools.partial(
            _halve_slices, raw, n, img.scale, img.halved, out.shape[1] * i // runs, out.shape[1] * (i + 1) // runs, out
        )
        for n in range(len(raw))
        for i in range(runs)
    ]
    _run(jobs)
    return Level(out.reshape((*img.pixels.shape[:-4], *out.shape[1:])), np.float32(1.0))
