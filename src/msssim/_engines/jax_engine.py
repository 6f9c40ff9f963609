"""The JAX engine: the algorithm's primitives in ``jax.numpy`` and ``lax``, so
``jax.grad``, ``jax.jit`` and ``jax.vmap`` work through it. Chosen when an input
is a JAX array (or a tracer).

The gaussian is two 1-D grouped convolutions (``lax.conv_general_dilated``).
On the CPU the values come from the NumPy engine, which repeats TF's float32
arithmetic (XLA's convolutions and TF's sequential CPU mean of a colour map
round differently, up to ~1e-5 on a score), and the derivatives from these
ops, which run only when JAX differentiates (``exact_values``); on a GPU both
are XLA's, with accurate means, as TF's GPU reduction. The clamp has gradient 0
where TF's is NaN. Under tracing the NaN/Inf check of the pixels is skipped.
"""

from __future__ import annotations

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
            out, kernel, (1,) * dims, "VALID", dimension_numbers=_LAYOUTS[dims], feature_group_count=channels
        )
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


def scale_statistics(x, y, window, c1, c2, index_map=False, only_cs=False):
    """Step 4 in the window's precision (float64, with JAX's 64-bit mode on
    for the while, for ``numerics="exact"``); the results as float32."""
    from msssim._ssim import ScaleStatistics, filtered_statistics

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
