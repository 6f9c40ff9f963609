"""Fused Triton kernels for ``numerics="exact"`` on torch tensors: steps 4
and 5 of every scale (the SSIM, cs and luminance means) and their
hand-derived gradient.

Each program takes tiles of output pixels of one plane in turn (a fixed grid,
about a few programs per multiprocessor) and filters a tile in two 1-D passes
on chip: the row pass writes its results for the tile's rows plus the halo into
the program's own small scratch block (L1/L2-resident, never a full-size map),
and after a barrier the column pass reads them back, ``K`` taps per pixel and
pass instead of ``K²``.

The moments stay accurate in float32 because every sum is taken about a local
value, never a constant for the tile (which, next to a strong edge, would
leave a flat area's variance as the difference of two large numbers):

- the row pass, for each row ``r`` of the window, sums about that row's value
  in the output pixel's column ``c_r``: ``h = Σ g·(u - c_r)`` and ``H = Σ
  g·(u - c_r)²``, and keeps the row's mean ``t_r = c_r + h/G`` and its spread
  ``q_r = H - h²/G`` (``G = Σ g``);
- the column pass sums about the centre row's mean ``t_0``, with ``d_r = t_r -
  t_0``: by the law of total variance ``f(u²) - f(u)² = Σ g·q_r + G·Σ g·d_r² -
  G²·(Σ g·d_r)²``, plus terms in ``1 - G²`` for taps that do not sum to 1, and
  ``f(u) = G·(Σ g·d_r + G·t_0)``.

This is done for ``u = x + y`` and ``v = x - y`` (as ``numba_exact``), whose
variances give cs and whose means give luminance. The tile's sums of SSIM, cs
and luminance are the only output, added up in float64 afterwards.

All the scales are one autograd Function (``_PyramidMeans``), whose host
time, not the GPU's, bounded the first version on an H100 (tens of
microseconds a launch): one small kernel makes every coarser scale of both
images (TF's step 5), then one launch takes the tiles of all the scales, one
after another (``_scale`` finds a tile's scale and plane), and a last one
adds up each plane's tile sums of each scale in float64 and, for MS-SSIM,
takes step 6 of the plane there too (its terms to their powers, multiplied,
in float64). A forward is three launches and no torch op.

Backward: for a mean ``L = Σ_p (g_s·S_p + g_c·cs_p) / N`` the gradient is
``dL/dx = (f*M_x + 2x·f*C_xx + y·f*C_xy) / N`` (and alike for ``y``), where
``f*`` is the window's transpose (a full correlation) and ``M_x``, ``C_xx``,
``C_xy`` are per-pixel derivatives of ``g_s·S + g_c·cs`` with respect to the
window's moments ``μx``, ``f(x²)`` and ``f(xy)``. Taken as written, its terms
are of a pixel's size and cancel to that of ``x - y`` where the images are
nearly equal (float32 then put the gradient 3e-3 off), so the kernels take
``dL/dx = (f*M_x + x·f*C_s - (x - y)·f*C_xy) / N``, ``C_s = 2C_xx + C_xy``,
with ``C_s`` and ``M_x`` written with ``1 - cs`` and ``1 - luminance`` from
the variance and mean of ``v = x - y``, never as differences. When a gradient is to come,
the forward kernel also writes each output pixel's moments (4 numbers,
``μu``, ``μv``, ``σu²``, ``σv²``) into one buffer for every scale, and the
backward's first kernel turns them in place into those maps, pixel by
pixel: the images are not filtered again (that took a third of a forward
and backward's instructions). A second kernel filters the maps back onto the
pixels, in two passes through the scratch too; it takes the coarser scales
in one launch (their own gradients), then the first scale, whose launch adds
each coarser scale's carried back through every step 5 between (a pixel's
ancestors, one per scale). Each row of the maps is followed by a zero border
of ``K - 1`` columns (the next row's, and one after the last), written by the
first kernel, so that the second tests no column bounds tap by tap and no
buffer is zeroed. Three launches, after one small one for step 6's
derivative (``g_s``, ``g_c`` of each plane and scale); autograd keeps the
images, their pyramid, the means and the moments (4 floats an output pixel:
the backward's maps, made in the forward rather than the backward).

The host's side is two functions, :func:`forward` and :func:`backward`,
that write into buffers they are given: ``_PyramidMeans`` gives them torch's
(autograd), and the JAX engine XLA's (``jax_engine.pyramid_statistics``);
CuPy's arrays come as torch tensors (:func:`channels_last_means`).

The same kernels run on a GPU and, with ``TRITON_INTERPRET=1`` set before
Triton is imported, on CPU tensors, which is how the tests check them; the
tests also compile them for a GPU (Triton's bundled ``ptxas``) without one.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np
import torch
import triton
import triton.language as tl
from triton.compiler.errors import CompilationError
from triton.runtime.errors import OutOfResources, PTXASError

from msssim._engines import torch_engine

# (tune_gpu.py, an H200, 2026-12-04: GPU time 0.88-0.94x that of 32x32 tiles of 8 warps at 3 a
# multiprocessor for forward + backward, and 0.78-0.90x for the forward, on all four workloads)
TILE = (64, 32)  # output pixels of one tile: rows, columns
_CHUNK = 16  # rows the row pass takes at a time
_PROGRAMS_PER_SM = 2
_WARPS = 16  # per program
_SQUARE = 64  # the first scale's pixels a side that a program of step 5 halves, scale after scale
_INTERPRETED_PROGRAMS = 3  # on the CPU: a few, so that programs take several tiles
_NOT_COMPILED: list[Exception] = []  # why Triton could not compile the kernels for this GPU, once
COMPILE_ERRORS = (CompilationError, OutOfResources, PTXASError)  # (what Triton raises when it cannot)


# Triton compiles a kernel again for each pattern of its integer arguments'
# divisibility by 16 (and of those equal to 1); the sizes change with every
# image, so they are left out: one compile per window size and launch's scales
_SIZES = ("tiles", "H", "W", "planes", "slots", "block", "tiles_w", "tiles_per_plane")


@triton.jit
def _tile(tile, tiles_w, tiles_per_plane, BH: tl.constexpr, BW: tl.constexpr):
    """Tile number -> (its plane, its first row, its first column)."""
    within = tile % tiles_per_plane
    return (tile // tiles_per_plane).to(tl.int64), (within // tiles_w) * BH, (within % tiles_w) * BW


@triton.jit
def _map_size(h, w, K: tl.constexpr):
    """The elements of one map (or moment) of a ``[h, w]`` scale in the maps'
    layout (:func:`_maps_size`): ``Ho`` rows of ``w`` and a ``K - 1`` border
    after the last; in 64 bits, as every offset made from it (a plane's four
    maps pass 2**31 elements from 400 million pixels on; a plane's pixels of
    every scale are counted in 32 bits, :func:`takes`)."""
    return ((h - K + 1) * w + K - 1).to(tl.int64)


@triton.jit
def _scale(
    tile, H, W, planes,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, LEVELS: tl.constexpr, FIRST: tl.constexpr,
    COUNT: tl.constexpr, MARGIN: tl.constexpr,
):  # fmt: skip
    """Where tile ``tile`` of a launch over scales ``FIRST .. FIRST + COUNT -
    1`` lies (the scales' tiles one after another, each scale's planes' in
    turn, covering its ``[h - MARGIN, w - MARGIN]`` first pixels; the first
    scale ``[planes, H, W]``, each next one halved, rounding up): its scale,
    plane, first row and column, its number among its plane's tiles, the
    scale's ``h`` and ``w``; the scale's first element in a plane's block of
    the coarser scales (``_pyramid``'s layout) and that block's size; and
    its first element in a plane's block of every scale's maps (4 per output
    pixel, :func:`_maps_size`) and that block's size, both in 64 bits."""
    h, w = H, W
    start, block, quads = 0, 0, 0  # tiles, pixels and maps (a quarter of them) before the scale
    level, first, tiles_w, tiles_per_plane, sh, sw, at, quads_at = 0, 0, 1, 1, H, W, 0, 0  # the tile's
    for scale in tl.static_range(LEVELS):
        if scale >= FIRST and scale < FIRST + COUNT:
            here = tile >= start  # (the last scale whose tiles start at or before it is the tile's)
            across, down = tl.cdiv(w - MARGIN, BW), tl.cdiv(h - MARGIN, BH)
            level, first = tl.where(here, scale, level), tl.where(here, start, first)
            tiles_w, tiles_per_plane = tl.where(here, across, tiles_w), tl.where(here, across * down, tiles_per_plane)
            sh, sw = tl.where(here, h, sh), tl.where(here, w, sw)
            at, quads_at = tl.where(here, block, at), tl.where(here, quads, quads_at)
            start += planes * across * down
        quads += (h - K + 1) * w + K - 1
        if scale > 0:
            block += h * w
        h, w = (h + 1) // 2, (w + 1) // 2
    plane, row0, col0 = _tile(tile - first, tiles_w, tiles_per_plane, BH, BW)
    maps_at, maps_block = 4 * quads_at.to(tl.int64), 4 * quads.to(tl.int64)
    return level, plane, row0, col0, (tile - first) % tiles_per_plane, sh, sw, at, block, maps_at, maps_block


@triton.jit
def _plane(image_ptr, coarser_ptr, level, plane, H, W, at, block):
    """A plane's pixels at scale ``level``: the first scale's in ``image``
    (``[planes, H, W]``), a coarser one's in ``coarser`` (``_pyramid``'s layout)."""
    return tl.where(level == 0, image_ptr + plane * H * W, coarser_ptr + plane * block + at)


@triton.jit
def _deviations(a_at, b_at, ok, uc, vc, c):
    """``u - uc`` and ``v - vc`` of the pixels at ``a_at``, ``b_at``: the
    first scale's ``x`` and ``y`` (``c`` 1: ``u = x + y``, ``v = x - y``), or
    a coarser one's ``u`` and ``-v`` as ``_pyramid`` stores them (``c`` 0);
    a fused multiply-add each, as the sum and difference were an add each."""
    a = tl.load(a_at, mask=ok, other=0.0)
    b = tl.load(b_at, mask=ok, other=0.0)
    return (a + c * b) - uc, (c * a - b) - vc


@triton.jit
def _moments(
    x_ptr, y_ptr, c, taps_ptr, scratch, row0, col0, H, W, Wo, gain, total,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, CH: tl.constexpr, ROWS: tl.constexpr,
    SYMMETRIC: tl.constexpr,
):  # fmt: skip
    """The means and variances of ``u = x + y`` and ``v = x - y`` over the
    window of each output pixel of the tile at ``(row0, col0)``, ``[BH, BW]``
    (the planes ``x``, ``y`` as :func:`_deviations` takes them, by ``c``);
    ``gain`` is the sum of the 1-D taps, ``total`` its square. ``SYMMETRIC``
    taps (odd ``K``, tap ``j`` equal to tap ``K - 1 - j``, as a gaussian's)
    are taken in pairs, ``g·(a + b)`` and ``g·(a² + b²)``, and the centre's
    deviations, 0, are left out: an eighth fewer floating-point operations."""
    cols = col0 + tl.arange(0, BW)[None, :]
    lanes = tl.arange(0, CH)[:, None] * BW + tl.arange(0, BW)[None, :]
    tl.debug_barrier()  # the scratch is free: the last tile's column pass has read it
    for chunk in tl.static_range(ROWS // CH):  # the row pass: ``BH + K - 1`` rows
        rows = row0 + chunk * CH + tl.arange(0, CH)[:, None]
        ok = (rows < H) & (cols < Wo)
        xs, ys = x_ptr + rows * W + cols, y_ptr + rows * W + cols  # (each tap's pixels at an offset from these)
        xc = tl.load(xs + K // 2, mask=ok, other=0.0)
        yc = tl.load(ys + K // 2, mask=ok, other=0.0)
        uc, vc = xc + c * yc, c * xc - yc
        su = tl.zeros((CH, BW), tl.float32)
        sv = tl.zeros((CH, BW), tl.float32)
        suu = tl.zeros((CH, BW), tl.float32)
        svv = tl.zeros((CH, BW), tl.float32)
        for j in tl.static_range(K // 2 if SYMMETRIC else K):  # (symmetric: the pairs, the centre's 0 left out)
            g = tl.load(taps_ptr + j)
            du, dv = _deviations(xs + j, ys + j, ok, uc, vc, c)
            if SYMMETRIC:  # the mirror tap's, of the same weight
                eu, ev = _deviations(xs + (K - 1 - j), ys + (K - 1 - j), ok, uc, vc, c)
                su += g * (du + eu)
                sv += g * (dv + ev)
                suu += g * (du * du + eu * eu)
                svv += g * (dv * dv + ev * ev)
            else:
                su += g * du
                sv += g * dv
                suu += g * du * du
                svv += g * dv * dv
        out = scratch + chunk * CH * BW + lanes
        tl.store(out, uc + su / gain)  # the row's mean, t
        tl.store(out + ROWS * BW, suu - su * su / gain)  # its spread, q
        tl.store(out + 2 * ROWS * BW, vc + sv / gain)
        tl.store(out + 3 * ROWS * BW, svv - sv * sv / gain)
    tl.debug_barrier()  # the row pass is in the scratch

    lanes = tl.arange(0, BH)[:, None] * BW + tl.arange(0, BW)[None, :]
    tu = tl.load(scratch + (K // 2) * BW + lanes)  # the centre row's means
    tv = tl.load(scratch + 2 * ROWS * BW + (K // 2) * BW + lanes)
    du1 = tl.zeros((BH, BW), tl.float32)
    du2 = tl.zeros((BH, BW), tl.float32)
    qu = tl.zeros((BH, BW), tl.float32)
    dv1 = tl.zeros((BH, BW), tl.float32)
    dv2 = tl.zeros((BH, BW), tl.float32)
    qv = tl.zeros((BH, BW), tl.float32)
    for i in tl.static_range(K // 2 + 1 if SYMMETRIC else K):  # the column pass
        g = tl.load(taps_ptr + i)
        at = scratch + i * BW + lanes
        if not SYMMETRIC:
            du = tl.load(at) - tu
            dv = tl.load(at + 2 * ROWS * BW) - tv
            du1 += g * du
            du2 += g * du * du
            qu += g * tl.load(at + ROWS * BW)
            dv1 += g * dv
            dv2 += g * dv * dv
            qv += g * tl.load(at + 3 * ROWS * BW)
        elif i == K // 2:  # (the centre row: its deviations are 0)
            qu += g * tl.load(at + ROWS * BW)
            qv += g * tl.load(at + 3 * ROWS * BW)
        else:  # with the mirror row's, of the same weight
            mirror = scratch + (K - 1 - i) * BW + lanes
            du, eu = tl.load(at) - tu, tl.load(mirror) - tu
            dv, ev = tl.load(at + 2 * ROWS * BW) - tv, tl.load(mirror + 2 * ROWS * BW) - tv
            du1 += g * (du + eu)
            du2 += g * (du * du + eu * eu)
            qu += g * (tl.load(at + ROWS * BW) + tl.load(mirror + ROWS * BW))
            dv1 += g * (dv + ev)
            dv2 += g * (dv * dv + ev * ev)
            qv += g * (tl.load(at + 3 * ROWS * BW) + tl.load(mirror + 3 * ROWS * BW))

    excess = 1.0 - total
    var_u = qu + gain * du2 - total * du1 * du1 + excess * gain * (2.0 * tu * du1 + gain * tu * tu)
    var_v = qv + gain * dv2 - total * dv1 * dv1 + excess * gain * (2.0 * tv * dv1 + gain * tv * tv)
    return gain * (du1 + gain * tu), gain * (dv1 + gain * tv), var_u, var_v


@triton.jit
def _terms(mu, mv, var_u, var_v, c1, c2):
    """Step 4's cs and luminance from the means and variances of ``u``, ``v``."""
    cs = (var_u - var_v + 2.0 * c2) / (var_u + var_v + 2.0 * c2)
    luminance = (mu * mu - mv * mv + 2.0 * c1) / (mu * mu + mv * mv + 2.0 * c1)
    return cs, luminance


@triton.jit(do_not_specialize=_SIZES)
def _forward_kernel(
    scratch_ptr, tiles, x_ptr, y_ptr, px_ptr, py_ptr, taps_ptr, sums_ptr, maps_ptr, H, W, planes, slots, gain, total,
    c1, c2,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, CH: tl.constexpr, ROWS: tl.constexpr, LEVELS: tl.constexpr,
    MOMENTS: tl.constexpr, SYMMETRIC: tl.constexpr,
):  # fmt: skip
    """``sums[plane, scale, t]``: the sums of SSIM, cs and luminance of tile
    ``t`` of the plane at each of ``LEVELS`` scales (the first in ``x`` and
    ``y``, ``[planes, H, W]``, the coarser in ``px`` and ``py``), divided by
    the scale's pixels of output; ``slots`` tiles a scale. With ``MOMENTS``,
    also each output pixel's means and variances of ``u`` and ``v``, for the
    backward, where :func:`_maps_kernel` turns them into its maps (``maps``,
    ``_scale``'s layout; their borders left unwritten)."""
    program = tl.program_id(0)
    scratch = scratch_ptr + program * 4 * ROWS * BW
    tile = program
    while tile < tiles:  # (not a range: Triton's interpreter takes no runtime bounds)
        level, plane, row0, col0, t, h, w, at, block, maps_at, maps_block = _scale(
            tile, H, W, planes, K, BH, BW, LEVELS, 0, LEVELS, K - 1
        )
        ho, wo = h - K + 1, w - K + 1
        mu, mv, var_u, var_v = _moments(
            _plane(x_ptr, px_ptr, level, plane, H, W, at, block), _plane(y_ptr, py_ptr, level, plane, H, W, at, block),
            tl.where(level == 0, 1.0, 0.0), taps_ptr, scratch, row0, col0, h, w, wo, gain, total,
            K, BH, BW, CH, ROWS, SYMMETRIC,
        )  # fmt: skip
        cs, luminance = _terms(mu, mv, var_u, var_v, c1, c2)
        rows = row0 + tl.arange(0, BH)[:, None]
        cols = col0 + tl.arange(0, BW)[None, :]
        valid = (rows < ho) & (cols < wo)
        scale = (1.0 / (ho.to(tl.float64) * wo)).to(tl.float32)  # (as float32(1 / pixels) on the host)
        out = sums_ptr + ((plane * LEVELS + level) * slots + t) * 3
        tl.store(out, tl.sum(tl.sum(tl.where(valid, luminance * cs, 0.0), axis=1), axis=0) * scale)
        tl.store(out + 1, tl.sum(tl.sum(tl.where(valid, cs, 0.0), axis=1), axis=0) * scale)
        tl.store(out + 2, tl.sum(tl.sum(tl.where(valid, luminance, 0.0), axis=1), axis=0) * scale)
        if MOMENTS:
            size = _map_size(h, w, K)
            at = maps_ptr + plane * maps_block + maps_at + rows * w + cols + K - 1
            tl.store(at, mu, mask=valid)
            tl.store(at + size, mv, mask=valid)
            tl.store(at + 2 * size, var_u, mask=valid)
            tl.store(at + 3 * size, var_v, mask=valid)
        tile += tl.num_programs(0)


@triton.jit(do_not_specialize=_SIZES)
def _maps_kernel(
    scratch_ptr, tiles, grads_ptr, maps_ptr, H, W, planes, c1, c2,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, CH: tl.constexpr, ROWS: tl.constexpr, LEVELS: tl.constexpr,
    Y_GRAD: tl.constexpr,
):  # fmt: skip
    """In place, per output pixel of every scale: the means and variances of
    ``u`` and ``v`` that the forward left in ``maps`` (``_scale``'s layout)
    -> the derivatives of ``g_s·S + g_c·cs + g_l·l`` with respect to ``μx``,
    ``μy``, ``f(x²)`` (= that of ``f(y²)``) and ``f(xy)``, divided by the
    scale's pixels of output, and the maps' zero borders written;
    ``grads[plane, scale]`` holds ``g_s, g_c, g_l``; ``M_y`` only if
    ``Y_GRAD``. (The scratch is unused: the kernel is launched as the others.)"""
    tile = tl.program_id(0)
    while tile < tiles:
        level, plane, row0, col0, _, h, w, _, _, maps_at, maps_block = _scale(
            tile, H, W, planes, K, BH, BW, LEVELS, 0, LEVELS, K - 1
        )
        ho, wo = h - K + 1, w - K + 1
        size = _map_size(h, w, K)
        first = maps_ptr + plane * maps_block + maps_at  # (the scale's first map)
        # the means' gradients, over the scale's pixels (the maps come out divided by them)
        scale = (1.0 / (ho.to(tl.float64) * wo)).to(tl.float32)
        g_s = tl.load(grads_ptr + (plane * LEVELS + level) * 3) * scale
        g_c = tl.load(grads_ptr + (plane * LEVELS + level) * 3 + 1) * scale
        g_l = tl.load(grads_ptr + (plane * LEVELS + level) * 3 + 2) * scale
        cols = col0 + tl.arange(0, BW)[None, :]
        for chunk in tl.static_range(BH // CH):  # (``CH`` rows at a time: fewer registers)
            rows = row0 + chunk * CH + tl.arange(0, CH)[:, None]
            valid = (rows < ho) & (cols < wo)
            at = first + rows * w + cols + K - 1
            mu = tl.load(at, mask=valid, other=0.0)
            mv = tl.load(at + size, mask=valid, other=0.0)
            var_u = tl.load(at + 2 * size, mask=valid, other=0.0)
            var_v = tl.load(at + 3 * size, mask=valid, other=0.0)
            cs, luminance = _terms(mu, mv, var_u, var_v, c1, c2)
            mu_x, mu_y = (mu + mv) * 0.5, (mu - mv) * 0.5
            l_b1 = 2.0 / ((mu * mu + mv * mv) * 0.5 + c1)  # 2 / (μx² + μy² + c1)
            cs_b2 = 2.0 / ((var_u + var_v) * 0.5 + c2)  # 2 / (σx² + σy² + c2)
            d_cs = g_s * luminance + g_c  # d/dcs
            d_l = (g_s * cs + g_l) * l_b1  # d/dluminance, over the luminance's denominator
            c_xy = d_cs * cs_b2  # d/df(xy)
            # d/df(x²) = d/df(y²) is -cs/2 of it; kept as C_s = 2 d/df(x²) + d/df(xy), written with
            # 1 - cs = σv²/(...) and 1 - luminance = μv²/(...), so that nothing of a pixel's size cancels
            # where x ≈ y (there the gradients are of the size of x - y: 3e-3 off in float32 before)
            c_s = c_xy * var_v * 0.5 * cs_b2
            spread_l = mv * mv * 0.5 * l_b1  # 1 - luminance
            tl.store(at, d_l * (spread_l * mu_x - mv) + c_xy * mv - c_s * mu_x, mask=valid)  # M_x
            if Y_GRAD:
                tl.store(at + size, d_l * (spread_l * mu_y + mv) - c_xy * mv - c_s * mu_y, mask=valid)
            tl.store(at + 2 * size, c_s, mask=valid)
            tl.store(at + 3 * size, c_xy, mask=valid)
            if col0 == 0:  # the first tile of its rows zeroes the border before each of them
                edge = (rows < ho) & (tl.arange(0, BW)[None, :] < K - 1)
                for m in tl.static_range(4):
                    tl.store(first + m * size + rows * w + tl.arange(0, BW)[None, :], tl.zeros((CH, BW), tl.float32),
                             mask=edge)  # fmt: skip
        if col0 == 0 and row0 + BH >= ho:  # and, in the last rows, the one after the last row
            edge = tl.arange(0, BW) < K - 1
            for m in tl.static_range(4):
                tl.store(first + m * size + ho * w + tl.arange(0, BW), tl.zeros((BW,), tl.float32), mask=edge)
        tile += tl.num_programs(0)


@triton.jit(do_not_specialize=_SIZES)
def _gradient_kernel(
    scratch_ptr, tiles, x_ptr, y_ptr, px_ptr, py_ptr, taps_ptr, maps_ptr, gx_ptr, gy_ptr, dx_ptr, dy_ptr,
    H, W, planes,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, CH: tl.constexpr, ROWS: tl.constexpr, LEVELS: tl.constexpr,
    FIRST: tl.constexpr, COUNT: tl.constexpr, Y_GRAD: tl.constexpr,
):  # fmt: skip
    """The maps of scales ``FIRST .. FIRST + COUNT - 1`` filtered back onto
    their pixels (the window's transpose, a row pass and a column pass), and
    the gradients ``f*M_x + x·f*C_s - (x - y)·f*C_xy`` (the maps divided by the
    pixels already) and, if
    ``Y_GRAD``, alike for ``y``: a coarser scale's own into ``dx`` and ``dy``
    (``_pyramid``'s layout), the first scale's into ``gx`` and ``gy``, plus
    every coarser scale's carried back through step 5 to it (a quarter to
    each of the four pixels a mean took; a repeated last row or column's
    share to the row or column it repeats)."""
    program = tl.program_id(0)
    scratch = scratch_ptr + program * 4 * ROWS * BW
    tile = program
    while tile < tiles:
        level, plane, row0, col0, _, h, w, at, block, maps_at, maps_block = _scale(
            tile, H, W, planes, K, BH, BW, LEVELS, FIRST, COUNT, 0
        )
        ho = h - K + 1
        size = _map_size(h, w, K)  # (rows of ``w``: ``Wo`` maps and a zero border, no bounds to test tap by tap)
        cols = col0 + tl.arange(0, BW)[None, :]
        lanes = tl.arange(0, CH)[:, None] * BW + tl.arange(0, BW)[None, :]
        tl.debug_barrier()  # the scratch is free: the last tile's column pass has read it
        for chunk in tl.static_range(ROWS // CH):  # the maps' rows ``row0 - K + 1 ..``
            rows = row0 - (K - 1) + chunk * CH + tl.arange(0, CH)[:, None]
            ok = (rows >= 0) & (rows < ho) & (cols < w)
            at_map = maps_ptr + plane * maps_block + maps_at + rows * w + cols + K - 1
            f0 = tl.zeros((CH, BW), tl.float32)
            f1 = tl.zeros((CH, BW), tl.float32)
            f2 = tl.zeros((CH, BW), tl.float32)
            f3 = tl.zeros((CH, BW), tl.float32)
            for j in tl.static_range(K):
                g = tl.load(taps_ptr + j)
                f0 += g * tl.load(at_map - j, mask=ok, other=0.0)
                if Y_GRAD:  # (``M_y`` is for y's gradient only: a quarter of the work)
                    f1 += g * tl.load(at_map + size - j, mask=ok, other=0.0)
                f2 += g * tl.load(at_map + 2 * size - j, mask=ok, other=0.0)
                f3 += g * tl.load(at_map + 3 * size - j, mask=ok, other=0.0)
            out = scratch + chunk * CH * BW + lanes
            tl.store(out, f0)
            if Y_GRAD:
                tl.store(out + ROWS * BW, f1)
            tl.store(out + 2 * ROWS * BW, f2)
            tl.store(out + 3 * ROWS * BW, f3)
        tl.debug_barrier()  # the row pass is in the scratch

        rows = row0 + tl.arange(0, BH)[:, None]
        inside = (rows < h) & (cols < w)
        lanes = tl.arange(0, BH)[:, None] * BW + tl.arange(0, BW)[None, :]
        pixel = rows * w + cols
        x_at = _plane(x_ptr, px_ptr, level, plane, H, W, at, block) + pixel
        y_at = _plane(y_ptr, py_ptr, level, plane, H, W, at, block) + pixel
        if not Y_GRAD:  # (the pixels read before the column pass or after: each the order that ptxas fits
            # in the register cap on Ampere, Ada and Hopper)
            xv, yv = tl.load(x_at, mask=inside, other=0.0), tl.load(y_at, mask=inside, other=0.0)
        fm_x = tl.zeros((BH, BW), tl.float32)
        fm_y = tl.zeros((BH, BW), tl.float32)
        fc_s = tl.zeros((BH, BW), tl.float32)
        fc_xy = tl.zeros((BH, BW), tl.float32)
        # the column pass, as a loop of masked loads: unrolled, or unmasked, the
        # compiler issued all 4K loads first and spilled at the register cap
        for i in range(K):
            g = tl.load(taps_ptr + i)
            at_row = scratch + (K - 1 - i) * BW + lanes
            fm_x += g * tl.load(at_row, mask=inside, other=0.0)
            if Y_GRAD:
                fm_y += g * tl.load(at_row + ROWS * BW, mask=inside, other=0.0)
            fc_s += g * tl.load(at_row + 2 * ROWS * BW, mask=inside, other=0.0)
            fc_xy += g * tl.load(at_row + 3 * ROWS * BW, mask=inside, other=0.0)

        if Y_GRAD:
            xv, yv = tl.load(x_at, mask=inside, other=0.0), tl.load(y_at, mask=inside, other=0.0)
        if FIRST == 0:
            dv = xv - yv
        else:  # (a coarser scale's planes hold u and -v: x = (u + v) / 2, y = (u - v) / 2)
            xv, yv, dv = (xv - yv) * 0.5, (xv + yv) * 0.5, -yv
        gx = fm_x + xv * fc_s - dv * fc_xy
        gy = fm_y + yv * fc_s + dv * fc_xy
        if FIRST == 0 and LEVELS > 1:  # the coarser scales' gradients, through every step 5 between
            r, c, hc, wc, share, coarse = rows, cols, H, W, 1.0, 0
            for _ in tl.static_range(LEVELS - 1):
                share = share * tl.where((r == hc - 1) & (hc % 2 == 1), 0.5, 0.25)
                share = share * tl.where((c == wc - 1) & (wc % 2 == 1), 2.0, 1.0)
                r, c, hc, wc = r // 2, c // 2, (hc + 1) // 2, (wc + 1) // 2
                parent = plane * block + coarse + r * wc + c
                gx += share * tl.load(dx_ptr + parent, mask=inside, other=0.0)
                if Y_GRAD:
                    gy += share * tl.load(dy_ptr + parent, mask=inside, other=0.0)
                coarse += hc * wc
        tl.store(_plane(gx_ptr, dx_ptr, level, plane, H, W, at, block) + pixel, gx, mask=inside)
        if Y_GRAD:
            tl.store(_plane(gy_ptr, dy_ptr, level, plane, H, W, at, block) + pixel, gy, mask=inside)
        tile += tl.num_programs(0)


@triton.jit
def _halved(src_ptr, dst_ptr, rows, cols, H, W, Hn, Wn):
    """Step 5 of one tile of a plane (``src``, ``[H, W]``, into ``dst``,
    ``[Hn, Wn]``): TF's mean of 2x2 pixels, the last row and column repeated
    where the size is odd."""
    inside = (rows < Hn) & (cols < Wn)
    top = src_ptr + 2 * rows * W
    bottom = src_ptr + tl.minimum(2 * rows + 1, H - 1) * W
    left, right = 2 * cols, tl.minimum(2 * cols + 1, W - 1)
    total = tl.load(top + left, mask=inside, other=0.0) + tl.load(top + right, mask=inside, other=0.0)
    total += tl.load(bottom + left, mask=inside, other=0.0)
    total += tl.load(bottom + right, mask=inside, other=0.0)
    tl.store(dst_ptr + rows * Wn + cols, total * 0.25, mask=inside)


@triton.jit
def _halved_sum_and_difference(x_ptr, y_ptr, u_ptr, v_ptr, rows, cols, H, W, Hn, Wn):
    """:func:`_halved` of ``x + y`` and of ``y - x`` (``-v``), each pixel's
    sum and difference taken first: ``x - y`` of nearly equal images is then
    kept to its own precision, where halves of ``x`` and of ``y``, each
    rounded to a pixel's size, would leave it to ``x``'s (3e-3 off in the
    gradients of images 1e-4 apart)."""
    inside = (rows < Hn) & (cols < Wn)
    top, bottom = 2 * rows * W, tl.minimum(2 * rows + 1, H - 1) * W
    left, right = 2 * cols, tl.minimum(2 * cols + 1, W - 1)
    x0, y0 = tl.load(x_ptr + top + left, mask=inside, other=0.0), tl.load(y_ptr + top + left, mask=inside, other=0.0)
    x1, y1 = tl.load(x_ptr + top + right, mask=inside, other=0.0), tl.load(y_ptr + top + right, mask=inside, other=0.0)
    x2 = tl.load(x_ptr + bottom + left, mask=inside, other=0.0)
    y2 = tl.load(y_ptr + bottom + left, mask=inside, other=0.0)
    x3 = tl.load(x_ptr + bottom + right, mask=inside, other=0.0)
    y3 = tl.load(y_ptr + bottom + right, mask=inside, other=0.0)
    sums = (((x0 + y0) + (x1 + y1)) + (x2 + y2)) + (x3 + y3)  # (in _halved's order)
    differences = (((y0 - x0) + (y1 - x1)) + (y2 - x2)) + (y3 - x3)
    tl.store(u_ptr + rows * Wn + cols, sums * 0.25, mask=inside)
    tl.store(v_ptr + rows * Wn + cols, differences * 0.25, mask=inside)


@triton.jit(do_not_specialize=_SIZES)
def _pyramid_kernel(
    x_ptr, y_ptr, px_ptr, py_ptr, H, W, block, tiles_w, tiles_per_plane, LEVELS: tl.constexpr, BASE: tl.constexpr,
):  # fmt: skip
    """Step 5, ``LEVELS - 1`` times: the coarser scales of ``x`` and ``y``
    (``[planes, H, W]``), as those of ``u = x + y`` into ``px`` and of ``-v =
    y - x`` into ``py`` (step 5 is linear), each plane's one after another in
    its ``block``. A program takes a ``BASE``-pixel square of the first
    scale and what it halves to at each scale: the rows a scale averages, the
    repeated last one included, are always inside the program's own square
    of the scale before (written by it, then read after a barrier)."""
    plane, row0, col0 = _tile(tl.program_id(0), tiles_w, tiles_per_plane, BASE, BASE)
    src_x, src_y, h, w = x_ptr + plane * H * W, y_ptr + plane * H * W, H, W
    dst_x, dst_y = px_ptr + plane * block, py_ptr + plane * block
    for level in tl.static_range(1, LEVELS):
        rows = (row0 >> level) + tl.arange(0, BASE >> level)[:, None]
        cols = (col0 >> level) + tl.arange(0, BASE >> level)[None, :]
        h_next, w_next = (h + 1) // 2, (w + 1) // 2
        if level == 1:
            _halved_sum_and_difference(src_x, src_y, dst_x, dst_y, rows, cols, h, w, h_next, w_next)
        else:
            _halved(src_x, dst_x, rows, cols, h, w, h_next, w_next)
            _halved(src_y, dst_y, rows, cols, h, w, h_next, w_next)
        tl.debug_barrier()  # this scale's square is written: the next reads it
        src_x, src_y = dst_x, dst_y
        dst_x, dst_y = dst_x + h_next * w_next, dst_y + h_next * w_next
        h, w = h_next, w_next


@triton.jit
def _weighted_logs(ssim, cs, weights_ptr, scales, LEVELS: tl.constexpr):
    """Step 6's factors of a plane, float64, one per scale (``scales``; those
    from ``LEVELS`` on are left out): the term, ``relu(cs)`` or at the last
    scale ``relu(SSIM)`` (a NaN kept), its power factor ``w``, and ``w·log(term)``,
    0 where ``w`` is 0 (``term ** 0`` is 1, as TF's, a NaN's too)."""
    live = scales < LEVELS
    w = tl.load(weights_ptr + scales, mask=live, other=0.0).to(tl.float64)
    term = tl.where(scales == LEVELS - 1, ssim, cs)
    term = tl.where(term < 0, 0.0, term)
    return term, w, w * tl.log(tl.where(w == 0, 1.0, term))


@triton.jit(do_not_specialize=_SIZES)
def _means_kernel(
    sums_ptr, means_ptr, weights_ptr, products_ptr, H, W, slots,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, LEVELS: tl.constexpr, SPAN: tl.constexpr,
    BLOCK: tl.constexpr, PRODUCT: tl.constexpr,
):  # fmt: skip
    """``means[plane, scale]``: the sums of SSIM, cs and luminance over the
    scale's tiles (``_forward_kernel``'s ``sums[plane, scale, :tiles]``, the
    rest unwritten), added in float64, as float32, a program a plane (its
    scales side by side, ``SPAN`` >= ``LEVELS`` rows); with ``PRODUCT``, also
    step 6 of the plane, ``products[plane] = Π term ** w`` over its scales
    (:func:`_weighted_logs`), in float64 as ``exp(Σ w·log(term))`` (kept in
    float64: rounded to float32 before the channels' mean, it put MS-SSIM
    9e-8 from float64 where it is 1e-8)."""
    plane = tl.program_id(0).to(tl.int64)
    scales = tl.arange(0, SPAN)
    h, w, tiles = H, W, tl.zeros((SPAN,), tl.int32)
    for scale in tl.static_range(LEVELS):
        tiles = tl.where(scales == scale, tl.cdiv(h - K + 1, BH) * tl.cdiv(w - K + 1, BW), tiles)
        h, w = (h + 1) // 2, (w + 1) // 2
    longest = tl.cdiv(H - K + 1, BH) * tl.cdiv(W - K + 1, BW)  # (the first scale's)
    at = sums_ptr + ((plane * LEVELS + scales[:, None]) * slots + tl.arange(0, BLOCK)[None, :]) * 3
    ssim = tl.zeros((SPAN, BLOCK), tl.float64)
    cs = tl.zeros((SPAN, BLOCK), tl.float64)
    luminance = tl.zeros((SPAN, BLOCK), tl.float64)
    start = 0
    while start < longest:
        ok = start + tl.arange(0, BLOCK)[None, :] < tiles[:, None]
        ssim += tl.load(at + start * 3, mask=ok, other=0.0)
        cs += tl.load(at + start * 3 + 1, mask=ok, other=0.0)
        luminance += tl.load(at + start * 3 + 2, mask=ok, other=0.0)
        start += BLOCK
    ssim, cs, luminance = tl.sum(ssim, axis=1), tl.sum(cs, axis=1), tl.sum(luminance, axis=1)
    out = means_ptr + (plane * LEVELS + scales) * 3
    live = scales < LEVELS
    tl.store(out, ssim.to(tl.float32), mask=live)
    tl.store(out + 1, cs.to(tl.float32), mask=live)
    tl.store(out + 2, luminance.to(tl.float32), mask=live)
    if PRODUCT:
        _, _, logs = _weighted_logs(ssim, cs, weights_ptr, scales, LEVELS)
        tl.store(products_ptr + plane, tl.exp(tl.sum(logs, axis=0)))


@triton.jit
def _product_grad_kernel(
    means_ptr, weights_ptr, g_products_ptr, g_means_ptr, grads_ptr,
    LEVELS: tl.constexpr, SPAN: tl.constexpr, MEANS_GRAD: tl.constexpr,
):  # fmt: skip
    """``grads[plane]``, ``[LEVELS, 3]``: the gradient of the plane's step 6
    product (``g_products[plane]``) with respect to its means of SSIM, cs and
    luminance, ``product · w / term`` for a term above 0 and 0 for one at 0
    (or clamped there by the relu), plus ``g_means[plane]`` if ``MEANS_GRAD``;
    a program a plane."""
    plane = tl.program_id(0).to(tl.int64)
    scales = tl.arange(0, SPAN)
    live = scales < LEVELS
    at = (plane * LEVELS + scales) * 3
    ssim = tl.load(means_ptr + at, mask=live, other=0.0).to(tl.float64)
    cs = tl.load(means_ptr + at + 1, mask=live, other=0.0).to(tl.float64)
    term, w, logs = _weighted_logs(ssim, cs, weights_ptr, scales, LEVELS)
    product = tl.exp(tl.sum(logs, axis=0))
    positive = term > 0
    d_term = tl.where(
        positive, tl.load(g_products_ptr + plane).to(tl.float64) * product * w / tl.where(positive, term, 1.0), 0.0
    )
    last = scales == LEVELS - 1
    g_ssim, g_cs, g_luminance = tl.where(last, d_term, 0.0), tl.where(last, 0.0, d_term), tl.zeros_like(d_term)
    if MEANS_GRAD:
        g_ssim += tl.load(g_means_ptr + at, mask=live, other=0.0)
        g_cs += tl.load(g_means_ptr + at + 1, mask=live, other=0.0)
        g_luminance += tl.load(g_means_ptr + at + 2, mask=live, other=0.0)
    tl.store(grads_ptr + at, g_ssim.to(tl.float32), mask=live)
    tl.store(grads_ptr + at + 1, g_cs.to(tl.float32), mask=live)
    tl.store(grads_ptr + at + 2, g_luminance.to(tl.float32), mask=live)


@functools.cache
def _multiprocessors(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


def _on(device: torch.device):
    """Triton launches on the current GPU: make it the tensors' (cuda:1 tensors
    from a cuda:0 process)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def _scratch(k: int, device: torch.device) -> torch.Tensor:
    """The fixed grid's scratch blocks, one per program, for a ``k``-tap window
    (a call's launches share them: they run one after another)."""
    rows = _cdiv(TILE[0] + k - 1, _CHUNK) * _CHUNK
    programs = _multiprocessors(device) * _PROGRAMS_PER_SM if device.type == "cuda" else _INTERPRETED_PROGRAMS
    return torch.empty((programs, 4, rows, TILE[1]), dtype=torch.float32, device=device)


def _cdiv(a: int, b: int) -> int:
    """``a / b`` rounded up (``triton.cdiv`` costs microseconds a call on the host)."""
    return -(-a // b)


def _sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """Each scale's size: step 5 halves it, rounding up."""
    sizes = [(height, width)]
    for _ in range(levels - 1):
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    return sizes


def _tiles(sizes, margin: int) -> int:
    """A plane's tiles over ``[h - margin, w - margin]`` of each of ``sizes`` (as ``_scale``)."""
    return sum(_cdiv(h - margin, TILE[0]) * _cdiv(w - margin, TILE[1]) for h, w in sizes)


def _options() -> dict:
    """The compiler's options for the kernels: ``_WARPS`` warps a program, and
    registers few enough for ``_PROGRAMS_PER_SM`` programs to share a
    multiprocessor's 64K (left free, the compiler may take 255 a thread, and
    the fixed grid's programs would run a third at a time)."""
    registers = 2**16 // (_PROGRAMS_PER_SM * _WARPS * 32) // 8 * 8
    return {"num_warps": _WARPS, "maxnreg": registers}


def _launch(kernel, scratch, tiles: int, *args, **constants) -> None:
    """``kernel`` over ``tiles`` tiles, on the fixed grid of programs that
    ``scratch`` has blocks for."""
    bh, bw = TILE
    kernel[(min(len(scratch), tiles),)](
        scratch, tiles, *args, BH=bh, BW=bw, CH=_CHUNK, ROWS=scratch.shape[2], **constants, **_options()
    )


def _pyramid(x: torch.Tensor, y: torch.Tensor, levels: int, out=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``levels - 1`` coarser scales (step 5) of planes ``[P, H, W]``,
    made in one launch: ``[P, block]``, each plane's scales one after another
    (into ``out``'s pair, if given)."""
    planes, height, width = x.shape
    px, py = out if out is not None else (_empty(_pyramid_shape(x.shape, levels), x.device) for _ in "xy")
    base = max(_SQUARE, 2 ** (levels - 1))  # (a square that halves to at least a pixel)
    tiles_w = _cdiv(width, base)
    tiles_per_plane = _cdiv(height, base) * tiles_w
    _pyramid_kernel[(planes * tiles_per_plane,)](
        x, y, px, py, height, width, px.shape[1], tiles_w, tiles_per_plane, LEVELS=levels, BASE=base, num_warps=_WARPS
    )
    return px, py


def _pyramid_shape(shape, levels: int) -> tuple[int, int]:
    """The coarser scales' ``[P, block]`` of planes ``[P, H, W]``."""
    planes, height, width = shape
    return planes, sum(h * w for h, w in _sizes(height, width, levels)[1:])


def _means(sums: torch.Tensor, height: int, width: int, k: int, weights, out) -> None:
    """The forward's tile sums ``[P, levels, slots, 3]`` added up per plane and
    scale into ``out``'s means ``[P, levels, 3]``; and, given the power factors
    ``weights``, each plane's step 6 product into its products ``[P]`` (float64)."""
    planes, levels, slots, _ = sums.shape
    means, products = out
    _means_kernel[(planes,)](
        sums, means, weights, products, height, width, slots, K=k, BH=TILE[0], BW=TILE[1], LEVELS=levels,
        SPAN=_span(levels), BLOCK=64, PRODUCT=weights is not None, num_warps=4,
    )  # fmt: skip


def _means_grad(means, weights, grad, grad_products) -> torch.Tensor:
    """The gradient with respect to the means ``[P, levels, 3]``: ``grad``'s
    (None: no gradient), plus, given the gradient of the step 6 products
    ``[P]``, theirs carried to the means (``_product_grad_kernel``)."""
    if grad is not None:
        grad = grad.float().contiguous()
    if grad_products is None:
        return torch.zeros_like(means) if grad is None else grad
    grads = torch.empty_like(means)
    planes, levels, _ = means.shape
    _product_grad_kernel[(planes,)](
        means, weights, grad_products.double().contiguous(), grad, grads, LEVELS=levels, SPAN=_span(levels),
        MEANS_GRAD=grad is not None, num_warps=1,
    )  # fmt: skip
    return grads


def _span(levels: int) -> int:
    """A power of two of at least ``levels`` (a kernel's block of scales)."""
    return 1 << (levels - 1).bit_length()


def _empty(shape, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    return torch.empty(shape, dtype=dtype, device=device)


def forward_outputs(shape, levels: int, k: int, product: bool, keep: bool, device: torch.device) -> tuple:
    """What :func:`forward` writes for planes of ``shape`` ``[P, H, W]``, unset:
    the means ``[P, levels, 3]`` float32, the step 6 products ``[P]`` float64
    (None without ``product``), the coarser scales of x and y ``[P, block]``
    (None for one scale), and the moments kept for a backward (with ``keep``;
    else empty), 4 an output pixel of every scale in ``_scale``'s layout."""
    planes, height, width = shape
    pyramid = [_empty(_pyramid_shape(shape, levels), device) if levels > 1 else None for _ in "xy"]
    return (
        _empty((planes, levels, 3), device),
        _empty(planes, device, torch.float64) if product else None,
        *pyramid,
        _empty(planes * _maps_size(height, width, levels, k) if keep else 0, device),
    )


def forward(x, y, taps, gain, symmetric, c1, c2, levels, weights, out) -> None:
    """Planes ``[P, H, W]`` float32 -> ``out`` (:func:`forward_outputs`):
    the means of SSIM, cs and luminance of each plane at each of ``levels``
    scales, the scales made by step 5 between them; given the power factors
    ``weights`` (float32, one per scale), each plane's step 6 product; and,
    where ``out`` has room for them, each output pixel's moments, so that the
    backward does not filter the images again. Three launches (the pyramid,
    every scale's tiles, their sums and products)."""
    means, products, px, py, maps = out
    height, width = x.shape[1:]
    k = taps.numel()
    with _on(x.device):
        if levels > 1:
            _pyramid(x, y, levels, (px, py))
        else:
            px, py = x, y
        keep = maps.numel() > 0
        sums = _moments_launch(_scratch(k, x.device), x, y, px, py, taps, maps, gain, symmetric, c1, c2, levels, keep)
        _means(sums, height, width, k, weights, (means, products))


def backward(x, y, px, py, taps, means, weights, maps, grad, grad_products, c1, c2, gx, gy) -> None:
    """The gradients of :func:`forward`'s means (``grad``, or None) and
    products (``grad_products``, or None) with respect to the planes, into
    ``gx`` and, unless it is None, ``gy``; ``maps``, the forward's moments,
    become the per-pixel derivative maps in place. Three launches, or four
    with a product (step 6's derivative, then the maps of every scale, then
    the gradients of the coarser scales, then of the first, which adds theirs)."""
    planes, height, width = x.shape
    k, levels = taps.numel(), means.shape[1]
    y_grad = gy is not None
    sizes = _sizes(height, width, levels)
    scratch = _scratch(k, x.device)
    with _on(x.device):
        grads = _means_grad(means, weights, grad, grad_products)  # [P, levels, 3]
    gy = gy if y_grad else gx
    dx = torch.empty_like(px) if levels > 1 else gx  # (the coarser scales' own gradients)
    dy = torch.empty_like(py) if levels > 1 and y_grad else dx
    if levels == 1:
        px, py = x, y
    with _on(x.device):
        _launch(
            _maps_kernel, scratch, planes * _tiles(sizes, k - 1), grads, maps, height, width, planes, c1, c2,
            K=k, LEVELS=levels, Y_GRAD=y_grad,
        )  # fmt: skip
        # the coarser scales first, then the first scale, which adds their gradients
        for first, count in ((1, levels - 1), (0, 1)) if levels > 1 else ((0, 1),):
            _launch(
                _gradient_kernel, scratch, planes * _tiles(sizes[first : first + count], 0), x, y, px, py, taps,
                maps, gx, gy, dx, dy, height, width, planes, K=k, LEVELS=levels, FIRST=first, COUNT=count,
                Y_GRAD=y_grad,
            )  # fmt: skip


class _PyramidMeans(torch.autograd.Function):
    """:func:`forward` and :func:`backward` for autograd: planes ``[P, H,
    W]`` float32 -> the means ``[P, levels, 3]``, and with ``weights`` the
    step 6 products ``[P]`` (float64) too. With ``grad``, the forward keeps
    the moments for the backward; autograd keeps the images, their pyramid,
    the means and those moments."""

    @staticmethod
    def forward(ctx, x, y, taps, gain, symmetric, c1, c2, levels, weights, grad):
        out = forward_outputs(x.shape, levels, taps.numel(), weights is not None, grad, x.device)
        forward(x, y, taps, gain, symmetric, c1, c2, levels, weights, out)
        means, products, px, py, maps = out
        ctx.save_for_backward(taps, x, y, px, py, means, weights, maps)
        ctx.constants = (gain, symmetric, c1, c2)
        ctx.spent = False  # (the backward turns the moments into its maps in place)
        ctx.set_materialize_grads(False)
        return means if weights is None else (means, products)

    @staticmethod
    def backward(ctx, grad, grad_products=None):
        if torch.is_grad_enabled():  # (``create_graph=True``: the kernels' gradient would be a constant in it)
            raise RuntimeError(
                "msssim's GPU kernels give first derivatives only, and create_graph=True asks for a graph of them "
                "(for a second derivative); score on the CPU, or with numerics='tensorflow-cpu', for one."
            )
        taps, x, y, px, py, means, weights, maps = ctx.saved_tensors
        gain, symmetric, c1, c2 = ctx.constants
        if ctx.spent:  # a second backward (``retain_graph``): the moments again
            levels = means.shape[1]
            scales = (px, py) if levels > 1 else (x, y)
            with _on(x.device):
                scratch = _scratch(taps.numel(), x.device)
                _moments_launch(scratch, x, y, *scales, taps, maps, gain, symmetric, c1, c2, levels, True)
        ctx.spent = True
        gx = torch.empty_like(x)
        gy = torch.empty_like(y) if ctx.needs_input_grad[1] else None
        backward(x, y, px, py, taps, means, weights, maps, grad, grad_products, c1, c2, gx, gy)
        return gx, gy, None, None, None, None, None, None, None, None


def _moments_launch(scratch, x, y, px, py, taps, maps, gain, symmetric, c1, c2, levels, moments) -> torch.Tensor:
    """The forward kernel over every scale's tiles: their sums ``[P, levels,
    slots, 3]`` (``_forward_kernel``), and with ``moments``, each output
    pixel's moments into ``maps``."""
    planes, height, width = x.shape
    k = taps.numel()
    sizes = _sizes(height, width, levels)
    slots = _tiles(sizes[:1], k - 1)  # (the first scale has the most tiles)
    sums = torch.empty((planes, levels, slots, 3), dtype=torch.float32, device=x.device)
    _launch(
        _forward_kernel, scratch, planes * _tiles(sizes, k - 1), x, y, px, py, taps, sums, maps, height, width, planes,
        slots, gain, gain**2, c1, c2, K=k, LEVELS=levels, MOMENTS=moments, SYMMETRIC=symmetric,
    )  # fmt: skip
    return sums


def _maps_size(height: int, width: int, levels: int, k: int) -> int:
    """A plane's maps, or moments, 4 per output pixel of every scale (as
    ``_scale``): each scale's ``Ho`` rows of its width ``w``, ``Wo`` of them
    maps and ``K - 1`` a zero border, which the last row's border follows.
    The border lets the gradient kernel's row pass read ``K - 1`` columns
    past a row's ends with no bounds to test."""
    return sum(4 * ((h - k + 1) * w + k - 1) for h, w in _sizes(height, width, levels))


def takes(window: np.ndarray, height: int, width: int, levels: int) -> bool:
    """Whether the kernels score ``[height, width]`` images over ``levels``
    scales with ``window``: a 2-D float64 window (exact numerics), and planes
    whose pixels, all the scales' together, are numbered in 32 bits, as the
    kernels number them (below 2**31: a square of up to 40152 pixels a side
    over 5 scales; larger ones are left to the array library's operations)."""
    pixels = sum(h * w for h, w in _sizes(height, width, levels))
    return window.ndim == 2 and window.dtype == np.float64 and pixels < 2**31


def compiled() -> bool:
    """False once Triton could not compile the kernels for this machine's GPU."""
    return not _NOT_COMPILED


@functools.lru_cache(maxsize=64)
def _taps(window: bytes, size: int, device: torch.device) -> tuple[torch.Tensor, float, bool]:
    """A ``[size, size]`` float64 window's 1-D taps as float32 on ``device``,
    their float64 sum (the sums' levels take that sum, and only the sums of
    deviations the float32 taps: their rounding alone put cs 4e-7 off), and
    whether they are symmetric about a centre tap (odd ``size``: a gaussian's,
    a uniform window's; the forward kernel then takes them in pairs)."""
    from msssim._window import separable

    taps = separable(np.frombuffer(window).reshape(size, size))
    rounded = taps.astype(np.float32)
    symmetric = size % 2 == 1 and bool(np.array_equal(rounded, rounded[::-1]))
    return torch_engine.constant(rounded, device), float(taps.sum()), symmetric


@torch.compiler.disable  # (in a compiled model's loss, run as eagerly: host reads, NumPy and launches, nothing to fuse)
def pyramid_means(x, y, window: np.ndarray, c1: float, c2: float, levels: int, power_factors=None):
    """Steps 4 and 5 of ``[..., C, H, W]`` images (broadcast against each
    other) over ``levels`` scales, TF's step 5 between them: the means of SSIM,
    cs and luminance, ``[..., C, levels, 3]`` float32, differentiable; given
    ``power_factors`` (one per scale), also step 6's product of each channel,
    ``[..., C]`` float64 (a pair, then). None, with a warning the first time, where
    Triton cannot compile the kernels for the GPU (the engines then take their
    own operations)."""
    x, y = torch.broadcast_tensors(x.float(), y.float())
    shape = x.shape
    planes = [t.reshape(-1, *shape[-2:]).contiguous() for t in (x, y)]
    window = np.ascontiguousarray(window, np.float64)
    taps, gain, symmetric = _taps(window.tobytes(), len(window), x.device)
    weights = None if power_factors is None else torch_engine.constant(np.float32(power_factors), x.device)
    try:
        grad = torch.is_grad_enabled() and (x.requires_grad or y.requires_grad)
        out = _PyramidMeans.apply(*planes, taps, gain, symmetric, float(c1), float(c2), levels, weights, grad)
    except COMPILE_ERRORS as error:
        _NOT_COMPILED.append(error)
        msg = (
            f"msssim's Triton kernels did not compile for this GPU ({type(error).__name__}: {error}); "
            "scoring with the array library's own operations instead, which are slower and take more memory."
        )
        warnings.warn(msg, RuntimeWarning, stacklevel=5)
        return None
    if weights is None:
        return out.reshape(*shape[:-2], levels, 3)
    return out[0].reshape(*shape[:-2], levels, 3), out[1].reshape(shape[:-2])


def channels_last_means(x, y, window: np.ndarray, c1: float, c2: float, levels: int, xp, power_factors=None):
    """:func:`pyramid_means` of another library's ``[..., H, W, C]`` arrays
    (CuPy's), shared with torch through DLPack on their device, as ``xp``
    arrays (None where the kernels do not compile)."""
    planes = (torch.from_dlpack(a).movedim(-1, -3) for a in (x, y))
    with torch.no_grad():
        out = pyramid_means(*planes, window, c1, c2, levels, power_factors)
    if out is None:
        return None
    return xp.from_dlpack(out) if power_factors is None else tuple(xp.from_dlpack(t) for t in out)
