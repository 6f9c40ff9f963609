"""The float64 engine (``numerics="exact", engine="reference"``): TF's formula
in plain float64 array code, readable and slow. It works in the array module of
its input, so the CuPy engine runs this same code on a GPU.

The images are converted as TF converts them (float32 ``value * scale``, step
2), then everything is float64: the window is the exact gaussian, applied as
two 1-D passes.
"""

from __future__ import annotations

import numpy as np

from msssim._engines._numpy_ops import (  # noqa: F401  (the engine's share of the interface)
    all_finite,
    concat,
    first_nonfinite,
    float32,
    meta,
    namespace,
    prod,
    stack,
)
from msssim._engines.reference import convert_image as _convert_float32
from msssim._window import exact_window as make_window  # noqa: F401  (step 3, float64)
from msssim._window import separable


def convert_image(img, scale: np.float32):
    """TF's float32 conversion, then float64; the input is never modified."""
    return _convert_float32(img, scale).astype(np.float64)


def filter_valid(x, window: np.ndarray):
    """The gaussian over H and W of ``[..., H, W, C]``, no padding: along H, then W."""
    xp = namespace(x)
    taps = xp.asarray(separable(np.asarray(window, np.float64)))
    size = len(taps)
    height, width = x.shape[-3] - size + 1, x.shape[-2] - size + 1
    down = sum(taps[i] * x[..., i : i + height, :, :] for i in range(size))
    return sum(taps[j] * down[..., :, j : j + width, :] for j in range(size))


def downsample_2x(x):
    """Pad an odd H or W by one symmetric row/column at the bottom/right, then 2x2 mean."""
    height, width = x.shape[-3:-1]
    if height % 2 or width % 2:
        pad = [(0, 0)] * (x.ndim - 3) + [(0, height % 2), (0, width % 2), (0, 0)]
        x = namespace(x).pad(x, pad, mode="symmetric")
    return (x[..., 0::2, 0::2, :] + x[..., 0::2, 1::2, :] + x[..., 1::2, 0::2, :] + x[..., 1::2, 1::2, :]) / 4


def mean_hw(x):
    return x.mean(axis=(-3, -2))


def relu(x):
    return namespace(x).maximum(x, 0.0)


def power(x, exponents):
    return x ** namespace(x).asarray(exponents, dtype=np.float64)


def mean(x, axis: int):
    return x.mean(axis=axis)
