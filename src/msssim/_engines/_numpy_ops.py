"""The NumPy engines' share of the algorithm's array operations: inputs, the
combination of step 6, and the finished result."""

from __future__ import annotations

import math

import numpy as np


def meta(img) -> np.ndarray:
    """The image as NumPy, for the checks of shape and dtype."""
    return img


def first_nonfinite(arr: np.ndarray) -> tuple[tuple[int, ...], int] | None:
    """``(index of the first NaN/Inf, how many)``, or None when all are finite."""
    if arr.dtype.kind in "iu" or arr.size == 0:
        return None
    # NaN propagates through min and max, and an infinity is one of them: two
    # fast reductions with no full-size temporary.
    if math.isfinite(np.minimum.reduce(arr, axis=None)) and math.isfinite(np.maximum.reduce(arr, axis=None)):
        return None
    bad = ~np.isfinite(arr)
    return tuple(int(i) for i in np.argwhere(bad)[0]), int(bad.sum())


def float32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def relu(x):
    return np.maximum(float32(x), np.float32(0))


def stack(arrays, axis: int):
    return np.stack(arrays, axis=axis)


def power(x, exponents):
    return x ** np.asarray(exponents, dtype=np.float32)


def prod(x, axis: int):
    return np.prod(x, axis=axis)


def mean(x, axis: int):
    return float32(x).mean(axis=axis, dtype=np.float32)


def all_finite(x) -> bool:
    return bool(np.all(np.isfinite(x)))
