"""The array-module engines' share of the algorithm's array operations (NumPy,
and CuPy, whose API is NumPy's): inputs, the combination of step 6, and the
finished result. Each works in the module of the array it is given."""

from __future__ import annotations

import math
import os
import sys
from types import ModuleType

import numpy as np


def namespace(x) -> ModuleType:
    """The array module of ``x``: CuPy for a CuPy array, else NumPy."""
    if type(x).__module__.split(".")[0] == "cupy":
        return sys.modules["cupy"]
    return np


def stand_in(shape, dtype) -> np.ndarray:
    """A NumPy array of this shape and dtype that occupies no memory, for the
    checks of an array that lives elsewhere (a device, a framework, a cluster)."""
    shape = tuple(int(n) for n in shape)
    return np.ndarray(shape, dtype, np.zeros(1, dtype), strides=(0,) * len(shape))


def interpreted() -> bool:
    """Triton's interpreter is on (``TRITON_INTERPRET=1``): the GPU path's
    kernels run on the CPU, where the tests check them."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def host_array(img) -> np.ndarray:
    """A plain input beside a framework's tensor, as NumPy in native byte order
    and writable (copied only when it is not), as frameworks take arrays."""
    arr = np.asarray(img)
    if arr.dtype.kind in "iufb" and not (arr.flags.writeable and arr.dtype.isnative):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def different_devices(img1, img2) -> ValueError:
    return ValueError(f"img1 and img2 are on different devices ({img1.device} and {img2.device}); move one of them.")


def pairs(batch1: tuple[int, ...], batch2: tuple[int, ...]) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """The broadcast batch shape of two image batches and, for each pair in it
    (flattened), the index of its image in each batch (flattened)."""
    batch = np.broadcast_shapes(batch1, batch2)
    index = [np.broadcast_to(np.arange(int(np.prod(b))).reshape(b), batch).ravel() for b in (batch1, batch2)]
    return batch, index[0], index[1]


def meta(img) -> np.ndarray:
    """The image as NumPy (or its stand-in), for the checks of shape and dtype."""
    return img if namespace(img) is np else stand_in(img.shape, img.dtype)


def first_nonfinite(arr) -> tuple[tuple[int, ...], int] | None:
    """``(index of the first NaN/Inf, how many)``, or None when all are finite."""
    if arr.dtype.kind in "iu" or arr.size == 0:
        return None
    xp = namespace(arr)
    # NaN propagates through min and max, and an infinity is one of them: two
    # fast reductions with no full-size temporary.
    if math.isfinite(xp.min(arr)) and math.isfinite(xp.max(arr)):
        return None
    bad = ~xp.isfinite(arr)
    return tuple(int(i) for i in xp.argwhere(bad)[0]), int(bad.sum())


def float32(x):
    return namespace(x).asarray(x, dtype=np.float32)


def relu(x):
    return namespace(x).maximum(float32(x), np.float32(0))


def stack(arrays, axis: int):
    return namespace(arrays[0]).stack(arrays, axis=axis)


def clip(x, low: float, high: float):
    return namespace(x).clip(x, low, high)


def data_range(x, y) -> float:
    """The larger of the two arrays' ranges (max - min) (torchmetrics' data_range=None)."""
    return max(float(namespace(a).ptp(a)) for a in (x, y))


def concat(arrays, axis: int):
    return namespace(arrays[0]).concatenate(arrays, axis=axis)


def power(x, exponents):
    xp = namespace(x)
    return x ** xp.asarray(exponents, dtype=np.float32)


def prod(x, axis: int):
    return namespace(x).prod(x, axis=axis)


def mean(x, axis: int):
    return float32(x).mean(axis=axis, dtype=np.float32)


def all_finite(*arrays) -> bool:
    """Whether they are all finite, read once (each read from a GPU waits for
    it): their sum is finite exactly when they all are (scores and their
    terms, at most 1 in size)."""
    xp = namespace(arrays[0])
    return bool(xp.isfinite(xp.concatenate([xp.ravel(x) for x in arrays]).sum()))
