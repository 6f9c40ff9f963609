"""The JAX engine: the algorithm's primitives in ``jax.numpy`` and ``lax``, so
``jax.grad``, ``jax.jit`` and ``jax.vmap`` work through it. Chosen when an input
is a JAX array (or a tracer).

The gaussian is two 1-D grouped convolutions (``lax.conv_general_dilated``).
On the CPU the H×W mean of a multi-channel map follows TF's CPU reduction, a
sequential float32 sum (a host callback, so it works under jit and vmap), with
the plain mean's gradient; on a GPU it is XLA's accurate mean, as TF's GPU one.
The clamp has gradient 0 where TF's is NaN. Under tracing the NaN/Inf check of
the pixels is skipped.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from msssim._engines._numpy_ops import stand_in


def _traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def arrays(img1, img2):
    return jnp.asarray(img1), jnp.asarray(img2)


def meta(x) -> np.ndarray:
    """A NumPy stand-in with the array's shape and dtype, for the checks."""
    return stand_in(x.shape, np.dtype(x.dtype))


def moveaxis(x, channel_axis: int):
    return jnp.moveaxis(x, channel_axis, -1)


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


def _flat(x):
    return x.reshape(-1, *x.shape[-3:])


def filter_valid(x, taps: np.ndarray):
    """The separable gaussian, VALID, as two grouped convolutions (NHWC)."""
    channels = x.shape[-1]
    column = jnp.asarray(np.tile(taps.reshape(-1, 1, 1, 1), (1, 1, 1, channels)))
    out = _flat(x)
    for kernel in (column, column.reshape(1, -1, 1, channels)):
        out = lax.conv_general_dilated(
            out, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=channels
        )
    return out.reshape(*x.shape[:-3], *out.shape[-3:])


def downsample_2x(x):
    """Repeat the last row/column of odd sizes, then the 2x2 mean summed as TF."""
    height, width = x.shape[-3], x.shape[-2]
    flat = jnp.pad(_flat(x), ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    out = (flat[:, 0::2, 0::2] + flat[:, 0::2, 1::2] + flat[:, 1::2, 0::2] + flat[:, 1::2, 1::2]) * np.float32(0.25)
    return out.reshape(*x.shape[:-3], *out.shape[-3:])


def _sequential_mean(values: np.ndarray) -> np.ndarray:
    """TF's CPU mean of ``[..., H, W, C]``: each channel's pixels added in order, in float32."""
    flat = np.asarray(values, dtype=np.float32).reshape(*values.shape[:-3], -1, values.shape[-1])
    return np.cumsum(flat, axis=-2, dtype=np.float32)[..., -1, :] / np.float32(flat.shape[-2])


def mean_hw(x):
    """The mean over H and W; on the CPU with several channels, valued as TF's CPU
    reduction (computed on the host), with the plain mean's gradient, 1/N."""
    exact = jnp.mean(x, axis=(-3, -2))
    if x.shape[-1] == 1 or jax.default_backend() != "cpu":
        return exact
    shape = jax.ShapeDtypeStruct(exact.shape, jnp.float32)
    tf_order = jax.pure_callback(_sequential_mean, shape, lax.stop_gradient(x), vmap_method="sequential")
    return exact + lax.stop_gradient(tf_order - exact)


def float32(x):
    return jnp.asarray(x, dtype=jnp.float32)


def relu(x):
    return jnp.maximum(x, 0)


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


def all_finite(x) -> bool:
    return _traced(x) or bool(jnp.isfinite(x).all())
