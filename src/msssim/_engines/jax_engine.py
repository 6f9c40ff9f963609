"""The JAX engine: the algorithm's primitives in ``jax.numpy`` and ``lax``, so
``jax.grad``, ``jax.jit`` and ``jax.vmap`` work through it. Chosen when an input
is a JAX array (or a tracer).

The gaussian is two 1-D grouped convolutions (``lax.conv_general_dilated``).
On the CPU the values come from the NumPy engine, which repeats TF's float32
arithmetic (XLA's convolutions and TF's sequential CPU mean of a colour map
round differently, up to ~1e-5 on a score), and the derivatives from these
ops, which run only when JAX differentiates (``exact_values``); on a GPU both
are XLA's, with accurate means, as TF's GPU reduction: for exact numerics'
images, float32 moments about local values with a written-out derivative
(``_scale_means``), as the torch engine's Triton kernels. The clamp has gradient 0
where TF's is NaN. Under tracing the NaN/Inf check of the pixels is skipped.
"""

from __future__ import annotations

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from msssim._engines._numpy_ops import stand_in
from msssim._window import separable


def _traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def arrays(img1, img2):
    return jnp.asarray(img1), jnp.asarray(img2)


def meta(x) -> np.ndarray:
    """A NumPy stand-in with the array's shape and dtype, for the checks."""
    return stand_in(x.shape, np.dtype(x.dtype))


def moveaxis(x, source: int, destination: int):
    return jnp.moveaxis(x, source, destination)


def first_nonfinite(x):
    if _traced(x) or not jnp.issubdtype(x.dtype, jnp.floating) or x.size == 0:
        return None
    bad = ~np.isfinite(np.asarray(x, dtype=np.float32))
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0]), int(bad.sum())


def convert_image(img, scale: np.float32):
    x = img.astype(jnp.float32)
    return x * np.float32(scale) if scale != 1 else x


def _flat(x, dims: int):
    """``[N, *spatial, C]``."""
    return x.reshape(-1, *x.shape[-dims - 1 :])


_LAYOUTS = {2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}


def filter_valid(x, window: np.ndarray):
    """The separable gaussian, VALID, as one grouped convolution per spatial
    axis (two for images, three for volumes: ``window.ndim``)."""
    dims, channels = window.ndim, x.shape[-1]
    taps = jnp.asarray(np.tile(separable(window).reshape(-1, 1), (1, channels)))  # [k, C]
    out = _flat(x, dims)
    for axis in range(dims):
        kernel = taps.reshape([len(taps) if a == axis else 1 for a in range(dims)] + [1, channels])
        out = lax.conv_general_dilated(
            out, kernel, (1,) * dims, "VALID", dimension_numbers=_LAYOUTS[dims], feature_group_count=channels,
            precision=lax.Precision.HIGHEST,  # (float32 on a GPU would otherwise take TF32's 10-bit products)
        )  # fmt: skip
    return out.reshape(*x.shape[: -dims - 1], *out.shape[1:])


def downsample_2x(x, dims: int):
    """Repeat the last row/column (slice) of odd sizes, then the means of 2x2
    (2x2x2) blocks."""
    flat = _flat(x, dims)
    flat = jnp.pad(flat, [(0, 0)] + [(0, n % 2) for n in flat.shape[1:-1]] + [(0, 0)], mode="edge")
    blocks = flat.reshape(flat.shape[0], *[m for n in flat.shape[1:-1] for m in (n // 2, 2)], flat.shape[-1])
    out = blocks.mean(axis=tuple(range(2, 2 * dims + 1, 2)))
    return out.reshape(*x.shape[: -dims - 1], *out.shape[1:])


def mean_hw(x, dims: int):
    return jnp.mean(x, axis=tuple(range(-dims - 1, -1)))


def _centred(z, taps: tuple, gain: float):
    """The window's mean and variance of ``z`` (``[..., H, W, C]`` float32) at
    each VALID pixel, in float32 about local values, as ``triton_kernels``:
    along W about each row's value in the output's column (the row's mean
    ``t`` and spread ``q``), then along H about the centre row's mean by the
    law of total variance; terms in ``1 - gain²`` for taps that do not sum to 1."""
    k, half, total = len(taps), len(taps) // 2, gain * gain
    rows, cols = z.shape[-3] - k + 1, z.shape[-2] - k + 1
    centre = z[..., :, half : half + cols, :]
    deviations = [z[..., :, j : j + cols, :] - centre for j in range(k)]
    s = sum(g * d for g, d in zip(taps, deviations))
    t = centre + s / gain
    q = sum(g * d * d for g, d in zip(taps, deviations)) - s * s / gain
    t0 = t[..., half : half + rows, :, :]
    deviations = [t[..., i : i + rows, :, :] - t0 for i in range(k)]
    d1 = sum(g * d for g, d in zip(taps, deviations))
    d2 = sum(g * d * d for g, d in zip(taps, deviations))
    spread = sum(g * q[..., i : i + rows, :, :] for i, g in enumerate(taps))
    variance = spread + gain * d2 - total * d1 * d1 + (1 - total) * gain * (2 * t0 * d1 + gain * t0 * t0)
    return gain * (d1 + gain * t0), variance


def _mean64(m):
    return jnp.mean(m.astype(jnp.float64), axis=(-3, -2)).astype(jnp.float32)


def _per_pixel(x, y, taps: tuple, gain: float, c1: float, c2: float):
    """Each VALID pixel's means and variances of ``u = x + y`` and ``v = x -
    y`` (:func:`_centred`), its cs and luminance, and the three means ``[...,
    C, 3]`` (SSIM, cs, luminance) in float64."""
    (mean_u, var_u), (mean_v, var_v) = _centred(x + y, taps, gain), _centred(x - y, taps, gain)
    cs = (var_u - var_v + 2 * c2) / (var_u + var_v + 2 * c2)
    luminance = (mean_u * mean_u - mean_v * mean_v + 2 * c1) / (mean_u * mean_u + mean_v * mean_v + 2 * c1)
    means = jnp.stack([_mean64(luminance * cs), _mean64(cs), _mean64(luminance)], axis=-1)
    return (mean_u, var_u, mean_v, var_v, cs, luminance), means


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _scale_means(x, y, taps: tuple, gain: float, c1: float, c2: float):
    """The means of SSIM, cs and luminance of float32 ``[..., H, W, C]``
    images, ``[..., C, 3]``: the moments about local values (:func:`_centred`),
    the means in float64. Its derivative is written out (:func:`_tangents`):
    XLA's own of these slices recomputed them per tap (seconds per call)."""
    with jax.enable_x64(True):
        return _per_pixel(x, y, taps, gain, c1, c2)[1]


@_scale_means.defjvp
def _tangents(taps, gain, c1, c2, primals, tangents):
    """Linear in the tangents, so JAX transposes it for reverse mode: the
    window's moments' tangents (``f(dx)``, ``f(2x·dx)``, ``f(x·dy + y·dx)``,
    float32 convolutions) weighted by each pixel's partial derivatives."""
    (x, y), (dx, dy) = primals, tangents
    with jax.enable_x64(True):
        (mean_u, var_u, mean_v, var_v, cs, luminance), out = _per_pixel(x, y, taps, gain, c1, c2)
        mu_x, mu_y = (mean_u + mean_v) / 2, (mean_u - mean_v) / 2
        b1 = (mean_u * mean_u + mean_v * mean_v) / 2 + c1  # μx² + μy² + c1
        b2 = (var_u + var_v) / 2 + c2  # σx² + σy² + c2
        window = np.outer(taps, taps).astype(np.float32)
        fields = jnp.concatenate([dx, dy, 2 * x * dx, 2 * y * dy, x * dy + y * dx], axis=-1)
        d_mx, d_my, d_xx, d_yy, d_xy = jnp.split(filter_valid(fields, window), 5, axis=-1)
        c_xy, c_xx = 2 / b2, -cs / b2  # d cs / d f(xy), d cs / d f(x²) (= / d f(y²))
        d_cs = c_xy * d_xy + c_xx * (d_xx + d_yy) - (c_xy * mu_y + 2 * c_xx * mu_x) * d_mx
        d_cs = d_cs - (c_xy * mu_x + 2 * c_xx * mu_y) * d_my
        d_l = (2 * (mu_y - luminance * mu_x) * d_mx + 2 * (mu_x - luminance * mu_y) * d_my) / b1
        tangent = jnp.stack([_mean64(luminance * d_cs + cs * d_l), _mean64(d_cs), _mean64(d_l)], axis=-1)
        return out, tangent


def scale_statistics(x, y, window, c1, c2, index_map=False, only_cs=False):
    """Step 4. On a GPU, images in exact numerics with fixed constants: float32
    about local values (:func:`_scale_means`), within 1e-6 of float64,
    derivatives within 1e-4. Otherwise in the window's precision (float64,
    with JAX's 64-bit mode on for the while, for ``numerics="exact"``); the
    results as float32."""
    from msssim._ssim import ScaleStatistics, filtered_statistics

    fixed = all(isinstance(c, (float, np.floating)) for c in (c1, c2))
    on_device = jax.default_backend() != "cpu"  # (XLA's CPU runs this slower than the float64 filters)
    if window.ndim == 2 and window.dtype == np.float64 and fixed and not index_map and on_device:
        taps = separable(window)
        gain = float(taps.sum())  # (the levels take the float64 sum; deviations the float32 taps)
        f32 = tuple(float(t) for t in taps.astype(np.float32))
        means = _scale_means(x.astype(jnp.float32), y.astype(jnp.float32), f32, gain, float(c1), float(c2))
        return ScaleStatistics(ssim=means[..., 0], cs=means[..., 1], luminance=means[..., 2])
    with jax.enable_x64(window.dtype == np.float64):
        x, y = x.astype(window.dtype), y.astype(window.dtype)
        stats = filtered_statistics(sys.modules[__name__], x, y, window, c1, c2, index_map)
        return ScaleStatistics(*(None if s is None else s.astype(jnp.float32) for s in stats))


def exact_values(on_host, compute, x, y, host_only: bool) -> tuple:
    """On the CPU (with ``host_only``, everywhere), the values of ``on_host``
    (the NumPy engine, a host callback, so it works under jit and vmap) with the
    derivatives of ``compute`` (these ops), which run only when JAX
    differentiates; on a GPU, ``compute(x, y)``."""
    if jax.default_backend() != "cpu" and not host_only:
        return compute(x, y)

    def host(a, b):
        return tuple(np.asarray(v, np.float32) for v in on_host(np.asarray(a), np.asarray(b)))

    @jax.custom_jvp
    def valued(a, b):
        shapes = tuple(jax.ShapeDtypeStruct(s.shape, jnp.float32) for s in jax.eval_shape(compute, a, b))
        return jax.pure_callback(host, shapes, a, b, vmap_method="broadcast_all")

    @valued.defjvp
    def _(primals, tangents):
        return valued(*primals), jax.jvp(compute, primals, tangents)[1]

    return valued(x, y)


def float32(x):
    return jnp.asarray(x, dtype=jnp.float32)


def relu(x):
    return jnp.maximum(x, 0)


def clip(x, low: float, high: float):
    return jnp.clip(x, low, high)


def data_range(x, y):
    """The larger of the two arrays' ranges (max - min), differentiable as
    torchmetrics' data_range=None: a tie goes to ``x``."""
    a, b = x.max() - x.min(), y.max() - y.min()
    return jnp.where(a >= b, a, b)


def concat(arrays_, axis: int):
    return jnp.concatenate(arrays_, axis=axis)


def stack(arrays_, axis: int):
    return jnp.stack(arrays_, axis=axis)


def power(x, exponents):
    """``x ** w`` for ``x >= 0``, with gradient 0 (not NaN) at ``x = 0``."""
    w = jnp.asarray(exponents, dtype=jnp.float32)
    positive = x > 0
    base = jnp.where(positive, x, 1.0)
    return jnp.where(positive | (w == 0), base**w, 0.0)


def prod(x, axis: int):
    return jnp.prod(x, axis=axis)


def mean(x, axis: int):
    return jnp.mean(x, axis=axis)


def all_finite(*arrays) -> bool:
    return all(_traced(x) or bool(jnp.isfinite(x).all()) for x in arrays)
