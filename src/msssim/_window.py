"""TensorFlow's gaussian window, bit for bit.

``tf.image.ssim`` builds its window as ``tf.nn.softmax`` of the float32 grid
``(x² + y²) · (-0.5 / σ²)``, flattened row-major. On the CPU, with oneDNN on
(TF's default), the softmax is oneDNN's vectorised kernel:

1. ``e = exp(v - max(v))``, the exponential by range reduction and a degree-5
   polynomial in fused multiply-adds (:func:`_exp`);
2. ``s = Σ e`` over four vector accumulators (vector ``i`` into accumulator
   ``i mod 4``, the masked tail into the first), added ``(a0 + a1) + (a2 + a3)``,
   then the lanes folded pairwise (:func:`_sum`);
3. ``e · (1 / s)``; subnormal results are flushed to zero throughout.

Its values are a few ulp from the exact gaussian's and its sum can be
1 - 1e-7 (σ = 0.51): enough to move a score with a peaked window by 1e-5, so
the window here is made the same way. The vector is 16 floats wide on CPUs
with AVX-512 and 8 otherwise, as oneDNN picks it (both verified; SSE-only CPUs,
where oneDNN would use 4, are taken as 8). (With oneDNN off, or
constant-folded inside ``tf.function``, TF uses Eigen's softmax instead, a few
ulp different again.) ``tests/test_window.py`` checks it bit for bit against
TF 2.21 live: 94 sizes and sigmas at this CPU's width, 4 more at width 8.
"""

from __future__ import annotations

import functools
import os

import numpy as np

_F32 = np.float32
_TINY = np.finfo(_F32).tiny
_LN_FLT_MIN = np.uint32(0xC2AEAC50).view(_F32)  # below this exp(x) is 0
_LN_FLT_MAX = np.uint32(0x42B17218).view(_F32)
_LOG2_E = np.uint32(0x3FB8AA3B).view(_F32)
_LN_2 = np.uint32(0x3F317218).view(_F32)
# exp(r) on [-ln2/2, ln2/2], highest power first.
_POLYNOMIAL = np.array([0x3C07CFCE, 0x3D2B9D0D, 0x3E2AAD40, 0x3EFFFEE3, 0x3F7FFFFB, 0x3F800000], np.uint32).view(_F32)


def _flush(a: np.ndarray) -> np.ndarray:
    """Subnormals to zero (TF runs with FTZ/DAZ)."""
    return np.where(np.abs(a) < _TINY, _F32(0), a).astype(_F32)


def _fma(a, b, c) -> np.ndarray:
    """float32 ``a · b + c`` rounded once: the product is exact in float64, the
    sum is rounded to odd there (so the final rounding to float32 is not a
    second rounding)."""
    product, addend = np.float64(a) * np.float64(b), np.asarray(c, np.float64)
    total = product + addend
    error = (product - (total - addend)) + (addend - (total - (total - addend)))
    even = (total.view(np.uint64) & np.uint64(1)) == 0
    total = np.where((error != 0) & even, np.nextafter(total, np.copysign(np.inf, error)), total)
    return total.astype(_F32)


def _exp(x: np.ndarray) -> np.ndarray:
    """oneDNN's float32 exp: ``x = n·ln2 + r``, ``exp(x) = 2 · 2^(n-1) · p(r)``."""
    underflow = x < _LN_FLT_MIN
    x = np.clip(x, _LN_FLT_MIN, _LN_FLT_MAX)
    n = np.floor((x * _LOG2_E).astype(_F32) + _F32(0.5)).astype(_F32)
    r = _fma(-n, _LN_2, x)
    half_power = ((n.astype(np.int32) + 126).astype(np.uint32) << np.uint32(23)).view(_F32)
    half_power = np.where(underflow, _F32(0), half_power)
    p = np.full_like(r, _POLYNOMIAL[0])
    for coefficient in _POLYNOMIAL[1:]:
        p = _fma(p, r, coefficient)
    return _flush(_flush(p * half_power) * _F32(2))


def _sum(e: np.ndarray, width: int) -> np.float32:
    """oneDNN's sum of a row: four vector accumulators, then a lane butterfly."""
    accumulators = np.zeros((4, width), _F32)
    full, tail = divmod(e.size, width)
    for i in range(full):
        accumulators[i % 4] += e[i * width : (i + 1) * width]
    accumulators[0, :tail] += e[full * width :]
    lanes = (accumulators[0] + accumulators[1]) + (accumulators[2] + accumulators[3])
    step = width // 2
    while step:
        lanes = lanes + lanes[np.arange(width) ^ step]
        step //= 2
    return lanes[0]


def vector_width() -> int:
    """Floats per vector in oneDNN's kernels on this CPU: 16 with AVX-512 (unless
    ``ONEDNN_MAX_CPU_ISA`` caps it below), else 8."""
    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # older llvmlite on some hosts: no feature list
        return 8
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    capped = isa.startswith(("SSE", "AVX2")) or isa == "AVX"
    return 16 if features.get("avx512f", False) and features.get("avx512bw", False) and not capped else 8


def separable(window: np.ndarray) -> np.ndarray:
    """1-D taps whose outer product (over ``window.ndim`` axes) is ``window`` up
    to rounding, in its dtype, for engines that filter one axis at a time."""
    rows = window.sum(axis=tuple(range(1, window.ndim)), dtype=np.float64)
    return (rows / rows.sum() ** ((window.ndim - 1) / window.ndim)).astype(window.dtype)


def spread(window: np.ndarray, dims: int) -> np.ndarray:
    """The window over ``dims`` axes with the taps of the 2-D ``window`` along
    each (the 3-D gaussian of volumes is separable too); ``window`` for 2."""
    if dims == 2:
        return window
    taps = separable(window).astype(np.float64)
    out = functools.reduce(np.multiply.outer, [taps] * dims)
    return out.astype(window.dtype)


@functools.lru_cache(maxsize=64)
def gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """The exact normalised 1-D gaussian, float64: ``exp(-x² / 2σ²)`` over
    ``x = arange(size) - (size - 1) / 2``, summing to 1. Its outer product with
    itself is the 2-D window of step 3 without TF's rounding (read-only; cached)."""
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2
    squares = coords**2
    g = np.exp(-(squares - squares.min()) / (2.0 * float(sigma) ** 2))  # as a softmax: the largest is 1
    taps = g / g.sum()
    taps.flags.writeable = False
    return taps


@functools.lru_cache(maxsize=64)
def gaussian_window(size: int, sigma: float, width: int | None = None) -> np.ndarray:
    """TF's ``[size, size]`` float32 window for ``filter_size=size``,
    ``filter_sigma=sigma`` (read-only; cached)."""
    coords = np.arange(size, dtype=_F32) - _F32(size - 1) / _F32(2)
    g = np.square(coords) * (_F32(-0.5) / np.square(_F32(sigma)))
    logits = (g[None, :] + g[:, None]).astype(_F32).ravel()
    e = _exp((logits - logits.max()).astype(_F32))
    window = _flush(e * (_F32(1) / _sum(e, width or vector_width()))).reshape(size, size)
    window.flags.writeable = False
    return window


@functools.lru_cache(maxsize=64)
def exact_window(size: int, sigma: float) -> np.ndarray:
    """The exact normalised 2-D gaussian of step 3, float64: the outer product
    of :func:`gaussian_taps` with itself (read-only; cached)."""
    taps = gaussian_taps(size, sigma)
    window = np.outer(taps, taps)
    window.flags.writeable = False
    return window
