"""Fused Triton kernels for one scale of ``numerics="exact"`` on torch tensors:
step 4 (the SSIM, cs and luminance means) and its hand-derived gradient.

Forward, one program per tile of output pixels of one plane: every tap of the
window is read from the two images (the tile plus its halo, from the caches),
and the window's moments are taken about each output pixel's own centre value
(``u = x + y``, ``v = x - y``, as ``numba_exact``), so float32 sums stay
accurate in flat areas; the tile's sums of SSIM, cs and luminance are the only
output (no full-size moment map is written), added up in float64 afterwards.

Backward: for a mean ``L = Σ_p (g_s·S_p + g_c·cs_p) / N`` the gradient is
``dL/dx = (f*M_x + 2x·f*C_xx + y·f*C_xy) / N`` (and alike for ``y``), where
``f*`` is the window's transpose (a full correlation) and ``M_x``, ``C_xx``,
``C_xy`` are per-pixel derivatives of ``g_s·S + g_c·cs`` with respect to the
window's moments ``μx``, ``f(x²)`` and ``f(xy)``. One kernel forms those maps
from the recomputed moments; a second filters them back onto the pixels.
Autograd keeps only each scale's images.

The same kernels run on a GPU and, with ``TRITON_INTERPRET=1`` set before
Triton is imported, on CPU tensors, which is how the tests check them.
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl

_BH, _BW = 16, 32  # output tile: rows x columns


@triton.jit
def _moments(x_ptr, y_ptr, taps_ptr, base, rows, cols, valid, W, K: tl.constexpr):
    """The window's sums about each output pixel's centre: ``Σw·du``,
    ``Σw·dv``, ``Σw·du²``, ``Σw·dv²`` and the centre values ``uc``, ``vc``
    (``u = x + y``, ``v = x - y``)."""
    centre = base + (rows + K // 2) * W + cols + K // 2
    xc = tl.load(x_ptr + centre, mask=valid, other=0.0)
    yc = tl.load(y_ptr + centre, mask=valid, other=0.0)
    uc, vc = xc + yc, xc - yc
    su = tl.zeros(uc.shape, tl.float32)
    sv = tl.zeros(uc.shape, tl.float32)
    suu = tl.zeros(uc.shape, tl.float32)
    svv = tl.zeros(uc.shape, tl.float32)
    for i in tl.static_range(K):
        row_tap = tl.load(taps_ptr + i)
        for j in tl.static_range(K):
            w = row_tap * tl.load(taps_ptr + j)
            offset = base + (rows + i) * W + cols + j
            xv = tl.load(x_ptr + offset, mask=valid, other=0.0)
            yv = tl.load(y_ptr + offset, mask=valid, other=0.0)
            du = (xv + yv) - uc
            dv = (xv - yv) - vc
            su += w * du
            sv += w * dv
            suu += w * du * du
            svv += w * dv * dv
    return su, sv, suu, svv, uc, vc


@triton.jit
def _terms(su, sv, suu, svv, uc, vc, total, c1, c2):
    """Means, variances and step 4's terms from the sums about the centre, for
    a window that sums to ``total``: ``f(u) = total·uc + Σw·du``, and its
    variance ``f(u²) - f(u)²`` is ``Σw·du² - (Σw·du)²`` plus terms in ``1 -
    total`` (zero for a window that sums to 1)."""
    excess = 1.0 - total
    mu = total * uc + su
    mv = total * vc + sv
    var_u = suu - su * su + excess * (total * uc * uc + 2.0 * uc * su)
    var_v = svv - sv * sv + excess * (total * vc * vc + 2.0 * vc * sv)
    cs = (var_u - var_v + 2.0 * c2) / (var_u + var_v + 2.0 * c2)
    luminance = (mu * mu - mv * mv + 2.0 * c1) / (mu * mu + mv * mv + 2.0 * c1)
    return mu, mv, var_u, var_v, cs, luminance


@triton.jit
def _forward_kernel(
    x_ptr, y_ptr, taps_ptr, sums_ptr, H, W, Ho, Wo, tiles_w, total, c1, c2,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip
    plane, tile = tl.program_id(0), tl.program_id(1)
    rows = (tile // tiles_w) * BH + tl.arange(0, BH)[:, None]
    cols = (tile % tiles_w) * BW + tl.arange(0, BW)[None, :]
    valid = (rows < Ho) & (cols < Wo)
    su, sv, suu, svv, uc, vc = _moments(x_ptr, y_ptr, taps_ptr, plane * H * W, rows, cols, valid, W, K)
    _, _, _, _, cs, luminance = _terms(su, sv, suu, svv, uc, vc, total, c1, c2)
    out = sums_ptr + (plane * tl.num_programs(1) + tile) * 3
    tl.store(out, tl.sum(tl.sum(tl.where(valid, luminance * cs, 0.0), axis=1), axis=0))
    tl.store(out + 1, tl.sum(tl.sum(tl.where(valid, cs, 0.0), axis=1), axis=0))
    tl.store(out + 2, tl.sum(tl.sum(tl.where(valid, luminance, 0.0), axis=1), axis=0))


@triton.jit
def _weights_kernel(
    x_ptr, y_ptr, taps_ptr, grads_ptr, maps_ptr, H, W, Ho, Wo, tiles_w, total, c1, c2,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip
    """Per output pixel, the derivatives of ``g_s·S + g_c·cs + g_l·l`` with
    respect to ``μx``, ``μy``, ``f(x²)`` (= that of ``f(y²)``) and ``f(xy)``,
    into ``maps[plane, 0..3]``; ``grads[plane]`` holds ``g_s, g_c, g_l``."""
    plane, tile = tl.program_id(0), tl.program_id(1)
    rows = (tile // tiles_w) * BH + tl.arange(0, BH)[:, None]
    cols = (tile % tiles_w) * BW + tl.arange(0, BW)[None, :]
    valid = (rows < Ho) & (cols < Wo)
    su, sv, suu, svv, uc, vc = _moments(x_ptr, y_ptr, taps_ptr, plane * H * W, rows, cols, valid, W, K)
    mu, mv, var_u, var_v, cs, luminance = _terms(su, sv, suu, svv, uc, vc, total, c1, c2)
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
    offset = plane * 4 * Ho * Wo + rows * Wo + cols
    tl.store(maps_ptr + offset, m_x, mask=valid)
    tl.store(maps_ptr + offset + Ho * Wo, m_y, mask=valid)
    tl.store(maps_ptr + offset + 2 * Ho * Wo, c_xx, mask=valid)
    tl.store(maps_ptr + offset + 3 * Ho * Wo, c_xy, mask=valid)


@triton.jit
def _gradient_kernel(
    x_ptr, y_ptr, taps_ptr, maps_ptr, gx_ptr, gy_ptr, H, W, Ho, Wo, tiles_w, scale,
    K: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip
    """The maps filtered back onto the pixels (the window's transpose), and the
    gradients ``(f*M_x + 2x·f*C_xx + y·f*C_xy)·scale`` and alike for ``y``."""
    plane, tile = tl.program_id(0), tl.program_id(1)
    rows = (tile // tiles_w) * BH + tl.arange(0, BH)[:, None]
    cols = (tile % tiles_w) * BW + tl.arange(0, BW)[None, :]
    inside = (rows < H) & (cols < W)
    fm_x = tl.zeros((BH, BW), tl.float32)
    fm_y = tl.zeros((BH, BW), tl.float32)
    fc_xx = tl.zeros((BH, BW), tl.float32)
    fc_xy = tl.zeros((BH, BW), tl.float32)
    base = plane * 4 * Ho * Wo
    for i in tl.static_range(K):
        row_tap = tl.load(taps_ptr + i)
        for j in tl.static_range(K):
            w = row_tap * tl.load(taps_ptr + j)
            r, c = rows - i, cols - j
            ok = inside & (r >= 0) & (r < Ho) & (c >= 0) & (c < Wo)
            offset = base + r * Wo + c
            fm_x += w * tl.load(maps_ptr + offset, mask=ok, other=0.0)
            fm_y += w * tl.load(maps_ptr + offset + Ho * Wo, mask=ok, other=0.0)
            fc_xx += w * tl.load(maps_ptr + offset + 2 * Ho * Wo, mask=ok, other=0.0)
            fc_xy += w * tl.load(maps_ptr + offset + 3 * Ho * Wo, mask=ok, other=0.0)
    pixel = plane * H * W + rows * W + cols
    xv = tl.load(x_ptr + pixel, mask=inside, other=0.0)
    yv = tl.load(y_ptr + pixel, mask=inside, other=0.0)
    tl.store(gx_ptr + pixel, (fm_x + 2.0 * xv * fc_xx + yv * fc_xy) * scale, mask=inside)
    tl.store(gy_ptr + pixel, (fm_y + 2.0 * yv * fc_xx + xv * fc_xy) * scale, mask=inside)


def _grid(planes: int, height: int, width: int) -> tuple[tuple[int, int], int]:
    tiles_w = triton.cdiv(width, _BW)
    return (planes, triton.cdiv(height, _BH) * tiles_w), tiles_w


class _ScaleMeans(torch.autograd.Function):
    """Planes ``[P, H, W]`` float32 -> the means of SSIM, cs and luminance per plane, ``[P, 3]``."""

    @staticmethod
    def forward(ctx, x, y, taps, c1, c2):
        planes, height, width = x.shape
        k = taps.numel()
        h_out, w_out = height - k + 1, width - k + 1
        total = float(taps.double().sum()) ** 2
        grid, tiles_w = _grid(planes, h_out, w_out)
        sums = torch.empty((planes, grid[1], 3), dtype=torch.float32, device=x.device)
        _forward_kernel[grid](
            x, y, taps, sums, height, width, h_out, w_out, tiles_w, total, c1, c2, K=k, BH=_BH, BW=_BW
        )
        ctx.save_for_backward(x, y, taps)
        ctx.constants = (total, c1, c2)
        return (sums.double().sum(dim=1) / (h_out * w_out)).float()

    @staticmethod
    def backward(ctx, grad):
        x, y, taps = ctx.saved_tensors
        total, c1, c2 = ctx.constants
        planes, height, width = x.shape
        k = taps.numel()
        h_out, w_out = height - k + 1, width - k + 1
        grid, tiles_w = _grid(planes, h_out, w_out)
        maps = torch.empty((planes, 4, h_out, w_out), dtype=torch.float32, device=x.device)
        _weights_kernel[grid](
            x, y, taps, grad.float().contiguous(), maps, height, width, h_out, w_out, tiles_w, total, c1, c2,
            K=k, BH=_BH, BW=_BW,
        )  # fmt: skip
        gx, gy = torch.empty_like(x), torch.empty_like(y)
        grid, tiles_w = _grid(planes, height, width)
        _gradient_kernel[grid](
            x, y, taps, maps, gx, gy, height, width, h_out, w_out, tiles_w, 1.0 / (h_out * w_out),
            K=k, BH=_BH, BW=_BW,
        )  # fmt: skip
        return gx, gy, None, None, None


def scale_means(x: torch.Tensor, y: torch.Tensor, window: np.ndarray, c1: float, c2: float) -> torch.Tensor:
    """Step 4 of ``[..., C, H, W]`` images (broadcast against each other):
    the means of SSIM, cs and luminance, ``[..., C, 3]`` float32, differentiable."""
    from msssim._window import separable

    x, y = torch.broadcast_tensors(x.float(), y.float())
    shape = x.shape
    planes = [t.reshape(-1, *shape[-2:]).contiguous() for t in (x, y)]
    taps = torch.as_tensor(separable(np.asarray(window, np.float64)), dtype=torch.float32, device=x.device)
    means = _ScaleMeans.apply(*planes, taps, float(c1), float(c2))
    return means.reshape(*shape[:-2], 3)
