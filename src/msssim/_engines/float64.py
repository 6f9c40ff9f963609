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
    clip,
    concat,
    data_range,
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


def _spatial(x, dims: int) -> range:
    """The spatial axes of ``[..., *spatial, C]``."""
    return range(x.ndim - 1 - dims, x.ndim - 1)


def _along(x, axis: int, part: slice):
    return x[(slice(None),) * axis + (part,)]


def filter_valid(x, window: np.ndarray):
    """The gaussian over the spatial axes of ``[..., H, W, C]`` (``[..., D, H,
    W, C]`` for a 3-D window), no padding: one 1-D pass per axis."""
    xp = namespace(x)
    taps = xp.asarray(separable(np.asarray(window, np.float64)))
    size = len(taps)
    for axis in _spatial(x, window.ndim):
        out = x.shape[axis] - size + 1
        x = sum(taps[i] * _along(x, axis, slice(i, i + out)) for i in range(size))
    return x


def downsample_2x(x, dims: int):
    """Pad each odd spatial size by one symmetric row/column/slice at the end,
    then the mean of 2x2 (2x2x2) blocks."""
    xp = namespace(x)
    for axis in _spatial(x, dims):
        if x.shape[axis] % 2:
            x = xp.concatenate([x, _along(x, axis, slice(-1, None))], axis=axis)
        x = (_along(x, axis, slice(0, None, 2)) + _along(x, axis, slice(1, None, 2))) / 2
    return x


def mean_hw(x, dims: int):
    return x.mean(axis=tuple(_spatial(x, dims)))


def relu(x):
    return namespace(x).maximum(x, 0.0)


def power(x, exponents):
    return x ** namespace(x).asarray(exponents, dtype=np.float64)


def mean(x, axis: int):
    return x.mean(axis=axis)
