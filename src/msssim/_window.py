"""TensorFlow's gaussian window, bit for bit.

``tf.image.ssim`` builds its window as ``tf.nn.softmax`` of the float32 grid
``(x² + y²) · (-0.5 / σ²)``, flattened row-major. Its values are a few ulp
from the exact gaussian's and its sum can be 1 - 1e-7 (σ = 0.51): enough to
move a score with a peaked window by 1e-5, so the window here is made the way
TF makes it on this machine. TF's CPU softmax is one of two kernels:

- **oneDNN's** (eager TF where oneDNN is on): ``e = exp(v - max(v))`` by range
  reduction and a degree-5 polynomial in fused multiply-adds (:func:`_exp`);
  ``s = Σ e`` over four vector accumulators (vector ``i`` into accumulator
  ``i mod 4``, the masked tail into the first), added ``(a0 + a1) + (a2 + a3)``,
  then the lanes folded pairwise (:func:`_sum`); the vector is 16 floats wide on
  CPUs with AVX-512 and 8 otherwise, as oneDNN picks it (SSE-only CPUs, where
  oneDNN would use 4, are taken as 8).
- **Eigen's** (eager TF where oneDNN is off, and TF inside ``tf.function``, which
  folds the constant window with it): the exponential of Eigen's packets of 8
  floats, a degree-6 polynomial without fused multiply-adds (TF's wheel is built
  for AVX without FMA), and the C library's for the elements past the last whole
  packet (:func:`_eigen_exp`); the sum over four packet accumulators added one
  after another, then the whole packets left, the lanes folded in halves, and
  the elements past the last packet added first (:func:`_eigen_sum`).

Then ``e · (1 / s)``; subnormal results are flushed to zero throughout (TF runs
with FTZ/DAZ). Which kernel TF's eager call takes is TF's own choice
(:func:`tensorflow_kernels`): ``TF_ENABLE_ONEDNN_OPTS`` where it is set, else
oneDNN on Windows and on Linux CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or
AMX, else Eigen. ``tests/test_window.py`` checks every kernel bit for bit
against TF 2.21 live.
"""

from __future__ import annotations

import functools
import os
import sys

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


# Eigen's exp (its generic packet code): ln 2 in two parts, and exp(r) as
# 1 + r + r²·(p2 + r·p3 + r²·(p4 + r·p5 + r²·p6)), from its even and odd halves.
_EIGEN_LN_2 = (_F32(-0.693359375), _F32(2.12194440e-4))
_EIGEN_EVEN = (_F32(1.3744963798671960830688e-3), _F32(4.1669651865959167480469e-2), _F32(0.49999988079071044921875))
_EIGEN_ODD = (_F32(8.36894474923610687255859375e-3), _F32(0.16666518151760101318359375))
_PACKET = 8  # floats in Eigen's packets: TF's wheel is built for AVX
_BLOCK = 6956  # elements in each block of the softmax's exp (the task size of Eigen's cost model)
_LEAF = 1024 * _PACKET  # longer sums split in two (Eigen's tree reduction)


@functools.cache
def _c_expf():
    """The C library's float exp, which Eigen's scalar path calls (None where
    ctypes cannot find it: then the correctly rounded exp, which differs from
    glibc's in about 1 of 2000 arguments)."""
    import ctypes
    import ctypes.util

    try:
        expf = ctypes.CDLL("ucrtbase" if sys.platform == "win32" else ctypes.util.find_library("m")).expf
    except (OSError, AttributeError, TypeError):
        return None
    expf.restype, expf.argtypes = ctypes.c_float, [ctypes.c_float]
    return expf


def _eigen_exp(x: np.ndarray) -> np.ndarray:
    """Eigen's float32 exp as TF's AVX wheel runs it (no fused multiply-adds):
    ``x = m·ln2 + r``, ``exp(x) = p(r) · 2^m``, over blocks of ``_BLOCK``
    elements, each block's elements past its last whole packet from the C
    library. (Eigen scales by ``2^m`` in four steps in a packet where some
    ``|x| > 87``: the same float but where it is subnormal, which is flushed.)"""
    v = np.minimum(x, _F32(88.723))
    m = np.floor(v * _LOG2_E + _F32(0.5)).astype(_F32)  # (Eigen's log2(e) is oneDNN's float: the same bits)
    r = (m * _EIGEN_LN_2[0] + v) + m * _EIGEN_LN_2[1]
    r2 = r * r
    even = (r2 * _EIGEN_EVEN[0] + _EIGEN_EVEN[1]) * r2 + _EIGEN_EVEN[2]
    odd = r2 * _EIGEN_ODD[0] + _EIGEN_ODD[1]
    p = r2 * (r * odd + even) + (r + _F32(1))
    e = np.maximum(_flush(p * ((np.clip(m, -127, 128).astype(np.int32) + 127).astype(np.uint32) << 23).view(_F32)), x)
    index = np.arange(x.size)
    offset = index % _BLOCK
    length = np.minimum(_BLOCK, x.size - (index - offset))
    scalar = np.flatnonzero(offset >= length // _PACKET * _PACKET)
    expf = _c_expf()
    values = [expf(float(a)) for a in x[scalar]] if expf else np.exp(x[scalar].astype(np.float64))
    e[scalar] = _flush(np.asarray(values, _F32))
    return e


def _eigen_sum(e: np.ndarray) -> np.float32:
    """Eigen's sum of a row: split at a packet near its middle while longer
    than ``_LEAF``; then four packet accumulators over each run of four
    packets, added into the first one after another; then the whole packets
    left, one by one; the lanes folded in halves; the elements past the last
    whole packet added up first and the lanes' total added to them."""
    if e.size > _LEAF:
        half = (e.size + 1) // 2
        split = (half + _PACKET - 1) // _PACKET * _PACKET
        return _F32(_eigen_sum(e[:split]) + _eigen_sum(e[split:]))
    runs, whole = e.size // (4 * _PACKET) * 4 * _PACKET, e.size // _PACKET * _PACKET
    accumulators = np.zeros((4, _PACKET), _F32)
    for i in range(0, runs, _PACKET):
        accumulators[i // _PACKET % 4] += e[i : i + _PACKET]
    lanes = ((accumulators[0] + accumulators[1]) + accumulators[2]) + accumulators[3]
    for i in range(runs, whole, _PACKET):
        lanes = lanes + e[i : i + _PACKET]
    while lanes.size > 1:
        lanes = lanes[: lanes.size // 2] + lanes[lanes.size // 2 :]
    tail = _F32(0)
    for value in e[whole:]:
        tail = _F32(tail + value)
    return _F32(tail + lanes[0])


KERNELS = ("onednn-16", "onednn-8", "eigen")  # TF-CPU's softmax and convolution: oneDNN's (vector width) or Eigen's
# The CPU features for which TF 2.21 turns oneDNN on by default on Linux (LLVM's names).
_ONEDNN_FEATURES = ("avx512vnni", "avx512bf16", "avxvnni", "amx-tile", "amx-int8", "amx-bf16")


@functools.cache
def _cpu_features() -> dict:
    import llvmlite.binding as llvm

    try:
        return dict(llvm.get_host_cpu_features())
    except RuntimeError:  # older llvmlite on some hosts: no feature list
        return {}


def vector_width() -> int:
    """Floats per vector in oneDNN's kernels on this CPU: 16 with AVX-512 (unless
    ``ONEDNN_MAX_CPU_ISA`` caps it below), else 8."""
    features = _cpu_features()
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    capped = isa.startswith(("SSE", "AVX2")) or isa == "AVX"
    return 16 if features.get("avx512f", False) and features.get("avx512bw", False) and not capped else 8


def tensorflow_kernels() -> str:
    """The kernels that eager TF runs on this machine's CPU (one of ``KERNELS``):
    oneDNN's, at :func:`vector_width`, where TF turns oneDNN on; else Eigen's.
    They make the window (the softmax) and apply it (the depthwise convolution:
    oneDNN's adds each tap with a fused multiply-add, Eigen's, built for AVX
    without FMA, rounds each product first). As TF 2.21 decides: on where
    ``TF_ENABLE_ONEDNN_OPTS`` is 1 or true, off where it is 0 or false; unset,
    on under Windows and on Linux CPUs with one of ``_ONEDNN_FEATURES``, off
    elsewhere. (x86 TF only: TF for ARM has other kernels.)"""
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").lower()
    if setting in ("1", "true", "0", "false"):
        onednn = setting in ("1", "true")
    else:
        features = _cpu_features()
        onednn = sys.platform == "win32" or (
            sys.platform.startswith("linux") and any(features.get(name, False) for name in _ONEDNN_FEATURES)
        )
    return f"onednn-{vector_width()}" if onednn else "eigen"


def fused_taps() -> bool:
    """Whether TF's depthwise convolution here adds each tap with one rounding
    (a fused multiply-add: oneDNN's) or rounds its product first (Eigen's)."""
    return tensorflow_kernels() != "eigen"


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


def gaussian_window(size: int, sigma: float, kernels: str | None = None) -> np.ndarray:
    """TF's ``[size, size]`` float32 window for ``filter_size=size``,
    ``filter_sigma=sigma``, made by the softmax of ``kernels`` (one of
    ``KERNELS``; by default TF's here, :func:`tensorflow_kernels`) (read-only; cached)."""
    kernels = kernels or tensorflow_kernels()
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, not {kernels!r}")
    return _gaussian_window(size, float(sigma), kernels)


@functools.lru_cache(maxsize=64)
def _gaussian_window(size: int, sigma: float, kernels: str) -> np.ndarray:
    coords = np.arange(size, dtype=_F32) - _F32(size - 1) / _F32(2)
    g = np.square(coords) * (_F32(-0.5) / np.square(_F32(sigma)))
    logits = (g[None, :] + g[:, None]).astype(_F32).ravel()
    shifted = (logits - logits.max()).astype(_F32)
    if kernels == "eigen":
        e = _eigen_exp(shifted)
        total = _eigen_sum(e)
    else:
        e = _exp(shifted)
        total = _sum(e, int(kernels.removeprefix("onednn-")))
    window = _flush(e * (_F32(1) / total)).reshape(size, size)
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
