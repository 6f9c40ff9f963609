"""The reference engine: plain NumPy, float32 arithmetic as TensorFlow's.

Readable rather than fast; every other engine is tested against it. It works
in the array module of its input, so the CuPy engine runs this same code on a
GPU.
"""

from __future__ import annotations

import numpy as np

from msssim import _window
from msssim._engines._numpy_ops import (  # noqa: F401  (the engine's share of the interface)
    all_finite,
    concat,
    first_nonfinite,
    float32,
    mean,
    meta,
    namespace,
    power,
    prod,
    relu,
    stack,
)
from msssim._window import gaussian_window as make_window  # noqa: F401  (TF's, rounding included)


def convert_image(img: np.ndarray, scale: np.float32) -> np.ndarray:
    """A float32 copy of ``img`` times ``scale``; the input is never modified."""
    x = img.astype(np.float32)
    if scale != 1:
        x *= scale
    return x


def filter_valid(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    """The gaussian over H and W of ``[..., H, W, C]``, no padding, as TF applies it.

    TF's depthwise convolution adds the 2-D kernel's taps in row-major order,
    each with one rounding to float32 (a fused multiply-add) where its kernels
    are oneDNN's, its product rounded first where they are Eigen's
    (``_window.fused_taps``). Separable passes round differently, and on smooth
    images the cs term, a small difference of large moments, magnifies that to
    ~1e-4 in the score; so the reference keeps TF's order.
    """
    xp = namespace(x)
    fused = _window.fused_taps()
    size = window.shape[0]
    height, width = x.shape[-3] - size + 1, x.shape[-2] - size + 1
    wide = x.astype(np.float64) if fused else x
    out = xp.zeros(x.shape[:-3] + (height, width, x.shape[-1]), dtype=np.float32)
    for i in range(size):
        for j in range(size):
            tap = float(window[i, j]) if fused else window[i, j]  # (float32 products are rounded)
            out = (out + tap * wide[..., i : i + height, j : j + width, :]).astype(np.float32)
    return out


def downsample_2x(x: np.ndarray, dims: int) -> np.ndarray:
    """Pad an odd H or W by one symmetric row/column at the bottom/right, then
    2x2 mean (``dims`` is 2: TF has no volumes)."""
    height, width = x.shape[-3:-1]
    if height % 2 or width % 2:
        pad = [(0, 0)] * (x.ndim - 3) + [(0, height % 2), (0, width % 2), (0, 0)]
        x = namespace(x).pad(x, pad, mode="symmetric")
    top, bottom = x[..., 0::2, :, :], x[..., 1::2, :, :]
    return (top[..., 0::2, :] + top[..., 1::2, :] + bottom[..., 0::2, :] + bottom[..., 1::2, :]) * np.float32(0.25)


def mean_hw(x: np.ndarray, dims: int) -> np.ndarray:
    """The mean over H and W of ``[..., H, W, C]``, summed as TensorFlow sums it.

    With one channel TF's reduction is accurate (pairwise); with several it adds
    the pixels of each channel one after another, row-major, in float32. On a
    1080p RGB map that sum is off by ~2e-3 from the exact mean, so parity needs
    the same order. On a GPU (CuPy) it is accurate, as TF's GPU reduction.
    """
    xp = namespace(x)
    height, width, channels = x.shape[-3:]
    if channels == 1 or xp is not np:
        return x.mean(axis=(-3, -2), dtype=np.float64).astype(np.float32)
    flat = x.reshape(*x.shape[:-3], height * width, channels)
    total = np.cumsum(flat, axis=-2, dtype=np.float32)[..., -1, :]
    return total / np.float32(height * width)
