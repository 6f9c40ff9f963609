"""Fused Triton kernels for one scale of ``numerics="exact"`` on torch tensors:
step 4 (the SSIM, cs and luminance means) and its hand-derived gradient.

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

All the scales are one autograd Function (``_PyramidMeans``): one small
kernel makes every coarser scale of both images first (TF's step 5), so a
forward is one launch per scale, one more, and a few torch ops, whose host
time (not the GPU's) bounded the per-scale version on an H100.

Backward: for a mean ``L = Σ_p (g_s·S_p + g_c·cs_p) / N`` the gradient is
``dL/dx = (f*M_x + 2x·f*C_xx + y·f*C_xy) / N`` (and alike for ``y``), where
``f*`` is the window's transpose (a full correlation) and ``M_x``, ``C_xx``,
``C_xy`` are per-pixel derivatives of ``g_s·S + g_c·cs`` with respect to the
window's moments ``μx``, ``f(x²)`` and ``f(xy)``. One kernel forms those maps
from the recomputed moments; a second filters them back onto the pixels, in
two passes through the scratch too, and adds the coarser scale's gradient
carried back through step 5 (the scales are taken coarsest first). Autograd
keeps only each scale's images.

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

TILE = (32, 32)  # output pixels of one tile: rows, columns
_CHUNK = 16  # rows the row pass takes at a time
_PROGRAMS_PER_SM = 3
_WARPS = 8  # per program
_SQUARE = 64  # the first scale's pixels a side that a program of step 5 halves, scale after scale
_INTERPRETED_PROGRAMS = 3  # on the CPU: a few, so that programs take several tiles
_MAPS_BYTES = 256 * 2**20  # the backward's per-pixel maps, at most (unless one plane's are more)
_NOT_COMPILED: list[Exception] = []  # why Triton could not compile the kernels for this GPU, once


# Triton compiles a kernel again for each pattern of its integer arguments'
# divisibility by 16 (and of those equal to 1); the sizes change with every
# scale and image, so they are left out: one compile per window size
_SIZES = ("H", "W", "Ho", "Wo", "tiles_w", "tiles_per_plane", "tiles")
_TILING = ("tiles_w", "tiles_per_plane", "tiles")


@triton.jit
def _tile(tile, tiles_w, tiles_per_plane, BH: tl.constexpr, BW: tl.constexpr):
    """Tile number -> (its plane, its first row, its first column)."""
    within = tile % tiles_per_plane
    return (tile // tiles_per_plane).to(tl.int64), (within // tiles_w) * BH, (within % tiles_w) * BW


@triton.jit
def _moments(
    x_ptr, y_ptr, taps_ptr, scratch, base, row0, col0, H, W, Wo, gain, total,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, CH: tl.constexpr, ROWS: tl.constexpr,
):  # fmt: skip
    """The means and variances of ``u = x + y`` and ``v = x - y`` over the
    window of each output pixel of the tile at ``(row0, col0)``, ``[BH, BW]``;
    ``gain`` is the sum of the 1-D taps, ``total`` its square."""
    cols = col0 + tl.arange(0, BW)[None, :]
    lanes = tl.arange(0, CH)[:, None] * BW + tl.arange(0, BW)[None, :]
    for chunk in tl.static_range(ROWS // CH):  # the row pass: ``BH + K - 1`` rows
        rows = row0 + chunk * CH + tl.arange(0, CH)[:, None]
        ok = (rows < H) & (cols < Wo)
        at = base + rows * W + cols
        xc = tl.load(x_ptr + at + K // 2, mask=ok, other=0.0)
        yc = tl.load(y_ptr + at + K // 2, mask=ok, other=0.0)
        uc, vc = xc + yc, xc - yc
        su = tl.zeros((CH, BW), tl.float32)
        sv = tl.zeros((CH, BW), tl.float32)
        suu = tl.zeros((CH, BW), tl.float32)
        svv = tl.zeros((CH, BW), tl.float32)
        for j in tl.static_range(K):
            g = tl.load(taps_ptr + j)
            xv = tl.load(x_ptr + at + j, mask=ok, other=0.0)
            yv = tl.load(y_ptr + at + j, mask=ok, other=0.0)
            du = (xv + yv) - uc
            dv = (xv - yv) - vc
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
    for i in tl.static_range(K):  # the column pass
        g = tl.load(taps_ptr + i)
        at = scratch + i * BW + lanes
        du = tl.load(at) - tu
        dv = tl.load(at + 2 * ROWS * BW) - tv
        du1 += g * du
        du2 += g * du * du
        qu += g * tl.load(at + ROWS * BW)
        dv1 += g * dv
        dv2 += g * dv * dv
        qv += g * tl.load(at + 3 * ROWS * BW)
    tl.debug_barrier()  # the scratch is free for the next tile

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


@triton.jit(do_not_specialize=_SIZES + ("stride",))
def _forward_kernel(
    x_ptr, y_ptr, taps_ptr, scratch_ptr, sums_ptr, H, W, Ho, Wo, stride, tiles_w, tiles_per_plane, tiles,
    gain, total, c1, c2, scale,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, CH: tl.constexpr, ROWS: tl.constexpr,
):  # fmt: skip
    """``sums[plane * stride + 3 * t]``: the sums of SSIM, cs and luminance of
    the plane's tile ``t``, times ``scale`` (one over the scale's pixels)."""
    program = tl.program_id(0)
    scratch = scratch_ptr + program * 4 * ROWS * BW
    tile = program
    while tile < tiles:  # (not a range: Triton's interpreter takes no runtime bounds)
        plane, row0, col0 = _tile(tile, tiles_w, tiles_per_plane, BH, BW)
        mu, mv, var_u, var_v = _moments(
            x_ptr, y_ptr, taps_ptr, scratch, plane * H * W, row0, col0, H, W, Wo, gain, total, K, BH, BW, CH, ROWS
        )
        cs, luminance = _terms(mu, mv, var_u, var_v, c1, c2)
        rows = row0 + tl.arange(0, BH)[:, None]
        cols = col0 + tl.arange(0, BW)[None, :]
        valid = (rows < Ho) & (cols < Wo)
        out = sums_ptr + plane * stride + (tile % tiles_per_plane) * 3
        tl.store(out, tl.sum(tl.sum(tl.where(valid, luminance * cs, 0.0), axis=1), axis=0) * scale)
        tl.store(out + 1, tl.sum(tl.sum(tl.where(valid, cs, 0.0), axis=1), axis=0) * scale)
        tl.store(out + 2, tl.sum(tl.sum(tl.where(valid, luminance, 0.0), axis=1), axis=0) * scale)
        tile += tl.num_programs(0)


@triton.jit(do_not_specialize=_SIZES)
def _weights_kernel(
    x_ptr, y_ptr, taps_ptr, scratch_ptr, grads_ptr, maps_ptr, H, W, Ho, Wo, tiles_w, tiles_per_plane, tiles,
    gain, total, c1, c2,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, CH: tl.constexpr, ROWS: tl.constexpr,
):  # fmt: skip
    """Per output pixel, the derivatives of ``g_s·S + g_c·cs + g_l·l`` with
    respect to ``μx``, ``μy``, ``f(x²)`` (= that of ``f(y²)``) and ``f(xy)``,
    into ``maps[plane, 0..3]`` inside a zero border of ``K - 1`` (``[Ho + 2K
    - 2, Wo + 2K - 2]`` each); ``grads[plane]`` holds ``g_s, g_c, g_l``."""
    program = tl.program_id(0)
    scratch = scratch_ptr + program * 4 * ROWS * BW
    tile = program
    while tile < tiles:
        plane, row0, col0 = _tile(tile, tiles_w, tiles_per_plane, BH, BW)
        mu, mv, var_u, var_v = _moments(
            x_ptr, y_ptr, taps_ptr, scratch, plane * H * W, row0, col0, H, W, Wo, gain, total, K, BH, BW, CH, ROWS
        )
        cs, luminance = _terms(mu, mv, var_u, var_v, c1, c2)
        g_s = tl.load(grads_ptr + plane * 3)
        g_c = tl.load(grads_ptr + plane * 3 + 1)
        g_l = tl.load(grads_ptr + plane * 3 + 2)
        mu_x, mu_y = (mu + mv) * 0.5, (mu - mv) * 0.5
        b1 = (mu * mu + mv * mv) * 0.5 + c1  # μx² + μy² + c1
        b2 = (var_u + var_v) * 0.5 + c2  # σx² + σy² + c2
        d_cs = g_s * luminance + g_c  # d/dcs
        d_l = g_s * cs + g_l  # d/dluminance
        c_xy = d_cs * 2.0 / b2  # d/df(xy)
        c_xx = -d_cs * cs / b2  # d/df(x²), d/df(y²)
        m_x = d_l * 2.0 * (mu_y - luminance * mu_x) / b1 - c_xy * mu_y - 2.0 * c_xx * mu_x
        m_y = d_l * 2.0 * (mu_x - luminance * mu_y) / b1 - c_xy * mu_x - 2.0 * c_xx * mu_y
        rows = row0 + tl.arange(0, BH)[:, None]
        cols = col0 + tl.arange(0, BW)[None, :]
        valid = (rows < Ho) & (cols < Wo)
        width = Wo + 2 * K - 2
        size = (Ho + 2 * K - 2) * width
        at = maps_ptr + plane * 4 * size + (rows + K - 1) * width + cols + K - 1
        tl.store(at, m_x, mask=valid)
        tl.store(at + size, m_y, mask=valid)
        tl.store(at + 2 * size, c_xx, mask=valid)
        tl.store(at + 3 * size, c_xy, mask=valid)
        tile += tl.num_programs(0)


@triton.jit(do_not_specialize=_SIZES)
def _gradient_kernel(
    x_ptr, y_ptr, taps_ptr, scratch_ptr, maps_ptr, gx_ptr, gy_ptr, cx_ptr, cy_ptr,
    H, W, Ho, Wo, tiles_w, tiles_per_plane, tiles, scale,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr, CH: tl.constexpr, ROWS: tl.constexpr,
    Y_GRAD: tl.constexpr, COARSE: tl.constexpr,
):  # fmt: skip
    """The maps filtered back onto the pixels (the window's transpose, a row
    pass and a column pass), and the gradients ``(f*M_x + 2x·f*C_xx +
    y·f*C_xy)·scale`` and, if ``Y_GRAD``, alike for ``y``; with ``COARSE``,
    plus the next scale's gradients ``cx``, ``cy`` carried back through step 5
    (a quarter to each of the four pixels it averaged; a repeated last row or
    column's share to the row or column it repeats)."""
    program = tl.program_id(0)
    scratch = scratch_ptr + program * 4 * ROWS * BW
    width = Wo + 2 * K - 2  # the maps' border: no bounds to test tap by tap
    size = (Ho + 2 * K - 2) * width
    tile = program
    while tile < tiles:
        plane, row0, col0 = _tile(tile, tiles_w, tiles_per_plane, BH, BW)
        cols = col0 + tl.arange(0, BW)[None, :]
        lanes = tl.arange(0, CH)[:, None] * BW + tl.arange(0, BW)[None, :]
        for chunk in tl.static_range(ROWS // CH):  # rows ``row0 - K + 1 ..`` of the maps
            rows = row0 + chunk * CH + tl.arange(0, CH)[:, None]  # (in the border's numbering)
            ok = (rows < H + K - 1) & (cols < W)
            at = maps_ptr + plane * 4 * size + rows * width + cols + K - 1
            f0 = tl.zeros((CH, BW), tl.float32)
            f1 = tl.zeros((CH, BW), tl.float32)
            f2 = tl.zeros((CH, BW), tl.float32)
            f3 = tl.zeros((CH, BW), tl.float32)
            for j in tl.static_range(K):
                g = tl.load(taps_ptr + j)
                f0 += g * tl.load(at - j, mask=ok, other=0.0)
                f1 += g * tl.load(at + size - j, mask=ok, other=0.0)
                f2 += g * tl.load(at + 2 * size - j, mask=ok, other=0.0)
                f3 += g * tl.load(at + 3 * size - j, mask=ok, other=0.0)
            out = scratch + chunk * CH * BW + lanes
            tl.store(out, f0)
            tl.store(out + ROWS * BW, f1)
            tl.store(out + 2 * ROWS * BW, f2)
            tl.store(out + 3 * ROWS * BW, f3)
        tl.debug_barrier()  # the row pass is in the scratch

        lanes = tl.arange(0, BH)[:, None] * BW + tl.arange(0, BW)[None, :]
        fm_x = tl.zeros((BH, BW), tl.float32)
        fm_y = tl.zeros((BH, BW), tl.float32)
        fc_xx = tl.zeros((BH, BW), tl.float32)
        fc_xy = tl.zeros((BH, BW), tl.float32)
        for i in tl.static_range(K):  # the column pass
            g = tl.load(taps_ptr + i)
            at = scratch + (K - 1 - i) * BW + lanes
            fm_x += g * tl.load(at)
            fm_y += g * tl.load(at + ROWS * BW)
            fc_xx += g * tl.load(at + 2 * ROWS * BW)
            fc_xy += g * tl.load(at + 3 * ROWS * BW)
        tl.debug_barrier()  # the scratch is free for the next tile

        rows = row0 + tl.arange(0, BH)[:, None]
        inside = (rows < H) & (cols < W)
        pixel = plane * H * W + rows * W + cols
        xv = tl.load(x_ptr + pixel, mask=inside, other=0.0)
        yv = tl.load(y_ptr + pixel, mask=inside, other=0.0)
        gx = (fm_x + 2.0 * xv * fc_xx + yv * fc_xy) * scale
        gy = (fm_y + 2.0 * yv * fc_xx + xv * fc_xy) * scale
        if COARSE:
            hc, wc = (H + 1) // 2, (W + 1) // 2
            share = tl.where((rows == H - 1) & (H % 2 == 1), 0.5, 0.25)
            share = share * tl.where((cols == W - 1) & (W % 2 == 1), 2.0, 1.0)
            parent = plane * hc * wc + (rows // 2) * wc + cols // 2
            gx += share * tl.load(cx_ptr + parent, mask=inside, other=0.0)
            if Y_GRAD:
                gy += share * tl.load(cy_ptr + parent, mask=inside, other=0.0)
        tl.store(gx_ptr + pixel, gx, mask=inside)
        if Y_GRAD:
            tl.store(gy_ptr + pixel, gy, mask=inside)
        tile += tl.num_programs(0)


@triton.jit
def _halved(src_ptr, dst_ptr, plane, rows, cols, H, W, Hn, Wn):
    """Step 5 of one tile of a plane: TF's mean of 2x2 pixels, the last row
    and column repeated where the size is odd."""
    inside = (rows < Hn) & (cols < Wn)
    top = src_ptr + plane * H * W + 2 * rows * W
    bottom = src_ptr + plane * H * W + tl.minimum(2 * rows + 1, H - 1) * W
    left, right = 2 * cols, tl.minimum(2 * cols + 1, W - 1)
    total = tl.load(top + left, mask=inside, other=0.0) + tl.load(top + right, mask=inside, other=0.0)
    total += tl.load(bottom + left, mask=inside, other=0.0)
    total += tl.load(bottom + right, mask=inside, other=0.0)
    tl.store(dst_ptr + plane * Hn * Wn + rows * Wn + cols, total * 0.25, mask=inside)


@triton.jit(do_not_specialize=("H", "W", "planes") + _TILING)
def _pyramid_kernel(
    x_ptr, y_ptr, px_ptr, py_ptr, H, W, planes, tiles_w, tiles_per_plane, tiles,
    LEVELS: tl.constexpr, BASE: tl.constexpr,
):  # fmt: skip
    """Step 5, ``LEVELS - 1`` times: the coarser scales of ``x`` and ``y``, each
    scale's planes ``[planes, H_s, W_s]`` after the previous one's in ``px``
    and ``py``. A program takes a ``BASE``-pixel square of the first scale and
    what it halves to at each scale: the rows a scale averages, the repeated
    last one included, are always inside the program's own square of the
    scale before (written by it, then read after a barrier)."""
    plane, row0, col0 = _tile(tl.program_id(0), tiles_w, tiles_per_plane, BASE, BASE)
    src_x, src_y, h, w = x_ptr, y_ptr, H, W
    start = 0
    for level in tl.static_range(1, LEVELS):
        rows = (row0 >> level) + tl.arange(0, BASE >> level)[:, None]
        cols = (col0 >> level) + tl.arange(0, BASE >> level)[None, :]
        h_next, w_next = (h + 1) // 2, (w + 1) // 2
        _halved(src_x, px_ptr + start, plane, rows, cols, h, w, h_next, w_next)
        _halved(src_y, py_ptr + start, plane, rows, cols, h, w, h_next, w_next)
        tl.debug_barrier()  # this scale's square is written: the next reads it
        src_x, src_y = px_ptr + start, py_ptr + start
        start += planes.to(tl.int64) * h_next * w_next
        h, w = h_next, w_next


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
    rows = triton.cdiv(TILE[0] + k - 1, _CHUNK) * _CHUNK
    programs = _multiprocessors(device) * _PROGRAMS_PER_SM if device.type == "cuda" else _INTERPRETED_PROGRAMS
    return torch.empty((programs, 4, rows, TILE[1]), dtype=torch.float32, device=device)


def _launch(kernel, scratch, planes: int, height: int, width: int, k: int, *args, constants=None, **scalars) -> None:
    """``kernel`` over the tiles of ``planes`` ``[height, width]`` outputs, on
    the fixed grid of programs that ``scratch`` has blocks for."""
    bh, bw = TILE
    tiles_w = triton.cdiv(width, bw)
    tiles_per_plane = triton.cdiv(height, bh) * tiles_w
    tiles = planes * tiles_per_plane
    kernel[(min(len(scratch), tiles),)](
        *args[:3], scratch, *args[3:], tiles_w, tiles_per_plane, tiles, *scalars.values(),
        K=k, BH=bh, BW=bw, CH=_CHUNK, ROWS=scratch.shape[2], **(constants or {}), num_warps=_WARPS,
    )  # fmt: skip


def _pyramid(x: torch.Tensor, y: torch.Tensor, levels: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Planes ``[P, H, W]`` and their ``levels - 1`` coarser scales (step 5),
    made in one launch."""
    if levels == 1:
        return [(x, y)]
    planes, height, width = x.shape
    sizes = [(height, width)]
    for _ in range(levels - 1):
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    total = planes * sum(h * w for h, w in sizes[1:])
    px, py = (torch.empty(total, dtype=torch.float32, device=x.device) for _ in range(2))
    base = max(_SQUARE, 2 ** (levels - 1))  # (a square that halves to at least a pixel)
    tiles_w = triton.cdiv(width, base)
    tiles_per_plane = triton.cdiv(height, base) * tiles_w
    _pyramid_kernel[(planes * tiles_per_plane,)](
        x, y, px, py, height, width, planes, tiles_w, tiles_per_plane, planes * tiles_per_plane,
        LEVELS=levels, BASE=base, num_warps=_WARPS,
    )  # fmt: skip
    scales, start = [(x, y)], 0
    for h, w in sizes[1:]:
        scales.append(tuple(p[start : start + planes * h * w].view(planes, h, w) for p in (px, py)))
        start += planes * h * w
    return scales


class _PyramidMeans(torch.autograd.Function):
    """Planes ``[P, H, W]`` float32 -> the means of SSIM, cs and luminance of
    each plane at each of ``levels`` scales, ``[P, levels, 3]``: the scales
    made by step 5 between them, and kept for the backward, which goes from
    the coarsest scale to the finest, each scale's gradient kernel adding the
    coarser one's."""

    @staticmethod
    def forward(ctx, x, y, taps, gain, c1, c2, levels):
        planes, height, width = x.shape
        k = taps.numel()
        slots = triton.cdiv(height - k + 1, TILE[0]) * triton.cdiv(width - k + 1, TILE[1])  # the first scale's tiles
        sums = torch.zeros((planes, levels, slots, 3), dtype=torch.float32, device=x.device)
        scratch = _scratch(k, x.device)
        with _on(x.device):
            scales = _pyramid(x, y, levels)
            for level, (a, b) in enumerate(scales):
                h_out, w_out = a.shape[1] - k + 1, a.shape[2] - k + 1
                _launch(
                    _forward_kernel, scratch, planes, h_out, w_out, k, a, b, taps, sums[:, level], *a.shape[1:], h_out,
                    w_out, levels * slots * 3, gain=gain, total=gain**2, c1=c1, c2=c2, scale=1.0 / (h_out * w_out),
                )  # fmt: skip
        ctx.save_for_backward(taps, *(image for pair in scales for image in pair))
        ctx.constants = (gain, c1, c2)
        return torch.sum(sums, dim=2, dtype=torch.float64).float()

    @staticmethod
    def backward(ctx, grad):
        taps, *images = ctx.saved_tensors
        gain, c1, c2 = ctx.constants
        k = taps.numel()
        y_grad = ctx.needs_input_grad[1]
        grads = grad.float().transpose(0, 1).contiguous()  # [levels, P, 3]
        coarse, scratch = None, _scratch(k, taps.device)
        for level in reversed(range(len(grads))):
            x, y = images[2 * level : 2 * level + 2]
            planes, height, width = x.shape
            h_out, w_out = height - k + 1, width - k + 1
            gx = torch.empty_like(x)
            gy = torch.empty_like(y) if y_grad else gx
            # the maps of a few planes at a time, in a bounded buffer
            step = min(planes, max(1, _MAPS_BYTES // (16 * (height + k - 1) * (width + k - 1))))
            buffer = torch.zeros((step, 4, height + k - 1, width + k - 1), dtype=torch.float32, device=x.device)
            for first in range(0, planes, step):
                part = slice(first, first + step)
                n = min(step, planes - first)
                maps = buffer[:n]  # (the weights kernel writes inside the border only: it stays zero)
                cx, cy = (gx, gy) if coarse is None else (coarse[0][part], coarse[1][part])
                with _on(x.device):
                    _launch(
                        _weights_kernel, scratch, n, h_out, w_out, k, x[part], y[part], taps, grads[level, part], maps,
                        height, width, h_out, w_out, gain=gain, total=gain**2, c1=c1, c2=c2,
                    )  # fmt: skip
                    _launch(
                        _gradient_kernel, scratch, n, height, width, k, x[part], y[part], taps, maps, gx[part],
                        gy[part], cx, cy, height, width, h_out, w_out, scale=1.0 / (h_out * w_out),
                        constants={"Y_GRAD": y_grad, "COARSE": coarse is not None},
                    )  # fmt: skip
            coarse = gx, gy
        return coarse[0], coarse[1] if y_grad else None, None, None, None, None, None


def compiled() -> bool:
    """False once Triton could not compile the kernels for this machine's GPU."""
    return not _NOT_COMPILED


def pyramid_means(x, y, window: np.ndarray, c1: float, c2: float, levels: int) -> torch.Tensor | None:
    """Steps 4 and 5 of ``[..., C, H, W]`` images (broadcast against each
    other) over ``levels`` scales, TF's step 5 between them: the means of SSIM,
    cs and luminance, ``[..., C, levels, 3]`` float32, differentiable; None,
    with a warning the first time, where Triton cannot compile the kernels
    for the GPU (the engines then take their own operations)."""
    from msssim._window import separable

    x, y = torch.broadcast_tensors(x.float(), y.float())
    shape = x.shape
    planes = [t.reshape(-1, *shape[-2:]).contiguous() for t in (x, y)]
    taps = separable(np.asarray(window, np.float64))
    # the sums' levels take the taps' float64 sum, and only the sums of
    # deviations the float32 taps: their rounding alone put cs 4e-7 off
    gain = float(taps.sum())
    taps = torch_engine.constant(taps.astype(np.float32), x.device)
    try:
        means = _PyramidMeans.apply(*planes, taps, gain, float(c1), float(c2), levels)
    except (CompilationError, OutOfResources, PTXASError) as error:
        _NOT_COMPILED.append(error)
        msg = (
            f"msssim's Triton kernels did not compile for this GPU ({type(error).__name__}: {error}); "
            "scoring with the array library's own operations instead, which are slower and take more memory."
        )
        warnings.warn(msg, RuntimeWarning, stacklevel=5)
        return None
    return means.reshape(*shape[:-2], levels, 3)


def channels_last_means(x, y, window: np.ndarray, c1: float, c2: float, levels: int, xp):
    """:func:`pyramid_means` of another library's ``[..., H, W, C]`` arrays
    (CuPy's), shared with torch through DLPack on their device, as ``xp``
    arrays ``[..., C, levels, 3]`` (None where the kernels do not compile)."""
    planes = (torch.from_dlpack(a).movedim(-1, -3) for a in (x, y))
    means = pyramid_means(*planes, window, c1, c2, levels)
    return None if means is None else xp.from_dlpack(means.detach())
